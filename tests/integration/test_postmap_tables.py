"""postmap -q with the rule-file and system table types: cidr:, pcre:,
regexp: (read directly, never built) and unix:passwd.byname /
unix:group.byname. Checks results and substitutions, exit status 1 for
"not found" and 2 for a table that cannot be used, and errors that name
FILE:LINE.

Self-contained: needs only the built postmap (POSTERN_BUILD/sbin)."""

import os
import subprocess

import pytest

BUILD = os.environ.get("POSTERN_BUILD", "/work/main/build")
POSTMAP = os.path.join(BUILD, "sbin", "postmap")

CIDR = """\
# client networks
192.0.2.7          REJECT this host
192.0.2.0/24       OK
if 10.0.0.0/8
!10.1.0.0/16       OK outside 10.1
endif
[2001:db8::]/32    OK six
"""

PCRE = """\
/^(postmaster|abuse)@/          OK
if /@example\\.com$/
/^([^+@]+)\\+([^@]*)@(.*)$/     ${1}@${3}
endif
!/@example\\.(com|net)$/        REJECT not ours
/^Strict$/i                     case sensitive
"""

REGEXP = """\
/^(.*)@example\\.com$/       OK $1
!/\\.(com|net|org)$/          REJECT unusual domain
"""


def run(argv, stdin=None):
    e = dict(os.environ)
    e.pop("MAIL_CONFIG", None)
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=e, timeout=30)


def query(key, spec, want_rc, *opts):
    r = run([POSTMAP, *opts, "-q", key, spec])
    if r.returncode != want_rc:
        pytest.fail(f"postmap -q {key!r} {spec}: exit {r.returncode}, wanted {want_rc}: "
                    f"stdout={r.stdout!r} stderr={r.stderr!r}")
    return r


@pytest.fixture(autouse=True)
def postmap_built():
    if not os.access(POSTMAP, os.X_OK):
        pytest.fail(f"{POSTMAP} is not built")


@pytest.fixture
def tables(tmp_path):
    paths = {}
    for name, text in (("client.cidr", CIDR), ("rcpt.pcre", PCRE), ("senders.regexp", REGEXP)):
        p = tmp_path / name
        p.write_text(text)
        paths[name] = p
    return paths


def test_cidr_first_match_networks_and_negated_block(tables):
    spec = f"cidr:{tables['client.cidr']}"
    assert query("192.0.2.7", spec, 0).stdout == "REJECT this host\n"
    assert query("192.0.2.8", spec, 0).stdout == "OK\n"
    assert query("::ffff:192.0.2.8", spec, 0).stdout == "OK\n"
    assert query("10.2.3.4", spec, 0).stdout == "OK outside 10.1\n"
    assert query("2001:DB8::25", spec, 0).stdout == "OK six\n"
    for key in ("10.1.2.3", "198.51.100.1", "example.com", "2001:db9::1"):
        assert query(key, spec, 1).stdout == ""


def test_cidr_from_stdin(tables):
    r = run([POSTMAP, "-q", "-", f"cidr:{tables['client.cidr']}"],
            stdin="192.0.2.7\n10.1.1.1\n2001:db8::1\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "192.0.2.7\tREJECT this host\n2001:db8::1\tOK six\n"


def test_cidr_host_bits_are_an_error_with_file_and_line(tmp_path):
    t = tmp_path / "bad.cidr"
    t.write_text("192.0.2.0/24 OK\n\n10.0.0.1/8 REJECT\n")
    r = query("192.0.2.1", f"cidr:{t}", 2)
    assert f"{t}:3: bad network: \"10.0.0.1/8\": host bits are set " \
           "(the network is 10.0.0.0/8)" in r.stderr
    assert r.stdout == ""


def test_cidr_unbalanced_if_is_an_error(tmp_path):
    t = tmp_path / "if.cidr"
    t.write_text("if 10.0.0.0/8\n10.0.0.1 x\n")
    assert f"{t}:1: if without endif" in query("10.0.0.1", f"cidr:{t}", 2).stderr
    t.write_text("10.0.0.1 x\nendif\n")
    assert f"{t}:2: endif without if" in query("10.0.0.1", f"cidr:{t}", 2).stderr


def test_pcre_substitution_negation_and_case(tables):
    spec = f"pcre:{tables['rcpt.pcre']}"
    assert query("joe+lists@Example.COM", spec, 0).stdout == "joe@Example.COM\n"
    assert query("Abuse@example.org", spec, 0).stdout == "OK\n"
    assert query("joe@example.org", spec, 0).stdout == "REJECT not ours\n"
    query("joe@example.net", spec, 1)


def test_pcre_keys_are_not_folded_by_postmap(tmp_path):
    t = tmp_path / "case.pcre"
    t.write_text("/^Strict$/i case sensitive\n/^(.*)$/ got $1\n")
    # postmap folds keys for fixed tables by default; a pcre: table must see
    # the key as given, or /.../i patterns could never match upper case.
    assert query("Strict", f"pcre:{t}", 0).stdout == "case sensitive\n"
    assert query("MiXed", f"pcre:{t}", 0).stdout == "got MiXed\n"


def test_pcre_bad_pattern_names_file_line_and_pcre2_reason(tmp_path):
    t = tmp_path / "bad.pcre"
    t.write_text("/ok/ fine\n# comment\n/(unclosed/ x\n")
    r = query("ok", f"pcre:{t}", 2)
    assert f"{t}:3: pcre pattern \"(unclosed\": missing closing parenthesis" in r.stderr


def test_pcre_match_limit_is_a_temporary_error(tmp_path):
    t = tmp_path / "slow.pcre"
    t.write_text("/^(a+)+$/ x\n")
    r = query("a" * 40 + "!", f"pcre:{t}", 2)
    assert f"{t}:1: PCRE2 match limit exceeded" in r.stderr
    assert query("aaaa", f"pcre:{t}", 0).stdout == "x\n"


def test_regexp_table(tables):
    spec = f"regexp:{tables['senders.regexp']}"
    assert query("Joe@EXAMPLE.com", spec, 0).stdout == "OK Joe\n"
    assert query("x@example.museum", spec, 0).stdout == "REJECT unusual domain\n"
    query("x@example.org", spec, 1)


def test_regexp_bad_pattern_is_an_error(tmp_path):
    t = tmp_path / "bad.regexp"
    t.write_text("/a(/ x\n")
    assert f"{t}:1: regexp pattern \"a(\"" in query("a", f"regexp:{t}", 2).stderr


def test_rule_files_are_not_built(tables):
    r = run([POSTMAP, f"cidr:{tables['client.cidr']}"])
    assert r.returncode != 0
    assert "cannot be built" in r.stderr
    assert not os.path.exists(f"{tables['client.cidr']}.lmdb")


def test_changed_pcre_file_is_used_by_the_next_postmap(tables):
    spec = f"pcre:{tables['rcpt.pcre']}"
    query("joe@example.org", spec, 0)
    tables["rcpt.pcre"].write_text("/^joe@/ JOE\n")
    assert query("joe@example.org", spec, 0).stdout == "JOE\n"


def test_unix_passwd_and_group():
    r = query("root", "unix:passwd.byname", 0)
    assert r.stdout.startswith("root:x:0:0:")
    assert len(r.stdout.rstrip("\n").split(":")) == 7
    # Postfix folds unix: keys when the caller folds (postmap without -f)
    assert query("ROOT", "unix:passwd.byname", 0).stdout == r.stdout
    query("ROOT", "unix:passwd.byname", 1, "-f")
    query("no-such-user-pt-x", "unix:passwd.byname", 1)
    assert query("root", "unix:group.byname", 0).stdout.startswith("root:x:0:")
    assert "unknown unix: table" in query("root", "unix:shadow.byname", 2).stderr
