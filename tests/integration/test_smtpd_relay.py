"""Relay control end to end: nothing relays through smtpd without
permission (mynetworks, SASL authentication, relay_domains, an access table
OK), whatever routing tricks the recipient address carries: percent hack,
bang paths, quoted local parts with "@", source routes, trailing dots, case,
address literals. Refused recipients leave no queue file behind, and every
refusal is logged in Postfix's format."""

import re
import smtplib

import pytest

from conftest import IS_ROOT
from smtpsys import PASSWORDS, SmtpSystem

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root for real users and chroot")

OUTSIDE = "127.0.0.5"  # a client outside mynetworks (127.0.0.1/32)
RELAY_DENIED_454 = "454 4.7.1"


def start(tmp_path, main=None, files=None, **kw):
    """An instance with mynetworks = 127.0.0.1/32 and relay_domains =
    relay.example; "{etc}" in main values is the config directory, where
    files (name -> text) are written before the start."""
    etc = str(tmp_path / "s" / "etc")
    cfg = {"mynetworks": "127.0.0.1/32", "relay_domains": "relay.example",
           "smtpd_error_sleep_time": "0", "recipient_delimiter": "+"}
    cfg.update({k: v.replace("{etc}", etc) for k, v in (main or {}).items()})
    s = SmtpSystem(tmp_path / "s", main=cfg, **kw)
    for name, text in (files or {}).items():
        with open(f"{etc}/{name}", "w") as f:
            f.write(text)
    return s.start()


@pytest.fixture
def smtp(tmp_path):
    # proxy_interfaces: an address a NAT in front of us receives mail on
    s = start(tmp_path, {"proxy_interfaces": "192.0.2.77"})
    yield s
    s.cleanup()


def connect(s, src=OUTSIDE, port=None):
    c = smtplib.SMTP("127.0.0.1", port or s.port, timeout=20, source_address=(src, 0))
    return c


def reply(c, line):
    code, msg = c.docmd(line)
    return code, msg.decode(errors="replace")


def rcpt(s, address, sender="pt_cat@test.example", src=OUTSIDE):
    """One transaction: MAIL FROM:<sender>, RCPT TO:<address>; returns the
    RCPT reply as (code, "d.d.d text")."""
    with connect(s, src) as c:
        c.ehlo("client.example")
        code, msg = reply(c, f"MAIL FROM:<{sender}>")
        assert code == 250, f"MAIL FROM:<{sender}> got {code} {msg}"
        return reply(c, f"RCPT TO:<{address}>")


def assert_relay_denied(s, address, shown=None, code=454, **kw):
    got, msg = rcpt(s, address, **kw)
    shown = shown or address
    dsn = "4.7.1" if code // 100 == 4 else "5.7.1"
    assert (got, msg) == (code, f"{dsn} <{shown}>: Relay access denied"), \
        f"RCPT TO:<{address}> from outside was not refused as relaying: {got} {msg}"


def test_outside_client_cannot_relay_to_outside(smtp):
    assert_relay_denied(smtp, "someone@elsewhere.example")
    # Postfix's reject line, with the client, sender, recipient and HELO.
    smtp.inst.wait_log(
        r"postern/smtpd\[\d+\]: NOQUEUE: reject: RCPT from [^ ]+\[127\.0\.0\.5\]: 454 4\.7\.1 "
        r"<someone@elsewhere\.example>: Relay access denied; from=<pt_cat@test\.example> "
        r"to=<someone@elsewhere\.example> proto=ESMTP helo=<client\.example>\n")


def test_local_and_relay_domains_are_accepted_from_outside(smtp):
    assert rcpt(smtp, "pt_amy@test.example")[0] == 250
    assert rcpt(smtp, "anyone@relay.example")[0] == 250
    # relay_domains matches subdomains (parent_domain_matches_subdomains).
    assert rcpt(smtp, "anyone@sub.relay.example")[0] == 250


def test_percent_hack_does_not_open_the_relay(smtp):
    # user%other@ours is user@other: a relay attempt.
    assert_relay_denied(smtp, "user%elsewhere.example@test.example")
    # ... unless other is ours too.
    assert rcpt(smtp, "pt_amy%localhost@test.example")[0] == 250


def test_bang_path_does_not_open_the_relay(smtp):
    assert_relay_denied(smtp, "elsewhere.example!user@test.example")


def test_quoted_local_part_with_at_does_not_open_the_relay(smtp):
    # Replies show the internal (unquoted) form, as Postfix's do.
    assert_relay_denied(smtp, '"user@elsewhere.example"@test.example',
                        shown="user@elsewhere.example@test.example")


def test_source_route_is_dropped_before_the_decision(smtp):
    # <@a,@b:user@elsewhere> is user@elsewhere (RFC 5321 4.1.1.3).
    assert_relay_denied(smtp, "@test.example:user@elsewhere.example",
                        shown="user@elsewhere.example")
    assert rcpt(smtp, "@elsewhere.example:pt_amy@test.example")[0] == 250


def test_trailing_dot_and_case_change_nothing(smtp):
    assert_relay_denied(smtp, "user@elsewhere.example.", shown="user@elsewhere.example")
    assert_relay_denied(smtp, "USER@ELSEWHERE.EXAMPLE")
    assert rcpt(smtp, "pt_amy@test.example.")[0] == 250
    assert rcpt(smtp, "PT_AMY@TEST.EXAMPLE")[0] == 250
    assert rcpt(smtp, "anyone@RELAY.Example")[0] == 250


def test_address_literals(smtp):
    # Not one of our addresses: relaying.
    assert_relay_denied(smtp, "user@[192.0.2.1]")
    # One of ours (inet_interfaces = loopback-only): local delivery.
    assert rcpt(smtp, "pt_amy@[127.0.0.1]")[0] == 250
    assert rcpt(smtp, "pt_amy@[192.0.2.77]")[0] == 250
    assert rcpt(smtp, "nosuchuser@[127.0.0.1]")[0] == 550


def test_null_sender_and_postmaster_are_not_special(smtp):
    assert_relay_denied(smtp, "someone@elsewhere.example", sender="")
    assert_relay_denied(smtp, "postmaster@elsewhere.example")
    # Our own postmaster is always accepted, also without a domain.
    assert rcpt(smtp, "postmaster@test.example", sender="")[0] == 250
    assert rcpt(smtp, "postmaster")[0] == 250


def test_untrusted_routing_through_a_relay_domain(smtp):
    # A relay domain with routing in the local part would let the next hop
    # relay for us: not authorized (allow_untrusted_routing = no).
    assert_relay_denied(smtp, "user%elsewhere.example@relay.example")
    assert_relay_denied(smtp, "elsewhere.example!user@relay.example")
    assert_relay_denied(smtp, '"user@elsewhere.example"@relay.example',
                        shown="user@elsewhere.example@relay.example")


def test_untrusted_routing_allowed_when_configured(tmp_path):
    s = start(tmp_path, {"allow_untrusted_routing": "yes"})
    try:
        assert rcpt(s, "user%elsewhere.example@relay.example")[0] == 250
        assert_relay_denied(s, "user%elsewhere.example@test.example")
    finally:
        s.cleanup()


def test_mynetworks_client_may_relay(smtp):
    assert rcpt(smtp, "someone@elsewhere.example", src="127.0.0.1")[0] == 250
    assert rcpt(smtp, "user%elsewhere.example@test.example", src="127.0.0.1")[0] == 250


def test_reject_unauth_destination_answers_554(tmp_path):
    s = start(tmp_path, {"smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination"})
    try:
        assert_relay_denied(s, "someone@elsewhere.example", code=554)
        s.inst.wait_log(r"NOQUEUE: reject: RCPT from [^ ]+\[127\.0\.0\.5\]: 554 5\.7\.1 "
                        r"<someone@elsewhere\.example>: Relay access denied;")
    finally:
        s.cleanup()


def test_permit_auth_destination(tmp_path):
    s = start(tmp_path, {"smtpd_relay_restrictions": "permit_auth_destination, reject"})
    try:
        assert rcpt(s, "pt_amy@test.example")[0] == 250
        assert rcpt(s, "x@relay.example")[0] == 250
        # not an authorized destination: the next restriction decides
        assert rcpt(s, "x@elsewhere.example") == (
            554, "5.7.1 <x@elsewhere.example>: Recipient address rejected: Access denied")
        assert rcpt(s, "x@elsewhere.example", src="127.0.0.1")[0] == 554
    finally:
        s.cleanup()


def test_relay_domains_reject_code_is_used(tmp_path):
    s = start(tmp_path, {"smtpd_relay_restrictions": "reject_unauth_destination",
                         "relay_domains_reject_code": "550"})
    try:
        assert_relay_denied(s, "someone@elsewhere.example", code=550)
    finally:
        s.cleanup()


def test_client_access_table_may_grant_relaying(tmp_path):
    # Postfix's example: a cidr table of networks that may relay.
    s = start(tmp_path, {"smtpd_relay_restrictions": "permit_mynetworks, "
                         "check_client_access cidr:{etc}/relay_clients, reject_unauth_destination"},
              files={"relay_clients": "127.0.0.10/32 OK\n127.0.0.0/8 DUNNO\n"})
    try:
        assert rcpt(s, "someone@elsewhere.example", src="127.0.0.10")[0] == 250
        assert_relay_denied(s, "someone@elsewhere.example", code=554, src="127.0.0.11")
    finally:
        s.cleanup()


def starttls(c, s):
    c.ehlo("client.example")
    c.starttls(context=s.tls_context())
    c.ehlo("client.example")


def test_authenticated_client_may_relay_unauthenticated_may_not(tmp_path):
    s = start(tmp_path, smtp_args=("-o smtpd_sasl_auth_enable=yes",))
    try:
        with connect(s) as c:
            starttls(c, s)
            assert reply(c, "MAIL FROM:<pt_amy@test.example>")[0] == 250
            assert reply(c, "RCPT TO:<someone@elsewhere.example>") == (
                454, "4.7.1 <someone@elsewhere.example>: Relay access denied")
            reply(c, "RSET")
            c.login("pt_amy", PASSWORDS["pt_amy"])
            assert reply(c, "MAIL FROM:<pt_amy@test.example>")[0] == 250
            assert reply(c, "RCPT TO:<someone@elsewhere.example>")[0] == 250
            assert reply(c, "RCPT TO:<user%elsewhere.example@test.example>")[0] == 250
        # A failed login grants nothing.
        with connect(s) as c:
            starttls(c, s)
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.login("pt_amy", "wrong password")
            assert reply(c, "MAIL FROM:<pt_amy@test.example>")[0] == 250
            assert reply(c, "RCPT TO:<someone@elsewhere.example>")[0] == 454
    finally:
        s.cleanup()


def test_refused_recipients_leave_no_queue_file(smtp):
    with connect(smtp) as c:
        c.ehlo("client.example")
        assert reply(c, "MAIL FROM:<pt_cat@test.example>")[0] == 250
        for a in ("a@elsewhere.example", "b%elsewhere.example@test.example",
                  "elsewhere.example!c@test.example", "d@[192.0.2.1]"):
            assert reply(c, f"RCPT TO:<{a}>")[0] == 454, a
        code, msg = reply(c, "DATA")
        assert code // 100 == 5 or code == 503, f"DATA without recipients got {code} {msg}"
    log = smtp.inst.read_log()
    assert smtp.queue_ids_in_log() == [], f"a queue file was opened:\n{log[-2000:]}"
    for q in ("maildrop", "incoming", "active", "deferred", "hold"):
        assert smtp.queue_files(q) == [], f"queue file in {q}"
    assert len(re.findall(r"NOQUEUE: reject: RCPT from .*Relay access denied", log)) == 4


def test_mixed_recipients_only_the_allowed_ones_are_delivered(smtp):
    with connect(smtp) as c:
        c.ehlo("client.example")
        refused = {}
        try:
            refused = c.sendmail("pt_cat@test.example",
                                 ["pt_amy@test.example", "x@elsewhere.example"],
                                 b"Subject: mixed\r\n\r\nhello\r\n")
        except smtplib.SMTPRecipientsRefused as e:  # pragma: no cover - all refused
            pytest.fail(f"all recipients refused: {e.recipients}")
        assert list(refused) == ["x@elsewhere.example"]
        assert refused["x@elsewhere.example"][0] == 454
    smtp.wait_delivered()
    assert [m["Subject"] for m in smtp.mbox_messages("pt_amy")] == ["mixed"]
    assert "to=<x@elsewhere.example>" not in "".join(
        l for l in smtp.inst.read_log().splitlines() if "status=" in l)
