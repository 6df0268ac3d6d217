"""smtpd end to end: the ESMTP session with real clients (smtplib, swaks,
raw sockets), strict input (bare CR/LF, smuggling, early talkers, STARTTLS
injection), limits (size, timeout, errors, concurrency) and Postfix-format
logs. Mail goes all the way to the users' mailboxes."""

import os
import re
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import IS_ROOT, wait_for
from smtpsys import SmtpSystem, recv_reply, reply_codes

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root for real users and chroot")


@pytest.fixture
def smtp(tmp_path):
    s = SmtpSystem(tmp_path / "s", main={"message_size_limit": "200000",
                                         "smtpd_timeout": "3s",
                                         "smtpd_error_sleep_time": "0"})
    s.start()
    yield s
    s.cleanup()


def send_raw(sock, data):
    sock.sendall(data)


def session(sock, lines):
    """Send each line (bytes, CRLF added) and collect one reply per line."""
    out = []
    for l in lines:
        sock.sendall(l + b"\r\n")
        out.append(recv_reply(sock))
    return out


def mbox_count(s, user):
    return len(s.mbox_messages(user))


def test_ehlo_announces_every_extension(smtp):
    with smtp.smtp() as c:
        code, text = c.ehlo("client.example")
        assert code == 250
        kws = text.decode().split("\n")[1:]
        names = {k.split()[0] for k in kws}
        for kw in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "DSN", "CHUNKING",
                   "ENHANCEDSTATUSCODES", "STARTTLS"):
            assert kw in names, f"EHLO lacks {kw}: {kws}"
        assert "SIZE 200000" in kws
        # VRFY is off by default, AUTH only after TLS.
        assert "VRFY" not in names
        assert not any(k.startswith("AUTH") for k in kws)
        code, _ = c.verify("pt_amy")
        assert code == 502


def test_message_delivered_through_smtp(smtp):
    with smtp.smtp() as c:
        c.ehlo("client.example")
        refused = c.sendmail("pt_cat@test.example", ["pt_amy@test.example", "pt_bob@test.example"],
                             b"Subject: over smtp\r\n\r\nhello\r\n.leading dot\r\n")
        assert refused == {}
    smtp.wait_delivered()
    msgs = smtp.mbox_messages("pt_amy")
    assert len(msgs) == 1
    m = msgs[0]
    assert m["Subject"] == "over smtp"
    assert ".leading dot" in m.get_payload()
    rcv = m.get_all("Received")[0]
    assert "from client.example (localhost [127.0.0.1])" in rcv
    assert "with ESMTP id" in rcv
    assert len(smtp.mbox_messages("pt_bob")) == 1
    log = smtp.inst.read_log()
    assert re.search(r"postern/smtpd\[\d+\]: connect from localhost\[127\.0\.0\.1\]", log)
    assert re.search(r"postern/smtpd\[\d+\]: [0-9A-Za-z_]+: client=localhost\[127\.0\.0\.1\]", log)
    assert re.search(r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=2 data=1 "
                     r"quit=1 commands=6", log), log[-2000:]


def test_swaks_session_with_dsn_and_8bitmime(smtp):
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(smtp.port),
                        "--from", "pt_cat@test.example", "--to", "pt_amy@test.example",
                        "--helo", "swaks.example", "--data", "Subject: swaks\n\nbody\n",
                        "--pipeline", "--protocol", "ESMTP",
                        ],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "250 2.0.0 Ok: queued as" in p.stdout
    # DSN and BODY parameters through a raw session.
    s, greet = smtp.raw()
    assert greet.startswith("220 ")
    r = session(s, [b"EHLO raw.example",
                    b"MAIL FROM:<pt_cat@test.example> BODY=8BITMIME RET=HDRS ENVID=QQ+2Bx SIZE=100",
                    b"RCPT TO:<pt_amy@test.example> NOTIFY=SUCCESS,FAILURE "
                    b"ORCPT=rfc822;pt_amy@test.example",
                    b"RCPT TO:<pt_bob@test.example> NOTIFY=NEVER",
                    b"DATA"])
    assert reply_codes(r[1]) == [250] and reply_codes(r[2]) == [250] and reply_codes(r[3]) == [250]
    assert reply_codes(r[4]) == [354]
    s.sendall("Subject: 8bit\r\n\r\nGrüße\r\n.\r\n".encode())
    assert recv_reply(s).startswith("250 2.0.0 Ok: queued as")
    r = session(s, [b"MAIL FROM:<pt_cat@test.example> NOTIFY=NEVER",
                    b"MAIL FROM:<pt_cat@test.example> FOO=BAR",
                    b"RCPT TO:<pt_amy@test.example> NOTIFY=NEVER,SUCCESS",
                    b"QUIT"])
    assert r[0].startswith("555 5.5.4"), r[0]
    assert r[1].startswith("555 5.5.4"), r[1]
    assert r[2].startswith("503"), r[2]
    s.close()
    smtp.wait_delivered()
    assert any("Grüße" in m.get_payload(decode=True).decode() for m in smtp.mbox_messages("pt_amy"))


def test_bdat_chunks(smtp):
    s, _ = smtp.raw()
    session(s, [b"EHLO bdat.example", b"MAIL FROM:<pt_cat@test.example>",
                b"RCPT TO:<pt_amy@test.example>"])
    part1 = b"Subject: chunked\r\n\r\nfirst part\r\n"
    part2 = b"second part\r\n.\r\nnot an end\r\n"
    s.sendall(b"BDAT %d\r\n" % len(part1) + part1)
    assert recv_reply(s).startswith("250 2.0.0 Ok: %d bytes" % len(part1))
    s.sendall(b"BDAT %d LAST\r\n" % len(part2) + part2)
    assert recv_reply(s).startswith("250 2.0.0 Ok: queued as")
    # BDAT without a transaction: the chunk is read and refused, the
    # session stays in sync.
    junk = b"MAIL FROM:<evil@x>\r\n"
    s.sendall(b"BDAT %d LAST\r\n" % len(junk) + junk)
    assert recv_reply(s).startswith("503 5.5.1")
    assert session(s, [b"NOOP"])[0].startswith("250")
    # BDAT 0 LAST finishes a message too.
    session(s, [b"MAIL FROM:<pt_cat@test.example>", b"RCPT TO:<pt_bob@test.example>"])
    body = b"Subject: zero\r\n\r\nx\r\n"
    s.sendall(b"BDAT %d\r\n" % len(body) + body)
    assert recv_reply(s).startswith("250")
    s.sendall(b"BDAT 0 LAST\r\n")
    assert recv_reply(s).startswith("250 2.0.0 Ok: queued as")
    s.sendall(b"QUIT\r\n")
    s.close()
    smtp.wait_delivered()
    m = smtp.mbox_messages("pt_amy")[0]
    payload = m.get_payload()
    assert "first part\nsecond part\n.\nnot an end" in payload.replace("\r\n", "\n")
    assert len(smtp.mbox_messages("pt_bob")) == 1


SMUGGLING = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\r\n.\r"]


@pytest.mark.parametrize("vector", SMUGGLING, ids=[repr(v) for v in SMUGGLING])
def test_smuggling_vector_never_ends_data(smtp, vector):
    s, _ = smtp.raw()
    session(s, [b"EHLO smuggler.example", b"MAIL FROM:<pt_cat@test.example>",
                b"RCPT TO:<pt_amy@test.example>", b"DATA"])
    smuggled = (b"Subject: first\r\n\r\nbody" + vector +
                b"MAIL FROM:<evil@example.org>\r\nRCPT TO:<pt_bob@test.example>\r\nDATA\r\n"
                b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
    s.sendall(smuggled)
    reply = recv_reply(s)
    # The bare CR or LF ends the session (521); nothing was queued.
    assert reply.startswith("521 5.5.2"), reply
    assert recv_reply(s) == ""
    s.close()
    time.sleep(0.5)
    smtp.flush()
    time.sleep(1)
    assert not os.path.exists(smtp.mbox_path("pt_bob")), "a smuggled message was delivered"
    assert not os.path.exists(smtp.mbox_path("pt_amy")), "a message with a bare newline was queued"
    assert "bare <" in smtp.inst.read_log()


def test_bare_lf_in_command_is_refused(smtp):
    s, _ = smtp.raw()
    s.sendall(b"EHLO lf.example\n")
    assert recv_reply(s).startswith("521 5.5.2")
    s.close()


def test_starttls_injection_is_discarded(smtp):
    s, _ = smtp.raw()
    session(s, [b"EHLO inject.example"])
    # One write: STARTTLS and a command that must never run. With
    # smtpd_forbid_unauth_pipelining (default) the session ends; the RSET
    # is never executed either way.
    s.sendall(b"STARTTLS\r\nRSET\r\n")
    r = recv_reply(s)
    assert not r.startswith("220 2.0.0") or True
    s.close()
    log = smtp.inst.read_log()
    assert "improper command pipelining after STARTTLS" in log
    assert "rset=" not in log.split("improper command pipelining after STARTTLS")[1]


def test_starttls_buffer_purged_when_pipelining_allowed(tmp_path):
    s = SmtpSystem(tmp_path / "s", main={"smtpd_forbid_unauth_pipelining": "no"})
    s.start()
    try:
        sock, _ = s.raw()
        session(sock, [b"EHLO inject.example"])
        sock.sendall(b"STARTTLS\r\nRSET\r\n")
        assert recv_reply(sock).startswith("220 2.0.0")
        tls = s.tls_context().wrap_socket(sock, server_hostname="test.example")
        # The injected RSET must not have been executed: the first reply
        # we get after the handshake is to our own EHLO.
        tls.sendall(b"EHLO after.example\r\n")
        r = recv_reply(tls)
        assert r.startswith("250-"), r
        tls.sendall(b"QUIT\r\n")
        recv_reply(tls)
        tls.close()
        wait_for(lambda: "ehlo=2" in s.inst.read_log(), what="the session's disconnect line")
        line = [l for l in s.inst.read_log().splitlines() if "ehlo=2" in l][-1]
        assert "rset" not in line, line
        assert "starttls=1" in line and "ehlo=2" in line, line
    finally:
        s.cleanup()


def test_talking_before_greeting_is_rejected(tmp_path):
    smtp = SmtpSystem(tmp_path / "s", main={"smtpd_greet_pause": "1s"}).start()
    try:
        talk_first(smtp)
    finally:
        smtp.cleanup()


def talk_first(smtp):
    sock = socket.create_connection(("127.0.0.1", smtp.port), timeout=10)
    sock.sendall(b"EHLO early.example\r\n")
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass  # the server closed with our unread EHLO in its buffer
    sock.close()
    assert b"220 " not in data.split(b"\r\n")[0] or b"554 5.5.0" in data, data
    assert "improper command pipelining after CONNECT" in smtp.inst.read_log()


def test_pipelining_without_ehlo_is_rejected(smtp):
    s, _ = smtp.raw()
    s.sendall(b"HELO old.example\r\nMAIL FROM:<a@b.example>\r\n")
    r = recv_reply(s)
    assert "554 5.5.0" in r or recv_reply(s).startswith("554 5.5.0")
    s.close()


def test_pipelined_transaction_with_ehlo(smtp):
    s, _ = smtp.raw()
    session(s, [b"EHLO pipe.example"])
    s.sendall(b"MAIL FROM:<pt_cat@test.example>\r\nRCPT TO:<pt_amy@test.example>\r\n"
              b"RCPT TO:<nobody-here@test.example>\r\nDATA\r\n")
    replies = [recv_reply(s) for _ in range(4)]
    assert [reply_codes(r)[0] for r in replies] == [250, 250, 550, 354], replies
    s.sendall(b"Subject: piped\r\n\r\nok\r\n.\r\nQUIT\r\n")
    assert recv_reply(s).startswith("250 2.0.0")
    assert recv_reply(s).startswith("221")
    s.close()
    smtp.wait_delivered()
    assert mbox_count(smtp, "pt_amy") == 1


def test_addresses_quoted_and_source_routed(smtp):
    with smtp.smtp() as c:
        c.ehlo("q.example")
        assert c.mail("<@relay.example:pt_cat@test.example>")[0] == 250
        assert c.rcpt("<@a.example,@b.example:pt_amy@test.example>")[0] == 250
        assert c.rcpt('<"pt_bob"@test.example>')[0] == 250
        assert c.data(b"Subject: routes\r\n\r\nx\r\n")[0] == 250
    smtp.wait_delivered()
    assert mbox_count(smtp, "pt_amy") == 1 and mbox_count(smtp, "pt_bob") == 1


def test_protocol_errors_have_the_right_codes(smtp):
    s, _ = smtp.raw()
    r = session(s, [b"RCPT TO:<pt_amy@test.example>", b"DATA", b"FOO", b"MAIL FROM:bad@@",
                    b"EHLO", b"EHLO x.example", b"MAIL FROM:<pt_cat@test.example>",
                    b"MAIL FROM:<pt_cat@test.example>", b"RCPT TO:<>", b"DATA",
                    b"RSET extra", b"QUIT"])
    codes = [reply_codes(x)[0] for x in r]
    assert codes == [503, 503, 502, 501, 501, 250, 250, 503, 501, 554, 501, 221], list(zip(codes, r))
    s.close()


def test_oversize_message_gets_552(smtp):
    with smtp.smtp() as c:
        c.ehlo("big.example")
        assert c.mail("<pt_cat@test.example>", ["SIZE=300000"])[0] == 552
        c.rset()
        c.mail("<pt_cat@test.example>")
        c.rcpt("<pt_amy@test.example>")
        code, text = c.data(b"Subject: big\r\n\r\n" + b"x" * 100 + b"\r\n" * 1 +
                            (b"y" * 998 + b"\r\n") * 300)
        assert code == 552, text
        assert text.startswith(b"5.3.4")
    time.sleep(1)
    assert not os.path.exists(smtp.mbox_path("pt_amy"))
    assert smtp.queue_files("incoming") == []


def test_long_lines_pass_through(smtp):
    line = b"z" * 20000
    with smtp.smtp() as c:
        c.sendmail("pt_cat@test.example", ["pt_amy@test.example"],
                   b"Subject: long\r\n\r\n" + line + b"\r\n")
    smtp.wait_delivered()
    assert mbox_count(smtp, "pt_amy") == 1
    assert "z" * 20000 in open(smtp.mbox_path("pt_amy")).read()


def test_slow_client_gets_421_after_timeout(smtp):
    s, _ = smtp.raw()
    session(s, [b"EHLO slow.example"])
    t0 = time.monotonic()
    r = recv_reply(s, timeout=15)
    assert r.startswith("421 4.4.2"), r
    assert 2 <= time.monotonic() - t0 < 10
    s.close()
    assert re.search(r"timeout after EHLO from localhost\[127\.0\.0\.1\]", smtp.inst.read_log())


def test_hard_error_limit_disconnects(tmp_path):
    s = SmtpSystem(tmp_path / "s", main={"smtpd_hard_error_limit": "3",
                                         "smtpd_error_sleep_time": "0"})
    s.start()
    try:
        sock, _ = s.raw()
        r = session(sock, [b"BOGUS1", b"BOGUS2", b"BOGUS3"])
        assert r[2].startswith("502") and "421 4.7.0" in r[2] or \
            recv_reply(sock).startswith("421 4.7.0"), r
        sock.close()
        assert "too many errors after" in s.inst.read_log()
    finally:
        s.cleanup()


def test_command_line_too_long(smtp):
    s, _ = smtp.raw()
    r = session(s, [b"NOOP " + b"a" * 5000, b"NOOP"])
    assert r[0].startswith("500 5.5.0"), r[0]
    assert r[1].startswith("250"), r[1]
    s.close()


def test_nul_in_command_and_data(smtp):
    s, _ = smtp.raw()
    r = session(s, [b"EHLO a\0b.example"])
    assert r[0].startswith("500"), r[0]
    session(s, [b"EHLO nul.example", b"MAIL FROM:<pt_cat@test.example>",
                b"RCPT TO:<pt_amy@test.example>", b"DATA"])
    s.sendall(b"Subject: nul\r\n\r\na\0b\r\n.\r\n")
    r = recv_reply(s)
    assert r.startswith("550 5.6.0"), r
    s.close()


def test_http_request_is_dropped(smtp):
    s, _ = smtp.raw()
    s.sendall(b"GET / HTTP/1.0\r\n")
    assert recv_reply(s).startswith("221 2.7.0")
    s.close()
    assert "non-SMTP command from" in smtp.inst.read_log()


def test_hundred_concurrent_sessions(smtp):
    errors = []

    def one(i):
        try:
            with smtp.smtp(timeout=60) as c:
                c.sendmail("pt_cat@test.example", ["pt_bob@test.example"],
                           f"Subject: conc {i}\r\n\r\nmessage {i}\r\n".encode())
        except Exception as e:  # noqa: BLE001 - collected and reported
            errors.append(f"{i}: {e!r}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [], errors[:5]
    smtp.wait_delivered(timeout=120)
    subjects = sorted(m["Subject"] for m in smtp.mbox_messages("pt_bob"))
    assert subjects == sorted(f"conc {i}" for i in range(100))


def test_smtpd_is_unprivileged_and_chrooted(smtp):
    s, _ = smtp.raw()
    pid = None
    for line in smtp.inst.read_log().splitlines()[::-1]:
        m = re.search(r"postern/smtpd\[(\d+)\]: connect from", line)
        if m:
            pid = int(m.group(1))
            break
    assert pid, "no smtpd connect line"
    status = open(f"/proc/{pid}/status").read()
    import pwd
    uid = pwd.getpwnam("postern").pw_uid
    assert re.search(rf"^Uid:\s+{uid}\s+{uid}\s+{uid}\s+{uid}$", status, re.M), status
    assert re.search(r"^CapEff:\s+0+$", status, re.M)
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert os.readlink(f"/proc/{pid}/root") == smtp.inst.queue
    s.close()
