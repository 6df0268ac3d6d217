/* test_config - main.cf parsing, storage and $expansion (lib/conf/config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "conf/params.h"
#include "util/argv.h"
#include "util/buf.h"

static struct config *parse_ok(const char *text)
{
    struct config *c = config_alloc();
    struct buf why = BUF_INIT;
    int r = config_parse(c, text, strlen(text), "/etc/postern/main.cf", &why);
    if (r != 0)
        fail_msg("parse failed: %s", buf_cstr(&why));
    buf_free(&why);
    return c;
}

static void assert_parse_error(const char *text, const char *want)
{
    struct config *c = config_alloc();
    struct buf why = BUF_INIT;
    assert_int_equal(config_parse(c, text, strlen(text), "/etc/postern/main.cf", &why), -1);
    assert_string_equal(buf_cstr(&why), want);
    assert_int_equal(c->count, 0); /* nothing half-applied */
    buf_free(&why);
    config_free(c);
}

static void assert_raw(const struct config *c, const char *name, const char *want)
{
    const struct config_entry *e = config_find(c, name);
    if (e == NULL)
        fail_msg("%s is not set", name);
    assert_string_equal(e->value, want);
}

static void assert_lookup(const struct config *c, const char *name, const char *want)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    if (config_lookup(c, name, &out, &why) != 0)
        fail_msg("lookup %s failed: %s", name, buf_cstr(&why));
    assert_string_equal(buf_cstr(&out), want);
    buf_free(&out);
    buf_free(&why);
}

static void assert_expand(const struct config *c, const char *value, const char *want)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    if (config_expand(c, value, &out, &why) != 0)
        fail_msg("expand \"%s\" failed: %s", value, buf_cstr(&why));
    assert_string_equal(buf_cstr(&out), want);
    buf_free(&out);
    buf_free(&why);
}

static void assert_lookup_error(const struct config *c, const char *name, const char *want)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(config_lookup(c, name, &out, &why), -1);
    assert_string_equal(buf_cstr(&why), want);
    buf_free(&out);
    buf_free(&why);
}

static void test_name_value_with_whitespace_around_equals(void **state)
{
    struct config *c = parse_ok("a = b\nc=d  \n  \ne\t=\t f g \t\n");
    assert_int_equal(c->count, 3);
    assert_raw(c, "a", "b");
    assert_raw(c, "c", "d");
    assert_raw(c, "e", "f g");
    config_free(c);
}

static void test_empty_value_is_allowed(void **state)
{
    struct config *c = parse_ok("relayhost =\n");
    assert_raw(c, "relayhost", "");
    config_free(c);
}

static void test_continuation_lines_join_with_one_space(void **state)
{
    struct config *c = parse_ok("smtpd_recipient_restrictions =\n"
                                "    permit_mynetworks,   \n"
                                "\treject_unauth_destination\n"
                                "next = 1\n");
    assert_raw(c, "smtpd_recipient_restrictions", "permit_mynetworks, reject_unauth_destination");
    assert_raw(c, "next", "1");
    assert_int_equal(config_find(c, "smtpd_recipient_restrictions")->line, 1);
    assert_int_equal(config_find(c, "next")->line, 4);
    config_free(c);
}

static void test_comments_and_blank_lines_do_not_end_a_logical_line(void **state)
{
    struct config *c = parse_ok("# header\n"
                                "a = one\n"
                                "    # an indented comment\n"
                                "\n"
                                "  two\n"
                                "#b = ignored\n");
    assert_int_equal(c->count, 1);
    assert_raw(c, "a", "one two");
    config_free(c);
}

static void test_value_keeps_hash_that_is_not_at_line_start(void **state)
{
    struct config *c = parse_ok("a = x # not a comment\n");
    assert_raw(c, "a", "x # not a comment");
    config_free(c);
}

static void test_crlf_line_ends_are_accepted(void **state)
{
    struct config *c = parse_ok("a = b\r\nc = d\r\n");
    assert_raw(c, "a", "b");
    assert_raw(c, "c", "d");
    config_free(c);
}

static void test_last_line_without_newline_is_parsed(void **state)
{
    struct config *c = parse_ok("a = 1\nb = 2");
    assert_raw(c, "b", "2");
    config_free(c);
}

static void test_later_setting_wins_and_keeps_first_position(void **state)
{
    struct config *c = parse_ok("a = 1\nb = 2\na = 3\n");
    assert_int_equal(c->count, 2);
    assert_string_equal(c->ents[0].name, "a");
    assert_string_equal(c->ents[0].value, "3");
    assert_int_equal(c->ents[0].line, 3);
    assert_string_equal(c->ents[1].name, "b");
    config_free(c);
}

static void test_entry_records_file_and_line(void **state)
{
    struct config *c = parse_ok("\n\n# x\nmyorigin = example.com\n");
    const struct config_entry *e = config_find(c, "myorigin");
    assert_non_null(e);
    assert_string_equal(e->file, "/etc/postern/main.cf");
    assert_int_equal(e->line, 4);
    config_free(c);
}

static void test_missing_equals_names_file_and_line(void **state)
{
    assert_parse_error("a = 1\n\n# c\n\n\n\nmyhostname example.com\n",
                       "/etc/postern/main.cf:7: missing '=' after parameter name");
}

static void test_bad_parameter_name_is_rejected(void **state)
{
    assert_parse_error("a = 1\nmy-host = x\n",
                       "/etc/postern/main.cf:2: bad parameter name: my-host");
    assert_parse_error("my host = x\n", "/etc/postern/main.cf:1: bad parameter name: my host");
}

static void test_missing_name_is_rejected(void **state)
{
    assert_parse_error("= x\n", "/etc/postern/main.cf:1: missing parameter name before '='");
}

static void test_continuation_before_any_parameter_is_rejected(void **state)
{
    assert_parse_error("# c\n   orphan\na = b\n",
                       "/etc/postern/main.cf:2: continuation line before any parameter");
}

static void test_error_in_continued_line_names_its_first_line(void **state)
{
    assert_parse_error("a = 1\nbroken\n  more\n",
                       "/etc/postern/main.cf:2: missing '=' after parameter name");
}

static void test_nul_byte_is_rejected(void **state)
{
    struct config *c = config_alloc();
    struct buf why = BUF_INIT;
    static const char text[] = "a = 1\nb = x\0y\n";
    assert_int_equal(config_parse(c, text, sizeof(text) - 1, "m.cf", &why), -1);
    assert_string_equal(buf_cstr(&why), "m.cf:2: NUL byte in line");
    buf_free(&why);
    config_free(c);
}

static void test_logical_line_over_limit_is_rejected(void **state)
{
    size_t n = CONFIG_MAX_LINE / 2 + 10;
    char *text = malloc(2 * n + 64);
    assert_non_null(text);
    strcpy(text, "a = b\nbig = ");
    size_t off = strlen(text);
    memset(text + off, 'x', n);
    off += n;
    memcpy(text + off, "\n  ", 3);
    off += 3;
    memset(text + off, 'y', n);
    off += n;
    text[off++] = '\n';
    struct config *c = config_alloc();
    struct buf why = BUF_INIT;
    assert_int_equal(config_parse(c, text, off, "m.cf", &why), -1);
    assert_string_equal(buf_cstr(&why), "m.cf:2: logical line longer than 1048576 bytes");
    buf_free(&why);
    config_free(c);
    free(text);
}

static void test_set_unset_find(void **state)
{
    struct config *c = config_alloc();
    for (int i = 0; i < 1000; i++) {
        char name[32], value[32];
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        config_set(c, name, value, "f", i);
    }
    assert_int_equal(c->count, 1000);
    assert_raw(c, "p777", "v777");
    assert_int_equal(config_unset(c, "p500"), 1);
    assert_int_equal(config_unset(c, "p500"), 0);
    assert_null(config_find(c, "p500"));
    assert_raw(c, "p999", "v999");
    assert_string_equal(c->ents[500].name, "p501");
    config_set(c, "p1", "changed", NULL, 0);
    assert_raw(c, "p1", "changed");
    assert_null(config_find(c, "p1")->file);
    config_free(c);
}

static void test_valid_name(void **state)
{
    assert_true(config_valid_name("2bounce_notice_recipient", 24));
    assert_true(config_valid_name("a_B_9", 5));
    assert_false(config_valid_name("", 0));
    assert_false(config_valid_name("a-b", 3));
    assert_false(config_valid_name("a.b", 3));
}

static void test_dollar_name_forms(void **state)
{
    struct config *c = parse_ok("a = A\nb_2 = B\n");
    assert_expand(c, "$a", "A");
    assert_expand(c, "${a}", "A");
    assert_expand(c, "$(a)", "A");
    assert_expand(c, "x$a.y", "xA.y");
    assert_expand(c, "$b_2-$a", "B-A");
    assert_expand(c, "${a}${b_2}$(a)", "ABA");
    config_free(c);
}

static void test_double_dollar_is_literal_dollar(void **state)
{
    struct config *c = parse_ok("a = A\n");
    assert_expand(c, "$$a", "$a");
    assert_expand(c, "x$$$a", "x$A");
    assert_expand(c, "cost: 5$", "cost: 5$");
    assert_expand(c, "$ a", "$ a");
    config_free(c);
}

static void test_references_expand_recursively(void **state)
{
    struct config *c = parse_ok("a = [$b]\nb = <$c>\nc = C\n");
    assert_lookup(c, "a", "[<C>]");
    config_free(c);
}

static void test_conditional_question_mark(void **state)
{
    struct config *c = parse_ok("set = yes\nempty =\nref_empty = $empty\n");
    assert_expand(c, "${set?on}", "on");
    assert_expand(c, "${empty?on}", "");
    assert_expand(c, "${unset_name?on}", "");
    assert_expand(c, "${ref_empty?on}", "");
    assert_expand(c, "$(set?on)", "on");
    config_free(c);
}

static void test_conditional_colon(void **state)
{
    struct config *c = parse_ok("set = yes\nempty =\n");
    assert_expand(c, "${set:off}", "");
    assert_expand(c, "${empty:off}", "off");
    assert_expand(c, "${unset_name:off}", "off");
    config_free(c);
}

static void test_conditional_text_is_expanded_and_may_nest(void **state)
{
    struct config *c = parse_ok("a = A\nb = B\nempty =\n");
    assert_expand(c, "${a?x$b y}", "xB y");
    assert_expand(c, "${a?${b?[$a$b]}}", "[AB]");
    assert_expand(c, "${empty:${a?(${b})}}", "(B)");
    assert_expand(c, "${a?$${b}}", "${b}");
    config_free(c);
}

static void test_postfix3_braced_conditionals(void **state)
{
    struct config *c = parse_ok("a = A\nempty =\n");
    assert_expand(c, "${a?{yes}:{no}}", "yes");
    assert_expand(c, "${empty?{yes}:{no}}", "no");
    assert_expand(c, "${a?{yes}}", "yes");
    assert_expand(c, "${empty:{fallback $a}}", "fallback A");
    assert_expand(c, "${a? {spaced} : {other} }", "spaced");
    assert_expand(c, "${empty?{x}:{${a?{in}:{out}}}}", "in");
    assert_expand(c, "${a?{}:{no}}", "");
    config_free(c);
}

static void test_braced_conditional_with_trailing_junk_is_an_error(void **state)
{
    struct config *c = parse_ok("p = ${a?{x}junk}\na = A\n");
    assert_lookup_error(c, "p", "parameter p: unexpected text after '}' in \"${a?...}\"");
    config_free(c);
}

static void test_unbalanced_brace_is_an_error_naming_parameter(void **state)
{
    struct config *c = parse_ok("p = x${a\n");
    assert_lookup_error(c, "p", "parameter p: unbalanced '{' in \"x${a\"");
    config_free(c);
}

static void test_bad_character_after_name_is_an_error(void **state)
{
    struct config *c = parse_ok("p = ${a-b}\nq = ${}\n");
    assert_lookup_error(c, "p", "parameter p: unexpected '-' after parameter name \"a\"");
    assert_lookup_error(c, "q", "parameter q: missing parameter name after '${' or '$('");
    config_free(c);
}

static void test_self_reference_loop_names_parameter(void **state)
{
    struct config *c = parse_ok("a = x $a\n");
    assert_lookup_error(c, "a", "parameter a: expansion loop: a -> a");
    config_free(c);
}

static void test_indirect_loop_names_the_chain(void **state)
{
    struct config *c = parse_ok("a = $b\nb = ${c?x}\nc = $a\n");
    assert_lookup_error(c, "a", "parameter a: expansion loop: a -> b -> c -> a");
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(config_expand(c, "v=$b", &out, &why), -1);
    assert_string_equal(buf_cstr(&why), "parameter b: expansion loop: b -> c -> a -> b");
    buf_free(&out);
    buf_free(&why);
    config_free(c);
}

static void test_deep_chain_hits_depth_limit(void **state)
{
    struct config *c = config_alloc();
    char name[32], value[32];
    for (int i = 0; i < 150; i++) {
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(value, sizeof(value), "$p%d", i + 1);
        config_set(c, name, value, NULL, 0);
    }
    assert_lookup_error(c, "p0", "parameter p100: more than 100 levels of nested expansion");
    assert_lookup(c, "p60", ""); /* 90 levels are fine */
    config_free(c);
}

static void test_exponential_expansion_is_bounded(void **state)
{
    struct config *c = config_alloc();
    char name[32], value[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "e%d", i);
        snprintf(value, sizeof(value), "$e%d$e%d", i + 1, i + 1);
        config_set(c, name, value, NULL, 0);
    }
    config_set(c, "e40", "xxxxxxxx", NULL, 0);
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(config_lookup(c, "e0", &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "bytes"));
    buf_free(&out);
    buf_free(&why);
    config_free(c);
}

static void test_unset_known_name_uses_table_default(void **state)
{
    struct config *c = parse_ok("myhostname = mail.example.com\n");
    assert_lookup(c, "myorigin", "mail.example.com");
    assert_lookup(c, "smtpd_banner", "mail.example.com ESMTP Postern");
    assert_lookup(c, "hopcount_limit", "50");
    assert_lookup(c, "relayhost", "");
    config_free(c);
}

static void test_table_default_references_are_expanded(void **state)
{
    struct config *c = parse_ok("myhostname = mx.example.org\n");
    assert_lookup(c, "mydestination", "mx.example.org, localhost.example.org, localhost");
    assert_lookup(c, "local_transport", "local:mx.example.org");
    config_free(c);
}

static void test_mydomain_follows_configured_myhostname(void **state)
{
    struct config *c = parse_ok("myhostname = a.b.example\n");
    assert_lookup(c, "mydomain", "b.example");
    config_set(c, "myhostname", "single", NULL, 0);
    assert_lookup(c, "mydomain", "localdomain");
    config_set(c, "mydomain", "set.example", NULL, 0);
    assert_lookup(c, "mydomain", "set.example");
    config_free(c);
}

static void test_unknown_unset_name_expands_empty(void **state)
{
    struct config *c = parse_ok("a = [$no_such_thing]\n");
    assert_lookup(c, "a", "[]");
    assert_lookup_error(c, "no_such_thing", "no_such_thing: unknown parameter");
    config_free(c);
}

static void test_setting_overrides_default(void **state)
{
    struct config *c = parse_ok("hopcount_limit = 7\n");
    assert_lookup(c, "hopcount_limit", "7");
    config_free(c);
}

static void test_raw_parameters_are_not_expanded(void **state)
{
    struct config *c = parse_ok("recipient_delimiter = +\n"
                                "mailbox_command = /usr/bin/procmail -a \"$EXTENSION\" $home\n"
                                "uses_it = [$mailbox_command]\n");
    assert_lookup(c, "mailbox_command", "/usr/bin/procmail -a \"$EXTENSION\" $home");
    assert_lookup(c, "forward_path",
                  "$home/.forward${recipient_delimiter}${extension}, $home/.forward");
    assert_lookup(c, "uses_it", "[/usr/bin/procmail -a \"$EXTENSION\" $home]");
    config_free(c);
}

static void test_refs_lists_every_mentioned_name(void **state)
{
    struct argv *names = argv_alloc();
    config_refs("$a ${b} $(c) ${d?$e} ${f:{$g}} $$h ${i?{x}:{$j}} $", names);
    const char *want[] = {"a", "b", "c", "d", "e", "f", "g", "i", "j"};
    assert_int_equal(names->argc, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < names->argc; i++)
        assert_string_equal(names->argv[i], want[i]);
    argv_free(names);
}

static void test_refs_survives_unbalanced_text(void **state)
{
    struct argv *names = argv_alloc();
    config_refs("${a ${b $c", names);
    assert_int_equal(names->argc, 1);
    assert_string_equal(names->argv[0], "c");
    argv_free(names);
}

static void test_read_file_missing_is_an_error(void **state)
{
    struct config *c = config_alloc();
    struct buf why = BUF_INIT;
    assert_int_equal(config_read_file(c, "/nonexistent/main.cf", &why), -1);
    assert_string_equal(buf_cstr(&why), "open /nonexistent/main.cf: No such file or directory");
    buf_free(&why);
    config_free(c);
}

static void test_read_file_parses_and_names_path(void **state)
{
    char path[] = "/tmp/test_config_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "a = 1\nbad line\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct config *c = config_alloc();
    struct buf why = BUF_INIT, want = BUF_INIT;
    assert_int_equal(config_read_file(c, path, &why), -1);
    buf_printf(&want, "%s:2: missing '=' after parameter name", path);
    assert_string_equal(buf_cstr(&why), buf_cstr(&want));
    unlink(path);
    buf_free(&why);
    buf_free(&want);
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_value_with_whitespace_around_equals),
        cmocka_unit_test(test_empty_value_is_allowed),
        cmocka_unit_test(test_continuation_lines_join_with_one_space),
        cmocka_unit_test(test_comments_and_blank_lines_do_not_end_a_logical_line),
        cmocka_unit_test(test_value_keeps_hash_that_is_not_at_line_start),
        cmocka_unit_test(test_crlf_line_ends_are_accepted),
        cmocka_unit_test(test_last_line_without_newline_is_parsed),
        cmocka_unit_test(test_later_setting_wins_and_keeps_first_position),
        cmocka_unit_test(test_entry_records_file_and_line),
        cmocka_unit_test(test_missing_equals_names_file_and_line),
        cmocka_unit_test(test_bad_parameter_name_is_rejected),
        cmocka_unit_test(test_missing_name_is_rejected),
        cmocka_unit_test(test_continuation_before_any_parameter_is_rejected),
        cmocka_unit_test(test_error_in_continued_line_names_its_first_line),
        cmocka_unit_test(test_nul_byte_is_rejected),
        cmocka_unit_test(test_logical_line_over_limit_is_rejected),
        cmocka_unit_test(test_set_unset_find),
        cmocka_unit_test(test_valid_name),
        cmocka_unit_test(test_dollar_name_forms),
        cmocka_unit_test(test_double_dollar_is_literal_dollar),
        cmocka_unit_test(test_references_expand_recursively),
        cmocka_unit_test(test_conditional_question_mark),
        cmocka_unit_test(test_conditional_colon),
        cmocka_unit_test(test_conditional_text_is_expanded_and_may_nest),
        cmocka_unit_test(test_postfix3_braced_conditionals),
        cmocka_unit_test(test_braced_conditional_with_trailing_junk_is_an_error),
        cmocka_unit_test(test_unbalanced_brace_is_an_error_naming_parameter),
        cmocka_unit_test(test_bad_character_after_name_is_an_error),
        cmocka_unit_test(test_self_reference_loop_names_parameter),
        cmocka_unit_test(test_indirect_loop_names_the_chain),
        cmocka_unit_test(test_deep_chain_hits_depth_limit),
        cmocka_unit_test(test_exponential_expansion_is_bounded),
        cmocka_unit_test(test_unset_known_name_uses_table_default),
        cmocka_unit_test(test_table_default_references_are_expanded),
        cmocka_unit_test(test_mydomain_follows_configured_myhostname),
        cmocka_unit_test(test_unknown_unset_name_expands_empty),
        cmocka_unit_test(test_setting_overrides_default),
        cmocka_unit_test(test_raw_parameters_are_not_expanded),
        cmocka_unit_test(test_refs_lists_every_mentioned_name),
        cmocka_unit_test(test_refs_survives_unbalanced_text),
        cmocka_unit_test(test_read_file_missing_is_an_error),
        cmocka_unit_test(test_read_file_parses_and_names_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
