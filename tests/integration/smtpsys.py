"""A mail system with its front door: MailSystem plus smtpd on three loopback
ports (smtp, submission with STARTTLS required, smtps with implicit TLS),
the auth service with a passwd-file, anvil and proxymap, and a throwaway
self-signed certificate.

    s = SmtpSystem(tmp_path, main={...}).start()
    with smtplib.SMTP("127.0.0.1", s.port) as c: ...
    s.cleanup()

Passwords in the passwd-file are PLAIN (test only): users PASSWORDS below.
"""

import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import IS_ROOT, LIBEXEC, free_port, wait_for
from mailsys import MailSystem

# The options conf/master.cf gives submission and smtps: AUTH (after TLS)
# before any mail, and relaying only for authenticated clients.
SUBMISSION_OPTS = ("-o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=yes"
                   " -o smtpd_delay_reject=no -o smtpd_client_restrictions="
                   " -o smtpd_sender_restrictions=permit_sasl_authenticated,reject"
                   " -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
                   " -o smtpd_recipient_restrictions=")

# Test logins in the passwd-file: name -> password.
PASSWORDS = {"pt_amy": "amy-secret", "pt_bob": "bob-secret"}


def make_cert(directory, cn="test.example"):
    """A self-signed RSA certificate and key (PEM) for cn; returns the paths."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


class SmtpSystem(MailSystem):
    def __init__(self, base, main=None, services=(), users=("pt_amy", "pt_bob", "pt_cat"),
                 aliases="", smtp_args=(), submission_args=(), netns=None):
        self.port = free_port()
        self.submission_port = free_port()
        self.smtps_port = free_port()
        super().__init__(base, users=users, main=None, aliases=aliases)
        i = self.inst
        # netns: a dnsns.DnsNamespace; the whole instance then runs inside
        # it (its 127.0.0.1 and its DNS server), and clients must too
        # (netns.run / netns.popen).
        self.netns = netns
        if netns is not None:
            i.exec_prefix = list(netns.exec_prefix)
        for p in ("smtpd", "auth", "anvil", "proxymap"):
            if not os.access(os.path.join(LIBEXEC, p), os.X_OK):
                pytest.fail(f"{LIBEXEC}/{p} is not built; run `make` first")
        self.cert, self.key = make_cert(i.etc)
        # Where the auth_owner account can reach it (pytest temp dirs are 0700).
        self.passwd_file = os.path.join(self.root, "users")
        with open(self.passwd_file, "w") as f:
            for u, pw in PASSWORDS.items():
                f.write(f"{u}:{{PLAIN}}{pw}::::::\n")
        if IS_ROOT:
            shutil.chown(self.passwd_file, "root", "postern-auth" if _has_group("postern-auth")
                         else "root")
            os.chmod(self.passwd_file, 0o640)
        i.main.update({
            "smtpd_tls_cert_file": self.cert,
            "smtpd_tls_key_file": self.key,
            "smtpd_tls_security_level": "may",
            "auth_passdb": f"passwd-file:{self.passwd_file}",
            "auth_failure_delay": "1s",
            "smtpd_timeout": "20s",
            "local_recipient_maps": f"proxy:unix:passwd.byname $alias_maps",
        })
        if main:
            i.main.update(main)
        if not IS_ROOT:
            i.main["auth_owner"] = i.main["mail_owner"]
        extra = " ".join(smtp_args)
        sub = " ".join(submission_args)
        i.services += [
            f"127.0.0.1:{self.port} inet n - y - - smtpd {extra}",
            f"127.0.0.1:{self.submission_port} inet n - y - - smtpd"
            " -o syslog_name=postern/submission -o smtpd_tls_security_level=encrypt"
            f" {SUBMISSION_OPTS} {sub}",
            f"127.0.0.1:{self.smtps_port} inet n - y - - smtpd"
            " -o syslog_name=postern/smtps -o smtpd_tls_wrappermode=yes"
            f" {SUBMISSION_OPTS}",
            "auth      unix  -  n  n  -  1  auth",
            "anvil     unix  -  -  y  -  1  anvil",
            "proxymap  unix  -  -  n  -  -  proxymap",
        ]
        i.services += list(services)
        i.write_config()
        i.postern("check")

    def start(self):
        super().start()
        if self.netns is not None:
            probe = ["/usr/bin/python3", "-c",
                     "import socket,sys; s=socket.create_connection(('127.0.0.1', %d), 2);"
                     "s.settimeout(5); sys.exit(0 if s.recv(1) else 1)" % self.port]
            wait_for(lambda: self.netns.run(probe).returncode == 0,
                     what=f"smtpd on port {self.port} in {self.netns.name}")
        else:
            wait_for(lambda: _port_open(self.port), what=f"smtpd on port {self.port}")
        return self

    # -- clients ---------------------------------------------------------------
    def smtp(self, port=None, timeout=20):
        """An smtplib client on the smtp port (or another)."""
        return smtplib.SMTP("127.0.0.1", port or self.port, timeout=timeout)

    def tls_context(self):
        """A client context that trusts this instance's certificate."""
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = False
        return ctx

    def raw(self, port=None, timeout=20):
        """A raw socket, after reading the greeting; returns (sock, greeting)."""
        s = socket.create_connection(("127.0.0.1", port or self.port), timeout=timeout)
        greeting = recv_reply(s)
        return s, greeting

    def queue_ids_in_log(self):
        import re
        return re.findall(r"postern/smtpd\[\d+\]: ([0-9A-Za-z_]+): client=", self.inst.read_log())


def _has_group(name):
    import grp
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(5)
            return s.recv(1) != b""
    except OSError:
        return False


def recv_reply(sock, timeout=20):
    """Read one whole SMTP reply (all continuation lines); returns the text
    with CRLFs, or "" at EOF."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(1)
        if not chunk:
            return data.decode(errors="replace")
        data += chunk
        if data.endswith(b"\r\n"):
            last = data[:-2].split(b"\r\n")[-1]
            if len(last) < 4 or last[3:4] != b"-":
                return data.decode(errors="replace")


def reply_codes(text):
    """The codes of every final reply line in text."""
    return [int(l[:3]) for l in text.split("\r\n") if len(l) >= 4 and l[3] == " "]


def wait_port_closed(sock, timeout=10):
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    while time.monotonic() < deadline:
        if sock.recv(4096) == b"":
            return True
    return False
