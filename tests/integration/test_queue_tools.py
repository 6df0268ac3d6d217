"""The queue tools against a real instance: showq(8) behind postqueue -p / -j
and mailq, postqueue -f, and postsuper -d / -h / -H / -r / -s / -p.

The instance runs pickup, cleanup and showq but no qmgr, so submitted mail
stays in incoming/ and every move is postsuper's (or the test's) own. A
listing is compared byte for byte with what the queue files say.
"""

import grp
import json
import os
import pathlib
import pwd
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import IS_ROOT, LIBEXEC, SBIN, Instance, ensure_accounts, wait_for

EX_NOPERM, EX_UNAVAILABLE, EX_USAGE = 77, 69, 64
HEADING = "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"
INDENT = " " * 47
MESSAGE_QUEUES = ("incoming", "active", "deferred", "hold")


def start(tmp_path, showq=True):
    for prog in ("postqueue", "postsuper", "sendmail", "postdrop", "postern"):
        if not os.access(os.path.join(SBIN, prog), os.X_OK):
            pytest.fail(f"{SBIN}/{prog} is not built; run `make` first")
    for prog in ("master", "pickup", "cleanup", "showq"):
        if not os.access(os.path.join(LIBEXEC, prog), os.X_OK):
            pytest.fail(f"{LIBEXEC}/{prog} is not built; run `make` first")
    ensure_accounts()
    i = Instance(tmp_path / "inst")
    i.add_service("pickup fifo n - y 60 1 pickup")
    i.add_service("cleanup unix - - y - 0 cleanup")
    if showq:
        i.add_service("showq unix n - y - - showq")
    i.postern("check")
    i.start()
    wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "pickup")),
             what="public/pickup")
    if showq:
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "showq")),
                 what="public/showq")
    return i


def stop(i):
    i.cleanup()
    reports = i.sanitizer_reports()
    if reports:
        text = "".join(open(r, errors="replace").read() for r in reports)
        pytest.fail(f"sanitizer reports from daemons:\n{text[:5000]}")


@pytest.fixture
def inst(tmp_path):
    i = start(tmp_path)
    yield i
    stop(i)


def utc_env():
    """Arrival times are local time: the tests pin the zone."""
    return dict(os.environ, TZ="UTC")


def run(i, prog, *args, input="", pre=()):
    argv = [*pre, os.path.join(SBIN, prog), "-c", i.etc, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=utc_env(), input=input)


def sendmail(i, *rcpts, sender="alice@example.com", body="Subject: test\n\nhello\n"):
    argv = [os.path.join(SBIN, "sendmail"), "-C", os.path.join(i.etc, "main.cf"),
            "-f", sender, *rcpts]
    p = subprocess.run(argv, input=body.encode(), capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()


def queue_files(i, queue):
    """{id: path} of the queue files below queue/, hashed or flat."""
    out = {}
    for root, _dirs, files in os.walk(os.path.join(i.queue, queue)):
        for f in files:
            if not f.startswith("."):
                out[f] = os.path.join(root, f)
    return out


def wait_incoming(i, n):
    """Wait until pickup is done: n files in incoming/ and maildrop/ empty
    (showq lists maildrop/ too, and pickup removes a file there only after
    cleanup has put the message in incoming/)."""
    def done():
        files = queue_files(i, "incoming")
        return len(files) == n and not os.listdir(os.path.join(i.queue, "maildrop")) and files
    return wait_for(done, what=f"{n} files in incoming/; log:\n{i.read_log()[-2000:]}")


def records(path):
    """[(type, payload, offset)] of a queue file."""
    data = open(path, "rb").read()
    out, off = [], 0
    while off < len(data):
        t, n = chr(data[off]), struct.unpack(">I", data[off + 1:off + 5])[0]
        out.append((t, data[off + 5:off + 5 + n], off))
        off += 5 + n
    return out


def envelope(path):
    recs = records(path)
    one = lambda t: next(p for (r, p, _o) in recs if r == t).decode()
    return {
        "arrival": int(one("T").split(".")[0]),
        "size": int(one("Z")),
        "sender": one("S"),
        "rcpts": [(p.decode(), o) for (r, p, o) in recs if r == "R"],
    }


def asctime19(t):
    return time.asctime(time.gmtime(t))[:19]


def sender_line(qid, mark, env, shown_sender=None):
    return (f"{qid + mark:<17} {env['size']:>8} {asctime19(env['arrival'])} "
            f"{shown_sender if shown_sender is not None else env['sender']}\n")


def write_queue_file(path, sender, rcpts, arrival=1605952800, content=b"Subject: x\n\nbody\n"):
    """A queue file as cleanup writes it, owned by mail_owner."""
    def rec(t, p):
        return t.encode() + struct.pack(">I", len(p)) + p
    data = rec("V", b"POSTERN1") + rec("T", f"{arrival}.000001".encode())
    data += rec("Z", str(len(content)).encode()) + rec("S", sender)
    for r in rcpts:
        data += rec("R", r)
    data += rec("C", content) + rec("E", b"")
    with open(path, "wb") as f:
        f.write(data)
    chown_owner(path)
    return data


def chown_owner(path):
    if IS_ROOT:
        pw = pwd.getpwnam("postern")
        os.chown(path, pw.pw_uid, pw.pw_gid)
    os.chmod(path, 0o600)


def hashed_dir(i, queue, qid):
    """Where queue_path puts qid at the default depth 1 (see postern-queue(5))."""
    d = os.path.join(i.queue, queue, qid[10])
    os.makedirs(d, exist_ok=True)
    if IS_ROOT:
        pw = pwd.getpwnam("postern")
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


# ---- listing ------------------------------------------------------------------

def test_empty_queue(inst):
    p = run(inst, "postqueue", "-p")
    assert (p.returncode, p.stdout, p.stderr) == (0, "Mail queue is empty\n", "")
    p = run(inst, "postqueue", "-j")
    assert (p.returncode, p.stdout) == (0, "")


def test_listing_text_and_json_are_exact(inst):
    sendmail(inst, "bob@example.com", "carol@example.org")
    sendmail(inst, "dave@example.net", sender="<>")
    files = wait_incoming(inst, 2)
    ids = sorted(files)
    envs = [envelope(files[q]) for q in ids]
    assert envs[1]["sender"] == ""

    want = HEADING
    for n, (qid, env) in enumerate(zip(ids, envs)):
        if n:
            want += "\n"
        want += sender_line(qid, "", env, env["sender"] or "MAILER-DAEMON")
        want += "".join(f"{INDENT}{r}\n" for r, _off in env["rcpts"])
    want += f"\n-- {(envs[0]['size'] + envs[1]['size']) // 1024} Kbytes in 2 Requests.\n"

    p = run(inst, "postqueue", "-p")
    assert p.returncode == 0, p.stderr
    assert p.stdout == want

    # mailq is postqueue -p under another name, and sendmail -bp runs it.
    link = os.path.join(inst.base, "mailq")
    os.symlink(os.path.join(SBIN, "postqueue"), link)
    m = subprocess.run([link, "-c", inst.etc], capture_output=True, text=True, env=utc_env(),
                       timeout=30)
    assert (m.returncode, m.stdout) == (0, want), m.stderr
    s = subprocess.run([os.path.join(SBIN, "sendmail"), "-C", os.path.join(inst.etc, "main.cf"),
                        "-bp"], capture_output=True, text=True, env=utc_env(), timeout=30)
    assert (s.returncode, s.stdout) == (0, want), s.stderr

    p = run(inst, "postqueue", "-j")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and p.stdout.endswith("\n")
    for line, qid, env in zip(lines, ids, envs):
        assert json.loads(line) == {
            "queue_name": "incoming", "queue_id": qid, "arrival_time": env["arrival"],
            "message_size": env["size"], "force_expired": False,
            "sender": env["sender"] or "MAILER-DAEMON",
            "recipients": [{"address": r} for r, _off in env["rcpts"]]}


def test_hostile_bytes_are_escaped(inst):
    qid = "1LP7X803SL00044L"
    write_queue_file(os.path.join(inst.queue, "hold", qid), b'evil"\\@x',
                     [b"a\x1b[2Jb@x", b"caf\xc3\xa9@x", b"bad\xff@x", b"john doe@x"])
    p = run(inst, "postqueue", "-p")
    assert p.returncode == 0, p.stderr
    assert p.stdout == (HEADING + f"{qid}!{' ' * 7}17 Sat Nov 21 10:00:00 \"evil\\\"\\\\\"@x\n"
                        f"{INDENT}\"a?[2Jb\"@x\n{INDENT}caf\u00e9@x\n{INDENT}bad?@x\n"
                        f"{INDENT}\"john doe\"@x\n\n-- 0 Kbytes in 1 Request.\n")
    p = run(inst, "postqueue", "-j")
    assert p.returncode == 0, p.stderr
    assert '"address": "\\"a\\u001B[2Jb\\"@x"' in p.stdout, p.stdout
    obj = json.loads(p.stdout)
    assert obj["sender"] == '"evil\\"\\\\"@x'
    assert [r["address"] for r in obj["recipients"]] == [
        '"a\x1b[2Jb"@x', 'caf\u00e9@x', 'bad?@x', '"john doe"@x']


def test_defer_reasons_are_shown(inst):
    sendmail(inst, "bob@example.com", "carol@example.org", "dave@example.net")
    (qid, path), = wait_incoming(inst, 1).items()
    env = envelope(path)
    # Deferred mail with a defer log, as qmgr and the bounce service leave it.
    dst = os.path.join(hashed_dir(inst, "deferred", qid), qid)
    os.rename(path, dst)
    log = os.path.join(hashed_dir(inst, "defer", qid), qid)
    (bob, bob_off), (carol, carol_off), (dave, _) = env["rcpts"]
    with open(log, "w") as f:
        for rcpt, off, reason in ((bob, bob_off, "old reason"), (carol, carol_off, "host down"),
                                  (bob, bob_off, "host down")):
            f.write(f"recipient={rcpt}\norcpt={rcpt}\noffset={off}\nstatus=4.4.1\n"
                    f"action=delayed\ntime=1600000000\nreason={reason}\n\n")
    chown_owner(log)
    p = run(inst, "postqueue", "-p")
    assert p.returncode == 0, p.stderr
    assert p.stdout == (HEADING + sender_line(qid, "", env) +
                        " " * 67 + "(host down)\n" + f"{INDENT}{bob}\n{INDENT}{carol}\n" +
                        " " * 58 + "(reason unavailable)\n" + f"{INDENT}{dave}\n" +
                        f"\n-- {env['size'] // 1024} Kbytes in 1 Request.\n")
    obj = json.loads(run(inst, "postqueue", "-j").stdout)
    assert obj["queue_name"] == "deferred"
    assert obj["recipients"] == [{"address": bob, "delay_reason": "host down"},
                                 {"address": carol, "delay_reason": "host down"},
                                 {"address": dave}]


def test_damaged_and_garbage_files_do_not_break_the_listing(inst):
    sendmail(inst, "bob@example.com")
    (good, path), = wait_incoming(inst, 1).items()
    garbage = "1LP7X803SL00044M"
    g = os.path.join(hashed_dir(inst, "deferred", garbage), garbage)
    with open(g, "wb") as f:
        f.write(b"this is not a queue file\n" * 100)
    chown_owner(g)
    # A file cut short after its envelope: listed as far as it goes.
    cut = "1LP7X803SL00044N"
    data = open(path, "rb").read()
    c = os.path.join(inst.queue, "hold", cut)
    with open(c, "wb") as f:
        f.write(data[:len(data) - 5 - 10])
    chown_owner(c)
    # Things that are not files, and a link out of the queue.
    os.mkfifo(os.path.join(inst.queue, "hold", "1LP7X803SL00044P"))
    os.symlink("/etc/passwd", os.path.join(inst.queue, "hold", "1LP7X803SL00044Q"))
    for _ in range(2):  # and showq is still there for the next client
        p = run(inst, "postqueue", "-p")
        assert p.returncode == 0, p.stderr
        assert f"\n{good} " in p.stdout and f"\n{cut}! " in p.stdout, p.stdout
        assert garbage not in p.stdout and "44P" not in p.stdout and "44Q" not in p.stdout
        assert p.stdout.endswith(" Kbytes in 2 Requests.\n"), p.stdout
    inst.wait_log(rf"postern/showq\[\d+\]: warning: .*hold/{cut}: damaged queue file")
    inst.wait_log(rf"postern/showq\[\d+\]: warning: .*{garbage}")
    assert "panic" not in inst.read_log()


def test_showq_down_is_reported(tmp_path):
    i = start(tmp_path, showq=False)
    try:
        p = run(i, "postqueue", "-p")
        assert p.returncode == EX_UNAVAILABLE, p
        assert "postqueue: fatal: Queue report unavailable - mail system is down" in p.stderr
        assert p.stdout == ""
    finally:
        stop(i)


class FakeQmgr:
    """A listener on public/qmgr that records what one client writes."""

    def __init__(self, inst):
        self.got = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(inst.queue, "public", "qmgr")
        self.srv.bind(path)
        os.chmod(path, 0o666)  # as master's sockets: the directory guards them
        self.srv.listen(1)
        self.srv.settimeout(10)
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        try:
            c, _ = self.srv.accept()
        except OSError:
            return
        c.settimeout(10)
        data = b""
        while True:
            b = c.recv(16)
            if not b:
                break
            data += b
        self.got.append(data)
        c.close()

    def result(self):
        self.thread.join(10)
        self.srv.close()
        return self.got


def test_flush_triggers_qmgr_and_pickup(inst):
    p = run(inst, "postqueue", "-f")
    assert p.returncode == EX_UNAVAILABLE, p
    assert "Cannot flush mail queue - mail system is down" in p.stderr
    qmgr = FakeQmgr(inst)
    p = run(inst, "postqueue", "-f")
    assert p.returncode == 0, p.stderr
    assert qmgr.result() == [b"FDI"]
    os.unlink(os.path.join(inst.queue, "public", "qmgr"))
    qmgr = FakeQmgr(inst)
    p = run(inst, "postqueue", "-s", "example.com")
    assert p.returncode == 0, p.stderr
    assert qmgr.result() == [b"Sexample.com"]
    p = run(inst, "postqueue", "-s", "bad site;rm")
    assert p.returncode == EX_USAGE, p


# ---- postsuper ------------------------------------------------------------------

def test_hold_release_requeue(inst):
    sendmail(inst, "bob@example.com")
    sendmail(inst, "carol@example.com")
    files = wait_incoming(inst, 2)
    a, b = sorted(files)

    p = run(inst, "postsuper", "-h", a)
    assert p.returncode == 0, p.stderr
    assert p.stderr == f"postsuper: {a}: placed on hold\npostsuper: Placed on hold: 1 message\n"
    assert list(queue_files(inst, "hold")) == [a]
    inst.wait_log(rf"postern/postsuper\[\d+\]: {a}: placed on hold")
    listing = run(inst, "postqueue", "-p").stdout
    assert f"\n{a}! " in listing and f"\n{b} " in listing, listing

    p = run(inst, "postsuper", "-H", a)
    assert p.returncode == 0, p.stderr
    assert p.stderr.endswith("postsuper: Released from hold: 1 message\n")
    moved = queue_files(inst, "deferred")
    assert list(moved) == [a] and os.path.dirname(moved[a]).endswith(f"deferred/{a[10]}")
    assert abs(os.stat(moved[a]).st_mtime - time.time()) < 30, "released mail is not due now"
    where = {o["queue_id"]: o["queue_name"]
             for o in map(json.loads, run(inst, "postqueue", "-j").stdout.splitlines())}
    assert where == {a: "deferred", b: "incoming"}

    qmgr = FakeQmgr(inst)
    p = run(inst, "postsuper", "-r", a)
    assert p.returncode == 0, p.stderr
    assert p.stderr == f"postsuper: {a}: requeued\npostsuper: Requeued: 1 message\n"
    assert qmgr.result() == [b"I"], "qmgr was not told about the requeued mail"
    assert sorted(queue_files(inst, "incoming")) == [a, b]

    p = run(inst, "postsuper", "-h", "ALL")
    assert p.stderr.endswith("postsuper: Placed on hold: 2 messages\n"), p.stderr
    assert sorted(queue_files(inst, "hold")) == [a, b]
    # Already on hold: -h finds nothing more to do; an unknown ID is no error.
    p = run(inst, "postsuper", "-h", a, "-h", "1LP7X803SL00044L")
    assert (p.returncode, p.stderr) == (0, "")
    p = run(inst, "postsuper", "-H", "ALL")
    assert p.stderr.endswith("postsuper: Released from hold: 2 messages\n"), p.stderr
    assert sorted(queue_files(inst, "deferred")) == [a, b]


def test_delete_removes_messages_and_logs(inst):
    for n in range(3):
        sendmail(inst, f"user{n}@example.com")
    ids = sorted(wait_incoming(inst, 3))
    logs = []
    for log in ("defer", "bounce", "trace"):
        d = hashed_dir(inst, log, ids[0]) if log == "defer" else os.path.join(inst.queue, log)
        logs.append(os.path.join(d, ids[0]))
        with open(logs[-1], "w") as f:
            f.write("recipient=x\n\n")
        chown_owner(logs[-1])

    p = run(inst, "postsuper", "-d", ids[0])
    assert p.returncode == 0, p.stderr
    assert p.stderr == f"postsuper: {ids[0]}: removed\npostsuper: Deleted: 1 message\n"
    assert sorted(queue_files(inst, "incoming")) == ids[1:]
    assert not any(os.path.exists(log) for log in logs)
    inst.wait_log(rf"postern/postsuper\[\d+\]: {ids[0]}: removed")
    inst.wait_log(r"postern/postsuper\[\d+\]: Deleted: 1 message")

    # "-" reads IDs from standard input; junk lines are warned about.
    p = run(inst, "postsuper", "-d", "-", input=f"{ids[1]}\n-Queue ID-\n../../etc/x\n")
    assert p.returncode == 0, p.stderr
    assert f"postsuper: {ids[1]}: removed\n" in p.stderr
    assert "postsuper: warning: invalid mail queue id: -Queue?ID-\n" in p.stderr
    assert "postsuper: warning: invalid mail queue id: ../../etc/x\n" in p.stderr
    assert p.stderr.endswith("postsuper: Deleted: 1 message\n")

    sendmail(inst, "late@example.com")
    wait_incoming(inst, 2)
    run(inst, "postsuper", "-h", ids[2])
    p = run(inst, "postsuper", "-d", "ALL")
    assert p.returncode == 0, p.stderr
    assert p.stderr.endswith("postsuper: Deleted: 2 messages\n"), p.stderr
    for q in MESSAGE_QUEUES:
        assert queue_files(inst, q) == {}, q
    assert run(inst, "postqueue", "-p").stdout == "Mail queue is empty\n"


def test_delete_all_in_one_queue_only(inst):
    sendmail(inst, "a@example.com")
    sendmail(inst, "b@example.com")
    a, b = sorted(wait_incoming(inst, 2))
    run(inst, "postsuper", "-h", a)
    p = run(inst, "postsuper", "-d", "ALL", "hold")
    assert p.stderr == f"postsuper: {a}: removed\npostsuper: Deleted: 1 message\n", p.stderr
    assert list(queue_files(inst, "incoming")) == [b]
    p = run(inst, "postsuper", "-d", "ALL", "maildrop/..")
    assert p.returncode == EX_USAGE and "invalid directory name" in p.stderr, p


def test_structure_check_and_purge(inst):
    qid = "1LP7X803SL00044L"
    flat = os.path.join(inst.queue, "deferred", qid)
    write_queue_file(flat, b"s@x", [b"r@x"])
    old = os.path.join(inst.queue, "incoming", ".1LP7X803SL00044M.tmp")
    new = os.path.join(inst.queue, "incoming", ".1LP7X803SL00044N.tmp")
    for t in (old, new):
        write_queue_file(t, b"s@x", [b"r@x"])
    os.utime(old, (time.time() - 3 * 86400,) * 2)
    deep = os.path.join(hashed_dir(inst, "hold", qid), "B")  # hold is not hashed
    os.makedirs(deep)
    p = run(inst, "postsuper")  # no options: -s and -p
    assert p.returncode == 0, p.stderr
    assert queue_files(inst, "deferred") == {
        qid: os.path.join(inst.queue, "deferred", qid[10], qid)}
    assert not os.path.exists(old) and os.path.exists(new)
    assert not os.path.exists(os.path.dirname(deep)), "empty hash directories stay in hold/"
    assert "removed old temporary file" in p.stderr


@pytest.mark.skipif(not IS_ROOT, reason="needs root to become another user")
def test_postsuper_refuses_non_root(inst):
    sendmail(inst, "bob@example.com")
    (qid, _p), = wait_incoming(inst, 1).items()
    p = run(inst, "postsuper", "-d", qid, pre=("setpriv", "--reuid=nobody", "--regid=nogroup",
                                               "--clear-groups"))
    assert p.returncode == EX_NOPERM, p
    assert p.stderr == "postsuper: fatal: use of this command is reserved for the superuser\n"
    assert list(queue_files(inst, "incoming")) == [qid]


@pytest.mark.skipif(not IS_ROOT, reason="needs root to install a setgid copy and switch users")
def test_setgid_postqueue_for_an_ordinary_user():
    # Everything on the way must be reachable by nobody, so the instance
    # lives in a directory of its own rather than in pytest's (mode 0700).
    base = tempfile.mkdtemp(prefix="postern-qt-")
    os.chmod(base, 0o755)
    i = start(pathlib.Path(base))
    try:
        sendmail(i, "bob@example.com")
        (qid, _path), = wait_incoming(i, 1).items()
        pq = os.path.join(base, "postqueue")
        shutil.copy(os.path.join(SBIN, "postqueue"), pq)
        os.chown(pq, 0, grp.getgrnam("postdrop").gr_gid)
        os.chmod(pq, 0o2755)
        as_nobody = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")

        def postqueue(*args, conf=i.etc):
            return subprocess.run([*as_nobody, pq, "-c", conf, *args], capture_output=True,
                                  text=True, timeout=30, env=utc_env())

        p = postqueue("-p")
        assert p.returncode == 0, p.stderr
        assert f"\n{qid} " in p.stdout and p.stdout.endswith(" in 1 Request.\n"), p.stdout

        # A configuration directory that someone else could have written is refused.
        evil = os.path.join(base, "evil")
        os.makedirs(evil)
        shutil.copy(os.path.join(i.etc, "main.cf"), evil)
        os.chmod(evil, 0o777)
        p = postqueue("-p", conf=evil)
        assert p.returncode == EX_NOPERM, p
        assert "not listed in alternate_config_directories" in p.stderr

        # authorized_mailq_users: names and tables, first match decides.
        for value, allowed in (("root", False), ("!nobody, static:anyone", False),
                               ("root nobody", True), ("inline:{nobody=yes}", True)):
            i.main["authorized_mailq_users"] = value
            i.write_config()
            p = postqueue("-j")
            if allowed:
                assert p.returncode == 0 and json.loads(p.stdout)["queue_id"] == qid, (value, p)
            else:
                assert p.returncode == EX_NOPERM, (value, p)
                assert p.stderr == ("postqueue: fatal: User nobody(65534) is not allowed to "
                                    "view the mail queue\n"), p.stderr
    finally:
        stop(i)
        shutil.rmtree(base, ignore_errors=True)
