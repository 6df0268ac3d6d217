/* map_mem - the table types that live in memory: texthash (a text table
 * read at open, and again when the file changes), inline:{...}, static and
 * fail. texthash and inline share one sorted array searched by bsearch. */
#include "maps/map.h"
#include "maps/map_file.h"
#include "maps/map_types.h"

#include "util/alloc.h"
#include "util/msg.h"
#include "util/strutil.h"

#include <stdlib.h>
#include <string.h>

struct kv {
    char *key;
    char *value;
    long line;  /* where it was defined, for duplicate warnings */
    size_t seq; /* input order: among duplicates the first one wins */
};

struct kv_table {
    struct kv *v;
    size_t n;
    size_t cap;
};

static void kv_add(struct kv_table *t, const char *key, const char *value, long line)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
    }
    t->v[t->n] = (struct kv){xstrdup(key), xstrdup(value), line, t->n};
    t->n++;
}

static void kv_free(struct kv_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].key);
        free(t->v[i].value);
    }
    free(t->v);
    free(t);
}

static int kv_cmp(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* kv_finish - sort, and drop later duplicates with a warning (as postmap). */
static void kv_finish(struct kv_table *t, const char *origin)
{
    if (t->n == 0)
        return;
    qsort(t->v, t->n, sizeof(*t->v), kv_cmp);
    size_t out = 1;
    for (size_t i = 1; i < t->n; i++) {
        if (strcmp(t->v[i].key, t->v[out - 1].key) == 0) {
            if (t->v[i].line > 0)
                msg_warn("%s:%ld: duplicate entry: \"%s\"", origin, t->v[i].line, t->v[i].key);
            else
                msg_warn("%s: duplicate entry: \"%s\"", origin, t->v[i].key);
            free(t->v[i].key);
            free(t->v[i].value);
            continue;
        }
        t->v[out++] = t->v[i];
    }
    t->n = out;
}

static int kv_lookup(struct map *m, const char *key, struct buf *value)
{
    const struct kv_table *t = m->priv;
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, t->v[mid].key);
        if (c == 0) {
            buf_puts(value, t->v[mid].value);
            return 1;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

static int kv_iterate(struct map *m, map_iter_fn fn, void *ctx, struct buf *why)
{
    const struct kv_table *t = m->priv;
    for (size_t i = 0; i < t->n; i++) {
        int r = fn(ctx, t->v[i].key, t->v[i].value);
        if (r != 0)
            return r;
    }
    return 0;
}

static void kv_close(struct map *m)
{
    if (m->priv != NULL)
        kv_free(m->priv);
    m->priv = NULL;
}

/* ---- texthash ---- */

static int texthash_entry(void *ctx, const char *key, const char *value, const char *origin,
                          long line, struct buf *why)
{
    kv_add(ctx, key, value, line);
    return 0;
}

static int texthash_open(struct map *m, struct buf *why)
{
    struct kv_table *t = xcalloc(1, sizeof(*t));
    int flags = (m->flags & MAP_FOLD_CASE) ? MAP_FILE_FOLD : 0;
    if (map_file_parse(m->name, flags, texthash_entry, t, why) < 0) {
        kv_free(t);
        return -1;
    }
    kv_finish(t, m->name);
    m->priv = t;
    map_watch(m, m->name);
    return 0;
}

const struct map_ops map_texthash_ops = {
    .type = "texthash",
    .flags = MAP_OPS_NAME_IS_FILE,
    .open = texthash_open,
    .lookup = kv_lookup,
    .iterate = kv_iterate,
    .close = kv_close,
};

/* ---- inline:{ key=value, { key = value with spaces } } (Postfix 3) ---- */

/* strip_braces - "{ text }" to "text" (in place); NULL if not braced. */
static char *strip_braces(char *s)
{
    s = str_trim(s);
    size_t n = strlen(s);
    if (n < 2 || s[0] != '{' || s[n - 1] != '}')
        return NULL;
    s[n - 1] = 0;
    return str_trim(s + 1);
}

static int inline_parse(struct map *m, struct kv_table *t, struct buf *why)
{
    char *copy = xstrdup(m->name);
    char *p = strip_braces(copy);
    int rc = 0;
    if (p == NULL) {
        buf_printf(why, "%s: expected inline:{ name=value, ... }", m->spec);
        free(copy);
        return -1;
    }
    while (rc == 0) {
        p += strspn(p, ", \t\r\n");
        if (*p == 0)
            break;
        char *elem = p;
        int braced = *p == '{';
        if (braced) {
            int depth = 0;
            for (; *p != 0; p++) {
                if (*p == '{')
                    depth++;
                else if (*p == '}' && --depth == 0)
                    break;
            }
            if (*p != '}') {
                buf_printf(why, "%s: missing '}' after \"%s\"", m->spec, elem);
                rc = -1;
                break;
            }
            *p++ = 0;
            elem++; /* past '{' */
            if (*p != 0 && strchr(", \t\r\n", *p) == NULL) {
                buf_printf(why, "%s: text after '}' in \"{%s}\"", m->spec, elem);
                rc = -1;
                break;
            }
        } else {
            p += strcspn(p, ", \t\r\n{}");
            if (*p == '{' || *p == '}') {
                buf_printf(why, "%s: unexpected '%c' in \"%.*s\"", m->spec, *p, (int)(p - elem + 1),
                           elem);
                rc = -1;
                break;
            }
            if (*p != 0)
                *p++ = 0;
        }
        char *eq = strchr(elem, '=');
        if (eq == NULL) {
            buf_printf(why, "%s: missing '=' in \"%s\"", m->spec, str_trim(elem));
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = str_trim(elem), *value = braced ? str_trim(eq + 1) : eq + 1;
        if (*key == 0) {
            buf_printf(why, "%s: missing name before '=%s'", m->spec, value);
            rc = -1;
            break;
        }
        if (m->flags & MAP_FOLD_CASE)
            str_lower(key);
        kv_add(t, key, value, 0);
    }
    free(copy);
    return rc;
}

static int inline_open(struct map *m, struct buf *why)
{
    struct kv_table *t = xcalloc(1, sizeof(*t));
    if (inline_parse(m, t, why) < 0) {
        kv_free(t);
        return -1;
    }
    kv_finish(t, m->spec);
    m->priv = t;
    return 0;
}

const struct map_ops map_inline_ops = {
    .type = "inline",
    .open = inline_open,
    .lookup = kv_lookup,
    .iterate = kv_iterate,
    .close = kv_close,
};

/* ---- static:value, static:{ value with spaces } ---- */

static int static_open(struct map *m, struct buf *why)
{
    char *copy = xstrdup(m->name);
    char *braced = strip_braces(copy);
    if (braced == NULL && (strchr(copy, '{') != NULL || strchr(copy, '}') != NULL)) {
        buf_printf(why, "%s: unbalanced '{' or '}'", m->spec);
        free(copy);
        return -1;
    }
    m->priv = xstrdup(braced ? braced : copy);
    free(copy);
    return 0;
}

static int static_lookup(struct map *m, const char *key, struct buf *value)
{
    buf_puts(value, m->priv);
    return 1;
}

static void free_priv(struct map *m)
{
    free(m->priv);
    m->priv = NULL;
}

const struct map_ops map_static_ops = {
    .type = "static",
    .flags = MAP_OPS_NO_FOLD,
    .open = static_open,
    .lookup = static_lookup,
    .close = free_priv,
};

/* ---- fail:reason - every lookup is a temporary error (for testing) ---- */

static int fail_open(struct map *m, struct buf *why)
{
    return 0;
}

static int fail_lookup(struct map *m, const char *key, struct buf *value)
{
    return map_set_error(m, "table %s: lookup failed (fail: table)", m->spec);
}

const struct map_ops map_fail_ops = {
    .type = "fail",
    .flags = MAP_OPS_NO_FOLD,
    .open = fail_open,
    .lookup = fail_lookup,
};
