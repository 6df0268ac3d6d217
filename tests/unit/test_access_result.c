/* test_access_result - access(5) values: each action word (any case), the
 * optional text and enhanced status code, "4NN/5NN text" codes, digits,
 * unsupported actions, tables and restriction lists, and the edge cases
 * Postfix reads in its own way ("450" alone is OK, "600 x" is no code). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mail/access_result.h"

static struct access_result r;

static int setup(void **state)
{
    access_result_init(&r);
    return 0;
}

static int teardown(void **state)
{
    access_result_free(&r);
    return 0;
}

static void parse(const char *value)
{
    access_result_parse(value, &r);
}

static void test_ok_relay_and_digits_accept(void **state)
{
    parse("OK");
    assert_int_equal(r.action, ACCESS_OK);
    assert_string_equal(r.word, "OK");
    parse("ok some ignored text");
    assert_int_equal(r.action, ACCESS_OK);
    parse("RELAY");
    assert_int_equal(r.action, ACCESS_OK);
    assert_string_equal(r.word, "RELAY");
    parse("1700000000");
    assert_int_equal(r.action, ACCESS_OK);
    assert_string_equal(r.word, "1700000000");
    parse("  42  ");
    assert_int_equal(r.action, ACCESS_OK);
}

static void test_reply_code_alone_is_all_digits_so_ok(void **state)
{
    parse("450");
    assert_int_equal(r.action, ACCESS_OK);
    assert_int_equal(r.code, 0);
}

static void test_reject_without_text(void **state)
{
    parse("REJECT");
    assert_int_equal(r.action, ACCESS_REJECT);
    assert_string_equal(r.dsn, "");
    assert_string_equal(buf_cstr(&r.text), "");
}

static void test_reject_with_text_and_dsn(void **state)
{
    parse("reject  5.7.9 Go away  ");
    assert_int_equal(r.action, ACCESS_REJECT);
    assert_string_equal(r.word, "REJECT");
    assert_string_equal(r.dsn, "5.7.9");
    assert_string_equal(buf_cstr(&r.text), "Go away");
    parse("REJECT Spam source since 2020");
    assert_string_equal(r.dsn, "");
    assert_string_equal(buf_cstr(&r.text), "Spam source since 2020");
}

static void test_defer_variants(void **state)
{
    parse("DEFER 4.3.2 later");
    assert_int_equal(r.action, ACCESS_DEFER);
    assert_string_equal(r.dsn, "4.3.2");
    assert_string_equal(buf_cstr(&r.text), "later");
    parse("defer_if_reject");
    assert_int_equal(r.action, ACCESS_DEFER_IF_REJECT);
    parse("DEFER_IF_PERMIT greylisted");
    assert_int_equal(r.action, ACCESS_DEFER_IF_PERMIT);
    assert_string_equal(buf_cstr(&r.text), "greylisted");
}

static void test_numeric_code_with_text(void **state)
{
    parse("550 Go away and do not spam us anymore");
    assert_int_equal(r.action, ACCESS_CODE);
    assert_int_equal(r.code, 550);
    assert_string_equal(r.dsn, "");
    assert_string_equal(buf_cstr(&r.text), "Go away and do not spam us anymore");
    parse("421 4.7.0 closing\t");
    assert_int_equal(r.action, ACCESS_CODE);
    assert_int_equal(r.code, 421);
    assert_string_equal(r.dsn, "4.7.0");
    assert_string_equal(buf_cstr(&r.text), "closing");
}

static void test_codes_outside_4xx_5xx_are_restrictions(void **state)
{
    parse("600 nope");
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
    parse("250 fine");
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
    parse("5500 four digits");
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
    parse("55x text");
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
}

static void test_dsn_must_be_well_formed(void **state)
{
    char dsn[ACCESS_DSN_MAX];
    assert_string_equal(access_dsn_split("5.7.1 text", dsn), "text");
    assert_string_equal(dsn, "5.7.1");
    assert_string_equal(access_dsn_split("5.123.123", dsn), "");
    assert_string_equal(dsn, "5.123.123");
    /* class 3 does not exist; four-digit parts; missing parts; glued text */
    assert_string_equal(access_dsn_split("3.7.1 x", dsn), "3.7.1 x");
    assert_string_equal(dsn, "");
    assert_string_equal(access_dsn_split("5.7.1234 x", dsn), "5.7.1234 x");
    assert_string_equal(access_dsn_split("5.7 x", dsn), "5.7 x");
    assert_string_equal(access_dsn_split("5.7.1x", dsn), "5.7.1x");
    assert_string_equal(access_dsn_split("5..1 x", dsn), "5..1 x");
    assert_string_equal(dsn, "");
}

static void test_hold_discard_warn_keep_text_without_dsn(void **state)
{
    parse("HOLD");
    assert_int_equal(r.action, ACCESS_HOLD);
    assert_string_equal(buf_cstr(&r.text), "");
    parse("DISCARD 5.7.1 quietly");
    assert_int_equal(r.action, ACCESS_DISCARD);
    assert_string_equal(r.dsn, "");
    assert_string_equal(buf_cstr(&r.text), "5.7.1 quietly");
    parse("WARN suspicious client");
    assert_int_equal(r.action, ACCESS_WARN);
    assert_string_equal(buf_cstr(&r.text), "suspicious client");
    parse("INFO noted");
    assert_int_equal(r.action, ACCESS_INFO);
}

static void test_dunno_ignores_text(void **state)
{
    parse("DUNNO whatever");
    assert_int_equal(r.action, ACCESS_DUNNO);
}

static void test_unsupported_actions_are_named(void **state)
{
    const char *v[] = {"PREPEND X-Foo: bar",
                       "REDIRECT a@b",
                       "FILTER smtp:[x]:25",
                       "BCC a@b",
                       "HANGUP",
                       "DELAY 1h"};
    const char *w[] = {"PREPEND", "REDIRECT", "FILTER", "BCC", "HANGUP", "DELAY"};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        parse(v[i]);
        assert_int_equal(r.action, ACCESS_UNSUPPORTED);
        assert_string_equal(r.word, w[i]);
    }
}

static void test_restriction_lists_and_tables(void **state)
{
    parse("reject_unknown_sender_domain, permit");
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
    assert_string_equal(buf_cstr(&r.text), "reject_unknown_sender_domain, permit");
    parse("permit");
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
    parse("check_client_access hash:/etc/other");
    assert_int_equal(r.action, ACCESS_TABLE);
    /* a word that merely starts like an action is not that action */
    parse("OKAY");
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
    parse("REJECTED");
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
}

static void test_empty_value(void **state)
{
    parse("");
    assert_int_equal(r.action, ACCESS_EMPTY);
    parse(" \t ");
    assert_int_equal(r.action, ACCESS_EMPTY);
}

static void test_long_word_does_not_overflow(void **state)
{
    char big[300];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    parse(big);
    assert_int_equal(r.action, ACCESS_RESTRICTIONS);
    assert_string_equal(r.word, "");
    memset(big, '7', sizeof(big) - 1);
    parse(big);
    assert_int_equal(r.action, ACCESS_OK);
    assert_string_equal(r.word, "");
}

static void test_action_names(void **state)
{
    assert_string_equal(access_action_name(ACCESS_DEFER_IF_PERMIT), "DEFER_IF_PERMIT");
    assert_string_equal(access_action_name(ACCESS_RESTRICTIONS), "RESTRICTIONS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_relay_and_digits_accept),
        cmocka_unit_test(test_reply_code_alone_is_all_digits_so_ok),
        cmocka_unit_test(test_reject_without_text),
        cmocka_unit_test(test_reject_with_text_and_dsn),
        cmocka_unit_test(test_defer_variants),
        cmocka_unit_test(test_numeric_code_with_text),
        cmocka_unit_test(test_codes_outside_4xx_5xx_are_restrictions),
        cmocka_unit_test(test_dsn_must_be_well_formed),
        cmocka_unit_test(test_hold_discard_warn_keep_text_without_dsn),
        cmocka_unit_test(test_dunno_ignores_text),
        cmocka_unit_test(test_unsupported_actions_are_named),
        cmocka_unit_test(test_restriction_lists_and_tables),
        cmocka_unit_test(test_empty_value),
        cmocka_unit_test(test_long_word_does_not_overflow),
        cmocka_unit_test(test_action_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
