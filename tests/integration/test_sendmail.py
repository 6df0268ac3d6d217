"""Local submission: sendmail -> postdrop -> maildrop/, read back with postcat.

No master is needed: the maildrop file is the product here (pickup reads it
later). Each test gets its own instance; `postern check` creates the queue.
"""

import grp
import os
import pwd
import shutil
import stat
import struct
import subprocess
import tempfile

import pytest

from conftest import IS_ROOT, SBIN, Instance, ensure_accounts

EX_USAGE, EX_DATAERR = 64, 65


def rec(t, payload=b""):
    return t.encode() + struct.pack(">I", len(payload)) + payload


@pytest.fixture
def inst(tmp_path):
    for prog in ("sendmail", "postdrop", "postcat", "postern"):
        if not os.access(os.path.join(SBIN, prog), os.X_OK):
            pytest.fail(f"{SBIN}/{prog} is not built; run `make` first")
    ensure_accounts()
    i = Instance(tmp_path / "inst")
    i.postern("check")
    return i


def maildrop(i):
    return sorted(os.listdir(os.path.join(i.queue, "maildrop")))


def sendmail(i, *args, input=b"Subject: test\n\nhello\n", env=None, **kw):
    argv = [os.path.join(SBIN, "sendmail"), "-C", os.path.join(i.etc, "main.cf"), *args]
    return subprocess.run(argv, input=input, capture_output=True, timeout=30, env=env, **kw)


def postdrop(i, data):
    argv = [os.path.join(SBIN, "postdrop"), "-c", i.etc]
    return subprocess.run(argv, input=data, capture_output=True, timeout=30)


def postcat(i, *args, check=True):
    argv = [os.path.join(SBIN, "postcat"), "-c", i.etc, *args]
    p = subprocess.run(argv, capture_output=True, timeout=30)
    if check:
        assert p.returncode == 0, f"postcat failed: {p.stderr.decode()}"
    return p


def only_file(i):
    files = maildrop(i)
    assert len(files) == 1, f"expected one maildrop file, found {files}"
    return os.path.join(i.queue, "maildrop", files[0])


def envelope(i, path):
    out = postcat(i, "-e", path).stdout.decode()
    return [l for l in out.splitlines() if not l.startswith("***")]


def content(i, path):
    out = postcat(i, path).stdout
    start = out.index(b"***\n", out.index(b"*** MESSAGE CONTENTS")) + 4
    return out[start:out.index(b"*** MESSAGE FILE END")]


def test_recipients_on_command_line_make_one_maildrop_file(inst):
    p = sendmail(inst, "-f", "alice@example.com", "-F", "Alice A", "bob@example.com",
                 "carol@example.org", input=b"Subject: hi\n\nbody line\n")
    assert p.returncode == 0, p.stderr.decode()
    path = only_file(inst)
    env = envelope(inst, path)
    assert "sender: alice@example.com" in env
    assert [l for l in env if l.startswith("recipient: ")] == [
        "recipient: bob@example.com", "recipient: carol@example.org"]
    assert "named_attribute: sender_fullname=Alice A" in env
    assert f"named_attribute: uid={os.getuid()}" in env
    assert any(l.startswith("message_arrival_time: ") for l in env)
    assert content(inst, path) == b"Subject: hi\n\nbody line\n"
    assert postcat(inst, "-h", path).stdout.decode().splitlines()[1] == "Subject: hi"


def test_default_sender_is_the_login_name(inst):
    assert sendmail(inst, "bob@example.com").returncode == 0
    assert f"sender: {pwd.getpwuid(os.getuid()).pw_name}" in envelope(inst, only_file(inst))


def test_extract_recipients_is_recorded_without_recipients(inst):
    p = sendmail(inst, "-t", input=b"To: bob@example.com\n\nhi\n")
    assert p.returncode == 0, p.stderr.decode()
    env = envelope(inst, only_file(inst))
    assert "named_attribute: extract_recipients=1" in env
    assert not [l for l in env if l.startswith("recipient: ")]


def test_no_recipients_without_t_is_a_usage_error(inst):
    p = sendmail(inst)
    assert p.returncode == EX_USAGE
    assert b"sendmail: fatal: no recipients specified" in p.stderr
    assert maildrop(inst) == []


def test_null_sender(inst):
    assert sendmail(inst, "-f", "<>", "bob@example.com").returncode == 0
    assert "sender: " in envelope(inst, only_file(inst))


def test_dsn_options_are_recorded(inst):
    assert sendmail(inst, "-N", "success,delay", "-R", "hdrs", "bob@example.com").returncode == 0
    env = envelope(inst, only_file(inst))
    assert "named_attribute: dsn_notify=SUCCESS,DELAY" in env
    assert "named_attribute: dsn_ret=HDRS" in env


def test_single_dot_line_ends_input_by_default(inst):
    assert sendmail(inst, "bob@example.com", input=b"Subject: a\n\none\n.\ntwo\n").returncode == 0
    assert content(inst, only_file(inst)) == b"Subject: a\n\none\n"


@pytest.mark.parametrize("flag", ["-i", "-oi"])
def test_dot_line_is_data_with_i(inst, flag):
    data = b"Subject: a\n\none\n.\n..two\n"
    assert sendmail(inst, flag, "bob@example.com", input=data).returncode == 0
    assert content(inst, only_file(inst)) == data


def test_crlf_input_is_normalized(inst):
    p = sendmail(inst, "bob@example.com", input=b"Subject: a\r\n\r\nline\r\nbare\rcr\r\n")
    assert p.returncode == 0
    assert content(inst, only_file(inst)) == b"Subject: a\n\nline\nbare\rcr\n"


def test_message_over_size_limit_is_refused_and_nothing_is_left(inst):
    inst.main["message_size_limit"] = "1000"
    inst.write_config()
    p = sendmail(inst, "bob@example.com", input=b"Subject: big\n\n" + b"x" * 2000 + b"\n")
    assert p.returncode == EX_DATAERR
    assert b"message file too big" in p.stderr
    assert maildrop(inst) == []
    # postdrop enforces the limit itself, and removes its temporary file.
    big = rec("S", b"a@b") + rec("R", b"c@d") + rec("C", b"x" * 1500) + rec("E")
    p = postdrop(inst, big)
    assert p.returncode == EX_DATAERR
    assert b"message file too big" in p.stderr
    assert maildrop(inst) == []


def test_recipient_with_newline_is_rejected(inst):
    p = sendmail(inst, "bob@example.com\nR\x01evil@example.com")
    assert p.returncode == EX_USAGE
    assert b"control character" in p.stderr
    assert maildrop(inst) == []


def test_postdrop_refuses_garbage(inst):
    p = postdrop(inst, b"From: me\nSubject: not records\n\nhello\n")
    assert p.returncode == EX_DATAERR
    assert b"postdrop: fatal:" in p.stderr
    assert maildrop(inst) == []


def test_postdrop_commits_nothing_without_end_record(inst):
    p = postdrop(inst, rec("S", b"a@b") + rec("R", b"c@d") + rec("C", b"hi\n"))
    assert p.returncode == EX_DATAERR
    assert b"no end record" in p.stderr
    assert maildrop(inst) == []


def test_postdrop_refuses_records_a_user_may_not_set(inst):
    for bad in (rec("T", b"1.0"), rec("A", b"uid=0"), rec("D", b"x@y")):
        p = postdrop(inst, bad + rec("S", b"a@b") + rec("R", b"c@d") + rec("E"))
        assert p.returncode == EX_DATAERR, bad
    assert maildrop(inst) == []


def test_postcat_q_finds_the_file_in_maildrop(inst):
    assert sendmail(inst, "bob@example.com").returncode == 0
    qid = maildrop(inst)[0]
    out = postcat(inst, "-q", qid).stdout.decode()
    assert out.startswith(f"*** ENVELOPE RECORDS maildrop/{qid} ***\n")
    assert out.endswith(f"*** MESSAGE FILE END maildrop/{qid} ***\n")
    p = postcat(inst, "-q", "0000000000000000", check=False)
    assert p.returncode == 1 and b"postcat: fatal:" in p.stderr


def test_postcat_reports_a_damaged_file_after_what_it_could_read(inst, tmp_path):
    assert sendmail(inst, "bob@example.com").returncode == 0
    data = open(only_file(inst), "rb").read()
    bad = tmp_path / "damaged"
    bad.write_bytes(data[:-5])  # no end record
    p = postcat(inst, str(bad), check=False)
    assert p.returncode == 1
    assert b"recipient: bob@example.com" in p.stdout
    assert p.stderr.decode().startswith(f"postcat: fatal: {bad}: damaged queue file")


# maildrop/ is 1730 (the group may not read it, as in Postfix): the setgid
# postdrop commits through fsync_dir()'s write-only-directory path.
def test_sendmail_as_unprivileged_user_uses_setgid_postdrop(tmp_path):
    if not IS_ROOT:
        pytest.skip("needs root: to run sendmail as nobody and install postdrop setgid postdrop")
    ensure_accounts()
    nobody = pwd.getpwnam("nobody")
    postdrop_gid = grp.getgrnam("postdrop").gr_gid
    # pytest's own temp dirs are root-only (0700); nobody must reach the queue.
    base = tempfile.mkdtemp(prefix="postern-sendmail-")
    try:
        os.chmod(base, 0o755)
        bindir = os.path.join(base, "bin")
        os.mkdir(bindir, 0o755)
        for prog in ("sendmail", "postdrop", "postcat"):
            shutil.copy(os.path.join(SBIN, prog), bindir)
            os.chmod(os.path.join(bindir, prog), 0o755)
        pd = os.path.join(bindir, "postdrop")
        os.chown(pd, 0, postdrop_gid)
        os.chmod(pd, 0o2755)
        i = Instance(os.path.join(base, "inst"))
        i.main["command_directory"] = bindir
        i.write_config()
        i.postern("check")

        def drop_privileges():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)

        p = subprocess.run([os.path.join(bindir, "sendmail"), "-C", os.path.join(i.etc, "main.cf"),
                            "bob@example.com"], input=b"Subject: from nobody\n\nhi\n",
                           capture_output=True, timeout=30, preexec_fn=drop_privileges,
                           cwd="/", env={"PATH": "/usr/bin:/bin"})
        assert p.returncode == 0, p.stderr.decode()
        path = only_file(i)
        st = os.stat(path)
        assert st.st_uid == nobody.pw_uid, "maildrop file is not owned by the submitting user"
        assert st.st_gid == postdrop_gid
        assert stat.S_IMODE(st.st_mode) == 0o444
        env = envelope(i, path)
        assert "sender: nobody" in env
        assert f"named_attribute: uid={nobody.pw_uid}" in env
        # The same user may not point the setgid postdrop at a config of its own.
        own = os.path.join(base, "own")
        os.mkdir(own)
        shutil.copy(os.path.join(i.etc, "main.cf"), own)
        os.chown(own, nobody.pw_uid, nobody.pw_gid)
        p = subprocess.run([pd, "-c", own], input=rec("S") + rec("R", b"x@y") + rec("E"),
                           capture_output=True, timeout=30, preexec_fn=drop_privileges, cwd="/")
        assert p.returncode == 77, p.stderr.decode()  # EX_NOPERM
        assert b"alternate_config_directories" in p.stderr
        assert len(maildrop(i)) == 1
    finally:
        shutil.rmtree(base, ignore_errors=True)
