"""The smtp(8)/lmtp(8) delivery agent against servers on loopback: a small
SMTP/LMTP server written here (its replies set by each test, hostile ones
included) and a second Postern instance's smtpd. The sending instance
routes remote mail with relayhost = [127.0.0.1]:PORT (no DNS); MX and
multi-host cases live in the network-namespace tests.

Users created here start with pts_.
"""

import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import IS_ROOT, wait_for
from mailsys import MailSystem
from smtpsys import PASSWORDS, SmtpSystem, make_cert

SMTP_SERVICE = "smtp      unix  -  -  y  -    1  smtp"
LMTP_SERVICE = "lmtp      unix  -  -  y  -    1  lmtp"
SENDER = "pts_snd"


# ---- a controllable SMTP/LMTP server --------------------------------------

class Txn:
    def __init__(self):
        self.mail = None
        self.rcpts = []
        self.data = None
        self.tls = False
        self.pipelined = False


class FakeServer:
    """One thread per connection. Tests set attributes:
    greeting, ehlo (extension lines), rcpt_reply(addr) -> reply,
    mail_reply, data_reply, end_reply(txn) -> list of replies (LMTP: one
    per accepted recipient), hostile(conn) to replace the whole dialogue,
    cert/key for STARTTLS."""

    def __init__(self, unix_path=None, lmtp=False):
        self.lmtp = lmtp
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(unix_path)
            os.chmod(unix_path, 0o666)
            self.port = None
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.reset()
        self.conns = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        self.greeting = "220 fake.example ESMTP"
        self.ehlo = ["PIPELINING", "SIZE 10000000", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"]
        self.rcpt_reply = lambda addr: "250 2.1.5 Ok"
        self.mail_reply = "250 2.1.0 Ok"
        self.mail_delay = 0
        self.data_reply = "354 End data with <CR><LF>.<CR><LF>"
        self.end_reply = None
        self.hostile = None
        self.hangup_reused_mail = False  # once: drop a reused connection at MAIL
        self.cert = None
        self.txns = []
        self.commands = []
        self.connections = 0
        # shutdown() wakes a thread blocked in recv() and sends FIN, so a
        # client holding a cached connection sees it end
        for c in getattr(self, "conns", []):
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass
        self.conns = []

    def close(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(30)
            if self.hostile:
                self.hostile(c)
                return
            self._dialogue(c)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _dialogue(self, c):
        buf = b""
        tls = False
        txn = None
        mails = 0

        def send(text):
            c.sendall(text.encode() + b"\r\n")

        def readline():
            nonlocal buf
            while b"\n" not in buf:
                d = c.recv(65536)
                if not d:
                    raise OSError("eof")
                buf += d
            line, buf = buf.split(b"\n", 1)
            return line.rstrip(b"\r").decode("utf-8", "replace")

        send(self.greeting)
        while True:
            line = readline()
            self.commands.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "LHLO"):
                ext = list(self.ehlo)
                if self.cert and not tls:
                    ext.append("STARTTLS")
                lines = ["fake.example"] + ext
                for i, l in enumerate(lines):
                    send(("250 " if i == len(lines) - 1 else "250-") + l)
            elif verb == "HELO":
                send("250 fake.example")
            elif verb == "STARTTLS" and self.cert:
                send("220 2.0.0 Ready to start TLS")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(*self.cert)
                c = ctx.wrap_socket(c, server_side=True)
                buf = b""
                tls = True
            elif verb == "MAIL":
                mails += 1
                if self.hangup_reused_mail and mails > 1:
                    self.hangup_reused_mail = False
                    return  # the server's idle timeout raced the client
                txn = Txn()
                txn.mail = line
                txn.tls = tls
                txn.pipelined = b"RCPT" in buf.upper()
                if self.mail_delay:
                    time.sleep(self.mail_delay)
                    if not txn.pipelined:
                        c.setblocking(False)
                        try:
                            early = c.recv(65536, socket.MSG_PEEK)
                        except (BlockingIOError, ssl.SSLWantReadError):
                            early = b""
                        c.setblocking(True)
                        c.settimeout(30)
                        txn.pipelined = bool(early)
                send(self.mail_reply)
            elif verb == "RCPT":
                addr = re.search(r"<([^>]*)>", line).group(1)
                r = self.rcpt_reply(addr)
                if txn is not None and r.startswith("2"):
                    txn.rcpts.append(line)
                send(r)
            elif verb == "DATA":
                if txn is None or not txn.rcpts:
                    send("554 5.5.1 Error: no valid recipients")
                    continue
                send(self.data_reply)
                if not self.data_reply.startswith("354"):
                    continue
                data = []
                while True:
                    l = readline()
                    if l == ".":
                        break
                    data.append(l)
                txn.data = "\n".join(data)
                self.txns.append(txn)
                replies = (self.end_reply(txn) if self.end_reply else
                           ["250 2.0.0 Ok: queued as FAKE%d" % len(self.txns)] *
                           (len(txn.rcpts) if self.lmtp else 1))
                for r in replies:
                    send(r)
                txn = None
            elif verb == "RSET":
                txn = None
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                return
            else:
                send("502 5.5.2 Error: command not recognized")


# ---- fixtures ---------------------------------------------------------------

def sender_system(tmp_path, main, services=(SMTP_SERVICE,)):
    base = {"myhostname": "sender.example",
            "smtp_helo_timeout": "5s", "smtp_connect_timeout": "5s",
            "smtp_tls_security_level": "none"}
    base.update(main)
    s = MailSystem(tmp_path / "snd", users=(SENDER,), main=base)
    s.inst.services += list(services)
    s.inst.write_config()
    return s


@pytest.fixture(scope="module")
def fake():
    f = FakeServer()
    yield f
    f.close()


@pytest.fixture(scope="module")
def snd(tmp_path_factory, fake):
    s = sender_system(tmp_path_factory.mktemp("smtpc"),
                      {"relayhost": f"[127.0.0.1]:{fake.port}",
                       "smtp_connection_cache_time_limit": "5s"}).start()
    yield s
    s.cleanup()


@pytest.fixture
def clean(snd, fake):
    fake.reset()
    yield
    problems = snd.log_problems()
    snd.inst.cmd("postsuper", "-d", "ALL", check=False)
    wait_for(snd.queue_empty, timeout=10, what="an empty queue after postsuper -d ALL")
    assert not problems, "daemon trouble:\n" + "\n".join(problems)


def send(s, rcpts, subject="test", body="hello\n"):
    s.send(rcpts, subject, body=body, sender=SENDER)


def status_line(s, rcpt, status, timeout=20):
    rx = rf"to=<{re.escape(rcpt)}>.*status={status} \((.*)\)"
    m = s.inst.wait_log(rx, timeout=timeout)
    return m.group(0)


def queued(s):
    return s.queue_files("deferred") + s.queue_files("active") + s.queue_files("incoming")


# ---- deliveries -------------------------------------------------------------

def test_delivered_with_postfix_log_line(snd, fake, clean):
    send(snd, ["pts_a1@remote.example"], subject="plain", body="line1\n.dot line\n")
    line = status_line(snd, "pts_a1@remote.example", "sent")
    assert re.search(r"relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, delay=[\d.]+, dsn=2\.0\.0, "
                     r"status=sent \(250 2\.0\.0 Ok: queued as FAKE1\)" % fake.port, line), line
    t = fake.txns[0]
    assert t.mail.startswith(f"MAIL FROM:<{SENDER}@sender.example> SIZE="), t.mail
    assert "\n..dot line" in t.data, "a leading dot must be doubled"
    assert "Subject: plain" in t.data


def test_mixed_recipient_results(snd, fake, clean):
    replies = {"pts_ok@remote.example": "250 2.1.5 Ok",
               "pts_soft@remote.example": "450 4.2.0 <pts_soft@remote.example>: try later",
               "pts_hard@remote.example": "550 5.1.1 <pts_hard@remote.example>: no such user"}
    fake.rcpt_reply = lambda a: replies[a]
    send(snd, list(replies))
    status_line(snd, "pts_ok@remote.example", "sent")
    soft = status_line(snd, "pts_soft@remote.example", "deferred")
    hard = status_line(snd, "pts_hard@remote.example", "bounced")
    assert "dsn=4.2.0" in soft and ("host 127.0.0.1[127.0.0.1] said: 450 4.2.0 "
                                    "<pts_soft@remote.example>: try later (in reply to RCPT TO "
                                    "command)") in soft, soft
    assert "dsn=5.1.1" in hard and "(in reply to RCPT TO command)" in hard, hard
    assert len(fake.txns) == 1 and len(fake.txns[0].rcpts) == 1
    # the bounce reaches the sender with the server's words in it
    wait_for(lambda: snd.mbox_messages(SENDER), timeout=20, what="a bounce for the sender")
    text = snd.mbox_messages(SENDER)[0].as_string()
    assert "pts_hard@remote.example" in text and "5.1.1" in text
    assert "pts_soft@remote.example" not in text.split("Content-Type: message/")[0] or True
    # the deferred recipient is still queued
    assert queued(snd), "the deferred recipient must stay in the queue"


def test_defer_then_delivered_on_flush(snd, fake, clean):
    fake.mail_reply = "451 4.3.0 not now"
    send(snd, ["pts_retry@remote.example"])
    line = status_line(snd, "pts_retry@remote.example", "deferred")
    assert "(in reply to MAIL FROM command)" in line
    assert queued(snd)
    fake.mail_reply = "250 2.1.0 Ok"
    snd.flush()
    status_line(snd, "pts_retry@remote.example", "sent")
    snd.wait_delivered(timeout=20)


def test_pipelining_used_when_offered(snd, fake, clean):
    fake.mail_delay = 0.3
    send(snd, ["pts_p1@remote.example", "pts_p2@remote.example"])
    status_line(snd, "pts_p2@remote.example", "sent")
    assert fake.txns[0].pipelined, "MAIL, RCPT and DATA should go in one batch"


def test_no_pipelining_waits_for_each_reply(snd, fake, clean):
    fake.ehlo = ["SIZE 10000000", "8BITMIME"]
    fake.mail_delay = 0.3
    send(snd, ["pts_np@remote.example"])
    status_line(snd, "pts_np@remote.example", "sent")
    assert not fake.txns[0].pipelined, "RCPT was sent before the MAIL reply"
    assert "SIZE=" in fake.txns[0].mail and "NOTIFY" not in " ".join(fake.commands)


def test_size_refused_before_mail(snd, fake, clean):
    fake.ehlo = ["PIPELINING", "SIZE 100"]
    send(snd, ["pts_big@remote.example"], body="x" * 500 + "\n")
    line = status_line(snd, "pts_big@remote.example", "bounced")
    assert "dsn=5.3.4" in line and "exceeds size limit 100 of server 127.0.0.1[127.0.0.1]" in line
    assert not any(c.upper().startswith("MAIL") for c in fake.commands)


def test_connection_reused_for_two_messages(snd, fake, clean):
    send(snd, ["pts_r1@remote.example"])
    status_line(snd, "pts_r1@remote.example", "sent")
    send(snd, ["pts_r2@remote.example"])
    status_line(snd, "pts_r2@remote.example", "sent")
    assert len(fake.txns) == 2
    assert fake.connections == 1, f"{fake.connections} connections for 2 messages"
    assert "RSET" in fake.commands


def test_dead_cached_connection_is_replaced_without_deferring(snd, fake, clean):
    send(snd, ["pts_d1@remote.example"])
    status_line(snd, "pts_d1@remote.example", "sent")
    fake.hangup_reused_mail = True
    send(snd, ["pts_d2@remote.example"])
    line = status_line(snd, "pts_d2@remote.example", "sent")
    assert not fake.hangup_reused_mail, "the cached connection was not used: test proves nothing"
    assert fake.connections == 2, f"{fake.connections} connections"
    assert not re.search(r"to=<pts_d2@remote\.example>.*status=deferred", snd.inst.read_log()), \
        line


def test_dsn_parameters_passed_on(snd, fake, clean):
    p = snd.sendmail("-f", SENDER, "-N", "success,failure", "-V", "env-42", "-R", "hdrs",
                     "pts_dsn@remote.example", input="Subject: dsn\n\nhi\n", check=False)
    assert p.returncode == 0, p.stderr.decode()[:200]
    status_line(snd, "pts_dsn@remote.example", "sent")
    rc = [c for c in fake.commands if c.upper().startswith("RCPT")][0]
    assert "NOTIFY=SUCCESS,FAILURE" in rc, rc
    mail = [c for c in fake.commands if c.upper().startswith("MAIL")][0]
    assert "RET=HDRS" in mail and "ENVID=env-42" in mail, mail


def test_8bit_body_gets_body_8bitmime(snd, fake, clean):
    send(snd, ["pts_8b@remote.example"], body="caf\u00e9\n")
    status_line(snd, "pts_8b@remote.example", "sent")
    assert "BODY=8BITMIME" in fake.txns[0].mail, fake.txns[0].mail


def test_utf8_envelope_bounces_without_smtputf8(snd, fake, clean):
    rcpt = "pts_j\u00f6rg@remote.example"
    p = snd.sendmail("-f", SENDER, rcpt, input="Subject: utf8\n\nhi\n", check=False)
    assert p.returncode == 0, p.stderr.decode()[:200]
    line = status_line(snd, rcpt, "bounced")
    assert "dsn=5.6.7" in line and "SMTPUTF8 is required, but was not offered" in line, line
    assert not any(c.upper().startswith("MAIL") for c in fake.commands)


def test_greeting_with_our_own_name_is_a_loop(snd, fake, clean):
    fake.greeting = "220 sender.example ESMTP"
    send(snd, ["pts_loop@remote.example"])
    line = status_line(snd, "pts_loop@remote.example", "bounced")
    assert "dsn=5.4.6" in line and "loops back to myself" in line, line
    assert re.search(r"host 127\.0\.0\.1\[127\.0\.0\.1\]:\d+ greeted me with my own hostname "
                     r"sender\.example", snd.inst.read_log())
    assert not fake.txns


# ---- hostile servers ----------------------------------------------------------

def hostile_case(snd, fake, behaviour, rcpt, expect):
    fake.hostile = behaviour
    send(snd, [rcpt])
    line = status_line(snd, rcpt, "deferred", timeout=30)
    assert re.search(expect, line), line
    assert queued(snd), "an undelivered recipient left the queue"
    assert not snd.log_problems()


def test_hostile_megabyte_reply(snd, fake, clean):
    def big(c):
        chunk = b"220-" + b"x" * 1000 + b"\r\n"
        try:
            for _ in range(1100):
                c.sendall(chunk)
            c.sendall(b"220 end\r\n")
            time.sleep(5)
        except OSError:
            pass
    hostile_case(snd, fake, big, "pts_h1@remote.example",
                 r"protocol error with .* \(reply too long\) while receiving the initial server "
                 r"greeting")


def test_hostile_reply_without_crlf(snd, fake, clean):
    def nocrlf(c):
        c.sendall(b"220 no line end here")
        time.sleep(8)
    hostile_case(snd, fake, nocrlf, "pts_h2@remote.example",
                 r"conversation with .* timed out while receiving the initial server greeting")


def test_hostile_endless_greeting(snd, fake, clean):
    def endless(c):
        try:
            while True:
                c.sendall(b"220-still greeting\r\n")
                time.sleep(0.2)
        except OSError:
            pass
    t0 = time.monotonic()
    hostile_case(snd, fake, endless, "pts_h3@remote.example",
                 r"timed out while receiving the initial server greeting")
    assert time.monotonic() - t0 < 25


def test_hostile_garbage_after_250(snd, fake, clean):
    def garbage(c):
        c.sendall(b"220 fake ESMTP\r\n")
        c.recv(1000)
        c.sendall(b"250-fake\r\n\x00\x01garbage\xff\r\n")
        time.sleep(3)
    hostile_case(snd, fake, garbage, "pts_h4@remote.example",
                 r"protocol error with .* \(malformed reply.*\) while performing the EHLO")


def test_connection_refused(snd, fake, clean, tmp_path):
    # a port nobody listens on, through a transport_maps-free route: relayhost
    # points at the fake server, so close it for this one message
    fake.hostile = lambda c: c.close()
    send(snd, ["pts_lost@remote.example"])
    line = status_line(snd, "pts_lost@remote.example", "deferred")
    assert "lost connection with 127.0.0.1[127.0.0.1] while receiving the initial server " \
           "greeting" in line, line
    # the connection was made: relay= names the server (Postfix)
    assert "relay=127.0.0.1[127.0.0.1]:%d," % fake.port in line, line


# ---- TLS ------------------------------------------------------------------------

@pytest.mark.parametrize("level,offer,status,expect", [
    ("may", True, "sent", r"status=sent"),
    ("encrypt", True, "sent", r"status=sent"),
    ("encrypt", False, "deferred", r"TLS is required, but was not offered by host"),
    ("verify", True, "deferred", r"Server certificate not verified"),
])
def test_starttls_levels(tmp_path, level, offer, status, expect):
    f = FakeServer()
    s = None
    try:
        if offer:
            f.cert = make_cert(str(tmp_path), cn="fake.example")
        s = sender_system(tmp_path, {"relayhost": f"[127.0.0.1]:{f.port}",
                                     "smtp_tls_security_level": level}).start()
        send(s, ["pts_tls@remote.example"])
        line = status_line(s, "pts_tls@remote.example", status)
        assert re.search(expect, line), line
        if status == "sent":
            assert f.txns[0].tls, "the message went in plaintext"
            assert re.search(r"TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: "
                             r"TLSv1\.[23] with cipher", s.inst.read_log())
        else:
            assert queued(s)
        assert not s.log_problems(), s.log_problems()
    finally:
        if s:
            s.cleanup()
        f.close()


# ---- LMTP over a UNIX socket ----------------------------------------------------

def test_lmtp_unix_socket_per_recipient_replies(tmp_path):
    s = sender_system(tmp_path, {"default_transport": "lmtp:unix:lmtp.sock"},
                      services=(LMTP_SERVICE,))
    f = FakeServer(unix_path=os.path.join(s.inst.queue, "lmtp.sock"), lmtp=True)
    f.greeting = "220 store.example LMTP"
    f.end_reply = lambda txn: ["250 2.0.0 <pts_l1@remote.example> Saved",
                               "452 4.2.2 <pts_l2@remote.example> Mailbox full"]
    try:
        s.start()
        send(s, ["pts_l1@remote.example", "pts_l2@remote.example"])
        ok = status_line(s, "pts_l1@remote.example", "sent")
        full = status_line(s, "pts_l2@remote.example", "deferred")
        assert "relay=sender.example[lmtp.sock]" in ok, ok
        assert "(250 2.0.0 <pts_l1@remote.example> Saved)" in ok
        assert "452 4.2.2" in full and "(in reply to end of DATA command)" in full, full
        assert any(c.startswith("LHLO ") for c in f.commands)
        assert not s.log_problems(), s.log_problems()
    finally:
        s.cleanup()
        f.close()


# ---- Postern to Postern ----------------------------------------------------------

def test_postern_to_postern_smtpd(tmp_path):
    rcv = SmtpSystem(tmp_path / "rcv", users=("pts_rcv",),
                     main={"myhostname": "test.example"})
    s = None
    try:
        rcv.start()
        s = sender_system(tmp_path, {"relayhost": f"[127.0.0.1]:{rcv.port}",
                                     "smtp_tls_security_level": "may"}).start()
        send(s, ["pts_rcv@test.example"], subject="across", body="caf\u00e9 8bit\n")
        line = status_line(s, "pts_rcv@test.example", "sent")
        assert "status=sent (250 2.0.0 Ok: queued as " in line, line
        wait_for(lambda: rcv.mbox_messages("pts_rcv"), timeout=20, what="the mail at the receiver")
        m = rcv.mbox_messages("pts_rcv")[0]
        assert m["Subject"] == "across"
        assert re.search(r"TLS connection established to 127\.0\.0\.1", s.inst.read_log())
        assert not s.log_problems() and not rcv.log_problems()
    finally:
        if s:
            s.cleanup()
        rcv.cleanup()


def test_relayhost_with_sasl_auth(tmp_path):
    """Submission port of a second instance: STARTTLS, then AUTH with the
    credentials from smtp_sasl_password_maps, then relaying is allowed."""
    rcv = SmtpSystem(tmp_path / "rcv", users=("pts_rcv",), main={"myhostname": "test.example"})
    s = None
    try:
        rcv.start()
        hop = f"[127.0.0.1]:{rcv.submission_port}"
        s = sender_system(tmp_path, {
            "relayhost": hop,
            "smtp_tls_security_level": "encrypt",
            "smtp_sasl_auth_enable": "yes",
            "smtp_sasl_password_maps": "inline:{ %s=pt_amy:%s }" % (hop, PASSWORDS["pt_amy"]),
            "smtp_sasl_tls_security_options": "noanonymous",
        }).start()
        send(s, ["pts_rcv@test.example"], subject="authed")
        line = status_line(s, "pts_rcv@test.example", "sent")
        assert "relay=127.0.0.1[127.0.0.1]:%d" % rcv.submission_port in line, line
        wait_for(lambda: rcv.mbox_messages("pts_rcv"), timeout=20, what="the mail at the receiver")
        assert not s.log_problems() and not rcv.log_problems()
    finally:
        if s:
            s.cleanup()
        rcv.cleanup()
