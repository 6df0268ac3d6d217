"""Outbound delivery across a real network: a sending Postern, a receiving
Postern and controllable receivers (smtpsink.py) in network namespaces on
one bridge, with a private dnsmasq serving the MX and A records
(netlab.py). Checks MX preference and fall-back (port closed, host down),
4xx -> deferred -> retried -> delivered, 5xx -> RFC 3464 DSN to the sender,
mixed per-recipient results in one transaction, STARTTLS (may delivers,
verify defers a self-signed receiver), relayhost with SMTP AUTH,
transport_maps to [address]:port, a mail loop bounce, and 1000 messages to
20 destinations under a concurrency limit, each arriving exactly once.

Most cases share one lab and one sending Postern (module fixture "world"),
each with its own domain and receiver; the cases that need another main.cf
start their own sender on another lab host.
"""

import collections
import re
import threading
import time

import pytest

from conftest import IS_ROOT, wait_for
from netlab import (Lab, dsn_reports, lab_unavailable, outcome_lines, postern_on,
                    queue_listing, submit, wait_dsn_for, wait_outcome)
from smtpsink import Sink
from smtpsys import make_cert

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="network namespaces and real users need "
                                                    "root; this run is not root")

SENDER = "ptn_snd"
SENDER_HOST = "sender.test"
SENDER_ADDR = f"{SENDER}@{SENDER_HOST}"
NET = "10.250.0."

# address -> (names in DNS); the sinks host has every .4x/.5x address.
A = {
    "mx1.pref.test": NET + "40", "mx2.pref.test": NET + "41",
    "mx1.closed.test": NET + "42", "mx2.closed.test": NET + "43",
    "mx1.down.test": NET + "5", "mx2.down.test": NET + "44",
    "mx.tempfail.test": NET + "45", "mx.reject.test": NET + "46", "mx.mixed.test": NET + "47",
    "mx.tls.test": NET + "48", "mx.tm.test": NET + "49", "relay.test": NET + "51",
    "mx.rcv.test": NET + "3", "mx.loop.test": NET + "2",
}
MX = {
    "pref.test": [(10, "mx1.pref.test"), (20, "mx2.pref.test")],
    "closed.test": [(10, "mx1.closed.test"), (20, "mx2.closed.test")],
    "down.test": [(10, "mx1.down.test"), (20, "mx2.down.test")],
    "tempfail.test": [(10, "mx.tempfail.test")], "reject.test": [(10, "mx.reject.test")],
    "mixed.test": [(10, "mx.mixed.test")], "tls.test": [(10, "mx.tls.test")],
    "tm.test": [(10, "mx.tm.test")], "rcv.test": [(10, "mx.rcv.test")],
    "loop.test": [(10, "mx.loop.test")], "v6.test": [(10, "mx.v6.test")],
}
TM_ADDR = NET + "50"
V6_ADDR = "fd00:250::52"  # mx.v6.test has only this AAAA record  # transport_maps: tm.test -> smtp:[TM_ADDR]:2525

# 1000 messages to 20 destinations: bulkNN.test, even NN by MX, odd NN by A.
BULK_DOMAINS = [f"bulk{i:02d}.test" for i in range(20)]
BULK_ADDR = {d: NET + str(100 + i) for i, d in enumerate(BULK_DOMAINS)}
BULK_LIMIT = 3


def records():
    r = {name: {"A": [addr]} for name, addr in A.items()}
    r["mx.v6.test"] = {"AAAA": [V6_ADDR]}
    for dom, mx in MX.items():
        r.setdefault(dom, {})["MX"] = mx
    for i, d in enumerate(BULK_DOMAINS):
        if i % 2 == 0:
            r[d] = {"MX": [(10, f"mx.{d}")]}
            r[f"mx.{d}"] = {"A": [BULK_ADDR[d]]}
        else:
            r[d] = {"A": [BULK_ADDR[d]]}
    return r


class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    w = World()
    w.lab = Lab(records(), ipv6=True).start()
    w.sinks = {}
    w.systems = []
    try:
        w.sender_host = w.lab.add_host("sender", n=2)
        w.rcv_host = w.lab.add_host("rcv", n=3)
        w.sink_host = w.lab.add_host("sinks", n=4)
        w.down_host = w.lab.add_host("down", n=5)
        for n in list(range(40, 52)):
            w.sink_host.add_addr(NET + str(n))
        w.sink_host.add_addr(V6_ADDR)
        certdir = str(tmp_path_factory.mktemp("cert"))
        w.cert, w.key = make_cert(certdir, cn="mx.tls.test")
        for name in ("mx1.pref.test", "mx2.pref.test", "mx2.closed.test", "mx2.down.test",
                     "mx.tempfail.test", "mx.reject.test", "mx.mixed.test", "mx.tm.test"):
            w.sinks[name] = Sink(w.sink_host, [A[name]], hostname=name).start()
        w.sinks["mx.tls.test"] = Sink(w.sink_host, [A["mx.tls.test"]], hostname="mx.tls.test",
                                      cert=w.cert, key=w.key).start()
        w.sinks["mx.v6.test"] = Sink(w.sink_host, [V6_ADDR], hostname="mx.v6.test").start()
        w.sinks["tm"] = Sink(w.sink_host, [TM_ADDR], port=2525, hostname="tm-route.test").start()
        w.down_host.link_down()

        base = tmp_path_factory.mktemp("world")
        w.rcv = postern_on(w.rcv_host, base / "rcv", "mx.rcv.test", ("ptn_rcv",),
                           main={"mydestination": "rcv.test, $myhostname, localhost"})
        w.systems.append(w.rcv)
        w.snd = postern_on(w.sender_host, base / "snd", SENDER_HOST, (SENDER,),
                           main={"smtp_tls_security_level": "may", "inet_protocols": "all",
                                 "transport_maps": "texthash:{etc}/transport"},
                           files={"transport": f"tm.test smtp:[{TM_ADDR}]:2525\n"})
        w.systems.append(w.snd)
        w.rcv.start()
        w.snd.start()
        yield w
    finally:
        for s in w.systems:
            s.cleanup()
        for s in w.sinks.values():
            s.stop()
        w.lab.stop()


def check_clean_log(system):
    bad = system.log_problems()
    assert not bad, "the instance log shows a crash or fatal error:\n" + "\n".join(bad)


def sink_ids(sink):
    return collections.Counter(m.message_id for m in sink.snapshot())


# ---- routing by MX ------------------------------------------------------------

def test_mail_goes_to_the_mx_with_the_lowest_preference(world):
    ids = [f"pref-{i}@sender.test" for i in range(3)]
    for i, mid in enumerate(ids):
        submit(world.snd, [f"user{i}@pref.test"], SENDER, mid)
    for i in range(3):
        _q, _s, dsn, reason, line = wait_outcome(world.snd.inst, f"user{i}@pref.test", "sent")
        assert f"relay=mx1.pref.test[{A['mx1.pref.test']}]:25" in line, line
        assert dsn.startswith("2."), line
        assert reason.startswith("250 "), line
    best, second = world.sinks["mx1.pref.test"], world.sinks["mx2.pref.test"]
    assert sink_ids(best) == collections.Counter({f"<{m}>": 1 for m in ids})
    assert not second.snapshot(), "the preference 20 MX got mail while preference 10 was up"
    assert best.snapshot()[0].mail_from == SENDER_ADDR
    check_clean_log(world.snd)


def test_falls_back_to_the_next_mx_when_the_best_refuses_connections(world):
    submit(world.snd, ["amy@closed.test"], SENDER, "closed-1@sender.test")
    _q, _s, _d, _r, line = wait_outcome(world.snd.inst, "amy@closed.test", "sent")
    assert f"relay=mx2.closed.test[{A['mx2.closed.test']}]:25" in line, line
    log = world.snd.inst.read_log()
    assert re.search(r"connect to mx1\.closed\.test\[10\.250\.0\.42\]:25: Connection refused",
                     log), "no log line about the refused connection to the best MX"
    assert sink_ids(world.sinks["mx2.closed.test"])["<closed-1@sender.test>"] == 1


def test_falls_back_to_the_next_mx_when_the_best_host_is_down(world):
    t0 = time.monotonic()
    submit(world.snd, ["amy@down.test"], SENDER, "down-1@sender.test")
    _q, _s, _d, _r, line = wait_outcome(world.snd.inst, "amy@down.test", "sent", timeout=40)
    assert f"relay=mx2.down.test[{A['mx2.down.test']}]:25" in line, line
    log = world.snd.inst.read_log()
    assert re.search(r"connect to mx1\.down\.test\[10\.250\.0\.5\]:25: "
                     r"(Connection timed out|No route to host)", log), \
        "no log line about the unreachable best MX"
    assert sink_ids(world.sinks["mx2.down.test"])["<down-1@sender.test>"] == 1
    assert time.monotonic() - t0 < 40


def test_mail_reaches_a_receiving_postern_through_its_mx(world):
    submit(world.snd, ["ptn_rcv@rcv.test"], SENDER, "rcv-1@sender.test")
    _q, _s, _d, reason, line = wait_outcome(world.snd.inst, "ptn_rcv@rcv.test", "sent")
    assert f"relay=mx.rcv.test[{A['mx.rcv.test']}]:25" in line, line
    m = re.match(r"250 2\.0\.0 Ok: queued as (\w+)", reason)
    assert m, f"the receiver's reply is not in the status: {line}"
    wait_for(lambda: world.rcv.mbox_messages("ptn_rcv"), timeout=20,
             what="the message in ptn_rcv's mailbox on the receiving host")
    [msg] = world.rcv.mbox_messages("ptn_rcv")
    assert msg["Message-Id"].strip() == "<rcv-1@sender.test>"
    received = msg.get_all("Received")
    assert any("by mx.rcv.test" in r and "10.250.0.2" in r for r in received), received
    assert m.group(1) in world.rcv.inst.read_log(), "the receiver's queue ID is not in its log"


def test_an_ipv6_only_mx_is_reached_over_ipv6(world):
    submit(world.snd, ["amy@v6.test"], SENDER, "v6-1@sender.test")
    _q, _s, _d, _r, line = wait_outcome(world.snd.inst, "amy@v6.test", "sent")
    assert f"relay=mx.v6.test[{V6_ADDR}]:25" in line, line
    [m] = world.sinks["mx.v6.test"].snapshot()
    assert m.peer == "fd00:250::2", m.peer


# ---- temporary and permanent failures ------------------------------------------

def test_4xx_is_deferred_retried_and_delivered_when_the_receiver_recovers(world):
    sink = world.sinks["mx.tempfail.test"]
    sink.rcpt_reply = "451 4.3.0 Try again later"
    submit(world.snd, ["amy@tempfail.test"], SENDER, "temp-1@sender.test")
    _q, _s, dsn, reason, line = wait_outcome(world.snd.inst, "amy@tempfail.test", "deferred")
    assert dsn == "4.3.0", line
    assert "451 4.3.0 Try again later (in reply to RCPT TO command)" in reason, line
    assert "amy@tempfail.test" in queue_listing(world.snd), "deferred mail is not in the queue"
    assert not sink.snapshot()
    tries = len([c for c in sink.connections if any(x.startswith("RCPT") for x in c.commands)])
    sink.rcpt_reply = None
    world.snd.flush()
    wait_outcome(world.snd.inst, "amy@tempfail.test", "sent", timeout=30)
    assert sink_ids(sink) == collections.Counter({"<temp-1@sender.test>": 1})
    assert tries >= 1
    wait_for(lambda: "amy@tempfail.test" not in queue_listing(world.snd), timeout=10,
             what="the delivered message to leave the queue")
    # Postfix's wording: the server as name[address], no port.
    assert f"host mx.tempfail.test[{A['mx.tempfail.test']}] said: 451 4.3.0" in reason, line


def test_5xx_bounces_with_an_rfc3464_report_to_the_sender(world):
    sink = world.sinks["mx.reject.test"]
    sink.rcpt_reply = "550 5.1.1 <nobody@reject.test>: Recipient address rejected"
    submit(world.snd, ["nobody@reject.test"], SENDER, "rej-1@sender.test",
           subject="will bounce")
    _q, _s, dsn, reason, line = wait_outcome(world.snd.inst, "nobody@reject.test", "bounced")
    assert dsn == "5.1.1", line
    assert "said: 550 5.1.1" in reason and "(in reply to RCPT TO command)" in reason, line
    msg, head, block = wait_dsn_for(world.snd, SENDER, "nobody@reject.test")
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert "Reporting-MTA" in head and SENDER_HOST in head["Reporting-MTA"]
    assert block["Action"].strip() == "failed"
    assert block["Status"].strip() == "5.1.1"
    assert re.match(r"dns;\s*mx\.reject\.test", block["Remote-MTA"].strip(), re.I), \
        block["Remote-MTA"]
    diag = block["Diagnostic-Code"]
    assert re.match(r"smtp;\s*550 5\.1\.1", diag.strip(), re.I), diag
    assert "rfc822;" in block["Final-Recipient"].replace(" ", "").lower()
    # The returned message (or its headers) is the third part.
    third = list(msg.iter_parts())[2]
    assert "rej-1@sender.test" in third.as_string()
    assert not sink.snapshot()


def test_mixed_recipient_results_in_one_transaction(world):
    sink = world.sinks["mx.mixed.test"]
    replies = {"tmp@mixed.test": "450 4.2.0 Mailbox busy",
               "bad@mixed.test": "550 5.1.1 No such user"}
    sink.rcpt_reply = lambda rcpt: replies.get(rcpt)
    rcpts = ["ok1@mixed.test", "tmp@mixed.test", "bad@mixed.test", "ok2@mixed.test"]
    submit(world.snd, rcpts, SENDER, "mixed-1@sender.test")
    inst = world.snd.inst
    for r in ("ok1@mixed.test", "ok2@mixed.test"):
        wait_outcome(inst, r, "sent")
    _q, _s, dsn, reason, _l = wait_outcome(inst, "tmp@mixed.test", "deferred")
    assert dsn == "4.2.0" and "said: 450 4.2.0 Mailbox busy" in reason, reason
    _q, _s, dsn, reason, _l = wait_outcome(inst, "bad@mixed.test", "bounced")
    assert dsn == "5.1.1" and "said: 550 5.1.1 No such user" in reason, reason
    first = sink.snapshot()
    assert len(first) == 1, f"expected one transaction, got {first}"
    assert sorted(first[0].rcpts) == ["ok1@mixed.test", "ok2@mixed.test"]
    listing = queue_listing(world.snd)
    assert "tmp@mixed.test" in listing, "the 450 recipient is not queued any more"
    for done in ("ok1@mixed.test", "ok2@mixed.test", "bad@mixed.test"):
        assert done not in listing, f"{done} is still in the queue:\n{listing}"
    _m, _h, block = wait_dsn_for(world.snd, SENDER, "bad@mixed.test")
    assert block["Action"].strip() == "failed" and block["Status"].strip() == "5.1.1"
    for m, _h, blocks in dsn_reports(world.snd, SENDER):
        for b in blocks:
            fr = str(b.get("Final-Recipient", ""))
            assert not any(x in fr for x in ("ok1@", "ok2@")), f"a DSN names a delivered rcpt: {fr}"
    # The 450 recipient recovers: it alone is sent again, once.
    sink.rcpt_reply = None
    world.snd.flush()
    wait_outcome(inst, "tmp@mixed.test", "sent", timeout=30)
    msgs = sink.snapshot()
    assert [sorted(m.rcpts) for m in msgs] == [["ok1@mixed.test", "ok2@mixed.test"],
                                               ["tmp@mixed.test"]]
    assert all(m.message_id == "<mixed-1@sender.test>" for m in msgs)
    assert sum(1 for o in outcome_lines(inst, "bad@mixed.test") if o[1] == "bounced") == 1


# ---- TLS ------------------------------------------------------------------------

def test_starttls_may_delivers_to_a_self_signed_receiver_over_tls(world):
    sink = world.sinks["mx.tls.test"]
    submit(world.snd, ["amy@tls.test"], SENDER, "tls-may@sender.test")
    wait_outcome(world.snd.inst, "amy@tls.test", "sent")
    [m] = [m for m in sink.snapshot() if m.message_id == "<tls-may@sender.test>"]
    assert m.tls, "level may with STARTTLS offered: the message went in plaintext"


def test_starttls_verify_defers_a_self_signed_receiver(world, tmp_path):
    host = world.lab.add_host("verify")
    s = postern_on(host, tmp_path / "v", "verify.test", ("ptn_ver",),
                   main={"smtp_tls_security_level": "verify"})
    try:
        s.start()
        sink = world.sinks["mx.tls.test"]
        before = len(sink.connections)
        submit(s, ["bob@tls.test"], "ptn_ver", "tls-verify@verify.test")
        _q, _s, dsn, reason, line = wait_outcome(s.inst, "bob@tls.test", "deferred")
        assert dsn.startswith("4."), line
        assert re.search(r"certificate|verif|trust", reason, re.I), \
            f"the deferral does not say the certificate failed verification: {line}"
        assert "mx.tls.test" in reason, line
        listing = queue_listing(s)
        assert "bob@tls.test" in listing
        assert re.search(r"certificate|verif|trust", listing, re.I), \
            f"mailq does not show why:\n{listing}"
        new = sink.connections[before:]
        assert any("STARTTLS" in c.commands for c in new), "the client never tried STARTTLS"
        assert not any(c.commands and c.commands[-1].upper().startswith("MAIL") for c in new)
        assert "<tls-verify@verify.test>" not in sink_ids(sink)
        check_clean_log(s)
    finally:
        s.cleanup()


# ---- relayhost and transport_maps ----------------------------------------------

def test_relayhost_on_port_587_with_smtp_auth(world, tmp_path):
    host = world.lab.add_host("relayclient")
    sink = Sink(world.sink_host, [A["relay.test"]], port=587, hostname="relay.test",
                cert=world.cert, key=world.key, logins={"ptn_relayuser": "relay-secret"},
                auth_needs_tls=True).start()
    s = postern_on(host, tmp_path / "r", "relayclient.test", ("ptn_rel",), main={
        "relayhost": "[relay.test]:587",
        "smtp_sasl_auth_enable": "yes",
        "smtp_sasl_password_maps": "texthash:{etc}/sasl_passwd",
        "smtp_tls_security_level": "may",
        # Postfix's relayhost recipe: PLAIN and LOGIN are fine inside TLS.
        "smtp_sasl_tls_security_options": "noanonymous",
    }, files={"sasl_passwd": "[relay.test]:587 ptn_relayuser:relay-secret\n"})
    try:
        s.start()
        submit(s, ["someone@far-away.example"], "ptn_rel", "relay-1@relayclient.test")
        _q, _s, _d, _r, line = wait_outcome(s.inst, "someone@far-away.example", "sent")
        assert f"relay=relay.test[{A['relay.test']}]:587" in line, line
        [m] = sink.snapshot()
        assert m.auth is not None, f"no AUTH before MAIL; commands: {sink.connections[0].commands}"
        assert m.auth[1:] == ("ptn_relayuser", "relay-secret"), m.auth
        assert m.tls, "AUTH credentials were sent without TLS"
        assert m.rcpts == ["someone@far-away.example"]
        check_clean_log(s)
    finally:
        s.cleanup()
        sink.stop()


def test_transport_maps_routes_a_domain_to_an_address_and_port(world):
    submit(world.snd, ["amy@tm.test"], SENDER, "tm-1@sender.test")
    _q, _s, _d, _r, line = wait_outcome(world.snd.inst, "amy@tm.test", "sent")
    assert f"relay={TM_ADDR}[{TM_ADDR}]:2525" in line, line
    assert sink_ids(world.sinks["tm"])["<tm-1@sender.test>"] == 1
    assert not world.sinks["mx.tm.test"].snapshot(), "the MX got mail that transport_maps routes"


# ---- loops ----------------------------------------------------------------------

def test_mx_pointing_back_at_the_sender_bounces_as_a_loop(world):
    submit(world.snd, ["amy@loop.test"], SENDER, "loop-1@sender.test")
    _q, _s, dsn, reason, line = wait_outcome(world.snd.inst, "amy@loop.test", "bounced")
    assert "mail for loop.test loops back to myself" in reason, line
    assert dsn.startswith("5."), line
    _m, _h, block = wait_dsn_for(world.snd, SENDER, "amy@loop.test")
    assert block["Action"].strip() == "failed"
    assert "loops back to myself" in str(block.get("Diagnostic-Code", "")) or \
        "loops back to myself" in _m.as_string()
    check_clean_log(world.snd)


# ---- volume and concurrency -------------------------------------------------------

def test_1000_messages_to_20_destinations_respect_the_concurrency_limit(world, tmp_path):
    host = world.lab.add_host("bulksender")
    bulk_host = world.lab.add_host("bulksinks")
    for d in BULK_DOMAINS:
        bulk_host.add_addr(BULK_ADDR[d])
    sink = Sink(bulk_host, [BULK_ADDR[d] for d in BULK_DOMAINS], hostname="bulk.test")
    sink.data_delay = 0.01
    sink.start()
    s = postern_on(host, tmp_path / "b", "bulksender.test", ("ptn_bulk",), main={
        "smtp_destination_concurrency_limit": str(BULK_LIMIT),
        "default_process_limit": "100",
    })
    try:
        s.start()
        t0 = time.monotonic()
        errors = []

        def client(k):
            try:
                c = host.smtp("127.0.0.1", s.port, timeout=60)
                c.ehlo("bulk.client")
                for i in range(k, 1000, 4):
                    d = BULK_DOMAINS[i % 20]
                    body = (f"From: ptn_bulk@bulksender.test\r\nTo: u{i}@{d}\r\n"
                            f"Subject: bulk {i}\r\nMessage-Id: <bulk-{i}@bulksender.test>\r\n"
                            f"\r\nmessage {i}\r\n")
                    c.sendmail("ptn_bulk@bulksender.test", [f"u{i}@{d}"], body)
                c.quit()
            except Exception as e:
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        assert not errors, f"submission failed: {errors}"
        submitted = time.monotonic() - t0
        wait_for(lambda: len(sink.snapshot()) >= 1000, timeout=150, interval=0.5,
                 what=f"1000 messages at the sinks (have {len(sink.snapshot())}); log tail:\n"
                      f"{s.inst.read_log()[-3000:]}")
        elapsed = time.monotonic() - t0
        time.sleep(1)  # anything sent twice would arrive now
        msgs = sink.snapshot()
        counts = collections.Counter(m.message_id for m in msgs)
        twice = {k: v for k, v in counts.items() if v != 1}
        assert not twice, f"messages arrived more than once: {list(twice.items())[:10]}"
        assert set(counts) == {f"<bulk-{i}@bulksender.test>" for i in range(1000)}
        for m in msgs:
            [r] = m.rcpts
            assert BULK_ADDR[r.split("@")[1]] == m.local, f"{r} arrived at {m.local}"
        print(f"\nbulk: submitted in {submitted:.1f}s, delivered in {elapsed:.1f}s; peak "
              f"connections per destination {sorted(sink.peak.values())}; peak transactions "
              f"{sorted(sink.peak_tx.values())}; connections {len(sink.connections)}")
        over = {a: p for a, p in sink.peak_tx.items() if p > BULK_LIMIT}
        assert not over, (f"more than {BULK_LIMIT} simultaneous transactions to a destination: "
                          f"{over}")
        over = {a: p for a, p in sink.peak.items() if p > BULK_LIMIT}
        assert not over, (f"more than {BULK_LIMIT} simultaneous connections to a destination "
                          f"(transactions at once stayed within: {sink.peak_tx}; idle cached "
                          f"connections?): {over}; open then (conn, peer, last command): "
                          f"{[sink.peak_detail.get(a) for a in over]}")
        assert max(sink.peak.values()) > 1, "no destination ever had two connections at once"
        wait_for(s.queue_empty, timeout=30, what="an empty queue after delivery")
        check_clean_log(s)
    finally:
        s.cleanup()
        sink.stop()
