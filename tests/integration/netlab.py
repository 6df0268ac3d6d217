"""A multi-host network lab for tests where mail crosses a network: a hub
network namespace with a bridge and a private DNS server (dnsmasq, from
dnsns.py), and host namespaces, each joined to the bridge by a veth pair
and given a private address.

    from netlab import lab   # the fixture, for pytest

    def test_x(lab):
        net = lab({"example.test": {"MX": [(10, "mx.example.test")]},
                   "mx.example.test": {"A": ["10.250.0.3"]}})
        sender = net.add_host("sender")          # 10.250.0.2
        mx = net.add_host("mx", n=3)              # 10.250.0.3
        mx.add_addr("10.250.0.100")               # a second address on mx
        sender.run(["swaks", "--server", mx.addr, ...])
        mx.link_down()                            # mx is off the network now
        net.set_records({...})                    # dnsmasq answers differently

Addresses: the network is 10.250.0.0/24 (and fd00:250::/64 with ipv6=True);
the hub (and its DNS server) is .1 (fd00:250::1), hosts get .N
(fd00:250::N) for N = 2.. unless n= names one. All addresses live inside the
namespaces the lab creates; nothing is added to the machine's own network.
Each host has lo and eth0, and /etc/netns/NAME/resolv.conf ("nameserver
10.250.0.1", timeout 1 s, 2 attempts), which `ip netns exec` mounts over
/etc/resolv.conf for every process run inside.

A Host works where dnsns.DnsNamespace does for smtpsys.SmtpSystem(netns=):
it has name, exec_prefix, run() and popen(). host.socket() makes a socket
inside the host (for an in-process server or client: smtpsink.py, smtp()).

Needs root, iproute2 (`ip netns`, bridge and veth support) and dnsmasq; the
fixture skips the test and names what is missing. stop() removes everything,
by PID: processes left inside each host (ip netns pids), the host
namespaces and their /etc/netns directories, then the hub (dnsns.stop).
"""

import ctypes
import ipaddress
import os
import secrets
import shutil
import signal
import smtplib
import socket
import subprocess
import threading

import pytest

from dnsns import IP, DnsNamespace, NetnsUnavailable, unavailable

NET4 = ipaddress.ip_network("10.250.0.0/24")
NET6 = ipaddress.ip_network("fd00:250::/64")
HUB4 = str(NET4[1])
HUB6 = str(NET6[1])
CLONE_NEWNET = 0x40000000


def _ip(*args, check=True):
    r = subprocess.run([IP, *args], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def in_netns(name, fn):
    """Run fn() in a new thread that has joined network namespace name;
    returns its result. Sockets keep the namespace they were made in, so a
    socket made this way can be used from any thread afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def run():
        try:
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        except OSError as e:
            out["err"] = e
            return
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                out["err"] = OSError(ctypes.get_errno(), f"setns {name}")
                return
            out["val"] = fn()
        except BaseException as e:  # handed to the caller
            out["err"] = e
        finally:
            os.close(fd)

    t = threading.Thread(target=run, name=f"setns-{name}")
    t.start()
    t.join()
    if "err" in out:
        raise out["err"]
    return out["val"]


class Host:
    """One host of the lab: a namespace on the bridge with address .n."""

    def __init__(self, lab, label, n):
        self.lab = lab
        self.label = label
        self.n = n
        self.addr = str(NET4[n])
        self.addr6 = str(NET6[n]) if lab.ipv6 else None
        self.addrs = [self.addr]  # every IPv4 address it has (add_addr)
        self.name = None
        self.hub_link = None
        self._procs = []

    @property
    def exec_prefix(self):
        return [IP, "netns", "exec", self.name]

    @property
    def netns_etc(self):
        return f"/etc/netns/{self.name}"

    @property
    def resolv_conf(self):
        return os.path.join(self.netns_etc, "resolv.conf")

    def _create(self):
        for _ in range(5):
            name = "ptn" + secrets.token_hex(5)
            if os.path.exists(f"/run/netns/{name}") or os.path.exists(f"/etc/netns/{name}"):
                continue
            r = _ip("netns", "add", name, check=False)
            if r.returncode != 0:
                raise NetnsUnavailable(f"`ip netns add {name}` failed: {r.stderr.strip()}")
            self.name = name
            break
        else:
            raise RuntimeError("no free network namespace name")
        os.makedirs(self.netns_etc, mode=0o755)
        with open(self.resolv_conf, "w") as f:
            f.write(f"nameserver {HUB4}\noptions timeout:1 attempts:2\n")
        hub = self.lab.hub.name
        _ip("-n", self.name, "link", "set", "lo", "up")
        # Both ends are made inside the hub, the host's end is moved into
        # the host: no link ever exists in the machine's own namespace.
        self.hub_link = f"h{self.n}"
        r = _ip("-n", hub, "link", "add", self.hub_link, "type", "veth", "peer", "name", "eth0",
                "netns", self.name, check=False)
        if r.returncode != 0:
            raise NetnsUnavailable(f"cannot make a veth pair (kernel veth support?): "
                                   f"{r.stderr.strip()}")
        _ip("-n", hub, "link", "set", self.hub_link, "master", "br0")
        _ip("-n", hub, "link", "set", self.hub_link, "up")
        _ip("-n", self.name, "addr", "add", f"{self.addr}/{NET4.prefixlen}", "dev", "eth0")
        if self.addr6:
            _ip("-n", self.name, "addr", "add", f"{self.addr6}/{NET6.prefixlen}", "dev", "eth0",
                "nodad")
        _ip("-n", self.name, "link", "set", "eth0", "up")

    def add_addr(self, addr):
        """Give the host another address on eth0 (inside the lab's networks)."""
        a = ipaddress.ip_address(addr)
        net = NET4 if a.version == 4 else NET6
        if a not in net:
            raise ValueError(f"{addr} is outside the lab network {net}")
        args = ["-n", self.name, "addr", "add", f"{a}/{net.prefixlen}", "dev", "eth0"]
        _ip(*(args + (["nodad"] if a.version == 6 else [])))
        if a.version == 4:
            self.addrs.append(str(a))
        return str(a)

    def link_down(self):
        """Take the host off the network (its eth0 down: no ARP answers)."""
        _ip("-n", self.name, "link", "set", "eth0", "down")

    def link_up(self):
        _ip("-n", self.name, "link", "set", "eth0", "up")

    # ---- running things inside ----------------------------------------------

    def run(self, argv, **kw):
        """Run argv inside the host; CompletedProcess (text, captured, 60 s)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(self.exec_prefix + list(argv), **kw)

    def popen(self, argv, **kw):
        """Start argv inside the host; it is killed (by PID) at stop()."""
        p = subprocess.Popen(self.exec_prefix + list(argv), **kw)
        self._procs.append(p)
        return p

    def socket(self, family=socket.AF_INET, type=socket.SOCK_STREAM):
        """A socket made inside the host's namespace."""
        return in_netns(self.name, lambda: socket.socket(family, type))

    def connect(self, addr, port, timeout=10):
        s = self.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
        s.settimeout(timeout)
        try:
            s.connect((addr, port))
        except BaseException:
            s.close()
            raise
        return s

    def smtp(self, addr, port, timeout=30):
        """smtplib.SMTP connected from inside the host."""
        host = self

        class NsSMTP(smtplib.SMTP):
            def _get_socket(self, h, p, t):
                return host.connect(h, p, timeout=t)

        return NsSMTP(addr, port, timeout=timeout)

    def swaks(self, *args, timeout=60):
        """swaks inside the host; CompletedProcess."""
        return self.run(["swaks", "--hide-all", *args], timeout=timeout)

    def stop(self):
        for p in self._procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        self._procs = []
        if self.name is None:
            return
        r = _ip("netns", "pids", self.name, check=False)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _ip("netns", "delete", self.name, check=False)
        shutil.rmtree(self.netns_etc, ignore_errors=True)
        self.name = None


class Lab:
    """The hub (bridge + dnsmasq) and the hosts on it."""

    def __init__(self, records=None, raw=(), ipv6=False, log_queries=False):
        self.ipv6 = ipv6
        listen = [HUB4] + ([HUB6] if ipv6 else [])
        self.hub = DnsNamespace(records, raw=raw, log_queries=log_queries, listen=listen,
                                on_netns=self._make_bridge)
        self.hosts = []

    def _make_bridge(self, ns):
        r = _ip("-n", ns.name, "link", "add", "br0", "type", "bridge", check=False)
        if r.returncode != 0:
            raise NetnsUnavailable(f"cannot make a bridge (kernel bridge support?): "
                                   f"{r.stderr.strip()}")
        _ip("-n", ns.name, "link", "set", "br0", "type", "bridge", "forward_delay", "0")
        # A bridge without an address of its own takes the lowest MAC of its
        # ports, so adding a host could change the hub's MAC and leave every
        # host's ARP entry for the DNS server stale for half a minute.
        _ip("-n", ns.name, "link", "set", "br0", "address", "02:00:0a:fa:00:01")
        _ip("-n", ns.name, "addr", "add", f"{HUB4}/{NET4.prefixlen}", "dev", "br0")
        if self.ipv6:
            _ip("-n", ns.name, "addr", "add", f"{HUB6}/{NET6.prefixlen}", "dev", "br0", "nodad")
        _ip("-n", ns.name, "link", "set", "br0", "up")

    def start(self):
        self.hub.start()
        return self

    def add_host(self, label="host", n=None):
        """A new host on the bridge with address .n (the next free one)."""
        used = {h.n for h in self.hosts}
        if n is None:
            n = next(i for i in range(2, 100) if i not in used)
        if n in used or not 2 <= n <= 254:
            raise ValueError(f"host number {n} is taken or out of range")
        h = Host(self, label, n)
        self.hosts.append(h)
        h._create()
        return h

    def set_records(self, records, raw=()):
        """What DNS answers from now on (dnsmasq restarts)."""
        self.hub.set_records(records, raw)

    def query(self, name, qtype):
        """(rcode, answer count) from the lab's DNS server, asked directly."""
        return self.hub.query(name, qtype)

    def stop(self):
        for h in reversed(self.hosts):
            h.stop()
        self.hosts = []
        self.hub.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def lab_unavailable():
    """Why a Lab cannot work here, or None."""
    return unavailable()


@pytest.fixture
def lab():
    """Factory fixture: lab(records, raw=(), ipv6=False) -> a started Lab,
    stopped at teardown. Skips (naming what is missing) when namespaces,
    bridges or veth pairs are not available."""
    made = []

    def make(records=None, **kw):
        reason = lab_unavailable()
        if reason:
            pytest.skip(reason)
        net = Lab(records, **kw)
        made.append(net)
        try:
            net.start()
        except NetnsUnavailable as e:
            pytest.skip(str(e))
        return net

    yield make
    for net in reversed(made):
        net.stop()


# ---- Postern instances on lab hosts and what their logs say -------------------

# The services a sending Postern needs beyond mailsys/smtpsys: the smtp agent
# and an smtpd on port 25 of every inet_interfaces address.
SENDER_SERVICES = ["smtp      unix  -  -  y  -  -  smtp",
                   "25        inet  n  -  y  -  -  smtpd"]

# Short timeouts so a dead or hostile receiver costs seconds, not minutes.
FAST_SMTP = {
    "smtp_connect_timeout": "3s",
    "smtp_helo_timeout": "5s",
    "smtp_mail_timeout": "5s",
    "smtp_rcpt_timeout": "5s",
    "smtp_data_init_timeout": "5s",
    "smtp_data_xfer_timeout": "5s",
    "smtp_data_done_timeout": "5s",
    "smtp_quit_timeout": "3s",
    "smtp_starttls_timeout": "5s",
}


def postern_on(host, base, myhostname, users, main=None, services=(), files=None):
    """An smtpsys.SmtpSystem (not started) running inside host, with smtpd
    on port 25 of host.addr and 127.0.0.1, the smtp agent, myhostname and
    mydestination = $myhostname, localhost. files (name -> text) are
    written to its config directory; "{etc}" in main values names it."""
    from conftest import LIBEXEC
    from smtpsys import SmtpSystem

    if not os.access(os.path.join(LIBEXEC, "smtp"), os.X_OK):
        pytest.fail(f"{LIBEXEC}/smtp is not built; run `make` first")
    etc = os.path.join(str(base), "etc")
    cfg = {"myhostname": myhostname, "mydestination": "$myhostname, localhost",
           "inet_interfaces": f"127.0.0.1, {host.addr}", "mynetworks": "127.0.0.0/8",
           "smtpd_error_sleep_time": "0"}
    cfg.update(FAST_SMTP)
    cfg.update({k: v.replace("{etc}", etc) for k, v in (main or {}).items()})
    s = SmtpSystem(base, main=cfg, users=users, services=list(SENDER_SERVICES) + list(services),
                   netns=host)
    for name, text in (files or {}).items():
        with open(os.path.join(etc, name), "w") as f:
            f.write(text)
    if files:
        s.inst.postern("check")
    return s


def submit(system, rcpts, sender, msgid, subject="outbound test", body="hello\n"):
    """The real sendmail on system; a message with Message-Id <msgid>."""
    text = (f"From: {sender}\nTo: {', '.join(rcpts)}\nSubject: {subject}\n"
            f"Message-Id: <{msgid}>\n\n{body}")
    system.sendmail("-f", sender, *rcpts, input=text)


def outcome_lines(inst, rcpt):
    """Every delivery status line for rcpt: [(qid, status, dsn, reason, line)]."""
    import re
    rx = re.compile(r"^.*?postern/\S+?\[\d+\]: (\w+): to=<" + re.escape(rcpt) +
                    r">,.*? dsn=([0-9.]+), status=(\w+) \((.*)\)$", re.M)
    return [(m.group(1), m.group(3), m.group(2), m.group(4), m.group(0))
            for m in rx.finditer(inst.read_log())]


def wait_outcome(inst, rcpt, status, timeout=30):
    """The first status line for rcpt with this status (sent, deferred,
    bounced); fails with the log tail when none comes."""
    from conftest import wait_for

    def find():
        for o in outcome_lines(inst, rcpt):
            if o[1] == status:
                return o
        return None

    return wait_for(find, timeout=timeout,
                    what=f"status={status} for <{rcpt}>; log tail:\n{inst.read_log()[-4000:]}")


def queue_listing(system):
    """postqueue -p output (the mailq listing)."""
    return system.inst.cmd("postqueue", "-p", check=False).stdout


def dsn_reports(system, user):
    """Delivery status notifications in user's mbox: [(message,
    per-message fields, [per-recipient field blocks])]."""
    out = []
    for m in system.mbox_messages(user):
        if m.get_content_type() != "multipart/report":
            continue
        parts = list(m.iter_parts())
        status = [p for p in parts if p.get_content_type() == "message/delivery-status"]
        if not status:
            continue
        blocks = status[0].get_payload()
        out.append((m, blocks[0], blocks[1:]))
    return out


def wait_dsn_for(system, user, rcpt, timeout=30):
    """The DSN in user's mbox that has a per-recipient block for rcpt:
    (message, per-message fields, that block)."""
    from conftest import wait_for

    def find():
        for m, head, blocks in dsn_reports(system, user):
            for b in blocks:
                if rcpt.lower() in str(b.get("Final-Recipient", "")).lower():
                    return m, head, b
        return None

    return wait_for(find, timeout=timeout,
                    what=f"a DSN to {user} about <{rcpt}>; log tail:\n"
                         f"{system.inst.read_log()[-4000:]}")
