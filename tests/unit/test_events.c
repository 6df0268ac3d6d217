/* test_events - the poll loop: I/O callbacks, timer order, changes made
 * from inside callbacks, cancel, EINTR, and a few thousand descriptors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util/events.h"

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

struct hits {
    int count;
    int last_fd;
};

static void count_read(int fd, void *ctx)
{
    struct hits *h = ctx;
    char c;
    h->count++;
    h->last_fd = fd;
    assert_int_equal(read(fd, &c, 1), 1);
}

static void test_readable_pipe_calls_read_callback(void **state)
{
    int p[2];
    struct hits h = {0, -1};

    assert_int_equal(pipe(p), 0);
    event_read(p[0], count_read, &h);
    event_loop(0);
    assert_int_equal(h.count, 0); /* nothing written yet */
    assert_int_equal(write(p[1], "x", 1), 1);
    event_loop(1);
    assert_int_equal(h.count, 1);
    assert_int_equal(h.last_fd, p[0]);
    event_loop(0);
    assert_int_equal(h.count, 1); /* the byte was consumed */
    event_disable(p[0]);
    assert_int_equal(write(p[1], "y", 1), 1);
    event_loop(0);
    assert_int_equal(h.count, 1);
    close(p[0]);
    close(p[1]);
}

static void count_write(int fd, void *ctx)
{
    (*(int *)ctx)++;
}

static void test_writable_pipe_calls_write_callback(void **state)
{
    int p[2], n = 0;

    assert_int_equal(pipe(p), 0);
    event_write(p[1], count_write, &n);
    event_loop(1);
    assert_int_equal(n, 1);
    event_disable(p[1]);
    close(p[0]);
    close(p[1]);
}

static char order[16];
static size_t norder;

static void record(void *ctx)
{
    order[norder++] = *(const char *)ctx;
}

static void test_timers_run_in_deadline_then_fifo_order(void **state)
{
    static const char a = 'a', b = 'b', c = 'c';
    norder = 0;
    long start = mono_ms();

    event_timer(record, (void *)&a, 1);
    event_timer(record, (void *)&b, 0);
    event_timer(record, (void *)&c, 0);
    while (norder < 3 && mono_ms() - start < 5000)
        event_loop(3);
    assert_int_equal(norder, 3);
    assert_memory_equal(order, "bca", 3);
    long took = mono_ms() - start;
    assert_in_range(took, 900, 3000);
}

static void test_timer_request_for_same_fn_and_ctx_moves_it(void **state)
{
    static const char a = 'a';
    norder = 0;

    event_timer(record, (void *)&a, 10);
    event_timer(record, (void *)&a, 0);
    event_loop(0);
    assert_int_equal(norder, 1);
    /* The 10-second one is gone, not merely joined by a second. */
    assert_int_equal(event_timer_cancel(record, (void *)&a), 0);
}

static void test_cancelled_timer_does_not_run(void **state)
{
    static const char a = 'a';
    norder = 0;

    event_timer(record, (void *)&a, 0);
    assert_int_equal(event_timer_cancel(record, (void *)&a), 1);
    assert_int_equal(event_timer_cancel(record, (void *)&a), 0);
    event_loop(0);
    assert_int_equal(norder, 0);
}

static int rearm_runs;

static void rearm(void *ctx)
{
    rearm_runs++;
    event_timer(rearm, ctx, 0);
}

static void test_zero_delay_timer_rearming_itself_runs_once_per_pass(void **state)
{
    rearm_runs = 0;
    event_timer(rearm, NULL, 0);
    event_loop(0);
    assert_int_equal(rearm_runs, 1);
    event_loop(0);
    assert_int_equal(rearm_runs, 2);
    assert_int_equal(event_timer_cancel(rearm, NULL), 1);
}

struct selfremove {
    int calls;
};

static void remove_self(int fd, void *ctx)
{
    struct selfremove *sr = ctx;
    sr->calls++;
    event_disable(fd); /* the byte stays unread: a live watcher would fire again */
}

static void test_watcher_removing_itself_is_not_called_again(void **state)
{
    int p[2];
    struct selfremove sr = {0};

    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    event_read(p[0], remove_self, &sr);
    event_loop(1);
    event_loop(0);
    event_loop(0);
    assert_int_equal(sr.calls, 1);
    close(p[0]);
    close(p[1]);
}

/* Two ready pipes; whichever callback runs first disables the other. */
static int pair_fd[2];
static int pair_calls[2];

static void disable_other(int fd, void *ctx)
{
    int me = *(int *)ctx;
    pair_calls[me]++;
    event_disable(pair_fd[1 - me]);
    event_disable(fd);
}

static void test_watcher_removed_by_another_callback_in_same_pass_is_skipped(void **state)
{
    int p[2], q[2];
    static int zero = 0, one = 1;

    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(q), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(write(q[1], "x", 1), 1);
    pair_fd[0] = p[0];
    pair_fd[1] = q[0];
    pair_calls[0] = pair_calls[1] = 0;
    event_read(p[0], disable_other, &zero);
    event_read(q[0], disable_other, &one);
    event_loop(1);
    assert_int_equal(pair_calls[0] + pair_calls[1], 1);
    event_loop(0);
    assert_int_equal(pair_calls[0] + pair_calls[1], 1);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

static void on_alarm(int sig)
{
}

static void test_signal_makes_loop_return_early(void **state)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm; /* no SA_RESTART: poll must see EINTR */
    assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);

    long start = mono_ms();
    alarm(1);
    event_loop(10);
    long took = mono_ms() - start;
    assert_in_range(took, 500, 3000);
}

static void test_event_time_is_current_wall_clock(void **state)
{
    event_loop(0);
    long t = event_time();
    long now = (long)time(NULL);
    assert_in_range(t, now - 2, now);
}

#define MANY 1500

static void test_thousands_of_descriptors_are_watched(void **state)
{
    struct rlimit rl;
    static int fds[MANY][2];
    struct hits h = {0, -1};

    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * MANY + 64) {
        rl.rlim_cur = rl.rlim_max < 2 * MANY + 64 ? rl.rlim_max : 2 * MANY + 64;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < 2 * MANY + 64) {
        print_message("skipped: RLIMIT_NOFILE %lu is below %d\n", (unsigned long)rl.rlim_cur,
                      2 * MANY + 64);
        skip();
    }
    for (int i = 0; i < MANY; i++) {
        assert_int_equal(pipe(fds[i]), 0);
        event_read(fds[i][0], count_read, &h);
    }
    /* Only the last one (the highest fd) is ready. */
    assert_int_equal(write(fds[MANY - 1][1], "x", 1), 1);
    event_loop(1);
    assert_int_equal(h.count, 1);
    assert_int_equal(h.last_fd, fds[MANY - 1][0]);
    for (int i = 0; i < MANY; i++) {
        event_disable(fds[i][0]);
        close(fds[i][0]);
        close(fds[i][1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readable_pipe_calls_read_callback),
        cmocka_unit_test(test_writable_pipe_calls_write_callback),
        cmocka_unit_test(test_timers_run_in_deadline_then_fifo_order),
        cmocka_unit_test(test_timer_request_for_same_fn_and_ctx_moves_it),
        cmocka_unit_test(test_cancelled_timer_does_not_run),
        cmocka_unit_test(test_zero_delay_timer_rearming_itself_runs_once_per_pass),
        cmocka_unit_test(test_watcher_removing_itself_is_not_called_again),
        cmocka_unit_test(test_watcher_removed_by_another_callback_in_same_pass_is_skipped),
        cmocka_unit_test(test_signal_makes_loop_return_early),
        cmocka_unit_test(test_event_time_is_current_wall_clock),
        cmocka_unit_test(test_thousands_of_descriptors_are_watched),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
