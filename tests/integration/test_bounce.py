"""bounce(8) against a real instance (pickup, cleanup, bounce, defer; no
qmgr): the test plays qmgr's part. A message goes in with sendmail ->
pickup -> cleanup, is moved from incoming/ to active/ by the test, and the
bounce service is driven directly with the attribute protocol: append,
then flush. The notice is read back from its queue file and parsed with
Python's email package. Hostile requests must be refused with nothing
written."""

import email
import email.policy
import glob
import os
import socket
import struct
import subprocess

import pytest

import attrproto
from conftest import LIBEXEC, SBIN, Instance, ensure_accounts, wait_for


@pytest.fixture
def inst(tmp_path):
    for path in (os.path.join(SBIN, "postern"), os.path.join(SBIN, "sendmail"),
                 os.path.join(LIBEXEC, "master"), os.path.join(LIBEXEC, "pickup"),
                 os.path.join(LIBEXEC, "cleanup"), os.path.join(LIBEXEC, "bounce")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not built; run `make` first")
    ensure_accounts()
    i = Instance(tmp_path / "inst")
    i.main["myorigin"] = "origin.example"
    i.main["bounce_size_limit"] = "200"
    i.write_config()
    i.add_service("pickup fifo n - y 60 1 pickup")
    i.add_service("cleanup unix - - y - 0 cleanup")
    i.add_service("bounce unix - - y - 0 bounce")
    i.add_service("defer unix - - y - 0 bounce")
    i.postern("check")
    i.start()
    for name in ("public/pickup", "private/cleanup", "private/bounce", "private/defer"):
        wait_for(lambda: os.path.exists(os.path.join(i.queue, name)), what=name)
    yield i
    i.cleanup()


def qdir(i, name):
    d = os.path.join(i.queue, name)
    return sorted(n for n in os.listdir(d) if not n.startswith(".")) if os.path.isdir(d) else []


def submit(i, sender, rcpt, body=b"Subject: hello there\nX-Test: 1\n\nbody line\n"):
    """sendmail -> pickup -> cleanup; move incoming/ID to active/ID as qmgr
    would. Returns the queue ID."""
    before = set(qdir(i, "incoming"))
    argv = [os.path.join(SBIN, "sendmail"), "-C", os.path.join(i.etc, "main.cf"), "-f", sender,
            rcpt]
    p = subprocess.run(argv, input=body, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    new = wait_for(lambda: set(qdir(i, "incoming")) - before, what="message in incoming/")
    assert len(new) == 1, new
    qid = new.pop()
    os.rename(os.path.join(i.queue, "incoming", qid), os.path.join(i.queue, "active", qid))
    return qid


def ask(i, service, attrs):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(os.path.join(i.queue, "private", service))
    f = s.makefile("rwb")
    try:
        attrproto.send(f, attrs)
        return attrproto.decode(f)
    finally:
        f.close()
        s.close()


def append(i, qid, rcpt, dsn="5.1.1", reason="unknown user", service="bounce", orcpt="",
           action="failed", offset=100):
    return ask(i, service, [("request", "append"), ("queue_id", qid), ("rcpt", rcpt),
                            ("orcpt", orcpt), ("dsn", dsn), ("action", action),
                            ("reason", reason), ("offset", offset)])


def flush(i, qid, sender, queue_dir="active"):
    return ask(i, "bounce", [("request", "flush"), ("queue_id", qid), ("queue_dir", queue_dir),
                             ("sender", sender)])


def read_queue_file(path):
    """The records of a queue file (queue_file.h): sender, recipients and
    content."""
    data = open(path, "rb").read()
    off, sender, rcpts, content, ended = 0, None, [], b"", False
    while off < len(data):
        t = data[off:off + 1]
        n = struct.unpack(">I", data[off + 1:off + 5])[0]
        payload = data[off + 5:off + 5 + n]
        off += 5 + n
        if t == b"S":
            sender = payload.decode()
        elif t == b"R":
            rcpts.append(payload.decode())
        elif t == b"C":
            content += payload
        elif t == b"E":
            ended = True
    assert ended and off == len(data), f"{path}: no end record"
    return sender, rcpts, content


def the_notice(i):
    files = qdir(i, "incoming")
    assert len(files) == 1, f"incoming/ holds {files}, want one notice"
    sender, rcpts, content = read_queue_file(os.path.join(i.queue, "incoming", files[0]))
    msg = email.message_from_bytes(content, policy=email.policy.compat32)
    return files[0], sender, rcpts, msg


def report_groups(msg):
    """The message/delivery-status part: per-message fields, then one dict
    per recipient."""
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"], parts
    groups = parts[1].get_payload()
    return dict(groups[0].items()), [dict(g.items()) for g in groups[1:]]


def test_flush_sends_a_delivery_status_notice_and_removes_the_log(inst):
    qid = submit(inst, "alice@example.com", "bob@example.net")
    assert append(inst, qid, "bob@example.net", "5.1.1", 'unknown user: "bob"') == \
        {"status": 0, "reason": ""}
    assert append(inst, qid, "carol@example.net", "5.2.2", "mailbox full\r\nsecond line",
                  orcpt="list@example.net") != {"status": 0, "reason": ""}, "CR must be refused"
    assert append(inst, qid, "carol@example.net", "5.2.2", "mailbox full",
                  orcpt="list@example.net") == {"status": 0, "reason": ""}
    log = os.path.join(inst.queue, "bounce", qid)
    text = open(log).read()
    assert text.startswith("recipient=bob@example.net\norcpt=\noffset=100\nstatus=5.1.1\n"
                           "action=failed\ntime="), text
    assert text.count("\n\n") == 2 and "second line" not in text, text
    assert oct(os.stat(log).st_mode & 0o777) == "0o600"

    assert flush(inst, qid, "alice@example.com") == {"status": 0, "reason": ""}
    assert not os.path.exists(log), "bounce log left after the notice was queued"
    new, sender, rcpts, msg = the_notice(inst)
    inst.wait_log(rf"postern/bounce\[\d+\]: {qid}: sender non-delivery notification: {new}")
    assert sender == "" and rcpts == ["alice@example.com"], (sender, rcpts)

    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["To"] == "alice@example.com"
    assert msg["From"] == "MAILER-DAEMON@test.example (Mail Delivery System)"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg.get_boundary().startswith(f"{qid}.") and msg.get_boundary().endswith(
        "/test.example")
    per_msg, per_rcpt = report_groups(msg)
    assert per_msg["Reporting-MTA"] == "dns; test.example"
    assert per_msg["X-Postfix-Queue-ID"] == qid
    assert per_msg["X-Postfix-Sender"] == "rfc822; alice@example.com"
    assert "Arrival-Date" in per_msg
    assert per_rcpt == [
        {"Final-Recipient": "rfc822; bob@example.net", "Action": "failed", "Status": "5.1.1",
         "Diagnostic-Code": 'X-Postfix; unknown user: "bob"'},
        {"Original-Recipient": "rfc822; list@example.net",
         "Final-Recipient": "rfc822; carol@example.net", "Action": "failed", "Status": "5.2.2",
         "Diagnostic-Code": "X-Postfix; mailbox full"},
    ], per_rcpt
    human = msg.get_payload()[0].get_payload()
    assert "This is the mail system at host test.example." in human
    assert '<bob@example.net>: unknown user: "bob"' in human
    returned = msg.get_payload()[2].get_payload()
    assert "Subject: hello there\n" in returned and "body line" not in returned, returned
    # bounce_size_limit = 200: whole lines only, and no more bytes than that
    assert len(returned.rstrip("\n")) <= 200 and returned.endswith("\n")

    # a second flush finds no log: nothing more is sent
    assert flush(inst, qid, "alice@example.com") == {"status": 0, "reason": ""}
    assert qdir(inst, "incoming") == [new]


def test_bounced_bounce_goes_to_postmaster_and_a_failed_double_bounce_is_dropped(inst):
    qid = submit(inst, "<>", "bob@example.net")
    assert append(inst, qid, "bob@example.net")["status"] == 0
    assert flush(inst, qid, "") == {"status": 0, "reason": ""}
    new, sender, rcpts, msg = the_notice(inst)
    assert sender == "double-bounce@origin.example", sender
    assert rcpts == ["postmaster@origin.example"], rcpts
    assert msg["Subject"] == "Postmaster Copy: Undelivered Mail"
    assert msg.get_param("report-type") == "delivery-status"
    inst.wait_log(rf"{qid}: postmaster non-delivery notification: {new}")
    os.unlink(os.path.join(inst.queue, "incoming", new))

    # the postmaster copy itself fails: no further notice, the loop ends
    qid2 = submit(inst, "double-bounce@origin.example", "postmaster@example.net")
    assert append(inst, qid2, "postmaster@example.net")["status"] == 0
    assert flush(inst, qid2, "double-bounce@origin.example") == {"status": 0, "reason": ""}
    inst.wait_log(rf"{qid2}: undeliverable postmaster notification discarded")
    assert qdir(inst, "incoming") == []
    assert not os.path.exists(os.path.join(inst.queue, "bounce", qid2))


def test_defer_service_writes_the_hashed_defer_log(inst):
    qid = submit(inst, "alice@example.com", "bob@example.net")
    rep = append(inst, qid, "bob@example.net", "4.2.2", "mailbox busy", service="defer",
                 action="delayed")
    assert rep == {"status": 0, "reason": ""}
    # hash_queue_names includes defer: defer/H/ID with one level
    logs = glob.glob(os.path.join(inst.queue, "defer", "*", qid))
    assert len(logs) == 1, logs
    assert "status=4.2.2\naction=delayed\n" in open(logs[0]).read()
    assert qdir(inst, "bounce") == []
    # a flush looks at the bounce log only: nothing to send
    assert flush(inst, qid, "alice@example.com") == {"status": 0, "reason": ""}
    assert qdir(inst, "incoming") == []


def test_hostile_requests_are_refused_and_write_nothing(inst):
    qid = submit(inst, "alice@example.com", "bob@example.net")
    good = [("request", "append"), ("queue_id", qid), ("rcpt", "bob@example.net"),
            ("orcpt", ""), ("dsn", "5.1.1"), ("action", "failed"), ("reason", "x"),
            ("offset", 1)]

    def with_(name, value):
        return [(n, value if n == name else v) for n, v in good]

    bad_requests = [
        with_("queue_id", "../../../etc/passwd"),
        with_("queue_id", qid + "X"),
        with_("queue_id", "../bounce/" + qid[:6]),
        with_("rcpt", "bob@example.net\rBcc: x"),
        with_("rcpt", "bob@example.net\nrecipient=evil"),
        with_("rcpt", ""),
        with_("rcpt", "a" * 5000),
        with_("orcpt", "x\x01y"),
        with_("dsn", "9.9.9"),
        with_("action", "delivered"),
        with_("reason", "r" * 10000),
        with_("offset", -5),
        with_("request", "remove"),
        good + [("extra", "attribute")],
        good[:-1],  # offset missing
        [(n, v.encode() if n == "rcpt" else v) for n, v in good],  # data, not text
    ]
    for req in bad_requests:
        rep = ask(inst, "bounce", req)
        assert rep.get("status", 0) != 0, f"accepted: {req}"
        assert isinstance(rep.get("reason"), str) and rep["reason"], rep
    assert qdir(inst, "bounce") == [], qdir(inst, "bounce")

    # with a log present, a flush naming another directory is refused and
    # neither the log nor the queue change
    assert append(inst, qid, "bob@example.net")["status"] == 0
    for queue_dir in ("../active", "active/..", "deferred/../active", "maildrop", "bounce", ""):
        assert flush(inst, qid, "alice@example.com", queue_dir)["status"] != 0, queue_dir
    assert flush(inst, qid, "alice@example.com\r\nBcc: evil@example.net")["status"] != 0
    assert flush(inst, "../" + qid, "alice@example.com")["status"] != 0
    assert qdir(inst, "bounce") == [qid]
    assert qdir(inst, "incoming") == []
    inst.wait_log(r"postern/bounce\[\d+\]: warning: bounce: refused request: bad queue ID")
    inst.wait_log(r"warning: bounce: refused request: bad queue name")


def test_notice_is_sent_without_header_when_the_message_is_gone(inst):
    qid = submit(inst, "alice@example.com", "bob@example.net")
    assert append(inst, qid, "bob@example.net")["status"] == 0
    os.unlink(os.path.join(inst.queue, "active", qid))
    assert flush(inst, qid, "alice@example.com") == {"status": 0, "reason": ""}
    _, sender, rcpts, msg = the_notice(inst)
    assert (sender, rcpts) == ("", ["alice@example.com"])
    assert [p.get_content_type() for p in msg.get_payload()] == [
        "text/plain", "message/delivery-status"]
    assert not os.path.exists(os.path.join(inst.queue, "bounce", qid))


def test_log_is_kept_when_cleanup_cannot_take_the_notice(tmp_path):
    ensure_accounts()
    i = Instance(tmp_path / "inst")
    i.add_service("bounce unix - - y - 0 bounce")
    i.postern("check")
    i.start()
    try:
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "private", "bounce")),
                 what="private/bounce")
        qid = "0123456789BCDFGH"
        assert append(i, qid, "bob@example.net")["status"] == 0
        rep = flush(i, qid, "alice@example.com")
        assert rep["status"] != 0 and "cleanup" in rep["reason"], rep
        assert qdir(i, "bounce") == [qid], "log removed although no notice was queued"
    finally:
        i.cleanup()
