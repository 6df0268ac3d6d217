/* test_alloc - checked size arithmetic, copies that add a NUL, and the
 * process ending (exit 1) when a size cannot be represented. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/alloc.h"

static void test_size_add_ok_detects_overflow(void **state)
{
    size_t out = 7;
    assert_int_equal(size_add_ok(1, 2, &out), 1);
    assert_int_equal(out, 3);
    assert_int_equal(size_add_ok(SIZE_MAX, 0, &out), 1);
    assert_true(out == SIZE_MAX);
    assert_int_equal(size_add_ok(SIZE_MAX, 1, &out), 0);
    assert_int_equal(size_add_ok(SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 1, &out), 0);
}

static void test_size_mul_ok_detects_overflow(void **state)
{
    size_t out;
    assert_int_equal(size_mul_ok(1000, 1000, &out), 1);
    assert_int_equal(out, 1000000);
    assert_int_equal(size_mul_ok(0, SIZE_MAX, &out), 1);
    assert_int_equal(out, 0);
    assert_int_equal(size_mul_ok(SIZE_MAX / 2 + 1, 2, &out), 0);
    assert_int_equal(
        size_mul_ok((size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4), &out), 0);
}

static void test_copies_are_terminated(void **state)
{
    char *p = xmemdup("a\0bc", 4);
    assert_memory_equal(p, "a\0bc", 4);
    assert_int_equal(p[4], 0);
    free(p);
    p = xstrndup("hello", 3);
    assert_string_equal(p, "hel");
    free(p);
    p = xstrndup("hi", 10); /* n past the end stops at the NUL */
    assert_string_equal(p, "hi");
    free(p);
    p = xstrdup("");
    assert_string_equal(p, "");
    free(p);
    p = xmemdup(NULL, 0);
    assert_string_equal(p, "");
    free(p);
}

static void test_zero_sized_allocations_return_memory(void **state)
{
    void *p = xmalloc(0);
    assert_non_null(p);
    p = xrealloc(p, 0);
    assert_non_null(p);
    free(p);
    p = xcalloc(0, 0);
    assert_non_null(p);
    free(p);
    int *v = xcalloc(4, sizeof(int));
    assert_int_equal(v[0] | v[1] | v[2] | v[3], 0);
    v = xreallocarray(v, 100, sizeof(int));
    v[99] = 5;
    free(v);
}

/* Run fn in a child and return its exit status (-1 if it did not exit). */
static int child_status(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(2); /* keep the expected fatal message out of the test output */
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void overflow_reallocarray(void)
{
    free(xreallocarray(NULL, SIZE_MAX / 2, 3));
}

static void overflow_memdup(void)
{
    free(xmemdup("x", SIZE_MAX));
}

static void test_unrepresentable_sizes_end_the_process(void **state)
{
    assert_int_equal(child_status(overflow_reallocarray), 1);
    assert_int_equal(child_status(overflow_memdup), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_add_ok_detects_overflow),
        cmocka_unit_test(test_size_mul_ok_detects_overflow),
        cmocka_unit_test(test_copies_are_terminated),
        cmocka_unit_test(test_zero_sized_allocations_return_memory),
        cmocka_unit_test(test_unrepresentable_sizes_end_the_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
