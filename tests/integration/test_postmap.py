"""postmap(1) and newaliases(1) against throw-away tables: building
hash:/lmdb: tables, -q (also "-q -" from stdin, one long-lived process
talking over pipes), -s for every type that can list, -d, -f, -i, errors
with FILE:LINE that leave the previous table untouched, the mode of a new
table, readers that run while a table is rebuilt again and again, and
newaliases building every table of alias_database from a -c configuration
directory.

Self-contained: needs only the built binaries (POSTERN_BUILD/sbin)."""

import os
import random
import select
import stat
import subprocess
import threading
import time

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
    # Postfix: the whole line is the key, printed as given, "key<TAB>value".
    r = run([POSTMAP, "-q", "-", f"hash:{table}"],
            stdin="example.com\nnone\n10.0.0.1 rest\n\nEXAMPLE.Com\n10.0.0.1", check=0)
    assert r.stdout == "example.com\tOK\nEXAMPLE.Com\tOK\n10.0.0.1\tDUNNO\n"
    r = run([POSTMAP, "-q", "-", f"hash:{table}"], stdin="none\n10.0.0.1 \n", check=1)
    assert r.stdout == ""


def test_query_from_stdin_keys_with_spaces_and_first_table_wins(tmp_path):
    # A whole line is the key: aliases with a space, header_checks lines.
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("shared from-a\n")
    b.write_text("shared from-b\nonly-b b\n")
    run([POSTMAP, f"hash:{a}", f"hash:{b}"], check=0)
    aliases = tmp_path / "aliases"
    conf = tmp_path / "etc"
    conf.mkdir()
    aliases.write_text('"foo bar": x\n')
    (conf / "main.cf").write_text(f"alias_database = hash:{aliases}\n")
    run([NEWALIASES, "-c", str(conf)], check=0)
    r = run([POSTMAP, "-q", "-", f"hash:{a}", f"hash:{b}", f"hash:{aliases}"],
            stdin="only-b\nshared\nfoo bar\n", check=0)
    assert r.stdout == "only-b\tb\nshared\tfrom-a\nfoo bar\tx\n"
    hc = tmp_path / "header_checks"
    hc.write_text("/^Subject: .*viagra/ REJECT spam\n")
    r = run([POSTMAP, "-q", "-", f"regexp:{hc}"],
            stdin="From: a@b\nSubject: cheap viagra now\n", check=0)
    assert r.stdout == "Subject: cheap viagra now\tREJECT spam\n"


def test_query_from_stdin_answers_each_line_before_more_input(table):
    # One long-lived postmap over pipes: each answer comes without closing
    # stdin (the output is flushed whenever the input runs dry).
    p = subprocess.Popen([POSTMAP, "-q", "-", f"hash:{table}"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        for key, want in (("example.com", "example.com\tOK\n"),
                          ("10.0.0.1", "10.0.0.1\tDUNNO\n")):
            p.stdin.write(key + "\n")
            p.stdin.flush()
            ready, _, _ = select.select([p.stdout], [], [], 10)
            assert ready, f"no answer for {key} while stdin is still open"
            assert p.stdout.readline() == want
        p.stdin.close()
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_show_lists_every_entry(table):
    r = run([POSTMAP, "-s", f"hash:{table}"], check=0)
    assert sorted(r.stdout.splitlines()) == [
        "10.0.0.1\tDUNNO", "example.com\tOK", "user@example.org\tREJECT no such user here"]


def test_show_works_for_every_type_that_can_list(table):
    want = ["10.0.0.1\tDUNNO", "example.com\tOK", "user@example.org\tREJECT no such user here"]
    for t in ("lmdb", "btree", "texthash"):
        r = run([POSTMAP, "-s", f"{t}:{table}"], check=0)
        assert sorted(r.stdout.splitlines()) == want, t
    r = run([POSTMAP, "-s", "inline:{ b=2, A=1, { c = three words } }"], check=0)
    assert sorted(r.stdout.splitlines()) == ["a\t1", "b\t2", "c\tthree words"]


def test_show_refuses_types_that_cannot_list(tmp_path):
    pat = tmp_path / "p"
    pat.write_text("/x/ y\n")
    cidr = tmp_path / "c"
    cidr.write_text("10.0.0.0/8 y\n")
    for spec in (f"pcre:{pat}", f"regexp:{pat}", f"cidr:{cidr}", "static:x",
                 "unix:passwd.byname"):
        r = run([POSTMAP, "-s", spec])
        assert r.returncode == 2, f"{spec}: exit {r.returncode}"
        assert "cannot be listed" in r.stderr, spec
        assert r.stdout == ""


def test_build_folds_keys_unless_f(tmp_path):
    src = tmp_path / "t"
    src.write_text("MiXed value\n")
    run([POSTMAP, str(src)], check=0)
    assert run([POSTMAP, "-s", str(src)], check=0).stdout == "mixed\tvalue\n"
    assert run([POSTMAP, "-q", "MIXED", str(src)], check=0).stdout == "value\n"
    # -f on the query only: the key is asked as given, and is not there
    run([POSTMAP, "-f", "-q", "MIXED", str(src)], check=1)
    run([POSTMAP, "-f", str(src)], check=0)
    assert run([POSTMAP, "-s", str(src)], check=0).stdout == "MiXed\tvalue\n"
    # a folding query never finds a key stored with upper case
    run([POSTMAP, "-q", "MiXed", str(src)], check=1)
    r = run([POSTMAP, "-f", "-q", "-", str(src)], stdin="mixed\nMiXed\n", check=0)
    assert r.stdout == "MiXed\tvalue\n"


def test_nul_terminator_options_are_accepted(table):
    for opt in ("-N", "-n"):
        assert run([POSTMAP, opt, "-q", "example.com", f"hash:{table}"], check=0).stdout == "OK\n"
        run([POSTMAP, opt, f"hash:{table}"], check=0)


def test_delete_removes_key_and_reports_absent_one(table):
    run([POSTMAP, "-d", "example.com", f"hash:{table}"], check=0)
    run([POSTMAP, "-q", "example.com", f"hash:{table}"], check=1)
    run([POSTMAP, "-q", "10.0.0.1", f"hash:{table}"], check=0)
    run([POSTMAP, "-d", "example.com", f"hash:{table}"], check=1)


def test_delete_folds_the_key_unless_f_and_keeps_the_mode(table):
    os.chmod(f"{table}.lmdb", 0o640)
    run([POSTMAP, "-f", "-d", "EXAMPLE.COM", f"hash:{table}"], check=1)
    run([POSTMAP, "-d", "EXAMPLE.COM", f"hash:{table}"], check=0)
    run([POSTMAP, "-q", "example.com", f"hash:{table}"], check=1)
    assert stat.S_IMODE(os.stat(f"{table}.lmdb").st_mode) == 0o640
    assert not [f for f in os.listdir(table.parent) if "tmp" in f]


def test_delete_from_missing_table_is_an_error(tmp_path):
    r = run([POSTMAP, "-d", "x", f"hash:{tmp_path}/absent"])
    assert r.returncode == 2
    assert "absent.lmdb" in r.stderr
    assert not os.path.exists(f"{tmp_path}/absent.lmdb")


def test_incremental_adds_from_stdin_and_keeps_existing_entries(table):
    r = run([POSTMAP, "-i", f"hash:{table}"], stdin="New.Key added\nexample.com changed\n", check=0)
    assert f'stdin:2: duplicate entry: "example.com"' in r.stderr
    assert run([POSTMAP, "-q", "new.key", f"hash:{table}"], check=0).stdout == "added\n"
    assert run([POSTMAP, "-q", "example.com", f"hash:{table}"], check=0).stdout == "OK\n"
    assert run([POSTMAP, "-q", "10.0.0.1", f"hash:{table}"], check=0).stdout == "DUNNO\n"
    # a bad line changes nothing
    before = open(f"{table}.lmdb", "rb").read()
    r = run([POSTMAP, "-i", f"hash:{table}"], stdin="good one\nbad\n", check=1)
    assert "stdin:2: expected format: key whitespace value" in r.stderr
    assert open(f"{table}.lmdb", "rb").read() == before
    run([POSTMAP, "-q", "good", f"hash:{table}"], check=1)


def test_incremental_creates_a_missing_table(tmp_path):
    run([POSTMAP, "-i", f"lmdb:{tmp_path}/fresh"], stdin="k v\n", check=0)
    assert run([POSTMAP, "-s", f"lmdb:{tmp_path}/fresh"], check=0).stdout == "k\tv\n"


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


def test_malformed_lines_of_every_kind_name_file_and_line(tmp_path):
    src = tmp_path / "t"
    for text, line, reason in (
            (" indented first\n", 1, "continuation line before any entry"),
            ("a b\n\n\nkey-only   \n", 4, "expected format: key whitespace value"),
            ("a b\n" + "k " + "x" * (1024 * 1024) + "\n", 2, "line longer than")):
        src.write_text(text)
        r = run([POSTMAP, f"hash:{src}"])
        assert r.returncode == 1, f"{text[:20]!r}: exit {r.returncode}"
        assert f"postmap: error: {src}:{line}: {reason}" in r.stderr, r.stderr
        assert not os.path.exists(f"{src}.lmdb")
    src.write_bytes(b"a b\nnul\0byte x\n")
    r = run([POSTMAP, f"hash:{src}"], check=1)
    assert f"{src}:2: NUL byte in line" in r.stderr


def test_duplicates_warn_in_file_order_and_first_wins(tmp_path):
    src = tmp_path / "t"
    src.write_text("zz 1\nAA 2\nzz 3\naa 4\nmm 5\nZZ 6\n")
    r = run([POSTMAP, f"hash:{src}"], check=0)
    warnings = [line for line in r.stderr.splitlines() if "duplicate entry" in line]
    assert warnings == [f'postmap: warning: {src}:3: duplicate entry: "zz"',
                        f'postmap: warning: {src}:4: duplicate entry: "aa"',
                        f'postmap: warning: {src}:6: duplicate entry: "zz"'], r.stderr
    assert run([POSTMAP, "-s", str(src)], check=0).stdout == "aa\t2\nmm\t5\nzz\t1\n"


def test_shuffled_source_builds_a_complete_table(tmp_path):
    src = tmp_path / "t"
    keys = [f"user{n}@example{n % 97}.com" for n in range(20000)]
    random.Random(5).shuffle(keys)
    src.write_text("".join(f"{k} value-{k}\n" for k in keys))
    run([POSTMAP, f"hash:{src}"], check=0)
    shown = run([POSTMAP, "-s", str(src)], check=0).stdout.splitlines()
    assert shown == [f"{k}\tvalue-{k}" for k in sorted(keys)]
    probe = keys[::97] + ["nobody@example.com"]
    r = run([POSTMAP, "-q", "-", str(src)], stdin="".join(k + "\n" for k in probe), check=0)
    assert r.stdout == "".join(f"{k}\tvalue-{k}\n" for k in keys[::97])


def test_new_table_is_no_more_readable_than_its_source(tmp_path):
    src = tmp_path / "sasl_passwd"
    src.write_text("[mail.example.com]:587 user:secret\n")
    os.chmod(src, 0o600)
    run([POSTMAP, f"hash:{src}"], check=0)
    assert stat.S_IMODE(os.stat(f"{src}.lmdb").st_mode) == 0o600
    # a rebuilt table keeps the mode it has
    os.chmod(f"{src}.lmdb", 0o640)
    run([POSTMAP, f"hash:{src}"], check=0)
    assert stat.S_IMODE(os.stat(f"{src}.lmdb").st_mode) == 0o640


def test_readers_never_see_a_partial_table_while_it_is_rebuilt(tmp_path):
    """postmap rebuilds a 60 000-entry table again and again, alternating
    the value of "probe"; meanwhile short-lived readers (a new postmap -q
    each time) must always get the old or the new value, never "not found"
    or an error, and one long-lived postmap -q - must pick up new versions
    without a restart."""
    src = tmp_path / "big"
    filler = "".join(f"filler{n}@example.com some value {n}\n" for n in range(60000))

    def write(version):
        tmp = tmp_path / "big.new"
        tmp.write_text(filler + f"probe {version}\n")
        os.replace(tmp, src)

    write("v0")
    run([POSTMAP, f"hash:{src}"], check=0)
    stop = threading.Event()
    problems = []

    def rebuild():
        n = 0
        while not stop.is_set():
            n += 1
            write(f"v{n}")
            r = run([POSTMAP, f"hash:{src}"])
            if r.returncode != 0:
                problems.append(f"rebuild {n}: exit {r.returncode}: {r.stderr}")
                return

    long_lived = subprocess.Popen([POSTMAP, "-q", "-", f"hash:{src}"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  bufsize=1)
    writer = threading.Thread(target=rebuild)
    writer.start()
    seen_short, seen_long = set(), set()
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and not problems:
            r = run([POSTMAP, "-q", "probe", f"hash:{src}"])
            if r.returncode != 0 or not r.stdout.startswith("v"):
                problems.append(f"short reader: exit {r.returncode} {r.stdout!r} {r.stderr!r}")
                break
            seen_short.add(r.stdout.strip())
            # "filler0@..." is in every version: if probe were missing, its
            # answer would come first and show it.
            long_lived.stdin.write("probe\nfiller0@example.com\n")
            long_lived.stdin.flush()
            ready, _, _ = select.select([long_lived.stdout], [], [], 10)
            line = long_lived.stdout.readline() if ready else ""
            if not line.startswith("probe\tv"):
                problems.append(f"long-lived reader answered {line!r}")
                break
            seen_long.add(line.split("\t")[1].strip())
            long_lived.stdout.readline()
    finally:
        stop.set()
        writer.join()
        long_lived.stdin.close()
        rc = long_lived.wait(timeout=10)
    assert not problems, problems
    assert rc == 0
    assert len(seen_short) >= 3, f"too few rebuilds seen by short readers: {seen_short}"
    assert len(seen_long) >= 2, f"the long-lived reader never picked up a rebuild: {seen_long}"


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


def test_newaliases_builds_every_table_of_alias_database(tmp_path):
    conf = tmp_path / "etc"
    conf.mkdir()
    a1, a2, a3 = tmp_path / "aliases", tmp_path / "aliases2", tmp_path / "aliases3"
    a1.write_text("root: admin\n")
    a2.write_text("Webmaster: www\n")
    a3.write_text("abuse: root\n")
    (conf / "main.cf").write_text(
        f"alias_database = hash:{a1}, lmdb:{a2}\n\t{a3}, texthash:{a1}\n")
    run([NEWALIASES, "-c", str(conf)], check=0)
    assert run([POSTMAP, "-q", "root", f"hash:{a1}"], check=0).stdout == "admin\n"
    assert run([POSTMAP, "-q", "webmaster", f"hash:{a2}"], check=0).stdout == "www\n"
    assert run([POSTMAP, "-q", "abuse", f"hash:{a3}"], check=0).stdout == "root\n"


def test_newaliases_builds_the_good_tables_when_one_is_broken(tmp_path):
    conf = tmp_path / "etc"
    conf.mkdir()
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.write_text("x: y\nbroken\n")
    good.write_text("postmaster: root\n")
    (conf / "main.cf").write_text(f"alias_database = hash:{bad} hash:{good}\n")
    r = run([NEWALIASES, "-c", str(conf)], check=1)
    assert f"{bad}:2: expected format: name: value" in r.stderr
    assert not os.path.exists(f"{bad}.lmdb")
    assert run([POSTMAP, "-q", "postmaster", f"hash:{good}"], check=0).stdout == "root\n"
