/* test_strutil - strict number, time and boolean parsing (bounds, junk,
 * overflow, units), trimming and tokenizing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "util/strutil.h"

static void test_str_to_long_accepts_in_range_values(void **state)
{
    long v = -1;
    assert_int_equal(str_to_long("0", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(str_to_long("10", 0, 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(str_to_long("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(str_to_long("007", 0, 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(str_to_long("9223372036854775807", 0, LONG_MAX, &v), 0);
    assert_true(v == LONG_MAX);
}

static void test_str_to_long_rejects_out_of_range(void **state)
{
    long v = 99;
    assert_int_equal(str_to_long("11", 0, 10, &v), -1);
    assert_int_equal(str_to_long("-1", 0, 10, &v), -1);
    assert_int_equal(str_to_long("-11", -10, 10, &v), -1);
    assert_int_equal(v, 99); /* untouched on failure */
}

static void test_str_to_long_rejects_junk(void **state)
{
    long v = 99;
    const char *bad[] = {"", "-", "+5", " 5", "5 ", "5x", "0x10", "1e3", "--5", "5-", "1.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (str_to_long(bad[i], LONG_MIN, LONG_MAX, &v) != -1)
            fail_msg("\"%s\" should be rejected", bad[i]);
    assert_int_equal(v, 99);
}

static void test_str_to_long_rejects_overflow(void **state)
{
    long v;
    assert_int_equal(str_to_long("9223372036854775808", 0, LONG_MAX, &v), -1);
    assert_int_equal(str_to_long("-9223372036854775809", LONG_MIN, 0, &v), -1);
    assert_int_equal(str_to_long("99999999999999999999999", 0, LONG_MAX, &v), -1);
}

static void test_str_to_time_units(void **state)
{
    long s;
    assert_int_equal(str_to_time("30s", 's', &s), 0);
    assert_int_equal(s, 30);
    assert_int_equal(str_to_time("5m", 's', &s), 0);
    assert_int_equal(s, 300);
    assert_int_equal(str_to_time("2h", 's', &s), 0);
    assert_int_equal(s, 7200);
    assert_int_equal(str_to_time("1d", 's', &s), 0);
    assert_int_equal(s, 86400);
    assert_int_equal(str_to_time("1w", 's', &s), 0);
    assert_int_equal(s, 604800);
    assert_int_equal(str_to_time("0s", 's', &s), 0);
    assert_int_equal(s, 0);
}

static void test_str_to_time_bare_number_uses_default_unit(void **state)
{
    long s;
    assert_int_equal(str_to_time("30", 's', &s), 0);
    assert_int_equal(s, 30);
    assert_int_equal(str_to_time("5", 'd', &s), 0); /* like maximal_queue_lifetime = 5 */
    assert_int_equal(s, 5 * 86400);
    assert_int_equal(str_to_time("3", 'h', &s), 0);
    assert_int_equal(s, 10800);
    assert_int_equal(str_to_time("3", 'x', &s), -1); /* a bad default unit */
}

static void test_str_to_time_rejects_junk_and_overflow(void **state)
{
    long s = 42;
    const char *bad[] = {"", "s", "-5s", "5y", "5 s", " 5", "5ss", "1.5h", "+1m", "m5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (str_to_time(bad[i], 's', &s) != -1)
            fail_msg("\"%s\" should be rejected", bad[i]);
    assert_int_equal(str_to_time("9223372036854775807w", 's', &s), -1);
    assert_int_equal(str_to_time("15250284452472w", 's', &s), -1); /* just over LONG_MAX */
    assert_int_equal(str_to_time("15250284452472", 'w', &s), -1);
    assert_int_equal(str_to_time("99999999999999999999", 's', &s), -1);
    assert_int_equal(str_to_time("1234567890123456789012", 's', &s), -1);
    assert_int_equal(str_to_time("15250284452471w", 's', &s), 0); /* the largest */
    assert_true(s == 15250284452471L * 604800L);
}

static void test_str_to_bool_words(void **state)
{
    int b = -1;
    assert_int_equal(str_to_bool("yes", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(str_to_bool("No", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(str_to_bool("TRUE", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(str_to_bool("false", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(str_to_bool("1", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(str_to_bool("0", &b), 0);
    assert_int_equal(b, 0);
    b = 7;
    assert_int_equal(str_to_bool("", &b), -1);
    assert_int_equal(str_to_bool("yess", &b), -1);
    assert_int_equal(str_to_bool(" yes", &b), -1);
    assert_int_equal(str_to_bool("2", &b), -1);
    assert_int_equal(b, 7);
}

static void test_str_token_skips_empty_tokens(void **state)
{
    char s[] = ",,a, b,,c ,";
    char *sp = s;
    assert_string_equal(str_token(&sp, ", "), "a");
    assert_string_equal(str_token(&sp, ", "), "b");
    assert_string_equal(str_token(&sp, ", "), "c");
    assert_null(str_token(&sp, ", "));
    assert_null(str_token(&sp, ", "));
    char *none = NULL;
    assert_null(str_token(&none, ","));
    char one[] = "single";
    sp = one;
    assert_string_equal(str_token(&sp, " "), "single");
    assert_null(str_token(&sp, " "));
}

static void test_str_trim_and_helpers(void **state)
{
    char s[] = " \t value with space \r\n";
    assert_string_equal(str_trim(s), "value with space");
    char blank[] = "  \t ";
    assert_string_equal(str_trim(blank), "");
    assert_int_equal(str_alldig("0123"), 1);
    assert_int_equal(str_alldig(""), 0);
    assert_int_equal(str_alldig("12a"), 0);
    char up[] = "MiXeD.Example";
    assert_string_equal(str_lower(up), "mixed.example");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_to_long_accepts_in_range_values),
        cmocka_unit_test(test_str_to_long_rejects_out_of_range),
        cmocka_unit_test(test_str_to_long_rejects_junk),
        cmocka_unit_test(test_str_to_long_rejects_overflow),
        cmocka_unit_test(test_str_to_time_units),
        cmocka_unit_test(test_str_to_time_bare_number_uses_default_unit),
        cmocka_unit_test(test_str_to_time_rejects_junk_and_overflow),
        cmocka_unit_test(test_str_to_bool_words),
        cmocka_unit_test(test_str_token_skips_empty_tokens),
        cmocka_unit_test(test_str_trim_and_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
