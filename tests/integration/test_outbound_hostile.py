"""The smtp delivery agent against hostile receivers in a network lab
(netlab.py): a 1 MB multi-line reply, replies without CRLF, a greeting
that never ends, garbage after a 250 reply, a TLS handshake that stalls.
Each must end in a temporary failure (status=deferred, dsn=4.x.x) with a
clear log line, within the short timeouts set in main.cf; the recipient
stays queued (not marked done), no process crashes, and no log line is huge
or carries control bytes from the receiver. A greeting that never ends is
sent both fast (the reply grows past any bound) and slowly (each read is
quick, the reply stays small: only a deadline for the whole reply ends it).

All receivers are up at once and one message goes to each when the module
starts, so the timeouts run in parallel.
"""

import re
import time

import pytest

from conftest import IS_ROOT
from netlab import (Lab, lab_unavailable, outcome_lines, postern_on, queue_listing, submit,
                    wait_outcome)
from smtpsink import Sink
from smtpsys import make_cert

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="network namespaces and real users need "
                                                    "root; this run is not root")

NET = "10.250.0."
SENDER = "ptn_hsnd"
MB = 1024 * 1024


def _drain(c):
    """Read (and ignore) whatever the client sends until it hangs up."""
    c.sock.settimeout(60)
    while c.sock.recv(65536):
        pass


def no_crlf_then_wait(c):
    """A greeting without CRLF; then silence."""
    c.send(b"220 hostile.test ESMTP but the line never ends")
    _drain(c)


def no_crlf_then_close(c):
    """Replies whose last line has no CRLF, then the connection closes."""
    c.send(b"220 hostile.test ESMTP\r\n")
    c.readline()  # EHLO
    c.send(b"250-hostile.test\r\n250 PIPELINING")
    time.sleep(0.5)


def endless_greeting(c):
    """220- continuation lines, 5 KB a second, for as long as the client reads."""
    c.sock.settimeout(60)
    i = 0
    while True:
        c.send(b"".join(b"220-still greeting you, line %d\r\n" % (i + k) for k in range(20)))
        i += 20
        time.sleep(0.1)


def slow_endless_greeting(c):
    """One short 220- line every half second, forever: no single read ever
    waits long and the reply stays small for minutes, so only a deadline
    for the whole greeting (smtp_helo_timeout) ends it."""
    c.sock.settimeout(60)
    i = 0
    while True:
        c.send(b"220-slowly %d\r\n" % i)
        i += 1
        time.sleep(0.5)


def garbage_after_250(c):
    """250 to MAIL, then binary garbage where the RCPT reply belongs."""
    c.send(b"220 hostile.test ESMTP\r\n")
    while True:
        line = c.readline().upper()
        if line.startswith(b"EHLO") or line.startswith(b"HELO"):
            c.send(b"250-hostile.test\r\n250 8BITMIME\r\n")
        elif line.startswith(b"MAIL"):
            c.send(b"250 2.1.0 Ok\r\n\x00\xff\x1b[31mGARBAGE\x07\x01 not a reply\r\n")
        elif line.startswith(b"RCPT"):
            pass  # its "reply" was the garbage
        elif line.startswith(b"DATA"):
            c.send(b"354 go ahead\r\n")
            while c.readline() != b".":
                pass
            c.sink.errors.append("garbage_after_250: the client sent a message body")
            c.send(b"250 2.0.0 Ok\r\n")
        elif line.startswith(b"QUIT"):
            c.send(b"221 bye\r\n")
            return
        else:
            c.send(b"250 2.0.0 Ok\r\n")


def tls_stall(c):
    """STARTTLS is offered and accepted; the handshake then never happens."""
    c.send(b"220 hostile.test ESMTP\r\n")
    while True:
        line = c.readline().upper()
        if line.startswith(b"EHLO"):
            c.send(b"250-hostile.test\r\n250 STARTTLS\r\n")
        elif line.startswith(b"STARTTLS"):
            c.send(b"220 2.0.0 Ready to start TLS\r\n")
            _drain(c)  # the ClientHello is read and never answered
            return
        elif line.startswith(b"QUIT"):
            return
        else:
            c.send(b"530 5.7.0 Must issue a STARTTLS command first\r\n")


# name -> (how the sink behaves, what the deferral reason must match,
#          whether a successful delivery is also a right answer)
CASES = {
    "huge-mail-reply": (None, r"451|too long|reply", False),
    "huge-ehlo-reply": (None, r"EHLO|greeting|reply|too long|timed out", True),
    "nocrlf-wait": (no_crlf_then_wait, r"timed out|timeout", False),
    "nocrlf-close": (no_crlf_then_close, r"lost connection|closed|timed out", False),
    "endless-greeting": (endless_greeting, r"greeting|timed out|too long|reply", False),
    "slow-endless-greeting": (slow_endless_greeting, r"timed out|timeout", False),
    "garbage": (garbage_after_250, r"malformed|protocol|unexpected|invalid|garbage|reply", False),
    "tls-stall": (tls_stall, r"TLS|handshake|timed out", False),
}


def _addr(i):
    return NET + str(60 + i)


def domain(name):
    return f"{name}.test"


class World:
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    names = list(CASES)
    recs = {domain(n): {"A": [_addr(i)]} for i, n in enumerate(names)}
    w = World()
    w.lab = Lab(recs).start()
    w.sinks = {}
    w.sys = None
    try:
        sender = w.lab.add_host("sender", n=2)
        hostile = w.lab.add_host("hostile", n=3)
        certdir = str(tmp_path_factory.mktemp("cert"))
        cert, key = make_cert(certdir, cn="hostile.test")
        for i, n in enumerate(names):
            hostile.add_addr(_addr(i))
            session = CASES[n][0]
            sink = Sink(hostile, [_addr(i)], hostname=f"{n}.hostile.test",
                        cert=cert if n == "tls-stall" else None, key=key)
            sink.session = session
            if n == "huge-mail-reply":
                lines = [f"451-{'x' * 96}" for _ in range(MB // 100)]
                sink.mail_reply = "\n".join(lines + ["451 4.3.0 try again later"])
            if n == "huge-ehlo-reply":
                sink.ehlo_extensions = [f"X-PAD{k} {'y' * 90}" for k in range(MB // 100)]
            w.sinks[n] = sink.start()
        base = tmp_path_factory.mktemp("hostile")
        w.sys = postern_on(
            sender, base / "snd", "sender.test", (SENDER,),
            main={"transport_maps": "texthash:{etc}/transport", "smtp_tls_security_level": "may"},
            services=["smtpenc   unix  -  -  y  -  -  smtp -o smtp_tls_security_level=encrypt"],
            files={"transport": "tls-stall.test smtpenc:\n"})
        w.sys.start()
        w.t0 = time.monotonic()
        for n in names:
            submit(w.sys, [f"victim@{domain(n)}"], SENDER, f"{n}@sender.test")
        yield w
    finally:
        if w.sys is not None:
            w.sys.cleanup()
        for s in w.sinks.values():
            s.stop()
        w.lab.stop()


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_receiver_defers_without_crash(world, name):
    _session, reason_rx, may_deliver = CASES[name]
    rcpt = f"victim@{domain(name)}"
    inst = world.sys.inst
    sink = world.sinks[name]
    deadline = 60
    if may_deliver:
        # Either outcome is right here; take whichever comes first.
        from conftest import wait_for
        got = wait_for(lambda: [o for o in outcome_lines(inst, rcpt)
                                if o[1] in ("sent", "deferred")],
                       timeout=deadline, what=f"an outcome for {rcpt}; log:\n"
                                              f"{inst.read_log()[-3000:]}")
        outcome = got[0]
    else:
        outcome = wait_outcome(inst, rcpt, "deferred", timeout=deadline)
    _q, status, dsn, reason, line = outcome
    print(f"\n{name}: after {time.monotonic() - world.t0:.1f}s: {line[:300]}")
    if status == "sent":
        msgs = [m for m in sink.snapshot() if m.message_id == f"<{name}@sender.test>"]
        assert len(msgs) == 1, f"status=sent, but the receiver has {len(msgs)} copies"
    else:
        assert dsn.startswith("4."), f"not a temporary failure: {line}"
        assert re.search(reason_rx, reason, re.I), f"the log line does not say what failed: {line}"
        assert domain(name) in reason, f"the log line does not name the server: {line}"
        assert rcpt in queue_listing(world.sys), f"{rcpt} was marked done but not delivered"
        assert not sink.snapshot(), "the hostile receiver got a message"
        assert all(o[1] != "sent" for o in outcome_lines(inst, rcpt))
    assert not sink.errors, sink.errors
    log = inst.read_log()
    long_lines = [l[:200] for l in log.splitlines() if len(l) > 8192]
    assert not long_lines, f"log lines longer than 8 KB: {long_lines[:3]}"
    ctl = [l[:200] for l in log.splitlines() if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", l)]
    assert not ctl, f"control bytes from the receiver reached the log: {ctl[:3]!r}"
    bad = world.sys.log_problems()
    assert not bad, "the instance log shows a crash or fatal error:\n" + "\n".join(bad)
