/* test_local_token - aliases(5) values and .forward / :include: contents:
 * token types, quoting, comments, angle addresses, commas inside quotes,
 * file comment lines, and the bounds on hostile input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/local_token.h"
#include "util/alloc.h"

/* Expected token: type and text. */
struct want {
    enum local_token_type type;
    const char *text;
};

#define A LOCAL_TOKEN_ADDR
#define N LOCAL_TOKEN_NOALIAS
#define C LOCAL_TOKEN_COMMAND
#define F LOCAL_TOKEN_FILE
#define H LOCAL_TOKEN_HOME
#define I LOCAL_TOKEN_INCLUDE

static void check(const struct local_tokens *t, size_t from, const struct want *w, size_t n)
{
    assert_int_equal(t->count - from, n);
    for (size_t i = 0; i < n; i++) {
        if (t->tok[from + i].type != w[i].type || strcmp(t->tok[from + i].text, w[i].text) != 0)
            fail_msg("token %zu: got %s [%s], want %s [%s]", i,
                     local_token_type_name(t->tok[from + i].type), t->tok[from + i].text,
                     local_token_type_name(w[i].type), w[i].text);
    }
}

static void expect_tokens(const char *s, const struct want *w, size_t n)
{
    struct local_tokens t;
    struct buf why = BUF_INIT;
    local_tokens_init(&t);
    int r = local_token_parse_value(s, strlen(s), &t, &why);
    if (r < 0)
        fail_msg("parse of [%s] failed: %s", s, buf_cstr(&why));
    assert_int_equal(r, n);
    check(&t, 0, w, n);
    local_tokens_free(&t);
    buf_free(&why);
}

/* The parse must fail, leave earlier tokens alone, and say why. */
static void expect_parse_error(const char *s, size_t len, int file, const char *why_part)
{
    struct local_tokens t;
    struct buf why = BUF_INIT;
    local_tokens_init(&t);
    assert_int_equal(local_token_parse_value("keep", 4, &t, &why), 1);
    int r =
        file ? local_token_parse_file(s, len, &t, &why) : local_token_parse_value(s, len, &t, &why);
    assert_int_equal(r, -1);
    assert_int_equal(t.count, 1);
    assert_string_equal(t.tok[0].text, "keep");
    if (strstr(buf_cstr(&why), why_part) == NULL)
        fail_msg("reason [%s] lacks [%s]", buf_cstr(&why), why_part);
    local_tokens_free(&t);
    buf_free(&why);
}

static void expect_tokens_count(const char *s, size_t len, int n)
{
    struct local_tokens t;
    struct buf why = BUF_INIT;
    local_tokens_init(&t);
    assert_int_equal(local_token_parse_value(s, len, &t, &why), n);
    local_tokens_free(&t);
    buf_free(&why);
}

#define WANT(...)      ((const struct want[]){__VA_ARGS__})
#define COUNT(...)     (sizeof((const struct want[]){__VA_ARGS__}) / sizeof(struct want))
#define EXPECT(s, ...) expect_tokens(s, WANT(__VA_ARGS__), COUNT(__VA_ARGS__))

static void test_each_kind_of_destination_is_recognised(void **state)
{
    EXPECT("bob, carol@example.com, |/usr/bin/vacation bob, /var/log/mail.log, /srv/maildir/, "
           "~/inbox, :include:/etc/lists/staff, \\root",
           {A, "bob"}, {A, "carol@example.com"}, {C, "/usr/bin/vacation bob"},
           {F, "/var/log/mail.log"}, {F, "/srv/maildir/"}, {H, "/inbox"}, {I, "/etc/lists/staff"},
           {N, "root"});
}

static void test_comma_inside_quotes_does_not_split(void **state)
{
    EXPECT("\"|/bin/echo a, b\", \"/tmp/x, y\", bob", {C, "/bin/echo a, b"}, {F, "/tmp/x, y"},
           {A, "bob"});
}

static void test_quoted_command_keeps_escaped_quotes(void **state)
{
    EXPECT("\"|/bin/sh -c \\\"echo hi\\\"\"", {C, "/bin/sh -c \"echo hi\""});
}

static void test_unquoted_command_is_kept_verbatim_with_its_quotes(void **state)
{
    EXPECT("|/usr/bin/procmail -a \"$EXTENSION\" (x), bob",
           {C, "/usr/bin/procmail -a \"$EXTENSION\" (x)"}, {A, "bob"});
}

static void test_unquoted_command_comma_in_double_quotes_does_not_split(void **state)
{
    EXPECT("| /bin/echo \"a, b\" ,carol", {C, "/bin/echo \"a, b\""}, {A, "carol"});
}

static void test_include_is_case_insensitive_and_may_be_quoted(void **state)
{
    EXPECT(":INCLUDE: /etc/a, \":include:/etc/b c\"", {I, "/etc/a"}, {I, "/etc/b c"});
}

static void test_whitespace_and_empty_elements_are_skipped(void **state)
{
    EXPECT("  ,bob ,, \t carol\t,  ", {A, "bob"}, {A, "carol"});
    struct local_tokens t;
    struct buf why = BUF_INIT;
    local_tokens_init(&t);
    assert_int_equal(local_token_parse_value("", 0, &t, &why), 0);
    assert_int_equal(local_token_parse_value(" , ,, ", 6, &t, &why), 0);
    assert_int_equal(t.count, 0);
    local_tokens_free(&t);
    buf_free(&why);
}

static void test_comments_are_dropped_and_angle_address_wins(void **state)
{
    EXPECT("bob (Bob Smith), Carol Jones <carol@example.com>, \"Dan, Jr.\" <dan@x>", {A, "bob"},
           {A, "carol@example.com"}, {A, "dan@x"});
}

static void test_comment_with_comma_and_nested_parens_is_one_comment(void **state)
{
    EXPECT("bob (a, (b, c)), carol", {A, "bob"}, {A, "carol"});
}

static void test_quoted_local_part_is_unquoted(void **state)
{
    EXPECT("\"john doe\"@example.com", {A, "john doe@example.com"});
}

static void test_backslash_only_at_the_start_means_no_alias(void **state)
{
    EXPECT("\\bob, b\\ob, \"\\\\x\"", {N, "bob"}, {A, "bob"}, {A, "\\x"});
}

static void test_command_leading_blanks_are_removed(void **state)
{
    EXPECT("\"|   /bin/cat\"", {C, "/bin/cat"});
}

static void test_file_keeps_slashes_and_home_keeps_rest(void **state)
{
    EXPECT("~bob/x, \"/a b/\"", {H, "bob/x"}, {F, "/a b/"});
}

static void test_unterminated_quote_is_an_error(void **state)
{
    expect_parse_error("bob, \"|cmd", 10, 0, "unterminated quoted string");
}

static void test_unterminated_comment_and_angle_are_errors(void **state)
{
    expect_parse_error("bob (x", 6, 0, "unterminated comment");
    expect_parse_error("x <bob@y", 8, 0, "unterminated <address>");
}

static void test_two_angle_addresses_in_one_element_are_an_error(void **state)
{
    expect_parse_error("<a@x> <b@y>", 11, 0, "more than one <address>");
}

static void test_nul_byte_is_an_error(void **state)
{
    expect_parse_error("bob\0carol", 9, 0, "NUL byte");
    expect_parse_error("bob\n\"x\0\"\n", 9, 1, "line 2: NUL byte");
}

static void test_control_characters_are_errors(void **state)
{
    expect_parse_error("bob\x01", 4, 0, "control character 0x01");
    expect_parse_error("bob\ncarol", 9, 0, "control character 0x0a");
    expect_parse_error("bob\x7f", 4, 0, "control character 0x7f");
}

static void test_trailing_backslash_is_an_error(void **state)
{
    expect_parse_error("bob\\", 4, 0, "backslash at the end");
}

static void test_overlong_token_is_an_error(void **state)
{
    size_t n = LOCAL_TOKEN_MAX_LEN + 1;
    char *s = xmalloc(n + 2);
    memset(s, 'a', n + 1);
    s[n + 1] = 0;
    expect_parse_error(s, n, 0, "longer than 4096 bytes");
    s[0] = '|'; /* the verbatim command path has the same bound */
    expect_parse_error(s, n + 1, 0, "longer than 4096 bytes");
    expect_tokens_count(s, n, 1); /* exactly 4096 bytes after the '|' is fine */
    free(s);
}

static void test_overlong_input_is_an_error(void **state)
{
    size_t n = LOCAL_TOKEN_MAX_INPUT + 1;
    char *s = xmalloc(n);
    memset(s, ',', n);
    expect_parse_error(s, n, 0, "longer than 1048576 bytes");
    expect_parse_error(s, n, 1, "longer than 1048576 bytes");
    free(s);
}

static void test_too_many_tokens_is_an_error(void **state)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i <= LOCAL_TOKEN_MAX_COUNT; i++)
        buf_printf(&b, "u%d\n", i);
    expect_parse_error(b.data, b.len, 1, "more than 1000 destinations");
    buf_free(&b);
}

static void test_exactly_the_maximum_number_of_tokens_is_accepted(void **state)
{
    struct buf b = BUF_INIT, why = BUF_INIT;
    struct local_tokens t;
    local_tokens_init(&t);
    for (int i = 0; i < LOCAL_TOKEN_MAX_COUNT; i++)
        buf_printf(&b, "u%d,", i);
    assert_int_equal(local_token_parse_value(b.data, b.len, &t, &why), LOCAL_TOKEN_MAX_COUNT);
    assert_string_equal(t.tok[999].text, "u999");
    local_tokens_free(&t);
    buf_free(&b);
    buf_free(&why);
}

static void test_file_lines_with_hash_first_are_comments(void **state)
{
    const char *f = "# forward to both\nbob\n  # not a comment: an address\r\n"
                    "\"|/bin/cat\", carol\n\n#last\n/tmp/f";
    struct local_tokens t;
    struct buf why = BUF_INIT;
    local_tokens_init(&t);
    int r = local_token_parse_file(f, strlen(f), &t, &why);
    if (r < 0)
        fail_msg("%s", buf_cstr(&why));
    /* "  # not a comment..." is tokenised as address text, as Postfix does */
    check(&t, 0,
          WANT({A, "bob"}, {A, "# not a comment: an address"}, {C, "/bin/cat"}, {A, "carol"},
               {F, "/tmp/f"}),
          5);
    local_tokens_free(&t);
    buf_free(&why);
}

static void test_file_error_names_the_line(void **state)
{
    expect_parse_error("bob\ncarol\n\"dan\n", 15, 1, "line 3: unterminated quoted string");
}

static void test_file_crlf_lines_are_accepted(void **state)
{
    struct local_tokens t;
    struct buf why = BUF_INIT;
    local_tokens_init(&t);
    assert_int_equal(local_token_parse_file("bob\r\ncarol\r\n", 12, &t, &why), 2);
    check(&t, 0, WANT({A, "bob"}, {A, "carol"}), 2);
    local_tokens_free(&t);
    buf_free(&why);
}

static void test_tokens_append_after_existing_ones(void **state)
{
    struct local_tokens t;
    struct buf why = BUF_INIT;
    local_tokens_init(&t);
    assert_int_equal(local_token_parse_value("a", 1, &t, &why), 1);
    assert_int_equal(local_token_parse_value("b, c", 4, &t, &why), 2);
    check(&t, 0, WANT({A, "a"}, {A, "b"}, {A, "c"}), 3);
    local_tokens_free(&t);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_kind_of_destination_is_recognised),
        cmocka_unit_test(test_comma_inside_quotes_does_not_split),
        cmocka_unit_test(test_quoted_command_keeps_escaped_quotes),
        cmocka_unit_test(test_unquoted_command_is_kept_verbatim_with_its_quotes),
        cmocka_unit_test(test_unquoted_command_comma_in_double_quotes_does_not_split),
        cmocka_unit_test(test_include_is_case_insensitive_and_may_be_quoted),
        cmocka_unit_test(test_whitespace_and_empty_elements_are_skipped),
        cmocka_unit_test(test_comments_are_dropped_and_angle_address_wins),
        cmocka_unit_test(test_comment_with_comma_and_nested_parens_is_one_comment),
        cmocka_unit_test(test_quoted_local_part_is_unquoted),
        cmocka_unit_test(test_backslash_only_at_the_start_means_no_alias),
        cmocka_unit_test(test_command_leading_blanks_are_removed),
        cmocka_unit_test(test_file_keeps_slashes_and_home_keeps_rest),
        cmocka_unit_test(test_unterminated_quote_is_an_error),
        cmocka_unit_test(test_unterminated_comment_and_angle_are_errors),
        cmocka_unit_test(test_two_angle_addresses_in_one_element_are_an_error),
        cmocka_unit_test(test_nul_byte_is_an_error),
        cmocka_unit_test(test_control_characters_are_errors),
        cmocka_unit_test(test_trailing_backslash_is_an_error),
        cmocka_unit_test(test_overlong_token_is_an_error),
        cmocka_unit_test(test_overlong_input_is_an_error),
        cmocka_unit_test(test_too_many_tokens_is_an_error),
        cmocka_unit_test(test_exactly_the_maximum_number_of_tokens_is_accepted),
        cmocka_unit_test(test_file_lines_with_hash_first_are_comments),
        cmocka_unit_test(test_file_error_names_the_line),
        cmocka_unit_test(test_file_crlf_lines_are_accepted),
        cmocka_unit_test(test_tokens_append_after_existing_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
