"""cleanup(8) against a real instance: the cleanup protocol of mail_proto.h,
the queue file in incoming/ (read back with postcat), header fix-ups for
local submission, and rejection without leftovers."""

import os
import socket
import subprocess
import time

import attrproto
from conftest import SBIN, wait_for

CLEANUP_FLAG_EXTRACT_RCPT = 1
CLEANUP_FLAG_LOCAL_SUBMIT = 2
CLEANUP_STAT_SIZE = 4
CLEANUP_STAT_BAD = 1


def start_cleanup(instance, **main):
    instance.main.update(main)
    instance.add_service("cleanup unix - - n - 0 cleanup")
    instance.start()
    path = os.path.join(instance.queue, "private", "cleanup")
    wait_for(lambda: os.path.exists(path), what="private/cleanup socket")
    return path


def submit(path, flags, records, chunk=7):
    """Send one message; returns (queue_id, final reply)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(path)
    f = s.makefile("rwb")
    try:
        attrproto.send(f, [("flags", flags)])
        first = attrproto.decode(f)
        assert first.get("status") == 0, f"cleanup refused the request: {first}"
        qid = first["queue_id"]
        for rtype, data in records:
            if rtype == "C":
                for i in range(0, len(data), chunk):
                    attrproto.send(f, [("type", ord("C")), ("data", data[i:i + chunk])])
            else:
                attrproto.send(f, [("type", ord(rtype)), ("data", data)])
        attrproto.send(f, [("type", ord("E")), ("data", b"")])
        return qid, attrproto.decode(f)
    finally:
        f.close()
        s.close()


def incoming(instance):
    d = os.path.join(instance.queue, "incoming")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_local_message_is_queued_with_added_headers(instance):
    path = start_cleanup(instance, myorigin="origin.example")
    qid, rep = submit(path, CLEANUP_FLAG_LOCAL_SUBMIT, [
        ("S", b"alice"),
        ("A", b"uid=1234"),
        ("A", b"sender_fullname=Alice Liddell"),
        ("R", b"bob@example.net"),
        ("R", b"bob@EXAMPLE.net"),
        ("C", b"Subject: hello\n\nfirst body line\nsecond\n"),
    ])
    assert rep == {"status": 0, "reason": ""}, rep
    assert incoming(instance) == [qid], f"incoming/ holds {incoming(instance)}, want {qid}"
    out = subprocess.run([os.path.join(SBIN, "postcat"), "-c", instance.etc,
                          os.path.join(instance.queue, "incoming", qid)],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "sender: alice@origin.example" in text, text
    assert text.count("recipient: bob@") == 1, f"duplicate recipient kept:\n{text}"
    assert f"Received: by test.example (Postern, from userid 1234)\n\tid {qid}; " in text, text
    assert "From: Alice Liddell <alice@origin.example>\n" in text, text
    assert "\nDate: " in text and f".{qid}@test.example>" in text, text
    assert "Subject: hello\n" in text and "\n\nfirst body line\nsecond\n" in text, text
    instance.wait_log(rf"postern/cleanup\[\d+\]: {qid}: message-id=<\d+\.{qid}@test\.example>")


def test_extract_recipients_and_bcc_removal(instance):
    path = start_cleanup(instance)
    qid, rep = submit(path, CLEANUP_FLAG_EXTRACT_RCPT, [
        ("S", b"a@example.org"),
        ("C", b"To: x@example.net\nBcc: hidden@example.net\n\nbody\n"),
    ], chunk=1)
    assert rep["status"] == 0, rep
    out = subprocess.run([os.path.join(SBIN, "postcat"), "-c", instance.etc,
                          os.path.join(instance.queue, "incoming", qid)],
                         capture_output=True, text=True, timeout=20).stdout
    assert "recipient: x@example.net" in out and "recipient: hidden@example.net" in out, out
    assert "Bcc:" not in out, out


def test_too_big_message_is_rejected_and_nothing_stays(instance):
    path = start_cleanup(instance, message_size_limit="1000")
    qid, rep = submit(path, 0, [
        ("S", b"a@example.org"),
        ("R", b"b@example.net"),
        ("C", b"Subject: big\n\n" + b"x" * 2000 + b"\n"),
    ], chunk=500)
    assert rep == {"status": CLEANUP_STAT_SIZE, "reason": "5.3.4 message file too big"}, rep
    assert incoming(instance) == [], f"leftovers in incoming/: {incoming(instance)}"
    instance.wait_log(rf"{qid}: reject: 5\.3\.4 message file too big; from=<a@example\.org>")


def test_bad_record_is_rejected_and_nothing_stays(instance):
    path = start_cleanup(instance)
    _, rep = submit(path, 0, [("S", b"a@example.org"), ("Q", b"junk"), ("R", b"b@example.net")])
    assert rep["status"] == CLEANUP_STAT_BAD, rep
    assert incoming(instance) == [], f"leftovers in incoming/: {incoming(instance)}"


def test_client_that_disconnects_leaves_nothing(instance):
    path = start_cleanup(instance)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rwb")
    attrproto.send(f, [("flags", 0)])
    qid = attrproto.decode(f)["queue_id"]
    attrproto.send(f, [("type", ord("S")), ("data", b"a@b")])
    f.close()
    s.close()
    instance.wait_log(rf"{qid}: lost connection")
    time.sleep(0.2)
    assert incoming(instance) == [], f"leftovers in incoming/: {incoming(instance)}"
