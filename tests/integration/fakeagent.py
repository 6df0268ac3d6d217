"""A test-side delivery agent: a listener on private/NAME in an instance's
queue directory that speaks the delivery request protocol
(lib/mail/deliver_request.h, over the attribute protocol of attrproto.py),
records every request, and answers each recipient with a fixed status.

qmgr connects to private/<transport> directly, so a transport that has no
program yet (smtp, relay) can be tested from the queue manager's side:
which recipients it hands over, with which next hop.
"""

import os
import socket
import threading
import time

import attrproto
from conftest import wait_for

DELIVER_OK, DELIVER_DEFER, DELIVER_BOUNCE = 0, 1, 2


class FakeAgent:
    """Answers every request with status (DELIVER_OK, DEFER or BOUNCE), dsn
    and reason for each recipient. For OK and BOUNCE the recipients are
    marked done in the queue file first, as mail_proto.h requires of an
    agent. split sends the reply in two parts with a pause between.

    concurrent serves each connection in a thread of its own, delay
    seconds before the reply, counting the requests being served at once
    (active, max_active); site_fail adds site_fail=1 to each reply (the
    destination as a whole failed). status, dsn, reason and site_fail may
    be changed while the agent runs."""

    def __init__(self, inst, name, status, dsn, reason, split=False, concurrent=False,
                 delay=0.0, site_fail=False):
        self.inst, self.status, self.dsn, self.reason = inst, status, dsn, reason
        self.split = split
        self.concurrent, self.delay, self.site_fail = concurrent, delay, site_fail
        self.lock = threading.Lock()
        self.active = self.max_active = self.replied = 0
        self.accepts = []  # (requests being served, replies sent) at each accept
        self.requests = []
        path = os.path.join(inst.queue, "private", name)
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if self.concurrent:
                threading.Thread(target=self.serve_counted, args=(conn,), daemon=True).start()
            else:
                self.serve(conn)

    def serve_counted(self, conn):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            # what qmgr had in flight here before any reply could open its window
            self.accepts.append((self.active, self.replied))
        time.sleep(self.delay)
        self.serve(conn, counted=True)

    def replying(self):
        """A counted request ends before its reply is written: once qmgr
        has the reply it may start the next one at once."""
        with self.lock:
            self.active -= 1
            self.replied += 1

    def serve(self, conn, counted=False):
        with conn:
            conn.settimeout(5)
            f = conn.makefile("rwb")
            req = attrproto.decode(f)
            n = req["rcpt_count"]
            qpath = os.path.join(self.inst.queue, req["queue_dir"], req["queue_id"])
            status = self.status
            reply = [("status", 0 if status == DELIVER_OK else 1)]
            if self.site_fail:
                reply.append(("site_fail", 1))
            for k in range(n):
                if status != DELIVER_DEFER:  # OK, BOUNCE: done first
                    with open(qpath, "r+b") as q:
                        q.seek(req[f"rcpt_offset_{k}"])
                        assert q.read(1) == b"R"
                        q.seek(req[f"rcpt_offset_{k}"])
                        q.write(b"D")
                        os.fsync(q.fileno())
                reply += [(f"rcpt_status_{k}", status), (f"rcpt_dsn_{k}", self.dsn),
                          (f"rcpt_reason_{k}", self.reason)]
            data = attrproto.encode(reply)
            if counted:
                self.replying()
                counted = False
            if self.split:
                f.write(data[:7])
                f.flush()
                time.sleep(0.2)
                data = data[7:]
            f.write(data)
            f.flush()
            f.close()
            # recorded last: a test that saw the request sees its effects
            self.requests.append(req)

    def recipients(self):
        """(recipient, nexthop) of every recipient of every request so far."""
        return sorted((r[f"rcpt_addr_{k}"], r["nexthop"])
                      for r in list(self.requests) for k in range(r["rcpt_count"]))

    def wait_recipients(self, n, timeout=30):
        """Wait until n recipients were handed over; returns recipients()."""
        wait_for(lambda: len(self.recipients()) >= n, timeout=timeout,
                 what=f"{n} recipients at the fake agent; log:\n{self.inst.read_log()[-3000:]}")
        return self.recipients()

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()
