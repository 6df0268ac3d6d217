/* test_fail_table - the per-client failure counts behind auth's failure
 * delay: counting, the doubling delay and its cap, reset on success,
 * forgetting after a quiet period, eviction of the oldest when full, and
 * the key bound. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "auth/fail_table.h"

static void test_delay_doubles_up_to_eight_times(void **state)
{
    assert_int_equal(fail_table_delay(2, 0), 0);
    assert_int_equal(fail_table_delay(2, 1), 2);
    assert_int_equal(fail_table_delay(2, 2), 4);
    assert_int_equal(fail_table_delay(2, 3), 8);
    assert_int_equal(fail_table_delay(2, 4), 16);
    assert_int_equal(fail_table_delay(2, 5), 16);
    assert_int_equal(fail_table_delay(2, UINT_MAX), 16);
    assert_int_equal(fail_table_delay(1, 2), 2);
    assert_int_equal(fail_table_delay(0, 7), 0);
    assert_int_equal(fail_table_delay(LONG_MAX, 4), LONG_MAX);
}

static void test_failures_count_per_client(void **state)
{
    struct fail_table *t = fail_table_create(16, 600);
    assert_int_equal(fail_table_failure(t, "192.0.2.1", 1000), 1);
    assert_int_equal(fail_table_failure(t, "192.0.2.1", 1001), 2);
    assert_int_equal(fail_table_failure(t, "192.0.2.2", 1001), 1);
    assert_int_equal(fail_table_failure(t, "192.0.2.1", 1002), 3);
    assert_int_equal(fail_table_count(t, "192.0.2.1", 1002), 3);
    assert_int_equal(fail_table_count(t, "192.0.2.2", 1002), 1);
    assert_int_equal(fail_table_count(t, "192.0.2.3", 1002), 0);
    assert_int_equal(fail_table_size(t), 2);
    fail_table_free(t);
}

static void test_success_forgets_the_client(void **state)
{
    struct fail_table *t = fail_table_create(16, 600);
    fail_table_failure(t, "2001:db8::1", 10);
    fail_table_failure(t, "2001:db8::1", 11);
    fail_table_failure(t, "2001:db8::2", 11);
    fail_table_success(t, "2001:db8::1");
    assert_int_equal(fail_table_count(t, "2001:db8::1", 12), 0);
    assert_int_equal(fail_table_count(t, "2001:db8::2", 12), 1);
    assert_int_equal(fail_table_failure(t, "2001:db8::1", 12), 1);
    fail_table_success(t, "never-seen");
    fail_table_free(t);
}

static void test_quiet_clients_are_forgotten(void **state)
{
    struct fail_table *t = fail_table_create(16, 600);
    fail_table_failure(t, "a", 1000);
    fail_table_failure(t, "a", 1100);
    fail_table_failure(t, "b", 1500);
    /* 599 s after a's last failure it still counts; at 600 it is gone */
    assert_int_equal(fail_table_count(t, "a", 1699), 2);
    assert_int_equal(fail_table_count(t, "a", 1700), 0);
    assert_int_equal(fail_table_count(t, "b", 1700), 1);
    assert_int_equal(fail_table_failure(t, "a", 1700), 1);
    assert_int_equal(fail_table_size(t), 2);
    fail_table_free(t);
}

static void test_full_table_evicts_the_oldest_failure(void **state)
{
    struct fail_table *t = fail_table_create(3, 600);
    fail_table_failure(t, "a", 1);
    fail_table_failure(t, "b", 2);
    fail_table_failure(t, "c", 3);
    fail_table_failure(t, "a", 4); /* a is now the newest */
    fail_table_failure(t, "d", 5); /* b goes */
    assert_int_equal(fail_table_size(t), 3);
    assert_int_equal(fail_table_count(t, "b", 5), 0);
    assert_int_equal(fail_table_count(t, "a", 5), 2);
    assert_int_equal(fail_table_count(t, "c", 5), 1);
    assert_int_equal(fail_table_count(t, "d", 5), 1);
    fail_table_free(t);
}

static void test_many_clients_stay_bounded(void **state)
{
    struct fail_table *t = fail_table_create(4096, 600);
    char key[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "198.51.%d.%d", i / 256, i % 256);
        assert_int_equal(fail_table_failure(t, key, 100), 1);
    }
    assert_int_equal(fail_table_size(t), 4096);
    /* the newest 4096 are there, with their counts */
    for (int i = 20000 - 4096; i < 20000; i++) {
        snprintf(key, sizeof(key), "198.51.%d.%d", i / 256, i % 256);
        assert_int_equal(fail_table_count(t, key, 100), 1);
    }
    snprintf(key, sizeof(key), "198.51.%d.%d", 0, 0);
    assert_int_equal(fail_table_count(t, key, 100), 0);
    /* everything is gone after the quiet period */
    assert_int_equal(fail_table_count(t, key, 700), 0);
    assert_int_equal(fail_table_size(t), 0);
    fail_table_free(t);
}

static void test_long_keys_are_cut(void **state)
{
    char a[200], b[200];
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = 0;
    memcpy(b, a, sizeof(b));
    b[150] = 'y'; /* differs past FAIL_TABLE_KEY_MAX: the same client */
    struct fail_table *t = fail_table_create(8, 600);
    assert_int_equal(fail_table_failure(t, a, 1), 1);
    assert_int_equal(fail_table_failure(t, b, 1), 2);
    fail_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delay_doubles_up_to_eight_times),
        cmocka_unit_test(test_failures_count_per_client),
        cmocka_unit_test(test_success_forgets_the_client),
        cmocka_unit_test(test_quiet_clients_are_forgotten),
        cmocka_unit_test(test_full_table_evicts_the_oldest_failure),
        cmocka_unit_test(test_many_clients_stay_bounded),
        cmocka_unit_test(test_long_keys_are_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
