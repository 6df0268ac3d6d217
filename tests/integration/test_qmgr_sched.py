"""qmgr scheduling: the per-destination concurrency window (initial
concurrency, growth up to <transport>_destination_concurrency_limit), dead
destinations (site failures past the failed cohort limit: qmgr defers
without asking the agent, "delivery temporarily suspended"), revival by
postqueue -f, and postqueue -s site.

The smtp transport is a fake agent on private/smtp (fakeagent.py): it
counts the requests it serves at once and answers with site_fail when a
test says the destination is down. minimal_backoff_time stays at its
default (300s), so nothing is retried behind a test's back.
"""

import os
import re
import subprocess
import time

import pytest

from conftest import SBIN, wait_for
from fakeagent import DELIVER_DEFER, DELIVER_OK, FakeAgent
from test_qmgr import start_instance

REFUSED = "connect to mx.dead.example[192.0.2.1]:25: Connection refused"


def sendmail(i, rcpt, sender="pts2_sender@test.example"):
    argv = [os.path.join(SBIN, "sendmail"), "-C", os.path.join(i.etc, "main.cf"), "-f", sender,
            rcpt]
    p = subprocess.run(argv, input=b"Subject: scheduling\n\nhello\n", capture_output=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr.decode()


def queued(i, queue):
    return [n for _, _, names in os.walk(os.path.join(i.queue, queue)) for n in names]


def agent_rcpts(agent):
    return [a for a, _ in agent.recipients()]


@pytest.fixture
def sched(tmp_path):
    made = []

    def make(main):
        i = start_instance(tmp_path, main=main)
        i.start()
        wait_for(lambda: os.path.exists(os.path.join(i.queue, "public", "qmgr")),
                 what="public/qmgr")
        made.append(i)
        return i

    yield make
    for i in made:
        for a in getattr(i, "agents", []):
            a.close()
        i.cleanup()


def test_concurrency_window_starts_small_and_stops_at_the_limit(sched):
    i = sched({"smtp_destination_concurrency_limit": "4",
               "initial_destination_concurrency": "2",
               "destination_concurrency_feedback_debug": "yes"})
    agent = FakeAgent(i, "smtp", DELIVER_OK, "2.0.0", "250 ok", concurrent=True, delay=0.4)
    i.agents = [agent]
    n = 60
    for k in range(n):
        sendmail(i, f"pts2_r{k}@dest.example")
    agent.wait_recipients(n, timeout=90)
    assert sorted(agent_rcpts(agent)) == sorted(f"pts2_r{k}@dest.example" for k in range(n))
    assert agent.max_active <= 4, f"{agent.max_active} requests at once, limit 4"
    assert agent.max_active >= 3, f"the window never opened beyond 2: {agent.max_active}"
    before_reply = [active for active, replied in agent.accepts if replied == 0]
    assert before_reply and max(before_reply) <= 2, \
        f"more than the initial concurrency before any reply: {agent.accepts[:8]}"
    log = i.read_log()
    assert re.search(r"positive feedback: queue smtp:dest\.example: limit 4 busy \d+ ready "
                     r"window 4 ", log), log[-3000:]
    wait_for(lambda: not queued(i, "active") and not queued(i, "incoming"), timeout=30,
             what="an empty queue")


def test_dead_destination_is_suspended_and_flush_revives_it(sched):
    i = sched({"smtp_destination_concurrency_limit": "4"})
    agent = FakeAgent(i, "smtp", DELIVER_DEFER, "4.4.1", REFUSED, site_fail=True,
                      concurrent=True, delay=1.0)
    i.agents = [agent]
    # A burst, as in Postfix: an idle destination is forgotten, failures
    # and all. Initial concurrency 5 within the limit 4, feedback 1, cohort
    # limit 1: the window shrinks 4, 3, 2, 1 and the failed cohorts
    # 1/4 + 1/3 + 1/2 >= 1 kill it at the third failure; the rest waits.
    n = 12
    for k in range(n):
        sendmail(i, f"pts2_d{k}@dead.example")
    i.wait_log(r"destination smtp:dead\.example is not responding: delivery temporarily "
               r"suspended: " + re.escape(REFUSED) + r" for 300s")
    suspended = re.compile(r"\w+: to=<pts2_d(\d+)@dead\.example>, relay=none, delay=[0-9.]+, "
                           r"dsn=4\.4\.1, status=deferred \(delivery temporarily suspended: "
                           + re.escape(REFUSED) + r"\)")

    def accounted():
        asked = {int(a[len("pts2_d"):].split("@")[0]) for a in agent_rcpts(agent)}
        held = {int(k) for k in suspended.findall(i.read_log())}
        return (asked, held) if asked | held == set(range(n)) else None
    asked, held = wait_for(accounted, timeout=30, what="every message tried or suspended")
    assert 3 <= len(asked) <= 4, f"the agent was asked {len(asked)} times"
    assert not asked & held
    assert agent.max_active <= 4

    seen = len(agent.requests)
    sendmail(i, "pts2_late@dead.example")
    i.wait_log(r"to=<pts2_late@dead\.example>, relay=none, .*status=deferred "
               r"\(delivery temporarily suspended")
    time.sleep(0.5)
    assert len(agent.requests) == seen, "qmgr asked the agent about a dead destination"
    wait_for(lambda: len(queued(i, "deferred")) == n + 1, what=f"{n + 1} deferred messages")

    agent.status, agent.site_fail, agent.dsn, agent.reason = DELIVER_OK, False, "2.0.0", "250 ok"
    agent.delay = 0
    i.cmd("postqueue", "-f")
    want = {f"pts2_d{k}@dead.example" for k in range(n)} | {"pts2_late@dead.example"}
    wait_for(lambda: want <= set(agent_rcpts(agent)), timeout=30,
             what=f"all at the agent; log:\n{i.read_log()[-3000:]}")
    wait_for(lambda: not queued(i, "deferred") and not queued(i, "active"), timeout=30,
             what="an empty queue")
    assert "destination smtp:dead.example: delivery resumed (flush)" in i.read_log()


def test_dead_destination_is_probed_after_minimal_backoff(sched):
    i = sched({"initial_destination_concurrency": "1", "minimal_backoff_time": "2s",
               "maximal_backoff_time": "3s", "queue_run_delay": "1s"})
    agent = FakeAgent(i, "smtp", DELIVER_DEFER, "4.4.1", REFUSED, site_fail=True)
    i.agents = [agent]
    sendmail(i, "pts2_p0@dead.example")
    agent.wait_recipients(1)
    sendmail(i, "pts2_p1@dead.example")
    i.wait_log(r"to=<pts2_p1@dead\.example>, relay=none, .*status=deferred "
               r"\(delivery temporarily suspended")
    agent.status, agent.site_fail, agent.dsn, agent.reason = DELIVER_OK, False, "2.0.0", "250 ok"
    # no flush: after minimal_backoff_time one delivery probes, then the rest follow
    wait_for(lambda: not queued(i, "deferred") and not queued(i, "active"), timeout=30,
             what=f"an empty queue; log:\n{i.read_log()[-3000:]}")
    assert agent_rcpts(agent).count("pts2_p0@dead.example") >= 2
    assert "(flush)" not in i.read_log()


def test_postqueue_s_flushes_only_that_site_and_revives_it(sched):
    i = sched({"initial_destination_concurrency": "1"})
    agent = FakeAgent(i, "smtp", DELIVER_DEFER, "4.4.1", REFUSED, site_fail=True)
    i.agents = [agent]
    sendmail(i, "pts2_x@a.example")
    agent.wait_recipients(1)
    sendmail(i, "pts2_y@b.example")
    agent.wait_recipients(2)
    sendmail(i, "pts2_z@a.example")  # a.example is dead: qmgr defers it
    i.wait_log(r"to=<pts2_z@a\.example>, relay=none, .*status=deferred "
               r"\(delivery temporarily suspended")
    wait_for(lambda: len(queued(i, "deferred")) == 3, what="3 deferred messages")
    assert len(agent.requests) == 2

    agent.status, agent.site_fail, agent.dsn, agent.reason = DELIVER_OK, False, "2.0.0", "250 ok"
    i.cmd("postqueue", "-s", "A.Example")
    wait_for(lambda: agent_rcpts(agent).count("pts2_x@a.example") == 2 and
             "pts2_z@a.example" in agent_rcpts(agent), timeout=20,
             what=f"a.example's mail at the agent; log:\n{i.read_log()[-3000:]}")
    time.sleep(1)
    assert agent_rcpts(agent).count("pts2_y@b.example") == 1, "b.example was flushed too"
    wait_for(lambda: len(queued(i, "deferred")) == 1 and not queued(i, "active"),
             what="only b.example's message left")
    assert "flush site A.Example" in i.read_log()

    p = i.cmd("postqueue", "-s", "bad site;rm", check=False)
    assert p.returncode == 64, p
    i.cmd("postqueue", "-f")
    wait_for(lambda: not queued(i, "deferred") and not queued(i, "active"), timeout=20,
             what="an empty queue")
