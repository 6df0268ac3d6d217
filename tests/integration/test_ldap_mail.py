"""Mail routed by LDAP, end to end: a real slapd (slapd.py) and a real
instance (smtpd, cleanup, qmgr, local, proxymap) with ldap: tables.

- Postfix's LDAP_README alias example: alias_maps = hash:aliases,
  ldap:ldap-aliases.cf where the .cf names only server_host and
  search_base (so the defaults query_filter = mailacceptinggeneralid=%s,
  result_attribute = maildrop apply); smtpd's local_recipient_maps (which
  includes $alias_maps) accepts exactly the LDAP aliases.
- LDAP routing in Sendmail's sense: mailLocalAddress -> mailRoutingAddress
  through virtual_alias_maps = proxy:ldap:..., and mailHost -> transport
  through transport_maps = proxy:ldap:... with result_format smtp:[%s].
  No SMTP client exists yet, so the smtp transport is a test-side agent
  (fakeagent.py) that records recipient and next hop.
- LDAP down: SMTP gets 451 4.3.0, the log names the table, nothing is
  lost; when slapd returns, mail flows again without a restart.
"""

import os
import re

import pytest

from conftest import IS_ROOT, wait_for
from fakeagent import DELIVER_OK, FakeAgent
from slapd import SUFFIX, slapd  # noqa: F401  (slapd is a fixture)
from smtpsys import SmtpSystem

pytestmark = pytest.mark.skipif(not IS_ROOT, reason="needs root for real users and chroot")

USERS = ("pt_ld2_amy", "pt_ld2_bob", "pt_ld2_cat")

# The two attributes of Postfix's LDAP_README defaults, under OpenLDAP's
# experimental OID arc (1.3.6.1.4.1.4203.666): a schema for this test only.
POSTFIX_SCHEMA = """\
attributetype ( 1.3.6.1.4.1.4203.666.11.1.1 NAME 'mailacceptinggeneralid'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{1024} )
attributetype ( 1.3.6.1.4.1.4203.666.11.1.2 NAME 'maildrop'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{1024} )
objectclass ( 1.3.6.1.4.1.4203.666.11.2.1 NAME 'postfixMailAlias' SUP top AUXILIARY
    MAY ( mailacceptinggeneralid $ maildrop ) )
"""

ALIAS_LDIF = f"""dn: ou=aliases,{SUFFIX}
objectClass: organizationalUnit
ou: aliases

dn: cn=staff,ou=aliases,{SUFFIX}
objectClass: organizationalRole
objectClass: postfixMailAlias
cn: staff
mailacceptinggeneralid: staff
maildrop: pt_ld2_amy
maildrop: pt_ld2_bob

dn: cn=info,ou=aliases,{SUFFIX}
objectClass: organizationalRole
objectClass: postfixMailAlias
cn: info
mailacceptinggeneralid: info
maildrop: staff
"""

ROUTING_LDIF = f"""dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: uid=joe,ou=people,{SUFFIX}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: joe
cn: Joe
sn: Doe
mailLocalAddress: joe@example.com
mailRoutingAddress: jdoe@mail.example.net
mailHost: mx1.example.net

dn: uid=amy,ou=people,{SUFFIX}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: amy
cn: Amy
sn: Local
mailLocalAddress: amy@example.com
mailRoutingAddress: pt_ld2_amy@localhost

dn: uid=kim,ou=people,{SUFFIX}
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
uid: kim
cn: Kim
sn: Elsewhere
mailLocalAddress: kim@example.com
mailHost: mx2.example.net
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def by_subject(msgs, subject):
    return [m for m in msgs if str(m["Subject"]) == subject]


def wait_mail(s, user, subject):
    return wait_for(lambda: by_subject(s.mbox_messages(user), subject), timeout=60,
                    what=f"'{subject}' for {user}; log tail:\n" + s.inst.read_log()[-3000:])


def smtp_send(s, rcpts, subject):
    body = f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@t>\r\n\r\nhi\r\n"
    with s.smtp() as c:
        c.ehlo("client.example")
        return c.sendmail("sender@client.example", rcpts, body)


@pytest.fixture
def system(tmp_path):
    made = []

    def make(main, services=()):
        s = SmtpSystem(tmp_path / f"inst{len(made)}", users=USERS, main=main,
                       services=list(services))
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


def test_ldap_aliases_with_only_server_host_and_search_base(system, slapd):
    ldap = slapd(ALIAS_LDIF, schema=POSTFIX_SCHEMA)
    s = system({"mydestination": "$myhostname, localhost"})
    cf = write(os.path.join(s.inst.etc, "ldap-aliases.cf"),
               f"server_host = {ldap.url}\nsearch_base = {SUFFIX}\n")
    # Postfix's own example, verbatim apart from the paths.
    s.inst.main["alias_maps"] = f"hash:{s.inst.etc}/aliases, ldap:{cf}"
    s.inst.write_config()
    s.write_aliases("postmaster: root\nroot: pt_ld2_cat\n")
    s.start()

    # The table answers as Postfix's would: multi-valued maildrop joined.
    r = s.inst.cmd("postmap", "-q", "staff", f"ldap:{cf}", check=False)
    assert (r.returncode, r.stdout.strip()) == (0, "pt_ld2_amy,pt_ld2_bob"), r

    # local_recipient_maps (proxy:unix:passwd.byname $alias_maps) accepts
    # LDAP aliases and refuses unknown names at RCPT.
    with s.smtp() as c:
        c.ehlo("client.example")
        c.mail("sender@client.example")
        assert c.rcpt("info@localhost")[0] == 250
        assert c.rcpt("staff@localhost")[0] == 250
        code, text = c.rcpt("nosuchalias@localhost")
        assert code == 550 and b"User unknown" in text, (code, text)
        assert c.rcpt("root@localhost")[0] == 250  # the hash: table still counts
        c.rset()
        c.mail("sender@client.example")
        assert c.rcpt("info@localhost")[0] == 250
        assert c.rcpt("root@localhost")[0] == 250
        code, _ = c.data("Subject: via ldap aliases\r\n\r\nhi\r\n")
        assert code == 250

    # info -> staff (LDAP again, in local's recursion) -> amy, bob; root ->
    # pt_ld2_cat through the hash: table.
    for user in ("pt_ld2_amy", "pt_ld2_bob", "pt_ld2_cat"):
        wait_mail(s, user, "via ldap aliases")
    s.wait_delivered()
    for user in ("pt_ld2_amy", "pt_ld2_bob"):
        assert len(by_subject(s.mbox_messages(user), "via ldap aliases")) == 1
    assert "warning" not in s.inst.read_log().lower(), s.inst.read_log()[-3000:]


def routing_system(system, ldap):
    s = system({"mydestination": "$myhostname, localhost"})
    # proxymap runs as mail_owner, outside the chroot: the .cf files must be
    # readable by it, as with Postfix (the instance's etc is private to root).
    etc = s.root
    routing = write(os.path.join(etc, "ldap-routing.cf"),
                    f"server_host = {ldap.url}\n"
                    f"search_base = ou=people,{SUFFIX}\n"
                    "query_filter = (mailLocalAddress=%s)\n"
                    "result_attribute = mailRoutingAddress\n")
    mailhost = write(os.path.join(etc, "ldap-mailhost.cf"),
                     f"server_host = {ldap.url}\n"
                     f"search_base = ou=people,{SUFFIX}\n"
                     "query_filter = (|(mailRoutingAddress=%s)"
                     "(&(mailLocalAddress=%s)(!(mailRoutingAddress=*))))\n"
                     "result_attribute = mailHost\n"
                     "result_format = smtp:[%s]\n")
    # cleanup and qmgr run chrooted: they reach LDAP through proxymap, which
    # shares one connection per server among its clients.
    s.inst.main.update({
        "virtual_alias_maps": f"proxy:ldap:{routing}",
        "transport_maps": f"proxy:ldap:{mailhost}",
    })
    s.inst.write_config()
    return s


def test_ldap_routing_rewrites_and_routes_by_mailhost(system, slapd):
    ldap = slapd(ROUTING_LDIF)
    s = routing_system(system, ldap)
    s.start()
    smtp = FakeAgent(s.inst, "smtp", DELIVER_OK, "2.0.0", "250 ok")
    try:
        refused = smtp_send(s, ["joe@example.com", "amy@example.com", "kim@example.com",
                                "nobody@example.com"], "ldap routing")
        assert refused == {}, refused
        # amy's routing address is a local user: delivered here.
        got = wait_mail(s, "pt_ld2_amy", "ldap routing")
        assert got[0]["X-Original-To"] == "amy@example.com"
        # joe: rewritten to his routing address, sent to his mailHost;
        # kim: no routing address, the mailHost alone routes her address;
        # nobody: not in LDAP, default transport to the domain.
        assert smtp.wait_recipients(3) == [
            ("jdoe@mail.example.net", "[mx1.example.net]"),
            ("kim@example.com", "[mx2.example.net]"),
            ("nobody@example.com", "example.com"),
        ]
        s.wait_delivered()
    finally:
        smtp.close()


def test_ldap_down_defers_and_recovers_without_restart(system, slapd):
    ldap = slapd(ROUTING_LDIF)
    s = routing_system(system, ldap)
    s.start()
    smtp = FakeAgent(s.inst, "smtp", DELIVER_OK, "2.0.0", "250 ok")
    try:
        assert smtp_send(s, ["joe@example.com"], "before outage") == {}
        smtp.wait_recipients(1)
        ldap.stop()
        # The lookups fail: the client is told to try again (4.3.0), never
        # that the address is bad. smtpd asks first (virtual_alias_domains
        # defaults to $virtual_alias_maps): 451 at RCPT.
        with s.smtp() as c:
            c.ehlo("client.example")
            c.mail("sender@client.example")
            code, text = c.rcpt("joe@example.com")
        assert code == 451 and text.startswith(b"4.3.0"), (code, text)
        # With smtpd's table checks off, cleanup's virtual_alias_maps lookup
        # fails at the end of DATA instead: 451 4.3.0 again.
        s.inst.main.update({"virtual_alias_domains": "", "smtpd_reject_unlisted_recipient": "no"})
        s.inst.write_config()
        s.inst.postern("reload")
        wait_for(lambda: s.inst.read_log().count("reload") >= 1, what="reload")
        def data_451():
            with s.smtp() as c:
                c.ehlo("client.example")
                c.mail("sender@client.example")
                if c.rcpt("joe@example.com")[0] != 250:
                    return False  # an smtpd of the old configuration
                code, text = c.data("Subject: during outage\r\n\r\nhi\r\n")
            assert code == 451 and text.startswith(b"4.3.0"), (code, text)
            return True
        wait_for(data_451, timeout=20, what="an smtpd with the new configuration")
        log = s.inst.read_log()
        assert re.search(r"cleanup\[\d+\]: warning: \w+: table proxy:ldap:\S+ldap-routing\.cf: "
                         r"lookup failed in proxymap", log), log[-3000:]
        assert re.search(r"cleanup\[\d+\]: warning: \w+: virtual_alias_maps map lookup problem "
                         r"for joe@example\.com -- message not accepted, try again later",
                         log), log[-3000:]
        assert s.queue_empty()  # nothing half-accepted

        ldap.start()  # same port, same data
        # proxymap reconnects by itself; cleanup and qmgr were not restarted.
        wait_for(lambda: smtp_send(s, ["joe@example.com"], "after outage") == {},
                 timeout=30, what="SMTP accepted once slapd was back")
        assert smtp.wait_recipients(2) == [("jdoe@mail.example.net", "[mx1.example.net]")] * 2
        s.wait_delivered()
        assert not s.mbox_messages("pt_ld2_amy")  # no bounce anywhere
    finally:
        smtp.close()
