"""smtpd access restrictions end to end, Postfix-compatible: client, HELO,
sender, relay, recipient and data restrictions, access tables (hash, cidr,
texthash) with every access(5) action, restriction classes, warn_if_reject,
smtpd_delay_reject, recipient validation (local, virtual alias, virtual
mailbox and relay recipient tables), sender login ownership, lookup
failures, and the DNS restrictions (blocklists, allow lists, unknown
domains and host names) against a private dnsmasq in a network namespace.
Replies and NOQUEUE log lines are compared with Postfix's exact texts."""

import ctypes
import os
import re
import shutil
import smtplib
import socket
import subprocess
import threading
import time

import pytest

from conftest import IS_ROOT, SBIN, wait_for
from dnsns import dns_namespace  # noqa: F401  (pytest fixture)
from smtpsys import PASSWORDS, SmtpSystem, recv_reply

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root for real users and chroot")

OUTSIDE = "127.0.0.5"  # a client outside mynetworks = 127.0.0.1/32


# ---- helpers -------------------------------------------------------------------

def configure(tmp_path, main=None, files=None, hashes=(), **kw):
    """An SmtpSystem (not started). "{etc}" in main values is the config
    directory; files (name -> text) are written there, and those named in
    hashes are built with postmap as hash: tables."""
    etc = str(tmp_path / "s" / "etc")
    cfg = {"mynetworks": "127.0.0.1/32", "smtpd_error_sleep_time": "0",
           "recipient_delimiter": "+"}
    cfg.update({k: v.replace("{etc}", etc) for k, v in (main or {}).items()})
    s = SmtpSystem(tmp_path / "s", main=cfg, **kw)
    for name, text in (files or {}).items():
        with open(os.path.join(etc, name), "w") as f:
            f.write(text)
    for name in hashes:
        s.inst.cmd("postmap", f"hash:{etc}/{name}")
    return s


@pytest.fixture
def system(tmp_path):
    """Factory: system(main, files, hashes) -> a started SmtpSystem."""
    made = []

    def make(main=None, files=None, hashes=(), **kw):
        s = configure(tmp_path, main, files, hashes, **kw)
        made.append(s)
        return s.start()

    yield make
    for s in made:
        s.cleanup()


class Client(smtplib.SMTP):
    """smtplib from a chosen loopback address, optionally created inside a
    network namespace."""

    def __init__(self, port, src="127.0.0.1", netns=None, timeout=20):
        self._src = src
        self._netns = netns
        super().__init__("127.0.0.1", port, timeout=timeout)

    def _get_socket(self, host, port, timeout):
        s = socket_in_netns(self._netns) if self._netns else socket.socket()
        s.settimeout(timeout)
        s.bind((self._src, 0))
        s.connect((host, port))
        return s

    def cmd(self, line):
        code, msg = self.docmd(line)
        return code, msg.decode(errors="replace")


def socket_in_netns(name):
    """A TCP socket created inside network namespace name (a socket keeps
    the namespace it was made in; setns only affects the calling thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def run():
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                out["err"] = os.strerror(ctypes.get_errno())
            else:
                out["sock"] = socket.socket()
        finally:
            os.close(fd)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "err" in out:
        raise OSError(f"setns {name}: {out['err']}")
    return out["sock"]


def transaction(s, sender, rcpt, src=OUTSIDE, helo="client.example", port=None, netns=None):
    """EHLO, MAIL FROM:<sender> (must be accepted), RCPT TO:<rcpt>; returns
    the RCPT reply (code, "d.d.d text")."""
    with Client(port or s.port, src, netns) as c:
        c.ehlo(helo)
        code, msg = c.cmd(f"MAIL FROM:<{sender}>")
        assert code == 250, f"MAIL FROM:<{sender}> from {src}: {code} {msg}"
        return c.cmd(f"RCPT TO:<{rcpt}>")


def log_line(s, action, stage, client, text, sender=None, rcpt=None, proto="ESMTP",
             helo="client.example"):
    """Wait for Postfix's reject-style line and return it."""
    pat = (rf"NOQUEUE: {action}: {stage} from {re.escape(client)}: {re.escape(text)};")
    if sender is not None:
        pat += rf" from=<{re.escape(sender)}>"
    if rcpt is not None:
        pat += rf" to=<{re.escape(rcpt)}>"
    pat += rf" proto={proto}"
    if helo is not None:
        pat += rf" helo=<{re.escape(helo)}>"
    return s.inst.wait_log(pat + "\n").group(0)


# ---- access tables: the Postfix documentation examples ------------------------

def test_sender_access_table_from_postfix_docs(system):
    s = system({"smtpd_sender_restrictions": "check_sender_access hash:{etc}/access"},
               files={"access": "badspammer.com 550 Go away and do not spam us anymore\n"
                                "tux.badspammer.com OK\n"
                                "spammer@example.net REJECT\n"
                                "bounce@ DISCARD\n"},
               hashes=["access"])
    go_away = "5.7.1 <joe@badspammer.com>: Sender address rejected: " \
              "Go away and do not spam us anymore"
    assert transaction(s, "joe@badspammer.com", "pt_amy@test.example") == (550, go_away)
    # parent_domain_matches_subdomains lists smtpd_access_maps: subdomains too
    assert transaction(s, "joe@mail.badspammer.com", "pt_amy@test.example")[0] == 550
    assert transaction(s, "joe@tux.badspammer.com", "pt_amy@test.example")[0] == 250
    assert transaction(s, "joe@notbadspammer.com", "pt_amy@test.example")[0] == 250
    assert transaction(s, "spammer@example.net", "pt_amy@test.example") == (
        554, "5.7.1 <spammer@example.net>: Sender address rejected: Access denied")
    assert transaction(s, "other@example.net", "pt_amy@test.example")[0] == 250
    # user@ matches the local part in any domain
    assert transaction(s, "bounce@anywhere.example", "pt_amy@test.example")[0] == 250
    log_line(s, "reject", "RCPT", "unknown[127.0.0.5]", "550 " + go_away,
             "joe@badspammer.com", "pt_amy@test.example")
    log_line(s, "discard", "RCPT", "unknown[127.0.0.5]",
             "<bounce@anywhere.example>: Sender address triggers DISCARD action",
             "bounce@anywhere.example", "pt_amy@test.example")


def test_parent_domains_need_a_dot_without_smtpd_access_maps(system):
    s = system({"smtpd_sender_restrictions": "check_sender_access hash:{etc}/access",
                "parent_domain_matches_subdomains": "relay_domains"},
               files={"access": "exact.example REJECT\n.sub.example REJECT\n"},
               hashes=["access"])
    assert transaction(s, "a@exact.example", "pt_amy@test.example")[0] == 554
    assert transaction(s, "a@x.exact.example", "pt_amy@test.example")[0] == 250
    assert transaction(s, "a@x.sub.example", "pt_amy@test.example")[0] == 554
    assert transaction(s, "a@sub.example", "pt_amy@test.example")[0] == 250


def test_client_cidr_table_and_mynetworks(system):
    s = system({"mynetworks": "127.0.0.0/28",
                "smtpd_client_restrictions": "check_client_access cidr:{etc}/clients"},
               files={"clients": "127.0.0.6/32 REJECT\n"
                                 "127.0.0.7/32 550 5.7.9 Not from you\n"
                                 "127.0.0.8/32 DEFER\n"})
    # 127.0.0.5 is inside 127.0.0.0/28: it may relay
    assert transaction(s, "a@test.example", "x@elsewhere.example", src="127.0.0.5")[0] == 250
    # 127.0.0.20 is not
    assert transaction(s, "a@test.example", "x@elsewhere.example", src="127.0.0.20") == (
        454, "4.7.1 <x@elsewhere.example>: Relay access denied")
    assert transaction(s, "a@test.example", "pt_amy@test.example", src="127.0.0.6") == (
        554, "5.7.1 <unknown[127.0.0.6]>: Client host rejected: Access denied")
    assert transaction(s, "a@test.example", "pt_amy@test.example", src="127.0.0.7") == (
        550, "5.7.9 <unknown[127.0.0.7]>: Client host rejected: Not from you")
    assert transaction(s, "a@test.example", "pt_amy@test.example", src="127.0.0.8") == (
        450, "4.7.1 <unknown[127.0.0.8]>: Client host rejected: Access denied")
    log_line(s, "reject", "RCPT", "unknown[127.0.0.6]",
             "554 5.7.1 <unknown[127.0.0.6]>: Client host rejected: Access denied",
             "a@test.example", "pt_amy@test.example")


def test_client_hash_table_matches_address_prefixes(system):
    s = system({"smtpd_client_restrictions": "check_client_access hash:{etc}/clients"},
               files={"clients": "127.0.0.9 REJECT\n127.0.1 REJECT Network blocked\n"
                                 "127.0.2 sleep 2, permit\n"},
               hashes=["clients"])
    assert transaction(s, "a@test.example", "pt_amy@test.example", src="127.0.0.9")[0] == 554
    assert transaction(s, "a@test.example", "pt_amy@test.example", src="127.0.1.7") == (
        554, "5.7.1 <unknown[127.0.1.7]>: Client host rejected: Network blocked")
    assert transaction(s, "a@test.example", "pt_amy@test.example", src="127.0.0.10")[0] == 250
    # "sleep 2" in a table result: the RCPT reply comes 2 seconds late
    t0 = time.monotonic()
    assert transaction(s, "a@test.example", "pt_amy@test.example", src="127.0.2.1")[0] == 250
    assert time.monotonic() - t0 >= 2.0


# ---- HELO, sender and recipient syntax -------------------------------------------

def test_helo_restrictions(system):
    s = system({"smtpd_helo_required": "yes",
                "smtpd_helo_restrictions": "reject_invalid_helo_hostname, "
                "reject_non_fqdn_helo_hostname, check_helo_access hash:{etc}/helo"},
               files={"helo": "spammer.example REJECT\n"}, hashes=["helo"])
    rcpt = "pt_amy@test.example"
    assert transaction(s, "a@test.example", rcpt, helo="localhost") == (
        504, "5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname")
    assert transaction(s, "a@test.example", rcpt, helo="bad!name.example") == (
        501, "5.5.2 <bad!name.example>: Helo command rejected: Invalid name")
    assert transaction(s, "a@test.example", rcpt, helo="[1.2.3.999]") == (
        501, "5.5.2 <[1.2.3.999]>: Helo command rejected: invalid ip address")
    assert transaction(s, "a@test.example", rcpt, helo="mx.spammer.example") == (
        554, "5.7.1 <mx.spammer.example>: Helo command rejected: Access denied")
    assert transaction(s, "a@test.example", rcpt, helo="good.example")[0] == 250
    assert transaction(s, "a@test.example", rcpt, helo="[127.0.0.5]")[0] == 250
    with Client(s.port, OUTSIDE) as c:
        assert c.cmd("MAIL FROM:<a@test.example>") == (503, "5.5.1 Error: send HELO/EHLO first")
    log_line(s, "reject", "RCPT", "unknown[127.0.0.5]",
             "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname",
             "a@test.example", rcpt, helo="localhost")


def test_non_fqdn_sender_and_recipient(system):
    s = system({"smtpd_sender_restrictions": "reject_non_fqdn_sender",
                "smtpd_recipient_restrictions": "reject_non_fqdn_recipient",
                "smtpd_data_restrictions": "reject_multi_recipient_bounce"})
    assert transaction(s, "joe@localhost", "pt_amy@test.example", src="127.0.0.1") == (
        504, "5.5.2 <joe@localhost>: Sender address rejected: need fully-qualified address")
    assert transaction(s, "joe@test.example", "bob@nodots", src="127.0.0.1") == (
        504, "5.5.2 <bob@nodots>: Recipient address rejected: need fully-qualified address")
    assert transaction(s, "", "pt_amy@test.example", src="127.0.0.1")[0] == 250
    assert transaction(s, "joe@[127.0.0.1]", "pt_amy@test.example", src="127.0.0.1")[0] == 250
    assert transaction(s, "joe@test.example.", "pt_amy@test.example", src="127.0.0.1")[0] == 250
    # a bounce (null sender) goes to one recipient only
    with Client(s.port) as c:
        c.ehlo("client.example")
        assert c.cmd("MAIL FROM:<>")[0] == 250
        assert c.cmd("RCPT TO:<pt_amy@test.example>")[0] == 250
        assert c.cmd("RCPT TO:<pt_bob@test.example>")[0] == 250
        assert c.cmd("DATA") == (550, "5.5.3 <DATA>: Data command rejected: "
                                      "Multi-recipient bounce")


# ---- recipient validation --------------------------------------------------------

RCPT_TABLES = {
    "virtual": "known@valias.example pt_amy\nalias@test.example pt_bob\n",
    "vmbox": "box@vmbox.example vmbox/box/\n",
    "relay_rcpts": "ok@relay.example x\n@open.relay.example x\n",
}


def test_unknown_recipients_are_rejected(system):
    s = system({"virtual_alias_domains": "valias.example",
                "virtual_alias_maps": "hash:{etc}/virtual",
                "virtual_mailbox_domains": "vmbox.example",
                "virtual_mailbox_maps": "hash:{etc}/vmbox",
                "relay_domains": "relay.example",
                "relay_recipient_maps": "hash:{etc}/relay_rcpts",
                "smtpd_reject_unlisted_sender": "yes"},
               files=RCPT_TABLES, hashes=list(RCPT_TABLES))
    unknown = "5.1.1 <{}>: Recipient address rejected: User unknown in {} table"
    cases = [
        ("nosuch@test.example", 550, unknown.format("nosuch@test.example", "local recipient")),
        ("pt_amy@test.example", 250, None),
        ("pt_amy+folder@test.example", 250, None),
        ("postmaster@test.example", 250, None),
        ("MAILER-DAEMON@test.example", 250, None),
        ("alias@test.example", 250, None),  # virtual_alias_maps in any domain
        ("known@valias.example", 250, None),
        ("unknown@valias.example", 550, unknown.format("unknown@valias.example",
                                                       "virtual alias")),
        ("box@vmbox.example", 250, None),
        ("nobox@vmbox.example", 550, unknown.format("nobox@vmbox.example", "virtual mailbox")),
        ("ok@relay.example", 250, None),
        ("anyone@open.relay.example", 250, None),
        ("other@relay.example", 550, unknown.format("other@relay.example", "relay recipient")),
    ]
    for rcpt, code, text in cases:
        got = transaction(s, "a@elsewhere.example", rcpt)
        assert got[0] == code, f"RCPT TO:<{rcpt}>: {got}"
        if text:
            assert got[1] == text
    log_line(s, "reject", "RCPT", "unknown[127.0.0.5]",
             "550 " + unknown.format("nosuch@test.example", "local recipient"),
             "a@elsewhere.example", "nosuch@test.example")
    # smtpd_reject_unlisted_sender: our own domains' senders must exist too
    assert transaction(s, "nosuch@test.example", "pt_amy@test.example") == (
        550, "5.1.0 <nosuch@test.example>: Sender address rejected: "
             "User unknown in local recipient table")
    assert transaction(s, "pt_bob@test.example", "pt_amy@test.example")[0] == 250


def test_empty_local_recipient_maps_accepts_everyone(system):
    s = system({"local_recipient_maps": "", "unknown_local_recipient_reject_code": "450"})
    assert transaction(s, "a@elsewhere.example", "nosuch@test.example")[0] == 250


def test_unlisted_recipient_reject_code_and_switch(system):
    s = system({"unknown_local_recipient_reject_code": "450",
                "show_user_unknown_table_name": "no",
                "smtpd_reject_unlisted_recipient": "no",
                "smtpd_sender_restrictions": "check_sender_access hash:{etc}/senders"},
               files={"senders": "strict@test.example reject_unlisted_recipient\n"},
               hashes=["senders"])
    # implicit check off: accepted
    assert transaction(s, "a@elsewhere.example", "nosuch@test.example")[0] == 250
    # an access table result may still ask for it, with the configured code
    assert transaction(s, "strict@test.example", "nosuch@test.example") == (
        450, "4.1.1 <nosuch@test.example>: Recipient address rejected: User unknown")


def test_lookup_failures_are_temporary(system):
    s = system({"local_recipient_maps": "fail:down",
                "relay_domains": "relay.example",
                "smtpd_restriction_classes": "broken",
                "broken": "check_recipient_access fail:broken",
                "smtpd_sender_restrictions": "check_sender_access hash:{etc}/senders"},
               files={"senders": "tablefail@test.example broken\n"}, hashes=["senders"])
    # a recipient table that cannot be consulted: never a silent accept
    assert transaction(s, "a@elsewhere.example", "pt_amy@test.example") == (
        451, "4.3.0 <pt_amy@test.example>: Temporary lookup failure")
    assert transaction(s, "a@elsewhere.example", "x@relay.example")[0] == 250
    # an access table that cannot be consulted
    assert transaction(s, "tablefail@test.example", "x@relay.example") == (
        451, "4.3.0 <x@relay.example>: Temporary lookup failure")
    log = s.inst.read_log()
    assert re.search(r"warning: .*fail:down.*", log), log[-2000:]


# ---- access(5) actions, classes, warn_if_reject ------------------------------------

SENDERS = """\
reject@test.example REJECT
reject-text@test.example REJECT 5.7.9 No way
defer@test.example DEFER try again tomorrow
code@test.example 452 4.2.2 mailbox full
ok@test.example OK
dunno@test.example DUNNO
hold@test.example HOLD
discard@test.example DISCARD
warn@test.example WARN suspicious sender
prepend@test.example PREPEND X-Foo: bar
dip@test.example DEFER_IF_PERMIT greylisted
nodots DEFER_IF_REJECT maybe later
table@test.example hash:/etc/other
cls@test.example strict
unknown-name@test.example reject_no_such_thing
<> REJECT no bounces here
"""


@pytest.fixture
def actions(system):
    return system({"smtpd_sender_restrictions": "check_sender_access hash:{etc}/senders, "
                   "reject_non_fqdn_sender",
                   "smtpd_recipient_restrictions": "reject_non_fqdn_recipient",
                   "smtpd_restriction_classes": "strict",
                   "strict": "reject_unlisted_recipient, reject_non_fqdn_recipient, permit",
                   "smtpd_log_access_permit_actions": "OK"},
                  files={"senders": SENDERS}, hashes=["senders"])


def test_access_actions_reply(actions):
    s = actions

    def t(sender, rcpt="pt_amy@test.example"):
        return transaction(s, sender, rcpt, src="127.0.0.1")

    rej = "<{}>: Sender address rejected: {}"
    assert t("reject@test.example") == (554, "5.7.1 " + rej.format("reject@test.example",
                                                                   "Access denied"))
    assert t("reject-text@test.example") == (554, "5.7.9 " + rej.format(
        "reject-text@test.example", "No way"))
    assert t("defer@test.example") == (450, "4.7.1 " + rej.format("defer@test.example",
                                                                  "try again tomorrow"))
    assert t("code@test.example") == (452, "4.2.2 " + rej.format("code@test.example",
                                                                 "mailbox full"))
    assert t("ok@test.example")[0] == 250
    assert t("dunno@test.example")[0] == 250
    assert t("dunno@test.example", "bob@nodots")[0] == 504
    # OK ends the sender list only: the recipient restrictions still apply
    assert t("ok@test.example", "bob@nodots")[0] == 504
    assert t("dip@test.example") == (450, "4.7.1 " + rej.format("dip@test.example",
                                                                "greylisted"))
    # DEFER_IF_REJECT: a later reject in the same list becomes a deferral
    assert t("joe@nodots") == (450, "4.7.1 " + rej.format("joe@nodots", "maybe later"))
    assert t("joe@localhost") == (504, "5.5.2 " + rej.format("joe@localhost",
                                                             "need fully-qualified address"))
    assert t("table@test.example") == (451, "4.3.5 Server configuration error")
    assert t("unknown-name@test.example") == (451, "4.3.5 Server configuration error")
    assert t("cls@test.example")[0] == 250
    assert t("cls@test.example", "nosuch@test.example")[0] == 550
    assert t("") == (554, "5.7.1 <>: Sender address rejected: no bounces here")
    assert t("prepend@test.example")[0] == 250
    assert t("warn@test.example")[0] == 250
    log_line(s, "warn", "RCPT", "localhost[127.0.0.1]", "suspicious sender",
             "warn@test.example", "pt_amy@test.example")
    log_line(s, "permit", "RCPT", "localhost[127.0.0.1]",
             f"action=OK for Sender address=ok@test.example from hash:{s.inst.etc}/senders",
             "ok@test.example", "pt_amy@test.example")
    log_line(s, "reject", "RCPT", "localhost[127.0.0.1]",
             "554 5.7.1 <>: Sender address rejected: no bounces here", "",
             "pt_amy@test.example")
    log = s.inst.read_log()
    assert "action PREPEND is not supported" in log
    assert "unknown restriction: reject_no_such_thing" in log


def test_hold_and_discard(actions):
    s = actions
    with Client(s.port) as c:
        c.ehlo("client.example")
        assert c.sendmail("hold@test.example", ["pt_amy@test.example"],
                          b"Subject: held\r\n\r\nwait\r\n") == {}
        assert c.sendmail("discard@test.example", ["pt_amy@test.example"],
                          b"Subject: dropped\r\n\r\ngone\r\n") == {}
        assert c.sendmail("ok@test.example", ["pt_amy@test.example"],
                          b"Subject: normal\r\n\r\nhi\r\n") == {}
    log_line(s, "hold", "RCPT", "localhost[127.0.0.1]",
             "<hold@test.example>: Sender address triggers HOLD action",
             "hold@test.example", "pt_amy@test.example")
    log_line(s, "discard", "RCPT", "localhost[127.0.0.1]",
             "<discard@test.example>: Sender address triggers DISCARD action",
             "discard@test.example", "pt_amy@test.example")
    wait_for(lambda: s.mbox_messages("pt_amy"), timeout=30, what="delivery to pt_amy")
    wait_for(lambda: s.queue_files("hold"), timeout=10, what="a queue file in hold/")
    subjects = [m["Subject"] for m in s.mbox_messages("pt_amy")]
    assert subjects == ["normal"], subjects


def test_restriction_class_and_warn_if_reject(system):
    s = system({"smtpd_restriction_classes": "from_partners",
                "from_partners": "check_recipient_access hash:{etc}/partner_rcpts, reject",
                "smtpd_sender_restrictions": "check_sender_access hash:{etc}/senders",
                "smtpd_recipient_restrictions": "warn_if_reject reject_non_fqdn_recipient"},
               files={"senders": "partner.example from_partners\n",
                      "partner_rcpts": "pt_bob@test.example OK\n"},
               hashes=["senders", "partner_rcpts"])
    assert transaction(s, "x@partner.example", "pt_bob@test.example")[0] == 250
    assert transaction(s, "x@partner.example", "pt_amy@test.example") == (
        554, "5.7.1 <x@partner.example>: Sender address rejected: Access denied")
    assert transaction(s, "x@other.example", "pt_amy@test.example")[0] == 250
    # warn_if_reject: logged, not refused
    assert transaction(s, "x@other.example", "bob@nodots", src="127.0.0.1")[0] == 250
    log_line(s, "reject_warning", "RCPT", "localhost[127.0.0.1]",
             "504 5.5.2 <bob@nodots>: Recipient address rejected: need fully-qualified address",
             "x@other.example", "bob@nodots")


def fatal_at_start(s, text):
    """Start the instance and connect: smtpd must exit with a fatal error
    naming the problem, never greet half-configured."""
    try:
        s.inst.start()
        greeting = b""
        try:
            with socket.create_connection(("127.0.0.1", s.port), timeout=3) as sock:
                greeting = sock.recv(100)
        except OSError:
            pass
        assert not greeting.startswith(b"220"), greeting
        s.inst.wait_log(re.escape("postern/smtpd[") + r"\d+\]: fatal: " + re.escape(text))
    finally:
        s.cleanup()


def test_bad_restriction_lists_stop_smtpd(tmp_path):
    s = configure(tmp_path, {"smtpd_recipient_restrictions": "permit_mynetworks, reject_foo"})
    fatal_at_start(s, "smtpd_recipient_restrictions: unknown restriction: reject_foo")


def test_relay_control_is_required(tmp_path):
    s = configure(tmp_path, {"smtpd_relay_restrictions": "permit_mynetworks",
                             "smtpd_recipient_restrictions": "permit_mynetworks, permit"})
    fatal_at_start(s, "in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, "
                      "specify at least one working instance of: reject_unauth_destination")


# ---- smtpd_delay_reject = no, pipelining ---------------------------------------------

def test_without_delay_reject_each_stage_answers_itself(system):
    s = system({"smtpd_delay_reject": "no",
                "smtpd_client_restrictions": "check_client_access cidr:{etc}/clients",
                "smtpd_helo_restrictions": "reject_non_fqdn_helo_hostname",
                "smtpd_sender_restrictions": "check_sender_access hash:{etc}/senders"},
               files={"clients": "127.0.0.6/32 REJECT\n",
                      "senders": "bad@example.net REJECT\n"},
               hashes=["senders"])
    with pytest.raises(smtplib.SMTPConnectError) as e:
        Client(s.port, "127.0.0.6")
    assert e.value.smtp_code == 554
    assert b"Client host rejected: Access denied" in e.value.smtp_error
    log_line(s, "reject", "CONNECT", "unknown[127.0.0.6]",
             "554 5.7.1 <unknown[127.0.0.6]>: Client host rejected: Access denied",
             proto="SMTP", helo=None)
    with Client(s.port, OUTSIDE) as c:
        code, msg = c.ehlo("localhost")
        assert (code, msg.decode()) == (
            504, "5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname")
        assert c.ehlo("client.example")[0] == 250
        assert c.cmd("MAIL FROM:<bad@example.net>") == (
            554, "5.7.1 <bad@example.net>: Sender address rejected: Access denied")
        assert c.cmd("MAIL FROM:<good@example.net>")[0] == 250


def test_reject_unauth_pipelining_at_data(system):
    s = system({"smtpd_forbid_unauth_pipelining": "no",
                "smtpd_data_restrictions": "reject_unauth_pipelining"})
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    try:
        assert recv_reply(sock).startswith("220")
        sock.sendall(b"HELO client.example\r\n")
        assert recv_reply(sock).startswith("250")
        sock.sendall(b"MAIL FROM:<a@test.example>\r\nRCPT TO:<pt_amy@test.example>\r\n"
                     b"DATA\r\n")
        replies = [recv_reply(sock) for _ in range(3)]
        assert replies[2] == ("503 5.5.0 <DATA>: Data command rejected: "
                              "Improper use of SMTP command pipelining\r\n"), replies
    finally:
        sock.close()
    log_line(s, "reject", "DATA", "localhost[127.0.0.1]",
             "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining",
             "a@test.example", "pt_amy@test.example", proto="SMTP")


# ---- SASL: sender login ownership ------------------------------------------------------

def test_sender_login_mismatch(system):
    s = system({"smtpd_sender_login_maps": "hash:{etc}/logins",
                "smtpd_sender_restrictions": "reject_sender_login_mismatch"},
               files={"logins": "amy@test.example pt_amy\nshared@test.example pt_amy, pt_bob\n"},
               hashes=["logins"], smtp_args=("-o smtpd_sasl_auth_enable=yes",))

    def session(user, sender):
        with Client(s.port, OUTSIDE) as c:
            c.ehlo("client.example")
            c.starttls(context=s.tls_context())
            c.ehlo("client.example")
            if user:
                c.login(user, PASSWORDS[user])
            assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
            return c.cmd("RCPT TO:<pt_cat@test.example>")

    assert session(None, "amy@test.example") == (
        553, "5.7.1 <amy@test.example>: Sender address rejected: not logged in")
    assert session(None, "nobody@test.example")[0] == 250
    assert session("pt_bob", "amy@test.example") == (
        553, "5.7.1 <amy@test.example>: Sender address rejected: not owned by user pt_bob")
    assert session("pt_bob", "shared@test.example")[0] == 250
    assert session("pt_amy", "amy@test.example")[0] == 250


# ---- DNS: blocklists, allow lists, unknown names -------------------------------------

DNS_RECORDS = {
    "2.0.0.127.bl.test": {"A": ["127.0.0.2"], "TXT": ["listed for testing"]},
    "6.0.0.127.bl.test": {"A": ["127.0.0.2"]},
    "3.0.0.127.pl.test": {"A": ["127.0.0.9"]},
    "4.0.0.127.pl.test": {"A": ["127.0.0.4"]},
    "6.0.0.127.wl.test": {"A": ["127.0.0.2"]},
    "spam.example.dbl.test": {"A": ["127.0.1.2"]},
    "mx.example": {"MX": [(10, "mail.mx.example")]},
    "mail.mx.example": {"A": ["192.0.2.1"]},
    "aonly.example": {"A": ["192.0.2.2"]},
    "v6only.example": {"AAAA": ["2001:db8::1"]},
    "spam.example": {"A": ["192.0.2.3"]},
    "fc.test": {"A": ["127.0.0.7"]},
    "host.rev.test": {"A": ["127.0.0.12"]},
}


def start_in_netns(tmp_path, ns, main, files=()):
    """Run the whole instance inside the namespace (its resolver is the
    namespace's dnsmasq); the chrooted smtpd gets a copy of resolv.conf."""
    s = configure(tmp_path, main, files)
    inst = s.inst
    os.makedirs(os.path.join(inst.queue, "etc"), exist_ok=True)
    shutil.copy(ns.resolv_conf, os.path.join(inst.queue, "etc", "resolv.conf"))

    def cmd(prog, *args, check=True, timeout=60, input=None):
        argv = ns.exec_prefix + [os.path.join(SBIN, prog), "-c", inst.etc, *args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"{argv}: {p.returncode} {p.stderr}\n{inst.read_log()[-2000:]}")
        return p

    inst.cmd = cmd
    inst.start()

    def listening():
        try:
            with socket_in_netns(ns.name) as sock:
                sock.settimeout(2)
                sock.connect(("127.0.0.1", s.port))
                return sock.recv(1) != b""
        except OSError:
            return False

    wait_for(listening, what="smtpd inside the namespace")
    return s


@pytest.fixture
def dns_system(tmp_path, dns_namespace):  # noqa: F811
    ns = dns_namespace(DNS_RECORDS)
    s = start_in_netns(tmp_path, ns, {
        "smtpd_client_restrictions": "check_client_access cidr:{etc}/clients, "
        "check_reverse_client_hostname_access texthash:{etc}/rev, "
        "permit_dnswl_client wl.test, reject_rbl_client bl.test, "
        "reject_rbl_client pl.test=127.0.0.[2..4]",
        "rbl_reply_maps": "texthash:{etc}/rbl_reply",
        "smtpd_helo_restrictions": "reject_unknown_helo_hostname",
        "smtpd_sender_restrictions": "reject_unknown_sender_domain, reject_rhsbl_sender dbl.test",
        "smtpd_recipient_restrictions": "reject_unknown_recipient_domain",
    }, files={
        "clients": "127.0.0.5/32 reject_unknown_client_hostname\n"
                   "127.0.0.7/32 reject_unknown_client_hostname\n"
                   "127.0.0.8/32 reject_unknown_reverse_client_hostname\n",
        "rbl_reply": "pl.test=127.0.0.[2..4] 550 5.7.2 Blocked by $rbl_domain: $client_address\n",
        "rev": "rev.test REJECT\n",
    })
    yield ns, s
    s.cleanup()


def test_dns_blocklists(dns_system):
    ns, s = dns_system

    def t(src, sender="a@mx.example", rcpt="pt_amy@test.example", helo="mail.mx.example"):
        return transaction(s, sender, rcpt, src=src, helo=helo, netns=ns.name)

    assert t("127.0.0.2") == (554, "5.7.1 Service unavailable; Client host [127.0.0.2] "
                                   "blocked using bl.test; listed for testing")
    # pl.test answers 127.0.0.9 for 127.0.0.3: outside the reply pattern
    assert t("127.0.0.3")[0] == 250
    assert t("127.0.0.4") == (550, "5.7.2 Blocked by pl.test: 127.0.0.4")
    # allow-listed before the blocklist
    assert t("127.0.0.6")[0] == 250
    assert t("127.0.0.3", sender="x@spam.example") == (
        554, "5.7.1 Service unavailable; Sender address [x@spam.example] blocked using dbl.test")
    # dnsmasq also answers the PTR of its A records: 127.0.0.2 has a name
    log_line(s, "reject", "RCPT", "2.0.0.127.bl.test[127.0.0.2]",
             "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl.test; "
             "listed for testing", "a@mx.example", "pt_amy@test.example",
             helo="mail.mx.example")


def test_dns_unknown_domains_and_names(dns_system):
    ns, s = dns_system

    def t(sender="a@mx.example", rcpt="pt_amy@test.example", src="127.0.0.3",
          helo="mail.mx.example"):
        return transaction(s, sender, rcpt, src=src, helo=helo, netns=ns.name)

    for ok in ("a@mx.example", "a@aonly.example", "a@v6only.example", "a@test.example"):
        assert t(sender=ok)[0] == 250, ok
    assert t(sender="a@nodomain.example") == (
        450, "4.1.8 <a@nodomain.example>: Sender address rejected: Domain not found")
    assert t(rcpt="b@nodomain.example", src="127.0.0.1") == (
        450, "4.1.2 <b@nodomain.example>: Recipient address rejected: Domain not found")
    assert t(rcpt="b@aonly.example", src="127.0.0.1")[0] == 250
    assert t(helo="nohost.example") == (
        450, "4.7.1 <nohost.example>: Helo command rejected: Host not found")
    assert t(src="127.0.0.5") == (
        450, "4.7.25 Client host rejected: cannot find your hostname, [127.0.0.5]")
    assert t(src="127.0.0.8") == (
        450, "4.7.1 Client host rejected: cannot find your reverse hostname, [127.0.0.8]")
    # 127.0.0.7 has a PTR (fc.test) that points back
    assert t(src="127.0.0.7")[0] == 250
    # the reverse name (parent domain rev.test) in an access table
    assert t(src="127.0.0.12") == (
        554, "5.7.1 <host.rev.test>: Unverified Client host rejected: Access denied")
    log_line(s, "reject", "RCPT", "unknown[127.0.0.3]",
             "450 4.1.8 <a@nodomain.example>: Sender address rejected: Domain not found",
             "a@nodomain.example", "pt_amy@test.example", helo="mail.mx.example")


def test_dns_failure_defers_never_rejects(dns_system):
    ns, s = dns_system
    ns.stop_dns()
    # The blocklist cannot answer: skipped. The sender domain cannot be
    # checked: the accept becomes a deferral.
    assert transaction(s, "a@aonly.example", "pt_amy@test.example", src="127.0.0.2",
                       helo="[127.0.0.2]", netns=ns.name) == (
        450, "4.1.8 <a@aonly.example>: Sender address rejected: Domain not found")
    assert transaction(s, "a@test.example", "pt_amy@test.example", src="127.0.0.2",
                       helo="[127.0.0.2]", netns=ns.name)[0] == 250
    assert "RBL lookup error" in s.inst.read_log()
