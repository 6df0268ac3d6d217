/* test_qmgr_conc - the concurrency window: start at the initial
 * concurrency, growth with positive feedback up to the limit and only
 * while the window is used, shrinking on site failures but never below 1,
 * dead after the failed cohort limit, probe and revival; and the feedback
 * syntax ("1", "0.5", "1/concurrency"). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mail/qmgr_conc.h"

static struct qmgr_conc_params params(int initial, int limit, int cohorts, const char *pos,
                                      const char *neg)
{
    struct qmgr_conc_params p = {.initial = initial, .limit = limit, .cohort_limit = cohorts};
    struct buf why = BUF_INIT;
    if (qmgr_feedback_parse(pos, &p.pos, &why) < 0 || qmgr_feedback_parse(neg, &p.neg, &why) < 0)
        fail_msg("feedback: %s", buf_cstr(&why));
    buf_free(&why);
    return p;
}

static void test_feedback_syntax(void **state)
{
    struct qmgr_feedback fb;
    struct buf why = BUF_INIT, out = BUF_INIT;
    (void)state;

    assert_int_equal(qmgr_feedback_parse("1", &fb, &why), 0);
    assert_true(fb.value == 1.0 && !fb.per_window);
    assert_int_equal(qmgr_feedback_parse(" 1/concurrency ", &fb, &why), 0);
    assert_true(fb.value == 1.0 && fb.per_window);
    assert_true(qmgr_feedback_amount(&fb, 4) == 0.25);
    qmgr_feedback_format(&fb, &out);
    assert_string_equal(out.data, "1/concurrency");
    assert_int_equal(qmgr_feedback_parse("0.5 / Concurrency", &fb, &why), 0);
    assert_true(fb.value == 0.5 && fb.per_window);
    assert_int_equal(qmgr_feedback_parse(".25", &fb, &why), 0);
    assert_true(fb.value == 0.25);
    assert_int_equal(qmgr_feedback_parse("0", &fb, &why), 0);
    assert_true(qmgr_feedback_amount(&fb, 3) == 0);

    const char *bad[] = {"",
                         "2",
                         "-1",
                         "1.5",
                         "inf",
                         "nan",
                         "0x1",
                         "1e0",
                         "1/",
                         "1/conc",
                         "1/concurrencyx",
                         "1 2",
                         "1/concurrency/2",
                         ".",
                         "abc"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        buf_reset(&why);
        if (qmgr_feedback_parse(bad[i], &fb, &why) != -1)
            fail_msg("feedback \"%s\" was accepted", bad[i]);
        assert_non_null(strstr(why.data, "bad feedback"));
    }
    char longtext[200];
    memset(longtext, '1', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = 0;
    assert_int_equal(qmgr_feedback_parse(longtext, &fb, &why), -1);
    buf_free(&why);
    buf_free(&out);
}

static void test_starts_at_initial_concurrency_within_the_limit(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(5, 20, 1, "1", "1");
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    assert_int_equal(qmgr_conc_allowed(&c), 5);
    p.limit = 2; /* local: limit 2 */
    qmgr_conc_init(&c, &p);
    assert_int_equal(qmgr_conc_allowed(&c), 2);
    p.initial = 0;
    p.limit = 0;
    qmgr_conc_init(&c, &p);
    assert_int_equal(qmgr_conc_allowed(&c), 1);
}

static void test_positive_feedback_grows_up_to_the_limit(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(5, 8, 1, "1", "1");
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    /* the window is full: each delivery opens it by one */
    for (int i = 0; i < 10; i++)
        qmgr_conc_success(&c, &p, c.window);
    assert_int_equal(qmgr_conc_allowed(&c), 8);
}

static void test_one_over_concurrency_grows_a_step_per_window(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(4, 20, 1, "1/concurrency", "1/concurrency");
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    for (int i = 0; i < 3; i++)
        qmgr_conc_success(&c, &p, c.window);
    assert_int_equal(c.window, 4);
    qmgr_conc_success(&c, &p, c.window);
    assert_int_equal(c.window, 5); /* 4 x 1/4 */
    for (int i = 0; i < 5; i++)
        qmgr_conc_success(&c, &p, c.window);
    assert_int_equal(c.window, 6);
}

static void test_window_does_not_grow_far_beyond_use(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(5, 0, 1, "1", "1");
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    /* one delivery at a time: the window stops at busy + initial */
    for (int i = 0; i < 100; i++)
        qmgr_conc_success(&c, &p, 1);
    assert_int_equal(c.window, 6);
}

static void test_negative_feedback_shrinks_never_below_one(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(10, 20, 0, "1", "1"); /* never dead */
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    assert_int_equal(qmgr_conc_failure(&c, &p), 0);
    assert_int_equal(c.window, 9);
    for (int i = 0; i < 50; i++)
        assert_int_equal(qmgr_conc_failure(&c, &p), 0);
    assert_int_equal(qmgr_conc_allowed(&c), 1);
    assert_int_equal(c.state, QMGR_CONC_READY);
}

static void test_one_failed_cohort_at_concurrency_one_is_dead(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(1, 20, 1, "1", "1");
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    assert_int_equal(qmgr_conc_failure(&c, &p), 1);
    assert_int_equal(c.state, QMGR_CONC_DEAD);
    assert_int_equal(qmgr_conc_allowed(&c), 0);
    /* more failures of deliveries that were in flight change nothing */
    assert_int_equal(qmgr_conc_failure(&c, &p), 0);
    assert_int_equal(qmgr_conc_allowed(&c), 0);
}

static void test_cohorts_count_whole_windows_of_failures(void **state)
{
    (void)state;
    /* negative feedback 0: the window stays at 4, so 4 failures make a
     * cohort; the limit is 2 cohorts */
    struct qmgr_conc_params p = params(4, 20, 2, "1", "0");
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    for (int i = 0; i < 7; i++)
        assert_int_equal(qmgr_conc_failure(&c, &p), 0);
    assert_int_equal(qmgr_conc_failure(&c, &p), 1);
    /* a success in between starts the count again */
    qmgr_conc_init(&c, &p);
    for (int i = 0; i < 7; i++)
        (void)qmgr_conc_failure(&c, &p);
    qmgr_conc_success(&c, &p, 4);
    assert_true(c.fail_cohorts == 0);
    assert_int_equal(qmgr_conc_failure(&c, &p), 0);
}

static void test_default_feedback_dies_after_window_shrinks(void **state)
{
    (void)state;
    /* initial 5, limit 1 cohort, 1/concurrency both ways (Postfix 2.5) */
    struct qmgr_conc_params p = params(5, 20, 1, "1/concurrency", "1/concurrency");
    struct qmgr_conc c;
    int n = 0;
    qmgr_conc_init(&c, &p);
    while (!qmgr_conc_failure(&c, &p))
        n++;
    assert_int_equal(n, 4); /* 1/5 + 1/4 + 1/4 + 1/4 + 1/4 >= 1: the 5th */
}

static void test_probe_success_revives_failure_kills(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(5, 20, 1, "1", "1");
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    while (!qmgr_conc_failure(&c, &p))
        ;
    qmgr_conc_probe(&c);
    assert_int_equal(c.state, QMGR_CONC_PROBE);
    assert_int_equal(qmgr_conc_allowed(&c), 1);
    assert_int_equal(qmgr_conc_failure(&c, &p), 1);
    assert_int_equal(qmgr_conc_allowed(&c), 0);
    qmgr_conc_probe(&c);
    qmgr_conc_success(&c, &p, 1);
    assert_int_equal(c.state, QMGR_CONC_READY);
    assert_int_equal(qmgr_conc_allowed(&c), 5);
    /* probe on a live destination changes nothing */
    qmgr_conc_probe(&c);
    assert_int_equal(c.state, QMGR_CONC_READY);
}

static void test_revive_uses_what_is_in_flight(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(5, 20, 1, "1", "1");
    struct qmgr_conc c;
    qmgr_conc_init(&c, &p);
    while (!qmgr_conc_failure(&c, &p))
        ;
    qmgr_conc_revive(&c, &p, 3);
    assert_int_equal(c.state, QMGR_CONC_READY);
    assert_int_equal(qmgr_conc_allowed(&c), 3);
    while (!qmgr_conc_failure(&c, &p))
        ;
    qmgr_conc_revive(&c, &p, 0);
    assert_int_equal(qmgr_conc_allowed(&c), 5);
    assert_true(c.fail_cohorts == 0);
    /* a late success of a delivery in flight when it died also revives */
    while (!qmgr_conc_failure(&c, &p))
        ;
    qmgr_conc_success(&c, &p, 2);
    assert_int_equal(qmgr_conc_allowed(&c), 2);
}

static void test_format_names_state_and_window(void **state)
{
    (void)state;
    struct qmgr_conc_params p = params(3, 20, 1, "1", "1");
    struct qmgr_conc c;
    struct buf out = BUF_INIT;
    qmgr_conc_init(&c, &p);
    qmgr_conc_format(&c, &out);
    assert_string_equal(out.data, "ready window 3 success 0 failure 0 fail_cohorts 0");
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feedback_syntax),
        cmocka_unit_test(test_starts_at_initial_concurrency_within_the_limit),
        cmocka_unit_test(test_positive_feedback_grows_up_to_the_limit),
        cmocka_unit_test(test_one_over_concurrency_grows_a_step_per_window),
        cmocka_unit_test(test_window_does_not_grow_far_beyond_use),
        cmocka_unit_test(test_negative_feedback_shrinks_never_below_one),
        cmocka_unit_test(test_one_failed_cohort_at_concurrency_one_is_dead),
        cmocka_unit_test(test_cohorts_count_whole_windows_of_failures),
        cmocka_unit_test(test_default_feedback_dies_after_window_shrinks),
        cmocka_unit_test(test_probe_success_revives_failure_kills),
        cmocka_unit_test(test_revive_uses_what_is_in_flight),
        cmocka_unit_test(test_format_names_state_and_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
