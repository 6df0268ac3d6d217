/* test_anvil_table - anvil's counting rules with a synthetic clock: rate
 * windows, counts that follow one client's connects and never go negative,
 * expiry and eviction of idle idents, the bounds, peaks and their log lines. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/anvil_table.h"

#define T0 1000000L

struct fixture {
    struct anvil_table *t;
    struct anvil_local *a, *b;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->t = anvil_table_create(0, 60);
    f->a = anvil_local_create();
    f->b = anvil_local_create();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->a)
        anvil_local_free(f->t, f->a, 0);
    if (f->b)
        anvil_local_free(f->t, f->b, 0);
    anvil_table_free(f->t);
    free(f);
    return 0;
}

static void connect_ok(struct fixture *f, struct anvil_local *l, const char *ident, long now,
                       int want_count, int want_rate)
{
    int count = -1, rate = -1;
    struct buf why = BUF_INIT;
    int rc = anvil_local_connect(f->t, l, ident, now, &count, &rate, &why);
    if (rc != 0)
        fail_msg("connect %s failed: %s", ident, buf_cstr(&why));
    buf_free(&why);
    assert_int_equal(count, want_count);
    assert_int_equal(rate, want_rate);
}

static int event(struct fixture *f, const char *ident, enum anvil_event ev, long now)
{
    int rate = -1;
    assert_int_equal(anvil_table_event(f->t, ident, ev, now, &rate, NULL), 0);
    return rate;
}

static struct anvil_counts look(struct fixture *f, const char *ident, long now)
{
    struct anvil_counts c;
    anvil_table_lookup(f->t, ident, now, &c);
    return c;
}

static void test_counts_connections_of_two_clients(void **state)
{
    struct fixture *f = *state;
    connect_ok(f, f->a, "smtp:192.0.2.1", T0, 1, 1);
    connect_ok(f, f->b, "smtp:192.0.2.1", T0 + 1, 2, 2);
    connect_ok(f, f->a, "smtp:192.0.2.1", T0 + 2, 3, 3);
    connect_ok(f, f->a, "smtp:192.0.2.2", T0 + 2, 1, 1);
    assert_int_equal(look(f, "smtp:192.0.2.1", T0 + 3).count, 3);
    assert_int_equal(look(f, "smtp:192.0.2.1", T0 + 3).rate[ANVIL_EV_CONNECT], 3);
    assert_int_equal(anvil_local_open(f->a), 3);
    assert_int_equal(anvil_local_open(f->b), 1);
}

static void test_disconnect_only_undoes_own_connects(void **state)
{
    struct fixture *f = *state;
    connect_ok(f, f->a, "smtp:192.0.2.1", T0, 1, 1);
    /* b never connected: its disconnect must not take a's count */
    assert_int_equal(anvil_local_disconnect(f->t, f->b, "smtp:192.0.2.1", T0), 0);
    assert_int_equal(look(f, "smtp:192.0.2.1", T0).count, 1);
    assert_int_equal(anvil_local_disconnect(f->t, f->a, "smtp:192.0.2.1", T0), 1);
    assert_int_equal(look(f, "smtp:192.0.2.1", T0).count, 0);
    /* never negative */
    assert_int_equal(anvil_local_disconnect(f->t, f->a, "smtp:192.0.2.1", T0), 0);
    assert_int_equal(look(f, "smtp:192.0.2.1", T0).count, 0);
    assert_int_equal(anvil_local_disconnect(f->t, f->a, "smtp:unknown", T0), 0);
    /* the connection rate is not undone by a disconnect */
    assert_int_equal(look(f, "smtp:192.0.2.1", T0).rate[ANVIL_EV_CONNECT], 1);
    connect_ok(f, f->a, "smtp:192.0.2.1", T0 + 1, 1, 2);
}

static void test_closed_client_undoes_its_connects(void **state)
{
    struct fixture *f = *state;
    connect_ok(f, f->a, "smtp:192.0.2.1", T0, 1, 1);
    connect_ok(f, f->b, "smtp:192.0.2.1", T0, 2, 2);
    connect_ok(f, f->b, "smtp:192.0.2.1", T0, 3, 3);
    connect_ok(f, f->b, "smtp:192.0.2.9", T0, 1, 1);
    anvil_local_free(f->t, f->b, T0 + 1);
    f->b = NULL;
    assert_int_equal(look(f, "smtp:192.0.2.1", T0 + 1).count, 1);
    assert_int_equal(look(f, "smtp:192.0.2.9", T0 + 1).count, 0);
    assert_int_equal(look(f, "smtp:192.0.2.1", T0 + 1).rate[ANVIL_EV_CONNECT], 3);
}

static void test_rate_window_starts_at_first_event_and_restarts(void **state)
{
    struct fixture *f = *state;
    const char *id = "smtp:198.51.100.7";
    assert_int_equal(event(f, id, ANVIL_EV_MESSAGE, T0), 1);
    assert_int_equal(event(f, id, ANVIL_EV_MESSAGE, T0 + 30), 2);
    assert_int_equal(event(f, id, ANVIL_EV_RECIPIENT, T0 + 59), 1);
    assert_int_equal(event(f, id, ANVIL_EV_MESSAGE, T0 + 59), 3);
    struct anvil_counts c = look(f, id, T0 + 59);
    assert_int_equal(c.rate[ANVIL_EV_MESSAGE], 3);
    assert_int_equal(c.rate[ANVIL_EV_RECIPIENT], 1);
    assert_int_equal(c.rate[ANVIL_EV_AUTH], 0);
    /* a full unit after the first event: stale rates are not reported */
    c = look(f, id, T0 + 60);
    assert_int_equal(c.rate[ANVIL_EV_MESSAGE], 0);
    assert_int_equal(c.rate[ANVIL_EV_RECIPIENT], 0);
    /* ... and the next event restarts every rate at that event */
    assert_int_equal(event(f, id, ANVIL_EV_RECIPIENT, T0 + 75), 1);
    c = look(f, id, T0 + 75);
    assert_int_equal(c.rate[ANVIL_EV_MESSAGE], 0);
    assert_int_equal(c.rate[ANVIL_EV_RECIPIENT], 1);
    /* the new window runs from T0 + 75, not from T0 + 60 */
    assert_int_equal(event(f, id, ANVIL_EV_RECIPIENT, T0 + 134), 2);
    assert_int_equal(event(f, id, ANVIL_EV_RECIPIENT, T0 + 135), 1);
}

static void test_connect_rate_window_while_connected(void **state)
{
    struct fixture *f = *state;
    connect_ok(f, f->a, "smtp:192.0.2.1", T0, 1, 1);
    connect_ok(f, f->a, "smtp:192.0.2.1", T0 + 10, 2, 2);
    connect_ok(f, f->a, "smtp:192.0.2.1", T0 + 70, 3, 1);
    assert_int_equal(event(f, "smtp:192.0.2.1", ANVIL_EV_AUTH, T0 + 71), 1);
    assert_int_equal(look(f, "smtp:192.0.2.1", T0 + 71).rate[ANVIL_EV_CONNECT], 1);
}

static void test_clock_going_backwards_restarts_the_window(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(event(f, "smtp:a", ANVIL_EV_AUTH, T0), 1);
    assert_int_equal(event(f, "smtp:a", ANVIL_EV_AUTH, T0 + 1), 2);
    assert_int_equal(event(f, "smtp:a", ANVIL_EV_AUTH, T0 - 3600), 1);
    assert_int_equal(event(f, "smtp:a", ANVIL_EV_AUTH, T0 - 3599), 2);
}

static void test_events_on_unknown_ident_add_it_without_connection(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(anvil_table_size(f->t), 0);
    assert_int_equal(event(f, "smtp:x", ANVIL_EV_AUTH, T0), 1);
    assert_int_equal(anvil_table_size(f->t), 1);
    assert_int_equal(look(f, "smtp:x", T0).count, 0);
    /* lookups do not add */
    (void)look(f, "smtp:y", T0);
    assert_int_equal(anvil_table_size(f->t), 1);
    struct anvil_counts c = look(f, "smtp:y", T0);
    assert_int_equal(c.count, 0);
    assert_int_equal(c.rate[ANVIL_EV_CONNECT], 0);
}

static void test_bad_idents_and_events_are_refused(void **state)
{
    struct fixture *f = *state;
    char id[ANVIL_IDENT_MAX + 2];
    struct buf why = BUF_INIT;
    int count = 0, rate = 0;

    memset(id, 'a', sizeof(id));
    id[ANVIL_IDENT_MAX] = 0;
    assert_int_equal(anvil_ident_ok(id, strlen(id)), 1);
    assert_int_equal(anvil_local_connect(f->t, f->a, id, T0, &count, &rate, &why), 0);
    id[ANVIL_IDENT_MAX] = 'a';
    id[ANVIL_IDENT_MAX + 1] = 0;
    assert_int_equal(anvil_ident_ok(id, strlen(id)), 0);
    assert_int_equal(anvil_local_connect(f->t, f->a, id, T0, &count, &rate, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "ident"));
    assert_int_equal(anvil_table_event(f->t, "", ANVIL_EV_MESSAGE, T0, &rate, &why), -1);
    assert_int_equal(anvil_table_event(f->t, NULL, ANVIL_EV_MESSAGE, T0, &rate, &why), -1);
    assert_int_equal(anvil_table_event(f->t, "smtp:a\nb", ANVIL_EV_MESSAGE, T0, &rate, &why), -1);
    assert_int_equal(anvil_table_event(f->t, "smtp:\x7f", ANVIL_EV_MESSAGE, T0, &rate, &why), -1);
    assert_int_equal(anvil_table_event(f->t, "smtp:\xc3\xa9", ANVIL_EV_MESSAGE, T0, &rate, &why),
                     -1);
    assert_int_equal(anvil_table_event(f->t, "smtp:a", ANVIL_EV_CONNECT, T0, &rate, &why), -1);
    assert_int_equal(anvil_table_event(f->t, "smtp:a", ANVIL_EV_COUNT, T0, &rate, &why), -1);
    assert_int_equal(anvil_table_event(f->t, "smtp:a", (enum anvil_event) - 1, T0, &rate, &why),
                     -1);
    assert_int_equal(anvil_table_size(f->t), 1);
    assert_int_equal(anvil_ident_ok("smtp:has space", strlen("smtp:has space")), 1);
    buf_free(&why);
}

static void test_expire_frees_idle_entries_after_their_window(void **state)
{
    struct fixture *f = *state;
    connect_ok(f, f->a, "smtp:busy", T0, 1, 1);
    connect_ok(f, f->a, "smtp:gone", T0, 1, 1);
    assert_int_equal(anvil_local_disconnect(f->t, f->a, "smtp:gone", T0 + 5), 1);
    assert_int_equal(event(f, "smtp:mail", ANVIL_EV_MESSAGE, T0 + 30), 1);
    assert_int_equal(anvil_table_size(f->t), 3);
    assert_int_equal(anvil_table_expire(f->t, T0 + 59), 0);
    /* smtp:gone is idle and its window has passed; smtp:busy is connected */
    assert_int_equal(anvil_table_expire(f->t, T0 + 60), 1);
    assert_int_equal(anvil_table_size(f->t), 2);
    assert_int_equal(anvil_table_expire(f->t, T0 + 90), 1);
    assert_int_equal(anvil_table_size(f->t), 1);
    assert_int_equal(anvil_table_expire(f->t, T0 + 100000), 0);
    assert_int_equal(look(f, "smtp:busy", T0 + 100000).count, 1);
    /* once it goes idle it can be expired as well */
    assert_int_equal(anvil_local_disconnect(f->t, f->a, "smtp:busy", T0 + 100000), 1);
    assert_int_equal(anvil_table_expire(f->t, T0 + 100000), 1);
    assert_int_equal(anvil_table_size(f->t), 0);
    /* an expired ident starts from scratch */
    connect_ok(f, f->a, "smtp:gone", T0 + 100001, 1, 1);
}

static void test_full_table_evicts_least_recently_used_idle_entry(void **state)
{
    struct anvil_table *t = anvil_table_create(3, 60);
    struct anvil_local *l = anvil_local_create();
    struct buf why = BUF_INIT;
    int rate = 0, count = 0;

    assert_int_equal(anvil_table_event(t, "smtp:old", ANVIL_EV_MESSAGE, T0, &rate, &why), 0);
    assert_int_equal(anvil_table_event(t, "smtp:newer", ANVIL_EV_MESSAGE, T0 + 1, &rate, &why), 0);
    assert_int_equal(anvil_local_connect(t, l, "smtp:busy", T0 + 2, &count, &rate, &why), 0);
    /* touching smtp:old makes smtp:newer the least recently used */
    assert_int_equal(anvil_table_event(t, "smtp:old", ANVIL_EV_MESSAGE, T0 + 3, &rate, &why), 0);
    assert_int_equal(rate, 2);
    assert_int_equal(anvil_table_event(t, "smtp:fresh", ANVIL_EV_AUTH, T0 + 4, &rate, &why), 0);
    assert_int_equal(anvil_table_size(t), 3);
    struct anvil_counts c;
    anvil_table_lookup(t, "smtp:newer", T0 + 4, &c);
    assert_int_equal(c.rate[ANVIL_EV_MESSAGE], 0);
    anvil_table_lookup(t, "smtp:old", T0 + 4, &c);
    assert_int_equal(c.rate[ANVIL_EV_MESSAGE], 2);
    anvil_table_lookup(t, "smtp:busy", T0 + 4, &c);
    assert_int_equal(c.count, 1);

    /* with every entry connected, a new ident is refused, nothing evicted */
    assert_int_equal(anvil_local_connect(t, l, "smtp:old", T0 + 5, &count, &rate, &why), 0);
    assert_int_equal(anvil_local_connect(t, l, "smtp:fresh", T0 + 5, &count, &rate, &why), 0);
    assert_int_equal(anvil_local_connect(t, l, "smtp:more", T0 + 5, &count, &rate, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "full"));
    assert_int_equal(anvil_table_event(t, "smtp:more", ANVIL_EV_MESSAGE, T0 + 5, &rate, &why), -1);
    assert_int_equal(anvil_table_size(t), 3);
    anvil_table_lookup(t, "smtp:busy", T0 + 5, &c);
    assert_int_equal(c.count, 1);
    /* known idents still count */
    assert_int_equal(anvil_table_event(t, "smtp:busy", ANVIL_EV_MESSAGE, T0 + 5, &rate, &why), 0);
    /* a disconnect makes room again */
    assert_int_equal(anvil_local_disconnect(t, l, "smtp:fresh", T0 + 6), 1);
    assert_int_equal(anvil_local_connect(t, l, "smtp:more", T0 + 6, &count, &rate, &why), 0);
    anvil_table_lookup(t, "smtp:fresh", T0 + 6, &c);
    assert_int_equal(c.rate[ANVIL_EV_AUTH], 0);
    assert_int_equal(anvil_table_size(t), 3);

    anvil_local_free(t, l, T0 + 7);
    anvil_table_free(t);
    buf_free(&why);
}

static void test_many_idents_stay_within_bound(void **state)
{
    struct anvil_table *t = anvil_table_create(1000, 60);
    struct anvil_local *l = anvil_local_create();
    char id[64];
    int rate, count;

    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof(id), "smtp:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        assert_int_equal(anvil_table_event(t, id, ANVIL_EV_MESSAGE, T0 + i / 100, &rate, NULL), 0);
        assert_true(anvil_table_size(t) <= 1000);
    }
    assert_int_equal(anvil_table_size(t), 1000);
    assert_int_equal(anvil_table_peaks(t)->cache_size, 1000);
    /* the most recent ones are still there */
    struct anvil_counts c;
    anvil_table_lookup(t, id, T0 + 199, &c);
    assert_int_equal(c.rate[ANVIL_EV_MESSAGE], 1);
    /* connected idents push out the idle ones, up to the bound */
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "smtp:c%d", i);
        assert_int_equal(anvil_local_connect(t, l, id, T0 + 300, &count, &rate, NULL), 0);
    }
    assert_int_equal(anvil_table_size(t), 1000);
    assert_int_equal(anvil_local_connect(t, l, "smtp:c1000", T0 + 300, &count, &rate, NULL), -1);
    assert_int_equal(anvil_local_open(l), 1000);
    anvil_local_free(t, l, T0 + 301);
    assert_int_equal(anvil_table_expire(t, T0 + 400), 1000);
    assert_int_equal(anvil_table_size(t), 0);
    anvil_table_free(t);
}

static void test_one_client_holds_a_bounded_number_of_idents(void **state)
{
    struct anvil_table *t = anvil_table_create(0, 60);
    struct anvil_local *l = anvil_local_create();
    struct buf why = BUF_INIT;
    char id[64];
    int rate, count;
    for (int i = 0; i < ANVIL_LOCAL_MAX; i++) {
        snprintf(id, sizeof(id), "smtp:c%d", i);
        assert_int_equal(anvil_local_connect(t, l, id, T0, &count, &rate, NULL), 0);
    }
    /* another connect for a held ident is fine, a new ident is not */
    assert_int_equal(anvil_local_connect(t, l, "smtp:c0", T0, &count, &rate, NULL), 0);
    assert_int_equal(count, 2);
    assert_int_equal(anvil_local_connect(t, l, "smtp:new", T0, &count, &rate, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "too many"));
    struct anvil_counts c;
    anvil_table_lookup(t, "smtp:new", T0, &c);
    assert_int_equal(c.count, 0);
    assert_int_equal(anvil_local_open(l), ANVIL_LOCAL_MAX + 1);
    anvil_local_free(t, l, T0);
    anvil_table_lookup(t, "smtp:c0", T0, &c);
    assert_int_equal(c.count, 0);
    anvil_table_free(t);
    buf_free(&why);
}

static void test_peaks_follow_the_highest_values(void **state)
{
    struct fixture *f = *state;
    connect_ok(f, f->a, "smtp:192.0.2.1", T0, 1, 1);
    connect_ok(f, f->b, "smtp:192.0.2.1", T0 + 1, 2, 2);
    connect_ok(f, f->b, "smtp:192.0.2.2", T0 + 2, 1, 1);
    connect_ok(f, f->b, "smtp:192.0.2.2", T0 + 3, 2, 2);
    connect_ok(f, f->b, "smtp:192.0.2.2", T0 + 4, 3, 3);
    assert_int_equal(event(f, "smtp:192.0.2.3", ANVIL_EV_RECIPIENT, T0 + 5), 1);
    assert_int_equal(event(f, "smtp:192.0.2.3", ANVIL_EV_RECIPIENT, T0 + 6), 2);
    const struct anvil_peaks *p = anvil_table_peaks(f->t);
    assert_int_equal(p->count.value, 3);
    assert_string_equal(p->count.ident, "smtp:192.0.2.2");
    assert_int_equal(p->count.when, T0 + 4);
    assert_int_equal(p->rate[ANVIL_EV_CONNECT].value, 3);
    assert_string_equal(p->rate[ANVIL_EV_CONNECT].ident, "smtp:192.0.2.2");
    assert_int_equal(p->rate[ANVIL_EV_RECIPIENT].value, 2);
    assert_int_equal(p->rate[ANVIL_EV_RECIPIENT].when, T0 + 6);
    assert_int_equal(p->rate[ANVIL_EV_MESSAGE].value, 0);
    assert_int_equal(p->cache_size, 3);
    /* an equal value later does not replace the first */
    connect_ok(f, f->a, "smtp:192.0.2.1", T0 + 7, 3, 3);
    assert_string_equal(p->rate[ANVIL_EV_CONNECT].ident, "smtp:192.0.2.2");
    assert_string_equal(p->count.ident, "smtp:192.0.2.2");
    anvil_table_peaks_reset(f->t);
    assert_int_equal(p->count.value, 0);
    assert_int_equal(p->cache_size, 0);
    connect_ok(f, f->a, "smtp:192.0.2.1", T0 + 8, 4, 4);
    assert_int_equal(p->count.value, 4);
    assert_string_equal(p->count.ident, "smtp:192.0.2.1");
}

static void test_stats_lines_in_postfix_format(void **state)
{
    struct fixture *f = *state;
    setenv("TZ", "UTC", 1);
    tzset();
    /* 2024-11-21 10:00:00 UTC */
    long t = 1732183200L;
    struct argv *out = argv_alloc();
    assert_int_equal(anvil_table_stats(f->t, out), 0);

    connect_ok(f, f->a, "smtp:192.0.2.1", t, 1, 1);
    assert_int_equal(anvil_table_stats(f->t, out), 0); /* values of 1 are not logged */
    connect_ok(f, f->b, "smtp:192.0.2.1", t, 2, 2);
    assert_int_equal(event(f, "smtp:192.0.2.1", ANVIL_EV_MESSAGE, t), 1);
    assert_int_equal(event(f, "smtp:192.0.2.7", ANVIL_EV_MESSAGE, t + 1), 1);
    assert_int_equal(event(f, "smtp:192.0.2.7", ANVIL_EV_MESSAGE, t + 2), 2);
    assert_int_equal(event(f, "smtp:192.0.2.7", ANVIL_EV_RECIPIENT, t + 2), 1);
    assert_int_equal(event(f, "smtp:192.0.2.7", ANVIL_EV_RECIPIENT, t + 2), 2);
    assert_int_equal(event(f, "smtp:192.0.2.7", ANVIL_EV_RECIPIENT, t + 2), 3);
    assert_int_equal(event(f, "smtp:192.0.2.8", ANVIL_EV_AUTH, t - 86400 * 20), 1);
    assert_int_equal(event(f, "smtp:192.0.2.8", ANVIL_EV_AUTH, t - 86400 * 20), 2);
    assert_int_equal(anvil_table_stats(f->t, out), 6);
    assert_string_equal(out->argv[0],
                        "statistics: max connection rate 2/60s for (smtp:192.0.2.1) at Nov 21 "
                        "10:00:00");
    assert_string_equal(out->argv[1],
                        "statistics: max connection count 2 for (smtp:192.0.2.1) at Nov 21 "
                        "10:00:00");
    assert_string_equal(out->argv[2],
                        "statistics: max message rate 2/60s for (smtp:192.0.2.7) at Nov 21 "
                        "10:00:02");
    assert_string_equal(out->argv[3],
                        "statistics: max recipient rate 3/60s for (smtp:192.0.2.7) at Nov 21 "
                        "10:00:02");
    /* ctime's day is space-padded: "Nov  1" */
    assert_string_equal(out->argv[4],
                        "statistics: max auth rate 2/60s for (smtp:192.0.2.8) at Nov  1 "
                        "10:00:00");
    assert_string_equal(out->argv[5], "statistics: max cache size 3 at Nov  1 10:00:00");
    argv_free(out);
}

static void test_long_run_of_events_in_one_window_counts_exactly(void **state)
{
    struct fixture *f = *state;
    int rate = 0;
    for (int i = 0; i < 100000; i++)
        rate = event(f, "smtp:flood", ANVIL_EV_RECIPIENT, T0);
    assert_int_equal(rate, 100000);
    assert_int_equal(anvil_table_size(f->t), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts_connections_of_two_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_only_undoes_own_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_client_undoes_its_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_window_starts_at_first_event_and_restarts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_connect_rate_window_while_connected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_going_backwards_restarts_the_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_events_on_unknown_ident_add_it_without_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_idents_and_events_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire_frees_idle_entries_after_their_window, setup,
                                        teardown),
        cmocka_unit_test(test_full_table_evicts_least_recently_used_idle_entry),
        cmocka_unit_test(test_many_idents_stay_within_bound),
        cmocka_unit_test(test_one_client_holds_a_bounded_number_of_idents),
        cmocka_unit_test_setup_teardown(test_peaks_follow_the_highest_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_lines_in_postfix_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_run_of_events_in_one_window_counts_exactly, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
