/* test_map_query - the %-templates of query tables: %s %u %d, their upper-case
 * forms, %1..%9, %%, suppression when a part is missing, RFC 4515 filter
 * quoting (a key can never change a filter's structure) and RFC 4514 DN
 * quoting, template checks, and the "domain" restriction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps/map_query.h"
#include "util/buf.h"

/* expands - fmt with value and key gives want (or is suppressed: NULL). */
static void expands(const char *fmt, const char *value, const char *key, enum map_query_quote quote,
                    const char *want)
{
    struct buf out = BUF_INIT;
    buf_puts(&out, "<");
    int r = map_query_expand(&out, fmt, value, key, quote);
    if (want == NULL) {
        if (r != 0)
            fail_msg("\"%s\" of \"%s\"/\"%s\": want suppressed, got %d \"%s\"", fmt, value, key, r,
                     buf_cstr(&out));
        if (strcmp(buf_cstr(&out), "<") != 0)
            fail_msg("\"%s\": suppressed expansion left \"%s\"", fmt, buf_cstr(&out));
    } else {
        if (r != 1)
            fail_msg("\"%s\" of \"%s\"/\"%s\": want \"%s\", got %d", fmt, value, key, want, r);
        if (strcmp(buf_cstr(&out) + 1, want) != 0)
            fail_msg("\"%s\" of \"%s\"/\"%s\": got \"%s\", want \"%s\"", fmt, value, key,
                     buf_cstr(&out) + 1, want);
    }
    buf_free(&out);
}

static void query(const char *fmt, const char *key, const char *want)
{
    expands(fmt, key, key, MAP_QUOTE_LDAP_FILTER, want);
}

static void test_s_u_d_and_percent(void **state)
{
    query("(mail=%s)", "alice@example.com", "(mail=alice@example.com)");
    query("(&(uid=%u)(dc=%d))", "alice@example.com", "(&(uid=alice)(dc=example.com))");
    query("uid=%u", "alice", "uid=alice");
    query("%S|%U|%D", "a@b.c", "a@b.c|a|b.c");
    query("100%% %s", "x", "100% x");
    query("no expansions", "x", "no expansions");
    /* the last '@' splits, as Postfix's strrchr */
    query("%u %d", "a@b@c.d", "a@b c.d");
}

static void test_missing_parts_suppress_the_query(void **state)
{
    query("(|(uid=%u)(mail=%d))", "alice", NULL); /* %d of a key without '@' */
    query("(uid=%u)", "@example.com", NULL);      /* empty local part */
    query("(dc=%d)", "alice@", NULL);             /* empty domain */
    query("(mail=%s)", "", NULL);
    query("%S", "", NULL);
}

static void test_domain_labels_from_the_right(void **state)
{
    const char *k = "user@mail.example.com";
    query("%1", k, "com");
    query("%2", k, "example");
    query("%3", k, "mail");
    query("dc=%3,dc=%2,dc=%1", k, "dc=mail,dc=example,dc=com");
    query("%4", k, NULL); /* too few labels */
    query("%9", k, NULL);
    query("%1", "user", NULL); /* unqualified */
    query("%1", "user@com", "com");
    query("%2", "user@com", NULL);
    query("%1", "user@example.com.", NULL); /* an empty label is not a label */
    query("%2", "user@a..com", NULL);
}

static void test_filter_quoting_of_specials_and_bytes(void **state)
{
    query("(mail=%s)", "*", "(mail=\\2A)");
    query("(mail=%s)", "*)(uid=*", "(mail=\\2A\\29\\28uid=\\2A)");
    query("(cn=%s)", "a\\b", "(cn=a\\5Cb)");
    query("(cn=%s)", "(x)", "(cn=\\28x\\29)");
    query("(cn=%s)", "j\xc3\xbcrgen", "(cn=j\\C3\\BCrgen)");
    query("(cn=%s)", "tab\there\x7f", "(cn=tab\\09here\\7F)");
    query("(cn=%u)", "*@x", "(cn=\\2A)");
    query("(cn=%2)", "a@(.x", "(cn=\\28)");
    /* every part is quoted, whatever expansion it came from */
    query("%S %U %D", "*(@)\\", "\\2A\\28@\\29\\5C \\2A\\28 \\29\\5C");
    /* NUL inside a counted string */
    struct buf out = BUF_INIT;
    map_query_quote(&out, "a\0b", 3, MAP_QUOTE_LDAP_FILTER);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "a\\00b", 5);
    buf_free(&out);
}

static void test_filter_quoting_keeps_structure(void **state)
{
    /* Whatever the key, the quoted part contains no filter metacharacter
     * and every backslash starts a hex pair. */
    static const char *const keys[] = {"*",    "*)(uid=*",   ")(|(objectClass=*", "\\2a", "a\\",
                                       "((((", "x\x01y\x1f", "\xff\x80",          NULL};
    for (int i = 0; keys[i] != NULL; i++) {
        struct buf out = BUF_INIT;
        map_query_quote(&out, keys[i], strlen(keys[i]), MAP_QUOTE_LDAP_FILTER);
        for (size_t j = 0; j < out.len; j++) {
            unsigned char c = (unsigned char)out.data[j];
            if (c == '(' || c == ')' || c == '*' || c < 0x20 || c >= 0x7f)
                fail_msg("key %d: byte 0x%02x unquoted in \"%s\"", i, c, out.data);
            if (c == '\\') {
                if (j + 2 >= out.len)
                    fail_msg("key %d: backslash at the end", i);
                if (!strchr("0123456789ABCDEF", out.data[j + 1]) ||
                    !strchr("0123456789ABCDEF", out.data[j + 2]))
                    fail_msg("key %d: backslash without hex pair in \"%s\"", i, out.data);
                j += 2;
            }
        }
        buf_free(&out);
    }
}

static void test_dn_quoting(void **state)
{
    expands("ou=%s,dc=example", "a,b", "a,b", MAP_QUOTE_LDAP_DN, "ou=a\\,b,dc=example");
    expands("cn=%s", "#x y ", "#x y ", MAP_QUOTE_LDAP_DN, "cn=\\#x y\\ ");
    expands("cn=%s", " a+b=c;<d>\"\\", " a+b=c;<d>\"\\", MAP_QUOTE_LDAP_DN,
            "cn=\\ a\\+b\\=c\\;\\<d\\>\\\"\\\\");
    expands("cn=%s", "\xc3\xa9\n", "\xc3\xa9\n", MAP_QUOTE_LDAP_DN, "cn=\\C3\\A9\\0A");
}

static void test_result_format_value_and_key(void **state)
{
    /* lower case: the result value; upper case and digits: the lookup key */
    const char *key = "Alice@Example.COM";
    expands("smtp:[%s]", "mx.example.net", key, MAP_QUOTE_NONE, "smtp:[mx.example.net]");
    expands("%u+%U@%d", "bob@mail.test", key, MAP_QUOTE_NONE, "bob+Alice@mail.test");
    expands("%s via %D %1", "v", key, MAP_QUOTE_NONE, "v via Example.COM COM");
    expands("%d", "unqualified", key, MAP_QUOTE_NONE, NULL); /* value skipped */
    expands("%u", "@only.domain", key, MAP_QUOTE_NONE, NULL);
    expands("%D", "v", "nodomain", MAP_QUOTE_NONE, NULL);
    expands("%s", "*()\\", key, MAP_QUOTE_NONE, "*()\\"); /* results are not quoted */
}

static void test_template_checks(void **state)
{
    struct buf why = BUF_INIT;
    assert_int_equal(map_query_check("(&(mail=%s)(x=%%)(%u %d %S %U %D %1 %9))", &why), 0);
    assert_int_equal(map_query_check("", &why), 0);
    assert_int_equal(map_query_check("(mail=%x)", &why), -1);
    assert_string_equal(buf_cstr(&why), "unknown expansion \"%x\" in \"(mail=%x)\"");
    assert_int_equal(map_query_check("%0", &why), -1);
    assert_int_equal(map_query_check("abc%", &why), -1);
    assert_string_equal(buf_cstr(&why), "'%' at the end of \"abc%\"");
    /* an invalid template never half-expands */
    struct buf out = BUF_INIT;
    buf_puts(&out, "keep");
    assert_int_equal(map_query_expand(&out, "x=%s%", "k", "k", MAP_QUOTE_NONE), -1);
    assert_int_equal(map_query_expand(&out, "x=%s%q", "k", "k", MAP_QUOTE_NONE), -1);
    assert_string_equal(buf_cstr(&out), "keep");
    buf_free(&out);
    buf_free(&why);
}

static void domain_is(struct map_query_domain *d, const char *key, int want)
{
    struct buf why = BUF_INIT;
    int r = map_query_domain_check(d, key, &why);
    if (r != want)
        fail_msg("domain check of \"%s\": %d, want %d (%s)", key, r, want, buf_cstr(&why));
    buf_free(&why);
}

static void test_domain_restriction(void **state)
{
    struct buf why = BUF_INIT;
    struct map_query_domain *d =
        map_query_domain_create("domain", "example.com, Example.ORG .sub.test", &why);
    assert_non_null(d);
    domain_is(d, "alice@example.com", 1);
    domain_is(d, "alice@EXAMPLE.COM", 1);
    domain_is(d, "bob@example.org", 1);
    domain_is(d, "carol@deep.sub.test", 1);    /* ".sub.test": under it */
    domain_is(d, "carol@mail.example.com", 0); /* exact names only */
    domain_is(d, "carol@example.net", 0);
    domain_is(d, "alice", 0);           /* no '@': never looked up */
    domain_is(d, "@example.com", 0);    /* empty local part */
    domain_is(d, "alice@", 0);          /* empty domain */
    domain_is(d, "a@b@example.com", 1); /* the last '@' */
    map_query_domain_free(d);

    char dir[] = "/tmp/test_map_query.XXXXXX", path[128], spec[160];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/domains", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("listed.test ok\n", f);
    fclose(f);
    snprintf(spec, sizeof(spec), "texthash:%s", path);
    d = map_query_domain_create("domain", spec, &why);
    assert_non_null(d);
    domain_is(d, "x@listed.test", 1);
    domain_is(d, "x@other.test", 0);
    map_query_domain_free(d);
    unlink(path);
    rmdir(dir);

    assert_null(map_query_domain_create("domain", "nosuchtype:/x", &why));
    assert_non_null(strstr(buf_cstr(&why), "nosuchtype"));
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s_u_d_and_percent),
        cmocka_unit_test(test_missing_parts_suppress_the_query),
        cmocka_unit_test(test_domain_labels_from_the_right),
        cmocka_unit_test(test_filter_quoting_of_specials_and_bytes),
        cmocka_unit_test(test_filter_quoting_keeps_structure),
        cmocka_unit_test(test_dn_quoting),
        cmocka_unit_test(test_result_format_value_and_key),
        cmocka_unit_test(test_template_checks),
        cmocka_unit_test(test_domain_restriction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
