#!/usr/bin/python3
"""Benchmark (issue 6): outbound SMTP, Postern's smtp client beside Debian's
Postfix smtp client, on this machine, in the same run.

Both systems relay every message to one local receiver, Postfix's
smtp-sink (relayhost = [127.0.0.1]:PORT), at destination concurrency 1
and 20 (default_destination_concurrency_limit), without and with TLS
(smtp_tls_security_level = none / encrypt). smtp-sink cannot do TLS, so for
the TLS runs the receiver is a private Postfix smtpd that offers STARTTLS
(a throwaway self-signed certificate) and passes every transaction, before
queueing anything, to the same smtp-sink (smtpd_proxy_filter): the sink
still counts the messages, and both senders face the same TLS server.

What is measured is the outbound path alone (qmgr + smtp + the network):
N messages (default 2000, 4 KiB body, one recipient each) are first
injected with smtp-source into the sender's own smtpd, which puts them on
hold (check_client_access static:HOLD); then the clock starts,
`postsuper -H ALL` and `postqueue -f` release them, and the clock stops
when smtp-sink has counted all N and the sender's queue is empty.
msgs/s = N / that time. A warm-up of 20 messages runs first in each
instance. smtp-sink's session count shows how many connections were used
(both reuse connections to a destination with a backlog).

Each measurement gets a fresh private instance of the sender (its own
config, queue and maillog in a temp dir, loopback only); Postfix runs
without chroot, as in bench/smtp_accept.py (Postern's daemons run in
their chroot, as installed). /etc/postfix is not touched.

Needs root. Run after `make`:
  [POSTERN_BUILD=build-dir] /usr/bin/python3 bench/smtp_out.py [-n 2000]
      [--size 4096] [--only postern|postfix] [--concurrency 1,20] [--tls no,yes]
Results go to bench/results/smtp_out.json, and a table is printed.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from conftest import LIBEXEC, free_port, wait_for  # noqa: E402
from smtp_accept import (BenchError, _terminate, ensure_postfix, kill_ours,  # noqa: E402
                         port_open, problems, sh)

PF_BIN = "/usr/sbin/postfix"
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
RESULTS = os.path.join(HERE, "results", "smtp_out.json")
SENDER = "sender@bench.example"
RCPT = "rcpt@sink.example"
HOLD = "check_client_access,static:HOLD"
WARMUP = 20


def make_cert(directory, cn="sink.example"):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    p = sh(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={cn}", "-keyout", key, "-out", cert])
    if p.returncode != 0:
        raise BenchError(f"openssl req: {p.stderr.strip()}")
    os.chmod(key, 0o600)
    return cert, key


def queue_count(queue_dir, *queues):
    n = 0
    for q in queues:
        for _d, _s, files in os.walk(os.path.join(queue_dir, q)):
            n += sum(1 for f in files if not f.startswith("."))
    return n


# -- the receiver ----------------------------------------------------------------
class Sink:
    """smtp-sink on 127.0.0.1:port; -c writes "sess=N quit=N mesg=N" counters."""

    def __init__(self, base):
        self.port = free_port()
        self.out = os.path.join(base, "sink.out")
        self.proc = None

    def start(self):
        f = open(self.out, "wb")
        self.proc = subprocess.Popen([SMTP_SINK, "-c", "-u", "nobody", f"127.0.0.1:{self.port}",
                                      "1000"], stdout=f, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        f.close()
        wait_for(lambda: port_open(self.port), timeout=10, what=f"smtp-sink on {self.port}")

    def counts(self):
        """(sessions, messages) so far."""
        try:
            with open(self.out, "rb") as f:
                f.seek(max(0, os.path.getsize(self.out) - 200))
                tail = f.read().decode(errors="replace")
        except OSError:
            return 0, 0
        m = re.findall(r"sess=(\d+) quit=\d+ mesg=(\d+)", tail)
        return (int(m[-1][0]), int(m[-1][1])) if m else (0, 0)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- private Postfix instances ------------------------------------------------------
PF_SERVICES = [
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
    "smtp      unix  -  -  n  -     -  smtp",
    "relay     unix  -  -  n  -     -  smtp",
    "showq     unix  n  -  n  -     -  showq",
    "error     unix  -  -  n  -     -  error",
    "retry     unix  -  -  n  -     -  error",
    "discard   unix  -  -  n  -     -  discard",
    "anvil     unix  -  -  n  -     1  anvil",
    "scache    unix  -  -  n  -     1  scache",
    "postlog   unix-dgram n - n  -     1  postlogd",
]


class PfInstance:
    """A private Postfix instance in base: its own main.cf, master.cf (the
    Debian services plus smtpd_row, no chroot), queue and maillog."""

    def __init__(self, base, main, smtpd_row):
        self.base, self.etc = base, os.path.join(base, "etc")
        self.queue, self.log = os.path.join(base, "queue"), os.path.join(base, "maillog")
        self.master_pid = 0
        os.makedirs(self.etc)
        os.makedirs(self.queue)
        os.chmod(base, 0o755)
        conf = {
            # Debian's main.cf (/usr/share/postfix/main.cf.debian).
            "smtpd_banner": "$myhostname ESMTP $mail_name (Debian/GNU)",
            "biff": "no",
            "append_dot_mydomain": "no",
            "readme_directory": "no",
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": os.path.join(base, "data"),
            "maillog_file": self.log,
            "maillog_file_prefixes": base,
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "mydestination": "",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
        }
        conf.update(main)
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("# written by bench/smtp_out.py\n")
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write("# written by bench/smtp_out.py\n" + smtpd_row + "\n"
                    + "\n".join(PF_SERVICES) + "\n")

    def cmd(self, *argv, check=True):
        p = sh(list(argv), env=dict(os.environ, MAIL_CONFIG=self.etc), timeout=120)
        if check and p.returncode != 0:
            raise BenchError(f"{' '.join(argv)} exited {p.returncode}: {p.stdout}{p.stderr}\n"
                             f"maillog:\n{self.read_log()[-2000:]}")
        return p

    def start(self, port):
        self.cmd(PF_BIN, "-c", self.etc, "start")
        pidfile = os.path.join(self.queue, "pid", "master.pid")

        def pid():
            try:
                with open(pidfile) as f:
                    return int(f.read().strip() or 0)
            except (OSError, ValueError):
                return 0
        self.master_pid = wait_for(pid, timeout=20, what=f"Postfix {pidfile}")
        wait_for(lambda: port_open(port), timeout=20,
                 what=f"Postfix smtpd on 127.0.0.1:{port}; maillog:\n{self.read_log()}")

    def stop(self):
        if self.master_pid:
            self.cmd(PF_BIN, "-c", self.etc, "stop", check=False)
        kill_ours(self.master_pid, self.etc)
        self.master_pid = 0

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class TlsFront:
    """Postfix smtpd with STARTTLS in front of smtp-sink (smtpd_proxy_filter:
    no queue file, the sink's reply is the client's reply)."""

    def __init__(self, base, sink_port):
        self.port = free_port()
        os.makedirs(base)
        cert, key = make_cert(base)
        self.pf = PfInstance(os.path.join(base, "pf"), {
            "myhostname": "sink.example",
            "smtpd_tls_cert_file": cert,
            "smtpd_tls_key_file": key,
            "smtpd_tls_security_level": "may",
            "smtpd_tls_loglevel": "1",  # "TLS connection established": counted
            "smtpd_proxy_filter": f"127.0.0.1:{sink_port}",
            "smtpd_client_connection_count_limit": "0",
            "smtpd_client_connection_rate_limit": "0",
        }, f"127.0.0.1:{self.port} inet n - n - 200 smtpd")

    def start(self):
        self.pf.start(self.port)

    def sessions(self):
        """SMTP sessions the senders opened so far (smtpd's connect lines)."""
        return len(re.findall(r"postfix/smtpd\[\d+\]: connect from", self.pf.read_log()))

    def tls_sessions(self):
        """Sessions that negotiated TLS so far."""
        return len(re.findall(r"TLS connection established from", self.pf.read_log()))

    def stop(self):
        self.pf.stop()


# -- the senders ---------------------------------------------------------------------
class PostfixSender:
    name = "postfix"

    def __init__(self, base, relay_port, concurrency, tls):
        self.inject_port = free_port()
        self.pf = PfInstance(base, {
            "myhostname": "sender.example",
            "relayhost": f"[127.0.0.1]:{relay_port}",
            "default_destination_concurrency_limit": str(concurrency),
            "smtp_tls_security_level": "encrypt" if tls else "none",
        }, f"127.0.0.1:{self.inject_port} inet n - n - - smtpd"
           f" -o smtpd_client_restrictions={HOLD}")
        self.queue = self.pf.queue

    def start(self):
        self.pf.start(self.inject_port)

    def release(self):
        self.pf.cmd("postsuper", "-c", self.pf.etc, "-H", "ALL")
        self.pf.cmd("postqueue", "-c", self.pf.etc, "-f")

    def read_log(self):
        return self.pf.read_log()

    def stop(self):
        self.pf.stop()

    def cleanup(self):
        pass


class PosternSender:
    name = "postern"

    def __init__(self, base, relay_port, concurrency, tls):
        from smtpsys import SmtpSystem
        try:
            self.sys = SmtpSystem(base, users=(), main={
                "myhostname": "sender.example",
                "mydestination": "",
                "relayhost": f"[127.0.0.1]:{relay_port}",
                "default_destination_concurrency_limit": str(concurrency),
                "smtp_tls_security_level": "encrypt" if tls else "none",
                "mynetworks": "127.0.0.0/8",
            }, services=["smtp      unix  -  -  y  -  -  smtp"],
                smtp_args=(f"-o smtpd_client_restrictions={HOLD}",))
        except BaseException as e:  # pytest.fail() raises a BaseException
            if isinstance(e, KeyboardInterrupt):
                raise
            raise BenchError(f"Postern instance: {e}") from None
        self.inject_port = self.sys.port
        self.queue = self.sys.inst.queue
        self.started = False

    def start(self):
        self.started = True
        try:
            self.sys.start()
        except AssertionError as e:
            raise BenchError(f"{str(e).splitlines()[0]}\nmaillog:\n{self.read_log()[-2000:]}")

    def release(self):
        try:
            self.sys.inst.cmd("postsuper", "-H", "ALL")
            self.sys.inst.cmd("postqueue", "-f")
        except AssertionError as e:
            raise BenchError(str(e)) from None

    def read_log(self):
        return self.sys.inst.read_log()

    def stop(self):
        if self.started:
            self.sys.inst.postern("stop", check=False)
        self.sys.inst.cleanup()

    def cleanup(self):
        self.sys.cleanup()


# -- the measurement ---------------------------------------------------------------------
def run_batch(sender, sink, n, size, sessions, tls_sessions=None):
    """Inject n held messages, release them, wait until the sink has them all.
    sessions() counts the receiver's SMTP sessions, tls_sessions() (TLS
    runs) those that negotiated TLS: every one must. Returns (msgs/s,
    seconds, sessions the sender used)."""
    log_at = len(sender.read_log())
    argv = [SMTP_SOURCE, "-4", "-l", str(size), "-m", str(n), "-s", "10", "-M", "bench.example",
            "-f", SENDER, "-t", RCPT, f"127.0.0.1:{sender.inject_port}"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=max(600, n))
    if p.returncode != 0:
        raise BenchError(f"{sender.name}: smtp-source exited {p.returncode}: "
                         f"{(p.stdout + p.stderr).strip()[-1000:]}")

    def all_held():
        return (queue_count(sender.queue, "hold") == n
                and queue_count(sender.queue, "maildrop", "incoming", "active", "deferred") == 0)
    try:
        wait_for(all_held, timeout=max(120, n / 20), interval=0.05,
                 what=f"{sender.name}: {n} messages on hold "
                      f"(hold has {queue_count(sender.queue, 'hold')})")
    except AssertionError as e:
        raise BenchError(f"{str(e).splitlines()[0]}\nlog problems:\n"
                         + "\n".join(problems(sender.read_log(), log_at)[:20])) from None
    sess0, msg0 = sessions(), sink.counts()[1]
    tls0 = tls_sessions() if tls_sessions else 0
    t0 = time.perf_counter()
    sender.release()
    deadline = time.monotonic() + max(300, n / 2)
    while True:
        msg = sink.counts()[1]
        if msg - msg0 >= n and queue_count(sender.queue, "incoming", "active", "deferred",
                                           "hold") == 0:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{sender.name}: the sink has {msg - msg0} of {n} messages after "
                             f"{time.perf_counter() - t0:.0f} s\nlog problems:\n"
                             + "\n".join(problems(sender.read_log(), log_at)[:20]))
        time.sleep(0.005)
    elapsed = time.perf_counter() - t0
    time.sleep(0.3)  # anything more would be a duplicate
    sess, msg = sessions(), sink.counts()[1]
    if msg - msg0 != n:
        raise BenchError(f"{sender.name}: the sink counted {msg - msg0} messages, sent {n}")
    if tls_sessions and tls_sessions() - tls0 != sess - sess0:
        raise BenchError(f"{sender.name}: {tls_sessions() - tls0} of {sess - sess0} sessions "
                         "used TLS")
    sent = len(re.findall(r"status=sent", sender.read_log()[log_at:]))
    if sent < n:
        raise BenchError(f"{sender.name}: {sent} status=sent log lines for {n} messages")
    return n / elapsed, elapsed, sess - sess0


def measure(cls, base, sink, front, concurrency, tls, n, size):
    """A fresh sender instance: warm-up, then the measured batch."""
    if tls:
        relay, sessions, tls_sessions = front.port, front.sessions, front.tls_sessions
    else:
        relay, sessions, tls_sessions = sink.port, lambda: sink.counts()[0], None
    sender = cls(base, relay, concurrency, tls)
    try:
        sender.start()
        run_batch(sender, sink, WARMUP, size, sessions, tls_sessions)
        return run_batch(sender, sink, n, size, sessions, tls_sessions)
    finally:
        try:
            sender.stop()
        finally:
            sender.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--messages", type=int, default=2000)
    ap.add_argument("--size", type=int, default=4096, help="body bytes per message")
    ap.add_argument("--only", choices=("postern", "postfix"))
    ap.add_argument("--concurrency", default="1,20")
    ap.add_argument("--tls", default="no,yes", help="no, yes or no,yes")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/smtp_out.py needs root: both mail systems run with their privilege "
                 "separation")
    concs = [int(c) for c in args.concurrency.split(",")]
    tlss = [t.strip() == "yes" for t in args.tls.split(",")]
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    want = [s for s in ("postfix", "postern") if args.only in (None, s)]
    classes = {"postfix": PostfixSender, "postern": PosternSender}
    errors = {}
    if "postern" in want and not os.access(os.path.join(LIBEXEC, "smtp"), os.X_OK):
        errors["postern"] = f"{LIBEXEC}/smtp is not built"
        print(f"POSTERN: {errors['postern']}; only Postfix is measured", flush=True)
        want.remove("postern")
    ensure_postfix()
    results = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
               "host": {"cpus": os.cpu_count(), "kernel": platform.release(),
                        "loadavg_at_start": os.getloadavg()[0]},
               "postfix_version": sh(["postconf", "-dh", "mail_version"]).stdout.strip(),
               "messages": args.messages, "body_bytes": args.size,
               "receiver": "smtp-sink; TLS: Postfix smtpd (STARTTLS) with smtpd_proxy_filter "
                           "to the same smtp-sink",
               "runs": [], "errors": errors}
    tmp = tempfile.mkdtemp(prefix="smtp-out-bench-")
    os.chmod(tmp, 0o755)
    sink = Sink(tmp)
    front = None
    table = {}
    try:
        sink.start()
        if True in tlss:
            front = TlsFront(os.path.join(tmp, "tlsfront"), sink.port)
            front.start()
        k = 0
        for tls in tlss:
            for c in concs:
                for name in want:
                    k += 1
                    base = os.path.join(tmp, f"{name}-{k}")
                    label = f"{name} c={c} tls={'yes' if tls else 'no'}"
                    try:
                        rate, secs, used = measure(classes[name], base, sink, front, c, tls,
                                                   args.messages, args.size)
                    except BenchError as e:
                        errors[label] = str(e)
                        print(f"{label.upper()} FAILED: {e}", flush=True)
                        continue
                    table[(name, c, tls)] = (rate, used)
                    results["runs"].append({"system": name, "concurrency": c, "tls": tls,
                                            "msgs_per_s": round(rate, 1),
                                            "seconds": round(secs, 2),
                                            "sessions": used})
                    print(f"  {label}: {rate:.0f} msg/s ({secs:.2f} s, {used} sessions)",
                          flush=True)

        print(f"\n{args.messages} messages x {args.size} B body, one recipient each, relayhost "
              f"= smtp-sink (TLS: Postfix smtpd STARTTLS -> smtp-sink), Postfix "
              f"{results['postfix_version']}, {os.cpu_count()} CPUs "
              f"(load {results['host']['loadavg_at_start']:.2f} at start)")
        print(f"{'tls':>4} {'conc':>4} {'postfix msg/s':>14} {'postern msg/s':>14} "
              f"{'postern/postfix':>16}")
        results["ratios"] = []
        for tls in tlss:
            for c in concs:
                pf, pt = table.get(("postfix", c, tls)), table.get(("postern", c, tls))
                r = pt[0] / pf[0] if pf and pt else None
                if r is not None:
                    results["ratios"].append({"concurrency": c, "tls": tls, "ratio": round(r, 2)})
                print(f"{'yes' if tls else 'no':>4} {c:>4} "
                      f"{f'{pf[0]:.0f}' if pf else '-':>14} {f'{pt[0]:.0f}' if pt else '-':>14} "
                      f"{f'{r:.2f}x' if r else '-':>16}")
        os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
        with open(RESULTS, "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")
        print(f"results: {os.path.relpath(RESULTS)}")
        if errors:
            sys.exit(1)
    except BenchError as e:
        sys.exit(f"bench/smtp_out.py: {e}")
    except KeyboardInterrupt as e:
        sys.exit(f"bench/smtp_out.py: interrupted ({e or 'Ctrl-C'}); cleaned up")
    finally:
        if front is not None:
            try:
                front.stop()
            except Exception as e:
                print(f"warning: stopping the TLS front: {e}", file=sys.stderr)
        sink.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
