/* test_queue_id - queue IDs: format, strict validation, time order, the
 * encoded time, hash spread, and uniqueness across concurrent processes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mail/queue_id.h"

#define PER_CHILD 100000

static void assert_id_chars(const char *id)
{
    assert_int_equal(strlen(id), QUEUE_ID_LEN);
    for (size_t i = 0; i < QUEUE_ID_LEN; i++)
        assert_non_null(strchr(QUEUE_ID_ALPHABET, id[i]));
}

static void test_alphabet_is_32_ascii_sorted_vowel_free_symbols(void **state)
{
    const char *a = QUEUE_ID_ALPHABET;
    assert_int_equal(strlen(a), 32);
    for (size_t i = 1; i < 32; i++)
        assert_true((unsigned char)a[i - 1] < (unsigned char)a[i]);
    assert_null(strpbrk(a, "AEIOUaeiou/.-"));
}

static void test_from_encodes_fixed_width_fields(void **state)
{
    char id[QUEUE_ID_LEN + 1];
    struct timeval tv = {0, 0};

    queue_id_from(&tv, 0, id);
    assert_string_equal(id, "0000000000000000");
    tv.tv_sec = 1;
    tv.tv_usec = 1;
    queue_id_from(&tv, 1, id);
    assert_string_equal(id, "0000001000100001");
    /* 999999 = (30,16,17,31) and 2^22 = 4 * 32^4 in base 32 */
    tv.tv_sec = 32;
    tv.tv_usec = 999999;
    queue_id_from(&tv, 1L << 22, id);
    assert_string_equal(id, "0000010ZJK_40000");
    /* the example in postern-queue(5) */
    tv.tv_sec = 1700000000;
    tv.tv_usec = 123456;
    queue_id_from(&tv, 4242, id);
    assert_string_equal(id, "1LP7X803SL00044L");
}

static void test_from_normalises_out_of_range_microseconds(void **state)
{
    char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
    struct timeval odd = {10, 2500000}, even = {12, 500000};
    queue_id_from(&odd, 7, a);
    queue_id_from(&even, 7, b);
    assert_string_equal(a, b);
    assert_int_equal(queue_id_valid(a), 1);
}

static void test_new_id_is_valid_and_well_formed(void **state)
{
    char id[QUEUE_ID_LEN + 1];
    queue_id_new(id);
    assert_id_chars(id);
    assert_int_equal(queue_id_valid(id), 1);
}

static void test_valid_is_strict(void **state)
{
    assert_int_equal(queue_id_valid("1B2C3D4F5G6H7J8K"), 1);
    assert_int_equal(queue_id_valid(NULL), 0);
    assert_int_equal(queue_id_valid(""), 0);
    assert_int_equal(queue_id_valid("1B2C3D4F5G6H7J8"), 0);   /* short */
    assert_int_equal(queue_id_valid("1B2C3D4F5G6H7J8KL"), 0); /* long */
    assert_int_equal(queue_id_valid("1B2C3D4F5G6H7J8A"), 0);  /* vowel */
    assert_int_equal(queue_id_valid("1b2C3D4F5G6H7J8K"), 0);  /* lower case */
    assert_int_equal(queue_id_valid("1B2C3D4F5G6H7J8 "), 0);
    assert_int_equal(queue_id_valid("1B2C3D4/5G6H7J8K"), 0);
    assert_int_equal(queue_id_valid(".1B2C3D4F5G6H7J8K.tmp"), 0);
    assert_int_equal(queue_id_valid("1B2C3D4F5G6H7J8K.tmp"), 0);
    /* microsecond field ZJK_ = 999999 is the largest that exists */
    assert_int_equal(queue_id_valid("0000010ZJK_40000"), 1);
    assert_int_equal(queue_id_valid("0000010ZJL040000"), 0);
    assert_int_equal(queue_id_valid("0000010____40000"), 0);
}

static void test_string_order_is_time_order(void **state)
{
    /* Pairs in increasing time, crossing digit/letter boundaries and the
     * second boundary, where a naive encoding would sort wrongly. */
    struct timeval seq[] = {
        {0, 0},
        {0, 9},
        {0, 10},
        {0, 31},
        {0, 32},
        {0, 999999},
        {1, 0},
        {9, 5},
        {10, 0},
        {31, 999999},
        {32, 0},
        {1023, 1023},
        {1024, 0},
        {1700000000, 1},
        {1700000000, 2},
        {1700000001, 0},
        {2000000000, 999999},
        {34359738367, 999999},
    };
    size_t n = sizeof(seq) / sizeof(seq[0]);
    char prev[QUEUE_ID_LEN + 1], cur[QUEUE_ID_LEN + 1];

    queue_id_from(&seq[0], 4194303, prev);
    for (size_t i = 1; i < n; i++) {
        queue_id_from(&seq[i], 1, cur);
        if (strcmp(prev, cur) >= 0)
            fail_msg("ID %s for %lld.%06ld does not sort after %s", cur, (long long)seq[i].tv_sec,
                     (long)seq[i].tv_usec, prev);
        memcpy(prev, cur, sizeof(prev));
    }
}

static void test_successive_ids_strictly_increase(void **state)
{
    char prev[QUEUE_ID_LEN + 1], cur[QUEUE_ID_LEN + 1];
    queue_id_new(prev);
    for (int i = 0; i < 100000; i++) {
        queue_id_new(cur);
        if (strcmp(prev, cur) >= 0)
            fail_msg("call %d: %s does not sort after %s", i, cur, prev);
        memcpy(prev, cur, sizeof(prev));
    }
}

static void test_time_round_trips(void **state)
{
    struct timeval in[] = {{0, 0}, {1, 999999}, {1700000000, 123456}, {34359738367, 1}};
    char id[QUEUE_ID_LEN + 1];
    struct timeval out;

    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        queue_id_from(&in[i], 4242, id);
        assert_int_equal(queue_id_time(id, &out), 0);
        assert_int_equal(out.tv_sec, in[i].tv_sec);
        assert_int_equal(out.tv_usec, in[i].tv_usec);
    }
    assert_int_equal(queue_id_time("not-an-id", &out), -1);
}

static void test_new_id_carries_the_current_time(void **state)
{
    struct timeval before, after, got;
    char id[QUEUE_ID_LEN + 1];
    gettimeofday(&before, NULL);
    queue_id_new(id);
    gettimeofday(&after, NULL);
    assert_int_equal(queue_id_time(id, &got), 0);
    /* the monotonic bump may add a few microseconds after earlier tests */
    assert_true(got.tv_sec >= before.tv_sec && got.tv_sec <= after.tv_sec + 1);
}

static void test_hash_level_one_spreads_exactly_evenly(void **state)
{
    long count[256] = {0};
    char id[QUEUE_ID_LEN + 1], h[8];
    struct timeval tv = {1700000000, 0};

    for (long us = 0; us < 1000000; us++) {
        tv.tv_usec = us;
        queue_id_from(&tv, 99, id);
        queue_id_hash(id, 1, h, sizeof(h));
        assert_int_equal(strlen(h), 1);
        count[(unsigned char)h[0]]++;
    }
    /* 10^6 = 32 * 31250: every symbol gets the same share of a second */
    for (const char *a = QUEUE_ID_ALPHABET; *a; a++)
        assert_int_equal(count[(unsigned char)*a], 31250);
}

static void test_hash_level_two_spreads_evenly(void **state)
{
    static long count[32 * 32];
    char id[QUEUE_ID_LEN + 1], h[8];
    struct timeval tv = {1700000000, 0};

    memset(count, 0, sizeof(count));
    for (long us = 0; us < 1000000; us++) {
        tv.tv_usec = us;
        queue_id_from(&tv, 99, id);
        queue_id_hash(id, 2, h, sizeof(h));
        assert_int_equal(strlen(h), 3);
        assert_int_equal(h[1], '/');
        int a = (int)(strchr(QUEUE_ID_ALPHABET, h[0]) - QUEUE_ID_ALPHABET);
        int b = (int)(strchr(QUEUE_ID_ALPHABET, h[2]) - QUEUE_ID_ALPHABET);
        count[a * 32 + b]++;
    }
    /* 10^6 = 976 * 1024 + 576 */
    for (int i = 0; i < 32 * 32; i++)
        assert_in_range(count[i], 976, 977);
}

static void test_hash_takes_fast_symbols_first_and_respects_limits(void **state)
{
    char h[16];
    queue_id_hash("1B2C3D4F5G6H7J8K", 2, h, sizeof(h));
    assert_string_equal(h, "6/G");
    queue_id_hash("1B2C3D4F5G6H7J8K", 9, h, sizeof(h));
    assert_string_equal(h, "6/G/5/F"); /* at most QUEUE_ID_HASH_MAX levels */
    queue_id_hash("1B2C3D4F5G6H7J8K", 3, h, 4);
    assert_string_equal(h, "6/G"); /* only what fits */
    queue_id_hash("1B2C3D4F5G6H7J8K", 0, h, sizeof(h));
    assert_string_equal(h, "");
    queue_id_hash("../../etc/passwd", 2, h, sizeof(h));
    assert_string_equal(h, "");
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, QUEUE_ID_LEN);
}

static void test_two_processes_make_200000_unique_ids(void **state)
{
    char path[2][32];
    int go[2], out[2];
    pid_t kid[2];

    assert_int_equal(pipe(go), 0);
    for (int k = 0; k < 2; k++) {
        snprintf(path[k], sizeof(path[k]), "/tmp/test_qid.XXXXXX");
        int fd = mkstemp(path[k]);
        assert_true(fd >= 0);
        unlink(path[k]); /* nothing is left behind, even if the test fails */
        out[k] = fd;
        kid[k] = fork();
        assert_true(kid[k] >= 0);
        if (kid[k] == 0) {
            /* Both children start together, once the parent lets go. */
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0)
                _exit(2);
            char *ids = malloc((size_t)PER_CHILD * QUEUE_ID_LEN);
            char id[QUEUE_ID_LEN + 1];
            if (ids == NULL)
                _exit(2);
            for (int i = 0; i < PER_CHILD; i++) {
                queue_id_new(id);
                memcpy(ids + (size_t)i * QUEUE_ID_LEN, id, QUEUE_ID_LEN);
            }
            size_t n = (size_t)PER_CHILD * QUEUE_ID_LEN;
            _exit(write(fd, ids, n) == (ssize_t)n ? 0 : 2);
        }
    }
    close(go[0]);
    close(go[1]);

    size_t per = (size_t)PER_CHILD * QUEUE_ID_LEN;
    char *all = malloc(2 * per);
    assert_non_null(all);
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(kid[k], &status, 0), kid[k]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(pread(out[k], all + k * per, per, 0), (ssize_t)per);
        close(out[k]);
        /* each child's own sequence is strictly increasing */
        for (size_t i = 1; i < PER_CHILD; i++) {
            const char *p = all + k * per + (i - 1) * QUEUE_ID_LEN;
            if (memcmp(p, p + QUEUE_ID_LEN, QUEUE_ID_LEN) >= 0)
                fail_msg("child %d: ID %zu %.16s does not sort after %.16s", k, i, p + QUEUE_ID_LEN,
                         p);
        }
    }
    qsort(all, 2 * PER_CHILD, QUEUE_ID_LEN, cmp_id);
    for (size_t i = 1; i < 2 * PER_CHILD; i++) {
        const char *p = all + (i - 1) * QUEUE_ID_LEN;
        if (memcmp(p, p + QUEUE_ID_LEN, QUEUE_ID_LEN) == 0)
            fail_msg("duplicate queue ID %.16s", p);
    }
    free(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alphabet_is_32_ascii_sorted_vowel_free_symbols),
        cmocka_unit_test(test_from_encodes_fixed_width_fields),
        cmocka_unit_test(test_from_normalises_out_of_range_microseconds),
        cmocka_unit_test(test_new_id_is_valid_and_well_formed),
        cmocka_unit_test(test_valid_is_strict),
        cmocka_unit_test(test_string_order_is_time_order),
        cmocka_unit_test(test_successive_ids_strictly_increase),
        cmocka_unit_test(test_time_round_trips),
        cmocka_unit_test(test_new_id_carries_the_current_time),
        cmocka_unit_test(test_hash_level_one_spreads_exactly_evenly),
        cmocka_unit_test(test_hash_level_two_spreads_evenly),
        cmocka_unit_test(test_hash_takes_fast_symbols_first_and_respects_limits),
        cmocka_unit_test(test_two_processes_make_200000_unique_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
