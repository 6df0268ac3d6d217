"""pickup: maildrop/ files made by postdrop go to cleanup; anything else
goes to corrupt/ with a log line, and a symlink is never followed.

The end-to-end test needs cleanup (build/libexec/cleanup); the hostile-file
and "cleanup unreachable" tests need only master and pickup.
"""

import os
import stat
import subprocess

import pytest

from conftest import IS_ROOT, LIBEXEC, SBIN, Instance, ensure_accounts, wait_for

# A syntactically valid queue ID (queue_id.h alphabet, 16 symbols).
GARBAGE_ID = "0123456789BCDFGH"
LINK_ID = "0123456789BCDFGJ"


def start_instance(tmp_path, with_cleanup):
    for path in (os.path.join(SBIN, "postern"), os.path.join(SBIN, "sendmail"),
                 os.path.join(LIBEXEC, "master"), os.path.join(LIBEXEC, "pickup")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not built; run `make` first")
    ensure_accounts()
    i = Instance(tmp_path / "inst")
    i.add_service("pickup fifo n - y 60 1 pickup")
    if with_cleanup:
        # mail_proto.h puts cleanup at private/cleanup ("-" in the private
        # column); Postfix's own default master.cf has it public ("n").
        i.add_service("cleanup unix - - y - 0 cleanup")
    i.postern("check")
    i.start()
    wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "pickup")),
             what="public/pickup")
    return i


@pytest.fixture
def inst(tmp_path):
    i = start_instance(tmp_path, True)
    yield i
    i.cleanup()


@pytest.fixture
def inst_no_cleanup(tmp_path):
    i = start_instance(tmp_path, False)
    yield i
    i.cleanup()


def qdir(i, name):
    return sorted(os.listdir(os.path.join(i.queue, name)))


def trigger(i):
    fd = os.open(os.path.join(i.queue, "public", "pickup"), os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, b"W")
    finally:
        os.close(fd)


def sendmail(i, *args, input=b"Subject: test\n\nhello\n"):
    argv = [os.path.join(SBIN, "sendmail"), "-C", os.path.join(i.etc, "main.cf"), *args]
    p = subprocess.run(argv, input=input, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()


def postcat_env(i, path):
    p = subprocess.run([os.path.join(SBIN, "postcat"), "-c", i.etc, "-e", path],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode().splitlines()


def test_garbage_file_goes_to_corrupt_with_a_log_line(inst):
    path = os.path.join(inst.queue, "maildrop", GARBAGE_ID)
    with open(path, "wb") as f:
        f.write(b"this is not a queue file\n")
    os.chmod(path, 0o444)
    trigger(inst)
    wait_for(lambda: GARBAGE_ID in qdir(inst, "corrupt"), what="file in corrupt/")
    assert GARBAGE_ID not in qdir(inst, "maildrop")
    inst.wait_log(rf"postern/pickup\[\d+\]: warning: maildrop/{GARBAGE_ID}: .*: "
                  rf"moved to corrupt/{GARBAGE_ID}")


def test_file_with_forged_uid_record_goes_to_corrupt(inst_no_cleanup):
    # A postdrop file with a second uid attribute is not postdrop's work.
    # Without cleanup the real file stays in maildrop/ to be forged from.
    inst = inst_no_cleanup
    sendmail(inst, "bob@example.com")
    name = qdir(inst, "maildrop")[0]
    src = os.path.join(inst.queue, "maildrop", name)
    data = open(src, "rb").read()
    # Insert A "uid=0" after the magic, time and uid records.
    off = 0
    for _ in range(3):
        off += 5 + int.from_bytes(data[off + 1:off + 5], "big")
    forged = data[:off] + b"A" + (5).to_bytes(4, "big") + b"uid=0" + data[off:]
    path = os.path.join(inst.queue, "maildrop", GARBAGE_ID)
    with open(path, "wb") as f:
        f.write(forged)
    os.chmod(path, 0o444)
    os.unlink(src)
    trigger(inst)
    wait_for(lambda: GARBAGE_ID in qdir(inst, "corrupt"), what="file in corrupt/")
    inst.wait_log(rf"warning: maildrop/{GARBAGE_ID}: unexpected uid attribute: moved to corrupt/")


def test_symlink_is_not_followed(inst, tmp_path):
    target = tmp_path / "secret"
    target.write_bytes(b"secret data")
    os.symlink(str(target), os.path.join(inst.queue, "maildrop", LINK_ID))
    trigger(inst)
    wait_for(lambda: LINK_ID in qdir(inst, "corrupt"), what="symlink moved to corrupt/")
    moved = os.path.join(inst.queue, "corrupt", LINK_ID)
    assert stat.S_ISLNK(os.lstat(moved).st_mode)
    assert target.read_bytes() == b"secret data"
    inst.wait_log(rf"warning: maildrop/{LINK_ID}: symbolic link, not followed: moved to corrupt/")


def test_temp_files_and_other_names_are_left_alone(inst):
    names = [".0123456789BCDFGK.tmp", "README"]
    for n in names:
        with open(os.path.join(inst.queue, "maildrop", n), "wb") as f:
            f.write(b"in progress")
    # A garbage file in the same scan shows that the scan has happened.
    with open(os.path.join(inst.queue, "maildrop", GARBAGE_ID), "wb") as f:
        f.write(b"junk")
    os.chmod(os.path.join(inst.queue, "maildrop", GARBAGE_ID), 0o444)
    trigger(inst)
    wait_for(lambda: GARBAGE_ID in qdir(inst, "corrupt"), what="file in corrupt/")
    assert qdir(inst, "maildrop") == sorted(names)
    assert qdir(inst, "corrupt") == [GARBAGE_ID]


def test_file_waits_while_cleanup_is_unreachable(inst_no_cleanup):
    inst = inst_no_cleanup
    sendmail(inst, "-f", "alice@example.com", "bob@example.com")
    inst.wait_log(r"warning: connect to private/cleanup: .*; maildrop/\w+ waits for the next scan")
    assert len(qdir(inst, "maildrop")) == 1
    assert qdir(inst, "corrupt") == []


def test_submission_reaches_incoming(inst):
    sendmail(inst, "-f", "alice@example.com", "bob@example.com",
             input=b"Subject: hi\n\nbody line\n")
    wait_for(lambda: qdir(inst, "maildrop") == [] and qdir(inst, "incoming"),
             what="maildrop file moved to incoming/")
    m = inst.wait_log(r"postern/pickup\[\d+\]: (\w+): uid=(\d+) from=<alice@example.com>")
    assert int(m.group(2)) == os.getuid()
    qid = m.group(1)
    assert qdir(inst, "incoming") == [qid]
    env = postcat_env(inst, os.path.join(inst.queue, "incoming", qid))
    assert "sender: alice@example.com" in env
    assert "recipient: bob@example.com" in env
    assert f"named_attribute: uid={os.getuid()}" in env
    assert qdir(inst, "corrupt") == []
