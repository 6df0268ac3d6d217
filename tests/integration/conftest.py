"""Shared fixture: a real, isolated Postern instance per test.

Each instance has its own config directory, queue directory and log file in
the test's temp dir and its own loopback ports. It is started with the real
`postern start` (which runs master, which spawns the services) and torn down
by PID: master first, then anything left in its session.
"""

import os
import pwd
import grp
import re
import signal
import socket
import subprocess
import time

import pytest

SRC = os.environ.get("POSTERN_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("POSTERN_BUILD", os.path.join(SRC, "build"))
SBIN = os.path.join(BUILD, "sbin")
LIBEXEC = os.path.join(BUILD, "libexec")
TESTSVC = os.path.join(BUILD, "tests", "svc", "testsvc")
IS_ROOT = os.geteuid() == 0
SAN = os.environ.get("POSTERN_SAN") == "1"


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_accounts():
    """As root, the real privilege model needs the postern user and postdrop group."""
    if not IS_ROOT:
        return
    try:
        grp.getgrnam("postdrop")
    except KeyError:
        subprocess.run(["groupadd", "--system", "postdrop"], check=True)
    try:
        pwd.getpwnam("postern")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", "postern"], check=True)


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def session_pids(sid):
    """PIDs of every live process whose session ID is sid (master calls setsid).
    Zombies are dead already; they only wait for a parent (or an init that
    does not reap, as in some containers) to collect them."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d))
    return pids


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


class Instance:
    def __init__(self, base):
        self.base = str(base)
        self.etc = os.path.join(self.base, "etc")
        self.queue = os.path.join(self.base, "queue")
        self.log = os.path.join(self.base, "maillog")
        os.makedirs(self.etc)
        os.makedirs(self.queue)
        if IS_ROOT:
            # The queue directory becomes a chroot: root-owned, not writable by others.
            os.chmod(self.base, 0o755)
        self.master_pid = None
        self.main = {
            "queue_directory": self.queue,
            "daemon_directory": LIBEXEC,
            "command_directory": SBIN,
            "data_directory": os.path.join(self.base, "data"),
            "maillog_file": self.log,
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "myhostname": "test.example",
            "mydestination": "localhost",
            "service_throttle_time": "3s",
            "master_stop_timeout": "5s",
        }
        if SAN:
            # Sanitizer reports from daemons (whose stderr is /dev/null) go to files
            # that cleanup() checks. Chrooted children cannot reach the path.
            self.san_log = os.path.join(self.base, "san")
            os.environ["ASAN_OPTIONS"] = f"detect_leaks=0:log_path={self.san_log}"
            os.environ["UBSAN_OPTIONS"] = f"print_stacktrace=1:halt_on_error=1:log_path={self.san_log}"
            self.main["import_environment"] = "MAIL_CONFIG TZ LANG=C ASAN_OPTIONS UBSAN_OPTIONS"
        if not IS_ROOT:
            self.main["mail_owner"] = pwd.getpwuid(os.getuid()).pw_name
            self.main["setgid_group"] = grp.getgrgid(os.getgid()).gr_name
        self.services = []
        # Commands run under this prefix: ["ip", "netns", "exec", NAME] runs
        # the whole instance in a test's network namespace (dnsns.py).
        self.exec_prefix = []
        self.write_config()

    # -- configuration ------------------------------------------------------
    def write_config(self):
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("# written by the test fixture\n")
            for k, v in self.main.items():
                f.write(f"{k} = {v}\n")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write("# service type private unpriv chroot wakeup maxproc command + args\n")
            for line in self.services:
                f.write(line + "\n")

    def add_service(self, line):
        self.services.append(line)
        self.write_config()

    # -- commands ------------------------------------------------------------
    def cmd(self, prog, *args, check=True, timeout=60, input=None):
        argv = [*self.exec_prefix, os.path.join(SBIN, prog), "-c", self.etc, *args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                           stdin=None if input is not None else subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {p.returncode}\nstdout: {p.stdout}\n"
                                 f"stderr: {p.stderr}\nlog:\n{self.read_log()[-3000:]}")
        return p

    def postern(self, *args, **kw):
        return self.cmd("postern", *args, **kw)

    def start(self):
        self.postern("start")
        self.master_pid = self.pid_from_file()
        assert self.master_pid, "postern start returned 0 but no master.pid"
        return self.master_pid

    def pid_from_file(self):
        try:
            with open(os.path.join(self.queue, "pid", "master.pid")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0

    def stop(self):
        self.postern("stop")

    def children(self):
        """PIDs of master's children, newest last."""
        if not self.master_pid:
            return []
        pids = []
        for pid in session_pids(self.master_pid):
            if pid == self.master_pid:
                continue
            try:
                if int(proc_status(pid).get("PPid", 0)) == self.master_pid:
                    pids.append(pid)
            except OSError:
                pass
        return sorted(pids)

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.read_log()), timeout=timeout,
                        what=f"log line matching {pattern!r}; log:\n{self.read_log()[-2000:]}")

    def sanitizer_reports(self):
        d = self.base
        return [os.path.join(d, f) for f in os.listdir(d) if f.startswith("san.")]

    def cleanup(self):
        """Stop whatever is left, by PID: master, then the rest of its session."""
        pid = self.master_pid or self.pid_from_file()
        if not pid:
            return
        for p in [pid] + session_pids(pid):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while session_pids(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def instance(tmp_path):
    for path in (os.path.join(SBIN, "postern"), os.path.join(LIBEXEC, "master"), TESTSVC):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is not built; run `make` first")
    ensure_accounts()
    inst = Instance(tmp_path / "inst")
    yield inst
    inst.cleanup()
    reports = inst.sanitizer_reports()
    if reports:
        text = "".join(open(r, errors="replace").read() for r in reports)
        pytest.fail(f"sanitizer reports from daemons:\n{text[:5000]}")


class LineClient:
    """A line-oriented client for testsvc's echo protocol."""

    def __init__(self, addr, timeout=10):
        if isinstance(addr, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.f = self.sock.makefile("rwb")
        self.greeting = self.readline()

    def readline(self):
        line = self.f.readline()
        if not line:
            raise EOFError("server closed the connection")
        return line.decode().rstrip("\n")

    def ask(self, text):
        self.f.write(text.encode() + b"\n")
        self.f.flush()
        return self.readline()

    def close(self):
        try:
            self.f.close()
        finally:
            self.sock.close()


def connect_retry(addr, timeout=10):
    """Connect, retrying while master starts the service."""
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return LineClient(addr)
        except (OSError, EOFError) as e:
            last = e
            time.sleep(0.1)
    raise AssertionError(f"could not reach {addr}: {last}")
