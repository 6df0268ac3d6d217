"""local(8) on its own: aliases, .forward, :include:, |command and /file
destinations, unknown users, Delivered-To loops, address extensions and
forwarding, each checked through a delivery request written to private/local
the way qmgr writes it (there is no qmgr in this instance: the test moves the
message from incoming/ to active/ itself).

The instance runs pickup, cleanup, local, bounce and defer. Real users
(pt_<name>_<suffix>) are created for the module and removed afterwards; their homes, the
mail spool (mode 1777) and the include files live in a world-traversable
temporary directory, because pytest's own are 0700.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest

import attrproto
from conftest import IS_ROOT, LIBEXEC, SBIN, Instance, ensure_accounts, wait_for
from mailsys import create_user, remove_users

# Unique names: other tests (and parallel runs) create and remove their own pt_* users.
SUFFIX = "%04x" % (os.getpid() & 0xFFFF)
ALICE = f"pt_alice_{SUFFIX}"
BOB = f"pt_bob_{SUFFIX}"
CAROL = f"pt_carol_{SUFFIX}"
DAVE = f"pt_dave_{SUFFIX}"
ERIN = f"pt_erin_{SUFFIX}"
FRANK = f"pt_frank_{SUFFIX}"
GINA = f"pt_gina_{SUFFIX}"
USERS = [ALICE, BOB, CAROL, DAVE, ERIN, FRANK, GINA]
HANK = f"pt_hank_{SUFFIX}"  # the user of the instance without an aliases table


def require():
    if not IS_ROOT:
        pytest.skip("local(8) acts as other users: needs root (this run is not root)")
    for prog in ("master", "pickup", "cleanup", "local", "bounce"):
        if not os.access(os.path.join(LIBEXEC, prog), os.X_OK):
            pytest.fail(f"{LIBEXEC}/{prog} is not built; run `make` first")
    for prog in ("postern", "sendmail", "newaliases"):
        if not os.access(os.path.join(SBIN, prog), os.X_OK):
            pytest.fail(f"{SBIN}/{prog} is not built; run `make` first")
    for tool in ("useradd", "userdel"):
        if shutil.which(tool) is None:
            pytest.skip(f"this machine has no {tool}")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("this machine has no nobody account (default_privs)")


class LocalSystem:
    def __init__(self, base, main=None, users=USERS):
        self.root = tempfile.mkdtemp(prefix="postern-local-")
        os.chmod(self.root, 0o755)
        self.homes = os.path.join(self.root, "home")
        self.spool = os.path.join(self.root, "spool")
        self.out = os.path.join(self.root, "out")
        self.lists = os.path.join(self.root, "lists")
        for d, mode in ((self.homes, 0o755), (self.spool, 0o1777), (self.out, 0o1777),
                        (self.lists, 0o755)):
            os.makedirs(d)
            os.chmod(d, mode)
        self.users = {}
        for name in users:
            self.add_user(name)
        self.seen = set()

        i = self.inst = Instance(base)
        i.main.update({
            "mydestination": "$myhostname, localhost",
            "alias_maps": f"hash:{i.etc}/aliases",
            "alias_database": f"hash:{i.etc}/aliases",
            "mail_spool_directory": self.spool,
            "recipient_delimiter": "+",
            "default_privs": "nobody",
            "allow_mail_to_files": "alias, forward, include",
        })
        i.main.update(main or {})
        for line in ("pickup fifo n - y 60 1 pickup",
                     "cleanup unix - - y - 0 cleanup",
                     "local unix - n n - - local",
                     "bounce unix - - y - 0 bounce",
                     "defer unix - - y - 0 bounce"):
            i.services.append(line)
        i.write_config()

        self.write_file(os.path.join(self.lists, "staff.inc"),
                        f"# the staff list\n{CAROL}\n\n{DAVE}\n")
        self.write_file(os.path.join(self.lists, "cmd.inc"), '"|/bin/true"\n')
        # A user's include file under a root-owned alias lends its owner's rights.
        if DAVE in self.users:
            path = os.path.join(self.lists, "dave.inc")
            self.write_file(path, f"{self.out}/inc-owner.mbox\n")
            os.chown(path, self.users[DAVE].pw_uid, self.users[DAVE].pw_gid)
        out = self.out
        with open(os.path.join(i.etc, "aliases"), "w") as f:
            f.write(f"""# test aliases
team: {ALICE}, {BOB}
tofile: {out}/tofile.mbox
tocmd: "|/bin/sh -c 'id -u > {out}/cmd.uid; cat > {out}/cmd.msg'"
staff: :include:{self.lists}/staff.inc
incmd: :include:{self.lists}/cmd.inc
davelist: :include:{self.lists}/dave.inc
{GINA}: {GINA}, {ALICE}
remote: someone@example.net, {BOB}
""")
        # newaliases writes aliases.lmdb next to the text file (hash: is lmdb).
        i.cmd("newaliases")
        assert os.path.exists(os.path.join(i.etc, "aliases.lmdb")), os.listdir(i.etc)

        # erin forwards to alice and keeps a copy (\erin);
        # frank's .forward is group-writable and must not be trusted.
        if ERIN in self.users:
            self.write_user_file(ERIN, ".forward", f"# erin\n{ALICE}\n\\{ERIN}\n~/saved.mbox\n")
        if FRANK in self.users:
            self.write_user_file(FRANK, ".forward", f"{ALICE}\n", mode=0o664)

        i.postern("check")
        i.start()
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "private", "local")),
                 what="private/local")

    def add_user(self, name):
        self.users[name] = create_user(self.homes, name)

    @staticmethod
    def write_file(path, text, mode=0o644):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def write_user_file(self, user, rel, text, mode=0o644):
        pw = self.users[user]
        path = os.path.join(pw.pw_dir, rel)
        self.write_file(path, text, mode)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, mode)  # chown may clear nothing here, but be exact

    def cleanup(self):
        self.inst.cleanup()
        remove_users(self.users)
        shutil.rmtree(self.root, ignore_errors=True)
        reports = self.inst.sanitizer_reports()
        if reports:
            text = "".join(open(r, errors="replace").read() for r in reports)
            pytest.fail(f"sanitizer reports from daemons:\n{text[:5000]}")

    # -- the queue --------------------------------------------------------------
    def files_in(self, queue):
        found = {}
        for dirpath, _dirs, files in os.walk(os.path.join(self.inst.queue, queue)):
            for f in files:
                if not f.startswith("."):
                    found[f] = os.path.join(dirpath, f)
        return found

    def new_in_incoming(self):
        return {k: v for k, v in self.files_in("incoming").items() if k not in self.seen}

    def submit(self, rcpt, subject, headers=""):
        """sendmail -> pickup -> cleanup -> incoming/; then move it to active/.
        Returns the queue ID."""
        text = f"From: {ALICE}@test.example\nSubject: {subject}\n{headers}\nbody of {subject}\n"
        p = subprocess.run([os.path.join(SBIN, "sendmail"), "-C",
                            os.path.join(self.inst.etc, "main.cf"), "-f", "sender@example.org",
                            rcpt], input=text.encode(), capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode()
        new = wait_for(self.new_in_incoming, what="a new file in incoming/")
        assert len(new) == 1, new
        qid, path = new.popitem()
        self.seen.add(qid)
        os.rename(path, os.path.join(self.inst.queue, "active", qid))
        return qid

    def records(self, qid, queue="active"):
        """(type, payload, offset) of every record of a queue file."""
        path = self.files_in(queue)[qid]
        data = open(path, "rb").read()
        out, off = [], 0
        while off < len(data):
            t = chr(data[off])
            n = int.from_bytes(data[off + 1:off + 5], "big")
            out.append((t, data[off + 5:off + 5 + n], off))
            off += 5 + n
        return out

    def deliver(self, qid):
        """Send local the request qmgr would send for every open recipient."""
        recs = self.records(qid)
        sender = next(p.decode() for t, p, _ in recs if t == "S")
        arrival = int(next(p.decode() for t, p, _ in recs if t == "T").split(".")[0])
        rcpts, orcpt = [], ""
        for t, p, off in recs:
            if t == "O":
                orcpt = p.decode()
            elif t in ("R", "D"):
                if t == "R":
                    rcpts.append((p.decode(), orcpt, off))
                orcpt = ""
        attrs = [("queue_id", qid), ("queue_dir", "active"), ("size", 0), ("sender", sender),
                 ("nexthop", "test.example"), ("arrival", arrival), ("flags", 0),
                 ("envid", ""), ("ret", 0), ("rcpt_count", len(rcpts))]
        for n, (addr, orc, off) in enumerate(rcpts):
            attrs += [(f"rcpt_addr_{n}", addr), (f"rcpt_orcpt_{n}", orc),
                      (f"rcpt_offset_{n}", off), (f"rcpt_notify_{n}", 0)]
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(os.path.join(self.inst.queue, "private", "local"))
            f = s.makefile("rwb")
            attrproto.send(f, attrs)
            reply = attrproto.decode(f)
        return reply, rcpts

    def rcpt_types(self, qid):
        return [t for t, _, _ in self.records(qid) if t in ("R", "D")]

    def mbox(self, user):
        try:
            with open(os.path.join(self.spool, user), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_for(self, qid):
        return [line for line in self.inst.read_log().splitlines() if f"{qid}: to=<" in line]


@pytest.fixture(scope="module")
def lsys(tmp_path_factory):
    require()
    ensure_accounts()
    s = LocalSystem(tmp_path_factory.mktemp("local") / "inst")
    yield s
    s.cleanup()


def one(reply):
    return reply["rcpt_status_0"], reply["rcpt_dsn_0"], reply["rcpt_reason_0"]


def test_alias_fans_out_to_two_users(lsys):
    qid = lsys.submit("team@localhost", "fanout-1")
    reply, _ = lsys.deliver(qid)
    assert reply["status"] == 0 and one(reply) == (0, "2.0.0", "delivered to mailbox"), reply
    for user in (ALICE, BOB):
        box = lsys.mbox(user)
        assert "Subject: fanout-1" in box, f"{user} did not get the message"
        assert f"Delivered-To: {user}@test.example" in box
        assert "X-Original-To: team@localhost" in box
    assert lsys.rcpt_types(qid) == ["D"], "the recipient must be marked done"
    log = "\n".join(lsys.log_for(qid))
    assert f"to=<{ALICE}@test.example>, orig_to=<team@localhost>, relay=local" in log
    assert f"to=<{BOB}@test.example>, orig_to=<team@localhost>, relay=local" in log


def test_alias_to_file_appends_as_default_privs(lsys):
    qid = lsys.submit("tofile@localhost", "file-1")
    reply, _ = lsys.deliver(qid)
    path = os.path.join(lsys.out, "tofile.mbox")
    assert one(reply) == (0, "2.0.0", f"delivered to file: {path}"), reply
    text = open(path).read()
    assert text.startswith("From sender@example.org ")
    assert "Subject: file-1" in text
    assert os.stat(path).st_uid == pwd.getpwnam("nobody").pw_uid
    assert lsys.rcpt_types(qid) == ["D"]


def test_alias_to_command_runs_as_default_privs(lsys):
    qid = lsys.submit("tocmd@localhost", "cmd-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply)[0:2] == (0, "2.0.0"), reply
    assert open(os.path.join(lsys.out, "cmd.uid")).read().strip() == \
        str(pwd.getpwnam("nobody").pw_uid)
    assert "Subject: cmd-1" in open(os.path.join(lsys.out, "cmd.msg")).read()


def test_include_file_members_are_delivered(lsys):
    qid = lsys.submit("staff@localhost", "include-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply)[0] == 0, reply
    assert "Subject: include-1" in lsys.mbox(CAROL)
    assert "Subject: include-1" in lsys.mbox(DAVE)
    assert "Subject: include-1" not in lsys.mbox(ALICE)


def test_include_file_owned_by_a_user_lends_its_owner_rights(lsys):
    qid = lsys.submit("davelist@localhost", "include-owner-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply)[0] == 0, reply
    path = os.path.join(lsys.out, "inc-owner.mbox")
    assert "Subject: include-owner-1" in open(path).read()
    assert os.stat(path).st_uid == lsys.users[DAVE].pw_uid


def test_command_in_include_file_is_restricted_and_bounced(lsys):
    qid = lsys.submit("incmd@localhost", "include-cmd-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply) == (2, "5.7.1", "mail to command is restricted"), reply
    assert lsys.rcpt_types(qid) == ["D"], "a bounced recipient is marked done"
    assert qid in lsys.files_in("bounce"), "the bounce is recorded with the bounce service"


def test_forward_to_another_local_user_and_backslash_self(lsys):
    qid = lsys.submit(f"{ERIN}@localhost", "forward-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply)[0:2] == (0, "2.0.0"), reply
    assert "Subject: forward-1" in lsys.mbox(ALICE)
    assert "Subject: forward-1" in lsys.mbox(ERIN), f"\\{ERIN} keeps a copy"
    log = "\n".join(lsys.log_for(qid))
    assert f"to=<{ALICE}@test.example>, orig_to=<{ERIN}@localhost>" in log
    saved = os.path.join(lsys.users[ERIN].pw_dir, "saved.mbox")
    assert "Subject: forward-1" in open(saved).read(), "~/saved.mbox of the .forward"
    assert os.stat(saved).st_uid == lsys.users[ERIN].pw_uid, "written with erin's rights"


def test_group_writable_forward_is_not_trusted_and_defers(lsys):
    qid = lsys.submit(f"{FRANK}@localhost", "forward-gw-1")
    reply, _ = lsys.deliver(qid)
    status, dsn, reason = one(reply)
    assert (status, dsn) == (1, "4.3.0"), reply
    assert "group or world writable" in reason
    assert "Subject: forward-gw-1" not in lsys.mbox(ALICE)
    assert "Subject: forward-gw-1" not in lsys.mbox(FRANK)
    assert lsys.rcpt_types(qid) == ["R"], "a deferred recipient stays open"
    assert qid in lsys.files_in("defer"), "the delay is recorded with the defer service"


def test_unknown_user_bounces_5_1_1_and_is_marked_done(lsys):
    qid = lsys.submit("pt_nosuch@localhost", "unknown-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply) == (2, "5.1.1", 'unknown user: "pt_nosuch"'), reply
    assert lsys.rcpt_types(qid) == ["D"]
    assert qid in lsys.files_in("bounce")
    assert any("status=bounced (unknown user: \"pt_nosuch\")" in line
               for line in lsys.log_for(qid))


def test_delivered_to_loop_bounces_5_4_6(lsys):
    qid = lsys.submit(f"{ALICE}@localhost", "loop-1",
                      headers=f"Delivered-To: {ALICE.upper()}@localhost\n")
    reply, _ = lsys.deliver(qid)
    assert one(reply) == (2, "5.4.6", f"mail forwarding loop for {ALICE}@localhost"), reply
    assert "Subject: loop-1" not in lsys.mbox(ALICE)
    assert lsys.rcpt_types(qid) == ["D"]


def test_address_extension_is_delivered_to_the_user(lsys):
    qid = lsys.submit(f"{BOB}+lists@localhost", "ext-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply) == (0, "2.0.0", "delivered to mailbox"), reply
    box = lsys.mbox(BOB)
    assert "Subject: ext-1" in box
    assert f"Delivered-To: {BOB}+lists@localhost" in box


def test_alias_naming_itself_delivers_to_the_mailbox(lsys):
    qid = lsys.submit(f"{GINA}@localhost", "self-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply)[0] == 0, reply
    assert "Subject: self-1" in lsys.mbox(GINA)
    assert "Subject: self-1" in lsys.mbox(ALICE)


def test_remote_address_is_forwarded_as_a_new_message(lsys):
    qid = lsys.submit("remote@localhost", "remote-1")
    reply, _ = lsys.deliver(qid)
    assert one(reply)[0] == 0, reply
    assert "Subject: remote-1" in lsys.mbox(BOB)
    new = lsys.new_in_incoming()
    assert len(new) == 1, f"one forwarded message expected, found {sorted(new)}"
    fid = next(iter(new))
    lsys.seen.add(fid)
    recs = lsys.records(fid, "incoming")
    assert [p.decode() for t, p, _ in recs if t == "R"] == ["someone@example.net"]
    assert [p.decode() for t, p, _ in recs if t == "O"] == ["remote@localhost"]
    assert [p.decode() for t, p, _ in recs if t == "S"] == ["sender@example.org"]
    content = b"".join(p for t, p, _ in recs if t == "C")
    assert content.startswith(b"Delivered-To: remote@localhost\n"), content[:200]
    assert b"Subject: remote-1" in content
    assert any("to=<someone@example.net>, orig_to=<remote@localhost>, relay=local" in line
               and f"status=sent (forwarded as {fid})" in line for line in lsys.log_for(qid))


def test_missing_alias_table_defers_and_never_bounces(tmp_path):
    require()
    ensure_accounts()
    s = LocalSystem(tmp_path / "inst", main={"alias_maps": f"hash:{tmp_path}/no-such-aliases"},
                    users=[HANK])
    try:
        qid = s.submit(f"{HANK}@localhost", "noalias-1")
        reply, _ = s.deliver(qid)
        assert one(reply) == (1, "4.3.0", "alias database unavailable"), reply
        assert "Subject: noalias-1" not in s.mbox(HANK)
        assert s.rcpt_types(qid) == ["R"]
        s.inst.wait_log(rf"local\[\d+\]: warning: {qid}: hash:{tmp_path}/no-such-aliases: "
                        r"alias table lookup problem")
    finally:
        s.cleanup()
