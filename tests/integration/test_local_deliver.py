"""local(8)'s user-side deliveries (local/local_deliver.c, local_command.c)
through the real local daemon: an mbox in a Debian-style root:mail 2775
spool, a Maildir named by an alias, |commands and their exit statuses, the
command time limit, the command's environment and input, and a .forward
that its user does not own.

Requests go straight to private/local, as qmgr would write them (the test
moves the message from incoming/ to active/ itself), so only pickup,
cleanup, local, bounce and defer run. Real users (pt_ld*) are created for
the module and removed afterwards.
"""

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

import attrproto
from conftest import IS_ROOT, LIBEXEC, SBIN, Instance, ensure_accounts, wait_for
from mailsys import create_user, remove_users

USERS = ["pt_ld1", "pt_ld2", "pt_ld3"]
ENV_ALLOWED = {"HOME", "USER", "LOGNAME", "SHELL", "SENDER", "RECIPIENT", "LOCAL", "EXTENSION",
               "DOMAIN", "ORIGINAL_RECIPIENT", "PATH", "TZ", "MAIL_CONFIG", "LANG",
               "PWD", "SHLVL", "_"}  # the last three are the shell's own


def require():
    if not IS_ROOT:
        pytest.skip("local(8) acts as other users: needs root")
    for prog in ("master", "pickup", "cleanup", "local", "bounce"):
        if not os.access(os.path.join(LIBEXEC, prog), os.X_OK):
            pytest.fail(f"{LIBEXEC}/{prog} is not built; run `make` first")
    for prog in ("postern", "sendmail", "newaliases"):
        if not os.access(os.path.join(SBIN, prog), os.X_OK):
            pytest.fail(f"{SBIN}/{prog} is not built; run `make` first")
    if shutil.which("useradd") is None:
        pytest.skip("this machine has no useradd")
    try:
        pwd.getpwnam("nobody")
        grp.getgrnam("mail")
    except KeyError:
        pytest.skip("this machine has no nobody account or mail group")


class System:
    def __init__(self, base):
        self.root = tempfile.mkdtemp(prefix="postern-ld-")
        os.chmod(self.root, 0o755)
        self.homes = os.path.join(self.root, "home")
        self.spool = os.path.join(self.root, "spool")
        self.out = os.path.join(self.root, "out")
        for d, mode in ((self.homes, 0o755), (self.spool, 0o2775), (self.out, 0o1777)):
            os.makedirs(d)
            os.chmod(d, mode)
        # Debian's /var/mail: root:mail 2775, not world-writable.
        os.chown(self.spool, 0, grp.getgrnam("mail").gr_gid)
        os.chmod(self.spool, 0o2775)
        self.users = {}
        for name in USERS:
            self.add_user(name)
        self.seen = set()

        i = self.inst = Instance(base)
        i.main.update({
            "mydestination": "$myhostname, localhost",
            "alias_maps": f"hash:{i.etc}/aliases",
            "alias_database": f"hash:{i.etc}/aliases",
            "mail_spool_directory": self.spool,
            "default_privs": "nobody",
            "command_time_limit": "2s",
        })
        for line in ("pickup fifo n - y 60 1 pickup",
                     "cleanup unix - - y - 0 cleanup",
                     "local unix - n n - - local",
                     "bounce unix - - y - 0 bounce",
                     "defer unix - - y - 0 bounce"):
            i.services.append(line)
        i.write_config()
        out = self.out
        with open(os.path.join(i.etc, "aliases"), "w") as f:
            f.write(f"""c0: "|cat > {out}/c0.msg; env > {out}/c0.env; id -u > {out}/c0.uid"
c75: "|exit 75"
c67: "|exit 67"
c1: "|echo problem; exit 1"
csleep: "|echo started; sleep 30"
tomd: {out}/md/
""")
        i.cmd("newaliases")
        # pt_ld2's .forward belongs to pt_ld1: not to be trusted.
        fwd = os.path.join(self.users["pt_ld2"].pw_dir, ".forward")
        with open(fwd, "w") as f:
            f.write("pt_ld1\n")
        os.chown(fwd, self.users["pt_ld1"].pw_uid, self.users["pt_ld1"].pw_gid)
        os.chmod(fwd, 0o644)
        i.postern("check")
        i.start()
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "private", "local")),
                 what="private/local")

    def add_user(self, name):
        self.users[name] = create_user(self.homes, name)

    def cleanup(self):
        self.inst.cleanup()
        remove_users(self.users)
        shutil.rmtree(self.root, ignore_errors=True)

    def incoming(self):
        found = {}
        for dirpath, _dirs, files in os.walk(os.path.join(self.inst.queue, "incoming")):
            for f in files:
                if not f.startswith(".") and f not in self.seen:
                    found[f] = os.path.join(dirpath, f)
        return found

    def submit(self, rcpt):
        text = f"From: someone@example.org\nSubject: to {rcpt}\n\nFrom the body of {rcpt}\n"
        p = subprocess.run([os.path.join(SBIN, "sendmail"), "-C",
                            os.path.join(self.inst.etc, "main.cf"), "-f", "sender@example.org",
                            rcpt], input=text.encode(), capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode()
        new = wait_for(self.incoming, what="a new file in incoming/")
        assert len(new) == 1, new
        qid, path = new.popitem()
        self.seen.add(qid)
        os.rename(path, os.path.join(self.inst.queue, "active", qid))
        return qid

    def deliver(self, rcpt):
        """Submit a message to rcpt and ask local to deliver it, as qmgr
        would; returns (status, dsn, reason, seconds)."""
        qid = self.submit(rcpt)
        data = open(os.path.join(self.inst.queue, "active", qid), "rb").read()
        recs, off = [], 0
        while off < len(data):
            n = int.from_bytes(data[off + 1:off + 5], "big")
            recs.append((chr(data[off]), data[off + 5:off + 5 + n].decode(errors="replace"), off))
            off += 5 + n
        sender = next(p for t, p, _ in recs if t == "S")
        arrival = int(next(p for t, p, _ in recs if t == "T").split(".")[0])
        rcpts, orcpt = [], ""
        for t, p, o in recs:
            if t == "O":
                orcpt = p
            elif t == "R":
                rcpts.append((p, orcpt, o))
                orcpt = ""
        attrs = [("queue_id", qid), ("queue_dir", "active"), ("size", 0), ("sender", sender),
                 ("nexthop", "test.example"), ("arrival", arrival), ("flags", 0),
                 ("envid", ""), ("ret", 0), ("rcpt_count", len(rcpts))]
        for n, (addr, orc, o) in enumerate(rcpts):
            attrs += [(f"rcpt_addr_{n}", addr), (f"rcpt_orcpt_{n}", orc), (f"rcpt_offset_{n}", o),
                      (f"rcpt_notify_{n}", 0)]
        start = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(os.path.join(self.inst.queue, "private", "local"))
            f = s.makefile("rwb")
            attrproto.send(f, attrs)
            reply = attrproto.decode(f)
        took = time.monotonic() - start
        return reply["rcpt_status_0"], reply["rcpt_dsn_0"], reply["rcpt_reason_0"], took


@pytest.fixture(scope="module")
def ls(tmp_path_factory):
    require()
    ensure_accounts()
    s = System(tmp_path_factory.mktemp("ld") / "inst")
    yield s
    s.cleanup()


OK, DEFER, BOUNCE = 0, 1, 2


def test_mbox_in_root_mail_2775_spool_is_the_users_0600_file(ls):
    status, dsn, reason, _ = ls.deliver("pt_ld1@test.example")
    assert (status, dsn, reason) == (OK, "2.0.0", "delivered to mailbox")
    path = os.path.join(ls.spool, "pt_ld1")
    st = os.stat(path)
    assert st.st_uid == ls.users["pt_ld1"].pw_uid
    assert st.st_mode & 0o7777 == 0o600, oct(st.st_mode)
    assert not os.path.exists(path + ".lock")
    text = open(path).read()
    assert text.startswith("From sender@example.org  "), text[:200]
    lines = text.splitlines()
    assert lines[1] == "Return-Path: <sender@example.org>"
    assert "Delivered-To: pt_ld1@test.example" in lines
    assert ">From the body of pt_ld1@test.example" in lines
    assert text.endswith("\n\n")


def test_mailbox_owned_by_someone_else_defers_4_2_0(ls):
    path = os.path.join(ls.spool, "pt_ld3")
    with open(path, "w"):
        pass
    os.chown(path, ls.users["pt_ld1"].pw_uid, -1)
    os.chmod(path, 0o600)
    try:
        status, dsn, reason, _ = ls.deliver("pt_ld3@test.example")
        assert os.path.getsize(path) == 0
    finally:
        os.unlink(path)
    assert (status, dsn) == (DEFER, "4.2.0"), reason
    assert "is not owned by recipient" in reason


def test_command_exit_0_gets_message_and_clean_environment(ls):
    status, dsn, reason, _ = ls.deliver("c0@test.example")
    assert (status, dsn) == (OK, "2.0.0"), reason
    assert reason.startswith("delivered to command: cat > ")
    msg = open(os.path.join(ls.out, "c0.msg")).read().splitlines()
    assert msg[0].startswith("From sender@example.org  ")
    assert msg[1] == "Return-Path: <sender@example.org>"
    assert "Delivered-To: c0@test.example" in msg[:6]
    # commands get no ">From " quoting
    assert "From the body of c0@test.example" in msg
    env = dict(line.split("=", 1) for line in
               open(os.path.join(ls.out, "c0.env")).read().splitlines() if "=" in line)
    assert set(env) <= ENV_ALLOWED, set(env) - ENV_ALLOWED
    assert env["PATH"] == "/usr/bin:/bin"
    assert env["SENDER"] == "sender@example.org"
    assert env["RECIPIENT"] == "c0@test.example"
    assert "EXTENSION" not in env
    # alias commands run as default_privs, never as root
    assert open(os.path.join(ls.out, "c0.uid")).read().strip() == str(pwd.getpwnam("nobody").pw_uid)


@pytest.mark.parametrize("alias,status,dsn,reason", [
    ("c75", DEFER, "4.3.0", "temporary failure"),
    ("c67", BOUNCE, "5.1.1", "user unknown"),
    ("c1", BOUNCE, "5.3.0",
     'Command died with status 1: "echo problem; exit 1". Command output: problem'),
])
def test_command_exit_status_follows_sysexits(ls, alias, status, dsn, reason):
    got = ls.deliver(f"{alias}@test.example")
    assert got[:3] == (status, dsn, reason)


def test_command_past_command_time_limit_is_killed_and_bounced(ls):
    status, dsn, reason, took = ls.deliver("csleep@test.example")
    assert (status, dsn) == (BOUNCE, "5.3.0"), reason
    assert reason == ('Command time limit exceeded: "echo started; sleep 30". '
                      'Command output: started')
    assert 1.5 < took < 10, took
    left = subprocess.run(["pgrep", "-u", "nobody", "-f", "^sleep 30$"], capture_output=True)
    assert left.stdout == b"", "the command's process group was not killed"


def test_alias_to_maildir_path(ls):
    status, dsn, reason, _ = ls.deliver("tomd@test.example")
    assert (status, dsn, reason) == (OK, "2.0.0", "delivered to maildir")
    new = os.path.join(ls.out, "md", "new")
    files = os.listdir(new)
    assert len(files) == 1
    st = os.stat(os.path.join(new, files[0]))
    assert st.st_uid == pwd.getpwnam("nobody").pw_uid and st.st_mode & 0o777 == 0o600
    text = open(os.path.join(new, files[0])).read()
    assert text.startswith("Return-Path: <sender@example.org>\n")


def test_forward_owned_by_another_user_defers(ls):
    status, dsn, reason, _ = ls.deliver("pt_ld2@test.example")
    assert (status, dsn) == (DEFER, "4.3.0"), reason
    assert "has bad owner uid" in reason
