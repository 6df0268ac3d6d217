"""Routing as qmgr's address resolver decides it, on a real instance with
real users: transport_maps entries (error:, local:, retry:, a mailertable
route with a port, ".domain" subdomains, "*", ":"), the virtual alias and
relay address classes, the error(8)/retry agent's bounces and deferrals,
and a transport table that disappears at run time and comes back.

Routes to transports that have no program yet (smtp, relay) are checked
from qmgr's side with a fake agent on private/<transport> (fakeagent.py):
which recipients are handed over, with which next hop.
"""

import os
import pwd
import re
import time

import pytest

from conftest import IS_ROOT, proc_status, wait_for
from fakeagent import DELIVER_OK, FakeAgent
from mailsys import MailSystem

USERS = ("pt_tr_amy", "pt_tr_bob")
SENDER = "pt_tr_amy"
AGENT_SERVICES = ["error     unix  -  -  y  -  -  error",
                  "retry     unix  -  -  y  -  -  error"]


def make_sys(tmp_path, table=None, main=None, qmgr_opts=""):
    """A mail system with the error and retry services and, when table is
    given, transport_maps = hash:ETC/transport built from it."""
    main = dict(main or {})
    etc = os.path.join(str(tmp_path / "inst"), "etc")
    if table is not None:
        main["transport_maps"] = f"hash:{etc}/transport"
    m = MailSystem(tmp_path / "inst", users=USERS, main=main)
    i = m.inst
    i.services = [s + qmgr_opts if s.startswith("qmgr ") else s for s in i.services]
    i.services += AGENT_SERVICES
    i.write_config()
    if table is not None:
        write_table(m, table)
    return m


def write_table(m, text):
    path = os.path.join(m.inst.etc, "transport")
    with open(path, "w") as f:
        f.write(text)
    m.inst.cmd("postmap", f"hash:{path}")


def table_spec(m):
    return f"hash:{os.path.join(m.inst.etc, 'transport')}"


def the_bounce(m, user=SENDER):
    """The one non-delivery notice in user's mbox: (message, per-recipient block)."""
    wait_for(lambda: m.mbox_messages(user), timeout=30,
             what=f"a bounce for {user}; log:\n{m.inst.read_log()[-3000:]}")
    [dsn] = m.mbox_messages(user)
    assert dsn.get_content_type() == "multipart/report", "the notice is not a DSN"
    parts = list(dsn.iter_parts())
    return dsn, parts[1].get_payload()[1]


def queued_ids(m):
    """Queue IDs in the queue (a file that moves while we look may show up
    in two directories: counted once)."""
    return sorted(set(m.queue_files("deferred") + m.queue_files("active") +
                      m.queue_files("incoming")))


def assert_queued(m, n=1):
    """n messages in the queue. qmgr moves files between queue directories
    while we look, so one scan may miss one: n must be seen within 5s, and
    never more."""
    seen = wait_for(lambda: (lambda ids: ids if len(ids) >= n else None)(queued_ids(m)),
                    timeout=5, what=f"{n} queued messages")
    assert len(seen) == n, f"queued: {seen}"


def assert_no_problems(m):
    bad = m.log_problems()
    assert not bad, "problems in the log:\n" + "\n".join(bad)


@pytest.fixture
def agents():
    made = []
    yield made
    for a in made:
        a.close()


def test_wildcard_error_entry_bounces_with_its_text(tmp_path):
    # ":" keeps the local domains out of "*": the notice must reach the sender
    m = make_sys(tmp_path, table="test.example :\nlocalhost :\n* error:5.7.1 no mail here\n")
    try:
        m.start()
        m.send(["someone@remote.example"], "refused by the table", sender=SENDER)
        dsn, rcpt = the_bounce(m)
        assert rcpt["Final-Recipient"] == "rfc822; someone@remote.example"
        assert rcpt["Action"] == "failed"
        assert rcpt["Status"] == "5.7.1"
        assert "no mail here" in rcpt["Diagnostic-Code"]
        assert "no mail here" in list(dsn.iter_parts())[0].get_content()
        log = m.inst.read_log()
        hit = re.search(r"postern/error\[(\d+)\]: [0-9B-Z_]{16}: to=<someone@remote\.example>, "
                        r"relay=none, delay=[0-9.]+, dsn=5\.7\.1, "
                        r"status=bounced \(no mail here\)", log)
        assert hit, log[-3000:]
        if IS_ROOT:
            # the agent waits for more requests (max_idle): look at its privileges
            pid = int(hit.group(1))
            st = proc_status(pid)
            uid = pwd.getpwnam("postern").pw_uid
            assert st["Uid"].split() == [str(uid)] * 4, f"Uid line: {st['Uid']}"
            assert st["Gid"].split()[0] != "0", f"Gid line: {st['Gid']}"
            assert int(st["CapEff"], 16) == 0 and int(st["CapBnd"], 16) == 0
            assert st["NoNewPrivs"] == "1"
            assert os.readlink(f"/proc/{pid}/root") == os.path.realpath(m.inst.queue)
        m.wait_delivered()
        assert_no_problems(m)
    finally:
        m.cleanup()


def test_mailertable_route_hands_smtp_the_nexthop(tmp_path, agents):
    table = ("example.net smtp:[127.0.0.1]:2526\n"
             ".example.net smtp:[127.0.0.1]:2526\n")
    m = make_sys(tmp_path, table=table)
    try:
        m.start()
        smtp = FakeAgent(m.inst, "smtp", DELIVER_OK, "2.0.0", "250 ok")
        agents.append(smtp)
        m.send(["a@example.net", "b@deep.sub.example.net", "c@other.example",
                "d@notexample.net"], "routed", sender=SENDER)
        got = smtp.wait_recipients(4)
        assert got == [("a@example.net", "[127.0.0.1]:2526"),
                       ("b@deep.sub.example.net", "[127.0.0.1]:2526"),
                       ("c@other.example", "other.example"),
                       ("d@notexample.net", "notexample.net")], got
        m.wait_delivered()
        assert not m.mbox_messages(SENDER), "a delivered message was bounced"
        assert_no_problems(m)
    finally:
        m.cleanup()


def test_plain_domain_entry_does_not_match_subdomains_unless_configured(tmp_path, agents):
    m = make_sys(tmp_path, table="example.net smtp:[127.0.0.1]:2526\n",
                 main={"parent_domain_matches_subdomains": "relay_domains, transport_maps"})
    try:
        m.start()
        smtp = FakeAgent(m.inst, "smtp", DELIVER_OK, "2.0.0", "250 ok")
        agents.append(smtp)
        m.send(["x@sub.example.net"], "parent style", sender=SENDER)
        assert smtp.wait_recipients(1) == [("x@sub.example.net", "[127.0.0.1]:2526")]
    finally:
        m.cleanup()


def test_user_at_domain_local_entry_delivers_to_the_local_user(tmp_path, agents):
    m = make_sys(tmp_path, table="pt_tr_bob@example.org local:\n")
    try:
        m.start()
        smtp = FakeAgent(m.inst, "smtp", DELIVER_OK, "2.0.0", "250 ok")
        agents.append(smtp)
        m.send(["pt_tr_bob@example.org", "pt_tr_amy@example.org"], "to bob, here",
               sender=SENDER)
        wait_for(lambda: m.mbox_messages("pt_tr_bob"), timeout=30,
                 what="delivery to pt_tr_bob; log:\n" + m.inst.read_log()[-3000:])
        [msg] = m.mbox_messages("pt_tr_bob")
        assert msg["Subject"] == "to bob, here"
        # the other address of the domain still goes out
        assert smtp.wait_recipients(1) == [("pt_tr_amy@example.org", "example.org")]
        m.inst.wait_log(r"to=<pt_tr_bob@example\.org>, relay=local.*status=sent")
        m.wait_delivered()
        assert_no_problems(m)
    finally:
        m.cleanup()


def test_retry_entry_defers_and_keeps_the_message(tmp_path):
    m = make_sys(tmp_path, table="later.example retry:\n"
                                  "slow.example retry:4.4.1 under maintenance\n"
                                  "hard.example retry:5.7.1 looks permanent\n")
    try:
        m.start()
        m.send(["u@later.example", "v@slow.example", "w@hard.example"], "not yet",
               sender=SENDER)
        for rx in (r"to=<u@later\.example>, relay=none, delay=[0-9.]+, dsn=4\.0\.0, "
                   r"status=deferred \(Address is undeliverable\)",
                   r"to=<v@slow\.example>, relay=none, delay=[0-9.]+, dsn=4\.4\.1, "
                   r"status=deferred \(under maintenance\)",
                   r"to=<w@hard\.example>, relay=none, delay=[0-9.]+, dsn=4\.7\.1, "
                   r"status=deferred \(looks permanent\)"):
            m.inst.wait_log(rx, timeout=30)
        # tried again (backoff 1-2s), still deferred, never bounced
        wait_for(lambda: len(re.findall(r"to=<u@later\.example>.*status=deferred",
                                        m.inst.read_log())) >= 2, timeout=30,
                 what="a second deferral")
        assert_queued(m)
        assert not m.mbox_messages(SENDER), "a deferred message was bounced"
        assert "status=bounced" not in m.inst.read_log()
        q = m.inst.cmd("postqueue", "-p").stdout
        assert "under maintenance" in q, q
        assert_no_problems(m)
    finally:
        m.cleanup()


def test_unknown_virtual_alias_address_bounces_5_1_1(tmp_path):
    # no transport_maps entry can route an unknown alias address elsewhere
    m = make_sys(tmp_path, table="test.example :\n* :[127.0.0.1]:9\n",
                 main={"virtual_alias_domains": "valias.example"})
    try:
        m.start()
        m.send(["nobody@valias.example"], "to an alias domain", sender=SENDER)
        dsn, rcpt = the_bounce(m)
        assert rcpt["Final-Recipient"] == "rfc822; nobody@valias.example"
        assert rcpt["Status"] == "5.1.1"
        assert "User unknown in virtual alias table" in rcpt["Diagnostic-Code"]
        assert re.search(r"to=<nobody@valias\.example>, relay=none, .*dsn=5\.1\.1, "
                         r"status=bounced \(User unknown in virtual alias table\)",
                         m.inst.read_log())
        assert_no_problems(m)
    finally:
        m.cleanup()


def test_relay_and_virtual_mailbox_domains_go_to_their_transports(tmp_path, agents):
    m = make_sys(tmp_path, main={"relay_domains": "relay.example",
                                 "relayhost": "[gw.example]:587",
                                 "virtual_mailbox_domains": "vmail.example"})
    try:
        m.start()
        relay = FakeAgent(m.inst, "relay", DELIVER_OK, "2.0.0", "250 ok")
        smtp = FakeAgent(m.inst, "smtp", DELIVER_OK, "2.0.0", "250 ok")
        virtual = FakeAgent(m.inst, "virtual", DELIVER_OK, "2.0.0", "delivered")
        agents += [relay, smtp, virtual]
        m.send(["r@relay.example", "r@sub.relay.example", "o@other.example", "v@vmail.example"],
               "relayed", sender=SENDER)
        # relay_domains matches subdomains by default (parent_domain_matches_subdomains)
        assert relay.wait_recipients(2) == [("r@relay.example", "[gw.example]:587"),
                                            ("r@sub.relay.example", "[gw.example]:587")]
        assert smtp.wait_recipients(1) == [("o@other.example", "[gw.example]:587")]
        # the virtual class never goes to relayhost
        assert virtual.wait_recipients(1) == [("v@vmail.example", "vmail.example")]
        m.wait_delivered()
        assert_no_problems(m)
    finally:
        m.cleanup()


def test_bad_transport_name_in_table_defers_with_a_warning(tmp_path):
    m = make_sys(tmp_path, table="bad.example ../../etc:x\n")
    try:
        m.start()
        m.send(["u@bad.example"], "misconfigured", sender=SENDER)
        spec = re.escape(table_spec(m))
        m.inst.wait_log(rf"warning: [0-9B-Z_]{{16}}: resolving <u@bad\.example>: transport_maps: "
                        rf"table {spec}: key \"bad\.example\": bad transport name",
                        timeout=30)
        m.inst.wait_log(r"to=<u@bad\.example>.*dsn=4\.3\.0, status=deferred", timeout=30)
        assert_queued(m)
        assert not m.mbox_messages(SENDER)
    finally:
        m.cleanup()


def test_removed_table_defers_until_it_is_back(tmp_path):
    # Without the table the default route would bounce: a resolver that
    # ignored the missing table would lose this message to a bounce.
    m = make_sys(tmp_path, table="pt_tr_bob@elsewhere.example local:\n",
                 main={"default_transport": "error:5.1.2 no route without the table"},
                 qmgr_opts=" -o max_idle=2s")
    spec = table_spec(m)
    lmdb = os.path.join(m.inst.etc, "transport.lmdb")
    try:
        m.start()
        m.send(["pt_tr_bob@elsewhere.example"], "first", sender=SENDER)
        wait_for(lambda: len(m.mbox_messages("pt_tr_bob")) == 1, timeout=30,
                 what="the first delivery; log:\n" + m.inst.read_log()[-3000:])
        assert os.path.exists(lmdb), os.listdir(m.inst.etc)
        os.unlink(lmdb)
        if IS_ROOT:
            # chrooted qmgr: the file is out of sight, so it restarts
            m.inst.wait_log(rf"table {re.escape(spec)} has changed -- restarting", timeout=15)
        m.send(["pt_tr_bob@elsewhere.example"], "second", sender=SENDER)
        m.inst.wait_log(rf"resolving <pt_tr_bob@elsewhere\.example>: transport_maps: table "
                        rf"{re.escape(spec)}", timeout=30)
        m.inst.wait_log(r"to=<pt_tr_bob@elsewhere\.example>.*dsn=4\.3\.0, status=deferred "
                        r"\(address resolver failure\)", timeout=30)
        if IS_ROOT:
            # a fresh qmgr cannot open it either: it tries again after max_idle
            m.inst.wait_log(rf"table {re.escape(spec)} is unavailable -- restarting", timeout=30)
        time.sleep(2)  # more retries
        assert_queued(m)
        assert len(m.mbox_messages("pt_tr_bob")) == 1
        assert not m.mbox_messages(SENDER), "the message was bounced"
        # the table comes back: delivered without any restart by the admin
        write_table(m, "pt_tr_bob@elsewhere.example local:\n")
        wait_for(lambda: len(m.mbox_messages("pt_tr_bob")) == 2, timeout=30,
                 what="the second delivery; log:\n" + m.inst.read_log()[-3000:])
        assert [str(x["Subject"]) for x in m.mbox_messages("pt_tr_bob")] == ["first", "second"]
        m.wait_delivered()
        assert not m.mbox_messages(SENDER)
        assert_no_problems(m)
    finally:
        m.cleanup()
