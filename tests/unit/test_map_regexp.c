/* test_map_regexp - regexp: tables (POSIX): extended syntax and case
 * folding by default, the i, x and m flags, $n substitution, negation,
 * if/endif, the shared logical-line reader, and errors with FILE:LINE. */
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
#include "maps/map_types.h"
#include "util/buf.h"

static char dir[] = "/tmp/test_map_regexp.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_map_regexp.XXXXXX");
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
    struct map_re_table *t = map_re_parse(text, strlen(text), "t.regexp", &map_regexp_engine, &why);
    if (t == NULL)
        fail_msg("parse: %s", buf_cstr(&why));
    buf_free(&why);
    return t;
}

static void parse_fails(const char *text, const char *want)
{
    struct buf why = BUF_INIT;
    struct map_re_table *t = map_re_parse(text, strlen(text), "t.regexp", &map_regexp_engine, &why);
    if (t != NULL)
        fail_msg("accepted: %s", text);
    if (strstr(buf_cstr(&why), want) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", buf_cstr(&why), want);
    buf_free(&why);
}

static void match(const struct map_re_table *t, const char *key, const char *want)
{
    struct buf v = BUF_INIT, why = BUF_INIT;
    int r = map_re_match(t, key, &v, &why);
    if (r < 0)
        fail_msg("%s: error %s", key, buf_cstr(&why));
    if (want == NULL && r != 0)
        fail_msg("%s: found \"%s\", want not found", key, buf_cstr(&v));
    if (want != NULL && r != 1)
        fail_msg("%s: not found, want \"%s\"", key, want);
    if (want != NULL)
        assert_string_equal(buf_cstr(&v), want);
    buf_free(&v);
    buf_free(&why);
}

static void test_extended_case_insensitive_defaults_and_flags(void **state)
{
    struct map_re_table *t = parse("/^(joe|ann)+@EXAMPLE\\.com$/ ext $1\n"
                                   "/^Sensitive$/i               sensitive\n"
                                   "/^a+b$/x                     basic: + is literal\n"
                                   "/^c\\(d\\)$/x                basic group $1\n"
                                   "/^line2$/m                   newline mode\n"
                                   "/^e.f$/                      dot matches newline\n");
    match(t, "JoeAnn@example.COM", "ext Ann");
    match(t, "Sensitive", "sensitive");
    match(t, "sensitive", NULL);
    match(t, "a+b", "basic: + is literal");
    match(t, "aab", NULL);
    match(t, "CD", "basic group D");
    match(t, "line1\nline2", "newline mode");
    match(t, "e\nf", "dot matches newline");
    map_re_free(t);
}

static void test_substitution_negation_and_if_blocks(void **state)
{
    struct map_re_table *t = parse("if /@example\\.com$/\n"
                                   "/^([^+@]+)(\\+([^@]*))?@/ user=$1 ext=${3} $$\n"
                                   "endif\n"
                                   "!/^root$/ not root\n");
    match(t, "joe+x@example.com", "user=joe ext=x $");
    match(t, "joe@example.com", "user=joe ext= $");
    match(t, "joe@example.org", "not root");
    match(t, "root", NULL);
    map_re_free(t);
}

static void test_bad_rules_fail_with_file_and_line(void **state)
{
    parse_fails("/a/ x\n/a(/ y\n", "t.regexp:2: regexp pattern \"a(\": ");
    parse_fails("/a/s x\n", "t.regexp:1: regexp pattern \"a\": unknown flag 's'");
    parse_fails("/(a)/ $2\n", "t.regexp:1: $2 in result, but the pattern has 1 group");
    parse_fails("if /a/\n", "t.regexp:1: if without endif");
    parse_fails("endif\n", "t.regexp:1: endif without if");
    parse_fails("/a/\n", "t.regexp:1: missing result after pattern");
}

/* ---- map_rule_lines_text: the reader shared by cidr, pcre, regexp ---- */

static int collect(void *ctx, char *line, const char *origin, long lineno, struct buf *why)
{
    buf_printf(ctx, "%ld[%s]", lineno, line);
    return 0;
}

static void test_logical_lines_follow_postfix_rules(void **state)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    const char *text = "# c\n\n/a/ one\r\n  two  \n\t# inner comment\n\n\tthree\n/b/ x\n   \n/c/ y";
    assert_int_equal(map_rule_lines_text(text, strlen(text), "o", collect, &out, &why), 0);
    assert_string_equal(buf_cstr(&out), "3[/a/ one two three]8[/b/ x]10[/c/ y]");
    buf_free(&out);
    buf_free(&why);
}

static void test_map_open_regexp(void **state)
{
    char path[300], spec[320];
    snprintf(path, sizeof(path), "%s/t.regexp", dir);
    snprintf(spec, sizeof(spec), "regexp:%s", path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("/^(.*)@Example\\.com$/ $1\n", f);
    assert_int_equal(fclose(f), 0);
    struct buf why = BUF_INIT, v = BUF_INIT;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    if (m == NULL)
        fail_msg("%s", buf_cstr(&why));
    assert_int_equal(map_lookup(m, "MixedCase@EXAMPLE.com", &v), 1);
    assert_string_equal(buf_cstr(&v), "MixedCase");
    assert_int_equal(map_lookup(m, "x@example.org", &v), 0);
    map_close(m);
    buf_free(&why);
    buf_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_extended_case_insensitive_defaults_and_flags),
        cmocka_unit_test(test_substitution_negation_and_if_blocks),
        cmocka_unit_test(test_bad_rules_fail_with_file_and_line),
        cmocka_unit_test(test_logical_lines_follow_postfix_rules),
        cmocka_unit_test(test_map_open_regexp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
