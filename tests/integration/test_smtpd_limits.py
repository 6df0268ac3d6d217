"""smtpd's per-client limits through anvil: connection count and rate,
message rate, recipient rate and AUTH rate, with Postfix's replies and
warnings; and mynetworks clients exempt by default."""

import re
import smtplib

import pytest

from conftest import IS_ROOT
from smtpsys import SmtpSystem, recv_reply

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root for real users and chroot")


def limited(tmp_path, **limits):
    main = {"smtpd_client_event_limit_exceptions": "", "anvil_rate_time_unit": "60s",
            "smtpd_error_sleep_time": "0"}
    main.update({k: str(v) for k, v in limits.items()})
    s = SmtpSystem(tmp_path / "s", main=main)
    return s.start()


def test_connection_count_limit(tmp_path):
    s = limited(tmp_path, smtpd_client_connection_count_limit=2)
    try:
        a, ga = s.raw()
        b, gb = s.raw()
        assert ga.startswith("220") and gb.startswith("220")
        c, gc = s.raw()
        assert gc.startswith("421 4.7.0") and "too many connections from 127.0.0.1" in gc, gc
        c.close()
        a.sendall(b"QUIT\r\n")
        recv_reply(a)
        a.close()
        # A slot is free again once a session ends.
        import time
        time.sleep(0.5)
        d, gd = s.raw()
        assert gd.startswith("220"), gd
        for x in (b, d):
            x.close()
        assert re.search(r"warning: Connection concurrency limit exceeded: 3 from "
                         r"localhost\[127\.0\.0\.1\] for service 127\.0\.0\.1:\d+", s.inst.read_log())
    finally:
        s.cleanup()


def test_connection_rate_limit(tmp_path):
    s = limited(tmp_path, smtpd_client_connection_rate_limit=3)
    try:
        greetings = []
        for _ in range(5):
            sock, g = s.raw()
            greetings.append(g[:3])
            sock.close()
        # SmtpSystem.start() made the first connection (waiting for the
        # greeting), so two more fit in the rate of 3.
        assert greetings == ["220", "220", "421", "421", "421"], greetings
        assert "warning: Connection rate limit exceeded: 4 from localhost[127.0.0.1]" in \
            s.inst.read_log()
    finally:
        s.cleanup()


def test_message_and_recipient_rate_limits(tmp_path):
    s = limited(tmp_path, smtpd_client_message_rate_limit=2,
                smtpd_client_recipient_rate_limit=3)
    try:
        with s.smtp() as c:
            c.ehlo("rate.example")
            codes = []
            for _ in range(3):
                codes.append(c.mail("<pt_cat@test.example>")[0])
                c.rset()
            assert codes == [250, 250, 450], codes
        with s.smtp() as c:
            c.ehlo("rate.example")
            # The message rate is used up for this minute: new transactions
            # are refused, so the recipient limit is checked from a fresh
            # instance below.
            assert c.mail("<pt_cat@test.example>")[0] == 450
        assert "warning: Message delivery request rate limit exceeded" in s.inst.read_log()
    finally:
        s.cleanup()
    s = limited(tmp_path / "r", smtpd_client_recipient_rate_limit=3, recipient_delimiter="+")
    try:
        with s.smtp() as c:
            c.ehlo("rate.example")
            c.mail("<pt_cat@test.example>")
            codes = [c.rcpt(f"<pt_amy+{i}@test.example>")[0] for i in range(5)]
            assert codes == [250, 250, 250, 450, 450], codes
        assert "warning: Recipient address rate limit exceeded" in s.inst.read_log()
    finally:
        s.cleanup()


def test_mynetworks_is_exempt_by_default(tmp_path):
    s = SmtpSystem(tmp_path / "s", main={"smtpd_client_connection_rate_limit": "1"}).start()
    try:
        for _ in range(4):
            sock, g = s.raw()
            assert g.startswith("220"), g
            sock.close()
    finally:
        s.cleanup()
