"""smtpd with TLS and SMTP AUTH: STARTTLS on the smtp port, submission (587
style: STARTTLS and AUTH required before mail), smtps (465 style: implicit
TLS), AUTH PLAIN and LOGIN through the auth service, the Received: header's
TLS details, and the Postfix-format logs of failures."""

import base64
import re
import smtplib
import ssl
import subprocess
import time

import pytest

from conftest import IS_ROOT, wait_for
from smtpsys import PASSWORDS, SmtpSystem, recv_reply

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root for real users and chroot")


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    s = SmtpSystem(tmp_path_factory.mktemp("tls") / "s",
                   main={"smtpd_error_sleep_time": "0", "auth_failure_delay": "1s"})
    s.start()
    yield s
    s.cleanup()


def test_starttls_on_the_smtp_port_and_received_header(smtp):
    with smtp.smtp() as c:
        c.ehlo("tls.example")
        c.starttls(context=smtp.tls_context())
        code, text = c.ehlo("tls.example")
        assert b"STARTTLS" not in text, "STARTTLS offered twice"
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        c.sendmail("pt_cat@test.example", ["pt_amy@test.example"], b"Subject: tls\r\n\r\nsecret\r\n")
    smtp.wait_delivered()
    m = [m for m in smtp.mbox_messages("pt_amy") if m["Subject"] == "tls"][0]
    rcv = m.get_all("Received")[0]
    assert re.search(r"\(using TLSv1\.[23] with cipher \S+ \(\d+/\d+ bits\)\)", rcv), rcv
    assert "with ESMTPS id" in rcv
    assert "Anonymous TLS connection established from localhost[127.0.0.1]" in smtp.inst.read_log()


def test_tls_below_1_2_is_refused(smtp):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    with smtp.smtp() as c:
        c.ehlo("old.example")
        with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
            c.starttls(context=ctx)


def test_auth_not_offered_before_tls(smtp):
    with smtp.smtp(port=smtp.submission_port) as c:
        code, text = c.ehlo("mua.example")
        assert b"AUTH" not in text
        assert c.mail("<pt_amy@test.example>")[0] == 530
        assert c.docmd("AUTH", "PLAIN AHB0X2FteQBhbXktc2VjcmV0")[0] == 530


def test_submission_requires_auth_before_mail(smtp):
    with smtp.smtp(port=smtp.submission_port) as c:
        c.starttls(context=smtp.tls_context())
        code, text = c.ehlo("mua.example")
        assert b"AUTH PLAIN LOGIN" in text or b"AUTH LOGIN PLAIN" in text, text
        code, text = c.mail("<pt_amy@test.example>")
        assert code == 554 and b"5.7.1" in text, (code, text)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_submission_with_auth_relays(smtp, mech):
    with smtp.smtp(port=smtp.submission_port) as c:
        c.starttls(context=smtp.tls_context())
        c.ehlo("mua.example")
        c.user, c.password = "pt_amy", PASSWORDS["pt_amy"]
        code, text = c.auth(mech, getattr(c, "auth_" + mech.lower()),
                            initial_response_ok=(mech == "PLAIN"))
        assert code == 235, text
        # An authenticated client may relay.
        code, text = c.mail("<pt_amy@test.example>")
        assert code == 250
        code, text = c.rcpt("<someone@elsewhere.example>")
        assert code == 250, text
        code, text = c.rcpt("<pt_bob@test.example>")
        assert code == 250, text
        code, text = c.data(f"Subject: via {mech}\r\n\r\nhi\r\n".encode())
        assert code == 250, text
    log = smtp.inst.read_log()
    assert re.search(r"postern/submission/smtpd\[\d+\]: \w+: client=localhost\[127\.0\.0\.1\], "
                     rf"sasl_method={mech}, sasl_username=pt_amy", log), log[-2000:]
    wait_for(lambda: any(m["Subject"] == f"via {mech}" for m in smtp.mbox_messages("pt_bob")),
             timeout=30, what="delivery to pt_bob")
    m = [m for m in smtp.mbox_messages("pt_bob") if m["Subject"] == f"via {mech}"][0]
    assert "with ESMTPSA id" in m.get_all("Received")[0]


def test_failed_auth_is_delayed_and_logged(smtp):
    with smtp.smtp(port=smtp.submission_port) as c:
        c.starttls(context=smtp.tls_context())
        c.ehlo("guess.example")
        t0 = time.monotonic()
        c.user, c.password = "pt_amy", "wrong"
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert e.value.smtp_code == 535
        assert time.monotonic() - t0 >= 0.9, "the failure was not delayed"
    assert re.search(r"warning: localhost\[127\.0\.0\.1\]: SASL LOGIN authentication failed: ",
                     smtp.inst.read_log())


def test_auth_cancel_and_garbage(smtp):
    s, _ = smtp.raw(port=smtp.submission_port)
    s.sendall(b"EHLO x.example\r\n")
    recv_reply(s)
    s.sendall(b"STARTTLS\r\n")
    assert recv_reply(s).startswith("220")
    t = smtp.tls_context().wrap_socket(s, server_hostname="test.example")
    t.sendall(b"EHLO x.example\r\n")
    recv_reply(t)
    t.sendall(b"AUTH LOGIN\r\n")
    assert recv_reply(t).startswith("334 ")
    t.sendall(b"*\r\n")
    assert recv_reply(t).startswith("501 5.7.0")
    t.sendall(b"AUTH PLAIN !!!notbase64\r\n")
    assert recv_reply(t, timeout=30)[:3] in ("535", "501")
    t.sendall(b"AUTH CRAM-MD5\r\n")
    assert recv_reply(t, timeout=30)[:3] in ("535", "504")
    t.sendall(b"QUIT\r\n")
    t.close()


def test_smtps_implicit_tls(smtp):
    with smtplib.SMTP_SSL("127.0.0.1", smtp.smtps_port, context=smtp.tls_context(),
                          timeout=20) as c:
        code, text = c.ehlo("wrapper.example")
        assert b"STARTTLS" not in text
        c.login("pt_bob", PASSWORDS["pt_bob"])
        c.sendmail("pt_bob@test.example", ["pt_amy@test.example"], b"Subject: smtps\r\n\r\nx\r\n")
    wait_for(lambda: any(m["Subject"] == "smtps" for m in smtp.mbox_messages("pt_amy")),
             timeout=30, what="delivery over smtps")


def test_swaks_auth_over_starttls(smtp):
    p = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(smtp.submission_port),
                        "--tls", "--auth", "PLAIN", "--auth-user", "pt_amy",
                        "--auth-password", PASSWORDS["pt_amy"], "--from", "pt_amy@test.example",
                        "--to", "pt_bob@test.example", "--helo", "swaks.example"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "235 2.7.0 Authentication successful" in p.stdout
