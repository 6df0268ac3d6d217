"""postconf(1) against a throw-away configuration directory: showing (-n, -d,
-x, names), editing main.cf (-e, -X, -#) without losing comments, errors with
FILE:LINE, unused-parameter warnings, and master.cf (-M, -Me, -MX).

Self-contained: needs only the built binary (POSTERN_BUILD/sbin/postconf)."""

import os
import subprocess

import pytest

BUILD = os.environ.get("POSTERN_BUILD", "/work/main/build")
POSTCONF = os.path.join(BUILD, "sbin", "postconf")

MAIN_CF = """\
# Test main.cf
myhostname = mx.example.org

# Where mail goes
relayhost = [smart.example.net]:587
smtpd_recipient_restrictions =
    permit_mynetworks,
    # keep me
    reject_unauth_destination
mua_client_restrictions = permit_sasl_authenticated, reject
message_size_limit = 20480000
"""

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postern/submission
  -o smtpd_client_restrictions=$mua_client_restrictions
pickup    unix  n       -       y       60      1       pickup
"""


@pytest.fixture
def confdir(tmp_path):
    if not os.access(POSTCONF, os.X_OK):
        pytest.fail(f"{POSTCONF} is not built")
    (tmp_path / "main.cf").write_text(MAIN_CF)
    (tmp_path / "master.cf").write_text(MASTER_CF)
    return tmp_path


def postconf(confdir, *args, env=None, check=True):
    e = dict(os.environ)
    e.pop("MAIL_CONFIG", None)
    if env:
        e.update(env)
    argv = [POSTCONF] + (["-c", str(confdir)] if confdir is not None else []) + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=30)
    if check and r.returncode != 0:
        pytest.fail(f"{argv} exited {r.returncode}: {r.stderr}")
    return r


def test_n_shows_only_main_cf_settings_sorted(confdir):
    r = postconf(confdir, "-n")
    assert r.stdout.splitlines() == [
        "message_size_limit = 20480000",
        "mua_client_restrictions = permit_sasl_authenticated, reject",
        "myhostname = mx.example.org",
        "relayhost = [smart.example.net]:587",
        "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination",
    ]
    assert r.stderr == ""


def test_named_parameters_show_setting_or_default(confdir):
    r = postconf(confdir, "myorigin", "relayhost", "hopcount_limit", "mydomain")
    assert r.stdout.splitlines() == [
        "myorigin = $myhostname",
        "relayhost = [smart.example.net]:587",
        "hopcount_limit = 50",
        "mydomain = example.org",
    ]


def test_h_prints_values_only(confdir):
    assert postconf(confdir, "-h", "relayhost").stdout == "[smart.example.net]:587\n"


def test_x_expands_references(confdir):
    r = postconf(confdir, "-x", "myorigin", "mydestination", "smtpd_banner")
    assert r.stdout.splitlines() == [
        "myorigin = mx.example.org",
        "mydestination = mx.example.org, localhost.example.org, localhost",
        "smtpd_banner = mx.example.org ESMTP Postern",
    ]


def test_d_shows_defaults_not_settings(confdir):
    r = postconf(confdir, "-d", "relayhost", "message_size_limit", "mynetworks", "maximal_queue_lifetime")
    assert r.stdout.splitlines() == [
        "relayhost =",
        "message_size_limit = 10240000",
        "mynetworks = 127.0.0.0/8 [::1]/128",
        "maximal_queue_lifetime = 5d",
    ]


def test_full_listing_is_sorted_and_has_every_default(confdir):
    lines = postconf(confdir).stdout.splitlines()
    names = [l.split(" =", 1)[0] for l in lines]
    assert names == sorted(names)
    assert len(names) > 200
    assert "message_size_limit = 20480000" in lines
    assert "queue_run_delay = 300s" in lines
    dnames = [l.split(" =", 1)[0] for l in postconf(None, "-d").stdout.splitlines()]
    assert set(dnames) <= set(names)


def test_mail_config_environment_is_honoured(confdir):
    r = postconf(None, "-h", "relayhost", env={"MAIL_CONFIG": str(confdir)})
    assert r.stdout == "[smart.example.net]:587\n"
    assert postconf(None, "-h", "config_directory", env={"MAIL_CONFIG": str(confdir)}).stdout == f"{confdir}\n"


def test_unknown_parameter_name_warns(confdir):
    r = postconf(confdir, "no_such_parameter")
    assert r.returncode == 0
    assert r.stdout == ""
    assert r.stderr == "postconf: warning: no_such_parameter: unknown parameter\n"


def test_unused_parameter_is_warned_about(confdir):
    with open(confdir / "main.cf", "a") as f:
        f.write("foo = bar\nused_elsewhere = x\nmyorigin = $used_elsewhere\n")
    r = postconf(confdir, "-n")
    assert r.stderr == f"postconf: warning: {confdir}/main.cf: unused parameter: foo=bar\n"
    # referenced only from master.cf -o: not unused
    assert "mua_client_restrictions" not in r.stderr


def test_bad_type_is_warned_about_with_file_and_line(confdir):
    with open(confdir / "main.cf", "a") as f:
        f.write("smtpd_timeout = soon\n")
    r = postconf(confdir, "-n")
    assert f"postconf: warning: {confdir}/main.cf:12: bad time parameter value: smtpd_timeout = soon" in r.stderr


def test_syntax_error_exits_1_naming_file_and_line(confdir):
    (confdir / "main.cf").write_text("a = 1\n# comment\n\nthis line is broken\n")
    r = postconf(confdir, "-n", check=False)
    assert r.returncode == 1
    assert r.stderr == f"postconf: fatal: {confdir}/main.cf:4: missing '=' after parameter name\n"
    (confdir / "main.cf").write_text("   starts indented\n")
    r = postconf(confdir, check=False)
    assert r.returncode == 1
    assert "main.cf:1: continuation line before any parameter" in r.stderr


def test_expansion_loop_with_x_exits_1(confdir):
    with open(confdir / "main.cf", "a") as f:
        f.write("myorigin = $myorigin\n")
    r = postconf(confdir, "-x", "myorigin", check=False)
    assert r.returncode == 1
    assert "main.cf:12: parameter myorigin: expansion loop: myorigin -> myorigin" in r.stderr


def test_e_replaces_in_place_keeps_comments_and_appends_new(confdir):
    postconf(confdir, "-e", "relayhost = [other.example]:25",
             "smtpd_recipient_restrictions=reject", "new_one = 1")
    assert (confdir / "main.cf").read_text() == """\
# Test main.cf
myhostname = mx.example.org

# Where mail goes
relayhost = [other.example]:25
smtpd_recipient_restrictions = reject
    # keep me
mua_client_restrictions = permit_sasl_authenticated, reject
message_size_limit = 20480000
new_one = 1
"""
    assert postconf(confdir, "-h", "relayhost").stdout == "[other.example]:25\n"


def test_name_equals_value_implies_e(confdir):
    postconf(confdir, "relayhost=")
    assert "relayhost =\n" in (confdir / "main.cf").read_text()
    assert postconf(confdir, "-h", "relayhost").stdout == "\n"


def test_e_appends_after_a_last_line_without_newline(confdir):
    (confdir / "main.cf").write_text("a_thing = 1")
    postconf(confdir, "-e", "relayhost=x")
    assert (confdir / "main.cf").read_text() == "a_thing = 1\nrelayhost = x\n"


def test_e_removes_later_duplicates(confdir):
    (confdir / "main.cf").write_text("relayhost = a\n# c\nrelayhost = b\n  cont\n")
    postconf(confdir, "-e", "relayhost=z")
    assert (confdir / "main.cf").read_text() == "relayhost = z\n# c\n"


def test_e_keeps_file_mode(confdir):
    os.chmod(confdir / "main.cf", 0o640)
    postconf(confdir, "-e", "relayhost=x")
    assert os.stat(confdir / "main.cf").st_mode & 0o777 == 0o640
    assert [p for p in os.listdir(confdir) if p.startswith("main.cf.")] == []


def test_concurrent_edits_lose_nothing(confdir):
    procs = [subprocess.Popen([POSTCONF, "-c", str(confdir), "-e", f"extra_{i} = {i}"],
                              stderr=subprocess.PIPE, text=True) for i in range(30)]
    for p in procs:
        _, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
    text = (confdir / "main.cf").read_text()
    assert text.startswith(MAIN_CF)
    assert sorted(l for l in text.splitlines() if l.startswith("extra_")) == \
        sorted(f"extra_{i} = {i}" for i in range(30))


def test_e_rejects_a_bad_name(confdir):
    r = postconf(confdir, "-e", "bad-name=1", check=False)
    assert r.returncode == 1
    assert "bad parameter name: bad-name" in r.stderr
    assert (confdir / "main.cf").read_text() == MAIN_CF


def test_X_removes_with_continuation_lines_and_round_trips(confdir):
    postconf(confdir, "-e", "extra_setting = 5")
    postconf(confdir, "-X", "extra_setting", "smtpd_recipient_restrictions")
    assert (confdir / "main.cf").read_text() == """\
# Test main.cf
myhostname = mx.example.org

# Where mail goes
relayhost = [smart.example.net]:587
    # keep me
mua_client_restrictions = permit_sasl_authenticated, reject
message_size_limit = 20480000
"""


def test_hash_comments_out_with_continuation_lines(confdir):
    postconf(confdir, "-#", "smtpd_recipient_restrictions")
    text = (confdir / "main.cf").read_text()
    assert ("#smtpd_recipient_restrictions =\n#    permit_mynetworks,\n    # keep me\n"
            "#    reject_unauth_destination\n") in text
    assert "smtpd_recipient_restrictions" not in postconf(confdir, "-n").stdout


def test_M_prints_entries_one_per_line_aligned(confdir):
    r = postconf(confdir, "-M")
    assert r.stdout.splitlines() == [
        "smtp       inet  n       -       y       -       -       smtpd",
        "submission inet  n       -       y       -       -       smtpd -o syslog_name=postern/submission "
        "-o smtpd_client_restrictions=$mua_client_restrictions",
        "pickup     unix  n       -       y       60      1       pickup",
    ]


def test_M_selects_by_service_and_type(confdir):
    assert postconf(confdir, "-M", "pickup/unix").stdout == \
        "pickup     unix  n       -       y       60      1       pickup\n"
    r = postconf(confdir, "-M", "smtp")
    assert r.stdout.startswith("smtp       inet")
    r = postconf(confdir, "-M", "nothere/unix")
    assert r.stdout == ""
    assert "nothere/unix: no such master.cf entry" in r.stderr


def test_Me_replaces_and_adds_entries(confdir):
    postconf(confdir, "-Me", "submission/inet = submission inet n - n - - smtpd -o syslog_name=postern/sub",
             "relay/unix = relay unix - - y - - smtp")
    text = (confdir / "master.cf").read_text()
    assert text.startswith("# service type  private unpriv")
    assert "submission inet  n       -       n       -       -       smtpd -o syslog_name=postern/sub\n" in text
    assert "smtpd_client_restrictions" not in text
    assert text.endswith("relay      unix  -       -       y       -       -       smtp\n")
    assert postconf(confdir, "-M", "relay/unix").stdout == \
        "relay      unix  -       -       y       -       -       smtp\n"


def test_Me_refuses_an_entry_that_would_break_master_cf(confdir):
    r = postconf(confdir, "-Me", "x/inet = x inet maybe - n - - smtpd", check=False)
    assert r.returncode == 1
    assert "master.cf:" in r.stderr
    assert (confdir / "master.cf").read_text() == MASTER_CF


def test_Me_requires_matching_service_and_type(confdir):
    r = postconf(confdir, "-Me", "smtp/inet = other inet n - y - - smtpd", check=False)
    assert r.returncode == 1
    assert (confdir / "master.cf").read_text() == MASTER_CF


def test_MX_removes_an_entry_with_its_options(confdir):
    postconf(confdir, "-MX", "submission/inet")
    text = (confdir / "master.cf").read_text()
    assert "submission" not in text
    assert "-o" not in text
    assert postconf(confdir, "-M").stdout.count("\n") == 2


def test_M_with_broken_master_cf_exits_1_naming_line(confdir):
    (confdir / "master.cf").write_text("smtp inet n - y - - smtpd\nbroken\n")
    r = postconf(confdir, "-M", check=False)
    assert r.returncode == 1
    assert "master.cf:2:" in r.stderr


def test_man5_lists_every_parameter(confdir):
    r = postconf(None, "--man5")
    assert r.stdout.startswith(".\\\" Generated by")
    assert ".TH POSTCONF 5" in r.stdout
    names = [l.split(" =", 1)[0] for l in postconf(None, "-d").stdout.splitlines()]
    for n in names:
        assert f"\\fB{n.replace('-', chr(92) + '-')}\\fR (" in r.stdout, n
