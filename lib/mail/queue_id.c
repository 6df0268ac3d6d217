/* queue_id - unique, time-ordered queue IDs in a file-name-safe base 32.
 *
 * The layout and alphabet are described in queue_id.h and postern-queue(5).
 * Uniqueness rests on (seconds, microseconds, pid): within a process the
 * time part only ever moves forward, and processes alive at the same time
 * have different pids.
 */
#include "mail/queue_id.h"

#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define SEC_LEN  7
#define USEC_LEN 4
#define PID_LEN  5
#define SEC_OFF  0
#define USEC_OFF SEC_LEN
#define PID_OFF  (SEC_LEN + USEC_LEN)

#define USEC_PER_SEC 1000000L

_Static_assert(SEC_LEN + USEC_LEN + PID_LEN == QUEUE_ID_LEN, "queue ID fields fill the ID");
_Static_assert(sizeof(QUEUE_ID_ALPHABET) - 1 == 32, "queue ID alphabet has 32 symbols");
/* every microsecond value and every Linux pid (PID_MAX_LIMIT = 2^22) fits */
_Static_assert((1L << (5 * USEC_LEN)) > USEC_PER_SEC - 1, "microseconds fit");
_Static_assert((1L << (5 * PID_LEN)) > (1L << 22), "pids fit");

static const char alphabet[] = QUEUE_ID_ALPHABET;

/* The symbol's value, or -1. */
static int sym_value(unsigned char c)
{
    const char *p = c ? memchr(alphabet, c, 32) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

static void encode(uint64_t v, char *out, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = alphabet[v & 31];
        v >>= 5;
    }
}

/* The field's value; the caller has checked every symbol. */
static uint64_t decode(const char *s, int width)
{
    uint64_t v = 0;
    for (int i = 0; i < width; i++)
        v = (v << 5) | (uint64_t)sym_value((unsigned char)s[i]);
    return v;
}

void queue_id_from(const struct timeval *tv, long pid, char *out)
{
    int64_t sec = (int64_t)tv->tv_sec;
    int64_t usec = (int64_t)tv->tv_usec;

    /* Normalise a timeval whose microseconds are out of range. */
    if (usec < 0 || usec >= USEC_PER_SEC) {
        sec += usec / USEC_PER_SEC;
        usec %= USEC_PER_SEC;
        if (usec < 0) {
            usec += USEC_PER_SEC;
            sec -= 1;
        }
    }
    /* Times before 1970 cannot be represented; they sort first. */
    if (sec < 0) {
        sec = 0;
        usec = 0;
    }
    encode((uint64_t)sec, out + SEC_OFF, SEC_LEN);
    encode((uint64_t)usec, out + USEC_OFF, USEC_LEN);
    encode((uint64_t)(unsigned long)pid, out + PID_OFF, PID_LEN);
    out[QUEUE_ID_LEN] = 0;
}

void queue_id_new(char *out)
{
    /* The last time handed out by this process. A forked child inherits it,
     * which is harmless: its pid differs from the parent's. */
    static struct timeval last;
    struct timeval now;

    gettimeofday(&now, NULL);
    if (now.tv_sec < last.tv_sec || (now.tv_sec == last.tv_sec && now.tv_usec <= last.tv_usec)) {
        now = last;
        if (++now.tv_usec >= USEC_PER_SEC) {
            now.tv_usec = 0;
            now.tv_sec++;
        }
    }
    last = now;
    queue_id_from(&now, (long)getpid(), out);
}

int queue_id_valid(const char *s)
{
    if (s == NULL)
        return 0;
    for (int i = 0; i < QUEUE_ID_LEN; i++)
        if (s[i] == 0 || sym_value((unsigned char)s[i]) < 0)
            return 0;
    if (s[QUEUE_ID_LEN] != 0)
        return 0;
    /* No real time has a microsecond field past 999999. */
    return decode(s + USEC_OFF, USEC_LEN) < (uint64_t)USEC_PER_SEC;
}

int queue_id_time(const char *id, struct timeval *tv)
{
    if (!queue_id_valid(id))
        return -1;
    tv->tv_sec = (time_t)decode(id + SEC_OFF, SEC_LEN);
    tv->tv_usec = (suseconds_t)decode(id + USEC_OFF, USEC_LEN);
    return 0;
}

void queue_id_hash(const char *id, int depth, char *out, size_t outlen)
{
    if (outlen == 0)
        return;
    out[0] = 0;
    if (!queue_id_valid(id) || depth <= 0)
        return;
    if (depth > QUEUE_ID_HASH_MAX)
        depth = QUEUE_ID_HASH_MAX;
    if ((size_t)depth * 2 > outlen)
        depth = (int)(outlen / 2);

    /* The last microsecond symbol changes fastest and is exactly uniform
     * over a second (10^6 = 31250 * 32); each level takes the next one up. */
    size_t n = 0;
    for (int i = 0; i < depth; i++) {
        if (i > 0)
            out[n++] = '/';
        out[n++] = id[USEC_OFF + USEC_LEN - 1 - i];
    }
    out[n] = 0;
}
