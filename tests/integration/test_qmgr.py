"""qmgr: incoming -> active -> agent -> removed or deferred.

An instance with pickup, cleanup, qmgr, bounce and defer. There is no smtp
service, so mail for other domains meets "mail transport unavailable"; a
Python stand-in for a delivery agent listens on private/<name> where a test
needs one. Queue files are written by hand where a test needs a file that
cleanup would never make (damaged, left in active/ by a crash).

The local delivery agent and the end-to-end delivery tests are elsewhere
(test_delivery.py).
"""

import os
import pwd
import re
import socket
import subprocess
import time

import pytest

import attrproto
from conftest import IS_ROOT, LIBEXEC, SBIN, Instance, ensure_accounts, wait_for
from fakeagent import FakeAgent

ID_ACTIVE = "0123456789BCDFGH"
ID_ACTIVE_DONE = "0123456789BCDFGJ"
ID_DAMAGED = "0123456789BCDFGK"
ID_AGENT = "0123456789BCDFGL"
ID_EXPIRE = "0123456789BCDFGM"


def start_instance(tmp_path, main=None, extra=()):
    for prog in ("master", "pickup", "cleanup", "qmgr", "bounce"):
        if not os.access(os.path.join(LIBEXEC, prog), os.X_OK):
            pytest.fail(f"{LIBEXEC}/{prog} is not built; run `make` first")
    ensure_accounts()
    i = Instance(tmp_path / "inst")
    i.main.update(main or {})
    i.write_config()
    i.add_service("pickup    unix  n  -  y  60   1  pickup")
    i.add_service("cleanup   unix  -  -  y  -    0  cleanup")
    i.add_service("qmgr      unix  n  -  y  300  1  qmgr")
    i.add_service("bounce    unix  -  -  y  -    0  bounce")
    i.add_service("defer     unix  -  -  y  -    0  bounce")
    for line in extra:
        i.add_service(line)
    i.postern("check")
    return i


@pytest.fixture
def inst(tmp_path):
    i = start_instance(tmp_path)
    i.start()
    wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "qmgr")), what="public/qmgr")
    yield i
    i.cleanup()


def owner_ids(i):
    pw = pwd.getpwnam(i.main.get("mail_owner", "postern"))
    return pw.pw_uid, pw.pw_gid


def files_under(i, queue):
    """{queue ID: path} of the files below queue/ (hashed or not)."""
    out = {}
    for d, _, names in os.walk(os.path.join(i.queue, queue)):
        for n in names:
            out[n] = os.path.join(d, n)
    return out


def record(t, payload):
    return t.encode() + len(payload).to_bytes(4, "big") + payload


def queue_file(sender, rcpts, arrival=None, end=True, done=()):
    """A queue file in queue_file.h format; rcpts listed in done are QF_DONE."""
    arrival = time.time() if arrival is None else arrival
    body = b"Subject: qmgr test\n\nhello\n"
    data = record("V", b"POSTERN1") + record("T", b"%d.000000" % int(arrival))
    data += record("Z", str(len(body)).encode()) + record("S", sender.encode())
    for r in rcpts:
        data += record("D" if r in done else "R", r.encode())
    data += record("C", body)
    if end:
        data += record("E", b"")
    return data


def put_file(i, queue, qid, data):
    """Write a queue file as cleanup would: complete, then renamed in."""
    tmp = os.path.join(i.queue, queue, "." + qid + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)
    if IS_ROOT:
        os.chown(tmp, *owner_ids(i))
    os.rename(tmp, os.path.join(i.queue, queue, qid))


def trigger(i, byte):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(os.path.join(i.queue, "public", "qmgr"))
        s.sendall(byte)
    finally:
        s.close()


def sendmail(i, rcpt):
    argv = [os.path.join(SBIN, "sendmail"), "-C", os.path.join(i.etc, "main.cf"),
            "-f", "alice@test.example", rcpt]
    p = subprocess.run(argv, input=b"Subject: qmgr test\n\nhello\n", capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr.decode()


def queue_id_of(i, rcpt, timeout=10):
    m = i.wait_log(rf"(\w+): to=<{re.escape(rcpt)}>", timeout=timeout)
    return m.group(1)


def test_mail_for_a_domain_without_transport_is_deferred_until_later(inst):
    sendmail(inst, "bob@remote.example")
    qid = queue_id_of(inst, "bob@remote.example")
    inst.wait_log(rf"{qid}: from=<alice@test\.example>, size=\d+, nrcpt=1 \(queue active\)")
    inst.wait_log(rf"{qid}: to=<bob@remote\.example>, relay=none, delay=[\d.]+, dsn=4\.3\.0, "
                  rf"status=deferred \(mail transport unavailable\)")
    inst.wait_log(r"warning: connect to transport private/smtp: ")
    path = wait_for(lambda: files_under(inst, "deferred").get(qid), what="file in deferred/")
    # hashed: deferred/H/ID
    assert os.path.dirname(os.path.dirname(path)) == os.path.join(inst.queue, "deferred")
    # next attempt: now + minimal_backoff_time (300s) for a new message
    assert os.stat(path).st_mtime > time.time() + 200
    assert qid not in files_under(inst, "active")
    # the reason is in the defer log for mailq
    log = wait_for(lambda: files_under(inst, "defer").get(qid), what="defer log")
    with open(log) as f:
        text = f.read()
    assert "recipient=bob@remote.example" in text and "mail transport unavailable" in text


def test_trigger_d_retries_deferred_mail_at_once(inst):
    sendmail(inst, "carol@remote.example")
    qid = queue_id_of(inst, "carol@remote.example")
    wait_for(lambda: files_under(inst, "deferred").get(qid), what="file in deferred/")
    assert len(re.findall(rf"{qid}: from=<", inst.read_log())) == 1
    trigger(inst, b"D")
    wait_for(lambda: len(re.findall(rf"{qid}: from=<", inst.read_log())) == 2,
             what="second activation after trigger D")
    wait_for(lambda: len(re.findall(rf"{qid}: to=<carol@remote\.example>.*status=deferred",
                                    inst.read_log())) == 2, what="second deferral")
    path = wait_for(lambda: files_under(inst, "deferred").get(qid), what="back in deferred/")
    assert os.stat(path).st_mtime > time.time() + 200
    # A wakeup ('W') takes only due mail: the message is not tried again.
    trigger(inst, b"W")
    time.sleep(1)
    assert len(re.findall(rf"{qid}: from=<", inst.read_log())) == 2


def test_damaged_file_in_incoming_goes_to_corrupt(inst):
    put_file(inst, "incoming", ID_DAMAGED, queue_file("a@test.example", ["b@remote.example"],
                                                      end=False))
    trigger(inst, b"I")
    wait_for(lambda: ID_DAMAGED in files_under(inst, "corrupt"), what="file in corrupt/")
    inst.wait_log(rf"warning: {ID_DAMAGED}: .*no end record")
    inst.wait_log(rf"warning: saving corrupt file \"{ID_DAMAGED}\" from queue \"incoming\" to "
                  rf"queue \"corrupt\"")
    assert ID_DAMAGED not in files_under(inst, "incoming")
    assert ID_DAMAGED not in files_under(inst, "active")


def test_files_left_in_active_are_taken_up_at_start(tmp_path):
    i = start_instance(tmp_path)
    try:
        put_file(i, "active", ID_ACTIVE, queue_file("a@test.example", ["dave@remote.example"]))
        put_file(i, "active", ID_ACTIVE_DONE,
                 queue_file("a@test.example", ["x@remote.example"], done=["x@remote.example"]))
        i.start()
        i.wait_log(rf"{ID_ACTIVE}: to=<dave@remote\.example>, .*status=deferred "
                   rf"\(mail transport unavailable\)")
        wait_for(lambda: ID_ACTIVE in files_under(i, "deferred"), what="recovered file deferred")
        # every recipient was done already: nothing to deliver, the file goes
        i.wait_log(rf"{ID_ACTIVE_DONE}: removed")
        assert files_under(i, "active") == {}
        assert ID_ACTIVE_DONE not in files_under(i, "incoming")
    finally:
        i.cleanup()


def test_agent_reply_ok_removes_the_message_and_groups_recipients(tmp_path):
    i = start_instance(tmp_path, main={"default_transport": "fake",
                                       "default_destination_recipient_limit": "2"})
    agent = None
    try:
        i.start()
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "qmgr")),
                 what="public/qmgr")
        agent = FakeAgent(i, "fake", 0, "2.0.0", "delivered")
        rcpts = ["r1@one.example", "r2@one.example", "r3@one.example", "r4@two.example"]
        put_file(i, "incoming", ID_AGENT, queue_file("a@test.example", rcpts))
        trigger(i, b"I")
        i.wait_log(rf"{ID_AGENT}: removed")
        # one.example: 3 recipients at 2 per request; two.example: 1
        got = sorted(sorted(r[f"rcpt_addr_{k}"] for k in range(r["rcpt_count"]))
                     for r in agent.requests)
        assert got == [["r1@one.example", "r2@one.example"], ["r3@one.example"],
                       ["r4@two.example"]]
        for r in agent.requests:
            assert r["queue_dir"] == "active" and r["sender"] == "a@test.example"
            assert r["nexthop"] in ("one.example", "two.example")
        assert ID_AGENT not in files_under(i, "active")
        assert ID_AGENT not in files_under(i, "deferred")
    finally:
        if agent:
            agent.close()
        i.cleanup()


def test_active_limit_of_one_still_delivers_every_message(tmp_path):
    i = start_instance(tmp_path, main={"default_transport": "fake",
                                       "qmgr_message_active_limit": "1",
                                       "fake_destination_recipient_limit": "1"})
    agent = None
    ids = [f"0123456789BCDF{c}{d}" for c in "WX" for d in "BCD"]
    try:
        i.start()
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "qmgr")),
                 what="public/qmgr")
        agent = FakeAgent(i, "fake", 0, "2.0.0", "delivered", split=True)
        for qid in ids:
            put_file(i, "incoming", qid,
                     queue_file("a@test.example", ["p@x.example", "q@x.example"]))
        trigger(i, b"I")
        for qid in ids:
            i.wait_log(rf"{qid}: removed")
        # fake_destination_recipient_limit = 1: one request per recipient
        assert len(agent.requests) == 2 * len(ids)
        assert all(r["rcpt_count"] == 1 for r in agent.requests)
        # never two messages active at once: each removal precedes the next activation
        log = i.read_log()
        order = re.findall(r"(\w+): (from=<a@|removed)", log)
        assert [x[1] for x in order] == ["from=<a@", "removed"] * len(ids)
    finally:
        if agent:
            agent.close()
        i.cleanup()


def test_stuck_agent_is_given_up_after_ipc_timeout(tmp_path):
    i = start_instance(tmp_path, main={"default_transport": "stuck", "ipc_timeout": "2s"})
    srv = None
    try:
        i.start()
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "qmgr")),
                 what="public/qmgr")
        path = os.path.join(i.queue, "private", "stuck")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        os.chmod(path, 0o666)
        srv.listen(4)
        put_file(i, "incoming", ID_AGENT, queue_file("a@test.example", ["s@remote.example"]))
        trigger(i, b"I")
        srv.settimeout(10)
        conn, _ = srv.accept()  # accepted, read, never answered
        i.wait_log(rf"warning: {ID_AGENT}: private/stuck: no reply within 2 seconds")
        i.wait_log(rf"{ID_AGENT}: to=<s@remote\.example>, .*status=deferred "
                   rf"\(unknown mail transport error\)")
        wait_for(lambda: ID_AGENT in files_under(i, "deferred"), what="file in deferred/")
        conn.close()
    finally:
        if srv:
            srv.close()
        i.cleanup()


def test_expired_mail_is_returned_to_the_sender(tmp_path):
    i = start_instance(tmp_path, main={"default_transport": "fake",
                                       "maximal_queue_lifetime": "1d"})
    agent = None
    try:
        i.start()
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "qmgr")),
                 what="public/qmgr")
        agent = FakeAgent(i, "fake", 1, "4.4.1", "connection timed out")
        put_file(i, "incoming", ID_EXPIRE,
                 queue_file("a@test.example", ["late@remote.example"],
                            arrival=time.time() - 2 * 86400))
        trigger(i, b"I")
        i.wait_log(rf"{ID_EXPIRE}: to=<late@remote\.example>, relay=none, delay=\d+, "
                   rf"dsn=4\.4\.1, status=expired, returned to sender \(connection timed out\)")
        i.wait_log(rf"{ID_EXPIRE}: from=<a@test\.example>, status=expired, returned to sender")
        i.wait_log(rf"{ID_EXPIRE}: removed")
        # the notice is a new message from the null sender
        i.wait_log(r"(\w+): from=<>, size=\d+, nrcpt=1 \(queue active\)")
    finally:
        if agent:
            agent.close()
        i.cleanup()


def test_agent_that_dies_without_reply_defers(tmp_path):
    i = start_instance(tmp_path, main={"default_transport": "mute"})
    try:
        i.start()
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "qmgr")),
                 what="public/qmgr")
        path = os.path.join(i.queue, "private", "mute")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        os.chmod(path, 0o666)
        srv.listen(4)
        put_file(i, "incoming", ID_AGENT, queue_file("a@test.example", ["e@remote.example"]))
        trigger(i, b"I")
        srv.settimeout(10)
        conn, _ = srv.accept()
        conn.settimeout(5)
        attrproto.decode(conn.makefile("rb"))
        conn.close()  # dies before replying
        srv.close()
        i.wait_log(rf"{ID_AGENT}: to=<e@remote\.example>, relay=none, .*dsn=4\.3\.0, "
                   rf"status=deferred \(unknown mail transport error\)")
        wait_for(lambda: ID_AGENT in files_under(i, "deferred"), what="file in deferred/")
    finally:
        i.cleanup()
