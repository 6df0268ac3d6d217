/* test_smtp_tls_policy - TLS policy entries ("level name=value ...") and
 * their lookup in smtp_tls_policy_maps in Postfix's order: an exact key for
 * "[host]:port" next hops, the domain then ".parent" keys otherwise, the
 * smtp_tls_security_level default last; invalid entries and failing tables
 * are errors (the mail is deferred), never a silent downgrade. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/smtp_tls_policy.h"

static char dir[] = "/tmp/test_smtp_tls_policy.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_smtp_tls_policy.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void open_ok(struct maps *ms, const char *value)
{
    struct buf why = BUF_INIT;
    if (maps_open(ms, "smtp_tls_policy_maps", value, MAP_FOLD_CASE, &why) < 0)
        fail_msg("maps_open %s: %s", value, buf_cstr(&why));
    buf_free(&why);
}

/* matches - the match list joined with "|". */
static const char *matches(const struct smtp_tls_policy *p)
{
    static char out[512];
    out[0] = 0;
    for (size_t i = 0; p->match[i] != NULL; i++) {
        if (i)
            strcat(out, "|");
        strcat(out, p->match[i]);
    }
    return out;
}

static void parse_bad(const char *value, const char *why_has)
{
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;
    if (smtp_tls_policy_parse(value, "example.com", &p, &why) != -1)
        fail_msg("\"%s\" parsed, want an error with \"%s\"", value, why_has);
    if (strstr(buf_cstr(&why), why_has) == NULL)
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", value, buf_cstr(&why), why_has);
    for (size_t i = 0; i <= SMTP_TLS_MATCH_MAX; i++)
        assert_null(p.match[i]);
    assert_null(p.protocols);
    smtp_tls_policy_free(&p);
    buf_free(&why);
}

static void test_level_names_round_trip_case_insensitively(void **state)
{
    assert_int_equal(smtp_tls_level_parse("none"), SMTP_TLS_NONE);
    assert_int_equal(smtp_tls_level_parse("MAY"), SMTP_TLS_MAY);
    assert_int_equal(smtp_tls_level_parse("Encrypt"), SMTP_TLS_ENCRYPT);
    assert_int_equal(smtp_tls_level_parse("verify"), SMTP_TLS_VERIFY);
    assert_int_equal(smtp_tls_level_parse("secure"), SMTP_TLS_SECURE);
    assert_int_equal(smtp_tls_level_parse("dane"), -1);
    assert_int_equal(smtp_tls_level_parse("dane-only"), -1);
    assert_int_equal(smtp_tls_level_parse("fingerprint"), -1);
    assert_int_equal(smtp_tls_level_parse(""), -1);
    assert_int_equal(smtp_tls_level_parse(NULL), -1);
    for (int l = SMTP_TLS_NONE; l <= SMTP_TLS_SECURE; l++)
        assert_int_equal(smtp_tls_level_parse(smtp_tls_level_name(l)), l);
}

static void test_entry_with_attributes_is_parsed(void **state)
{
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;
    assert_int_equal(smtp_tls_policy_parse("verify match=hostname:nexthop:mx.example.net, "
                                           "ciphers=high protocols=>=TLSv1.2 "
                                           "servername=sni.example.com exclude=3DES",
                                           "example.com", &p, &why),
                     0);
    assert_int_equal(p.level, SMTP_TLS_VERIFY);
    assert_string_equal(matches(&p), "hostname|example.com|mx.example.net");
    assert_string_equal(p.ciphers, "high");
    assert_string_equal(p.protocols, ">=TLSv1.2");
    assert_string_equal(p.servername, "sni.example.com");
    assert_string_equal(p.source, "smtp_tls_policy_maps");
    smtp_tls_policy_free(&p);
    smtp_tls_policy_free(&p); /* safe twice */
    buf_free(&why);
}

static void test_repeated_match_attributes_are_a_union_in_order(void **state)
{
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;
    assert_int_equal(smtp_tls_policy_parse("secure match=dot-nexthop match=a.example:B.example",
                                           "example.com", &p, &why),
                     0);
    assert_string_equal(matches(&p), ".example.com|a.example|B.example");
    smtp_tls_policy_free(&p);
    buf_free(&why);
}

static void test_levels_get_their_default_match_and_empty_strings(void **state)
{
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;
    assert_int_equal(smtp_tls_policy_parse("verify", "example.com", &p, &why), 0);
    assert_string_equal(matches(&p), "hostname");
    smtp_tls_policy_free(&p);
    assert_int_equal(smtp_tls_policy_parse("SECURE", "example.com", &p, &why), 0);
    assert_int_equal(p.level, SMTP_TLS_SECURE);
    assert_string_equal(matches(&p), "example.com|.example.com");
    smtp_tls_policy_free(&p);
    assert_int_equal(smtp_tls_policy_parse("  encrypt  ", "example.com", &p, &why), 0);
    assert_int_equal(p.level, SMTP_TLS_ENCRYPT);
    assert_null(p.match[0]);
    assert_string_equal(p.protocols, "");
    assert_string_equal(p.ciphers, "");
    assert_string_equal(p.servername, "");
    smtp_tls_policy_free(&p);
    buf_free(&why);
}

static void test_invalid_entries_are_errors_not_downgrades(void **state)
{
    parse_bad("", "empty TLS policy");
    parse_bad(" , ", "empty TLS policy");
    parse_bad("dane", "invalid TLS security level \"dane\"");
    parse_bad("fingerprint match=aa:bb", "invalid TLS security level");
    parse_bad("encrypt foo=bar", "unknown attribute \"foo\"");
    parse_bad("encrypt ciphers", "malformed attribute/value pair");
    parse_bad("encrypt =x", "malformed attribute/value pair");
    parse_bad("may match=hostname", "invalid at security level \"may\"");
    parse_bad("encrypt match=hostname", "invalid at security level \"encrypt\"");
    parse_bad("verify match=", "empty value");
    parse_bad("verify ciphers=", "empty value");
    parse_bad("verify ciphers=high ciphers=medium", "multiple times");
    parse_bad("verify protocols=TLSv1.2 protocols=TLSv1.3", "multiple times");
    parse_bad("verify exclude=a exclude=b", "multiple times");
    parse_bad("verify servername=bad_host!", "invalid hostname");
    parse_bad("verify match=1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17", "too many match names");
    /* a failure after match names were collected frees them */
    parse_bad("verify match=a:b:c bogus=1", "unknown attribute \"bogus\"");
}

static void test_sixteen_match_names_fit(void **state)
{
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;
    assert_int_equal(smtp_tls_policy_parse("verify match=1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16",
                                           "example.com", &p, &why),
                     0);
    assert_string_equal(p.match[15], "16");
    assert_null(p.match[16]);
    smtp_tls_policy_free(&p);
    buf_free(&why);
}

/* find - smtp_tls_policy_find, checked against the level and source. */
static void find(struct maps *ms, const char *nexthop, const char *domain, const char *def,
                 int want_level, const char *want_source, const char *want_match)
{
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;
    if (smtp_tls_policy_find(ms, nexthop, domain, def, &p, &why) != 0)
        fail_msg("%s: %s", nexthop, buf_cstr(&why));
    if ((int)p.level != want_level)
        fail_msg("%s: level %s, want %s", nexthop, smtp_tls_level_name(p.level),
                 smtp_tls_level_name(want_level));
    assert_string_equal(p.source, want_source);
    if (want_match)
        assert_string_equal(matches(&p), want_match);
    smtp_tls_policy_free(&p);
    buf_free(&why);
}

static void test_domain_then_dot_parents_then_default(void **state)
{
    struct maps ms;
    open_ok(&ms, "inline:{ example.com=secure, .example.com=encrypt, .org=verify }");
    /* the domain itself */
    find(&ms, "example.com", "example.com", "may", SMTP_TLS_SECURE, "smtp_tls_policy_maps",
         "example.com|.example.com");
    /* a subdomain matches the ".parent" entry, not "example.com" */
    find(&ms, "mail.example.com", "mail.example.com", "may", SMTP_TLS_ENCRYPT,
         "smtp_tls_policy_maps", NULL);
    find(&ms, "a.b.example.com", "a.b.example.com", "may", SMTP_TLS_ENCRYPT, "smtp_tls_policy_maps",
         NULL);
    find(&ms, "x.example.org", "x.example.org", "may", SMTP_TLS_VERIFY, "smtp_tls_policy_maps",
         "hostname");
    /* keys fold case */
    find(&ms, "MAIL.Example.COM", "MAIL.Example.COM", "may", SMTP_TLS_ENCRYPT,
         "smtp_tls_policy_maps", NULL);
    /* nothing in the table: the default level */
    find(&ms, "example.net", "example.net", "may", SMTP_TLS_MAY, "smtp_tls_security_level", "");
    find(&ms, "example.net", "example.net", "", SMTP_TLS_NONE, "smtp_tls_security_level", "");
    find(&ms, "example.net", "example.net", NULL, SMTP_TLS_NONE, "smtp_tls_security_level", "");
    find(&ms, "example.net", "example.net", "secure", SMTP_TLS_SECURE, "smtp_tls_security_level",
         "example.net|.example.net");
    maps_close(&ms);
}

static void test_bracketed_next_hop_is_one_exact_key(void **state)
{
    struct maps ms;
    char path[256];
    snprintf(path, sizeof(path), "%s/policy", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[mx.example.net]:587  verify match=hostname:nexthop ciphers=high\n"
          "[10.0.0.1]             encrypt\n"
          "mx.example.net         none\n"
          ".example.net           none\n",
          f);
    assert_int_equal(fclose(f), 0);
    char spec[300];
    snprintf(spec, sizeof(spec), "texthash:%s", path);
    open_ok(&ms, spec);
    find(&ms, "[mx.example.net]:587", "mx.example.net", "may", SMTP_TLS_VERIFY,
         "smtp_tls_policy_maps", "hostname|mx.example.net");
    find(&ms, "[10.0.0.1]", "10.0.0.1", "may", SMTP_TLS_ENCRYPT, "smtp_tls_policy_maps", NULL);
    /* another port, or no brackets with a port: no parent or host fallback */
    find(&ms, "[mx.example.net]:25", "mx.example.net", "may", SMTP_TLS_MAY,
         "smtp_tls_security_level", NULL);
    find(&ms, "mx.example.net:587", "mx.example.net", "secure", SMTP_TLS_SECURE,
         "smtp_tls_security_level", "mx.example.net|.mx.example.net");
    /* a plain domain walks its parents */
    find(&ms, "sub.example.net", NULL, "encrypt", SMTP_TLS_NONE, "smtp_tls_policy_maps", NULL);
    maps_close(&ms);
}

static void test_invalid_table_entry_or_default_is_an_error(void **state)
{
    struct maps ms;
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;
    open_ok(&ms, "inline:{ bad.example=dane, {.ugly.example = verify colour=blue} }");
    assert_int_equal(smtp_tls_policy_find(&ms, "bad.example", "bad.example", "may", &p, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "invalid TLS policy for bad.example"));
    assert_non_null(strstr(buf_cstr(&why), "invalid TLS security level \"dane\""));
    smtp_tls_policy_free(&p);
    assert_int_equal(
        smtp_tls_policy_find(&ms, "mx.ugly.example", "mx.ugly.example", "may", &p, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "unknown attribute \"colour\""));
    smtp_tls_policy_free(&p);
    /* a bad default level is an error as well */
    assert_int_equal(smtp_tls_policy_find(&ms, "ok.example", "ok.example", "sometimes", &p, &why),
                     -1);
    assert_non_null(strstr(buf_cstr(&why), "smtp_tls_security_level"));
    smtp_tls_policy_free(&p);
    /* no table at all: the default */
    assert_int_equal(smtp_tls_policy_find(NULL, "ok.example", NULL, "encrypt", &p, &why), 0);
    assert_int_equal(p.level, SMTP_TLS_ENCRYPT);
    smtp_tls_policy_free(&p);
    maps_close(&ms);
    buf_free(&why);
}

static void test_failing_table_defers_instead_of_defaulting(void **state)
{
    struct maps ms;
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;
    open_ok(&ms, "fail:database_down");
    assert_int_equal(smtp_tls_policy_find(&ms, "example.com", "example.com", "may", &p, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "TLS policy lookup for example.com"));
    smtp_tls_policy_free(&p);
    maps_close(&ms);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_names_round_trip_case_insensitively),
        cmocka_unit_test(test_entry_with_attributes_is_parsed),
        cmocka_unit_test(test_repeated_match_attributes_are_a_union_in_order),
        cmocka_unit_test(test_levels_get_their_default_match_and_empty_strings),
        cmocka_unit_test(test_invalid_entries_are_errors_not_downgrades),
        cmocka_unit_test(test_sixteen_match_names_fit),
        cmocka_unit_test(test_domain_then_dot_parents_then_default),
        cmocka_unit_test(test_bracketed_next_hop_is_one_exact_key),
        cmocka_unit_test(test_invalid_table_entry_or_default_is_an_error),
        cmocka_unit_test(test_failing_table_defers_instead_of_defaulting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
