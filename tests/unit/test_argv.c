/* test_argv - vectors stay NULL-terminated through growth; split skips
 * empty fields; counted adds keep only n bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/argv.h"
#include "util/buf.h"

static void test_new_vector_is_empty_and_terminated(void **state)
{
    struct argv *a = argv_alloc();
    assert_int_equal(a->argc, 0);
    assert_null(a->argv[0]);
    argv_free(a);
    argv_free(NULL);
}

static void test_add_grows_and_keeps_null_terminator(void **state)
{
    struct argv *a = argv_alloc();
    char s[16];
    for (int i = 0; i < 100; i++) {
        snprintf(s, sizeof(s), "arg%d", i);
        argv_add(a, s);
        assert_null(a->argv[a->argc]);
    }
    assert_int_equal(a->argc, 100);
    assert_string_equal(a->argv[0], "arg0");
    assert_string_equal(a->argv[99], "arg99");
    argv_free(a);
}

static void test_addn_copies_only_n_bytes(void **state)
{
    struct argv *a = argv_alloc();
    argv_addn(a, "hello world", 5);
    assert_string_equal(a->argv[0], "hello");
    argv_free(a);
}

static void test_zeroed_vector_can_be_added_to(void **state)
{
    struct argv a = {NULL, 0, 0};
    argv_add(&a, "x");
    argv_add(&a, "y");
    assert_int_equal(a.argc, 2);
    assert_string_equal(a.argv[1], "y");
    assert_null(a.argv[2]);
    struct argv *heap = argv_alloc();
    argv_free(heap);
    for (size_t i = 0; i < a.argc; i++)
        free(a.argv[i]);
    free(a.argv);
}

static void test_split_skips_empty_fields(void **state)
{
    struct argv *a = argv_split("  smtp, ,inet  n\t-", ", \t");
    assert_int_equal(a->argc, 4);
    assert_string_equal(a->argv[0], "smtp");
    assert_string_equal(a->argv[1], "inet");
    assert_string_equal(a->argv[2], "n");
    assert_string_equal(a->argv[3], "-");
    assert_null(a->argv[4]);
    argv_free(a);
}

static void test_split_of_only_delimiters_is_empty(void **state)
{
    struct argv *a = argv_split(" , ,", ", ");
    assert_int_equal(a->argc, 0);
    assert_null(a->argv[0]);
    argv_free(a);
    a = argv_split("", " ");
    assert_int_equal(a->argc, 0);
    argv_free(a);
}

static void test_split_braced_keeps_inline_tables_whole(void **state)
{
    struct argv *a = argv_alloc();
    struct buf why = BUF_INIT;
    assert_int_equal(argv_split_braced(" hash:/a, inline:{ x=1, y=2 },,\tb\n", a, 0, &why), 0);
    assert_int_equal(a->argc, 3);
    assert_string_equal(a->argv[0], "hash:/a");
    assert_string_equal(a->argv[1], "inline:{ x=1, y=2 }");
    assert_string_equal(a->argv[2], "b");
    argv_free(a);

    a = argv_alloc();
    assert_int_equal(argv_split_braced("a inline:{ x=1", a, 0, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "missing \"}\""));
    assert_int_equal(argv_split_braced("a}b", a, 0, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "unbalanced"));
    argv_free(a);

    a = argv_alloc();
    assert_int_equal(argv_split_braced("a b c", a, 2, &why), -1);
    assert_string_equal(buf_cstr(&why), "more than 2 words in a list");
    argv_free(a);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_vector_is_empty_and_terminated),
        cmocka_unit_test(test_add_grows_and_keeps_null_terminator),
        cmocka_unit_test(test_addn_copies_only_n_bytes),
        cmocka_unit_test(test_zeroed_vector_can_be_added_to),
        cmocka_unit_test(test_split_skips_empty_fields),
        cmocka_unit_test(test_split_of_only_delimiters_is_empty),
        cmocka_unit_test(test_split_braced_keeps_inline_tables_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
