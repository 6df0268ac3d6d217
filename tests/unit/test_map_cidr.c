/* test_map_cidr - cidr: tables: first match in file order, IPv4 and IPv6
 * (with and without brackets), /0, /32, /128, IPv4-mapped keys, negation,
 * if/endif blocks, comments and continuation lines, reloading through
 * map_open, and the errors (with FILE:LINE) of hostile or broken files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps/map.h"
#include "maps/map_file.h"
#include "maps/map_types.h"
#include "util/buf.h"

static char dir[] = "/tmp/test_map_cidr.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_map_cidr.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct map_cidr_table *parse(const char *text)
{
    struct buf why = BUF_INIT;
    struct map_cidr_table *t = map_cidr_parse(text, strlen(text), "t.cidr", &why);
    if (t == NULL)
        fail_msg("parse: %s", buf_cstr(&why));
    buf_free(&why);
    return t;
}

/* parse_fails - the text is rejected with exactly this reason. */
static void parse_fails(const char *text, size_t len, const char *want)
{
    struct buf why = BUF_INIT;
    struct map_cidr_table *t = map_cidr_parse(text, len, "t.cidr", &why);
    if (t != NULL)
        fail_msg("accepted: %s", text);
    if (strcmp(buf_cstr(&why), want) != 0)
        fail_msg("reason \"%s\", want \"%s\"", buf_cstr(&why), want);
    buf_free(&why);
}

static void match(const struct map_cidr_table *t, const char *key, const char *want)
{
    struct buf v = BUF_INIT;
    int r = map_cidr_match(t, key, &v);
    if (want == NULL && r != 0)
        fail_msg("%s: found \"%s\", want not found", key, buf_cstr(&v));
    if (want != NULL && r != 1)
        fail_msg("%s: not found, want \"%s\"", key, want);
    if (want != NULL)
        assert_string_equal(buf_cstr(&v), want);
    buf_free(&v);
}

static void test_first_match_in_file_order(void **state)
{
    struct map_cidr_table *t = parse("# client networks\n"
                                     "192.0.2.7          REJECT this one\n"
                                     "192.0.2.0/24       OK\n"
                                     "\n"
                                     "192.0.2.0/25       never: the /24 comes first\n"
                                     "2001:db8::/32      OK six\n"
                                     "[2001:db8:1::1]    never\n"
                                     "[198.51.100.0]/24  bracketed\n"
                                     "[203.0.113.0/24]   bracketed too\n");
    match(t, "192.0.2.7", "REJECT this one");
    match(t, "192.0.2.1", "OK");
    match(t, "192.0.2.100", "OK");
    match(t, "192.0.3.1", NULL);
    match(t, "2001:db8:1::1", "OK six");
    match(t, "2001:DB8::", "OK six");
    match(t, "198.51.100.250", "bracketed");
    match(t, "203.0.113.1", "bracketed too");
    map_cidr_free(t);
}

static void test_prefix_edges_zero_32_and_128(void **state)
{
    struct map_cidr_table *t = parse("10.1.2.3/32 exact4\n"
                                     "2001:db8::5/128 exact6\n"
                                     "0.0.0.0/0 any4\n"
                                     "::/0 any6\n");
    match(t, "10.1.2.3", "exact4");
    match(t, "10.1.2.4", "any4");
    match(t, "255.255.255.255", "any4");
    match(t, "0.0.0.0", "any4");
    match(t, "2001:db8::5", "exact6");
    match(t, "2001:db8::6", "any6");
    match(t, "::", "any6");
    map_cidr_free(t);
}

static void test_ipv4_mapped_key_matches_ipv4_network_only(void **state)
{
    struct map_cidr_table *t = parse("192.0.2.0/24 v4\n::ffff:198.51.100.0/120 v6-mapped\n");
    match(t, "::ffff:192.0.2.1", "v4");
    match(t, "::FFFF:c000:0201", "v4");
    match(t, "::192.0.2.1", NULL); /* IPv4-compatible, not mapped */
    match(t, "::ffff:198.51.100.9", "v6-mapped");
    match(t, "198.51.100.9", NULL); /* an IPv6 network holds no IPv4 address */
    map_cidr_free(t);
}

static void test_keys_that_are_not_addresses_are_not_found(void **state)
{
    struct map_cidr_table *t = parse("0.0.0.0/0 any\n::/0 any6\n");
    match(t, "", NULL);
    match(t, "example.com", NULL);
    match(t, "192.0.2.1/32", NULL);
    match(t, "[192.0.2.1]", NULL);
    match(t, "192.0.2", NULL);
    match(t, "1.2.3.4 ", NULL);
    match(t, "fe80::1%eth0", NULL);
    char big[5000];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    match(t, big, NULL);
    map_cidr_free(t);
}

static void test_negation_and_nested_if_blocks(void **state)
{
    struct map_cidr_table *t = parse("if 10.0.0.0/8\n"
                                     "if !10.1.0.0/16\n"
                                     "10.2.3.0/24 deep\n"
                                     "endif\n"
                                     "10.1.2.3 in 10.1\n"
                                     "!10.1.0.0/16 in 10 outside 10.1\n"
                                     "ENDIF\n"
                                     "!192.0.2.0/24 outside the test net\n"
                                     "192.0.2.9 inside the test net\n");
    match(t, "10.2.3.4", "deep");
    match(t, "10.1.2.3", "in 10.1");
    match(t, "10.1.2.4", "outside the test net"); /* fell out of the 10/8 block */
    match(t, "10.9.9.9", "in 10 outside 10.1");
    match(t, "11.0.0.1", "outside the test net");
    match(t, "192.0.2.9", "inside the test net");
    match(t, "192.0.2.8", NULL);
    map_cidr_free(t);
    /* a failed if skips its whole block, nested blocks included */
    t = parse("if 10.0.0.0/8\nif 0.0.0.0/0\n0.0.0.0/0 inner\nendif\nendif\n0.0.0.0/0 outer\n");
    match(t, "11.1.1.1", "outer");
    match(t, "10.1.1.1", "inner");
    map_cidr_free(t);
    t = parse("if 10.0.0.0/8\nendif\n");
    match(t, "10.0.0.1", NULL);
    map_cidr_free(t);
}

static void test_comments_continuations_and_crlf(void **state)
{
    struct map_cidr_table *t = parse("   # indented comment\r\n"
                                     "192.0.2.0/24 REJECT spam\r\n"
                                     "  from this network\r\n"
                                     "# between\n"
                                     "\t and more\n"
                                     "198.51.100.1\tOK\t \n");
    match(t, "192.0.2.1", "REJECT spam from this network and more");
    match(t, "198.51.100.1", "OK");
    map_cidr_free(t);
    t = parse("");
    match(t, "192.0.2.1", NULL);
    map_cidr_free(t);
}

static void test_bad_files_fail_with_file_and_line(void **state)
{
#define FAILS(text, want) parse_fails(text, strlen(text), want)
    FAILS("192.0.2.0/24 OK\n10.0.0.1/8 OK\n",
          "t.cidr:2: bad network: \"10.0.0.1/8\": host bits are set (the network is 10.0.0.0/8)");
    FAILS("2001:db8::1/64 x\n", "t.cidr:1: bad network: \"2001:db8::1/64\": host bits are set "
                                "(the network is 2001:db8::/64)");
    FAILS("10.0.0.0/33 x\n", "t.cidr:1: bad network: \"10.0.0.0/33\": prefix length must be 0 "
                             "to 32");
    FAILS("::/129 x\n", "t.cidr:1: bad network: \"::/129\": prefix length must be 0 to 128");
    FAILS("1.2.3 x\n", "t.cidr:1: bad address: \"1.2.3\": not an IPv4 address");
    FAILS("example.com OK\n", "t.cidr:1: bad address: \"example.com\": not an IPv4 address");
    FAILS("# c\n192.0.2.1\n", "t.cidr:2: missing result after \"192.0.2.1\"");
    FAILS("! x\n", "t.cidr:1: missing network after '!'");
    FAILS("a b\nendif\n", "t.cidr:1: bad address: \"a\": not an IPv4 address");
    FAILS("192.0.2.1 x\nendif\n", "t.cidr:2: endif without if");
    FAILS("if 10.0.0.0/8\nif 10.0.0.0/9\nendif\n", "t.cidr:1: if without endif");
    FAILS("if 10.0.0.0/8\nendif\nif 10.0.0.0/9\n", "t.cidr:3: if without endif");
    FAILS("if 10.0.0.0/8\n10.0.0.1 x\n", "t.cidr:1: if without endif");
    FAILS("if 10.0.0.0/8\nendif x\n", "t.cidr:2: text after endif: \"x\"");
    FAILS("if\n", "t.cidr:1: missing network after if");
    FAILS("if 10.0.0.0/8 OK\nendif\n", "t.cidr:1: text after if network: \"OK\" (rules inside "
                                       "if/endif must not start with white space)");
    FAILS(" 10.0.0.0/8 x\n", "t.cidr:1: continuation line before any rule");
    parse_fails("10.0.0.0/8 a\n10.\0.0.0/8 b\n", 26, "t.cidr:2: NUL byte in line");
#undef FAILS
}

static void test_huge_lines_are_rejected_and_many_rules_work(void **state)
{
    size_t n = (size_t)MAP_FILE_MAX_LINE + 100;
    char *text = malloc(n + 1);
    memcpy(text, "10.0.0.0/8 ", 11);
    memset(text + 11, 'x', n - 11);
    text[n] = 0;
    struct buf why = BUF_INIT;
    assert_null(map_cidr_parse(text, n, "t.cidr", &why));
    assert_non_null(strstr(buf_cstr(&why), "t.cidr:1: line longer than"));
    free(text);
    /* and through continuation lines (with blank lines between) */
    n = 2 * (size_t)MAP_FILE_MAX_LINE;
    text = malloc(n);
    memcpy(text, "10.0.0.0/8 x\n", 13);
    size_t len = 13;
    for (; len + 100 <= n; len += 100) {
        memset(text + len, 'y', 100);
        text[len] = ' ';
        text[len + 98] = text[len + 99] = '\n';
    }
    buf_reset(&why);
    assert_null(map_cidr_parse(text, len, "t.cidr", &why));
    assert_non_null(strstr(buf_cstr(&why), "t.cidr:1: line longer than"));
    free(text);
    buf_free(&why);
    /* 65536 rules, the last one decides */
    struct buf big = BUF_INIT;
    for (unsigned i = 0; i < 65536; i++)
        buf_printf(&big, "10.%u.%u.0/24 net%u\n", i >> 8, i & 255, i);
    struct map_cidr_table *t = parse(buf_cstr(&big));
    match(t, "10.255.255.1", "net65535");
    match(t, "10.0.0.1", "net0");
    match(t, "11.0.0.1", NULL);
    map_cidr_free(t);
    buf_free(&big);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_map_open_lookup_and_reload(void **state)
{
    char path[300], spec[320];
    snprintf(path, sizeof(path), "%s/clients.cidr", dir);
    snprintf(spec, sizeof(spec), "cidr:%s", path);
    write_file(path, "192.0.2.0/24 REJECT Go Away\n");
    struct buf why = BUF_INIT, v = BUF_INIT;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    if (m == NULL)
        fail_msg("%s", buf_cstr(&why));
    assert_int_equal(map_lookup(m, "192.0.2.3", &v), 1);
    assert_string_equal(buf_cstr(&v), "REJECT Go Away"); /* results are not folded */
    assert_int_equal(map_lookup(m, "198.51.100.1", &v), 0);
    write_file(path, "198.51.100.0/24 OK\n\n");
    map_check_now(m);
    assert_int_equal(map_lookup(m, "198.51.100.1", &v), 1);
    assert_string_equal(buf_cstr(&v), "OK");
    assert_int_equal(map_lookup(m, "192.0.2.3", &v), 0);
    /* a broken edit makes lookups fail temporarily, naming the line */
    write_file(path, "198.51.100.0/24 OK\n10.0.0.1/8 x\n");
    map_check_now(m);
    assert_int_equal(map_lookup(m, "198.51.100.1", &v), -1);
    assert_non_null(strstr(map_error(m), "clients.cidr:2: bad network"));
    map_close(m);
    /* map_open reports the same */
    buf_reset(&why);
    assert_null(map_open(spec, 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "clients.cidr:2: bad network: \"10.0.0.1/8\""));
    buf_reset(&why);
    assert_null(map_open("cidr:/nonexistent/t.cidr", 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "/nonexistent/t.cidr"));
    buf_reset(&why);
    assert_null(map_open("cidr:", 0, &why));
    /* cidr tables cannot be built */
    buf_reset(&why);
    assert_null(map_open(spec, MAP_UPDATE, &why));
    buf_free(&why);
    buf_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_match_in_file_order),
        cmocka_unit_test(test_prefix_edges_zero_32_and_128),
        cmocka_unit_test(test_ipv4_mapped_key_matches_ipv4_network_only),
        cmocka_unit_test(test_keys_that_are_not_addresses_are_not_found),
        cmocka_unit_test(test_negation_and_nested_if_blocks),
        cmocka_unit_test(test_comments_continuations_and_crlf),
        cmocka_unit_test(test_bad_files_fail_with_file_and_line),
        cmocka_unit_test(test_huge_lines_are_rejected_and_many_rules_work),
        cmocka_unit_test(test_map_open_lookup_and_reload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
