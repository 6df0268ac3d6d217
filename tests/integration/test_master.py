"""master(8) and the server skeleton against a real instance: spawning on
demand, restarts, throttling, reload, stop, limits, and (as root) the
privilege drop of every child."""

import os
import pwd
import signal
import socket
import subprocess
import time

import pytest

from conftest import (IS_ROOT, LIBEXEC, TESTSVC, LineClient, connect_retry, free_port,
                      proc_status, session_pids, wait_for)


def inet_service(port, mode="single", extra="", maxproc="-", chroot="n", unpriv="-"):
    return f"127.0.0.1:{port} inet n {unpriv} {chroot} - {maxproc} {TESTSVC} {extra} {mode}".replace("  ", " ")


def test_services_are_spawned_on_demand_over_inet_and_unix(instance):
    port = free_port()
    instance.add_service(inet_service(port))
    instance.add_service(f"echo unix n - n - - {TESTSVC} single")
    instance.start()
    instance.wait_log(r"postern/master\[\d+\]: daemon started -- version \S+, configuration " +
                      instance.etc)
    assert instance.children() == [], "no child should run before the first client"

    c = connect_retry(("127.0.0.1", port))
    assert c.greeting.startswith(f"hello 127.0.0.1:{port} pid="), c.greeting
    assert c.ask("ping") == "echo: ping"
    c.close()

    u = connect_retry(os.path.join(instance.queue, "public", "echo"))
    assert u.greeting.startswith("hello echo pid="), u.greeting
    assert u.ask("pid") == u.greeting.split("pid=")[1].split()[0]
    u.close()


def test_killed_child_is_replaced_without_throttling(instance):
    port = free_port()
    instance.add_service(inet_service(port))
    instance.start()
    c = connect_retry(("127.0.0.1", port))
    first = int(c.ask("pid"))
    c.close()
    os.kill(first, signal.SIGKILL)
    instance.wait_log(rf"warning: process {TESTSVC} pid {first} killed by signal 9")

    c = connect_retry(("127.0.0.1", port))
    second = int(c.ask("pid"))
    c.close()
    assert second != first, "the killed child answered again"
    assert "throttling" not in instance.read_log(), "a child that had served was treated as a bad start-up"


def test_child_that_dies_at_start_is_throttled_and_logged(instance):
    port = free_port()
    instance.add_service(inet_service(port, mode="fail"))
    instance.start()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    instance.wait_log(rf"warning: {TESTSVC}: bad command startup -- throttling")
    log = instance.read_log()
    assert f"warning: process {TESTSVC} pid" in log and "exit status 1" in log, log[-2000:]
    # While throttled (3 s here) master must not start the service again.
    time.sleep(1.5)
    starts = instance.read_log().count("configured to fail at start-up")
    assert starts == 1, f"service restarted {starts} times while throttled"
    s.close()


def test_reload_adds_and_removes_services(instance):
    old_port, new_port = free_port(), free_port()
    instance.add_service(inet_service(old_port))
    instance.start()
    c = connect_retry(("127.0.0.1", old_port))
    c.close()

    instance.services = [inet_service(new_port)]
    instance.write_config()
    instance.postern("reload")
    instance.wait_log(r"postern/master\[\d+\]: reload -- version")

    c = connect_retry(("127.0.0.1", new_port))
    assert c.greeting.startswith("hello"), c.greeting
    c.close()

    def old_refused():
        try:
            socket.create_connection(("127.0.0.1", old_port), timeout=2).close()
            return False
        except ConnectionRefusedError:
            return True
    wait_for(old_refused, what=f"port {old_port} of the removed service to close")


def test_reload_with_broken_master_cf_keeps_running_configuration(instance):
    port = free_port()
    instance.add_service(inet_service(port))
    instance.start()
    instance.services.append("broken unix n - n - - ")  # no command
    instance.write_config()
    p = instance.postern("reload", check=False)
    assert p.returncode == 1 and "master.cf:3: missing field 'command'" in p.stderr, p.stderr
    # A SIGHUP that bypasses `postern reload` must not break the running master either.
    os.kill(instance.master_pid, signal.SIGHUP)
    instance.wait_log(r"postern/master\[\d+\]: warning: .*master\.cf:3: missing field 'command'")
    c = connect_retry(("127.0.0.1", port))
    assert c.ask("still") == "echo: still"
    c.close()


def test_stop_leaves_no_process_behind(instance):
    p1, p2 = free_port(), free_port()
    instance.add_service(inet_service(p1))
    instance.add_service(inet_service(p2, mode="multi"))
    instance.add_service(f"tick unix n - n 1 1 {TESTSVC} trigger")
    master = instance.start()
    busy = [connect_retry(("127.0.0.1", p1)), connect_retry(("127.0.0.1", p2)),
            connect_retry(("127.0.0.1", p2))]
    instance.wait_log(r"trigger: W")
    assert len(session_pids(master)) >= 4, "expected master and three children"

    instance.stop()
    # Children that master killed may still be torn down by the kernel for
    # a moment after master itself is gone.
    wait_for(lambda: session_pids(master) == [], timeout=1.0,
             what=f"no process left; still: {session_pids(master)}")
    p = instance.postern("status", check=False)
    assert p.returncode == 1 and "not running" in p.stderr, p.stderr
    instance.wait_log(r"terminating on signal 15")
    for c in busy:
        c.close()


def test_abort_kills_everything_at_once(instance):
    port = free_port()
    instance.add_service(inet_service(port))
    master = instance.start()
    c = connect_retry(("127.0.0.1", port))
    instance.postern("abort")
    # SIGKILLed children take a moment to be torn down by the kernel; "at
    # once" means well under the stop timeout (5 s here).
    wait_for(lambda: session_pids(master) == [], timeout=1.0,
             what=f"no process left; still: {session_pids(master)}")
    c.close()


def test_second_master_refuses_to_start(instance):
    instance.start()
    p = subprocess.run([os.path.join(LIBEXEC, "master"), "-c", instance.etc],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert p.returncode != 0, "a second master started"
    assert "already running" in p.stderr, p.stderr
    p = instance.postern("start", check=False)
    assert p.returncode != 0 and "already running" in p.stderr, p.stderr
    st = instance.postern("status")
    assert f"PID: {instance.master_pid}" in st.stderr + st.stdout


def test_wakeup_triggers_reach_a_trigger_service(instance):
    instance.add_service(f"tick unix n - n 1 1 {TESTSVC} trigger")
    instance.start()
    wait_for(lambda: instance.read_log().count("trigger: W") >= 3, timeout=10,
             what="three wakeups one second apart")


def test_multi_server_serves_concurrent_clients_in_one_process(instance):
    port = free_port()
    instance.add_service(inet_service(port, mode="multi", maxproc="1"))
    instance.start()
    clients = [connect_retry(("127.0.0.1", port)) for _ in range(5)]
    pids = {c.greeting.split("pid=")[1].split()[0] for c in clients}
    assert len(pids) == 1, f"5 clients of a multi server with maxproc 1 saw pids {pids}"
    for i, c in enumerate(clients):
        assert c.ask(f"n{i}") == f"echo: n{i}"
    for c in clients:
        c.close()


def test_maxproc_bounds_the_number_of_processes(instance):
    port = free_port()
    instance.add_service(inet_service(port, maxproc="2"))
    instance.start()
    a = connect_retry(("127.0.0.1", port))
    b = connect_retry(("127.0.0.1", port))
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(1.0)
    with pytest.raises(socket.timeout):
        s.recv(100)  # a third process would have greeted
    assert len(instance.children()) == 2, instance.children()
    a.close()
    s.settimeout(10)
    assert s.recv(100).startswith(b"hello"), "the waiting client was not served after one left"
    s.close()
    b.close()


def test_max_use_retires_a_process(instance):
    port = free_port()
    # maxproc 1: otherwise master may start a second process for the second
    # client before it has read the first one's "available again" message.
    instance.add_service(inet_service(port, extra="-o max_use=2", maxproc="1"))
    instance.start()
    pids = []
    for _ in range(3):
        c = connect_retry(("127.0.0.1", port))
        pids.append(int(c.ask("pid")))
        c.close()
        time.sleep(0.2)
    assert pids[0] == pids[1], f"first two clients should share a process: {pids}"
    assert pids[2] != pids[1], f"the process should have exited after max_use=2: {pids}"


def test_master_cf_override_reaches_the_child(instance):
    port = free_port()
    instance.add_service(inet_service(port, extra="-o syslog_name=postern/custom"))
    instance.start()
    c = connect_retry(("127.0.0.1", port))
    pid = int(c.ask("pid"))
    c.close()
    # The child logs under its -o syslog_name; master's lines stay postern/master.
    instance.wait_log(rf"postern/custom/testsvc\[{pid}\]: connect to 127.0.0.1:{port}")
    instance.wait_log(r"postern/master\[\d+\]: daemon started")


def test_broken_master_cf_line_stops_start_with_file_and_line(instance):
    instance.add_service(f"good unix n - n - - {TESTSVC} single")
    instance.add_service("bad inet6 n - n - - nothing")
    p = instance.postern("start", check=False)
    assert p.returncode != 0, "started with a broken master.cf"
    assert "master.cf:3" in p.stderr and "inet6" in p.stderr, p.stderr
    assert instance.pid_from_file() == 0 or instance.postern("status", check=False).returncode == 1


def test_broken_main_cf_value_names_file_line_and_parameter(instance):
    instance.main["max_use"] = "lots"
    instance.write_config()
    p = instance.postern("start", check=False)
    assert p.returncode != 0, "started with max_use = lots"
    assert "main.cf:" in p.stderr and "max_use" in p.stderr, p.stderr


def test_unknown_parameter_is_warned_about(instance):
    instance.main["no_such_parameter"] = "1"
    instance.write_config()
    p = instance.postern("check")
    assert "no_such_parameter" in p.stderr and "unused parameter" in p.stderr, p.stderr


def test_check_creates_queue_directories_with_modes(instance):
    instance.postern("check")
    for name, mode in (("incoming", 0o700), ("active", 0o700), ("deferred", 0o700),
                       ("private", 0o700), ("public", 0o710), ("maildrop", 0o1730),
                       ("pid", 0o755), ("corrupt", 0o700), ("hold", 0o700)):
        st = os.lstat(os.path.join(instance.queue, name))
        assert st.st_mode & 0o7777 == mode, f"{name}: mode {oct(st.st_mode & 0o7777)}"
        if IS_ROOT and name != "pid":
            assert st.st_uid == pwd.getpwnam("postern").pw_uid, f"{name} not owned by postern"


@pytest.mark.skipif(not IS_ROOT, reason="the privilege drop can only be observed when started as root")
def test_child_runs_unprivileged_chrooted_without_capabilities(instance):
    port = free_port()
    instance.add_service(inet_service(port, chroot="y", unpriv="y"))
    instance.start()
    c = connect_retry(("127.0.0.1", port))
    pid = int(c.ask("pid"))
    st = proc_status(pid)
    uid = pwd.getpwnam("postern").pw_uid
    assert st["Uid"].split() == [str(uid)] * 4, f"Uid line: {st['Uid']}"
    assert st["Gid"].split()[0] != "0", f"Gid line: {st['Gid']}"
    assert int(st["CapEff"], 16) == 0, f"CapEff {st['CapEff']}"
    assert int(st["CapPrm"], 16) == 0, f"CapPrm {st['CapPrm']}"
    assert int(st["CapBnd"], 16) == 0, f"CapBnd {st['CapBnd']}"
    assert st["NoNewPrivs"] == "1", f"NoNewPrivs {st['NoNewPrivs']}"
    assert os.readlink(f"/proc/{pid}/root") == os.path.realpath(instance.queue)
    assert c.ask("still here") == "echo: still here"
    c.close()
    # master itself stays root and is not chrooted
    assert proc_status(instance.master_pid)["Uid"].split()[0] == "0"


def test_children_exit_when_master_is_killed(instance):
    """Idle children leave at once; a child serving a client finishes that
    client first (a master crash must not cut a live session), then leaves."""
    port, mport = free_port(), free_port()
    instance.add_service(inet_service(port))
    instance.add_service(inet_service(mport, mode="multi"))
    master = instance.start()
    m = connect_retry(("127.0.0.1", mport))
    idle_pid = int(m.ask("pid"))
    m.close()
    busy = connect_retry(("127.0.0.1", port))
    busy_pid = int(busy.ask("pid"))
    os.kill(master, signal.SIGKILL)
    wait_for(lambda: session_pids(master) == [busy_pid], timeout=10,
             what=f"idle child {idle_pid} to exit (left: {session_pids(master)})")
    assert busy.ask("still served") == "echo: still served"
    busy.close()
    wait_for(lambda: session_pids(master) == [], timeout=10,
             what=f"busy child to exit after its client (left: {session_pids(master)})")
