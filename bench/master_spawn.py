#!/usr/bin/python3
"""Benchmark: how fast master hands connections to a service.

Starts an isolated instance (the integration fixture's Instance) with the
test echo service and measures
  - cold start: connect → greeting when master must fork+exec a new child,
  - warm: sequential connections served by an existing child (conn/s),
  - parallel: 8 client threads against maxproc 8.
Run after `make`:  /usr/bin/python3 bench/master_spawn.py
"""

import os
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import TESTSVC, Instance, ensure_accounts, free_port  # noqa: E402


def session(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rwb")
    f.readline()
    f.write(b"quit\n")
    f.flush()
    f.readline()
    s.close()


def main():
    ensure_accounts()
    with tempfile.TemporaryDirectory() as tmp:
        inst = Instance(os.path.join(tmp, "inst"))
        port, pport = free_port(), free_port()
        inst.add_service(f"127.0.0.1:{port} inet n - n - 1 {TESTSVC} -o max_use=100000 single")
        inst.add_service(f"127.0.0.1:{pport} inet n - n - 8 {TESTSVC} -o max_use=100000 single")
        inst.start()
        try:
            cold = []
            for _ in range(20):
                t = time.perf_counter()
                session(port)
                cold.append(time.perf_counter() - t)
                for pid in inst.children():
                    os.kill(pid, signal.SIGTERM)
                time.sleep(0.15)
            n = 2000
            session(port)
            t = time.perf_counter()
            for _ in range(n):
                session(port)
            warm = n / (time.perf_counter() - t)

            per_thread = 500
            def worker():
                for _ in range(per_thread):
                    session(pport)
            threads = [threading.Thread(target=worker) for _ in range(8)]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            par = 8 * per_thread / (time.perf_counter() - t)
            print(f"cold spawn connect->greeting: median {statistics.median(cold)*1000:.1f} ms, "
                  f"max {max(cold)*1000:.1f} ms (20 runs)")
            print(f"warm sequential sessions: {warm:.0f} conn/s (one child, {n} sessions)")
            print(f"parallel sessions: {par:.0f} conn/s (8 clients, maxproc 8, {8*per_thread} sessions)")
            print(f"children at end: {len(inst.children())}")
        finally:
            inst.postern("stop", check=False)
            inst.cleanup()


if __name__ == "__main__":
    main()
