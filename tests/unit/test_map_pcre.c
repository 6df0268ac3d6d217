/* test_map_pcre - pcre: tables: Postfix's defaults (case-insensitive,
 * dot matches newline) and flags, $n / ${n} / $(n) / $$ in results,
 * negation, nested if/endif, other delimiters, the match limit as a
 * temporary failure, reloading through map_open, and the FILE:LINE errors
 * of broken or hostile files. */
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

static char dir[] = "/tmp/test_map_pcre.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_map_pcre.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct map_re_table *parse(const char *text)
{
    struct buf why = BUF_INIT;
    struct map_re_table *t = map_re_parse(text, strlen(text), "t.pcre", &map_pcre_engine, &why);
    if (t == NULL)
        fail_msg("parse: %s", buf_cstr(&why));
    buf_free(&why);
    return t;
}

static void parse_fails(const char *text, const char *want)
{
    struct buf why = BUF_INIT;
    struct map_re_table *t = map_re_parse(text, strlen(text), "t.pcre", &map_pcre_engine, &why);
    if (t != NULL)
        fail_msg("accepted: %s", text);
    if (strstr(buf_cstr(&why), want) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", buf_cstr(&why), want);
    buf_free(&why);
}

/* match - want NULL: not found; else the value. */
static void match(const struct map_re_table *t, const char *key, const char *want)
{
    struct buf v = BUF_INIT, why = BUF_INIT;
    int r = map_re_match(t, key, &v, &why);
    if (r < 0)
        fail_msg("%.60s: error %s", key, buf_cstr(&why));
    if (want == NULL && r != 0)
        fail_msg("%.60s: found \"%s\", want not found", key, buf_cstr(&v));
    if (want != NULL && r != 1)
        fail_msg("%.60s: not found, want \"%s\"", key, want);
    if (want != NULL)
        assert_string_equal(buf_cstr(&v), want);
    buf_free(&v);
    buf_free(&why);
}

static void test_first_match_case_insensitive_by_default(void **state)
{
    struct map_re_table *t = parse("/^user@example\\.com$/  OK exact\n"
                                   "/@example\\.com$/       REJECT Domain\n"
                                   "/^Exact$/i              case sensitive\n");
    match(t, "USER@Example.COM", "OK exact");
    match(t, "other@example.com", "REJECT Domain");
    match(t, "Exact", "case sensitive");
    match(t, "exact", NULL);
    match(t, "example.org", NULL);
    match(t, "", NULL);
    map_re_free(t);
}

static void test_substitution_forms_and_missing_groups(void **state)
{
    struct map_re_table *t = parse("/^(\\w+)\\+(\\w+)?@(.*)$/ user=$1 ext=${2} dom=$(3) $$1 $$$1\n"
                                   "/^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)$/ $11$10-${1}0\n"
                                   "/^(x)|(y)$/ [$1][$2]\n"
                                   "/^literal$/ costs $$5\n");
    match(t, "joe+list@example.com", "user=joe ext=list dom=example.com $1 $joe");
    match(t, "joe+@example.com", "user=joe ext= dom=example.com $1 $joe");
    match(t, "abcdefghijk", "kj-a0");
    match(t, "x", "[x][]");
    match(t, "y", "[][y]");
    match(t, "literal", "costs $5");
    map_re_free(t);
}

static void test_flags_toggle_postfix_defaults(void **state)
{
    struct map_re_table *t = parse("/^a.b$/s       dot is not newline\n"
                                   "/^c.d$/        dot is newline\n"
                                   "/^line2$/m     multiline\n"
                                   "/ e \\s? f /x extended\n"
                                   "/^G/A          anchored\n"
                                   "/^(h+?)/U      greedy $1\n"
                                   "/^end$/E       dollar end only\n"
                                   "/^xtra$/X      X is accepted\n");
    match(t, "a\nb", NULL);
    match(t, "a-b", "dot is not newline");
    match(t, "c\nd", "dot is newline");
    match(t, "line1\nline2\nline3", "multiline");
    match(t, "EF", "extended");
    match(t, "gee", "anchored");
    match(t, "hhh", "greedy hhh");
    match(t, "end\n", NULL);
    match(t, "end", "dollar end only");
    match(t, "XTRA", "X is accepted");
    map_re_free(t);
}

static void test_negation_and_nested_if_endif(void **state)
{
    struct map_re_table *t = parse("if /@example\\.com$/\n"
                                   "if !/^postmaster@/\n"
                                   "/^spam/ REJECT spam at example\n"
                                   "EndIf\n"
                                   "!/^root@/ OK not root\n"
                                   "endif\n"
                                   "/^root@/ root elsewhere\n"
                                   "IF/^z/\n"
                                   "/./ starts with z\n"
                                   "endif\n");
    match(t, "spammer@example.com", "REJECT spam at example");
    match(t, "postmaster@example.com", "OK not root");
    match(t, "root@example.com", "root elsewhere");
    match(t, "root@example.org", "root elsewhere");
    match(t, "spammer@example.org", NULL);
    match(t, "zed", "starts with z");
    map_re_free(t);
}

static void test_other_delimiters_and_escaped_delimiter(void **state)
{
    struct map_re_table *t = parse("%^a/b$% slash inside\n"
                                   "/^c\\/d$/ escaped slash\n"
                                   "|^e f$| space inside\n"
                                   "!!/^double$/ double negation\n");
    match(t, "a/b", "slash inside");
    match(t, "c/d", "escaped slash");
    match(t, "e f", "space inside");
    match(t, "double", "double negation");
    map_re_free(t);
}

static void test_match_limit_is_a_temporary_failure(void **state)
{
    struct map_re_table *t = parse("/^ok$/ fine\n/^(a+)+$/ catastrophic\n");
    struct buf v = BUF_INIT, why = BUF_INIT;
    char key[64];
    memset(key, 'a', sizeof(key) - 2);
    key[sizeof(key) - 2] = '!';
    key[sizeof(key) - 1] = 0;
    assert_int_equal(map_re_match(t, key, &v, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "t.pcre:2: PCRE2 match limit exceeded"));
    assert_int_equal(v.len, 0);
    match(t, "ok", "fine");
    match(t, "aaaa", "catastrophic");
    map_re_free(t);
    buf_free(&v);
    buf_free(&why);
}

static void test_huge_key_and_result_growth_is_bounded(void **state)
{
    struct map_re_table *t = parse("/^(.*)$/ $1$1$1$1$1\n");
    size_t n = 1024 * 1024;
    char *key = malloc(n + 1);
    memset(key, 'k', n);
    key[n] = 0;
    struct buf v = BUF_INIT, why = BUF_INIT;
    assert_int_equal(map_re_match(t, key, &v, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "t.pcre:1: result longer than"));
    key[100000] = 0;
    buf_reset(&why);
    assert_int_equal(map_re_match(t, key, &v, &why), 1);
    assert_int_equal(v.len, 500000);
    free(key);
    map_re_free(t);
    buf_free(&v);
    buf_free(&why);
}

static void test_bad_rules_fail_with_file_and_line(void **state)
{
    parse_fails("/ok/ x\n/(unclosed/ x\n",
                "t.pcre:2: pcre pattern \"(unclosed\": missing closing parenthesis at offset 9");
    parse_fails("/a/q x\n", "t.pcre:1: pcre pattern \"a\": unknown flag 'q'");
    parse_fails("/abc x\n", "t.pcre:1: missing closing '/' after pattern");
    parse_fails("/(a)/ $2\n", "t.pcre:1: $2 in result, but the pattern has 1 group");
    parse_fails("/a/ $1\n", "t.pcre:1: $1 in result, but the pattern has 0 groups");
    parse_fails("!/(a)/ $1\n", "t.pcre:1: $1 in the result of a negated pattern");
    parse_fails("/(a)/ $x\n", "t.pcre:1: \"$x\" in result is not a group number");
    parse_fails("/(a)/ $1x\n", "t.pcre:1: \"$1x\" in result is not a group number");
    parse_fails("/(a)/ cost $\n", "t.pcre:1: '$' in result must be followed by");
    parse_fails("/(a)/ ${1\n", "t.pcre:1: unterminated \"${\" in result");
    parse_fails("/(a)/ $0\n", "t.pcre:1: \"$0\" in result: group numbers are 1 to 99");
    parse_fails("/(a)/ ${100}\n", "group numbers are 1 to 99");
    parse_fails("/(a)/ $99999999999999999999\n", "group numbers are 1 to 99");
    parse_fails("/a/\n", "t.pcre:1: missing result after pattern");
    parse_fails("# c\n\nendif\n", "t.pcre:3: endif without if");
    parse_fails("if /a/\n/b/ x\n", "t.pcre:1: if without endif");
    parse_fails("if /a/ x\nendif\n", "t.pcre:1: text after if pattern: \"x\"");
    parse_fails("if /a/\nendif junk\n", "t.pcre:2: text after endif: \"junk\"");
    parse_fails("if\n", "t.pcre:1: missing pattern");
    parse_fails("!\n", "t.pcre:1: missing pattern");
    parse_fails("result /a/\n", "t.pcre:1: expected /pattern/ result, if or endif");
    parse_fails("\\a\\ x\n", "t.pcre:1: pattern must start with a delimiter");
    parse_fails(" /a/ x\n", "t.pcre:1: continuation line before any rule");
    parse_fails("/a\\", "t.pcre:1: missing closing '/'");
    parse_fails("/\\/ x\n", "t.pcre:1: missing closing '/'");
}

static void test_nul_bytes_and_huge_lines_are_rejected(void **state)
{
    struct buf why = BUF_INIT;
    assert_null(map_re_parse("/a/ x\n/b\0/ y\n", 13, "t.pcre", &map_pcre_engine, &why));
    assert_string_equal(buf_cstr(&why), "t.pcre:2: NUL byte in line");
    size_t n = (size_t)MAP_FILE_MAX_LINE + 10;
    char *text = malloc(n);
    memcpy(text, "/a/ ", 4);
    memset(text + 4, 'r', n - 4);
    buf_reset(&why);
    assert_null(map_re_parse(text, n, "t.pcre", &map_pcre_engine, &why));
    assert_non_null(strstr(buf_cstr(&why), "t.pcre:1: line longer than"));
    free(text);
    buf_free(&why);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void test_map_open_does_not_fold_and_reloads(void **state)
{
    char path[300], spec[320];
    snprintf(path, sizeof(path), "%s/checks.pcre", dir);
    snprintf(spec, sizeof(spec), "pcre:%s", path);
    write_file(path, "/^Subject: (.*)$/ REJECT Subject $1\n/^CASE$/i Upper\n");
    struct buf why = BUF_INIT, v = BUF_INIT;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    if (m == NULL)
        fail_msg("%s", buf_cstr(&why));
    assert_int_equal(map_lookup(m, "subject: Buy NOW", &v), 1);
    assert_string_equal(buf_cstr(&v), "REJECT Subject Buy NOW"); /* the key was not folded */
    assert_int_equal(map_lookup(m, "CASE", &v), 1);
    assert_int_equal(map_lookup(m, "case", &v), 0);
    write_file(path, "/^new/ rule\n");
    map_check_now(m);
    assert_int_equal(map_lookup(m, "NEW", &v), 1);
    assert_string_equal(buf_cstr(&v), "rule");
    write_file(path, "/^new/ rule\n/(/ broken\n");
    map_check_now(m);
    assert_int_equal(map_lookup(m, "NEW", &v), -1);
    assert_non_null(strstr(map_error(m), "checks.pcre:2: pcre pattern \"(\""));
    map_close(m);
    buf_reset(&why);
    assert_null(map_open(spec, 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "checks.pcre:2: pcre pattern \"(\": missing closing"));
    buf_reset(&why);
    assert_null(map_open("pcre:/nonexistent/x.pcre", 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "/nonexistent/x.pcre"));
    /* a match limit through the map layer is -1 with a reason */
    write_file(path, "/^(a+)+$/ x\n");
    m = map_open(spec, 0, &why);
    assert_non_null(m);
    assert_int_equal(map_lookup(m, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", &v), -1);
    assert_non_null(strstr(map_error(m), "match limit"));
    map_close(m);
    buf_free(&why);
    buf_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_match_case_insensitive_by_default),
        cmocka_unit_test(test_substitution_forms_and_missing_groups),
        cmocka_unit_test(test_flags_toggle_postfix_defaults),
        cmocka_unit_test(test_negation_and_nested_if_endif),
        cmocka_unit_test(test_other_delimiters_and_escaped_delimiter),
        cmocka_unit_test(test_match_limit_is_a_temporary_failure),
        cmocka_unit_test(test_huge_key_and_result_growth_is_bounded),
        cmocka_unit_test(test_bad_rules_fail_with_file_and_line),
        cmocka_unit_test(test_nul_bytes_and_huge_lines_are_rejected),
        cmocka_unit_test(test_map_open_does_not_fold_and_reloads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
