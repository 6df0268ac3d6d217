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
    agent. split sends the reply in two parts with a pause between."""

    def __init__(self, inst, name, status, dsn, reason, split=False):
        self.inst, self.status, self.dsn, self.reason = inst, status, dsn, reason
        self.split = split
        self.requests = []
        path = os.path.join(inst.queue, "private", name)
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(16)
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
            with conn:
                conn.settimeout(5)
                f = conn.makefile("rwb")
                req = attrproto.decode(f)
                n = req["rcpt_count"]
                qpath = os.path.join(self.inst.queue, req["queue_dir"], req["queue_id"])
                reply = [("status", 0 if self.status == DELIVER_OK else 1)]
                for k in range(n):
                    if self.status != DELIVER_DEFER:  # OK, BOUNCE: done first
                        with open(qpath, "r+b") as q:
                            q.seek(req[f"rcpt_offset_{k}"])
                            assert q.read(1) == b"R"
                            q.seek(req[f"rcpt_offset_{k}"])
                            q.write(b"D")
                            os.fsync(q.fileno())
                    reply += [(f"rcpt_status_{k}", self.status), (f"rcpt_dsn_{k}", self.dsn),
                              (f"rcpt_reason_{k}", self.reason)]
                data = attrproto.encode(reply)
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
