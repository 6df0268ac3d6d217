/* fail_table - bounded per-client failure counts (fail_table.h).
 *
 * A fixed pool of entries, a chained hash index over them, and a list in
 * order of last failure (newest first): lookup, update and eviction of the
 * oldest are all O(1) on average. The hash is seeded per table, so clients
 * cannot pick addresses that collide by design. */
#include "auth/fail_table.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"

struct entry {
    char key[FAIL_TABLE_KEY_MAX + 1];
    unsigned count;
    long last;
    struct entry *hnext;       /* hash chain */
    struct entry *prev, *next; /* age list: head is the newest failure */
};

struct fail_table {
    struct entry *pool;
    size_t max, used;
    struct entry **buckets;
    size_t nbuckets; /* a power of two */
    struct entry *head, *tail;
    struct entry *free_list; /* chained through hnext */
    long forget_after;
    uint64_t seed;
};

struct fail_table *fail_table_create(size_t max, long forget_after)
{
    struct fail_table *t = xcalloc(1, sizeof(*t));
    t->max = max ? max : 1;
    t->pool = xcalloc(t->max, sizeof(*t->pool));
    t->nbuckets = 16;
    while (t->nbuckets < t->max * 2 && t->nbuckets < ((size_t)1 << 30))
        t->nbuckets *= 2;
    t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
    for (size_t i = t->max; i-- > 0;) {
        t->pool[i].hnext = t->free_list;
        t->free_list = &t->pool[i];
    }
    t->forget_after = forget_after;
    if (getrandom(&t->seed, sizeof(t->seed), GRND_NONBLOCK) != (ssize_t)sizeof(t->seed))
        t->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return t;
}

void fail_table_free(struct fail_table *t)
{
    if (t == NULL)
        return;
    free(t->pool);
    free(t->buckets);
    free(t);
}

/* key_copy - the key as stored: cut at FAIL_TABLE_KEY_MAX */
static void key_copy(char *dst, const char *key)
{
    size_t n = strnlen(key, FAIL_TABLE_KEY_MAX);
    memcpy(dst, key, n);
    dst[n] = 0;
}

/* FNV-1a over seed and key */
static size_t bucket_of(const struct fail_table *t, const char *key)
{
    uint64_t h = 14695981039346656037ULL ^ t->seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    return (size_t)(h & (t->nbuckets - 1));
}

static struct entry *find(const struct fail_table *t, const char *key)
{
    for (struct entry *e = t->buckets[bucket_of(t, key)]; e; e = e->hnext)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void list_unlink(struct fail_table *t, struct entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    e->prev = e->next = NULL;
}

static void list_push_front(struct fail_table *t, struct entry *e)
{
    e->prev = NULL;
    e->next = t->head;
    if (t->head)
        t->head->prev = e;
    t->head = e;
    if (t->tail == NULL)
        t->tail = e;
}

static void remove_entry(struct fail_table *t, struct entry *e)
{
    struct entry **pp = &t->buckets[bucket_of(t, e->key)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    list_unlink(t, e);
    memset(e, 0, sizeof(*e));
    e->hnext = t->free_list;
    t->free_list = e;
    t->used--;
}

/* expire - forget clients whose last failure is too old (the list tail) */
static void expire(struct fail_table *t, long now)
{
    while (t->tail && now - t->tail->last >= t->forget_after)
        remove_entry(t, t->tail);
}

unsigned fail_table_failure(struct fail_table *t, const char *key, long now)
{
    char k[FAIL_TABLE_KEY_MAX + 1];
    key_copy(k, key);
    expire(t, now);
    struct entry *e = find(t, k);
    if (e) {
        list_unlink(t, e);
    } else {
        if (t->free_list == NULL)
            remove_entry(t, t->tail);
        e = t->free_list;
        t->free_list = e->hnext;
        memcpy(e->key, k, sizeof(k));
        e->count = 0;
        size_t b = bucket_of(t, k);
        e->hnext = t->buckets[b];
        t->buckets[b] = e;
        t->used++;
    }
    if (e->count < UINT_MAX)
        e->count++;
    e->last = now;
    list_push_front(t, e);
    return e->count;
}

unsigned fail_table_count(struct fail_table *t, const char *key, long now)
{
    char k[FAIL_TABLE_KEY_MAX + 1];
    key_copy(k, key);
    expire(t, now);
    struct entry *e = find(t, k);
    return e ? e->count : 0;
}

void fail_table_success(struct fail_table *t, const char *key)
{
    char k[FAIL_TABLE_KEY_MAX + 1];
    key_copy(k, key);
    struct entry *e = find(t, k);
    if (e)
        remove_entry(t, e);
}

size_t fail_table_size(const struct fail_table *t)
{
    return t->used;
}

long fail_table_delay(long base, unsigned failures)
{
    if (failures == 0 || base <= 0)
        return 0;
    /* 1, 2, 4, then 8 times base for every further failure */
    unsigned shift = failures - 1 > 3 ? 3 : failures - 1;
    if (base > LONG_MAX / 8)
        return LONG_MAX;
    return base << shift;
}
