/* test_qmgr_backoff - retry times (clamping to the backoff bounds, odd
 * bounds, saturation instead of overflow), expiry, and QF_TIME parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail/qmgr_backoff.h"

#define T_MAX ((time_t)INT64_MAX)
#define T_MIN ((time_t)INT64_MIN)

static void test_young_message_waits_the_minimal_backoff(void **state)
{
    assert_int_equal(qmgr_backoff_next(1000000, 1000000 - 10, 300, 4000), 1000000 + 300);
    assert_int_equal(qmgr_backoff_next(1000000, 1000000, 300, 4000), 1000000 + 300);
}

static void test_wait_grows_with_the_age_of_the_message(void **state)
{
    assert_int_equal(qmgr_backoff_next(1000000, 1000000 - 1000, 300, 4000), 1000000 + 1000);
}

static void test_old_message_waits_the_maximal_backoff(void **state)
{
    assert_int_equal(qmgr_backoff_next(1000000, 1000000 - 99999, 300, 4000), 1000000 + 4000);
    assert_int_equal(qmgr_backoff_next(1000000, 0, 300, 4000), 1000000 + 4000);
}

static void test_arrival_in_the_future_counts_as_new(void **state)
{
    assert_int_equal(qmgr_backoff_next(1000, 5000, 300, 4000), 1000 + 300);
    assert_int_equal(qmgr_backoff_next(1000, T_MAX, 300, 4000), 1000 + 300);
}

static void test_hostile_arrival_does_not_overflow(void **state)
{
    /* now - arrival would overflow: saturates, then clamps to the maximum */
    assert_int_equal(qmgr_backoff_next(T_MAX - 10, T_MIN, 300, 4000), T_MAX);
    assert_int_equal(qmgr_backoff_next(1000, T_MIN, 300, 4000), 1000 + 4000);
    assert_int_equal(qmgr_backoff_next(T_MAX, 0, 300, 4000), T_MAX);
}

static void test_odd_bounds_are_made_sane(void **state)
{
    /* max below min: min wins */
    assert_int_equal(qmgr_backoff_next(1000, 0, 300, 100), 1000 + 300);
    /* negative bounds count as zero */
    assert_int_equal(qmgr_backoff_next(1000, 990, -5, -5), 1000);
    assert_int_equal(qmgr_backoff_next(1000, 990, -5, 4000), 1000 + 10);
}

static void test_message_expires_after_its_lifetime(void **state)
{
    long five_days = 5 * 86400;
    assert_int_equal(qmgr_backoff_expired(10 * 86400, 10 * 86400 - five_days, five_days), 0);
    assert_int_equal(qmgr_backoff_expired(10 * 86400, 10 * 86400 - five_days - 1, five_days), 1);
    assert_int_equal(qmgr_backoff_expired(1000, 2000, five_days), 0);
    assert_int_equal(qmgr_backoff_expired(T_MAX, T_MIN, five_days), 1);
}

static void test_zero_lifetime_means_try_once(void **state)
{
    assert_int_equal(qmgr_backoff_expired(1000, 1000, 0), 1);
    assert_int_equal(qmgr_backoff_expired(1000, 2000, 0), 1);
}

static void test_arrival_text_is_parsed_strictly(void **state)
{
    time_t t = 42;
    assert_int_equal(qmgr_backoff_parse_arrival("1700000000.123456", &t), 0);
    assert_int_equal(t, 1700000000);
    assert_int_equal(qmgr_backoff_parse_arrival("17", &t), 0);
    assert_int_equal(t, 17);
    t = 42;
    assert_int_equal(qmgr_backoff_parse_arrival("", &t), -1);
    assert_int_equal(qmgr_backoff_parse_arrival("-5", &t), -1);
    assert_int_equal(qmgr_backoff_parse_arrival("+5", &t), -1);
    assert_int_equal(qmgr_backoff_parse_arrival(".5", &t), -1);
    assert_int_equal(qmgr_backoff_parse_arrival("5.", &t), -1);
    assert_int_equal(qmgr_backoff_parse_arrival("5.1234567", &t), -1);
    assert_int_equal(qmgr_backoff_parse_arrival("5.12x", &t), -1);
    assert_int_equal(qmgr_backoff_parse_arrival("5 ", &t), -1);
    assert_int_equal(qmgr_backoff_parse_arrival("99999999999999999999", &t), -1);
    assert_int_equal(t, 42);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_young_message_waits_the_minimal_backoff),
        cmocka_unit_test(test_wait_grows_with_the_age_of_the_message),
        cmocka_unit_test(test_old_message_waits_the_maximal_backoff),
        cmocka_unit_test(test_arrival_in_the_future_counts_as_new),
        cmocka_unit_test(test_hostile_arrival_does_not_overflow),
        cmocka_unit_test(test_odd_bounds_are_made_sane),
        cmocka_unit_test(test_message_expires_after_its_lifetime),
        cmocka_unit_test(test_zero_lifetime_means_try_once),
        cmocka_unit_test(test_arrival_text_is_parsed_strictly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
