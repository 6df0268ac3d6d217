/* events - a poll(2) loop with one-shot timers.
 *
 * Watchers live in an array indexed by fd; each registration gets a fresh
 * serial number, and a poll result is delivered only if the watcher that was
 * polled is still the one registered. That keeps dispatch safe when a
 * callback disables a descriptor, closes it, and a new watcher reuses the
 * number within the same pass. Timers are kept sorted by deadline on the
 * monotonic clock, so changes of the wall clock neither fire nor stall them.
 */
#include "util/events.h"
#include "util/alloc.h"
#include "util/msg.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct watcher {
    event_fn rfn, wfn;
    void *rctx, *wctx;
    unsigned long rserial, wserial; /* 0: not watching that direction */
};

struct timer {
    long long deadline; /* ms, CLOCK_MONOTONIC */
    unsigned long seq;  /* creation order: ties run first-come, first-served */
    timer_fn fn;
    void *ctx;
};

/* What one poll entry was polled for, to match against the live watcher. */
struct polled {
    unsigned long rserial, wserial;
};

static struct watcher *watchers;
static size_t watch_cap; /* entries in watchers */
static size_t watch_max; /* one past the highest fd ever watched (scan bound) */
static unsigned long next_serial = 1;

static struct timer *timers;
static size_t timer_count, timer_cap;
static unsigned long next_seq = 1;

static long cached_time;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct watcher *watcher_for(int fd)
{
    if (fd < 0)
        msg_panic("event: bad file descriptor %d", fd);
    size_t need = (size_t)fd + 1;
    if (need > watch_cap) {
        size_t cap = watch_cap ? watch_cap : 64;
        while (cap < need)
            cap *= 2;
        watchers = xreallocarray(watchers, cap, sizeof(*watchers));
        memset(watchers + watch_cap, 0, (cap - watch_cap) * sizeof(*watchers));
        watch_cap = cap;
    }
    if (need > watch_max)
        watch_max = need;
    return &watchers[fd];
}

void event_read(int fd, event_fn fn, void *ctx)
{
    if (fn == NULL)
        msg_panic("event_read: no callback for fd %d", fd);
    struct watcher *w = watcher_for(fd);
    w->rfn = fn;
    w->rctx = ctx;
    w->rserial = next_serial++;
}

void event_write(int fd, event_fn fn, void *ctx)
{
    if (fn == NULL)
        msg_panic("event_write: no callback for fd %d", fd);
    struct watcher *w = watcher_for(fd);
    w->wfn = fn;
    w->wctx = ctx;
    w->wserial = next_serial++;
}

void event_disable(int fd)
{
    if (fd < 0 || (size_t)fd >= watch_cap)
        return;
    memset(&watchers[fd], 0, sizeof(watchers[fd]));
    while (watch_max > 0 && watchers[watch_max - 1].rserial == 0 &&
           watchers[watch_max - 1].wserial == 0)
        watch_max--;
}

static int timer_remove(timer_fn fn, void *ctx)
{
    for (size_t i = 0; i < timer_count; i++) {
        if (timers[i].fn == fn && timers[i].ctx == ctx) {
            memmove(timers + i, timers + i + 1, (timer_count - i - 1) * sizeof(*timers));
            timer_count--;
            return 1;
        }
    }
    return 0;
}

void event_timer(timer_fn fn, void *ctx, int delay)
{
    if (fn == NULL)
        msg_panic("event_timer: no callback");
    (void)timer_remove(fn, ctx);
    if (delay < 0)
        delay = 0;
    struct timer t = {mono_ms() + (long long)delay * 1000, next_seq++, fn, ctx};
    if (timer_count == timer_cap) {
        timer_cap = timer_cap ? 2 * timer_cap : 16;
        timers = xreallocarray(timers, timer_cap, sizeof(*timers));
    }
    /* Sorted by deadline; a new timer goes after others with the same one. */
    size_t i = timer_count;
    while (i > 0 && timers[i - 1].deadline > t.deadline)
        i--;
    memmove(timers + i + 1, timers + i, (timer_count - i) * sizeof(*timers));
    timers[i] = t;
    timer_count++;
}

int event_timer_cancel(timer_fn fn, void *ctx)
{
    return timer_remove(fn, ctx);
}

long event_time(void)
{
    if (cached_time == 0)
        cached_time = (long)time(NULL);
    return cached_time;
}

/* Run the timers that are due and were set before this pass began, so a
 * callback that re-arms itself with delay 0 runs on the next pass instead of
 * looping here forever. Each one is looked up afresh: callbacks may change
 * the list under us. */
static void run_timers(unsigned long seq_limit)
{
    long long now = mono_ms();
    for (;;) {
        size_t i;
        for (i = 0; i < timer_count && timers[i].deadline <= now; i++)
            if (timers[i].seq < seq_limit)
                break;
        if (i == timer_count || timers[i].deadline > now)
            return;
        struct timer t = timers[i];
        memmove(timers + i, timers + i + 1, (timer_count - i - 1) * sizeof(*timers));
        timer_count--;
        t.fn(t.ctx);
    }
}

static int poll_timeout(int timeout)
{
    long long ms = timeout < 0 ? -1 : (long long)timeout * 1000;
    if (timer_count > 0) {
        long long left = timers[0].deadline - mono_ms();
        if (left < 0)
            left = 0;
        if (ms < 0 || left < ms)
            ms = left;
    }
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

void event_loop(int timeout)
{
    /* Per-call arrays keep a loop run from inside a callback harmless. */
    size_t n = 0;
    struct pollfd *pfds = xreallocarray(NULL, watch_max ? watch_max : 1, sizeof(*pfds));
    struct polled *pinfo = xreallocarray(NULL, watch_max ? watch_max : 1, sizeof(*pinfo));
    for (size_t fd = 0; fd < watch_max; fd++) {
        struct watcher *w = &watchers[fd];
        if (w->rserial == 0 && w->wserial == 0)
            continue;
        pfds[n].fd = (int)fd;
        pfds[n].events = (short)((w->rserial ? POLLIN : 0) | (w->wserial ? POLLOUT : 0));
        pfds[n].revents = 0;
        pinfo[n].rserial = w->rserial;
        pinfo[n].wserial = w->wserial;
        n++;
    }

    unsigned long seq_limit = next_seq;
    int ready = poll(n ? pfds : NULL, (nfds_t)n, poll_timeout(timeout));
    if (ready < 0) {
        int err = errno;
        free(pfds);
        free(pinfo);
        if (err == EINTR)
            return; /* let the caller look at what the signal handler set */
        errno = err;
        msg_fatal("event_loop: poll: %m");
    }
    cached_time = (long)time(NULL);

    run_timers(seq_limit);
    for (size_t i = 0; i < n && ready > 0; i++) {
        short re = pfds[i].revents;
        if (re == 0)
            continue;
        ready--;
        int fd = pfds[i].fd;
        /* Errors and hangups go to the callbacks, whose next I/O reports them. */
        if ((re & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) && pinfo[i].rserial &&
            (size_t)fd < watch_cap && watchers[fd].rserial == pinfo[i].rserial)
            watchers[fd].rfn(fd, watchers[fd].rctx);
        if ((re & (POLLOUT | POLLHUP | POLLERR | POLLNVAL)) && pinfo[i].wserial &&
            (size_t)fd < watch_cap && watchers[fd].wserial == pinfo[i].wserial)
            watchers[fd].wfn(fd, watchers[fd].wctx);
    }
    free(pfds);
    free(pinfo);
}
