"""slapd - a real, throwaway OpenLDAP server for tests (import it from any
test module: `from slapd import Slapd, slapd`).

    s = Slapd(tmpdir, ldif, port=None, tls=False, acl="", schema="")
    s.start()                 # slapadd the LDIF (first start only), run slapd, wait
    s.url                     # "ldap://127.0.0.1:PORT"  (StartTLS too when tls=True)
    s.ldaps_url               # "ldaps://127.0.0.1:PORT2" (tls=True; else None)
    s.ca_cert                 # the CA that signed the server certificate (tls=True)
    s.stop()                  # SIGTERM by PID, wait (s.kill(): SIGKILL)
    s.start()                 # again, on the SAME ports, with the same data
    s.connections()           # established TCP connections to s.port (and s.tls_port)
    s.search("(uid=alice)")   # ldapsearch as rootdn: LDIF text
    s.add(ldif) / s.modify(ldif)   # ldapadd / ldapmodify as rootdn
    s.log()                   # what slapd wrote (-d 0: startup errors only)

Directory: suffix SUFFIX (dc=example,dc=com), administrator ROOT_DN with
password ROOT_PW. The suffix entry is added unless the LDIF has it. Schemas:
core, cosine, inetorgperson, nis, misc (inetLocalMailRecipient:
mailLocalAddress, mailRoutingAddress, mailHost). Access: userPassword only
for binding, everything else readable by anyone; `acl` is slapd.conf text
("access to ...") placed before those rules. `schema` is more schema
text (attributetype / objectclass definitions in slapd.conf syntax),
written to a file in tmpdir and included after the standard ones.

Everything (config, database, certificates, pid file, log) lives in
tmpdir; slapd listens on 127.0.0.1 only, on a free port (or `port`), and
runs as the calling user in the foreground (-d 0), so it is stopped by PID
and never outlives the test.

The pytest fixture `slapd` is a factory: `s = slapd(ldif, tls=True)` makes
and starts a server in the test's tmp_path and stops every server it made
at the end. A test is skipped (naming what is missing) only when
/usr/sbin/slapd is not installed.
"""

import os
import signal
import socket
import subprocess
import time

import pytest

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
SCHEMA_DIR = "/etc/ldap/schema"
MODULE_DIR = "/usr/lib/ldap"
SUFFIX = "dc=example,dc=com"
ROOT_DN = "cn=admin,dc=example,dc=com"
ROOT_PW = "admin-secret"

SUFFIX_LDIF = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example
"""


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_slapd():
    if not os.access(SLAPD, os.X_OK):
        pytest.skip(f"{SLAPD} is not installed (Debian package slapd)")


def _client_env(extra=None):
    env = dict(os.environ)
    env["LDAPNOINIT"] = "1"  # no ~/.ldaprc or /etc/ldap/ldap.conf
    env.update(extra or {})
    return env


def make_ca_and_cert(directory, host="127.0.0.1"):
    """A throwaway CA and a server certificate it signed for host (an IP
    address, also named as localhost); returns (ca, cert, key) paths."""
    p = lambda name: os.path.join(directory, name)
    run = lambda argv: subprocess.run(argv, check=True, capture_output=True, timeout=60)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(["openssl", "req", "-x509", *ec, "-days", "2", "-subj", "/CN=Postern Test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", p("ca.key"), "-out", p("ca.pem")])
    run(["openssl", "req", *ec, "-subj", f"/CN={host}", "-keyout", p("server.key"),
         "-out", p("server.csr")])
    with open(p("server.ext"), "w") as f:
        f.write(f"subjectAltName=IP:{host},DNS:localhost\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run(["openssl", "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.pem"),
         "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", p("server.ext"),
         "-out", p("server.pem")])
    for name in ("ca.pem", "server.pem"):
        os.chmod(p(name), 0o644)
    return p("ca.pem"), p("server.pem"), p("server.key")


def _tcp_established(port):
    """Established TCP connections whose local end is 127.0.0.1:port (from
    /proc/net/tcp: the server side of each client connection)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state = fields[1], fields[3]
                    if state == "01" and int(local.rsplit(":", 1)[1], 16) == port:
                        n += 1
        except OSError:
            pass
    return n


class Slapd:
    def __init__(self, tmpdir, ldif="", port=None, tls=False, acl="", schema=""):
        require_slapd()
        self.dir = os.path.abspath(str(tmpdir))
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.tls = tls
        self.tls_port = free_port() if tls else None
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.tls_port}" if tls else None
        self.ldif = ldif if f"dn: {SUFFIX}\n" in ldif else SUFFIX_LDIF + "\n" + ldif
        self.acl = acl
        self.schema = schema
        self.proc = None
        self.loaded = False
        self.ca_cert = self.cert = self.key = None
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.db = os.path.join(self.dir, "db")
        self.logfile = os.path.join(self.dir, "slapd.log")
        if tls:
            self.ca_cert, self.cert, self.key = make_ca_and_cert(self.dir)
        self._write_conf()

    def _write_conf(self):
        lines = [f"include {SCHEMA_DIR}/{s}.schema"
                 for s in ("core", "cosine", "inetorgperson", "nis", "misc")]
        if self.schema:
            extra = os.path.join(self.dir, "extra.schema")
            with open(extra, "w") as f:
                f.write(self.schema)
            lines.append(f"include {extra}")
        lines += [
            f"modulepath {MODULE_DIR}",
            "moduleload back_mdb",
            f"pidfile {self.dir}/slapd.pid",
            f"argsfile {self.dir}/slapd.args",
        ]
        if self.tls:
            lines += [f"TLSCACertificateFile {self.ca_cert}",
                      f"TLSCertificateFile {self.cert}",
                      f"TLSCertificateKeyFile {self.key}"]
        lines += [
            "database mdb",
            "maxsize 33554432",
            f'suffix "{SUFFIX}"',
            f'rootdn "{ROOT_DN}"',
            f"rootpw {ROOT_PW}",
            f"directory {self.db}",
            self.acl,
            "access to attrs=userPassword by anonymous auth by * none",
            "access to * by * read",
        ]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- life cycle -----------------------------------------------------------
    def _load(self):
        os.makedirs(self.db, exist_ok=True)
        path = os.path.join(self.dir, "data.ldif")
        with open(path, "w") as f:
            f.write(self.ldif)
        r = subprocess.run([SLAPADD, "-f", self.conf, "-l", path], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"slapadd failed ({r.returncode}): {r.stderr}")
        self.loaded = True

    def start(self, timeout=15):
        if self.proc is not None and self.proc.poll() is None:
            return self
        if not self.loaded:
            self._load()
        urls = f"ldap://127.0.0.1:{self.port}/"
        if self.tls:
            urls += f" ldaps://127.0.0.1:{self.tls_port}/"
        log = open(self.logfile, "ab")
        self.proc = subprocess.Popen([SLAPD, "-f", self.conf, "-h", urls, "-d", "0"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"slapd exited {self.proc.returncode}:\n{self.log()}")
            r = subprocess.run(["ldapsearch", "-x", "-H", self.url, "-b", SUFFIX, "-s", "base",
                                "-o", "nettimeout=2", "dn"], capture_output=True, timeout=10,
                               env=_client_env())
            if r.returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"slapd did not answer within {timeout}s:\n{self.log()}")

    def _signal(self, sig):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    def stop(self):
        self._signal(signal.SIGTERM)

    def kill(self):
        self._signal(signal.SIGKILL)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- looking -------------------------------------------------------------
    def connections(self):
        """Established client connections to the server's ports."""
        return _tcp_established(self.port) + (_tcp_established(self.tls_port) if self.tls else 0)

    def _tool(self, argv, input=None):
        return subprocess.run(argv[:1] + ["-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PW]
                              + argv[1:], input=input, capture_output=True, text=True,
                              timeout=30, env=_client_env())

    def search(self, flt, base=SUFFIX, attrs=()):
        r = self._tool(["ldapsearch", "-LLL", "-b", base, flt, *attrs])
        if r.returncode not in (0, 32):
            raise AssertionError(f"ldapsearch {flt}: {r.returncode} {r.stderr}")
        return r.stdout

    def add(self, ldif):
        r = self._tool(["ldapadd"], ldif)
        if r.returncode != 0:
            raise AssertionError(f"ldapadd: {r.returncode} {r.stderr}")

    def modify(self, ldif):
        r = self._tool(["ldapmodify"], ldif)
        if r.returncode != 0:
            raise AssertionError(f"ldapmodify: {r.returncode} {r.stderr}")


@pytest.fixture
def slapd(tmp_path):
    """Factory: slapd(ldif="", tls=False, port=None, acl="", schema="") -> a started
    Slapd."""
    require_slapd()
    made = []

    def make(ldif="", tls=False, port=None, acl="", schema=""):
        s = Slapd(tmp_path / f"slapd{len(made)}", ldif, port=port, tls=tls, acl=acl,
                  schema=schema)
        made.append(s)
        return s.start()

    yield make
    for s in made:
        s.kill()
