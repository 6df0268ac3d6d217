"""A controllable SMTP receiver for outbound tests: runs in the test process
(threads), listens on addresses inside a netlab host (or anywhere a socket
can be made), and records what the client did.

    sink = Sink(host, addrs=[host.addr], port=25).start()
    sink.rcpt_reply = lambda rcpt: "550 5.1.1 no such user" if "bad" in rcpt else None
    ... mail is delivered ...
    sink.messages        # [Message(mail_from, rcpts, data, local, tls, auth, ...)]
    sink.peak["10.250.0.3"]   # most connections open at once on that address
    sink.stop()

What it does by default: "220 NAME ESMTP sink", EHLO with PIPELINING, SIZE,
8BITMIME, ENHANCEDSTATUSCODES (+ STARTTLS when given a cert, + AUTH when
given logins), 250 to MAIL and RCPT, 354 to DATA, "250 2.0.0 Ok: queued as
N" after the dot. Attributes a test may change at any time (a reply is a
str, CRLF added, "\\n" in it makes a multi-line reply; a callable gets the
argument and returns a reply or None for the default):

  greeting, mail_reply(addr), rcpt_reply(addr), data_reply,
  dot_reply(message), data_delay (seconds before the reply to the dot),
  session(conn) - when set, takes over a whole connection right after
  accept (hostile receivers): conn.send(bytes), conn.readline(), conn.sock.
  on_connect(conn) - called for every connection; may return a dict of the
  attributes above that then hold for that connection only.

Records (under sink.lock): messages (accepted transactions), connections
(Conn objects: local and peer address, commands seen, tls, auth, ehlo),
active[addr] and peak[addr] (connections open at once per local address),
active_tx/peak_tx (transactions, MAIL to end of data, at once per address).
Every line read is bounded (64 KiB); a client that sends more is cut off.
"""

import email
import email.policy
import socket
import ssl
import threading
import time
from base64 import b64decode

MAX_LINE = 65536
DEFAULT_EHLO = ["PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES"]


class Message:
    def __init__(self, conn, mail_from, rcpts, data):
        self.local = conn.local
        self.peer = conn.peer
        self.tls = conn.tls
        self.auth = conn.auth
        self.ehlo = conn.ehlo
        self.mail_from = mail_from
        self.rcpts = list(rcpts)
        self.data = data
        self.time = time.monotonic()

    def parsed(self):
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def message_id(self):
        return self.parsed().get("Message-Id", "").strip()

    def __repr__(self):
        return (f"Message(from={self.mail_from!r}, rcpts={self.rcpts!r}, local={self.local}, "
                f"tls={self.tls}, auth={self.auth})")


class ConnClosed(Exception):
    pass


class Conn:
    """One accepted connection."""

    def __init__(self, sink, sock, number):
        self.sink = sink
        self.sock = sock
        self.number = number
        self.local = sock.getsockname()[0]
        self.peer = sock.getpeername()[0]
        self.buf = b""
        self.tls = False
        self.auth = None  # (mechanism, user, password) after a successful AUTH
        self.auth_tries = []  # every (mechanism, user, password) offered
        self.ehlo = None
        self.commands = []
        self.over = {}  # per-connection overrides from on_connect
        self.closed = False  # no longer counted in sink.active

    def setting(self, name):
        return self.over[name] if name in self.over else getattr(self.sink, name)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self, text):
        """Send a reply; "\\n" in text separates the lines of a multi-line one."""
        lines = text.split("\n")
        code = lines[-1][:3]
        out = []
        for i, line in enumerate(lines):
            if i < len(lines) - 1:
                body = line[4:] if line[:3] == code else line
                out.append(f"{code}-{body}\r\n")
            else:
                out.append(line + "\r\n")
        self.send("".join(out))

    def readline(self):
        """One line without its CRLF (bytes); ConnClosed at EOF."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return line.rstrip(b"\r\n")
            if len(self.buf) > MAX_LINE:
                raise ConnClosed("line too long")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnClosed("eof")
            self.buf += chunk

    def starttls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.sink.cert, self.sink.key)
        self.buf = b""  # RFC 3207: nothing sent before the handshake counts
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self.tls = True
        self.ehlo = None


class Sink:
    def __init__(self, host, addrs=None, port=25, hostname="sink.test", cert=None, key=None,
                 logins=None, auth_mechs=("PLAIN", "LOGIN"), auth_needs_tls=False):
        self.host = host
        self.addrs = list(addrs) if addrs else [host.addr]
        self.port = port
        self.hostname = hostname
        self.cert, self.key = cert, key
        self.logins = dict(logins) if logins else None
        self.auth_mechs = list(auth_mechs)
        self.auth_needs_tls = auth_needs_tls
        self.greeting = f"220 {hostname} ESMTP sink"
        self.ehlo_extensions = list(DEFAULT_EHLO)
        self.mail_reply = None
        self.rcpt_reply = None
        self.data_reply = "354 End data with <CR><LF>.<CR><LF>"
        self.dot_reply = None
        self.data_delay = 0.0
        self.session = None
        self.on_connect = None
        self.lock = threading.Lock()
        self.messages = []
        self.connections = []
        self.active = {a: 0 for a in self.addrs}
        self.peak = {a: 0 for a in self.addrs}
        self.active_tx = {a: 0 for a in self.addrs}
        self.peak_tx = {a: 0 for a in self.addrs}
        # the connections open when peak[addr] was reached: (number, peer, last command)
        self.peak_detail = {}
        self.errors = []  # exceptions in connection threads other than a closed connection
        self._listeners = []
        self._threads = []
        self._live = set()
        self._stopping = False
        self._queued = 0

    # ---- life cycle -------------------------------------------------------------

    def start(self):
        for a in self.addrs:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            s = self.host.socket(fam) if self.host is not None else socket.socket(fam)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((a, self.port))
            s.listen(128)
            s.settimeout(0.2)
            self._listeners.append(s)
            t = threading.Thread(target=self._accept_loop, args=(s,), daemon=True,
                                 name=f"sink-accept-{a}:{self.port}")
            t.start()
            self._threads.append(t)
        return self

    def stop_listening(self):
        """Close the listening sockets (connections then get refused)."""
        self._stopping = True
        for s in self._listeners:
            s.close()
        for t in self._threads:
            t.join(5)
        self._listeners = []
        self._threads = []

    def stop(self):
        self.stop_listening()
        with self.lock:
            live = list(self._live)
        for c in live:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.sock.close()

    def _accept_loop(self, ls):
        while not self._stopping:
            try:
                s, _ = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.settimeout(120)
            local = s.getsockname()[0]
            self._settle(local)
            with self.lock:
                c = Conn(self, s, len(self.connections))
                self.connections.append(c)
                self._live.add(c)
                self.active[c.local] = self.active.get(c.local, 0) + 1
                if self.active[c.local] > self.peak.get(c.local, 0):
                    self.peak[c.local] = self.active[c.local]
                    self.peak_detail[c.local] = [
                        (o.number, o.peer, (o.commands or ["(none yet)"])[-1])
                        for o in self._live if o.local == c.local and not o.closed]
            threading.Thread(target=self._serve, args=(c,), daemon=True,
                             name=f"sink-conn-{c.number}").start()

    def _settle(self, local):
        """Before counting a new connection to local, stop counting those
        the client has already ended: their QUIT or end of file is in our
        receive buffer, only not yet read by their thread. (Without this
        the count would depend on how fast threads get scheduled.)"""
        with self.lock:
            live = [c for c in self._live if c.local == local and not c.closed and not c.tls]
        for c in live:
            # A socket with a timeout polls before recv: peek through a
            # duplicate with timeout 0 (its fd is non-blocking already).
            try:
                d = c.sock.dup()
            except OSError:
                continue
            try:
                d.settimeout(0)
                data = d.recv(65536, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            finally:
                d.close()
            pending = c.buf + data
            if not data or pending.upper().startswith(b"QUIT\r\n") or \
                    b"\nQUIT\r\n" in pending.upper():
                self._closed(c)

    def _serve(self, c):
        try:
            if self.on_connect is not None:
                c.over = self.on_connect(c) or {}
            session = c.setting("session")
            if session is not None:
                session(c)
            else:
                self._smtp(c)
        except (ConnClosed, OSError, ssl.SSLError):
            pass
        except Exception as e:  # a bug in the sink or a test's callable: surfaced by tests
            with self.lock:
                self.errors.append(repr(e))
        finally:
            try:
                c.sock.close()
            except OSError:
                pass
            self._closed(c)
            with self.lock:
                self._live.discard(c)

    def _closed(self, c):
        with self.lock:
            if not c.closed:
                c.closed = True
                self.active[c.local] -= 1

    # ---- the SMTP dialogue -----------------------------------------------------

    def _answer(self, c, name, arg, default):
        v = c.setting(name)
        if callable(v):
            v = v(arg)
        return default if v is None else v

    def _smtp(self, c):
        c.reply(c.setting("greeting"))
        mail_from, rcpts, in_tx = None, [], False
        try:
            while True:
                line = c.readline()
                text = line.decode("utf-8", "replace")
                c.commands.append(text)
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                if verb in ("EHLO", "HELO"):
                    c.ehlo = arg
                    if in_tx:
                        in_tx = self._end_tx(c)
                    mail_from, rcpts = None, []
                    if verb == "HELO":
                        c.reply(f"250 {self.hostname}")
                        continue
                    ext = list(c.setting("ehlo_extensions"))
                    if self.cert and not c.tls:
                        ext.append("STARTTLS")
                    if self.logins is not None and (c.tls or not self.auth_needs_tls):
                        ext.append("AUTH " + " ".join(self.auth_mechs))
                    c.reply("\n".join([f"250 {self.hostname}"] + [f"250 {e}" for e in ext]))
                elif verb == "STARTTLS" and self.cert and not c.tls:
                    c.reply("220 2.0.0 Ready to start TLS")
                    c.starttls()
                    mail_from, rcpts = None, []
                elif verb == "AUTH" and self.logins is not None:
                    self._auth(c, arg)
                elif verb == "MAIL":
                    addr = _path(arg, "FROM:")
                    r = self._answer(c, "mail_reply", addr, "250 2.1.0 Ok")
                    c.reply(r)
                    if r.startswith("2"):
                        mail_from, rcpts = addr, []
                        in_tx = self._begin_tx(c, in_tx)
                elif verb == "RCPT":
                    addr = _path(arg, "TO:")
                    if mail_from is None:
                        c.reply("503 5.5.1 Error: need MAIL command")
                        continue
                    r = self._answer(c, "rcpt_reply", addr, "250 2.1.5 Ok")
                    c.reply(r)
                    if r.startswith("2"):
                        rcpts.append(addr)
                elif verb == "DATA":
                    if mail_from is None or not rcpts:
                        c.reply("554 5.5.1 Error: no valid recipients")
                        continue
                    c.reply(c.setting("data_reply"))
                    data = self._read_data(c)
                    msg = Message(c, mail_from, rcpts, data)
                    delay = c.setting("data_delay")
                    if delay:
                        time.sleep(delay)
                    with self.lock:
                        self._queued += 1
                        n = self._queued
                    r = self._answer(c, "dot_reply", msg, f"250 2.0.0 Ok: queued as S{n}")
                    if r.startswith("2"):
                        with self.lock:
                            self.messages.append(msg)
                    in_tx = self._end_tx(c)  # before the reply, as at QUIT
                    c.reply(r)
                    mail_from, rcpts = None, []
                elif verb == "RSET":
                    mail_from, rcpts = None, []
                    in_tx = self._end_tx(c) if in_tx else False
                    c.reply("250 2.0.0 Ok")
                elif verb == "NOOP":
                    c.reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    # The session is over for the client as soon as it reads
                    # 221: count it closed first, so a client that connects
                    # again at once is not counted twice.
                    if in_tx:
                        in_tx = self._end_tx(c)
                    self._closed(c)
                    c.reply("221 2.0.0 Bye")
                    return
                else:
                    c.reply("502 5.5.2 Error: command not recognized")
        finally:
            if in_tx:
                self._end_tx(c)

    def _begin_tx(self, c, in_tx):
        if not in_tx:
            with self.lock:
                self.active_tx[c.local] = self.active_tx.get(c.local, 0) + 1
                self.peak_tx[c.local] = max(self.peak_tx.get(c.local, 0),
                                            self.active_tx[c.local])
        return True

    def _end_tx(self, c):
        with self.lock:
            self.active_tx[c.local] -= 1
        return False

    def _read_data(self, c):
        out = []
        size = 0
        while True:
            line = c.readline()
            if line == b".":
                return b"\r\n".join(out) + b"\r\n"
            if line.startswith(b"."):
                line = line[1:]  # RFC 5321 4.5.2
            size += len(line) + 2
            if size > 64 * 1024 * 1024:
                raise ConnClosed("message too big")
            out.append(line)

    def _auth(self, c, arg):
        if c.auth is not None:
            c.reply("503 5.5.1 Error: already authenticated")
            return
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        if mech not in self.auth_mechs:
            c.reply("504 5.5.4 Unrecognized authentication type")
            return
        try:
            if mech == "PLAIN":
                if not initial:
                    c.reply("334 ")
                    initial = c.readline().decode()
                _authz, user, pw = b64decode(initial, validate=True).decode().split("\0")
            else:
                if initial:
                    user = b64decode(initial, validate=True).decode()
                else:
                    c.reply("334 VXNlcm5hbWU6")
                    user = b64decode(c.readline(), validate=True).decode()
                c.reply("334 UGFzc3dvcmQ6")
                pw = b64decode(c.readline(), validate=True).decode()
        except ValueError:
            c.reply("501 5.5.2 Cannot decode response")
            return
        c.auth_tries.append((mech, user, pw))
        if self.logins.get(user) == pw:
            c.auth = (mech, user, pw)
            c.reply("235 2.7.0 Authentication successful")
        else:
            c.reply("535 5.7.8 Error: authentication failed")

    # ---- looking at what happened ---------------------------------------------

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def message_ids(self):
        return [m.message_id for m in self.snapshot()]

    def rcpts(self):
        return [r for m in self.snapshot() for r in m.rcpts]


def _path(arg, prefix):
    """The address in "FROM:<a> PARAMS" / "TO:<a>" (without the brackets)."""
    a = arg
    if a.upper().startswith(prefix):
        a = a[len(prefix):]
    a = a.strip()
    if a.startswith("<"):
        end = a.find(">")
        return a[1:end] if end > 0 else a[1:]
    return a.split(" ")[0]
