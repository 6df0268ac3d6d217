#!/usr/bin/python3
"""Benchmark: sendmail -> Maildir through the whole local path.

Starts an isolated instance with every service of the local path (the
integration tests' MailSystem: pickup, cleanup, qmgr, bounce, local, real
users) with home_mailbox = Maildir/, then measures
  - latency: one message at a time, from the start of `sendmail` to the
    file appearing in the user's Maildir/new (median, p95, max),
  - throughput: N messages submitted by P parallel senders, from the first
    submission to the last delivery (messages/s), and how long the
    submissions alone took.
Needs root (real users and the privilege model). Run after `make`:
  /usr/bin/python3 bench/local_delivery.py [N] [P]
"""

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from conftest import SBIN  # noqa: E402
from mailsys import MailSystem  # noqa: E402


def count_new(d):
    try:
        return len(os.listdir(d))
    except FileNotFoundError:
        return 0


def sendmail(etc, n):
    msg = f"From: pt_cat\nTo: pt_amy\nSubject: bench {n}\n\n" + "x" * 60 + "\n"
    subprocess.run([os.path.join(SBIN, "sendmail"), "-C", os.path.join(etc, "main.cf"), "-f",
                    "pt_cat", "pt_amy"],
                   input=msg.encode(), check=True, stdout=subprocess.DEVNULL)


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    parallel = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    if os.geteuid() != 0:
        sys.exit("bench/local_delivery.py needs root (real users, setuid delivery)")
    with tempfile.TemporaryDirectory() as tmp:
        m = MailSystem(os.path.join(tmp, "inst"), main={"home_mailbox": "Maildir/"})
        try:
            m.start()
            etc = m.inst.etc
            new = os.path.join(m.users["pt_amy"].pw_dir, "Maildir", "new")
            # Warm up: every daemon started once.
            sendmail(etc, -1)
            while count_new(new) < 1:
                time.sleep(0.001)

            lat = []
            for n in range(50):
                before = count_new(new)
                t0 = time.perf_counter()
                sendmail(etc, n)
                while count_new(new) <= before:
                    time.sleep(0.0005)
                lat.append(time.perf_counter() - t0)
            lat.sort()
            print(f"latency sendmail->Maildir (50 msgs): median {statistics.median(lat)*1000:.1f} ms,"
                  f" p95 {lat[int(len(lat)*0.95)-1]*1000:.1f} ms, max {lat[-1]*1000:.1f} ms")

            base = count_new(new)
            t0 = time.perf_counter()
            per = total // parallel

            def worker(k):
                for n in range(per):
                    sendmail(etc, k * per + n)

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(parallel)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            t_submit = time.perf_counter() - t0
            want = base + per * parallel
            while count_new(new) < want:
                time.sleep(0.005)
            t_all = time.perf_counter() - t0
            n = per * parallel
            print(f"throughput: {n} msgs by {parallel} senders: submitted in {t_submit:.2f} s "
                  f"({n/t_submit:.0f}/s), all in Maildir after {t_all:.2f} s ({n/t_all:.0f} msgs/s)")
            problems = m.log_problems()
            if problems:
                print("log problems:\n" + "\n".join(problems[:10]))
        finally:
            m.cleanup()


if __name__ == "__main__":
    main()
