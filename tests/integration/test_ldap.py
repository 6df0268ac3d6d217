"""ldap: tables (ldap_table(5)) against a real slapd (slapd.py), through the
real binaries: `postmap -q KEY ldap:FILE.cf` (exit 0 found, 1 not found, 2
temporary failure), tests/svc/mapq as a long-running process, and proxymap
sharing one LDAP connection between its clients.

Most tests read one directory started once for the module (with TLS); the
tests that stop, hang or restart the server start their own.
"""

import base64
import os
import shutil
import signal
import subprocess
import tempfile
import time
import types

import pytest

from conftest import BUILD, IS_ROOT, SBIN, wait_for
from slapd import ROOT_DN, ROOT_PW, SUFFIX, Slapd, free_port, make_ca_and_cert, slapd  # noqa: F401
from test_proxymap import MAPQ, PROXYMAP_LINE, Mapq, proxymap_pids

POSTMAP = os.path.join(SBIN, "postmap")
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SVC_DN = f"uid=svc,ou=system,{SUFFIX}"
SVC_PW = "svc-secret"
JURGEN = "j\u00fcrgen"

LDIF = f"""dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: uid=alice,{PEOPLE}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: alice
cn: Alice Example
sn: Example
title: Engineer
employeeNumber: 1001
mail: alice@example.com
mailLocalAddress: alice@example.com
mailLocalAddress: al@example.com
mailRoutingAddress: alice@mail.example.com

dn: uid=bob,{PEOPLE}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: bob
cn: Bob Example
sn: Example
employeeNumber: 1002
mail: bob@example.com
mail: robert@example.com
mailLocalAddress: bob@example.com
mailRoutingAddress: bob@mail.example.com

dn: uid=carol,{PEOPLE}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: carol
cn: Carol Other
sn: Other
mail: carol@other.org
mailLocalAddress: carol@other.org
mailRoutingAddress: carol@mail.other.org

dn: uid=odd,{PEOPLE}
objectClass: inetOrgPerson
uid: odd
sn: Odd
cn: star*name
cn: back\\slash
cn: paren(x)
cn:: {base64.b64encode(JURGEN.encode()).decode()}
mail: odd@example.com

dn: ou=staff,{PEOPLE}
objectClass: organizationalUnit
ou: staff

dn: uid=dave,ou=staff,{PEOPLE}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: dave
cn: Dave Deep
sn: Deep
mail: dave@example.com
mailRoutingAddress: dave@mail.example.com

dn: {GROUPS}
objectClass: organizationalUnit
ou: groups

dn: cn=team,{GROUPS}
objectClass: groupOfNames
objectClass: inetLocalMailRecipient
cn: team
mailLocalAddress: team@example.com
mailRoutingAddress: team-owner@example.com
member: uid=alice,{PEOPLE}
member: uid=bob,{PEOPLE}
member: uid=ghost,{PEOPLE}

dn: cn=all,{GROUPS}
objectClass: groupOfNames
objectClass: inetLocalMailRecipient
cn: all
mailLocalAddress: all@example.com
member: cn=team,{GROUPS}
member: uid=carol,{PEOPLE}

dn: cn=relay,{GROUPS}
objectClass: groupOfNames
objectClass: inetLocalMailRecipient
cn: relay
mailLocalAddress: relay@example.com
mailHost: relay.example.net
member: uid=alice,{PEOPLE}

dn: cn=loop1,{GROUPS}
objectClass: groupOfNames
objectClass: inetLocalMailRecipient
cn: loop1
mailLocalAddress: loop@example.com
member: cn=loop2,{GROUPS}
member: cn=loop3,{GROUPS}

dn: cn=loop2,{GROUPS}
objectClass: groupOfNames
cn: loop2
member: cn=loop1,{GROUPS}
member: cn=loop3,{GROUPS}

dn: cn=loop3,{GROUPS}
objectClass: groupOfNames
cn: loop3
member: cn=loop1,{GROUPS}
member: cn=loop2,{GROUPS}

dn: ou=system,{SUFFIX}
objectClass: organizationalUnit
ou: system

dn: {SVC_DN}
objectClass: account
objectClass: simpleSecurityObject
uid: svc
userPassword: {SVC_PW}
"""

# A diamond lattice of groups, DAG_LEVELS levels of two: no loop and no
# group deeper than DAG_LEVELS, but 2^DAG_LEVELS paths from the top.
DAG_LEVELS = 14


def dag_ldif():
    out = []
    for n in range(1, DAG_LEVELS + 1):
        for x in "ab":
            members = ([f"cn=dag{n + 1}{y},{GROUPS}" for y in "ab"] if n < DAG_LEVELS
                       else [f"uid=alice,{PEOPLE}"])
            out.append(f"\ndn: cn=dag{n}{x},{GROUPS}\nobjectClass: groupOfNames\n"
                       f"objectClass: inetLocalMailRecipient\ncn: dag{n}{x}\n"
                       f"mailLocalAddress: dag{n}{x}@example.com\n"
                       + "".join(f"member: {m}\n" for m in members))
    return "".join(out)


LDIF += dag_ldif()

# employeeNumber only for the service account; title only over TLS: a
# lookup that finds them proves the bind (the TLS) really happened.
ACL = f"""access to attrs=employeeNumber by dn.exact="{SVC_DN}" read by * none
access to attrs=title by ssf=128 read by * none"""


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    s = Slapd(tmp_path_factory.mktemp("slapd"), LDIF, tls=True, acl=ACL)
    s.start()
    yield s
    s.kill()


@pytest.fixture
def cfdir():
    """A world-readable directory (proxymap runs as mail_owner)."""
    if not os.access(POSTMAP, os.X_OK):
        pytest.fail(f"{POSTMAP} is not built; run `make` first")
    d = tempfile.mkdtemp(prefix="postern-ldap-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write_cf(d, name, server, **params):
    """An ldap: table file; server: a Slapd or a server_host string."""
    settings = {"server_host": server.url if isinstance(server, Slapd) else server,
                "search_base": SUFFIX, "timeout": "5", "bind": "no"}
    settings.update(params)
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write("# written by test_ldap.py\n")
        for k, v in settings.items():
            if v is not None:  # None: not set, the default applies
                f.write(f"{k} = {v}\n")
    os.chmod(path, 0o644)
    return path


def postmap(key, path, flags=(), timeout=60):
    env = dict(os.environ)
    env.pop("MAIL_CONFIG", None)
    return subprocess.run([POSTMAP, *flags, "-q", key, f"ldap:{path}"], capture_output=True,
                          text=True, env=env, timeout=timeout)


def found(key, path):
    r = postmap(key, path)
    assert r.returncode == 0, f"{key!r}: exit {r.returncode}, want found; stderr: {r.stderr}"
    return r.stdout.rstrip("\n")


def not_found(key, path):
    r = postmap(key, path)
    assert r.returncode == 1, (f"{key!r}: exit {r.returncode} ({r.stdout!r}), want not found; "
                               f"stderr: {r.stderr}")
    assert r.stdout == ""


def tempfail(key, path):
    r = postmap(key, path)
    assert r.returncode == 2, (f"{key!r}: exit {r.returncode} ({r.stdout!r}), want a temporary "
                               f"failure; stderr: {r.stderr}")
    assert f"table ldap:{path}: " in r.stderr, r.stderr
    return r.stderr


def values(text):
    return sorted(text.split(","))


# -- results --------------------------------------------------------------------

def test_result_attribute_and_result_format(directory, cfdir):
    t = write_cf(cfdir, "a.cf", directory, query_filter="(mailLocalAddress=%s)",
                 result_attribute="mailRoutingAddress")
    assert found("alice@example.com", t) == "alice@mail.example.com"
    assert found("AL@Example.COM", t) == "alice@mail.example.com"  # keys are folded
    not_found("nobody@example.com", t)
    # the default "bind = yes" with no bind_dn binds anonymously
    t = write_cf(cfdir, "b.cf", directory, bind=None, query_filter="(mailLocalAddress=%s)",
                 result_attribute="mailRoutingAddress")
    assert found("bob@example.com", t) == "bob@mail.example.com"
    t = write_cf(cfdir, "f.cf", directory, query_filter="(mailLocalAddress=%s)",
                 result_attribute="mailRoutingAddress", result_format="smtp:[%d] for %U")
    assert found("alice@example.com", t) == "smtp:[mail.example.com] for alice"
    # a result_format that needs a part a value lacks skips that value
    t = write_cf(cfdir, "u.cf", directory, query_filter="(uid=%s)", result_attribute="uid, mail",
                 result_format="%d")
    assert found("bob", t) == "example.com,example.com"


def test_multi_valued_attributes_and_entries_are_joined_with_commas(directory, cfdir):
    t = write_cf(cfdir, "m.cf", directory, query_filter="(uid=%s)", result_attribute="mail")
    assert values(found("bob", t)) == ["bob@example.com", "robert@example.com"]
    t = write_cf(cfdir, "n.cf", directory, query_filter="(uid=%s)",
                 result_attribute="uid,mail mailRoutingAddress")
    assert values(found("bob", t)) == ["bob", "bob@example.com", "bob@mail.example.com",
                                       "robert@example.com"]
    t = write_cf(cfdir, "s.cf", directory, query_filter="(sn=%s)", result_attribute="uid")
    assert values(found("example", t)) == ["alice", "bob"]
    # entries without the attribute: not found
    t = write_cf(cfdir, "x.cf", directory, query_filter="(uid=%s)", result_attribute="maildrop")
    not_found("alice", t)


def test_local_part_domain_and_label_expansion(directory, cfdir):
    t = write_cf(cfdir, "l.cf", directory, search_base="ou=people,dc=%2,dc=%1",
                 query_filter="(uid=%u)", result_attribute="uid")
    assert found("alice@example.com", t) == "alice"
    assert found("alice@mail.example.com", t) == "alice"
    not_found("alice@example.org", t)  # dc=example,dc=org does not exist: not an error
    not_found("alice", t)  # no domain: no %1
    # %d of a key without '@' suppresses the query: made with an empty %d
    # it would find uid=alice
    t = write_cf(cfdir, "d.cf", directory, query_filter="(|(uid=%u)(mail=%d))",
                 result_attribute="uid")
    not_found("alice", t)
    assert found("alice@nowhere.test", t) == "alice"
    # an empty local part suppresses %u
    t = write_cf(cfdir, "u.cf", directory, query_filter="(|(uid=%u)(uid=alice))",
                 result_attribute="uid")
    not_found("@example.com", t)
    assert found("bob@example.com", t) in ("alice,bob", "bob,alice")


def test_domain_restriction(directory, cfdir):
    params = dict(query_filter="(|(mailLocalAddress=%s)(uid=%s))",
                  result_attribute="mailRoutingAddress")
    free = write_cf(cfdir, "free.cf", directory, **params)
    assert found("carol@other.org", free) == "carol@mail.other.org"
    assert found("alice", free) == "alice@mail.example.com"
    t = write_cf(cfdir, "dom.cf", directory, domain="example.com", **params)
    assert found("alice@example.com", t) == "alice@mail.example.com"
    not_found("carol@other.org", t)  # domain not listed
    not_found("alice", t)  # no domain: never looked up
    with open(os.path.join(cfdir, "domains"), "w") as f:
        f.write("other.org ok\n")
    t = write_cf(cfdir, "tab.cf", directory, domain=f"texthash:{cfdir}/domains", **params)
    assert found("carol@other.org", t) == "carol@mail.other.org"
    not_found("alice@example.com", t)


def test_scope_base_one_sub(directory, cfdir):
    p = dict(search_base=PEOPLE, query_filter="(mail=%s)", result_attribute="uid")
    sub = write_cf(cfdir, "sub.cf", directory, scope="sub", **p)
    one = write_cf(cfdir, "one.cf", directory, scope="one", **p)
    assert found("dave@example.com", sub) == "dave"
    assert found("alice@example.com", one) == "alice"
    not_found("dave@example.com", one)  # two levels down
    base = write_cf(cfdir, "base.cf", directory, scope="base", search_base=f"uid=alice,{PEOPLE}",
                    query_filter="(mail=%s)", result_attribute="uid")
    assert found("alice@example.com", base) == "alice"
    not_found("bob@example.com", base)
    # search_base is a template, DN-quoted: a key cannot climb out of it
    dn = write_cf(cfdir, "dn.cf", directory, scope="base", search_base=f"uid=%u,{PEOPLE}",
                  query_filter="(objectClass=*)", result_attribute="uid")
    assert found("bob@x.test", dn) == "bob"
    not_found(f"x,{PEOPLE}@x.test", dn)


def test_special_result_attribute_expands_group_members(directory, cfdir):
    p = dict(query_filter="(mailLocalAddress=%s)", special_result_attribute="member")
    t = write_cf(cfdir, "g.cf", directory, result_attribute="mailRoutingAddress", **p)
    # the group's own value, its members' (a dangling member DN is skipped)
    assert values(found("team@example.com", t)) == [
        "alice@mail.example.com", "bob@mail.example.com", "team-owner@example.com"]
    # a group of groups
    assert values(found("all@example.com", t)) == [
        "alice@mail.example.com", "bob@mail.example.com", "carol@mail.other.org",
        "team-owner@example.com"]
    # leaf_result_attribute: members only, not the group's own value
    leaf = write_cf(cfdir, "leaf.cf", directory, result_attribute="",
                    leaf_result_attribute="mailRoutingAddress", **p)
    assert values(found("team@example.com", leaf)) == [
        "alice@mail.example.com", "bob@mail.example.com"]
    # terminal_result_attribute: an entry that has it yields it and nothing else
    term = write_cf(cfdir, "term.cf", directory, result_attribute="mailRoutingAddress",
                    terminal_result_attribute="mailHost", **p)
    assert found("relay@example.com", term) == "relay.example.net"
    assert "alice@mail.example.com" in found("team@example.com", term)
    # limits: a temporary failure, not a partial answer
    deep = write_cf(cfdir, "deep.cf", directory, result_attribute="mailRoutingAddress",
                    recursion_limit="1", **p)
    assert len(values(found("team@example.com", deep))) == 3  # one level: within the limit
    assert "recursion_limit" in tempfail("all@example.com", deep)
    # groups that contain each other: a temporary failure, not a hang
    assert "recursion_limit 1000 exceeded" in tempfail("loop@example.com", t)
    # no loop, but too many paths: bounded work, then a temporary failure
    assert values(found(f"dag{DAG_LEVELS - 3}a@example.com", t)) == ["alice@mail.example.com"] * 8
    t0 = time.monotonic()
    assert "more than 10000 searches" in tempfail("dag1a@example.com", t)
    assert time.monotonic() - t0 < 30
    many = write_cf(cfdir, "many.cf", directory, result_attribute="mailRoutingAddress",
                    expansion_limit="2", **p)
    assert "expansion_limit" in tempfail("team@example.com", many)
    size = write_cf(cfdir, "size.cf", directory, query_filter="(sn=%s)", result_attribute="uid",
                    size_limit="1")
    assert "Size limit exceeded" in tempfail("example", size)


def test_simple_bind_and_wrong_password_is_a_temporary_failure(directory, cfdir):
    p = dict(query_filter="(uid=%s)", result_attribute="employeeNumber")
    anon = write_cf(cfdir, "anon.cf", directory, **p)
    not_found("alice", anon)  # the ACL hides it from anonymous clients
    bound = write_cf(cfdir, "bound.cf", directory, bind="yes", bind_dn=SVC_DN, bind_pw=SVC_PW, **p)
    assert found("alice", bound) == "1001"
    simple = write_cf(cfdir, "simple.cf", directory, bind="simple", bind_dn=SVC_DN,
                      bind_pw=SVC_PW, **p)
    assert found("bob", simple) == "1002"
    wrong = write_cf(cfdir, "wrong.cf", directory, bind="yes", bind_dn=SVC_DN,
                     bind_pw="Wr0ng-pw-XYZ", **p)
    err = tempfail("alice", wrong)
    assert "Invalid credentials" in err and SVC_DN in err, err
    assert "Wr0ng-pw-XYZ" not in err, "the password must never be logged"


def test_server_host_fail_over(directory, cfdir):
    closed = free_port()
    p = dict(query_filter="(uid=%s)", result_attribute="uid")
    t = write_cf(cfdir, "fo.cf", f"127.0.0.1:{closed} 127.0.0.1:{directory.port}", **p)
    assert found("alice", t) == "alice"
    t = write_cf(cfdir, "fo2.cf", f"ldap://127.0.0.1:{closed}, {directory.url}", **p)
    assert found("bob", t) == "bob"
    t = write_cf(cfdir, "port.cf", "127.0.0.1", server_port=str(directory.port), **p)
    assert found("bob", t) == "bob"
    t = write_cf(cfdir, "none.cf", f"127.0.0.1:{closed}", **p)
    assert "Can't contact LDAP server" in tempfail("alice", t)


def test_start_tls_and_ldaps_with_certificate_checks(directory, cfdir, tmp_path):
    p = dict(query_filter="(uid=%s)", result_attribute="title")
    plain = write_cf(cfdir, "plain.cf", directory, **p)
    not_found("alice", plain)  # title is readable over TLS only
    stls = write_cf(cfdir, "stls.cf", directory, start_tls="yes",
                    tls_ca_cert_file=directory.ca_cert, tls_require_cert="yes", **p)
    assert found("alice", stls) == "Engineer"
    ldaps = write_cf(cfdir, "ldaps.cf", directory.ldaps_url, tls_ca_cert_file=directory.ca_cert,
                     tls_require_cert="yes", **p)
    assert found("alice", ldaps) == "Engineer"
    # the certificate really is checked: another CA, or none, fails
    other_ca, _, _ = make_ca_and_cert(str(tmp_path))
    bad = write_cf(cfdir, "bad.cf", directory, start_tls="yes", tls_ca_cert_file=other_ca,
                   tls_require_cert="yes", **p)
    err = tempfail("alice", bad)
    assert "start_tls" in err, err
    bad = write_cf(cfdir, "bad2.cf", directory.ldaps_url, tls_ca_cert_file=other_ca,
                   tls_require_cert="yes", **p)
    tempfail("alice", bad)
    # Postfix's default: TLS without checking the certificate
    unchecked = write_cf(cfdir, "unchecked.cf", directory.ldaps_url, **p)
    assert found("alice", unchecked) == "Engineer"


def test_ldap_injection_is_quoted(directory, cfdir):
    t = write_cf(cfdir, "inj.cf", directory, query_filter="(&(mail=%s)(objectClass=inetOrgPerson))",
                 result_attribute="uid")
    # the naive filters would match: the test means something
    assert "uid: alice" in directory.search("(&(mail=*)(objectClass=inetOrgPerson))", attrs=["uid"])
    assert "uid: alice" in directory.search("(&(mail=*)(uid=*)(objectClass=inetOrgPerson))",
                                            attrs=["uid"])
    for key in ("*", "*)(uid=*", "*)(|(uid=*", "alice@example.com)(uid=*", "\\", "(", "\\2a"):
        not_found(key, t)
    t = write_cf(cfdir, "cn.cf", directory, query_filter="(cn=%s)", result_attribute="uid")
    assert "uid: odd" in directory.search("(cn=star*)", attrs=["uid"])
    not_found("star*", t)  # a literal '*', not a substring match
    for key in ("star*name", "back\\slash", "paren(x)", JURGEN):
        assert found(key, t) == "odd", key


# -- the server going away ------------------------------------------------------

def mapq_config(d):
    """A config directory for tests/svc/mapq used without an instance."""
    etc = os.path.join(d, "etc")
    queue = os.path.join(d, "queue")
    os.makedirs(etc)
    os.makedirs(queue)
    with open(os.path.join(etc, "main.cf"), "w") as f:
        f.write(f"queue_directory = {queue}\n")
    return etc


def long_running_mapq(d):
    """tests/svc/mapq as a long-running process that does its own LDAP
    lookups (no instance: only a main.cf for it to read)."""
    if not os.access(MAPQ, os.X_OK):
        pytest.fail(f"{MAPQ} is not built; run `make` first")
    return Mapq(types.SimpleNamespace(etc=mapq_config(d), read_log=lambda: ""), chroot=False)


def test_server_down_is_a_temporary_failure(slapd, cfdir):
    s = slapd(LDIF)
    t = write_cf(cfdir, "t.cf", s, query_filter="(uid=%s)", result_attribute="uid")
    assert found("alice", t) == "alice"
    s.stop()
    err = tempfail("alice", t)
    assert "Can't contact LDAP server" in err, err


def test_long_running_process_recovers_when_the_server_returns(slapd, cfdir, tmp_path):
    s = slapd(LDIF)
    t = write_cf(cfdir, "t.cf", s, query_filter="(uid=%s)", result_attribute="mail",
                 timeout="2")
    q = long_running_mapq(str(tmp_path / "mapq"))
    try:
        assert q.ask(f"lookup ldap:{t} alice") == "found: alice@example.com"
        # restarted between two lookups: the old connection is dead, the
        # lookup is retried on a new one and never fails
        s.stop()
        s.start()
        assert q.ask(f"lookup ldap:{t} alice") == "found: alice@example.com"
        # down: a temporary failure, each time
        s.stop()
        for _ in range(2):
            r = q.ask(f"lookup ldap:{t} alice")
            assert r.startswith(f"tempfail: table ldap:{t}: "), r
            assert "Can't contact LDAP server" in r, r
        # back (same port): the next lookup works, no restart needed
        s.start()
        assert q.ask(f"lookup ldap:{t} bob") == "found: bob@example.com,robert@example.com"
        assert q.ask(f"lookup ldap:{t} nobody") == "notfound"
        # hung: the lookup times out (timeout = 2, one retry) instead of hanging
        os.kill(s.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = q.ask(f"lookup ldap:{t} alice", timeout=30)
            took = time.monotonic() - t0
            assert r.startswith(f"tempfail: table ldap:{t}: "), r
            assert "Timed out" in r or "Can't contact" in r, r
            assert 1.5 <= took <= 12, f"gave up after {took:.1f}s"
        finally:
            os.kill(s.pid, signal.SIGCONT)
        assert q.ask(f"lookup ldap:{t} alice") == "found: alice@example.com"
        # a changed .cf file is read again by a later lookup
        time.sleep(1.1)
        write_cf(cfdir, "t.cf", s, query_filter="(uid=%s)", result_attribute="cn")
        wait_for(lambda: q.ask(f"lookup ldap:{t} alice") == "found: Alice Example", timeout=5,
                 what="the changed result_attribute")
    finally:
        q.close()


# -- proxymap -------------------------------------------------------------------

def test_proxymap_serves_listed_ldap_tables_over_one_connection(instance, slapd, cfdir):
    s = slapd(LDIF)
    a = write_cf(cfdir, "a.cf", s, query_filter="(uid=%s)", result_attribute="mail")
    b = write_cf(cfdir, "b.cf", s, query_filter="(mailLocalAddress=%s)",
                 result_attribute="mailRoutingAddress", special_result_attribute="member")
    secret = write_cf(cfdir, "secret.cf", s, query_filter="(uid=%s)", result_attribute="cn")
    i = instance
    i.main.update({"proxy_read_maps": f"proxy:ldap:{a} ldap:{b}", "ipc_timeout": "10s"})
    i.write_config()
    i.add_service(PROXYMAP_LINE)
    i.start()
    wait_for(lambda: os.path.exists(os.path.join(i.queue, "private", "proxymap")),
             what="private/proxymap")
    i.clients = []
    q1, q2 = Mapq(i), Mapq(i, chroot=False)
    try:
        for _ in range(3):
            assert q1.ask(f"lookup proxy:ldap:{a} alice") == "found: alice@example.com"
            assert q2.ask(f"lookup proxy:ldap:{a} BOB") == \
                "found: bob@example.com,robert@example.com"
            r = q1.ask(f"lookup proxy:ldap:{b} team@example.com")
            assert r.startswith("found: ") and values(r[7:]) == [
                "alice@mail.example.com", "bob@mail.example.com", "team-owner@example.com"], r
            assert q2.ask(f"lookup proxy:ldap:{a} nobody") == "notfound"
        assert len(proxymap_pids(i)) == 1
        assert s.connections() == 1, "both tables and all clients should share one connection"
        r = q1.ask(f"lookup proxy:ldap:{secret} alice")
        assert r.startswith("error: ") or r.startswith("tempfail: "), r
        assert "proxy_read_maps" in r and "Alice" not in r, r
        # the shared connection survives a server restart
        s.stop()
        s.start()
        assert q2.ask(f"lookup proxy:ldap:{a} alice") == "found: alice@example.com"
        assert q1.ask(f"lookup proxy:ldap:{b} al@example.com") == "found: alice@mail.example.com"
        assert s.connections() == 1
    finally:
        q1.close()
        q2.close()


def test_postmap_reading_keys_survives_a_server_restart(slapd, cfdir):
    """postmap -q - is a long-running client too, and it does not ignore
    SIGPIPE: closing a TLS connection whose server went away (close_notify
    written to a reset socket) must not kill it, and the next key is
    looked up on a new connection."""
    s = slapd(LDIF, tls=True)
    t = write_cf(cfdir, "t.cf", s, query_filter="(uid=%s)", result_attribute="uid",
                 start_tls="yes", tls_ca_cert_file=s.ca_cert, tls_require_cert="yes")
    env = dict(os.environ)
    env.pop("MAIL_CONFIG", None)
    p = subprocess.Popen([POSTMAP, "-q", "-", f"ldap:{t}"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        p.stdin.write("alice\n")
        p.stdin.flush()
        wait_for(lambda: s.connections() == 1, what="postmap's connection to slapd")
        s.kill()
        s.start()
        out, err = p.communicate("bob\n", timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, f"postmap exited {p.returncode}: {err}"
    assert out == "alice\talice\nbob\tbob\n", out
