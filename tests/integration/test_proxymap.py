"""proxymap(8) and the proxy: table type against a real instance.

The instance runs only proxymap ("proxymap unix - - n - - proxymap"). The
client is tests/svc/mapq, which opens "proxy:TYPE:NAME" with map_open after
changing to the queue directory and, as root, chrooting there and becoming
mail_owner like a chrooted smtpd. Tables live in a world-readable temporary
directory, so that proxymap, running as mail_owner, can read them.
"""

import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import attrproto
from conftest import BUILD, IS_ROOT, LIBEXEC, SBIN, proc_status, wait_for

MAPQ = os.path.join(BUILD, "tests", "svc", "mapq")
PROXYMAP_LINE = "proxymap  unix  -  -  n  -  -  proxymap"
IPC_TIMEOUT = 3


class Mapq:
    """mapq as a co-process: one command line in, one answer line out."""

    def __init__(self, inst, chroot=IS_ROOT):
        argv = [MAPQ, "-c", inst.etc] + (["-C"] if chroot else [])
        self.inst = inst
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""
        ready = self.readline(10)
        assert ready.startswith("ready pid="), f"mapq did not start: {ready!r}"
        fields = dict(f.split("=") for f in ready.split()[1:])
        self.pid, self.uid = int(fields["pid"]), int(fields["uid"])

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise AssertionError(f"mapq gave no answer within {timeout}s; log:\n"
                                     f"{self.inst.read_log()[-2000:]}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"mapq exited: {self.p.stderr.read().decode()}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode()

    def ask(self, line, timeout=20):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()
        return self.readline(timeout)

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write(b"quit\n")
                self.p.stdin.close()
                self.p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()


class RawClient:
    """The attribute protocol spoken by hand, for requests mapq never sends."""

    def __init__(self, inst):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(os.path.join(inst.queue, "private", "proxymap"))
        self.f = self.sock.makefile("rwb")

    def ask(self, attrs):
        attrproto.send(self.f, attrs)
        return attrproto.decode(self.f)

    def close(self):
        self.f.close()
        self.sock.close()


def postmap(inst, spec, text):
    path = spec.split(":", 1)[1]
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    inst.cmd("postmap", spec)
    if os.path.exists(path + ".lmdb"):
        os.chmod(path + ".lmdb", 0o644)


@pytest.fixture
def tables():
    d = tempfile.mkdtemp(prefix="postern-proxymap-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def setup_instance(instance, tables, with_proxymap=True):
    for prog in ("proxymap",):
        if not os.access(os.path.join(LIBEXEC, prog), os.X_OK):
            pytest.fail(f"{LIBEXEC}/{prog} is not built; run `make` first")
    if not os.access(MAPQ, os.X_OK):
        pytest.fail(f"{MAPQ} is not built; run `make` first")
    i = instance
    i.users_spec = f"lmdb:{tables}/users"
    i.plain_spec = f"texthash:{tables}/plain"
    i.secret_spec = f"lmdb:{tables}/secret"
    i.absent_spec = f"lmdb:{tables}/absent"
    i.main.update({
        "ipc_timeout": f"{IPC_TIMEOUT}s",
        # local_recipient_maps brings proxy:unix:passwd.byname (its default);
        # the texthash table is listed with a "proxy:" prefix, as admins do.
        "proxy_read_maps": f"$local_recipient_maps {i.users_spec},"
                           f" proxy:{i.plain_spec} {i.absent_spec}",
    })
    i.write_config()
    if with_proxymap:
        i.add_service(PROXYMAP_LINE)
    postmap(i, i.users_spec, "Alice alice-value\nbob bob-value\n")
    postmap(i, i.secret_spec, "alice secret-value\n")
    with open(f"{tables}/plain", "w") as f:
        f.write("carol carol-value\n")
    os.chmod(f"{tables}/plain", 0o644)
    i.postern("check")
    i.start()
    if with_proxymap:
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "private", "proxymap")),
                 what="private/proxymap")
    return i


@pytest.fixture
def inst(instance, tables):
    i = setup_instance(instance, tables)
    i.clients = []
    yield i
    for c in i.clients:
        c.close()


def mapq(inst, **kw):
    c = Mapq(inst, **kw)
    inst.clients.append(c)
    return c


def proxymap_pids(inst):
    out = []
    for pid in inst.children():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
        except OSError:
            continue
        if os.path.basename(argv0) == b"proxymap":
            out.append(pid)
    return out


def mail_owner(inst):
    return pwd.getpwnam(inst.main.get("mail_owner", "postern"))


def test_passwd_lookups_from_a_chroot_as_mail_owner(inst):
    q = mapq(inst)
    if IS_ROOT:
        assert q.uid == mail_owner(inst).pw_uid, "mapq should run as mail_owner"
        assert os.readlink(f"/proc/{q.pid}/root") == inst.queue, "mapq should be chrooted"
    root = pwd.getpwnam("root")
    r = q.ask("lookup proxy:unix:passwd.byname root")
    assert r.startswith("found: root:"), f"root through proxymap: {r!r}"
    assert f":{root.pw_uid}:{root.pw_gid}:" in r and root.pw_dir in r, r
    assert q.ask("lookup proxy:unix:passwd.byname pt_no_such_user") == "notfound"
    # the default proxy_read_maps entry is "proxy:unix:passwd.byname": the
    # prefix was stripped, and nothing was refused
    assert "unapproved" not in inst.read_log()


def test_proxymap_runs_as_mail_owner_outside_the_chroot(inst):
    q = mapq(inst)
    assert q.ask(f"lookup proxy:{inst.users_spec} bob") == "found: bob-value"
    pids = proxymap_pids(inst)
    assert len(pids) == 1, f"one proxymap process expected, found {pids}"
    st = proc_status(pids[0])
    owner = mail_owner(inst)
    assert st["Uid"].split() == [str(owner.pw_uid)] * 4, f"proxymap Uid: {st['Uid']}"
    assert st["Gid"].split() == [str(owner.pw_gid)] * 4, f"proxymap Gid: {st['Gid']}"
    assert st["CapEff"] == "0000000000000000", f"proxymap keeps capabilities: {st['CapEff']}"
    assert os.readlink(f"/proc/{pids[0]}/root") == "/", "proxymap must not be chrooted"


def test_lmdb_table_built_by_postmap_with_case_folding_at_the_server(inst):
    q = mapq(inst)
    assert q.ask(f"open proxy:{inst.users_spec}") == "ok"
    assert q.ask(f"lookup proxy:{inst.users_spec} alice") == "found: alice-value"
    # the client sends the key as given; proxymap folds it with the client's flags
    assert q.ask(f"lookup proxy:{inst.users_spec} ALICE") == "found: alice-value"
    assert q.ask(f"lookupcs proxy:{inst.users_spec} ALICE") == "notfound"
    assert q.ask(f"lookupcs proxy:{inst.users_spec} alice") == "found: alice-value"
    assert q.ask(f"lookup proxy:{inst.users_spec} nobody") == "notfound"
    # approved as "proxy:texthash:..." in proxy_read_maps
    assert q.ask(f"lookup proxy:{inst.plain_spec} Carol") == "found: carol-value"


def test_postmap_queries_proxy_tables_from_anywhere(inst):
    # postmap does not run in the queue directory: it finds proxymap's
    # socket through queue_directory.
    r = inst.cmd("postmap", "-q", "ALICE", f"proxy:{inst.users_spec}", check=False)
    assert (r.returncode, r.stdout) == (0, "alice-value\n"), r
    r = inst.cmd("postmap", "-q", "nobody", f"proxy:{inst.users_spec}", check=False)
    assert (r.returncode, r.stdout) == (1, ""), r


def test_rebuilt_table_is_seen_without_restarting_proxymap(inst):
    q = mapq(inst)
    assert q.ask(f"lookup proxy:{inst.users_spec} bob") == "found: bob-value"
    before = proxymap_pids(inst)
    time.sleep(1.1)  # the map library checks a table file at most once a second
    postmap(inst, inst.users_spec, "bob new-bob-value\n")
    wait_for(lambda: q.ask(f"lookup proxy:{inst.users_spec} bob") == "found: new-bob-value",
             timeout=5, what="the rebuilt value")
    assert q.ask(f"lookup proxy:{inst.users_spec} alice") == "notfound"
    assert proxymap_pids(inst) == before, "the same proxymap should serve the new table"


def test_unapproved_table_is_refused_with_postfix_warning(inst):
    q = mapq(inst)
    r = q.ask(f"open proxy:{inst.secret_spec}")
    assert r.startswith(f"error: table proxy:{inst.secret_spec}: refused by proxymap: "), r
    assert "proxy_read_maps" in r, r
    inst.wait_log(r'postern/proxymap\[\d+\]: warning: request for unapproved table: "'
                  + inst.secret_spec.replace(".", r"\.") + '"')
    inst.wait_log(r"warning: to approve this table for read-only access, list proxy:"
                  + inst.secret_spec.replace(".", r"\.") + r" in main.cf:proxy_read_maps")
    # a lookup without a prior open is checked just the same
    c = RawClient(inst)
    rep = c.ask([("request", "lookup"), ("table", inst.secret_spec), ("flags", 1),
                 ("key", "alice")])
    assert rep["status"] == 3 and rep["value"] == "", rep
    assert "secret-value" not in str(rep)
    c.close()


def test_nested_proxy_table_is_never_opened(inst):
    q = mapq(inst)
    r = q.ask(f"open proxy:proxy:{inst.users_spec}")
    assert r.startswith("error: ") and "cannot be proxied again" in r, r
    c = RawClient(inst)
    rep = c.ask([("request", "open"), ("table", f"proxy:proxy:{inst.users_spec}"), ("flags", 1)])
    assert rep["status"] == 3 and "cannot be proxied again" in rep["reason"], rep
    # one "proxy:" prefix is dropped, as Postfix does
    rep = c.ask([("request", "lookup"), ("table", f"proxy:{inst.users_spec}"), ("flags", 1),
                 ("key", "bob")])
    assert rep == {"status": 0, "value": "bob-value"}, rep
    c.close()


def test_missing_table_fails_open_and_lookups_temporarily(inst):
    q = mapq(inst)
    r = q.ask(f"open proxy:{inst.absent_spec}")
    assert r.startswith(f"error: table proxy:{inst.absent_spec}: proxymap cannot open it: "), r
    assert "absent.lmdb" in r, r
    c = RawClient(inst)
    rep = c.ask([("request", "lookup"), ("table", inst.absent_spec), ("flags", 1), ("key", "x")])
    assert rep["status"] == 2 and "absent.lmdb" in rep["reason"], rep
    # once the table exists it is opened and served
    postmap(inst, inst.absent_spec, "x found-now\n")
    assert q.ask(f"lookup proxy:{inst.absent_spec} x") == "found: found-now"
    c.close()


def test_killed_proxymap_means_temporary_failure_then_recovery(inst):
    q = mapq(inst)
    spec = f"proxy:{inst.users_spec}"
    assert q.ask(f"lookup {spec} bob") == "found: bob-value"
    [first] = proxymap_pids(inst)

    # Killed between two lookups: the dropped connection is replaced once,
    # and master starts a new proxymap for it.
    os.kill(first, signal.SIGKILL)
    inst.wait_log(rf"process \S*proxymap pid {first} killed by signal 9")
    assert q.ask(f"lookup {spec} bob") == "found: bob-value"
    [second] = proxymap_pids(inst)
    assert second != first

    # Hung: the lookup gives up after ipc_timeout with a temporary failure
    # that names the table; killed, master starts another and lookups work.
    os.kill(second, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = q.ask(f"lookup {spec} bob", timeout=IPC_TIMEOUT + 10)
        took = time.monotonic() - t0
        assert r.startswith(f"tempfail: table {spec}: proxymap service unavailable: "), r
        assert "timeout" in r, r
        assert IPC_TIMEOUT - 0.5 <= took <= IPC_TIMEOUT + 5, f"timeout after {took:.1f}s"
    finally:
        os.kill(second, signal.SIGKILL)  # also ends a stopped process
    inst.wait_log(rf"process \S*proxymap pid {second} killed by signal 9")
    assert q.ask(f"lookup {spec} bob") == "found: bob-value"
    assert q.ask(f"lookup {spec} nobody") == "notfound"
    assert second not in proxymap_pids(inst)


def test_many_clients_share_one_proxymap(inst):
    a, b = mapq(inst), mapq(inst, chroot=False)
    spec = f"proxy:{inst.users_spec}"
    for _ in range(3):
        assert a.ask(f"lookup {spec} alice") == "found: alice-value"
        assert b.ask(f"lookup {spec} bob") == "found: bob-value"
    raw = RawClient(inst)
    # many requests in one write (more than proxymap answers in one turn):
    # every reply, in order
    keys = ["alice" if n % 3 == 0 else f"nobody{n}" for n in range(100)]
    raw.f.write(b"".join(attrproto.encode([("request", "lookup"), ("table", inst.users_spec),
                                           ("flags", 1), ("key", k)]) for k in keys))
    raw.f.flush()
    for k in keys:
        want = {"status": 0, "value": "alice-value"} if k == "alice" else {"status": 1, "value": ""}
        assert attrproto.decode(raw.f) == want, f"reply for {k}"
    assert a.ask(f"lookup {spec} bob") == "found: bob-value"
    assert len(proxymap_pids(inst)) == 1, "all clients should be served by one proxymap"
    raw.close()


def test_bad_requests_are_refused_and_garbage_ends_only_that_client(inst):
    good = mapq(inst)
    spec = f"proxy:{inst.users_spec}"
    assert good.ask(f"lookup {spec} bob") == "found: bob-value"
    [pid] = proxymap_pids(inst)
    c = RawClient(inst)
    bad = [
        ([("request", "update"), ("table", inst.users_spec), ("flags", 1), ("key", "k")],
         "unknown request"),
        ([("request", "lookup"), ("table", inst.users_spec), ("flags", 2), ("key", "k")],
         "bad flags"),
        ([("request", "lookup"), ("table", inst.users_spec), ("flags", 1)], "key"),
        ([("request", "open"), ("table", inst.users_spec), ("flags", 1), ("key", "k")], "key"),
        ([("request", "lookup"), ("table", inst.users_spec), ("flags", 1), ("key", "k"),
          ("extra", "x")], "extra"),
        ([("request", "lookup"), ("table", "no-colon"), ("flags", 1), ("key", "k")],
         "type:name"),
        ([("request", "lookup"), ("table", inst.users_spec + "\n"), ("flags", 1), ("key", "k")],
         "control character"),
    ]
    for attrs, word in bad:
        rep = c.ask(attrs)
        assert rep["status"] == 3, f"{attrs}: {rep}"
        assert word in rep["reason"], f"{attrs}: {rep}"
    # still in step after the refusals
    rep = c.ask([("request", "lookup"), ("table", inst.users_spec), ("flags", 1), ("key", "bob")])
    assert rep == {"status": 0, "value": "bob-value"}
    # a message that cannot be parsed ends this connection only
    c.f.write(b"Q\x03abc")
    c.f.flush()
    assert c.f.read(1) == b"", "proxymap should close a connection that sends garbage"
    c.close()
    # an oversized request is refused before it is read
    c = RawClient(inst)
    c.f.write(b"S\x03key" + (10**7).to_bytes(4, "big"))
    c.f.flush()
    assert c.f.read(1) == b""
    c.close()
    assert good.ask(f"lookup {spec} alice") == "found: alice-value"
    assert proxymap_pids(inst) == [pid], "proxymap must survive bad clients"


def test_without_proxymap_service_open_fails_naming_the_table(instance, tables):
    i = setup_instance(instance, tables, with_proxymap=False)
    q = Mapq(i)
    try:
        r = q.ask(f"open proxy:{i.users_spec}")
        assert r == (f"error: table proxy:{i.users_spec}: proxymap service unavailable: "
                     "connect to private/proxymap: No such file or directory"), r
    finally:
        q.close()


def test_chrooted_proxymap_warns_at_start(instance, tables):
    if not IS_ROOT:
        pytest.skip("chroot needs root")
    i = setup_instance(instance, tables, with_proxymap=False)
    i.stop()
    i.add_service("proxymap  unix  -  -  y  -  -  proxymap")
    i.start()
    wait_for(lambda: os.path.exists(os.path.join(i.queue, "private", "proxymap")),
             what="private/proxymap")
    q = Mapq(i)
    try:
        q.ask(f"open proxy:{i.users_spec}")
        i.wait_log(r"postern/proxymap\[\d+\]: warning: running chrooted: unix:passwd.byname and "
                   r"tables outside \S+ will not work; set the chroot column of the proxymap "
                   r"service in master.cf to n")
    finally:
        q.close()
