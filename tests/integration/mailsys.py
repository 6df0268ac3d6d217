"""A whole local mail system for end-to-end tests: an Instance with every
service of the local path (pickup, cleanup, qmgr, bounce, defer, local,
showq), real test users with homes, an aliases table, and helpers to send
mail with the real sendmail and read it back from mbox and Maildir.

Users and their homes are created per test and removed afterwards; the homes
live in a directory the users can reach (pytest's own temp dirs are 0700).
"""

import email
import email.policy
import mailbox
import os
import pwd
import shutil
import subprocess
import time
import tempfile

import pytest

from conftest import IS_ROOT, LIBEXEC, SBIN, Instance, ensure_accounts, wait_for

SERVICES = [
    "pickup    unix  n  -  y  60   1  pickup",
    "cleanup   unix  -  -  y  -    0  cleanup",
    "qmgr      unix  n  -  y  300  1  qmgr",
    "showq     unix  n  -  y  -    -  showq",
    "bounce    unix  -  -  y  -    0  bounce",
    "defer     unix  -  -  y  -    0  bounce",
    "trace     unix  -  -  y  -    0  bounce",
    "local     unix  -  n  n  -    -  local",
]
# scache(8), the shared cache of idle smtp/lmtp sessions, as in master.cf
# (only when built: a build without it simply does not reuse connections).
if os.access(os.path.join(LIBEXEC, "scache"), os.X_OK):
    SERVICES.append("scache    unix  -  -  y  -    1  scache")
PROGRAMS = ["pickup", "cleanup", "qmgr", "bounce", "local", "showq"]


def create_user(homes, name):
    """A real account for delivery tests: its own group, a login shell, and
    a home (0755, its own) under homes. A leftover of the same name from an
    interrupted run is replaced."""
    home = os.path.join(homes, name)
    subprocess.run(["userdel", name], capture_output=True)
    # Another test run may hold /etc/passwd's lock for a moment: retry.
    for attempt in range(50):
        r = subprocess.run(["useradd", "--no-create-home", "--home-dir", home, "--shell",
                            "/bin/sh", "--user-group", name], capture_output=True, text=True)
        if r.returncode == 0 or "lock" not in r.stderr:
            break
        time.sleep(0.1)
    if r.returncode != 0:
        raise RuntimeError(f"useradd {name}: {r.stderr.strip()}")
    pw = pwd.getpwnam(name)
    os.makedirs(home)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o755)
    return pw


def remove_users(names):
    for name in names:
        for attempt in range(50):
            r = subprocess.run(["userdel", name], capture_output=True, text=True)
            if "lock" not in r.stderr:
                break
            time.sleep(0.1)


def require_programs():
    if not IS_ROOT:
        pytest.skip("local delivery as other users needs root (this run is not root)")
    for p in PROGRAMS:
        if not os.access(os.path.join(LIBEXEC, p), os.X_OK):
            pytest.fail(f"{LIBEXEC}/{p} is not built; run `make` first")
    for tool in ("useradd", "userdel"):
        if shutil.which(tool) is None:
            pytest.skip(f"this machine has no {tool}")


class MailSystem:
    def __init__(self, base, users=("pt_amy", "pt_bob", "pt_cat"), main=None, aliases=""):
        require_programs()
        ensure_accounts()
        # Homes and spool in a world-traversable directory.
        self.root = tempfile.mkdtemp(prefix="postern-mail-")
        os.chmod(self.root, 0o755)
        self.homes = os.path.join(self.root, "home")
        self.spool = os.path.join(self.root, "spool")
        self.out = os.path.join(self.root, "out")  # writable by anyone (alias files, pipes)
        os.makedirs(self.homes)
        os.chmod(self.homes, 0o755)
        os.makedirs(self.spool)
        os.chmod(self.spool, 0o1777)
        os.makedirs(self.out)
        os.chmod(self.out, 0o1777)
        self.users = {}
        for name in users:
            self.add_user(name)
        self.inst = Instance(base)
        i = self.inst
        i.main.update({
            "myhostname": "test.example",
            "mydestination": "$myhostname, localhost",
            "alias_maps": f"hash:{i.etc}/aliases",
            "alias_database": f"hash:{i.etc}/aliases",
            "mail_spool_directory": self.spool,
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "queue_run_delay": "1s",
        })
        if main:
            i.main.update(main)
        for s in SERVICES:
            i.services.append(s)
        i.write_config()
        self.write_aliases("postmaster: root\nroot: pt_amy\n" + aliases)
        i.postern("check")

    # -- accounts -------------------------------------------------------------
    def add_user(self, name):
        pw = self.users[name] = create_user(self.homes, name)
        return pw

    def write_user_file(self, user, rel, text, mode=0o644):
        pw = self.users[user]
        path = os.path.join(pw.pw_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, mode)
        return path

    def write_aliases(self, text):
        with open(os.path.join(self.inst.etc, "aliases"), "w") as f:
            f.write(text)
        self.inst.cmd("newaliases")

    # -- life cycle -----------------------------------------------------------
    def start(self):
        self.inst.start()
        wait_for(lambda: os.path.exists(os.path.join(self.inst.queue, "public", "pickup")),
                 what="public/pickup")
        return self

    def cleanup(self):
        self.inst.cleanup()
        remove_users(self.users)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- mail -----------------------------------------------------------------
    def sendmail(self, *args, input, check=True):
        """The real sendmail against this instance (-C names its main.cf)."""
        argv = [os.path.join(SBIN, "sendmail"), "-C", os.path.join(self.inst.etc, "main.cf"),
                *args]
        data = input.encode() if isinstance(input, str) else input
        p = subprocess.run(argv, input=data, capture_output=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"{argv} exited {p.returncode}: {p.stderr.decode()}")
        return p

    def send(self, rcpts, subject, body="hello\n", sender="pt_cat", headers="", flags=()):
        text = f"From: {sender}\nTo: {', '.join(rcpts)}\nSubject: {subject}\n{headers}\n{body}"
        return self.sendmail(*flags, "-f", sender, *rcpts, input=text)

    def mbox_path(self, user):
        return os.path.join(self.spool, user)

    def mbox_messages(self, user, path=None):
        path = path or self.mbox_path(user)
        if not os.path.exists(path):
            return []
        box = mailbox.mbox(path, create=False)
        try:
            return [email.message_from_bytes(box.get_bytes(k), policy=email.policy.default)
                    for k in box.keys()]
        finally:
            box.close()

    def maildir_messages(self, user, folder="Maildir"):
        d = os.path.join(self.users[user].pw_dir, folder, "new")
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def queue_files(self, queue):
        """Queue IDs in a queue directory, hashed subdirectories included."""
        found = []
        for dirpath, _dirs, files in os.walk(os.path.join(self.inst.queue, queue)):
            found += [f for f in files if not f.startswith(".")]
        return found

    def queue_empty(self):
        return not any(self.queue_files(q) for q in ("maildrop", "incoming", "active", "deferred"))

    def wait_delivered(self, timeout=60):
        wait_for(self.queue_empty, timeout=timeout,
                 what="an empty queue; log tail:\n" + self.inst.read_log()[-3000:])

    def flush(self):
        """postqueue -f: have qmgr try the deferred queue now."""
        self.inst.cmd("postqueue", "-f")

    def log_problems(self):
        """Log lines that mean something broke: fatal, panic, a crashed child
        (master logs "killed by signal" and "exit status N" for those)."""
        bad = []
        for line in self.inst.read_log().splitlines():
            if any(w in line for w in ("fatal:", "panic:", "killed by signal",
                                       "exit status", "sanitizer")):
                bad.append(line)
        return bad
