"""Address rewriting in cleanup(8) against a real instance: virtual_alias_maps
(catch-all, one-to-many, chains, self-reference, nesting limit, extension
propagation), canonical_maps / sender_canonical_maps /
recipient_canonical_maps, masquerade_domains with exceptions, header
qualification, and a table that disappears and comes back while the
system runs. Mail is sent with the real sendmail and over SMTP and read
back from the users' mailboxes."""

import os
import re
import smtplib
import time

import pytest

from conftest import IS_ROOT, wait_for
from smtpsys import SmtpSystem

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root for real users and chroot")

USERS = ("pt_rw_amy", "pt_rw_bob", "pt_rw_cat", "pt_rw_dan")

VIRTUAL = """\
# Sendmail's virtusertable example: a whole domain to one mailbox
@example.com            pt_rw_bob@other-example.com
team@v.example          pt_rw_amy@other-example.com, pt_rw_cat@other-example.com
a@v.example             b@v.example
b@v.example             pt_rw_cat@other-example.com
# an address that expands to itself is a final recipient
pt_rw_dan@other-example.com  pt_rw_dan@other-example.com, pt_rw_amy@other-example.com
# deeper than virtual_alias_recursion_limit (3)
deep1@v.example         deep2@v.example
deep2@v.example         deep3@v.example
deep3@v.example         deep4@v.example
deep4@v.example         pt_rw_cat@other-example.com
sales@v.example         pt_rw_cat@other-example.com
"""


def write_table(s, name, text):
    path = os.path.join(s.inst.etc, name)
    with open(path, "w") as f:
        f.write(text)
    s.inst.cmd("postmap", f"hash:{path}")
    return path


def make(tmp_path, name, main, smtp_args=()):
    s = SmtpSystem(tmp_path / name, users=USERS, main=main, smtp_args=smtp_args)
    return s


def by_subject(msgs, subject):
    return [m for m in msgs if str(m["Subject"]) == subject]


def wait_mail(s, user, subject, count=1, timeout=60):
    return wait_for(lambda: len(by_subject(s.mbox_messages(user), subject)) >= count
                    and by_subject(s.mbox_messages(user), subject),
                    timeout=timeout,
                    what=f"{count} message(s) '{subject}' for {user}; log tail:\n"
                    + s.inst.read_log()[-3000:])


def smtp_send(s, sender, rcpts, subject, headers=""):
    body = (f"{headers}Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@t>\r\n"
            f"\r\nbody of {subject}\r\n")
    with s.smtp() as c:
        c.ehlo("client.example")
        refused = c.sendmail(sender, rcpts, body)
        assert refused == {}, refused


# ---- virtual_alias_maps ---------------------------------------------------------


@pytest.fixture(scope="module")
def vsys(tmp_path_factory):
    s = make(tmp_path_factory.mktemp("rw"), "virtual", {
        "mydestination": "$myhostname, localhost, other-example.com",
        "virtual_alias_domains": "example.com, v.example",
        "recipient_delimiter": "+",
        "virtual_alias_recursion_limit": "3",
    })
    path = write_table(s, "virtual", VIRTUAL)
    s.inst.main["virtual_alias_maps"] = f"hash:{path}"
    s.inst.write_config()
    s.start()
    yield s
    s.cleanup()


def test_catch_all_domain_lands_in_one_mailbox(vsys):
    smtp_send(vsys, "sender@test.example", ["anyone@example.com", "info+x@example.com"],
              "catch-all smtp", headers="To: anyone@example.com\r\n")
    vsys.sendmail("-f", "pt_rw_cat", "whoever@example.com",
                  input="To: whoever@example.com\nSubject: catch-all sendmail\n\nhi\n")
    got = wait_mail(vsys, "pt_rw_bob", "catch-all smtp")
    wait_mail(vsys, "pt_rw_bob", "catch-all sendmail")
    vsys.wait_delivered()
    # two recipients, one mailbox after expansion: duplicates removed
    assert len(by_subject(vsys.mbox_messages("pt_rw_bob"), "catch-all smtp")) == 1
    assert got[0]["Delivered-To"] == "pt_rw_bob@other-example.com"
    # virtual aliasing never touches headers
    assert got[0]["To"] == "anyone@example.com"
    assert got[0]["X-Original-To"] in ("anyone@example.com", "info+x@example.com")


def test_one_to_many_and_chain(vsys):
    smtp_send(vsys, "sender@test.example", ["team@v.example"], "one to many")
    smtp_send(vsys, "sender@test.example", ["a@v.example"], "chain a b cat")
    for user in ("pt_rw_amy", "pt_rw_cat"):
        msg = wait_mail(vsys, user, "one to many")[0]
        assert msg["X-Original-To"] == "team@v.example", msg["X-Original-To"]
    chained = wait_mail(vsys, "pt_rw_cat", "chain a b cat")
    assert chained[0]["X-Original-To"] == "a@v.example"
    vsys.wait_delivered()
    for user in ("pt_rw_bob", "pt_rw_dan"):
        assert not by_subject(vsys.mbox_messages(user), "one to many")


def test_self_reference_delivers_to_both(vsys):
    vsys.sendmail("-f", "pt_rw_cat", "pt_rw_dan@other-example.com",
                  input="Subject: self reference\n\nhi\n")
    wait_mail(vsys, "pt_rw_dan", "self reference")
    wait_mail(vsys, "pt_rw_amy", "self reference")
    vsys.wait_delivered()
    assert len(by_subject(vsys.mbox_messages("pt_rw_dan"), "self reference")) == 1
    assert not re.search(r"unreasonable virtual_alias_maps", vsys.inst.read_log())


def test_extension_is_propagated(vsys):
    smtp_send(vsys, "sender@test.example", ["sales+eu@v.example"], "extension")
    msg = wait_mail(vsys, "pt_rw_cat", "extension")[0]
    assert msg["Delivered-To"] == "pt_rw_cat+eu@other-example.com", msg["Delivered-To"]


def test_recursion_limit_defers(vsys):
    with vsys.smtp() as c:
        c.ehlo("client.example")
        c.mail("sender@test.example")
        code, _ = c.rcpt("deep1@v.example")
        assert code == 250
        code, text = c.data(b"Subject: too deep\r\n\r\nhi\r\n")
    assert code == 451, (code, text)
    vsys.inst.wait_log(r"postern/cleanup\[\d+\]: warning: \w+: unreasonable virtual_alias_maps "
                       r"map nesting for deep1@v\.example -- message not accepted, "
                       r"try again later")
    # within the limit the same chain works
    smtp_send(vsys, "sender@test.example", ["deep3@v.example"], "deep enough")
    wait_mail(vsys, "pt_rw_cat", "deep enough")
    vsys.wait_delivered()
    assert not by_subject(vsys.mbox_messages("pt_rw_cat"), "too deep")


# ---- canonical maps and masquerading ---------------------------------------------


@pytest.fixture(scope="module")
def csys(tmp_path_factory):
    s = make(tmp_path_factory.mktemp("rw"), "canonical", {
        "recipient_delimiter": "+",
        "masquerade_domains": "!sub.example.com, example.com",
        "masquerade_exceptions": "root",
    })
    etc = s.inst.etc
    write_table(s, "sender_canonical", "pt_rw_cat@test.example cat.smith@corp.example\n")
    write_table(s, "canonical", "@olddomain.example @test.example\n")
    write_table(s, "recipient_canonical", "info@test.example pt_rw_dan@test.example\n")
    s.inst.main.update({
        "sender_canonical_maps": f"hash:{etc}/sender_canonical",
        "canonical_maps": f"hash:{etc}/canonical",
        "recipient_canonical_maps": f"hash:{etc}/recipient_canonical",
    })
    s.inst.write_config()
    s.start()
    yield s
    s.cleanup()


def test_sender_canonical_rewrites_envelope_and_from(csys):
    csys.sendmail("-f", "pt_rw_cat", "pt_rw_bob",
                  input="From: pt_rw_cat\nTo: pt_rw_bob\nSubject: sender canonical\n\nhi\n")
    msg = wait_mail(csys, "pt_rw_bob", "sender canonical")[0]
    assert msg["Return-Path"] == "<cat.smith@corp.example>", msg["Return-Path"]
    assert msg["From"] == "cat.smith@corp.example", msg["From"]
    # unqualified header addresses of local mail get @myorigin
    assert msg["To"] == "pt_rw_bob@test.example", msg["To"]


def test_domain_rewrite_and_recipient_canonical_with_extension(csys):
    smtp_send(csys, "someone@olddomain.example", ["pt_rw_bob@olddomain.example"],
              "old domain", headers="From: Some One <someone@olddomain.example>\r\n"
              "To: pt_rw_bob@olddomain.example\r\n")
    msg = wait_mail(csys, "pt_rw_bob", "old domain")[0]
    assert msg["Return-Path"] == "<someone@test.example>"
    assert msg["From"] == "Some One <someone@test.example>"
    assert msg["To"] == "pt_rw_bob@test.example"
    assert msg["X-Original-To"] == "pt_rw_bob@olddomain.example"

    csys.sendmail("-f", "pt_rw_amy", "info+news@test.example",
                  input="Subject: recipient canonical\n\nhi\n")
    msg = wait_mail(csys, "pt_rw_dan", "recipient canonical")[0]
    assert msg["Delivered-To"] == "pt_rw_dan+news@test.example", msg["Delivered-To"]
    # recipient_canonical_maps is not for senders
    smtp_send(csys, "info@test.example", ["pt_rw_bob@test.example"], "info sender")
    msg = wait_mail(csys, "pt_rw_bob", "info sender")[0]
    assert msg["Return-Path"] == "<info@test.example>"


def test_masquerading_of_sender_and_headers(csys):
    smtp_send(csys, "pt_rw_amy@host.example.com", ["pt_rw_bob@test.example"], "masq user",
              headers="From: Amy <pt_rw_amy@host.example.com>\r\n"
              "To: pt_rw_bob@host.example.com, x@test.example\r\n")
    smtp_send(csys, "root@host.example.com", ["pt_rw_bob@test.example"], "masq root",
              headers="From: root@host.example.com\r\n")
    smtp_send(csys, "pt_rw_amy@h.sub.example.com", ["pt_rw_bob@test.example"], "masq sub",
              headers="From: pt_rw_amy@h.sub.example.com\r\n")
    msg = wait_mail(csys, "pt_rw_bob", "masq user")[0]
    assert msg["Return-Path"] == "<pt_rw_amy@example.com>"
    assert msg["From"] == "Amy <pt_rw_amy@example.com>"
    assert msg["To"] == "pt_rw_bob@example.com, x@test.example"
    msg = wait_mail(csys, "pt_rw_bob", "masq root")[0]
    assert msg["Return-Path"] == "<root@host.example.com>"
    assert msg["From"] == "root@host.example.com"
    msg = wait_mail(csys, "pt_rw_bob", "masq sub")[0]
    assert msg["Return-Path"] == "<pt_rw_amy@h.sub.example.com>"
    assert msg["From"] == "pt_rw_amy@h.sub.example.com"


# ---- a table that goes away --------------------------------------------------------


def test_missing_table_defers_and_recovers_without_restart(tmp_path):
    # smtpd does not consult the table itself, so the lookup happens in cleanup.
    s = make(tmp_path, "gone", {}, smtp_args=("-o virtual_alias_maps=",))
    try:
        path = write_table(s, "virtual", "pt_rw_amy@test.example pt_rw_bob@test.example\n")
        s.inst.main["virtual_alias_maps"] = f"hash:{path}"
        s.inst.write_config()
        s.start()
        master = s.inst.master_pid
        smtp_send(s, "sender@test.example", ["pt_rw_amy@test.example"], "before")
        wait_mail(s, "pt_rw_bob", "before")

        os.unlink(path + ".lmdb")
        time.sleep(1.1)  # tables are checked at most once a second
        # A process that still has the old table open answers from it once,
        # then restarts; after that every try is refused with a 4xx until the
        # table is back. Nothing accepted is lost.
        accepted, deferred = [], None
        for n in range(6):
            subject = f"during {n}"
            with s.smtp() as c:
                c.ehlo("client.example")
                c.mail("sender@test.example")
                assert c.rcpt("pt_rw_amy@test.example")[0] == 250
                code, text = c.data(f"Subject: {subject}\r\n\r\nhi\r\n".encode())
            if code == 250:
                accepted.append(subject)
                time.sleep(1.1)
                continue
            deferred = (code, text.decode())
            break
        assert deferred is not None, "mail was still accepted with the table removed"
        assert deferred[0] == 451 and deferred[1].startswith("4.3.0"), deferred
        s.inst.wait_log(r"postern/cleanup\[\d+\]: warning: \w+: virtual_alias_maps map lookup "
                        r"problem for pt_rw_amy@test\.example -- message not accepted, "
                        r"try again later")
        for subject in accepted:
            wait_mail(s, "pt_rw_bob", subject)
        assert not s.queue_files("incoming"), "a refused message left a queue file"

        # sendmail during the outage: the message waits in maildrop/
        s.sendmail("-f", "pt_rw_cat", "pt_rw_amy@test.example",
                   input="Subject: queued locally\n\nhi\n")
        wait_for(lambda: re.search(r"postern/pickup\[\d+\]: warning: maildrop/\S+: cleanup "
                                   r"status \d+: .*will try again", s.inst.read_log()),
                 what="pickup retrying the maildrop file")
        assert s.queue_files("maildrop"), "the locally submitted message is gone"

        # the table comes back: accepted again, without a restart or reload
        write_table(s, "virtual", "pt_rw_amy@test.example pt_rw_bob@test.example\n")
        smtp_send(s, "sender@test.example", ["pt_rw_amy@test.example"], "after")
        wait_mail(s, "pt_rw_bob", "after")
        # the next local submission makes pickup retry the waiting file too
        s.sendmail("-f", "pt_rw_cat", "pt_rw_amy@test.example",
                   input="Subject: queued later\n\nhi\n")
        wait_mail(s, "pt_rw_bob", "queued later")
        wait_mail(s, "pt_rw_bob", "queued locally")
        s.wait_delivered()
        assert s.inst.master_pid == master == s.inst.pid_from_file()
        assert not by_subject(s.mbox_messages("pt_rw_amy"), "after")
        assert s.log_problems() == []
    finally:
        s.cleanup()
