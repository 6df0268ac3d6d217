"""The whole local mail path under master, as root, with real users:
sendmail -> postdrop -> pickup -> cleanup -> qmgr -> local, and bounces.

Every test sends with the real sendmail and reads the result where a user's
mail client would: the mbox in the spool directory, the Maildir in the home,
procmail's folders, the files a pipe or an alias wrote.
"""

import os
import re
import signal
import stat
import subprocess
import time

import pytest

from conftest import proc_status, session_pids, wait_for
from mailsys import MailSystem

ALIASES = """\
team: pt_amy, pt_bob
tofile: {out}/file.mbox
topipe: "|/usr/bin/tee {out}/pipe.txt"
list: :include:{out}/list.txt
"""


@pytest.fixture
def mbox_sys(tmp_path):
    m = MailSystem(tmp_path / "inst")
    yield m
    m.cleanup()


def make_sys(tmp_path, main=None, aliases=""):
    return MailSystem(tmp_path / "inst", main=main, aliases=aliases)


def subjects(msgs):
    return [str(m["Subject"]) for m in msgs]


@pytest.mark.parametrize("style", ["mbox", "maildir"])
def test_200_messages_to_three_users(tmp_path, style):
    main = {"home_mailbox": "Maildir/"} if style == "maildir" else {}
    m = make_sys(tmp_path, main=main)
    try:
        m.start()
        users = ["pt_amy", "pt_bob", "pt_cat"]
        for n in range(200):
            m.send([users[n % 3]], f"message {n}", body=f"body of message {n}\nFrom here on\n")
        m.wait_delivered(timeout=120)
        for k, user in enumerate(users):
            pw = m.users[user]
            if style == "maildir":
                got = m.maildir_messages(user)
                d = os.path.join(pw.pw_dir, "Maildir", "new")
                for name in os.listdir(d):
                    st = os.stat(os.path.join(d, name))
                    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (pw.pw_uid, 0o600)
            else:
                got = m.mbox_messages(user)
                st = os.stat(m.mbox_path(user))
                assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (pw.pw_uid, 0o600)
            want = sorted(f"message {n}" for n in range(200) if n % 3 == k)
            assert sorted(subjects(got)) == want
            for msg in got:
                n = int(str(msg["Subject"]).split()[1])
                assert msg["Return-Path"] == "<pt_cat@test.example>"
                assert msg["Delivered-To"] == f"{user}@test.example"
                assert msg["From"] == "pt_cat@test.example"  # qualified with myorigin
                assert len(msg.get_all("Received")) == 1
                assert msg["Message-Id"] and msg["Date"]
                body = msg.get_content()
                # mbox quotes a body line that starts with "From "; the reader unquotes
                # only in its own format, so look for either form.
                assert f"body of message {n}\n" in body
                assert "From here on" in body
        assert m.log_problems() == []
        # Postfix-format delivery lines, one per message.
        sent = re.findall(r"postern/local\[\d+\]: [0-9B-Z_]{16}: to=<pt_\w+@test.example>, "
                          r"relay=local, delay=[\d.]+, dsn=2\.0\.0, status=sent", m.inst.read_log())
        assert len(sent) == 200
    finally:
        m.cleanup()


def test_aliases_fan_out_file_and_pipe(tmp_path):
    m = make_sys(tmp_path)
    try:
        m.write_aliases("postmaster: root\nroot: pt_amy\n" + ALIASES.format(out=m.out))
        m.start()
        m.send(["team"], "to the team")
        m.send(["tofile"], "to a file")
        m.send(["topipe"], "to a pipe")
        m.wait_delivered()
        assert subjects(m.mbox_messages("pt_amy")) == ["to the team"]
        assert subjects(m.mbox_messages("pt_bob")) == ["to the team"]
        assert subjects(m.mbox_messages(None, os.path.join(m.out, "file.mbox"))) == ["to a file"]
        with open(os.path.join(m.out, "pipe.txt")) as f:
            piped = f.read()
        assert "Subject: to a pipe" in piped and "Delivered-To: topipe@test.example" in piped
        # Commands and files named in a root-owned aliases table run as default_privs.
        nobody = subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True).stdout
        assert os.stat(os.path.join(m.out, "pipe.txt")).st_uid == int(nobody)
        assert os.stat(os.path.join(m.out, "file.mbox")).st_uid == int(nobody)
    finally:
        m.cleanup()


def test_forward_and_include(tmp_path):
    m = make_sys(tmp_path)
    try:
        m.write_aliases("postmaster: root\nroot: pt_amy\n" + ALIASES.format(out=m.out))
        with open(os.path.join(m.out, "list.txt"), "w") as f:
            f.write("pt_amy\npt_cat\n")
        # bob forwards everything to cat and keeps a copy (\pt_bob: his own mailbox).
        m.write_user_file("pt_bob", ".forward", "pt_cat, \\pt_bob\n")
        m.start()
        m.send(["pt_bob"], "for bob")
        m.send(["list"], "for the list")
        m.wait_delivered()
        assert sorted(subjects(m.mbox_messages("pt_cat"))) == ["for bob", "for the list"]
        assert subjects(m.mbox_messages("pt_bob")) == ["for bob"]
        assert subjects(m.mbox_messages("pt_amy")) == ["for the list"]
    finally:
        m.cleanup()


def test_forward_that_others_can_write_is_not_trusted(tmp_path):
    m = make_sys(tmp_path)
    try:
        m.write_user_file("pt_bob", ".forward", "pt_cat\n", mode=0o666)
        m.start()
        m.send(["pt_bob"], "for bob")
        m.inst.wait_log(r"to=<pt_bob@test.example>.*status=deferred", timeout=20)
        assert m.mbox_messages("pt_cat") == []
    finally:
        m.cleanup()


PROCMAILRC = """\
MAILDIR=$HOME/Mail
DEFAULT=$HOME/Mail/inbox
LOGFILE=$HOME/procmail.log

:0:
* ^From: spammer@domain.com
/dev/null

:0:
* ^(From|Cc|To).*tux-lug
tux-lug
"""


def test_procmail_recipes(tmp_path):
    procmail = "/usr/bin/procmail"
    if not os.access(procmail, os.X_OK):
        pytest.skip("this machine has no /usr/bin/procmail (Debian package procmail)")
    m = make_sys(tmp_path, main={"mailbox_command": f'{procmail} -a "$EXTENSION"'})
    try:
        m.write_user_file("pt_amy", ".procmailrc", PROCMAILRC)
        os.makedirs(os.path.join(m.users["pt_amy"].pw_dir, "Mail"))
        os.chown(os.path.join(m.users["pt_amy"].pw_dir, "Mail"), m.users["pt_amy"].pw_uid,
                 m.users["pt_amy"].pw_gid)
        m.start()
        m.sendmail("-f", "spammer@domain.com", "pt_amy",
                   input="From: spammer@domain.com\nTo: pt_amy\nSubject: buy now\n\nspam\n")
        m.sendmail("-f", "pt_cat", "pt_amy",
                   input="From: pt_cat\nTo: tux-lug@lists.example\nCc: pt_amy\n"
                         "Subject: kernel news\n\nlinux\n")
        m.send(["pt_amy"], "plain mail")
        m.wait_delivered()
        home = m.users["pt_amy"].pw_dir
        assert subjects(m.mbox_messages(None, os.path.join(home, "Mail", "tux-lug"))) == \
            ["kernel news"]
        assert subjects(m.mbox_messages(None, os.path.join(home, "Mail", "inbox"))) == \
            ["plain mail"]
        # The spam went to /dev/null: nowhere else.
        assert not os.path.exists(m.mbox_path("pt_amy"))
        assert m.log_problems() == []
    finally:
        m.cleanup()


def test_unknown_user_gets_a_multipart_report(tmp_path):
    m = make_sys(tmp_path)
    try:
        m.start()
        m.send(["nosuchuser"], "into the void", sender="pt_cat")
        m.wait_delivered()
        wait_for(lambda: m.mbox_messages("pt_cat"), timeout=20, what="the bounce for pt_cat")
        [dsn] = m.mbox_messages("pt_cat")
        assert dsn.get_content_type() == "multipart/report"
        assert dsn.get_param("report-type") == "delivery-status"
        assert dsn["Return-Path"] == "<>"
        parts = list(dsn.iter_parts())
        # no RET given: the whole message comes back (RFC 3461 4.3, as Postfix)
        assert [p.get_content_type() for p in parts] == \
            ["text/plain", "message/delivery-status", "message/rfc822"]
        blocks = parts[1].get_payload()
        per_msg, per_rcpt = blocks[0], blocks[1]
        assert per_msg["Reporting-MTA"] == "dns; test.example"
        assert per_rcpt["Final-Recipient"] == "rfc822; nosuchuser@test.example"
        assert per_rcpt["Action"] == "failed"
        assert per_rcpt["Status"] == "5.1.1"
        assert parts[2].get_content()["Subject"] == "into the void"
        assert re.search(r"status=bounced \(unknown user: \"nosuchuser\"\)", m.inst.read_log())
        assert re.search(r"sender non-delivery notification: [0-9B-Z_]{16}", m.inst.read_log())
    finally:
        m.cleanup()


def test_bounce_of_a_bounce_goes_to_postmaster(tmp_path):
    m = make_sys(tmp_path)
    try:
        m.start()
        m.sendmail("-f", "", "nosuchuser",
                   input="From: MAILER-DAEMON\nSubject: a bounce\n\nx\n")
        m.wait_delivered()
        # postmaster -> root -> pt_amy
        wait_for(lambda: m.mbox_messages("pt_amy"), timeout=20, what="the double bounce")
        [dsn] = m.mbox_messages("pt_amy")
        assert dsn.get_content_type() == "multipart/report"
        assert dsn["Return-Path"] == "<double-bounce@test.example>"
    finally:
        m.cleanup()


def test_mailbox_command_tempfail_is_retried(tmp_path):
    m = make_sys(tmp_path)
    script = os.path.join(m.out, "deliver.sh")
    flag = os.path.join(m.out, "ok")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\n[ -e {flag} ] || exit 75\ncat > \"$HOME/got.txt\"\n")
    os.chmod(script, 0o755)
    m.inst.main["mailbox_command"] = script
    m.inst.main["minimal_backoff_time"] = "100s"
    m.inst.main["maximal_backoff_time"] = "100s"
    m.inst.write_config()
    try:
        m.start()
        m.send(["pt_bob"], "try again")
        m.inst.wait_log(r"to=<pt_bob@test.example>.*dsn=4\.3\.0, status=deferred", timeout=20)
        wait_for(lambda: m.queue_files("deferred"), what="the message in deferred/")
        got = os.path.join(m.users["pt_bob"].pw_dir, "got.txt")
        assert not os.path.exists(got)
        open(flag, "w").close()
        m.flush()
        m.wait_delivered(timeout=20)
        with open(got) as f:
            assert "Subject: try again" in f.read()
        assert os.stat(got).st_uid == m.users["pt_bob"].pw_uid
    finally:
        m.cleanup()


def test_kill_9_of_qmgr_and_local_loses_nothing(tmp_path, capsys):
    m = make_sys(tmp_path, main={"home_mailbox": "Maildir/"})
    try:
        m.start()
        total = 500
        killed = {"qmgr": 0, "local": 0}

        def kill_some():
            for pid in session_pids(m.inst.master_pid):
                try:
                    cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0]
                except OSError:
                    continue
                name = os.path.basename(cmd).decode(errors="replace")
                if name in killed and proc_status(pid).get("State", "").split()[0] != "Z":
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed[name] += 1
                    except ProcessLookupError:
                        pass

        for n in range(total):
            m.send(["pt_amy"], f"load {n}")
            if n % 50 == 25:
                kill_some()
        # Kill again while the tail of the run is being delivered.
        for _ in range(3):
            time.sleep(0.2)
            kill_some()
        # "After restart": a qmgr that was killed comes back on its next trigger.
        m.flush()
        m.wait_delivered(timeout=180)
        got = subjects(m.maildir_messages("pt_amy"))
        numbers = [int(s.split()[1]) for s in got]
        missing = sorted(set(range(total)) - set(numbers))
        duplicates = len(numbers) - len(set(numbers))
        with capsys.disabled():
            print(f"\nkill -9 run: {total} sent, {len(numbers)} delivered, "
                  f"{duplicates} duplicates, killed qmgr {killed['qmgr']}x and "
                  f"local {killed['local']}x")
        assert missing == []
        assert killed["qmgr"] > 0 and killed["local"] > 0
    finally:
        m.cleanup()


def test_queue_tools_on_a_real_queue(tmp_path):
    m = make_sys(tmp_path)
    try:
        m.start()
        # Remote mail with no smtp transport configured stays deferred.
        for n in range(3):
            m.sendmail("-f", "pt_cat", f"user{n}@remote.example",
                       input=f"Subject: remote {n}\n\nx\n")
        wait_for(lambda: len(m.queue_files("deferred")) == 3, timeout=20,
                 what="3 messages in deferred/")
        ids = sorted(m.queue_files("deferred"))
        q = m.inst.cmd("postqueue", "-p").stdout
        for i in ids:
            assert re.search(rf"^{i}\s+\d+ \w{{3}} \w{{3}} [ \d]\d \d\d:\d\d:\d\d\s+"
                             rf"pt_cat@test.example$", q, re.M), q
        assert "(mail transport unavailable)" in q
        assert "user1@remote.example" in q
        assert q.rstrip().endswith("in 3 Requests.")
        # hold, release, requeue, delete
        m.inst.cmd("postsuper", "-h", ids[0])
        assert m.queue_files("hold") == [ids[0]]
        assert re.search(rf"^{ids[0]}!", m.inst.cmd("postqueue", "-p").stdout, re.M)
        m.inst.cmd("postsuper", "-H", ids[0])
        assert m.queue_files("hold") == []
        m.inst.cmd("postsuper", "-r", ids[1])
        m.inst.wait_log(rf"{ids[1]}: from=<pt_cat@test.example>.*\(queue active\)")
        # pickup may take maildrop files in any order: match ID to message
        out = m.inst.cmd("postcat", "-q", ids[2]).stdout
        n = re.search(r"^Subject: remote (\d)$", out, re.M)
        assert n and f"user{n.group(1)}@remote.example" in out, out
        m.inst.cmd("postsuper", "-d", ids[2])
        wait_for(lambda: ids[2] not in m.queue_files("deferred"), what="the deleted message gone")
        assert m.inst.cmd("postcat", "-q", ids[2], check=False).returncode != 0
        m.inst.cmd("postsuper", "-d", "ALL")
        assert "Mail queue is empty" in m.inst.cmd("postqueue", "-p").stdout
    finally:
        m.cleanup()


def test_hostile_messages_are_fixed_or_refused_never_half_queued(tmp_path):
    m = make_sys(tmp_path)
    try:
        m.start()
        cases = {
            "nul": b"Subject: case nul\n\nbefore\0after\n",
            "long-header": b"Subject: case long-header\nX-Long: " + b"a" * (10 << 20)
            + b"\n\nbody\n",
            "many-headers": b"Subject: case many-headers\n"
            + b"".join(b"X-H%d: v\n" % i for i in range(10000)) + b"\nbody\n",
            "no-body": b"Subject: case no-body\n",
        }
        refused = set()
        for name, data in cases.items():
            r = m.sendmail("-f", "pt_cat", "pt_bob", input=data, check=False)
            if r.returncode != 0:
                # Refused at submission: a sysexits status and a reason on stderr.
                assert r.returncode in (65, 73, 75) and r.stderr, (name, r)
                refused.add(name)
        m.wait_delivered(timeout=60)
        delivered = {str(msg["Subject"]).split()[1] for msg in m.mbox_messages("pt_bob")}
        returned = set()
        for dsn in m.mbox_messages("pt_cat"):
            text = dsn.as_string()
            returned |= {n for n in cases if f"Subject: case {n}" in text}
        with capsys_note() as note:
            note(f"hostile input: delivered {sorted(delivered)}, returned {sorted(returned)}, "
                 f"refused by sendmail {sorted(refused)}")
        # Each case ends in exactly one place.
        for name in cases:
            assert [name in delivered, name in returned, name in refused].count(True) == 1, name
        for msg in m.mbox_messages("pt_bob"):
            assert b"\0" not in msg.as_bytes()
        assert m.queue_files("corrupt") == []
        assert m.queue_files("incoming") == [] and m.queue_files("active") == []
        assert m.log_problems() == []
    finally:
        m.cleanup()


class capsys_note:
    """Print a line to the real terminal (numbers for the issue note)."""

    def __enter__(self):
        return lambda text: os.write(2, (text + "\n").encode())

    def __exit__(self, *exc):
        return False
