"""bounce(8) against a real instance (pickup, cleanup, bounce, defer,
trace; no qmgr): the test plays qmgr's part. A message goes in with
sendmail -> pickup -> cleanup, is moved from incoming/ to active/ by the
test, and the bounce service is driven directly with the attribute
protocol: append, then flush / warn / trace. The notice is read back from
its queue file and parsed with Python's email package. Hostile requests
must be refused with nothing written.

The end-to-end tests at the bottom run the whole path as root (smtplib ->
smtpd -> cleanup -> qmgr -> local -> bounce -> the sender's mailbox) with
DSN parameters (RFC 3461 NOTIFY, RET, ENVID, ORCPT); users "ptb_*"."""

import email
import email.policy
import glob
import os
import socket
import struct
import subprocess
import email.utils
import time

import pytest

import attrproto
from conftest import LIBEXEC, SBIN, Instance, ensure_accounts, wait_for

NOTIFY_NEVER, NOTIFY_SUCCESS, NOTIFY_FAILURE, NOTIFY_DELAY = 1, 2, 4, 8


def make_inst(base, size_limit):
    for path in (os.path.join(SBIN, "postern"), os.path.join(SBIN, "sendmail"),
                 os.path.join(LIBEXEC, "master"), os.path.join(LIBEXEC, "pickup"),
                 os.path.join(LIBEXEC, "cleanup"), os.path.join(LIBEXEC, "bounce")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not built; run `make` first")
    ensure_accounts()
    i = Instance(base)
    i.main["myorigin"] = "origin.example"
    i.main["bounce_size_limit"] = str(size_limit)
    i.main["maximal_queue_lifetime"] = "5d"
    i.write_config()
    i.add_service("pickup fifo n - y 60 1 pickup")
    i.add_service("cleanup unix - - y - 0 cleanup")
    i.add_service("bounce unix - - y - 0 bounce")
    i.add_service("defer unix - - y - 0 bounce")
    i.add_service("trace unix - - y - 0 bounce")
    i.postern("check")
    i.start()
    for name in ("public/pickup", "private/cleanup", "private/bounce", "private/defer",
                 "private/trace"):
        wait_for(lambda: os.path.exists(os.path.join(i.queue, name)), what=name)
    return i


@pytest.fixture
def inst(tmp_path):
    i = make_inst(tmp_path / "inst", 200)
    yield i
    i.cleanup()


@pytest.fixture
def inst_big(tmp_path):
    """bounce_size_limit large enough for a whole small message."""
    i = make_inst(tmp_path / "inst", 50000)
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
           action="failed", offset=100, mta="", diag="", notify=0):
    return ask(i, service, [("request", "append"), ("queue_id", qid), ("rcpt", rcpt),
                            ("orcpt", orcpt), ("dsn", dsn), ("action", action),
                            ("reason", reason), ("offset", offset), ("mta", mta),
                            ("diag", diag), ("notify", notify)])


def flush(i, qid, sender, queue_dir="active", request="flush", service="bounce"):
    return ask(i, service, [("request", request), ("queue_id", qid), ("queue_dir", queue_dir),
                            ("sender", sender)])


def warn(i, qid, sender, queue_dir="active"):
    return flush(i, qid, sender, queue_dir, request="warn", service="defer")


def trace(i, qid, sender, queue_dir="active"):
    return flush(i, qid, sender, queue_dir, request="trace", service="trace")


OK = {"status": 0, "reason": ""}


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


def report_groups(msg, returned="text/rfc822-headers"):
    """The message/delivery-status part: per-message fields, then one dict
    per recipient."""
    parts = msg.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", returned], parts
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
    assert per_msg["X-Postern-Queue-ID"] == qid
    assert per_msg["X-Postern-Sender"] == "rfc822; alice@example.com"
    assert "Arrival-Date" in per_msg
    assert per_rcpt == [
        {"Final-Recipient": "rfc822; bob@example.net", "Action": "failed", "Status": "5.1.1",
         "Diagnostic-Code": 'X-Postern; unknown user: "bob"'},
        {"Original-Recipient": "rfc822; list@example.net",
         "Final-Recipient": "rfc822; carol@example.net", "Action": "failed", "Status": "5.2.2",
         "Diagnostic-Code": "X-Postern; mailbox full"},
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
            ("offset", 1), ("mta", ""), ("diag", ""), ("notify", 0)]

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
        with_("action", "delayed"),  # the bounce log holds failures only
        with_("dsn", "2.0.0"),  # a failure is not a success
        with_("mta", "mx.example.net\r\nStatus: 2.0.0"),
        with_("mta", "m" * 300),
        with_("diag", "smtp; 550\nx"),
        with_("notify", 16),
        with_("notify", -1),
        [(n, v) for n, v in good if n != "notify"],  # notify missing
        [(n, v) for n, v in good if n != "mta"],  # mta missing
        with_("reason", "r" * 10000),
        with_("offset", -5),
        with_("request", "remove"),
        good + [("extra", "attribute")],
        [(n, v) for n, v in good if n != "offset"],  # offset missing
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


# ---- DSN details: RET, ENVID, NOTIFY, Remote-MTA, delay and success ---------

def submit_dsn(i, ret=None, envid=None):
    """A message like submit()'s, with the DSN attributes smtpd records
    (QF_ATTR dsn_ret=, dsn_envid=) put into its queue file by the test, as
    smtpd would have written them."""
    qid = submit(i, "alice@example.com", "bob@example.net")
    if ret is None and envid is None:
        return qid
    path = os.path.join(i.queue, "active", qid)
    data = open(path, "rb").read()
    # insert QF_ATTR records right after the first record (the magic)
    n = struct.unpack(">I", data[1:5])[0]
    head, rest = data[:5 + n], data[5 + n:]
    extra = b""
    for text in ([f"dsn_ret={ret}"] if ret else []) + ([f"dsn_envid={envid}"] if envid else []):
        t = text.encode()
        extra += b"A" + struct.pack(">I", len(t)) + t
    with open(path, "wb") as f:
        f.write(head + extra + rest)
    return qid


def test_remote_mta_and_diagnostic_code_reach_the_notice(inst):
    qid = submit(inst, "alice@example.com", "bob@example.net")
    assert append(inst, qid, "bob@example.net", "5.1.1",
                  "host mx.example.net[192.0.2.1] said: 550 5.1.1 no such user",
                  mta="mx.example.net",
                  diag="smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected",
                  notify=NOTIFY_FAILURE) == OK
    text = open(os.path.join(inst.queue, "bounce", qid)).read()
    assert "\nmta=mx.example.net\ndiag=smtp; 550 5.1.1 <bob@example.net>: Recipient address " \
           "rejected\nnotify=4\n\n" in text, text
    assert flush(inst, qid, "alice@example.com") == OK
    _, _, _, msg = the_notice(inst)
    _, per_rcpt = report_groups(msg)
    assert per_rcpt == [{
        "Final-Recipient": "rfc822; bob@example.net", "Action": "failed", "Status": "5.1.1",
        "Remote-MTA": "dns; mx.example.net",
        "Diagnostic-Code": "smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected"}]


def test_notify_filters_the_failure_notice(inst):
    qid = submit(inst, "alice@example.com", "bob@example.net")
    assert append(inst, qid, "never@example.net", notify=NOTIFY_NEVER) == OK
    assert append(inst, qid, "success@example.net", notify=NOTIFY_SUCCESS) == OK
    assert append(inst, qid, "delay@example.net", notify=NOTIFY_DELAY) == OK
    assert append(inst, qid, "fail@example.net", notify=NOTIFY_FAILURE | NOTIFY_SUCCESS) == OK
    assert append(inst, qid, "plain@example.net") == OK
    assert flush(inst, qid, "alice@example.com") == OK
    _, _, _, msg = the_notice(inst)
    _, per_rcpt = report_groups(msg)
    assert [g["Final-Recipient"] for g in per_rcpt] == [
        "rfc822; fail@example.net", "rfc822; plain@example.net"], per_rcpt
    assert not os.path.exists(os.path.join(inst.queue, "bounce", qid))


def test_no_notice_when_no_recipient_asked_for_one(inst):
    qid = submit(inst, "alice@example.com", "bob@example.net")
    assert append(inst, qid, "never@example.net", notify=NOTIFY_NEVER) == OK
    assert append(inst, qid, "success@example.net", notify=NOTIFY_SUCCESS) == OK
    assert flush(inst, qid, "alice@example.com") == OK
    assert qdir(inst, "incoming") == []
    assert not os.path.exists(os.path.join(inst.queue, "bounce", qid)), \
        "bounce log kept although nothing is to be reported"


def test_ret_full_returns_the_message_and_envid_is_echoed(inst_big):
    i = inst_big
    qid = submit_dsn(i, ret="FULL", envid="QQ314159")
    assert append(i, qid, "bob@example.net") == OK
    assert flush(i, qid, "alice@example.com") == OK
    _, _, _, msg = the_notice(i)
    per_msg, per_rcpt = report_groups(msg, "message/rfc822")
    assert per_msg["Original-Envelope-Id"] == "QQ314159"
    returned = msg.get_payload()[2].get_payload()[0]
    assert returned["Subject"] == "hello there"
    assert returned.get_payload() == "body line\n"
    human = msg.get_payload()[0].get_payload()
    assert "I'm sorry to have to inform you" in human


def test_ret_not_given_is_full_and_hdrs_returns_headers(inst_big):
    i = inst_big
    qid = submit_dsn(i)
    assert append(i, qid, "bob@example.net") == OK
    assert flush(i, qid, "alice@example.com") == OK
    new, _, _, msg = the_notice(i)
    per_msg, _ = report_groups(msg, "message/rfc822")
    assert "Original-Envelope-Id" not in per_msg
    os.unlink(os.path.join(i.queue, "incoming", new))

    qid = submit_dsn(i, ret="HDRS")
    assert append(i, qid, "bob@example.net") == OK
    assert flush(i, qid, "alice@example.com") == OK
    _, _, _, msg = the_notice(i)
    report_groups(msg, "text/rfc822-headers")
    returned = msg.get_payload()[2].get_payload()
    assert "Subject: hello there\n" in returned and "body line" not in returned


def test_ret_full_too_big_falls_back_to_headers_and_says_so(inst):
    # bounce_size_limit = 200: the message with cleanup's headers is larger
    qid = submit_dsn(inst, ret="FULL")
    assert append(inst, qid, "bob@example.net") == OK
    assert flush(inst, qid, "alice@example.com") == OK
    _, _, _, msg = the_notice(inst)
    report_groups(msg, "text/rfc822-headers")
    human = msg.get_payload()[0].get_payload()
    assert "bounce_size_limit" in human and "only its header is returned" in human, human


def test_delay_warning_lists_delay_recipients_and_keeps_the_defer_log(inst_big):
    i = inst_big
    qid = submit_dsn(i, ret="FULL", envid="env-1")
    assert append(i, qid, "slow@example.net", "4.4.1", "connect to mx.example.net[192.0.2.1]:25: "
                  "Connection refused", service="defer", action="delayed",
                  mta="mx.example.net") == OK
    assert append(i, qid, "quiet@example.net", "4.2.2", "busy", service="defer",
                  action="delayed", notify=NOTIFY_FAILURE) == OK
    assert append(i, qid, "asked@example.net", "4.2.2", "busy", service="defer",
                  action="delayed", notify=NOTIFY_DELAY) == OK
    assert warn(i, qid, "alice@example.com") == OK
    new, sender, rcpts, msg = the_notice(i)
    assert (sender, rcpts) == ("", ["alice@example.com"])
    i.wait_log(rf"{qid}: sender delay notification: {new}")
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    per_msg, per_rcpt = report_groups(msg, "text/rfc822-headers")
    assert per_msg["Original-Envelope-Id"] == "env-1"
    assert [g["Final-Recipient"] for g in per_rcpt] == [
        "rfc822; slow@example.net", "rfc822; asked@example.net"]
    assert per_rcpt[0]["Action"] == "delayed" and per_rcpt[0]["Status"] == "4.4.1"
    assert per_rcpt[0]["Remote-MTA"] == "dns; mx.example.net"
    until = email.utils.parsedate_to_datetime(per_rcpt[0]["Will-Retry-Until"]).timestamp()
    arrival = email.utils.parsedate_to_datetime(per_msg["Arrival-Date"]).timestamp()
    assert until - arrival == 5 * 86400
    human = msg.get_payload()[0].get_payload()
    assert "THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE." in human
    assert "body line" not in msg.get_payload()[2].get_payload()
    assert glob.glob(os.path.join(i.queue, "defer", "*", qid)), "defer log removed"


def test_success_notice_from_the_trace_log(inst):
    qid = submit_dsn(inst, envid="env-2")
    assert append(inst, qid, "bob@example.net", "2.0.0", "delivered to mailbox",
                  service="trace", action="delivered", notify=NOTIFY_SUCCESS) == OK
    assert append(inst, qid, "carol@example.net", "2.0.0", "250 2.0.0 Ok: queued as 4X",
                  service="trace", action="relayed", mta="mx.example.net",
                  diag="smtp; 250 2.0.0 Ok: queued as 4X",
                  notify=NOTIFY_SUCCESS | NOTIFY_FAILURE) == OK
    # what the trace log may hold: successes only
    for bad in (dict(action="failed"), dict(action="delayed", dsn="4.0.0"), dict(dsn="5.1.1")):
        kw = dict(dsn="2.0.0", reason="x", service="trace", action="delivered")
        kw.update(bad)
        assert append(inst, qid, "x@example.net", **kw)["status"] != 0, bad
    log = glob.glob(os.path.join(inst.queue, "trace", "**", qid), recursive=True)
    assert len(log) == 1
    assert trace(inst, qid, "alice@example.com") == OK
    new, sender, rcpts, msg = the_notice(inst)
    inst.wait_log(rf"{qid}: sender delivery status notification: {new}")
    assert (sender, rcpts) == ("", ["alice@example.com"])
    assert msg["Subject"] == "Successful Mail Delivery Report"
    per_msg, per_rcpt = report_groups(msg, "text/rfc822-headers")
    assert per_msg["Original-Envelope-Id"] == "env-2"
    assert per_rcpt == [
        {"Final-Recipient": "rfc822; bob@example.net", "Action": "delivered",
         "Status": "2.0.0", "Diagnostic-Code": "X-Postern; delivered to mailbox"},
        {"Final-Recipient": "rfc822; carol@example.net", "Action": "relayed",
         "Status": "2.0.0", "Remote-MTA": "dns; mx.example.net",
         "Diagnostic-Code": "smtp; 250 2.0.0 Ok: queued as 4X"}]
    assert "successfully delivered" in msg.get_payload()[0].get_payload()
    assert not os.path.exists(log[0]), "trace log left after the notice was queued"


def test_no_delay_or_success_notice_for_the_null_sender(inst):
    qid = submit(inst, "<>", "bob@example.net")
    assert append(inst, qid, "bob@example.net", "4.2.2", "busy", service="defer",
                  action="delayed") == OK
    assert append(inst, qid, "bob@example.net", "2.0.0", "ok", service="trace",
                  action="delivered", notify=NOTIFY_SUCCESS) == OK
    assert warn(inst, qid, "") == OK
    assert trace(inst, qid, "") == OK
    assert qdir(inst, "incoming") == []
    assert glob.glob(os.path.join(inst.queue, "defer", "*", qid)), "defer log must stay"
    assert not glob.glob(os.path.join(inst.queue, "trace", "**", qid), recursive=True)


# ---- end to end: smtplib -> smtpd -> qmgr -> local -> bounce ----------------

@pytest.fixture
def smtp_sys(tmp_path):
    from smtpsys import SmtpSystem
    # local_recipient_maps empty: smtpd accepts any local name, and local(8)
    # bounces the unknown ones (what this test needs: a delivery failure)
    s = SmtpSystem(tmp_path / "inst", users=("ptb_amy", "ptb_bob"),
                   main={"local_recipient_maps": "", "bounce_size_limit": "50000"})
    s.start()
    yield s
    s.cleanup()


def send_dsn(s, rcpts, mail_options=(), rcpt_options=(), subject="dsn test"):
    msgid = subject.replace(" ", ".")
    body = (f"From: ptb_amy@test.example\r\nTo: x\r\nSubject: {subject}\r\n"
            f"Message-Id: <{msgid}@test.example>\r\n\r\nthe body\r\n")
    with s.smtp() as c:
        c.ehlo("client.example")
        refused = c.sendmail("ptb_amy@test.example", rcpts, body.encode(),
                             mail_options=list(mail_options), rcpt_options=list(rcpt_options))
        assert refused == {}, refused


def notices_for(s, user, n, timeout=60):
    wait_for(lambda: len(s.mbox_messages(user)) >= n, timeout=timeout,
             what=f"{n} message(s) for {user}; log tail:\n" + s.inst.read_log()[-3000:])
    return s.mbox_messages(user)


def dsn_fields(msg):
    """(per-message dict, [per-recipient dicts]) of a notice parsed with
    email.policy.default."""
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "delivery-status"
    parts = list(msg.iter_parts())
    assert parts[1].get_content_type() == "message/delivery-status"
    groups = parts[1].get_payload()
    return dict(groups[0].items()), [dict(g.items()) for g in groups[1:]], parts


def test_e2e_unknown_user_failure_notice_with_ret_hdrs_and_envid(smtp_sys):
    s = smtp_sys
    send_dsn(s, ["nosuchuser@test.example"], mail_options=["RET=HDRS", "ENVID=QQ+2B314"],
             rcpt_options=["NOTIFY=FAILURE,SUCCESS", "ORCPT=rfc822;NoSuchUser@test.example"],
             subject="e2e hdrs")
    msgs = notices_for(s, "ptb_amy", 1)
    msg = msgs[0]
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    per_msg, per_rcpt, parts = dsn_fields(msg)
    assert per_msg["Reporting-MTA"] == "dns; test.example"
    assert per_msg["Original-Envelope-Id"] == "QQ+314"  # xtext decoded (RFC 3461 4.4)
    assert per_msg["X-Postern-Sender"] == "rfc822; ptb_amy@test.example"
    assert len(per_rcpt) == 1, per_rcpt
    r = per_rcpt[0]
    assert r["Final-Recipient"] == "rfc822; nosuchuser@test.example"
    assert r["Original-Recipient"] == "rfc822; NoSuchUser@test.example"
    assert r["Action"] == "failed"
    assert r["Status"].startswith("5."), r
    assert r["Diagnostic-Code"].startswith("X-Postern; "), r
    assert parts[2].get_content_type() == "text/rfc822-headers"
    assert "Subject: e2e hdrs" in parts[2].get_payload()
    assert "the body" not in parts[2].get_payload()
    s.wait_delivered()
    assert s.log_problems() == []


def test_e2e_ret_full_returns_the_message(smtp_sys):
    s = smtp_sys
    send_dsn(s, ["nosuchuser@test.example"], mail_options=["RET=FULL"],
             rcpt_options=["NOTIFY=FAILURE"], subject="e2e full")
    msg = notices_for(s, "ptb_amy", 1)[0]
    per_msg, _, parts = dsn_fields(msg)
    assert "Original-Envelope-Id" not in per_msg
    assert parts[2].get_content_type() == "message/rfc822"
    returned = parts[2].get_payload()[0]
    assert returned["Subject"] == "e2e full"
    assert returned.get_payload().strip() == "the body"


def test_e2e_notify_never_sends_nothing(smtp_sys):
    s = smtp_sys
    send_dsn(s, ["nosuchuser@test.example"], rcpt_options=["NOTIFY=NEVER"], subject="e2e never")
    s.wait_delivered()
    s.inst.wait_log(r"to=<nosuchuser@test\.example>.*status=bounced")
    time.sleep(2)  # give a notice, if one were made, time to arrive
    assert s.mbox_messages("ptb_amy") == []
    assert s.queue_files("bounce") == [], "bounce log kept although no notice is due"


def test_e2e_notify_success_gives_a_success_notice(smtp_sys):
    s = smtp_sys
    send_dsn(s, ["ptb_bob@test.example"], mail_options=["ENVID=e2e-ok"],
             rcpt_options=["NOTIFY=SUCCESS"], subject="e2e success")
    delivered = notices_for(s, "ptb_bob", 1)
    assert delivered[0]["Subject"] == "e2e success"
    msg = notices_for(s, "ptb_amy", 1)[0]
    assert msg["Subject"] == "Successful Mail Delivery Report"
    per_msg, per_rcpt, parts = dsn_fields(msg)
    assert per_msg["Original-Envelope-Id"] == "e2e-ok"
    assert [(r["Final-Recipient"], r["Action"], r["Status"]) for r in per_rcpt] == [
        ("rfc822; ptb_bob@test.example", "delivered", "2.0.0")]
    assert parts[2].get_content_type() == "text/rfc822-headers"
    s.wait_delivered()
    assert not glob.glob(os.path.join(s.inst.queue, "trace", "**", "[0-9A-Z]*"), recursive=True)
