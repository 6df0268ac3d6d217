"""postmap(1) and newaliases(1) against throw-away tables: building
hash:/lmdb: tables, -q (also "-q -" from stdin), -s, -d, errors with
FILE:LINE that leave the previous table untouched, and newaliases building
alias_database from a -c configuration directory.

Self-contained: needs only the built binaries (POSTERN_BUILD/sbin)."""

import os
import subprocess

import pytest

BUILD = os.environ.get("POSTERN_BUILD", "/work/main/build")
POSTMAP = os.path.join(BUILD, "sbin", "postmap")
NEWALIASES = os.path.join(BUILD, "sbin", "newaliases")

TABLE = """\
# a comment
Example.COM     OK
user@example.org  REJECT no such
  user here
10.0.0.1        DUNNO
"""


def run(argv, stdin=None, check=None):
    e = dict(os.environ)
    e.pop("MAIL_CONFIG", None)
    r = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=e, timeout=30)
    if check is not None and r.returncode != check:
        pytest.fail(f"{argv} exited {r.returncode} (wanted {check}): {r.stderr}")
    return r


@pytest.fixture
def table(tmp_path):
    for b in (POSTMAP, NEWALIASES):
        if not os.access(b, os.X_OK):
            pytest.fail(f"{b} is not built")
    src = tmp_path / "access"
    src.write_text(TABLE)
    run([POSTMAP, f"hash:{src}"], check=0)
    return src


def test_build_creates_lmdb_file_and_query_folds_case(table):
    assert os.path.exists(f"{table}.lmdb")
    assert run([POSTMAP, "-q", "EXAMPLE.com", f"hash:{table}"], check=0).stdout == "OK\n"
    r = run([POSTMAP, "-q", "user@example.org", f"lmdb:{table}"], check=0)
    assert r.stdout == "REJECT no such user here\n"


def test_query_for_missing_key_exits_1_and_prints_nothing(table):
    r = run([POSTMAP, "-q", "nobody", f"hash:{table}"], check=1)
    assert r.stdout == ""


def test_query_of_missing_table_is_not_not_found(tmp_path):
    r = run([POSTMAP, "-q", "x", f"hash:{tmp_path}/absent"])
    assert r.returncode == 2
    assert "absent.lmdb" in r.stderr


def test_query_from_stdin_prints_found_keys(table):
    r = run([POSTMAP, "-q", "-", f"hash:{table}"], stdin="example.com\nnone\n10.0.0.1 rest\n\n",
            check=0)
    assert r.stdout == "example.com\tOK\n10.0.0.1\tDUNNO\n"
    run([POSTMAP, "-q", "-", f"hash:{table}"], stdin="none\n", check=1)


def test_show_lists_every_entry(table):
    r = run([POSTMAP, "-s", f"hash:{table}"], check=0)
    assert sorted(r.stdout.splitlines()) == [
        "10.0.0.1\tDUNNO", "example.com\tOK", "user@example.org\tREJECT no such user here"]


def test_delete_removes_key_and_reports_absent_one(table):
    run([POSTMAP, "-d", "example.com", f"hash:{table}"], check=0)
    run([POSTMAP, "-q", "example.com", f"hash:{table}"], check=1)
    run([POSTMAP, "-q", "10.0.0.1", f"hash:{table}"], check=0)
    run([POSTMAP, "-d", "example.com", f"hash:{table}"], check=1)


def test_no_fold_keeps_case(tmp_path):
    src = tmp_path / "t"
    src.write_text("MiXed value\n")
    run([POSTMAP, "-f", str(src)], check=0)
    assert run([POSTMAP, "-f", "-q", "MiXed", str(src)], check=0).stdout == "value\n"
    run([POSTMAP, "-f", "-q", "mixed", str(src)], check=1)


def test_malformed_source_fails_with_file_line_and_keeps_old_table(table):
    before = open(f"{table}.lmdb", "rb").read()
    table.write_text("good value\n\n# c\nlonely\n")
    r = run([POSTMAP, f"hash:{table}"], check=1)
    assert f"{table}:4: expected format: key whitespace value" in r.stderr
    assert open(f"{table}.lmdb", "rb").read() == before
    assert run([POSTMAP, "-q", "example.com", f"hash:{table}"], check=0).stdout == "OK\n"
    assert not [f for f in os.listdir(table.parent) if "tmp" in f]


def test_texthash_and_inline_can_be_queried(tmp_path):
    src = tmp_path / "t"
    src.write_text("k v\n")
    assert run([POSTMAP, "-q", "K", f"texthash:{src}"], check=0).stdout == "v\n"
    r = run([POSTMAP, "-q", "b", "inline:{ a=1, { b = two words } }"], check=0)
    assert r.stdout == "two words\n"


def test_newaliases_builds_alias_database(tmp_path):
    conf = tmp_path / "etc"
    conf.mkdir()
    aliases = tmp_path / "aliases"
    aliases.write_text("# aliases\nPostmaster: root\nstaff: alice,\n\tbob\n\"foo bar\": x\n")
    (conf / "main.cf").write_text(f"alias_database = hash:{aliases}\n")
    run([NEWALIASES, "-c", str(conf)], check=0)
    assert run([POSTMAP, "-q", "postmaster", f"hash:{aliases}"], check=0).stdout == "root\n"
    assert run([POSTMAP, "-q", "staff", f"hash:{aliases}"], check=0).stdout == "alice, bob\n"
    assert run([POSTMAP, "-q", "foo bar", f"hash:{aliases}"], check=0).stdout == "x\n"


def test_newaliases_error_names_line_and_keeps_old_table(tmp_path):
    conf = tmp_path / "etc"
    conf.mkdir()
    aliases = tmp_path / "aliases"
    aliases.write_text("root: admin\n")
    (conf / "main.cf").write_text(f"alias_database = hash:{aliases}\n")
    run([NEWALIASES, "-c", str(conf)], check=0)
    aliases.write_text("root: other\nbroken line\n")
    r = run([NEWALIASES, "-c", str(conf)], check=1)
    assert f"{aliases}:2: expected format: name: value" in r.stderr
    assert run([POSTMAP, "-q", "root", f"hash:{aliases}"], check=0).stdout == "admin\n"
