/* anvil_table - anvil's counters: a chained hash table of idents keyed with
 * SipHash under a random key (client addresses are chosen by the remote
 * side, so bucket placement must not be predictable), an LRU list of idle
 * idents for expiry and eviction, and the peak values (anvil_table.h).
 */
#include "mail/anvil_table.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"

#define BUCKETS_MIN 256

struct anvil_entry {
    struct anvil_entry *hnext;         /* hash chain */
    struct anvil_entry *iprev, *inext; /* idle list, while count == 0 */
    uint64_t hash;
    long start; /* window start */
    int count;
    int rate[ANVIL_EV_COUNT];
    size_t len;
    char ident[]; /* len bytes + NUL */
};

struct anvil_table {
    struct anvil_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t size;
    size_t max;
    long unit;
    uint64_t key[2];
    struct anvil_entry *idle_head, *idle_tail; /* least recently used first */
    struct anvil_peaks peaks;
};

struct anvil_link {
    struct anvil_entry *e; /* pinned: e->count >= n > 0 */
    int n;
};

struct anvil_local {
    struct anvil_link *v;
    size_t count, cap;
};

/* ---- SipHash-2-4 (Aumasson, Bernstein) --------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t siphash(const uint64_t key[2], const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
    uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
    uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
    uint64_t v3 = 0x7465646279746573ULL ^ key[1];
    size_t whole = len - len % 8;

    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)len << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ---------------------------------------------------------- */

int anvil_ident_ok(const char *ident, size_t len)
{
    if (ident == NULL || len == 0 || len > ANVIL_IDENT_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ident[i];
        if (c < 0x20 || c > 0x7e)
            return 0;
    }
    return 1;
}

struct anvil_table *anvil_table_create(size_t max_entries, long time_unit)
{
    struct anvil_table *t = xcalloc(1, sizeof(*t));
    t->max = max_entries ? max_entries : ANVIL_TABLE_MAX;
    t->unit = time_unit < 1 ? 1 : time_unit;
    t->nbuckets = BUCKETS_MIN;
    t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
    if (getrandom(t->key, sizeof(t->key), GRND_NONBLOCK) != (ssize_t)sizeof(t->key)) {
        /* Early boot without entropy: weaker, but the table still works. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t->key[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
        t->key[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)t;
    }
    return t;
}

static void entry_free(struct anvil_entry *e)
{
    free(e);
}

void anvil_table_free(struct anvil_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct anvil_entry *e = t->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            entry_free(e);
        }
    }
    free(t->buckets);
    free(t);
}

size_t anvil_table_size(const struct anvil_table *t)
{
    return t->size;
}

long anvil_table_time_unit(const struct anvil_table *t)
{
    return t->unit;
}

static struct anvil_entry *find(const struct anvil_table *t, const char *ident, size_t len,
                                uint64_t h)
{
    for (struct anvil_entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->len == len && memcmp(e->ident, ident, len) == 0)
            return e;
    return NULL;
}

static void idle_unlink(struct anvil_table *t, struct anvil_entry *e)
{
    if (e->iprev)
        e->iprev->inext = e->inext;
    else
        t->idle_head = e->inext;
    if (e->inext)
        e->inext->iprev = e->iprev;
    else
        t->idle_tail = e->iprev;
    e->iprev = e->inext = NULL;
}

static void idle_append(struct anvil_table *t, struct anvil_entry *e)
{
    e->inext = NULL;
    e->iprev = t->idle_tail;
    if (t->idle_tail)
        t->idle_tail->inext = e;
    else
        t->idle_head = e;
    t->idle_tail = e;
}

static void table_remove(struct anvil_table *t, struct anvil_entry *e)
{
    struct anvil_entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->count == 0)
        idle_unlink(t, e);
    t->size--;
    entry_free(e);
}

static void grow(struct anvil_table *t)
{
    size_t n = t->nbuckets * 2;
    struct anvil_entry **nb = xcalloc(n, sizeof(*nb));
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct anvil_entry *e = t->buckets[i], *next;
        for (; e; e = next) {
            next = e->hnext;
            e->hnext = nb[e->hash & (n - 1)];
            nb[e->hash & (n - 1)] = e;
        }
    }
    free(t->buckets);
    t->buckets = nb;
    t->nbuckets = n;
}

static int window_passed(const struct anvil_table *t, const struct anvil_entry *e, long now)
{
    /* A clock that went backwards ends the window too, so rates never stick. */
    return now < e->start || now - e->start >= t->unit;
}

/* get - the entry of ident, added (idle, no events) when new. NULL + why. */
static struct anvil_entry *get(struct anvil_table *t, const char *ident, long now, struct buf *why)
{
    size_t len = ident ? strlen(ident) : 0;
    if (!anvil_ident_ok(ident, len)) {
        buf_setf(why, "bad ident (1 to %d printable characters)", ANVIL_IDENT_MAX);
        return NULL;
    }
    uint64_t h = siphash(t->key, ident, len);
    struct anvil_entry *e = find(t, ident, len, h);
    if (e)
        return e;
    if (t->size >= t->max) {
        if (t->idle_head == NULL) {
            buf_setf(why, "table full: %zu idents with open connections", t->size);
            return NULL;
        }
        table_remove(t, t->idle_head);
    }
    if (t->size >= t->nbuckets && t->nbuckets <= SIZE_MAX / 2 / sizeof(*t->buckets))
        grow(t);
    e = xcalloc(1, sizeof(*e) + len + 1);
    memcpy(e->ident, ident, len);
    e->len = len;
    e->hash = h;
    e->start = now;
    e->hnext = t->buckets[h & (t->nbuckets - 1)];
    t->buckets[h & (t->nbuckets - 1)] = e;
    idle_append(t, e);
    t->size++;
    if (t->size > t->peaks.cache_size) {
        t->peaks.cache_size = t->size;
        t->peaks.cache_when = now;
    }
    return e;
}

static void peak(struct anvil_peak *p, int value, const struct anvil_entry *e, long now)
{
    if (value > p->value) {
        p->value = value;
        p->when = now;
        memcpy(p->ident, e->ident, e->len + 1);
    }
}

/* count one event of kind ev, restarting the window when it has passed */
static int bump(struct anvil_table *t, struct anvil_entry *e, enum anvil_event ev, long now)
{
    if (window_passed(t, e, now)) {
        memset(e->rate, 0, sizeof(e->rate));
        e->start = now;
    }
    if (e->rate[ev] < INT_MAX)
        e->rate[ev]++;
    if (e->count == 0) {
        /* most recently used idle entry: last to be evicted */
        idle_unlink(t, e);
        idle_append(t, e);
    }
    peak(&t->peaks.rate[ev], e->rate[ev], e, now);
    return e->rate[ev];
}

int anvil_table_event(struct anvil_table *t, const char *ident, enum anvil_event ev, long now,
                      int *rate, struct buf *why)
{
    if (ev <= ANVIL_EV_CONNECT || ev >= ANVIL_EV_COUNT) {
        buf_setf(why, "bad event %d", (int)ev);
        return -1;
    }
    struct anvil_entry *e = get(t, ident, now, why);
    if (e == NULL)
        return -1;
    int r = bump(t, e, ev, now);
    if (rate)
        *rate = r;
    return 0;
}

void anvil_table_lookup(const struct anvil_table *t, const char *ident, long now,
                        struct anvil_counts *out)
{
    memset(out, 0, sizeof(*out));
    size_t len = ident ? strlen(ident) : 0;
    if (!anvil_ident_ok(ident, len))
        return;
    const struct anvil_entry *e = find(t, ident, len, siphash(t->key, ident, len));
    if (e == NULL)
        return;
    out->count = e->count;
    if (!window_passed(t, e, now))
        memcpy(out->rate, e->rate, sizeof(out->rate));
}

size_t anvil_table_expire(struct anvil_table *t, long now)
{
    size_t freed = 0;
    struct anvil_entry *e = t->idle_head, *next;
    for (; e; e = next) {
        next = e->inext;
        if (window_passed(t, e, now)) {
            table_remove(t, e);
            freed++;
        }
    }
    return freed;
}

const struct anvil_peaks *anvil_table_peaks(const struct anvil_table *t)
{
    return &t->peaks;
}

void anvil_table_peaks_reset(struct anvil_table *t)
{
    memset(&t->peaks, 0, sizeof(t->peaks));
}

/* Postfix prints ctime() + 4, 15 bytes: "Nov 21 10:00:00", "Nov  1 ..." */
static void when_text(long when, char *out, size_t n)
{
    time_t tt = (time_t)when;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL || strftime(out, n, "%b %e %H:%M:%S", &tm) == 0)
        snprintf(out, n, "@%ld", when);
}

size_t anvil_table_stats(const struct anvil_table *t, struct argv *out)
{
    static const struct {
        enum anvil_event ev;
        const char *what;
    } rates[] = {
        {ANVIL_EV_CONNECT, "connection rate"},
        {ANVIL_EV_MESSAGE, "message rate"},
        {ANVIL_EV_RECIPIENT, "recipient rate"},
        {ANVIL_EV_AUTH, "auth rate"},
    };
    const struct anvil_peaks *p = &t->peaks;
    struct buf line = BUF_INIT;
    char when[64];
    size_t n = 0;

    /* Postfix's order: connection rate, connection count, then the others. */
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        const struct anvil_peak *r = &p->rate[rates[i].ev];
        if (r->value > 1) {
            when_text(r->when, when, sizeof(when));
            buf_reset(&line);
            buf_printf(&line, "statistics: max %s %d/%lds for (%s) at %s", rates[i].what, r->value,
                       t->unit, r->ident, when);
            argv_add(out, line.data);
            n++;
        }
        if (rates[i].ev == ANVIL_EV_CONNECT && p->count.value > 1) {
            when_text(p->count.when, when, sizeof(when));
            buf_reset(&line);
            buf_printf(&line, "statistics: max connection count %d for (%s) at %s", p->count.value,
                       p->count.ident, when);
            argv_add(out, line.data);
            n++;
        }
    }
    if (p->cache_size > 1) {
        when_text(p->cache_when, when, sizeof(when));
        buf_reset(&line);
        buf_printf(&line, "statistics: max cache size %zu at %s", p->cache_size, when);
        argv_add(out, line.data);
        n++;
    }
    buf_free(&line);
    return n;
}

/* ---- one client's connects ----------------------------------------------- */

struct anvil_local *anvil_local_create(void)
{
    return xcalloc(1, sizeof(struct anvil_local));
}

static struct anvil_link *local_find(struct anvil_local *l, const struct anvil_entry *e)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->v[i].e == e)
            return &l->v[i];
    return NULL;
}

int anvil_local_connect(struct anvil_table *t, struct anvil_local *l, const char *ident, long now,
                        int *count, int *rate, struct buf *why)
{
    struct anvil_entry *e = get(t, ident, now, why);
    if (e == NULL)
        return -1;
    struct anvil_link *k = local_find(l, e);
    if (k == NULL) {
        if (l->count >= ANVIL_LOCAL_MAX) {
            buf_setf(why, "too many idents with open connections on one client (%d)",
                     ANVIL_LOCAL_MAX);
            return -1;
        }
        if (l->count == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 4;
            l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
        }
        k = &l->v[l->count++];
        k->e = e;
        k->n = 0;
    }
    /* Both counts stay equal in the sum (e->count is the sum of its links),
     * so saturating one saturates the other first. */
    if (e->count == INT_MAX) {
        buf_setf(why, "connection count overflow for %s", e->ident);
        if (k->n == 0)
            *k = l->v[--l->count];
        return -1;
    }
    if (e->count == 0)
        idle_unlink(t, e);
    e->count++;
    k->n++;
    int r = bump(t, e, ANVIL_EV_CONNECT, now);
    peak(&t->peaks.count, e->count, e, now);
    if (count)
        *count = e->count;
    if (rate)
        *rate = r;
    return 0;
}

/* drop - undo n of l's connects at link index i */
static void drop(struct anvil_table *t, struct anvil_local *l, size_t i, int n)
{
    struct anvil_entry *e = l->v[i].e;
    e->count = e->count > n ? e->count - n : 0;
    l->v[i].n -= n;
    if (l->v[i].n <= 0)
        l->v[i] = l->v[--l->count];
    if (e->count == 0)
        idle_append(t, e);
}

int anvil_local_disconnect(struct anvil_table *t, struct anvil_local *l, const char *ident,
                           long now)
{
    (void)now;
    size_t len = ident ? strlen(ident) : 0;
    if (!anvil_ident_ok(ident, len))
        return 0;
    struct anvil_entry *e = find(t, ident, len, siphash(t->key, ident, len));
    if (e == NULL)
        return 0;
    for (size_t i = 0; i < l->count; i++) {
        if (l->v[i].e == e) {
            drop(t, l, i, 1);
            return 1;
        }
    }
    return 0;
}

size_t anvil_local_open(const struct anvil_local *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->count; i++)
        n += (size_t)l->v[i].n;
    return n;
}

void anvil_local_free(struct anvil_table *t, struct anvil_local *l, long now)
{
    (void)now;
    if (l == NULL)
        return;
    while (l->count > 0)
        drop(t, l, l->count - 1, l->v[l->count - 1].n);
    free(l->v);
    free(l);
}
