/* test_map_ldap - the ldap: table's parameter file (defaults, every kind of
 * value, server_host forms, bind yes/no, Postfix's result_filter, errors
 * with FILE:LINE, warnings for unknown names), connection sharing ids, and
 * what the type does without a server: lazy connection at the first
 * lookup, keys that are never sent (domain restriction, %d of a key
 * without '@'), and a temporary error naming the table when no server
 * answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "maps/map.h"
#include "maps/map_ldap.h"
#include "util/argv.h"
#include "util/buf.h"

static char dir[] = "/tmp/test_map_ldap.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_map_ldap.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void parse(struct map_ldap_cf *cf, const char *text, struct argv *warnings)
{
    struct buf why = BUF_INIT;
    if (map_ldap_cf_parse(cf, text, strlen(text), "t.cf", warnings, &why) < 0)
        fail_msg("parse: %s", buf_cstr(&why));
    buf_free(&why);
}

/* parse_fails - the text is rejected with exactly this reason. */
static void parse_fails(const char *text, const char *want)
{
    struct map_ldap_cf cf;
    struct buf why = BUF_INIT;
    if (map_ldap_cf_parse(&cf, text, strlen(text), "t.cf", NULL, &why) == 0)
        fail_msg("accepted: %s", text);
    if (strcmp(buf_cstr(&why), want) != 0)
        fail_msg("reason \"%s\", want \"%s\"", buf_cstr(&why), want);
    buf_free(&why);
}

static void list_is(const struct argv *a, const char *const *want)
{
    size_t n = 0;
    for (; want[n] != NULL; n++) {
        if (n >= a->argc)
            fail_msg("list too short: want \"%s\" at %zu", want[n], n);
        assert_string_equal(a->argv[n], want[n]);
    }
    assert_int_equal(a->argc, n);
}

static void test_defaults_are_postfix_defaults(void **state)
{
    struct map_ldap_cf cf;
    parse(&cf, "# nothing set\n", NULL);
    list_is(cf.uris, (const char *const[]){"ldap://localhost:389", NULL});
    assert_int_equal(cf.server_port, 389);
    assert_int_equal(cf.timeout, 10);
    assert_string_equal(cf.search_base, "");
    assert_int_equal(cf.scope, MAP_LDAP_SCOPE_SUB);
    assert_string_equal(cf.query_filter, "mailacceptinggeneralid=%s");
    assert_string_equal(cf.result_format, "%s");
    list_is(cf.result_attr, (const char *const[]){"maildrop", NULL});
    assert_int_equal(cf.special_attr->argc + cf.terminal_attr->argc + cf.leaf_attr->argc, 0);
    assert_null(cf.domain);
    assert_int_equal(cf.bind, 1);
    assert_int_equal(cf.version, 3);
    assert_int_equal(cf.start_tls, 0);
    assert_int_equal(cf.tls_require_cert, 0);
    assert_int_equal(cf.dereference, 0);
    assert_int_equal(cf.chase_referrals, 0);
    assert_int_equal(cf.recursion_limit, 1000);
    assert_int_equal(cf.expansion_limit, 0);
    assert_int_equal(cf.size_limit, 0);
    map_ldap_cf_free(&cf);
}

static void test_every_parameter(void **state)
{
    struct map_ldap_cf cf;
    struct argv *w = argv_alloc();
    parse(&cf,
          "server_host = ldap1.example.com\n"
          "server_port = 1389\n"
          "timeout = 5\n"
          "search_base = ou=people, dc=%2, dc=%1\n"
          "scope = one\n"
          "# a comment; the filter continues on the next line\n"
          "query_filter = (&(mail=%s)\n"
          "    (objectClass=inetOrgPerson))\n"
          "result_format = smtp:[%s]\n"
          "result_attribute = mailHost,mail uid\n"
          "special_result_attribute = member\n"
          "terminal_result_attribute = maildrop\n"
          "leaf_result_attribute = mail\n"
          "domain = example.com, hash:/etc/domains\n"
          "bind = no\n"
          "bind_dn = cn=postern,dc=example,dc=com\n"
          "bind_pw = s3cret\n"
          "version = 2\n"
          "tls_ca_cert_file = /etc/ssl/ca.pem\n"
          "tls_ca_cert_dir = /etc/ssl/certs\n"
          "tls_cert = /etc/c.pem\n"
          "tls_key = /etc/k.pem\n"
          "tls_require_cert = yes\n"
          "dereference = 3\n"
          "chase_referrals = yes\n"
          "recursion_limit = 7\n"
          "expansion_limit = 10\n",
          w);
    assert_int_equal(w->argc, 0);
    list_is(cf.uris, (const char *const[]){"ldap://ldap1.example.com:1389", NULL});
    assert_int_equal(cf.timeout, 5);
    assert_string_equal(cf.search_base, "ou=people, dc=%2, dc=%1");
    assert_int_equal(cf.scope, MAP_LDAP_SCOPE_ONE);
    assert_string_equal(cf.query_filter, "(&(mail=%s) (objectClass=inetOrgPerson))");
    assert_string_equal(cf.result_format, "smtp:[%s]");
    list_is(cf.result_attr, (const char *const[]){"mailHost", "mail", "uid", NULL});
    list_is(cf.special_attr, (const char *const[]){"member", NULL});
    list_is(cf.terminal_attr, (const char *const[]){"maildrop", NULL});
    list_is(cf.leaf_attr, (const char *const[]){"mail", NULL});
    assert_string_equal(cf.domain, "example.com, hash:/etc/domains");
    assert_int_equal(cf.bind, 0);
    assert_string_equal(cf.bind_dn, "cn=postern,dc=example,dc=com");
    assert_string_equal(cf.bind_pw, "s3cret");
    assert_int_equal(cf.version, 2);
    assert_string_equal(cf.tls_ca_cert_file, "/etc/ssl/ca.pem");
    assert_string_equal(cf.tls_ca_cert_dir, "/etc/ssl/certs");
    assert_string_equal(cf.tls_cert, "/etc/c.pem");
    assert_string_equal(cf.tls_key, "/etc/k.pem");
    assert_int_equal(cf.tls_require_cert, 1);
    assert_int_equal(cf.dereference, 3);
    assert_int_equal(cf.chase_referrals, 1);
    assert_int_equal(cf.recursion_limit, 7);
    assert_int_equal(cf.expansion_limit, 10);
    assert_int_equal(cf.size_limit, 10); /* defaults to expansion_limit */
    map_ldap_cf_free(&cf);
    argv_free(w);
}

static void test_server_host_forms_and_failover_order(void **state)
{
    struct map_ldap_cf cf;
    parse(&cf,
          "server_port = 10389\n"
          "server_host = a.example b.example:1389, ldap://c.example:3389\n"
          "  ldaps://d.example:636 [::1] [2001:db8::1]:999 ldapi://%2Fvar%2Frun%2Fldapi\n",
          NULL);
    list_is(cf.uris, (const char *const[]){"ldap://a.example:10389", "ldap://b.example:1389",
                                           "ldap://c.example:3389", "ldaps://d.example:636",
                                           "ldap://[::1]:10389", "ldap://[2001:db8::1]:999",
                                           "ldapi://%2Fvar%2Frun%2Fldapi", NULL});
    map_ldap_cf_free(&cf);
}

static void test_bind_yes_no_simple_none(void **state)
{
    static const struct {
        const char *value;
        int bind;
    } cases[] = {{"yes", 1}, {"no", 0}, {"simple", 1}, {"none", 0}, {"SIMPLE", 1}, {"No", 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct map_ldap_cf cf;
        char text[64];
        snprintf(text, sizeof(text), "bind = %s\n", cases[i].value);
        parse(&cf, text, NULL);
        if (cf.bind != cases[i].bind)
            fail_msg("bind = %s: %d, want %d", cases[i].value, cf.bind, cases[i].bind);
        map_ldap_cf_free(&cf);
    }
    parse_fails("\nbind = sasl\n",
                "t.cf:2: bind: bad value \"sasl\": want none (no), or simple (yes); SASL binds "
                "are not supported");
    parse_fails("bind = maybe\n", "t.cf:1: bind: bad value \"maybe\": want none (no), or simple "
                                  "(yes)");
}

static void test_result_filter_is_the_old_name_of_result_format(void **state)
{
    struct map_ldap_cf cf;
    parse(&cf, "result_filter = old:%s\n", NULL);
    assert_string_equal(cf.result_format, "old:%s");
    map_ldap_cf_free(&cf);
    parse(&cf, "result_filter = old:%s\nresult_format = new:%s\n", NULL);
    assert_string_equal(cf.result_format, "new:%s");
    map_ldap_cf_free(&cf);
}

static void test_unknown_and_ignored_names_are_warnings_with_line(void **state)
{
    struct map_ldap_cf cf;
    struct argv *w = argv_alloc();
    parse(&cf, "server_host = h\n# c\nserver_hots = typo\ncache = yes\n", w);
    list_is(w, (const char *const[]){"t.cf:3: unknown parameter \"server_hots\"",
                                     "t.cf:4: ignoring unsupported parameter \"cache\"", NULL});
    map_ldap_cf_free(&cf);
    argv_free(w);
}

static void test_errors_name_file_and_line(void **state)
{
    parse_fails("server_host = h\nscope = subtree\n",
                "t.cf:2: scope: bad value \"subtree\": want sub, one or base");
    parse_fails("timeout = 0\n", "t.cf:1: timeout: bad value \"0\": want a number from 1 to 3600");
    parse_fails("timeout = soon\n",
                "t.cf:1: timeout: bad value \"soon\": want a number from 1 to 3600");
    parse_fails("\n\nversion = 4\n", "t.cf:3: version: bad value \"4\": want a number from 2 to 3");
    parse_fails("server_port = 70000\n",
                "t.cf:1: server_port: bad value \"70000\": want a number from 1 to 65535");
    parse_fails("dereference = -1\n",
                "t.cf:1: dereference: bad value \"-1\": want a number from 0 to 3");
    parse_fails("start_tls = perhaps\n",
                "t.cf:1: start_tls: bad value \"perhaps\": want yes or no");
    parse_fails("recursion_limit = 0\n",
                "t.cf:1: recursion_limit: bad value \"0\": want a number from 1 to 100000");
    parse_fails("server_host\n", "t.cf:1: missing '=' after parameter name");
    parse_fails("  server_host = h\n", "t.cf:1: continuation line before any parameter");
    parse_fails("query_filter = (mail=%x)\n",
                "t.cf:1: query_filter: unknown expansion \"%x\" in \"(mail=%x)\"");
    parse_fails("x = 1\nresult_format = 50%\n", "t.cf:2: result_format: '%' at the end of \"50%\"");
    parse_fails("search_base = dc=%z\n",
                "t.cf:1: search_base: unknown expansion \"%z\" in \"dc=%z\"");
    parse_fails("query_filter =\n", "t.cf:1: query_filter: empty");
    parse_fails("result_attribute = ,\n",
                "t.cf:1: result_attribute: empty, and no other result attributes");
    parse_fails("server_host = ok.example bad_host!\n",
                "t.cf:1: server_host: bad host name \"bad_host!\"");
    parse_fails("server_host = h:0\n", "t.cf:1: server_host: bad port in \"h:0\"");
    parse_fails("server_host = h:389x\n", "t.cf:1: server_host: bad port in \"h:389x\"");
    parse_fails("server_host = [::1\n", "t.cf:1: server_host: bad address \"[::1\"");
    parse_fails("server_host = ldap://a b c:/x\n", "t.cf:1: server_host: bad port in \"c:/x\"");
    parse_fails("server_host = http://h\n", "t.cf:1: server_host: bad LDAP URL \"http://h\"");
    parse_fails("server_host = ldap://h:x/\n", "t.cf:1: server_host: bad LDAP URL \"ldap://h:x/\"");
    parse_fails("version = 2\n\nstart_tls = yes\n", "t.cf:3: start_tls: needs version = 3");
    parse_fails("server_host = ldaps://h\nstart_tls = yes\n",
                "t.cf:1: server_host: ldaps://h needs version = 3 and no start_tls");
    parse_fails("tls_cert = /c.pem\n", "t.cf:1: tls_cert: set tls_cert and tls_key together");
    parse_fails("a = 1\nq\xff = 1\n", "t.cf:2: bad parameter name: q\xff");
    static const char nul[] = "a = 1\nb = x\0y\n";
    struct map_ldap_cf cf;
    struct buf why = BUF_INIT;
    assert_int_equal(map_ldap_cf_parse(&cf, nul, sizeof(nul) - 1, "t.cf", NULL, &why), -1);
    assert_string_equal(buf_cstr(&why), "t.cf:2: NUL byte in line");
    buf_free(&why);
}

static void test_connection_ids(void **state)
{
    struct map_ldap_cf a, b;
    struct buf ia = BUF_INIT, ib = BUF_INIT;
    const char *base = "server_host = h1 h2\nbind_dn = cn=x\nbind_pw = pw1\n";
    char text[256];
    parse(&a, base, NULL);
    map_ldap_cf_id(&a, &ia);
    /* what to search for is not part of the connection */
    snprintf(text, sizeof(text),
             "%squery_filter = uid=%%u\nresult_attribute = mail\n"
             "scope = base\ndomain = example.com\n",
             base);
    parse(&b, text, NULL);
    map_ldap_cf_id(&b, &ib);
    assert_string_equal(buf_cstr(&ia), buf_cstr(&ib));
    map_ldap_cf_free(&b);
    /* whom to connect to and as whom is */
    static const char *const other[] = {
        "server_host = h2 h1\nbind_dn = cn=x\nbind_pw = pw1\n",
        "server_host = h1 h2\nbind_dn = cn=x\nbind_pw = pw2\n",
        "server_host = h1 h2\nbind_dn = cn=y\nbind_pw = pw1\n",
        "server_host = h1 h2\nbind_dn = cn=x\nbind_pw = pw1\nbind = no\n",
        "server_host = h1 h2\nbind_dn = cn=x\nbind_pw = pw1\nserver_port = 1389\n",
        "server_host = h1 h2\nbind_dn = cn=x\nbind_pw = pw1\nstart_tls = yes\n",
        "server_host = h1 h2\nbind_dn = cn=x\nbind_pw = pw1\ntls_ca_cert_file = /ca\n",
        "server_host = h1 h2\nbind_dn = cn=x\nbind_pw = pw1\nversion = 2\n",
        "server_host = h1 h2\nbind_dn = cn=x\nbind_pw = pw1\ntimeout = 3\n",
        NULL};
    for (int i = 0; other[i] != NULL; i++) {
        parse(&b, other[i], NULL);
        map_ldap_cf_id(&b, &ib);
        if (strcmp(buf_cstr(&ia), buf_cstr(&ib)) == 0)
            fail_msg("same connection id for \"%s\"", other[i]);
        map_ldap_cf_free(&b);
    }
    map_ldap_cf_free(&a);
    buf_free(&ia);
    buf_free(&ib);
}

/* closed_port - a loopback port with no listener. */
static int closed_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static char *write_cf(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void test_map_open_is_lazy_and_unsent_keys_need_no_server(void **state)
{
    char text[512], spec[300];
    struct buf why = BUF_INIT, value = BUF_INIT;
    snprintf(text, sizeof(text),
             "server_host = 127.0.0.1:%d\ntimeout = 2\nsearch_base = dc=example,dc=com\n"
             "query_filter = (&(uid=%%u)(dc=%%d))\ndomain = example.com\nbind_pw = pw-XYZ\n",
             closed_port());
    snprintf(spec, sizeof(spec), "ldap:%s", write_cf("t.cf", text));
    /* no server: the open works (nothing is connected yet) */
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    if (m == NULL)
        fail_msg("map_open: %s", buf_cstr(&why));
    /* keys that are never sent: no connection attempt, so "not found" */
    assert_int_equal(map_lookup(m, "alice", &value), 0);           /* no domain */
    assert_int_equal(map_lookup(m, "alice@other.org", &value), 0); /* not listed */
    assert_int_equal(map_lookup(m, "@example.com", &value), 0);    /* empty local part */
    assert_int_equal(map_lookup(m, "", &value), 0);
    /* a key that is sent: a temporary error naming the table and server */
    assert_int_equal(map_lookup(m, "alice@example.com", &value), -1);
    const char *err = map_error(m);
    if (strstr(err, spec) == NULL || strstr(err, "Can't contact LDAP server") == NULL)
        fail_msg("error: %s", err);
    assert_null(strstr(err, "pw-XYZ"));
    /* and again (the next lookup tries again, and fails the same way) */
    assert_int_equal(map_lookup(m, "ALICE@EXAMPLE.COM", &value), -1);
    map_close(m);
    /* a listed domain, but a part the filter needs is missing: not sent */
    snprintf(text, sizeof(text),
             "server_host = 127.0.0.1:%d\nquery_filter = (dc=%%3)\ndomain = example.com, "
             "mail.example.com\n",
             closed_port());
    snprintf(spec, sizeof(spec), "ldap:%s", write_cf("t3.cf", text));
    m = map_open(spec, MAP_FOLD_CASE, &why);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "alice@example.com", &value), 0);
    assert_int_equal(value.len, 0);
    assert_int_equal(map_lookup(m, "alice@mail.example.com", &value), -1);
    map_close(m);
    buf_free(&value);
    buf_free(&why);
}

static void test_map_open_errors(void **state)
{
    struct buf why = BUF_INIT;
    char spec[300];
    assert_null(map_open("ldap:/nonexistent/x.cf", 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "/nonexistent/x.cf"));
    buf_reset(&why);
    snprintf(spec, sizeof(spec), "ldap:%s", write_cf("bad.cf", "scope = all\n"));
    assert_null(map_open(spec, 0, &why));
    char want[400];
    snprintf(want, sizeof(want), "%s:1: scope: bad value \"all\": want sub, one or base", spec + 5);
    assert_string_equal(buf_cstr(&why), want);
    buf_reset(&why);
    snprintf(spec, sizeof(spec), "ldap:%s", write_cf("dom.cf", "domain = nosuch:table\n"));
    assert_null(map_open(spec, 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "nosuch"));
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_postfix_defaults),
        cmocka_unit_test(test_every_parameter),
        cmocka_unit_test(test_server_host_forms_and_failover_order),
        cmocka_unit_test(test_bind_yes_no_simple_none),
        cmocka_unit_test(test_result_filter_is_the_old_name_of_result_format),
        cmocka_unit_test(test_unknown_and_ignored_names_are_warnings_with_line),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_connection_ids),
        cmocka_unit_test(test_map_open_is_lazy_and_unsent_keys_need_no_server),
        cmocka_unit_test(test_map_open_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
