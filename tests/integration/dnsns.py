"""A private DNS server for integration tests: a network namespace with its
own loopback, its own /etc/resolv.conf, and dnsmasq answering from records
the test gives.

    from dnsns import DnsNamespace, dns_namespace   # the fixture, for pytest

    def test_x(dns_namespace):
        ns = dns_namespace({
            "mx.test":   {"MX": [(10, "mx1.mx.test"), (20, "mx2.mx.test")]},
            "mx1.mx.test": {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"]},
            "txt.test":  {"TXT": ["one string", ("two", "strings")]},
            "alias.test": {"CNAME": "mx1.mx.test"},
            "1.2.0.192.in-addr.arpa": {"PTR": ["mx1.mx.test"]},
        })
        r = ns.run(["/path/to/program", "arg"])   # runs inside the namespace
        ns.stop_dns()                              # now every lookup fails (RETRY)

Running a program inside: ns.run(argv, **subprocess_kw) -> CompletedProcess
(text, captured, 60 s timeout unless overridden); ns.popen(argv, **kw) ->
Popen; or put ns.exec_prefix (["ip", "netns", "exec", NAME]) in front of any
argv. Inside, /etc/resolv.conf is /etc/netns/NAME/resolv.conf ("nameserver
127.0.0.1", options timeout:1 attempts:1), so a lookup to a stopped server
fails within about a second. Only lo exists in the namespace: 127.0.0.1 and
::1 work, nothing outside is reachable. Processes inside see the host's file
system as usual; a daemon that chroots needs its own copy of resolv.conf
(ns.resolv_conf is its path on the host).

What dnsmasq 2.90 answers (checked by tests/integration/test_dns.py):
- Every name not in `records` is NXDOMAIN (the config has local=/#/; without
  it, dnsmasq with no upstream answers REFUSED, which the resolver reports
  as TRY_AGAIN). A name in `records` asked for a type it lacks: NOERROR
  with no records (NODATA).
- "A"/"AAAA" use host-record=: exact name only, and dnsmasq also serves the
  matching PTR (name as target) unless a "PTR" entry for that reverse name
  is given, which then wins.
- "MX": (pref, exchange) pairs. A null MX (RFC 7505 ".") cannot be served.
- "TXT": each item is one record; a str is one character-string (dnsmasq
  splits one longer than 255 bytes), a tuple/list is several
  character-strings in one record. CR, LF and TAB are sent as such; NUL and
  other control bytes cannot be served.
- "CNAME": a single target. dnsmasq only follows it to a name it knows (one
  in `records`); a CNAME to an unknown name answers NOERROR without records.
- "PTR": targets for a reverse name (ipaddress.ip_address(a).reverse_pointer
  builds it).
- raw=[...] adds dnsmasq option lines verbatim (e.g. "address=/wild.test/
  192.0.2.9", which answers for the name and every name under it; note that
  such a name asked for AAAA is NXDOMAIN, not NODATA).

For a multi-host lab (netlab.py) the server can also listen on other
addresses of the namespace: DnsNamespace(records, listen=("10.250.0.1",),
on_netns=fn) calls fn(ns) right after the namespace exists (with lo up),
before dnsmasq starts, so fn can give it the addresses dnsmasq binds.
set_records(records, raw=()) replaces what dnsmasq answers (it restarts).

Needs root, iproute2 (`ip netns`) and /usr/sbin/dnsmasq (dnsmasq-base); the
fixture skips the test and names what is missing. Everything is removed by
stop() (also on a failed start): dnsmasq and any process still inside the
namespace, by PID; the namespace; /etc/netns/NAME; the work directory.
"""

import ipaddress
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

DNSMASQ = "/usr/sbin/dnsmasq"
IP = shutil.which("ip") or "/usr/sbin/ip"

_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")

# Run inside the namespace by query(): one UDP query to 127.0.0.1:53, prints
# "RCODE ANCOUNT" of the reply, or "timeout". Used to wait for dnsmasq and to
# check what it answers independently of the code under test.
_PROBE = r"""
import os, socket, struct, sys
name, qtype = sys.argv[1], int(sys.argv[2])
server = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
qid = int.from_bytes(os.urandom(2), "big")
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
for label in name.rstrip(".").split("."):
    q += bytes([len(label)]) + label.encode()
q += b"\0" + struct.pack(">HH", qtype, 1)
s = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(float(sys.argv[3]))
try:
    s.sendto(q, (server, 53))
    while True:
        r = s.recv(65535)
        if len(r) >= 12 and int.from_bytes(r[:2], "big") == qid:
            break
except (socket.timeout, ConnectionRefusedError):
    print("timeout")
    sys.exit(0)
print(r[3] & 0x0F, int.from_bytes(r[6:8], "big"))
"""

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}


class NetnsUnavailable(Exception):
    """This machine or user cannot make network namespaces (the tests skip)."""


def unavailable():
    """Why DnsNamespace cannot work here, or None."""
    if os.geteuid() != 0:
        return "a private DNS server needs root (ip netns); this run is not root"
    if not os.path.exists(IP):
        return "the ip command (package iproute2) is not installed"
    if not os.access(DNSMASQ, os.X_OK):
        return f"{DNSMASQ} (package dnsmasq-base) is not installed"
    return None


def _check_name(name):
    n = name[:-1] if name.endswith(".") else name
    if not n or len(n) > 253 or not all(_LABEL.match(label) for label in n.split(".")):
        raise ValueError(f"not a DNS name dnsmasq can serve: {name!r}")
    return n


def _txt_quote(s):
    out = ['"']
    for ch in s:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise ValueError(f"dnsmasq cannot serve control byte {ord(ch):#x} in TXT {s!r}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def dnsmasq_config(records, raw=()):
    """The dnsmasq configuration text for records (see the module comment)."""
    lines = ["local=/#/"]
    for name, types in (records or {}).items():
        n = _check_name(name)
        for rtype, values in types.items():
            rtype = rtype.upper()
            if rtype == "CNAME":
                lines.append(f"cname={n},{_check_name(values)}")
                continue
            if isinstance(values, (str, bytes)) or (rtype == "MX" and isinstance(values, tuple)):
                values = [values]
            for v in values:
                if rtype in ("A", "AAAA"):
                    addr = ipaddress.ip_address(v)
                    if (addr.version == 4) != (rtype == "A"):
                        raise ValueError(f"{v} is not an {rtype} address")
                    lines.append(f"host-record={n},{addr}")
                elif rtype == "MX":
                    pref, host = v
                    if not 0 <= int(pref) <= 65535:
                        raise ValueError(f"MX preference out of range: {pref}")
                    lines.append(f"mx-host={n},{_check_name(host)},{int(pref)}")
                elif rtype == "TXT":
                    parts = [v] if isinstance(v, str) else list(v)
                    lines.append(f"txt-record={n}," + ",".join(_txt_quote(p) for p in parts))
                elif rtype == "PTR":
                    lines.append(f"ptr-record={n},{_check_name(v)}")
                else:
                    raise ValueError(f"record type {rtype} is not supported (use raw=)")
    for line in raw:
        if "\n" in line or "\r" in line:
            raise ValueError(f"raw dnsmasq line with a line break: {line!r}")
        lines.append(line)
    return "\n".join(lines) + "\n"


class DnsNamespace:
    """A network namespace whose resolver is a private dnsmasq."""

    def __init__(self, records=None, raw=(), log_queries=False, listen=("127.0.0.1",),
                 on_netns=None):
        self.records = records or {}
        self.raw = list(raw)
        self.log_queries = log_queries
        self.listen = [str(ipaddress.ip_address(a)) for a in listen]
        if not self.listen:
            raise ValueError("dnsmasq needs at least one listen address")
        self.on_netns = on_netns
        self.name = None
        self.workdir = None
        # Popen of dnsmasq: `ip netns exec` execs it, so this is its PID
        # (with --no-daemon dnsmasq writes no pid file).
        self.dnsmasq = None
        self._procs = []
        self._config = dnsmasq_config(self.records, self.raw)  # bad records fail here

    # ---- set-up and tear-down ------------------------------------------------

    @property
    def exec_prefix(self):
        return [IP, "netns", "exec", self.name]

    @property
    def netns_etc(self):
        return f"/etc/netns/{self.name}"

    @property
    def resolv_conf(self):
        return os.path.join(self.netns_etc, "resolv.conf")

    @property
    def log_path(self):
        return os.path.join(self.workdir, "dnsmasq.log")

    def start(self):
        reason = unavailable()
        if reason:
            raise NetnsUnavailable(reason)
        try:
            self._create_netns()
            if self.on_netns is not None:
                self.on_netns(self)
            self.workdir = tempfile.mkdtemp(prefix=f"{self.name}-")
            with open(os.path.join(self.workdir, "dnsmasq.conf"), "w") as f:
                f.write(self._config)
            self.start_dns()
        except BaseException:
            self.stop()
            raise
        return self

    def _create_netns(self):
        for _ in range(5):
            name = "pt" + secrets.token_hex(5)
            if os.path.exists(f"/run/netns/{name}") or os.path.exists(f"/etc/netns/{name}"):
                continue
            r = subprocess.run([IP, "netns", "add", name], capture_output=True, text=True)
            if r.returncode != 0:
                raise NetnsUnavailable(f"`ip netns add {name}` failed: {r.stderr.strip()}")
            self.name = name
            break
        else:
            raise RuntimeError("no free network namespace name")
        r = subprocess.run([IP, "-n", self.name, "link", "set", "lo", "up"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"cannot bring up lo in {self.name}: {r.stderr.strip()}")
        os.makedirs(self.netns_etc, mode=0o755)
        with open(self.resolv_conf, "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")

    def start_dns(self, timeout=10.0):
        """Start dnsmasq (again) and wait until it answers."""
        if self.dnsmasq is not None and self.dnsmasq.poll() is None:
            return
        argv = self.exec_prefix + [
            DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts",
            *[f"--listen-address={a}" for a in self.listen], "--bind-interfaces", "--port=53",
            f"--conf-file={os.path.join(self.workdir, 'dnsmasq.conf')}"]
        if self.log_queries:
            argv.append("--log-queries")
        with open(self.log_path, "ab") as log:
            self.dnsmasq = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.dnsmasq.poll() is not None:
                raise RuntimeError(f"dnsmasq exited with {self.dnsmasq.returncode}:\n{self.log()}")
            if self.query("probe.invalid", "A", wait=0.2) != "timeout":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq did not answer within {timeout}s:\n{self.log()}")

    def set_records(self, records, raw=()):
        """Serve records (and raw lines) from now on: dnsmasq restarts."""
        config = dnsmasq_config(records, raw)  # bad records fail before anything stops
        self.records, self.raw, self._config = records or {}, list(raw), config
        with open(os.path.join(self.workdir, "dnsmasq.conf"), "w") as f:
            f.write(config)
        self.stop_dns()
        self.start_dns()

    def stop_dns(self):
        """Stop dnsmasq; lookups in the namespace then fail (connection refused)."""
        p, self.dnsmasq = self.dnsmasq, None
        if p is not None:
            _terminate(p)

    def stop(self):
        """Remove everything start() made; safe to call more than once."""
        self.stop_dns()
        for p in self._procs:
            _terminate(p)
        self._procs = []
        if self.name is not None:
            # Whatever a test left running inside (daemons it started) holds
            # the namespace alive; they are ours, so end them by PID.
            r = subprocess.run([IP, "netns", "pids", self.name], capture_output=True, text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run([IP, "netns", "delete", self.name], capture_output=True)
            shutil.rmtree(self.netns_etc, ignore_errors=True)
            self.name = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- using it ------------------------------------------------------------

    def run(self, argv, **kw):
        """Run argv inside the namespace; CompletedProcess (text, captured)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(self.exec_prefix + list(argv), **kw)

    def popen(self, argv, **kw):
        """Start argv inside the namespace; it is killed (by PID) at stop()."""
        p = subprocess.Popen(self.exec_prefix + list(argv), **kw)
        self._procs.append(p)
        return p

    def query(self, name, qtype, wait=2.0):
        """Ask dnsmasq directly (not through the code under test):
        (rcode, answer count), or "timeout" when nothing answers."""
        r = self.run(["/usr/bin/python3", "-c", _PROBE, name, str(QTYPES[qtype.upper()]),
                      str(wait), self.listen[0]], timeout=wait + 30)
        out = r.stdout.strip()
        if r.returncode != 0 or not out:
            raise RuntimeError(f"DNS probe failed: {r.stderr.strip()}")
        if out == "timeout":
            return out
        rcode, ancount = out.split()
        return int(rcode), int(ancount)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""


def _terminate(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


@pytest.fixture
def dns_namespace():
    """Factory fixture: dns_namespace(records, raw=(), log_queries=False) ->
    a started DnsNamespace, stopped at teardown. Skips when unavailable."""
    made = []

    def make(records=None, **kw):
        reason = unavailable()
        if reason:
            pytest.skip(reason)
        ns = DnsNamespace(records, **kw)
        made.append(ns)
        try:
            ns.start()
        except NetnsUnavailable as e:
            pytest.skip(str(e))
        return ns

    yield make
    for ns in reversed(made):
        ns.stop()
