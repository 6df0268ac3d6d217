"""auth(8): the SASL authentication service, spoken to directly on
private/auth with the attribute protocol (as smtpd's auth_client does).

One instance for the module runs only auth, with auth_failure_delay=1s and
auth_passdb = passwd-file (a Dovecot-format file with SHA512-CRYPT,
BLF-CRYPT, ARGON2ID and PLAIN users), then system. As root the test also
creates real system accounts (pt_auth_*: SHA-512 and yescrypt passwords set
with chpasswd, one below auth_minimum_uid, one locked) and removes them
afterwards, and checks that auth runs as auth_owner with the shadow group.
The postern-auth account is created when missing and left in place, like
the postern account.

Each test uses its own client address, because failures count per address
(the failure delay) and the counts outlive a test.
"""

import base64
import ctypes
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

import attrproto
from conftest import IS_ROOT, LIBEXEC, Instance, ensure_accounts, proc_status, wait_for

SUFFIX = "%04x" % (os.getpid() & 0xFFFF)
SYS_SHA = f"pt_auth_sha_{SUFFIX}"
SYS_YES = f"pt_auth_yes_{SUFFIX}"
SYS_LOW = f"pt_auth_low_{SUFFIX}"
SYS_LOCKED = f"pt_auth_lck_{SUFFIX}"
SYS_USERS = [SYS_SHA, SYS_YES, SYS_LOW, SYS_LOCKED]
AUTH_OWNER = "postern-auth"

OK, FAIL, CONTINUE, ERROR = 0, 1, 2, -1


# -- hashes made with the system's own libraries ---------------------------------

_libcrypt = ctypes.CDLL("libcrypt.so.1")
_libcrypt.crypt.restype = ctypes.c_char_p
_libcrypt.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_libcrypt.crypt_gensalt.restype = ctypes.c_char_p
_libcrypt.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p,
                                    ctypes.c_int]


def crypt_hash(password, prefix, count=0):
    setting = _libcrypt.crypt_gensalt(prefix.encode(), count, None, 0)
    assert setting, f"crypt_gensalt({prefix}) failed"
    h = _libcrypt.crypt(password.encode(), setting).decode()
    assert h.startswith(prefix), h
    return h


def argon2id_hash(password):
    lib = ctypes.CDLL("libargon2.so.1")
    out = ctypes.create_string_buffer(256)
    pw = password.encode()
    salt = os.urandom(16)
    rc = lib.argon2id_hash_encoded(ctypes.c_uint32(2), ctypes.c_uint32(8192), ctypes.c_uint32(1),
                                   pw, ctypes.c_size_t(len(pw)), salt,
                                   ctypes.c_size_t(len(salt)), ctypes.c_size_t(32), out,
                                   ctypes.c_size_t(len(out)))
    assert rc == 0, f"argon2id_hash_encoded returned {rc}"
    return out.value.decode()


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain(user, password, authzid=""):
    return b64(f"{authzid}\0{user}\0{password}")


# -- talking to private/auth ------------------------------------------------------

class AuthConn:
    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.f = self.sock.makefile("rwb")
        self.hello = attrproto.decode(self.f)

    def send_start(self, mech, response="", addr="192.0.2.1", service="smtp",
                   name="client.example", secured=1):
        attrproto.send(self.f, [("request", "start"), ("service", service),
                                ("mechanism", mech), ("client_addr", addr),
                                ("client_name", name), ("secured", secured),
                                ("response", response)])

    def start(self, mech, response="", **kw):
        self.send_start(mech, response, **kw)
        return attrproto.decode(self.f)

    def cont(self, response):
        attrproto.send(self.f, [("request", "continue"), ("response", response)])
        return attrproto.decode(self.f)

    def closed_by_peer(self):
        """True when the service has closed the connection."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        try:
            self.f.close()
        finally:
            self.sock.close()


class AuthSystem:
    def __init__(self, base):
        self.root = tempfile.mkdtemp(prefix="postern-auth-")
        os.chmod(self.root, 0o755)
        self.users_file = os.path.join(self.root, "users")
        self.system_users = []
        self.passwords = {
            "amy": ("SHA512-CRYPT", "amy pässword"),
            "bea": ("BLF-CRYPT", "bea-secret"),
            "cid": ("ARGON2ID", "cid-secret"),
            "dot": ("PLAIN", "dot-secret"),
        }
        self.write_users(extra="eve:{NTLM}0123456789abcdef:1005:1005::/home/eve::\n")
        if IS_ROOT:
            self.make_system_users()

        i = self.inst = Instance(base)
        i.main.update({
            "auth_failure_delay": "1s",
            "auth_passdb": f"passwd-file:{self.users_file}, system",
        })
        i.services.append("auth unix - n n - 1 auth")
        i.write_config()
        i.start()
        self.sock = os.path.join(i.queue, "private", "auth")
        wait_for(lambda: os.path.exists(self.sock), what="private/auth")

    def write_users(self, extra=""):
        lines = ["# passwd-file for test_auth", ""]
        for user, (scheme, pw) in self.passwords.items():
            if scheme == "SHA512-CRYPT":
                h = crypt_hash(pw, "$6$")
            elif scheme == "BLF-CRYPT":
                h = crypt_hash(pw, "$2b$", 5)
            elif scheme == "ARGON2ID":
                h = argon2id_hash(pw)
            else:
                h = pw
            lines.append(f"{user}:{{{scheme}}}{h}:1001:1001::/home/{user}::")
        text = "\n".join(lines) + "\n" + extra
        tmp = self.users_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        if IS_ROOT:
            # As Dovecot's: root's file, readable by the auth account only.
            os.chown(tmp, 0, pwd.getpwnam(AUTH_OWNER).pw_gid)
            os.chmod(tmp, 0o640)
        else:
            os.chmod(tmp, 0o600)
        os.rename(tmp, self.users_file)
        return text

    def make_system_users(self):
        for name in SYS_USERS:
            subprocess.run(["userdel", name], capture_output=True)
        for name, method, system in ((SYS_SHA, "SHA512", False), (SYS_YES, "YESCRYPT", False),
                                     (SYS_LOW, "SHA512", True), (SYS_LOCKED, None, False)):
            argv = ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin"]
            if system:
                argv.append("--system")
            subprocess.run(argv + [name], check=True, capture_output=True)
            self.system_users.append(name)
            if method:
                subprocess.run(["chpasswd", "-c", method], input=f"{name}:{name}-pw\n",
                               text=True, check=True, capture_output=True)

    def shadow_hash(self, name):
        with open("/etc/shadow") as f:
            for line in f:
                fields = line.split(":")
                if fields[0] == name:
                    return fields[1]
        return None

    def conn(self):
        return AuthConn(self.sock)

    def auth_plain(self, user, password, addr, **kw):
        c = self.conn()
        try:
            return c.start("PLAIN", plain(user, password), addr=addr, **kw)
        finally:
            c.close()

    def auth_pid(self):
        for pid in self.inst.children():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv0 = f.read().split(b"\0")[0]
            except OSError:
                continue
            if os.path.basename(argv0) == b"auth":
                return pid
        return None

    def cleanup(self):
        self.inst.cleanup()
        for name in self.system_users:
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
        reports = self.inst.sanitizer_reports()
        if reports:
            text = "".join(open(r, errors="replace").read() for r in reports)
            pytest.fail(f"sanitizer reports from daemons:\n{text[:5000]}")


def ensure_auth_owner():
    if not IS_ROOT:
        return
    try:
        pwd.getpwnam(AUTH_OWNER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", AUTH_OWNER], check=True)


@pytest.fixture(scope="module")
def auth(tmp_path_factory):
    if not os.access(os.path.join(LIBEXEC, "auth"), os.X_OK):
        pytest.fail(f"{LIBEXEC}/auth is not built; run `make` first")
    if IS_ROOT:
        for tool in ("useradd", "userdel", "chpasswd"):
            if shutil.which(tool) is None:
                pytest.skip(f"this machine has no {tool}")
    ensure_accounts()
    ensure_auth_owner()
    s = AuthSystem(tmp_path_factory.mktemp("auth") / "inst")
    yield s
    s.cleanup()


def log_lines(auth, text):
    return [line for line in auth.inst.read_log().splitlines() if text in line]


def require_root():
    if not IS_ROOT:
        pytest.skip("system accounts and the change of user need root (this run is not root)")


# -- the protocol -------------------------------------------------------------------

def test_greeting_lists_the_configured_mechanisms(auth):
    c = auth.conn()
    assert c.hello == {"mechanisms": "PLAIN LOGIN"}
    c.close()


def test_plain_with_the_right_password_succeeds_and_is_logged(auth):
    r = auth.auth_plain("amy", "amy pässword", "192.0.2.10")
    assert r == {"status": OK, "user": "amy"}, r
    auth.inst.wait_log(r"(?m)postern/auth\[\d+\]: smtp: user=<amy>, method=PLAIN, "
                       r"rip=192\.0\.2\.10$")


def test_plain_with_a_wrong_password_fails_and_never_logs_it(auth):
    r = auth.auth_plain("amy", "not-the-password", "192.0.2.11")
    assert r["status"] == FAIL and r["reason"] == "authentication failure", r
    auth.inst.wait_log(r"warning: smtp: authentication failed: user=<amy>, method=PLAIN, "
                       r"rip=192\.0\.2\.11, reason=passwd-file: wrong password")
    assert "not-the-password" not in auth.inst.read_log()


def test_login_takes_user_name_and_password_in_two_steps(auth):
    c = auth.conn()
    r = c.start("LOGIN", "", addr="192.0.2.12")
    assert r == {"status": CONTINUE, "challenge": b64("Username:")}, r
    r = c.cont(b64("bea"))
    assert r == {"status": CONTINUE, "challenge": b64("Password:")}, r
    r = c.cont(b64("bea-secret"))
    assert r == {"status": OK, "user": "bea"}, r
    assert c.closed_by_peer(), "one authentication per connection"
    c.close()
    auth.inst.wait_log(r"smtp: user=<bea>, method=LOGIN, rip=192\.0\.2\.12")


def test_login_with_initial_response_and_plain_without(auth):
    c = auth.conn()
    r = c.start("login", b64("cid"), addr="192.0.2.13")
    assert r["status"] == CONTINUE and r["challenge"] == b64("Password:"), r
    assert c.cont(b64("cid-secret"))["status"] == OK
    c.close()
    c = auth.conn()
    r = c.start("PLAIN", "", addr="192.0.2.13")
    assert r == {"status": CONTINUE, "challenge": ""}, r
    assert c.cont(plain("dot", "dot-secret")) == {"status": OK, "user": "dot"}
    c.close()


@pytest.mark.parametrize("user,scheme", [("amy", "SHA512-CRYPT"), ("bea", "BLF-CRYPT"),
                                         ("cid", "ARGON2ID"), ("dot", "PLAIN")])
def test_passwd_file_schemes(auth, user, scheme):
    assert auth.passwords[user][0] == scheme
    addr = f"198.51.100.{10 + list(auth.passwords).index(user)}"
    good = auth.passwords[user][1]
    assert auth.auth_plain(user, good, addr) == {"status": OK, "user": user}
    r = auth.auth_plain(user, good + "x", addr)
    assert r["status"] == FAIL, f"{scheme}: a wrong password was accepted: {r}"
    assert auth.auth_plain(user, good[:-1], addr)["status"] == FAIL


def test_plain_passwords_are_warned_about_once(auth):
    auth.inst.wait_log(r"PLAIN passwords are in use")
    assert len(log_lines(auth, "PLAIN passwords are in use")) == 1


def test_unknown_scheme_fails_with_file_and_line(auth):
    r = auth.auth_plain("eve", "0123456789abcdef", "192.0.2.14")
    assert r["status"] == FAIL, r
    # line 7: two header lines, four users, then eve
    auth.inst.wait_log(rf"warning: {auth.users_file}:7: user eve: unknown password scheme "
                       r"\{NTLM\}")


def test_unknown_user_fails(auth):
    r = auth.auth_plain("nobody-here", "x", "192.0.2.15")
    assert r["status"] == FAIL, r
    auth.inst.wait_log(r"user=<nobody-here>, method=PLAIN, rip=192\.0\.2\.15, "
                       r"reason=unknown user")


def test_changed_passwd_file_is_used_without_restart(auth):
    pid = auth.auth_pid()
    auth.passwords["fay"] = ("SHA512-CRYPT", "fay-secret")
    try:
        auth.write_users(extra="eve:{NTLM}0123456789abcdef:1005:1005::/home/eve::\n")
        assert auth.auth_plain("fay", "fay-secret", "192.0.2.16") == {"status": OK,
                                                                      "user": "fay"}
    finally:
        del auth.passwords["fay"]
        auth.write_users(extra="eve:{NTLM}0123456789abcdef:1005:1005::/home/eve::\n")
    assert auth.auth_plain("fay", "fay-secret", "192.0.2.16")["status"] == FAIL
    assert auth.auth_pid() == pid, "auth was restarted"


def test_unreadable_passwd_file_is_a_temporary_failure(auth):
    os.chmod(auth.users_file, 0)
    try:
        t0 = time.monotonic()
        r = auth.auth_plain("amy", "amy pässword", "192.0.2.24")
        assert time.monotonic() - t0 < 0.8, "a temporary failure is not delayed"
    finally:
        os.chmod(auth.users_file, 0o640 if IS_ROOT else 0o600)
    assert r == {"status": ERROR, "reason": "temporary authentication failure"}, r
    auth.inst.wait_log(r"warning: smtp: authentication not possible: user=<amy>, method=PLAIN, "
                       r"rip=192\.0\.2\.24, reason=passwd-file: open .*Permission denied")
    # readable again: back in service
    assert auth.auth_plain("amy", "amy pässword", "192.0.2.24")["status"] == OK


def test_star_cancels(auth):
    c = auth.conn()
    assert c.start("LOGIN", "", addr="192.0.2.17")["status"] == CONTINUE
    r = c.cont("*")
    assert r == {"status": FAIL, "reason": "authentication cancelled"}, r
    c.close()


def test_other_authorization_identity_is_refused(auth):
    c = auth.conn()
    r = c.start("PLAIN", plain("amy", "amy pässword", authzid="bea"), addr="192.0.2.18")
    c.close()
    assert r["status"] == FAIL, r
    auth.inst.wait_log(r"rip=192\.0\.2\.18, reason=authorization identity differs")


def test_bad_base64_fails(auth):
    c = auth.conn()
    r = c.start("PLAIN", "AGFteQBhbXkgcMOkc3N3b3Jk\r", addr="192.0.2.19")
    c.close()
    assert r["status"] == FAIL and "malformed response" in r["reason"], r


def test_unsupported_mechanism_is_refused_at_once(auth):
    c = auth.conn()
    t0 = time.monotonic()
    r = c.start("CRAM-MD5", "", addr="192.0.2.20")
    assert time.monotonic() - t0 < 0.8
    assert r == {"status": FAIL, "reason": "unsupported authentication mechanism"}, r
    c.close()


@pytest.mark.parametrize("what", ["not attributes", "unknown attribute", "continue first",
                                  "two requests at once", "control bytes in client_addr"])
def test_garbage_gets_the_client_disconnected(auth, what):
    c = auth.conn()
    if what == "not attributes":
        c.f.write(b"EHLO there\r\n" * 4)
        c.f.flush()
    elif what == "unknown attribute":
        attrproto.send(c.f, [("request", "start"), ("service", "smtp"), ("mechanism", "PLAIN"),
                             ("client_addr", "192.0.2.21"), ("client_name", "x"),
                             ("secured", 1), ("response", ""), ("user", "root")])
    elif what == "continue first":
        attrproto.send(c.f, [("request", "continue"), ("response", b64("amy"))])
    elif what == "two requests at once":
        start = attrproto.encode([("request", "start"), ("service", "smtp"),
                                  ("mechanism", "LOGIN"), ("client_addr", "192.0.2.21"),
                                  ("client_name", "x"), ("secured", 0), ("response", "")])
        c.f.write(start + attrproto.encode([("request", "continue"), ("response", "YW15")]))
        c.f.flush()
    else:
        c.send_start("PLAIN", plain("amy", "x"), addr="192.0.2.21\r\n250 ok")
    assert c.closed_by_peer(), f"{what}: the service kept talking"
    c.close()
    # and the service is still there for everyone else
    assert auth.auth_plain("dot", "dot-secret", "192.0.2.22")["status"] == OK


def test_oversized_request_gets_the_client_disconnected(auth):
    c = auth.conn()
    c.send_start("PLAIN", "A" * 40000, addr="192.0.2.23")
    assert c.closed_by_peer()
    c.close()


# -- the failure delay ------------------------------------------------------------------

def timed_failure(auth, addr):
    t0 = time.monotonic()
    r = auth.auth_plain("amy", "wrong", addr)
    assert r["status"] == FAIL, r
    return time.monotonic() - t0


def test_failure_delay_doubles_per_client_and_does_not_block_others(auth):
    addr = "203.0.113.50"
    first = timed_failure(auth, addr)
    assert 0.9 <= first < 1.9, f"first failure answered after {first:.2f}s, want about 1s"
    second = timed_failure(auth, addr)
    assert 1.9 <= second < 2.9, f"second failure answered after {second:.2f}s, want about 2s"

    # The third failure waits about 4s; meanwhile another client is served at once.
    slow = auth.conn()
    t0 = time.monotonic()
    slow.send_start("PLAIN", plain("amy", "wrong"), addr=addr)
    time.sleep(0.3)
    t1 = time.monotonic()
    r = auth.auth_plain("amy", "amy pässword", "203.0.113.51")
    fast = time.monotonic() - t1
    assert r["status"] == OK, r
    assert fast < 0.8, f"another client's success took {fast:.2f}s during a failure delay"
    r = attrproto.decode(slow.f)
    third = time.monotonic() - t0
    slow.close()
    assert r["status"] == FAIL
    assert 3.9 <= third < 5.5, f"third failure answered after {third:.2f}s, want about 4s"

    # A success forgets the client's failures.
    assert auth.auth_plain("amy", "amy pässword", addr)["status"] == OK
    again = timed_failure(auth, addr)
    assert 0.9 <= again < 1.9, f"failure after a success took {again:.2f}s, want about 1s"


def test_client_that_leaves_during_the_delay_is_dropped_quietly(auth):
    c = auth.conn()
    c.send_start("PLAIN", plain("amy", "wrong"), addr="203.0.113.60")
    time.sleep(0.2)
    c.close()
    time.sleep(1.5)
    pid = auth.auth_pid()
    assert auth.auth_plain("dot", "dot-secret", "203.0.113.61")["status"] == OK
    assert auth.auth_pid() == pid
    bad = [line for line in auth.inst.read_log().splitlines()
           if "fatal:" in line or "panic:" in line or "killed by signal" in line]
    assert not bad, bad


def test_parallel_failures_are_all_delayed(auth):
    results = []

    def one(i):
        t0 = time.monotonic()
        r = auth.auth_plain("amy", f"wrong{i}", f"203.0.113.{70 + i}")
        results.append((r["status"], time.monotonic() - t0))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = time.monotonic() - t0
    assert all(s == FAIL and d >= 0.9 for s, d in results), results
    # served side by side, not one after the other
    assert total < 4, f"8 parallel failures took {total:.2f}s"


# -- system accounts -------------------------------------------------------------------

def test_system_account_with_sha512_password(auth):
    require_root()
    assert auth.shadow_hash(SYS_SHA).startswith("$6$")
    assert auth.auth_plain(SYS_SHA, f"{SYS_SHA}-pw", "192.0.2.30") == {"status": OK,
                                                                       "user": SYS_SHA}
    assert auth.auth_plain(SYS_SHA, "wrong", "192.0.2.30")["status"] == FAIL
    auth.inst.wait_log(rf"user=<{SYS_SHA}>, method=PLAIN, rip=192\.0\.2\.30, "
                       r"reason=system: wrong password")


def test_system_account_with_yescrypt_password(auth):
    require_root()
    assert auth.shadow_hash(SYS_YES).startswith("$y$")
    c = auth.conn()
    assert c.start("LOGIN", b64(SYS_YES), addr="192.0.2.31")["status"] == CONTINUE
    assert c.cont(b64(f"{SYS_YES}-pw")) == {"status": OK, "user": SYS_YES}
    c.close()
    assert auth.auth_plain(SYS_YES, f"{SYS_SHA}-pw", "192.0.2.31")["status"] == FAIL


def test_system_account_below_minimum_uid_is_refused(auth):
    require_root()
    uid = pwd.getpwnam(SYS_LOW).pw_uid
    assert uid < 1000, f"useradd --system gave uid {uid}"
    r = auth.auth_plain(SYS_LOW, f"{SYS_LOW}-pw", "192.0.2.32")
    assert r["status"] == FAIL, r
    auth.inst.wait_log(rf"user=<{SYS_LOW}>, .*reason=system: user ID {uid} is below "
                       r"auth_minimum_uid 1000")


def test_locked_system_account_is_refused(auth):
    require_root()
    assert auth.shadow_hash(SYS_LOCKED)[:1] in ("!", "*")
    r = auth.auth_plain(SYS_LOCKED, "!", "192.0.2.33")
    assert r["status"] == FAIL, r
    auth.inst.wait_log(rf"user=<{SYS_LOCKED}>, .*reason=system: account is locked")


def test_auth_runs_as_auth_owner_with_the_shadow_group(auth):
    require_root()
    pid = auth.auth_pid()
    assert pid, f"no auth process among {auth.inst.children()}"
    st = proc_status(pid)
    pw = pwd.getpwnam(AUTH_OWNER)
    assert st["Uid"].split() == [str(pw.pw_uid)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(pw.pw_gid)] * 4, st["Gid"]
    groups = set(st["Groups"].split())
    want = {str(pw.pw_gid)}
    try:
        want.add(str(grp.getgrnam("shadow").gr_gid))
    except KeyError:
        pass
    assert groups == want, f"groups {groups}, want {want}"
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    assert int(st["CapBnd"], 16) == 0
    assert st["NoNewPrivs"] == "1"


def test_unknown_auth_owner_is_fatal(tmp_path):
    require_root()
    inst = Instance(tmp_path / "inst")
    inst.main["auth_owner"] = f"pt_auth_none_{SUFFIX}"
    inst.services.append("auth unix - n n - 1 auth")
    inst.write_config()
    try:
        inst.start()
        # master starts auth when a client knocks
        sock = os.path.join(inst.queue, "private", "auth")
        wait_for(lambda: os.path.exists(sock), what="private/auth")
        try:
            AuthConn(sock, timeout=5).close()
        except (OSError, EOFError):
            pass
        inst.wait_log(rf"fatal: auth_owner: unknown account pt_auth_none_{SUFFIX}")
    finally:
        inst.cleanup()
