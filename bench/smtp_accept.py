#!/usr/bin/python3
"""Benchmark (issue 4): Postern's SMTP server beside Debian's Postfix, on
this machine, in the same run.

For each server and for concurrency 1 and 10, Postfix's own load generator
smtp-source sends N (default 2000) messages with a 4 KiB body to one local
user whose mail goes to ~/Maildir/, and we measure
  - accept rate:     N / wall time of smtp-source (every DATA got its 250,
                     which both servers send only after fsync),
  - end-to-end rate: N / time from the start of smtp-source until all N
                     messages are files in the user's Maildir/new.
It also measures this disk's fsync'd file-creation rate for context, prints
a table with the ratios Postern/Postfix (target: at least 3x) and writes
bench/results/smtp_accept.json.

Postern runs as the integration tests' SmtpSystem (a private instance,
smtpd on a loopback port, home_mailbox = Maildir/). Postfix is Debian's
package, installed here when missing (non-interactively, "No configuration",
with a policy-rc.d that forbids starting it, and then disabled at boot), run
as a PRIVATE instance: its own config, queue, data directories and maillog
in a temp dir, smtpd on 127.0.0.1 and a free port. The default instance is
never started and /etc/postfix is not touched: Postfix checks that a
non-default config directory is listed in the default main.cf's
alternate_config_directories only for callers that are not root, and here
every Postfix command runs as root (postdrop/postqueue, the non-root users
of the config, are not used).

Needs root. Run after `make`:
  /usr/bin/python3 bench/smtp_accept.py [-n 2000] [--size 4096]
      [--reuse] [--only postern|postfix]
"""

import argparse
import json
import os
import platform
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from conftest import LIBEXEC, free_port, session_pids, wait_for  # noqa: E402
from mailsys import create_user, remove_users  # noqa: E402

# A name of its own: the integration tests create and remove pt_amy & co.
USER = "pt_bench_%04x" % (os.getpid() & 0xFFFF)
DOMAIN = "test.example"
SENDER = "sender@bench.example"
CONCURRENCY = (1, 10)
PF_BIN = "/usr/sbin/postfix"
SMTP_SOURCE = "/usr/sbin/smtp-source"
POLICY_RC = "/usr/sbin/policy-rc.d"
RESULTS = os.path.join(HERE, "results", "smtp_accept.json")


class BenchError(Exception):
    pass


def sh(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def _terminate(signum, _frame):
    # SIGTERM/SIGHUP run the same clean-up as Ctrl-C.
    raise KeyboardInterrupt(f"signal {signum}")


# -- context: the disk ---------------------------------------------------------
def fsync_rate(directory, seconds=2.0):
    """4 KiB files created, written, fsynced and renamed per second."""
    d = tempfile.mkdtemp(prefix="fsync-", dir=directory)
    data = b"x" * 4096
    n = 0
    t0 = time.perf_counter()
    try:
        while time.perf_counter() - t0 < seconds:
            tmp = os.path.join(d, f"t{n}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, os.path.join(d, f"f{n}"))
            n += 1
        return n / (time.perf_counter() - t0)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# -- Postfix: the package --------------------------------------------------------
def ensure_postfix():
    """Debian's postfix (with smtp-source), installed if missing, never started."""
    if os.access(PF_BIN, os.X_OK) and os.access(SMTP_SOURCE, os.X_OK):
        return
    print("installing Debian's postfix (No configuration, not started, disabled at boot) ...",
          flush=True)
    created_policy = False
    if not os.path.exists(POLICY_RC):
        with open(POLICY_RC, "w") as f:
            f.write("#!/bin/sh\n# bench/smtp_accept.py: no service starts during its install\n"
                    "exit 101\n")
        os.chmod(POLICY_RC, 0o755)
        created_policy = True
    try:
        p = subprocess.run(["debconf-set-selections"], text=True, capture_output=True,
                           input="postfix postfix/main_mailer_type select No configuration\n")
        if p.returncode != 0:
            raise BenchError(f"debconf-set-selections failed: {p.stderr.strip()}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        p = sh(["apt-get", "install", "-y", "-q", "postfix"], env=env)
        if p.returncode != 0:
            raise BenchError(f"apt-get install postfix failed:\n{p.stdout[-2000:]}{p.stderr}")
    finally:
        if created_policy:
            os.unlink(POLICY_RC)
    # Never at boot: neither the SysV links nor the systemd unit.
    if shutil.which("update-rc.d"):
        sh(["update-rc.d", "postfix", "disable"])
    if shutil.which("systemctl"):
        sh(["systemctl", "disable", "postfix.service"])
    if not (os.access(PF_BIN, os.X_OK) and os.access(SMTP_SOURCE, os.X_OK)):
        raise BenchError(f"postfix installed but {PF_BIN} or {SMTP_SOURCE} is missing")


def pf_master_cf(port):
    """Debian's master.cf services, smtpd on 127.0.0.1:port only, no chroot
    (a chroot would need copies of /etc files in the queue; it costs nothing
    per message)."""
    rows = [
        f"127.0.0.1:{port} inet n - n - - smtpd",
        "pickup    unix  n  -  n  60    1  pickup",
        "cleanup   unix  n  -  n  -     0  cleanup",
        "qmgr      unix  n  -  n  300   1  qmgr",
        "tlsmgr    unix  -  -  n  1000? 1  tlsmgr",
        "rewrite   unix  -  -  n  -     -  trivial-rewrite",
        "bounce    unix  -  -  n  -     0  bounce",
        "defer     unix  -  -  n  -     0  bounce",
        "trace     unix  -  -  n  -     0  bounce",
        "verify    unix  -  -  n  -     1  verify",
        "flush     unix  n  -  n  1000? 0  flush",
        "proxymap  unix  -  -  n  -     -  proxymap",
        "proxywrite unix -  -  n  -     1  proxymap",
        "smtp      unix  -  -  n  -     -  smtp",
        "relay     unix  -  -  n  -     -  smtp -o syslog_name=postfix/$service_name",
        "showq     unix  n  -  n  -     -  showq",
        "error     unix  -  -  n  -     -  error",
        "retry     unix  -  -  n  -     -  error",
        "discard   unix  -  -  n  -     -  discard",
        "local     unix  -  n  n  -     -  local",
        "virtual   unix  -  n  n  -     -  virtual",
        "lmtp      unix  -  -  n  -     -  lmtp",
        "anvil     unix  -  -  n  -     1  anvil",
        "scache    unix  -  -  n  -     1  scache",
        "postlog   unix-dgram n - n  -     1  postlogd",
    ]
    return "# written by bench/smtp_accept.py\n" + "\n".join(rows) + "\n"


class PostfixInstance:
    """A private Postfix instance in base (config, queue, data, maillog)."""

    name = "postfix"

    def __init__(self, base):
        self.base = base
        self.etc = os.path.join(base, "etc")
        self.queue = os.path.join(base, "queue")
        self.log = os.path.join(base, "maillog")
        self.port = free_port()
        self.master_pid = 0
        os.makedirs(self.etc)
        os.makedirs(self.queue)
        os.chmod(base, 0o755)
        main = {
            # Debian's main.cf (/usr/share/postfix/main.cf.debian).
            "smtpd_banner": "$myhostname ESMTP $mail_name (Debian/GNU)",
            "biff": "no",
            "append_dot_mydomain": "no",
            "readme_directory": "no",
            "compatibility_level": "3.6",
            # This instance, loopback only.
            "queue_directory": self.queue,
            "data_directory": os.path.join(base, "data"),
            "maillog_file": self.log,
            "maillog_file_prefixes": base,
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "myhostname": DOMAIN,
            "mydestination": "$myhostname, localhost",
            # The same aliases as the Postern instance: one lookup per message.
            "alias_maps": f"hash:{self.etc}/aliases",
            "alias_database": f"hash:{self.etc}/aliases",
            "home_mailbox": "Maildir/",
        }
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("# written by bench/smtp_accept.py\n")
            for k, v in main.items():
                f.write(f"{k} = {v}\n")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write(pf_master_cf(self.port))
        with open(os.path.join(self.etc, "aliases"), "w") as f:
            f.write(f"postmaster: root\nroot: {USER}\n")

    def cmd(self, *argv, check=True):
        p = sh(list(argv), env=dict(os.environ, MAIL_CONFIG=self.etc), timeout=120)
        if check and p.returncode != 0:
            raise BenchError(f"{' '.join(argv)} exited {p.returncode}: {p.stdout}{p.stderr}\n"
                             f"maillog:\n{self.read_log()[-2000:]}")
        return p

    def start(self):
        self.cmd("postalias", "-c", self.etc, f"hash:{self.etc}/aliases")
        self.cmd(PF_BIN, "-c", self.etc, "start")
        pidfile = os.path.join(self.queue, "pid", "master.pid")

        def pid():
            try:
                with open(pidfile) as f:
                    return int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0
        self.master_pid = wait_for(pid, timeout=20, what=f"Postfix {pidfile}")
        wait_for(lambda: port_open(self.port), timeout=20,
                 what=f"Postfix smtpd on 127.0.0.1:{self.port}; maillog:\n{self.read_log()}")

    def queue_empty(self):
        for q in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _d, _s, files in os.walk(os.path.join(self.queue, q)):
                if files:
                    return False
        return True

    def stop(self):
        if self.master_pid:
            self.cmd(PF_BIN, "-c", self.etc, "stop", check=False)
        kill_ours(self.master_pid, self.etc)

    def cleanup(self):
        pass  # its files go with the run's temp dir

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def kill_ours(master_pid, config_dir):
    """Stops what is left of one instance we started: its master's session and
    any process run with MAIL_CONFIG=config_dir (postfix-script starts
    background checks). Only those PIDs, first TERM, then KILL."""
    marker = f"MAIL_CONFIG={config_dir}".encode()

    def leftovers():
        pids = set(session_pids(master_pid)) if master_pid else set()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/environ", "rb") as f:
                        if marker in f.read().split(b"\0"):
                            pids.add(int(d))
                except OSError:
                    pass
        pids.discard(os.getpid())
        return pids

    deadline = time.monotonic() + 10
    sig = signal.SIGTERM
    while True:
        pids = leftovers()
        if not pids:
            return
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        if sig == signal.SIGKILL and time.monotonic() > deadline + 5:
            print(f"warning: could not stop PIDs {sorted(leftovers())}", file=sys.stderr)
            return


def port_open(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(5)
            return s.recv(1) != b""
    except OSError:
        return False


# -- Postern ---------------------------------------------------------------------
class PosternInstance:
    """The integration tests' SmtpSystem, Maildir delivery, default limits."""

    name = "postern"

    def __init__(self, base):
        from smtpsys import SmtpSystem
        try:
            self.sys = SmtpSystem(base, users=(USER,), main={"home_mailbox": "Maildir/"})
        except BaseException as e:  # pytest.fail() raises a BaseException
            if isinstance(e, KeyboardInterrupt):
                raise
            raise BenchError(f"Postern instance: {e}") from None
        self.port = self.sys.port
        self.started = False

    def start(self):
        self.started = True
        try:
            self.sys.start()
        except AssertionError as e:
            lines = problems(self.read_log()) or self.read_log().splitlines()[-20:]
            raise BenchError(f"{str(e).splitlines()[0]}\nmaillog:\n" + "\n".join(lines[:30]))

    def queue_empty(self):
        return self.sys.queue_empty()

    def stop(self):
        """Its processes only: the user stays until cleanup()."""
        if self.started:
            self.sys.inst.postern("stop", check=False)
        self.sys.inst.cleanup()

    def cleanup(self):
        self.sys.cleanup()

    def read_log(self):
        return self.sys.inst.read_log()


# -- the measurement -------------------------------------------------------------
def maildir_new(user):
    return os.path.join(pwd.getpwnam(user).pw_dir, "Maildir", "new")


def count(d):
    try:
        return len(os.listdir(d))
    except FileNotFoundError:
        return 0


def empty_maildir(user):
    md = os.path.join(pwd.getpwnam(user).pw_dir, "Maildir")
    for sub in ("new", "cur", "tmp"):
        d = os.path.join(md, sub)
        if os.path.isdir(d):
            for f in os.listdir(d):
                os.unlink(os.path.join(d, f))


def problems(log, since=0):
    keys = ("fatal:", "panic:", "error:", "warning:", "killed by signal", "exit status",
            "reject:", "status=deferred", "status=bounced", "sanitizer")
    return [l for l in log[since:].splitlines() if any(k in l for k in keys)]


def run_one(server, n, concurrency, size, per_session):
    """One measured batch; returns (accept msg/s, end-to-end msg/s)."""
    new = maildir_new(USER)
    empty_maildir(USER)
    log_at = len(server.read_log())
    argv = [SMTP_SOURCE, "-4", "-l", str(size), "-m", str(n), "-s", str(concurrency),
            "-M", "bench.example", "-f", SENDER, "-t", f"{USER}@{DOMAIN}"]
    if per_session > 1:
        argv.append("-d")
    argv.append(f"127.0.0.1:{server.port}")
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=max(600, n))
    t_accept = time.perf_counter() - t0
    if p.returncode != 0:
        raise BenchError(f"{server.name}: smtp-source exited {p.returncode}: "
                         f"{(p.stdout + p.stderr).strip()[-1500:]}\nmaillog problems:\n"
                         + "\n".join(problems(server.read_log(), log_at)[:30]))
    deadline = time.monotonic() + max(300, n / 2)
    while count(new) < n:
        if time.monotonic() > deadline:
            raise BenchError(f"{server.name}: only {count(new)} of {n} messages in {new} after "
                             f"{time.perf_counter() - t0:.0f} s\nmaillog problems:\n"
                             + "\n".join(problems(server.read_log(), log_at)[:30]))
        time.sleep(0.01)
    t_e2e = time.perf_counter() - t0
    names = os.listdir(new)
    if len(names) != n:
        raise BenchError(f"{server.name}: {len(names)} messages in {new}, expected {n}")
    # The whole message arrived, not a stub.
    small = [f for f in names[:20] if os.path.getsize(os.path.join(new, f)) < size]
    if small:
        raise BenchError(f"{server.name}: {new}/{small[0]} is shorter than the {size} B body")
    try:
        wait_for(server.queue_empty, timeout=60, what=f"{server.name}: an empty queue")
    except AssertionError as e:
        raise BenchError(str(e)) from None
    bad = problems(server.read_log(), log_at)
    if bad:
        print(f"  {server.name} log problems during the run:\n    " + "\n    ".join(bad[:10]))
    return n / t_accept, n / t_e2e


def warm_up(server, size):
    """Every daemon of the path started once, the same for both servers."""
    run_one(server, 20, 10, size, 1)


def ratio(a, b):
    return None if not a or not b else a / b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--messages", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4096, help="body bytes per message")
    ap.add_argument("--reuse", action="store_true",
                    help="send each client's messages over one connection (smtp-source -d);"
                         " default: one message per SMTP session")
    ap.add_argument("--only", choices=("postern", "postfix"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/smtp_accept.py needs root: it installs postfix, creates a test user "
                 "and runs both mail systems with their privilege separation")
    per_session = args.messages if args.reuse else 1
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    want = [s for s in ("postfix", "postern") if args.only in (None, s)]
    if "postern" in want and not os.access(os.path.join(LIBEXEC, "smtpd"), os.X_OK):
        sys.exit(f"{LIBEXEC}/smtpd is not built: run `make` first (or --only postfix)")

    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
               "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                        "loadavg_at_start": os.getloadavg()[0]},
               "messages": args.messages, "body_bytes": args.size,
               "messages_per_session": per_session, "runs": [], "errors": {}}
    tmp = tempfile.mkdtemp(prefix="smtp-bench-")
    os.chmod(tmp, 0o755)
    servers = {}
    made = []
    own_user = False
    try:
        fs = fsync_rate(tmp)
        results["fsync_creates_per_s"] = round(fs, 1)
        print(f"disk: {fs:.0f} fsync'd 4 KiB file creations/s (create+write+fsync+rename, "
              f"{tmp})", flush=True)
        if "postern" in want:
            try:
                servers["postern"] = PosternInstance(os.path.join(tmp, "postern"))
                made.append(servers["postern"])
            except BenchError as e:
                results["errors"]["postern"] = str(e)
                print(f"POSTERN FAILED: {e}", flush=True)
        if "postern" not in servers:
            # SmtpSystem makes the user; without it, we do.
            create_user(os.path.join(tmp, "home"), USER)
            own_user = True
        if "postfix" in want:
            ensure_postfix()
            results["postfix_version"] = sh(["postconf", "-dh", "mail_version"]).stdout.strip()
            pf = PostfixInstance(os.path.join(tmp, "postfix"))
            servers["postfix"] = pf
            made.append(pf)
        for name, s in list(servers.items()):
            try:
                s.start()
                warm_up(s, args.size)
            except BenchError as e:
                results["errors"][name] = str(e)
                print(f"{name.upper()} FAILED: {e}", flush=True)
                del servers[name]
        table = {}
        for c in CONCURRENCY:
            for name in ("postfix", "postern"):
                s = servers.get(name)
                if s is None:
                    continue
                try:
                    acc, e2e = run_one(s, args.messages, c, args.size, per_session)
                except BenchError as e:
                    results["errors"][f"{name} c={c}"] = str(e)
                    print(f"{name.upper()} FAILED at concurrency {c}: {e}", flush=True)
                    continue
                table[(name, c)] = (acc, e2e)
                results["runs"].append({"system": name, "concurrency": c,
                                        "accept_per_s": round(acc, 1),
                                        "end_to_end_per_s": round(e2e, 1)})
                print(f"  {name} c={c}: accept {acc:.0f} msg/s, end-to-end {e2e:.0f} msg/s",
                      flush=True)

        print(f"\n{args.messages} messages x {args.size} B body, "
              f"{'one message per session' if per_session == 1 else 'one session per client'}"
              f", Postfix {results.get('postfix_version', '-')}, {os.cpu_count()} CPUs "
              f"(load {results['host']['loadavg_at_start']:.2f} at start), "
              f"disk {fs:.0f} fsync'd creates/s")
        print(f"{'system':8} {'conc':>4} {'accept msg/s':>13} {'end-to-end msg/s':>17}")
        for c in CONCURRENCY:
            for name in ("postfix", "postern"):
                if (name, c) in table:
                    a, e = table[(name, c)]
                    print(f"{name:8} {c:>4} {a:>13.0f} {e:>17.0f}")
        results["ratios"] = []
        for c in CONCURRENCY:
            pf, pt = table.get(("postfix", c)), table.get(("postern", c))
            if pf and pt:
                ra, re_ = ratio(pt[0], pf[0]), ratio(pt[1], pf[1])
                results["ratios"].append({"concurrency": c, "accept": round(ra, 2),
                                          "end_to_end": round(re_, 2)})
                print(f"Postern/Postfix c={c}: accept {ra:.2f}x, end-to-end {re_:.2f}x "
                      f"(target >= 3x: {'met' if min(ra, re_) >= 3 else 'NOT met'})")
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        print(f"results: {os.path.relpath(RESULTS)}")
        if results["errors"]:
            sys.exit(1)
    except BenchError as e:
        sys.exit(f"bench/smtp_accept.py: {e}")
    except KeyboardInterrupt as e:
        sys.exit(f"bench/smtp_accept.py: interrupted ({e or 'Ctrl-C'}); cleaned up")
    finally:
        for s in made:
            try:
                s.stop()
            except Exception as e:  # keep cleaning up
                print(f"warning: stopping {s.name}: {e}", file=sys.stderr)
        for s in made:
            try:
                s.cleanup()
            except Exception as e:
                print(f"warning: cleaning up {s.name}: {e}", file=sys.stderr)
        if own_user:
            remove_users([USER])
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
