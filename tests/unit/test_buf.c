/* test_buf - growth, formatted output past the first allocation, counted
 * data with NUL, truncate, steal and the always-terminated invariant. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

static void test_empty_buffer_reads_as_empty_string(void **state)
{
    struct buf b = BUF_INIT;
    assert_string_equal(buf_cstr(&b), "");
    assert_int_equal(b.len, 0);
    assert_int_equal(buf_has_nul(&b), 0);
    buf_reset(&b); /* on a never-used buffer */
    buf_truncate(&b, 0);
    assert_string_equal(buf_cstr(&b), "");
    buf_free(&b);
}

static void test_append_grows_and_stays_terminated(void **state)
{
    struct buf b = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        buf_putc(&b, 'a' + i % 26);
    assert_int_equal(b.len, 1000);
    assert_true(b.cap > 1000);
    assert_int_equal(b.data[1000], 0);
    assert_int_equal(b.data[999], 'a' + 999 % 26);
    assert_int_equal(strlen(buf_cstr(&b)), 1000);
    buf_puts(&b, "XYZ");
    assert_int_equal(b.len, 1003);
    assert_string_equal(b.data + 1000, "XYZ");
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_printf_grows_past_first_allocation(void **state)
{
    struct buf b = BUF_INIT;
    char expect[300];

    buf_puts(&b, "start:");
    memset(expect, 'q', 200);
    expect[200] = 0;
    /* 6 + 200 + 4 bytes: well past the 64-byte first allocation. */
    buf_printf(&b, "%s-%03d", expect, 7);
    assert_int_equal(b.len, 6 + 200 + 4);
    assert_memory_equal(b.data, "start:", 6);
    assert_memory_equal(b.data + 6, expect, 200);
    assert_string_equal(b.data + 206, "-007");
    buf_printf(&b, "%d", 12345);
    assert_string_equal(b.data + 210, "12345");
    assert_int_equal(b.len, 215);
    buf_free(&b);
}

static void test_printf_exactly_filling_capacity(void **state)
{
    struct buf b = BUF_INIT;
    char s[64];
    /* 63 bytes + NUL fit the first 64-byte block exactly; 64 do not. */
    memset(s, 'r', 63);
    s[63] = 0;
    buf_printf(&b, "%s", s);
    assert_int_equal(b.len, 63);
    assert_string_equal(b.data, s);
    buf_printf(&b, "%c", 'z');
    assert_int_equal(b.len, 64);
    assert_int_equal(b.data[63], 'z');
    assert_int_equal(b.data[64], 0);
    buf_free(&b);
}

static void test_counted_data_keeps_nul_bytes(void **state)
{
    struct buf b = BUF_INIT;
    buf_append(&b, "a\0b\0", 4);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "a\0b\0", 4);
    assert_int_equal(b.data[4], 0);
    assert_int_equal(buf_has_nul(&b), 1);
    buf_set(&b, "clean");
    assert_int_equal(buf_has_nul(&b), 0);
    assert_int_equal(b.len, 5);
    buf_append(&b, NULL, 0);
    assert_int_equal(b.len, 5);
    buf_free(&b);
}

static void test_truncate_shortens_only(void **state)
{
    struct buf b = BUF_INIT;
    buf_set(&b, "hello world");
    buf_truncate(&b, 20);
    assert_string_equal(b.data, "hello world");
    buf_truncate(&b, 5);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    buf_truncate(&b, 0);
    assert_string_equal(buf_cstr(&b), "");
    buf_free(&b);
}

static void test_reset_keeps_memory(void **state)
{
    struct buf b = BUF_INIT;
    buf_set(&b, "some text");
    char *mem = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, mem);
    assert_int_equal(b.cap, cap);
    assert_string_equal(buf_cstr(&b), "");
    buf_free(&b);
}

static void test_steal_hands_over_contents_and_resets(void **state)
{
    struct buf b = BUF_INIT;
    buf_set(&b, "mine");
    char *s = buf_steal(&b);
    assert_string_equal(s, "mine");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    free(s);
    s = buf_steal(&b); /* an empty buffer still yields a string */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void test_reserve_makes_room_without_changing_contents(void **state)
{
    struct buf b = BUF_INIT;
    buf_set(&b, "abc");
    buf_reserve(&b, 10000);
    assert_true(b.cap >= 3 + 10000 + 1);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    buf_free(&b);
}

static void test_reserve_on_a_fresh_buffer_reads_as_empty(void **state)
{
    (void)state;
    struct buf b = BUF_INIT;
    buf_reserve(&b, 0);
    assert_non_null(b.data);
    assert_string_equal(buf_cstr(&b), "");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_on_a_fresh_buffer_reads_as_empty),
        cmocka_unit_test(test_empty_buffer_reads_as_empty_string),
        cmocka_unit_test(test_append_grows_and_stays_terminated),
        cmocka_unit_test(test_printf_grows_past_first_allocation),
        cmocka_unit_test(test_printf_exactly_filling_capacity),
        cmocka_unit_test(test_counted_data_keeps_nul_bytes),
        cmocka_unit_test(test_truncate_shortens_only),
        cmocka_unit_test(test_reset_keeps_memory),
        cmocka_unit_test(test_steal_hands_over_contents_and_resets),
        cmocka_unit_test(test_reserve_makes_room_without_changing_contents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
