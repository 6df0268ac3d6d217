"""anvil(8) against a real instance: the test plays smtpd's part and talks
to private/anvil with the attribute protocol. Counts across connections, a
dropped connection undoing its connects, rate windows (2s here), strict
request checks, statistics in Postfix's words, and the privilege model."""

import os
import pwd
import re
import socket
import struct
import threading
import time

import pytest

import attrproto
from conftest import IS_ROOT, LIBEXEC, SBIN, Instance, ensure_accounts, proc_status, wait_for

ANVIL_LINE = "anvil unix - - y - 1 anvil"
IDENT = "smtp:192.0.2.1"


def make_instance(tmp_path, **main):
    for path in (os.path.join(SBIN, "postern"), os.path.join(LIBEXEC, "master"),
                 os.path.join(LIBEXEC, "anvil")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not built; run `make` first")
    ensure_accounts()
    i = Instance(tmp_path / "inst")
    i.main.update(main)
    i.write_config()
    i.add_service(ANVIL_LINE)
    i.postern("check")
    i.start()
    wait_for(lambda: os.path.exists(os.path.join(i.queue, "private", "anvil")),
             what="private/anvil")
    return i


@pytest.fixture
def anvil(tmp_path):
    i = make_instance(tmp_path)
    yield i
    i.cleanup()


@pytest.fixture
def anvil_2s(tmp_path):
    i = make_instance(tmp_path, anvil_rate_time_unit="2s")
    yield i
    i.cleanup()


class Client:
    """One anvil client connection, as one smtpd process keeps it."""

    def __init__(self, inst, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(os.path.join(inst.queue, "private", "anvil"))
        self.f = self.sock.makefile("rwb")

    def send(self, attrs):
        attrproto.send(self.f, attrs)

    def ask(self, request, ident=IDENT):
        self.send([("request", request), ("ident", ident)])
        return attrproto.decode(self.f)

    def read(self):
        return attrproto.decode(self.f)

    def closed_by_server(self):
        """True when the server closed the connection (EOF)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        try:
            self.f.close()
        finally:
            self.sock.close()


def anvil_pid(inst):
    def find():
        for pid in inst.children():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv0 = f.read().split(b"\0")[0]
            except OSError:
                continue
            if os.path.basename(argv0) == b"anvil":
                return pid
        return None
    return wait_for(find, what="the anvil process")


def lookup_count(c, ident=IDENT):
    r = c.ask("lookup", ident)
    assert r["status"] == 0, r
    return r["count"]


def test_counts_connections_across_two_clients(anvil):
    a, b = Client(anvil), Client(anvil)
    assert a.ask("connect") == {"status": 0, "count": 1, "rate": 1}
    assert b.ask("connect") == {"status": 0, "count": 2, "rate": 2}
    assert a.ask("connect") == {"status": 0, "count": 3, "rate": 3}
    assert b.ask("connect", "smtp:192.0.2.2") == {"status": 0, "count": 1, "rate": 1}
    assert a.ask("message") == {"status": 0, "rate": 1}
    assert a.ask("recipient") == {"status": 0, "rate": 1}
    assert b.ask("recipient") == {"status": 0, "rate": 2}
    assert b.ask("auth") == {"status": 0, "rate": 1}
    assert b.ask("lookup") == {"status": 0, "count": 3, "rate": 3, "message": 1,
                               "recipient": 2, "auth": 1}
    assert a.ask("disconnect") == {"status": 0}
    assert lookup_count(b) == 2
    # an ident nobody used reads as zeros
    assert a.ask("lookup", "smtp:203.0.113.9") == {"status": 0, "count": 0, "rate": 0,
                                                   "message": 0, "recipient": 0, "auth": 0}
    a.close()
    b.close()


def test_dropped_connection_undoes_its_connects(anvil):
    a, b = Client(anvil), Client(anvil)
    assert a.ask("connect")["count"] == 1
    assert b.ask("connect")["count"] == 2
    assert b.ask("connect")["count"] == 3
    assert b.ask("connect", "smtp:192.0.2.2")["count"] == 1
    b.close()  # smtpd crashed: anvil sees EOF
    wait_for(lambda: lookup_count(a) == 1, what="b's two connects to be undone")
    assert lookup_count(a, "smtp:192.0.2.2") == 0
    # the connection rate is history, not undone
    assert a.ask("lookup")["rate"] == 3
    # a killed client (RST instead of FIN) is the same
    c = Client(anvil)
    assert c.ask("connect")["count"] == 2
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    wait_for(lambda: lookup_count(a) == 1, what="c's connect to be undone")
    a.close()


def test_disconnect_never_goes_negative_nor_takes_others_counts(anvil):
    a, b = Client(anvil), Client(anvil)
    assert a.ask("connect")["count"] == 1
    # b never connected IDENT: its disconnect changes nothing
    assert b.ask("disconnect") == {"status": 0}
    assert lookup_count(a) == 1
    assert a.ask("disconnect") == {"status": 0}
    assert a.ask("disconnect") == {"status": 0}
    assert lookup_count(a) == 0
    assert a.ask("connect")["count"] == 1
    a.close()
    b.close()


def test_rates_restart_after_the_window(anvil_2s):
    a = Client(anvil_2s)
    assert [a.ask("connect")["rate"] for _ in range(3)] == [1, 2, 3]
    assert [a.ask("message")["rate"] for _ in range(2)] == [1, 2]
    assert a.ask("auth")["rate"] == 1
    time.sleep(2.3)
    # a past window reads as zero, the count stays
    assert a.ask("lookup") == {"status": 0, "count": 3, "rate": 0, "message": 0,
                               "recipient": 0, "auth": 0}
    # the next event starts a new window at itself, every rate from scratch
    assert a.ask("message")["rate"] == 1
    assert a.ask("connect") == {"status": 0, "count": 4, "rate": 1}
    assert a.ask("lookup") == {"status": 0, "count": 4, "rate": 1, "message": 1,
                               "recipient": 0, "auth": 0}
    time.sleep(2.3)
    assert a.ask("recipient")["rate"] == 1
    assert a.ask("recipient")["rate"] == 2
    a.close()


def test_bad_requests_get_status_1_and_the_connection_stays(anvil):
    a = Client(anvil)
    bad = [
        [("request", "explode"), ("ident", IDENT)],            # unknown request
        [("request", "connect")],                              # no ident
        [("ident", IDENT)],                                    # no request
        [("request", "connect"), ("ident", "x" * 513)],        # ident too long
        [("request", "connect"), ("ident", "")],               # empty ident
        [("request", "connect"), ("ident", "smtp:a\r\nb")],    # control characters
        [("request", "connect"), ("ident", "smtp:\u00e9")],    # not ASCII
        [("request", "connect"), ("ident", 5)],                # wrong type
        [("request", "connect"), ("ident", b"smtp:x")],        # data, not text
        [("request", "connect"), ("ident", IDENT), ("extra", 1)],
        [("request", "connect"), ("ident", IDENT), ("ident", IDENT)],
        [],
    ]
    for attrs in bad:
        a.send(attrs)
        assert a.read() == {"status": 1}, f"request {attrs!r:.80} was not refused"
    # nothing was counted
    assert a.ask("lookup") == {"status": 0, "count": 0, "rate": 0, "message": 0,
                               "recipient": 0, "auth": 0}
    # 512 bytes is the longest ident
    assert a.ask("connect", "x" * 512) == {"status": 0, "count": 1, "rate": 1}
    assert a.ask("lookup", "x" * 512)["count"] == 1
    assert a.ask("lookup", "x" * 513) == {"status": 1}
    assert a.ask("connect") == {"status": 0, "count": 1, "rate": 1}
    a.close()
    log = anvil.read_log()
    assert "unknown request: explode" in log
    assert re.search(r"postern/anvil\[\d+\]: warning: bad request: .*ident", log), log[-2000:]


def test_malformed_input_drops_only_that_client(anvil):
    good = Client(anvil)
    assert good.ask("connect")["count"] == 1
    for garbage in (b"X\x05hello",                              # bad type byte
                    b"I\x00",                                    # empty name
                    b"S\x05IDENT\x00\x00\x00\x01a",              # bad name character
                    b"S\x05ident\x7f\xff\xff\xff",               # oversized value
                    b"S\x05ident\x00\x00\x00\x03a\x00bE\x00"):   # NUL in text
        bad = Client(anvil)
        assert bad.ask("connect")["count"] == 2
        bad.sock.sendall(garbage)
        wait_for(bad.closed_by_server, what=f"anvil to drop a client that sent {garbage!r}")
        bad.close()
        wait_for(lambda: lookup_count(good) == 1, what="the dropped client's connect undone")
    assert good.ask("connect")["count"] == 2
    good.close()
    assert "malformed request" in anvil.read_log()


def test_half_a_request_does_not_hold_up_others(anvil):
    slow, other = Client(anvil), Client(anvil)
    slow.sock.sendall(b"S\x05ident\x00\x00\x00\x04ab")
    assert other.ask("connect") == {"status": 0, "count": 1, "rate": 1}
    slow.sock.sendall(b"cdE\x00")  # the rest: {ident "abcd"}, no request
    assert slow.read() == {"status": 1}
    assert slow.ask("connect") == {"status": 0, "count": 2, "rate": 2}
    slow.close()
    other.close()


def test_pipelined_requests_are_all_answered_in_order(anvil):
    """About 1 MB of replies: far more than the socket buffers hold, so
    anvil must stop reading from this client while its replies wait, and
    serve the others meanwhile."""
    a, b = Client(anvil), Client(anvil)
    n = 20000
    batch = b"".join(attrproto.encode([("request", "recipient"), ("ident", IDENT)])
                     for _ in range(n))
    sender = threading.Thread(target=a.sock.sendall, args=(batch,))
    sender.start()
    time.sleep(0.5)  # a writes while nobody reads its replies
    assert b.ask("connect") == {"status": 0, "count": 1, "rate": 1}
    rates = [a.read()["rate"] for _ in range(n)]
    sender.join(10)
    assert rates == list(range(1, n + 1))
    assert b.ask("lookup")["recipient"] == n
    a.close()
    b.close()


def test_statistics_are_logged_every_status_update_time(tmp_path):
    i = make_instance(tmp_path, anvil_status_update_time="2s")
    try:
        a, b = Client(i), Client(i)
        a.ask("connect")
        b.ask("connect")
        a.ask("connect", "smtp:192.0.2.2")
        for _ in range(3):
            b.ask("recipient")
        for _ in range(2):
            a.ask("message", "smtp:192.0.2.2")
        a.ask("auth", "smtp:192.0.2.3")
        when = r"at [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d$"
        pre = r"(?m)postern/anvil\[\d+\]: statistics: "
        i.wait_log(pre + r"max connection rate 2/60s for \(smtp:192\.0\.2\.1\) " + when)
        log = i.read_log()
        assert re.search(pre + r"max connection count 2 for \(smtp:192\.0\.2\.1\) " + when, log)
        assert re.search(pre + r"max message rate 2/60s for \(smtp:192\.0\.2\.2\) " + when, log)
        assert re.search(pre + r"max recipient rate 3/60s for \(smtp:192\.0\.2\.1\) " + when, log)
        assert re.search(pre + r"max cache size 3 " + when, log)
        # an auth rate of 1 is not worth a line, as in Postfix
        assert "max auth rate" not in log
        # after a dump the peaks start over: the next dumps are empty
        time.sleep(4.5)
        assert len(re.findall("max connection count", i.read_log())) == 1
        a.close()
        b.close()
    finally:
        i.cleanup()


def test_statistics_are_logged_at_exit(anvil):
    a = Client(anvil)
    for _ in range(4):
        a.ask("connect")
    for _ in range(2):
        a.ask("auth")
    pid = anvil_pid(anvil)
    assert "statistics:" not in anvil.read_log()
    a.close()
    anvil.stop()
    wait_for(lambda: process_gone(pid), what="anvil to exit")
    log = anvil.read_log()
    assert re.search(r"postern/anvil\[%d\]: statistics: max connection rate 4/60s for "
                     r"\(smtp:192\.0\.2\.1\) at " % pid, log), log[-2000:]
    assert re.search(r"statistics: max connection count 4 for \(smtp:192\.0\.2\.1\)", log)
    assert re.search(r"statistics: max auth rate 2/60s for \(smtp:192\.0\.2\.1\)", log)
    assert "max cache size" not in log  # one ident only


def process_gone(pid):
    """Exited (or a zombie nobody reaps); /proc may vanish while we read it."""
    try:
        return proc_status(pid).get("State", "").startswith("Z")
    except OSError:
        return True


def test_exit_with_clients_connected_logs_too(anvil):
    """smtpd processes keep their connection open: anvil must not wait for
    them to stop, and still logs its peaks."""
    a, b = Client(anvil), Client(anvil)
    a.ask("connect")
    b.ask("connect")
    pid = anvil_pid(anvil)
    os.kill(pid, 15)
    wait_for(lambda: process_gone(pid), what="anvil to exit")
    assert re.search(r"anvil\[%d\]: statistics: max connection count 2 for" % pid,
                     anvil.read_log())
    assert a.closed_by_server()
    a.close()
    b.close()


@pytest.mark.skipif(not IS_ROOT, reason="the privilege drop can only be observed when started as root")
def test_runs_as_mail_owner_chrooted_without_capabilities(anvil):
    a = Client(anvil)
    assert a.ask("connect")["count"] == 1
    pid = anvil_pid(anvil)
    st = proc_status(pid)
    uid = pwd.getpwnam("postern").pw_uid
    assert st["Uid"].split() == [str(uid)] * 4, f"Uid line: {st['Uid']}"
    assert st["Gid"].split()[0] != "0", f"Gid line: {st['Gid']}"
    assert int(st["CapEff"], 16) == 0, f"CapEff {st['CapEff']}"
    assert int(st["CapBnd"], 16) == 0, f"CapBnd {st['CapBnd']}"
    assert st["NoNewPrivs"] == "1"
    assert os.readlink(f"/proc/{pid}/root") == os.path.realpath(anvil.queue)
    # one process serves every client
    b = Client(anvil)
    assert b.ask("connect")["count"] == 2
    assert anvil_pid(anvil) == pid
    a.close()
    b.close()
