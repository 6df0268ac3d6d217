/* qmgr_backoff - retry and expiry times for the queue manager
 * (qmgr_backoff.h), overflow-safe for hostile arrival times.
 */
#include "mail/qmgr_backoff.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "util/strutil.h"

#define TIME_T_MAX ((time_t)INT64_MAX)

_Static_assert(sizeof(time_t) == sizeof(int64_t), "time_t is 64 bits");

/* age - now - arrival, 0 when arrival is not in the past, saturated. */
static time_t age(time_t now, time_t arrival)
{
    if (arrival >= now)
        return 0;
    /* now > arrival: the difference fits in uint64_t; saturate to time_t */
    uint64_t d = (uint64_t)now - (uint64_t)arrival;
    return d > (uint64_t)TIME_T_MAX ? TIME_T_MAX : (time_t)d;
}

time_t qmgr_backoff_next(time_t now, time_t arrival, long min_backoff, long max_backoff)
{
    time_t lo = min_backoff < 0 ? 0 : (time_t)min_backoff;
    time_t hi = max_backoff < 0 ? 0 : (time_t)max_backoff;
    if (hi < lo)
        hi = lo;
    time_t delay = age(now, arrival);
    if (delay < lo)
        delay = lo;
    if (delay > hi)
        delay = hi;
    if (now > 0 && delay > TIME_T_MAX - now)
        return TIME_T_MAX;
    return now + delay;
}

int qmgr_backoff_expired(time_t now, time_t arrival, long lifetime)
{
    if (lifetime <= 0)
        return 1;
    return age(now, arrival) > (time_t)lifetime;
}

int qmgr_backoff_parse_arrival(const char *text, time_t *out)
{
    char secs[32];
    const char *dot = strchr(text, '.');
    size_t n = dot ? (size_t)(dot - text) : strlen(text);
    long v;

    if (n == 0 || n >= sizeof(secs))
        return -1;
    memcpy(secs, text, n);
    secs[n] = 0;
    if (!str_alldig(secs) || str_to_long(secs, 0, LONG_MAX, &v) < 0)
        return -1;
    if (dot != NULL) {
        size_t fl = strlen(dot + 1);
        if (fl == 0 || fl > 6 || !str_alldig(dot + 1))
            return -1;
    }
    *out = (time_t)v;
    return 0;
}
