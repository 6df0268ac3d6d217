/* map_file - parse the Postfix table and aliases text formats into
 * (key, value) entries for postmap, newaliases and texthash. */
#include "maps/map_file.h"

#include "maps/map.h"
#include "util/alloc.h"
#include "util/msg.h"
#include "util/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* alias_name - split "name: value" (name possibly quoted) in place; the
 * unquoted name is written over the start of line. NULL + why on error. */
static char *alias_name(char *line, char **value, const char *origin, long lineno, struct buf *why)
{
    char *out = line, *p = line;
    int quoted = 0;
    for (; *p != 0; p++) {
        if (*p == '"') {
            quoted = !quoted;
        } else if (quoted && *p == '\\' && p[1] != 0) {
            *out++ = *++p;
        } else if (!quoted && *p == ':') {
            break;
        } else {
            *out++ = *p;
        }
    }
    if (quoted) {
        buf_printf(why, "%s:%ld: unbalanced '\"' in alias name", origin, lineno);
        return NULL;
    }
    if (*p != ':') {
        buf_printf(why, "%s:%ld: expected format: name: value", origin, lineno);
        return NULL;
    }
    *value = p + 1;
    *out = 0;
    char *name = str_trim(line);
    if (*name == 0) {
        buf_printf(why, "%s:%ld: missing alias name before ':'", origin, lineno);
        return NULL;
    }
    return name;
}

/* entry - hand one logical line to the callback. */
static int entry(char *line, const char *origin, long lineno, int flags, map_file_fn fn, void *ctx,
                 struct buf *why)
{
    char *key, *value;
    if (flags & MAP_FILE_ALIASES) {
        if ((key = alias_name(line, &value, origin, lineno, why)) == NULL)
            return -1;
        value = str_trim(value);
        if (*value == 0) {
            buf_printf(why, "%s:%ld: missing value for alias \"%s\"", origin, lineno, key);
            return -1;
        }
    } else {
        key = line;
        value = line + strcspn(line, " \t\r\f\v");
        if (*value != 0)
            *value++ = 0;
        value = str_trim(value);
        if (*value == 0) {
            buf_printf(why, "%s:%ld: expected format: key whitespace value", origin, lineno);
            return -1;
        }
    }
    if (flags & MAP_FILE_FOLD)
        str_lower(key);
    return fn(ctx, key, value, origin, lineno, why);
}

int map_file_parse_text(const char *text, size_t len, const char *origin, int flags, map_file_fn fn,
                        void *ctx, struct buf *why)
{
    struct buf logical = BUF_INIT;
    long lineno = 0, start = 0;
    int rc = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        const char *p = text + pos;
        pos += n + (nl != NULL);
        lineno++;
        if (memchr(p, 0, n) != NULL) {
            buf_printf(why, "%s:%ld: NUL byte in line", origin, lineno);
            rc = -1;
            break;
        }
        size_t skip = 0;
        while (skip < n && is_blank((unsigned char)p[skip]))
            skip++;
        if (skip == n || p[skip] == '#')
            continue; /* blank or comment: neither starts nor ends an entry */
        if (skip > 0) {
            if (start == 0) {
                buf_printf(why, "%s:%ld: continuation line before any entry", origin, lineno);
                rc = -1;
                break;
            }
            if (logical.len + 1 + (n - skip) > MAP_FILE_MAX_LINE) {
                buf_printf(why, "%s:%ld: logical line longer than %d bytes", origin, start,
                           MAP_FILE_MAX_LINE);
                rc = -1;
                break;
            }
            buf_putc(&logical, ' ');
            buf_append(&logical, p + skip, n - skip);
            continue;
        }
        if (start != 0 && (rc = entry(logical.data, origin, start, flags, fn, ctx, why)) < 0)
            break;
        if (n > MAP_FILE_MAX_LINE) {
            buf_printf(why, "%s:%ld: line longer than %d bytes", origin, lineno, MAP_FILE_MAX_LINE);
            rc = -1;
            break;
        }
        buf_reset(&logical);
        buf_append(&logical, p, n);
        start = lineno;
    }
    if (rc == 0 && start != 0)
        rc = entry(logical.data, origin, start, flags, fn, ctx, why);
    buf_free(&logical);
    return rc < 0 ? -1 : 0;
}

int map_file_read(const char *path, struct buf *out, struct buf *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        buf_printf(why, "open %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        buf_printf(why, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    buf_reset(out);
    for (;;) {
        if (out->len >= (size_t)MAP_FILE_MAX_SIZE) {
            buf_printf(why, "%s: file larger than %ld bytes", path, MAP_FILE_MAX_SIZE);
            close(fd);
            return -1;
        }
        buf_reserve(out, 65536);
        ssize_t n = read(fd, out->data + out->len, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_printf(why, "read %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
        out->data[out->len] = 0;
    }
    close(fd);
    return 0;
}

int map_file_parse(const char *path, int flags, map_file_fn fn, void *ctx, struct buf *why)
{
    struct buf text = BUF_INIT;
    int rc = map_file_read(path, &text, why);
    if (rc == 0)
        rc = map_file_parse_text(text.data ? text.data : "", text.len, path, flags, fn, ctx, why);
    buf_free(&text);
    return rc;
}

/* A build collects every entry first and stores them in key order: the
 * table is then written by appending (no B-tree search, full pages; a
 * shuffled 1M-entry source builds several times faster and into a table a
 * third smaller than when written in source order), and a source with an
 * error is rejected before anything is written. */
struct build_entry {
    uint64_t prefix[2]; /* the key's first 16 bytes, big-endian: most comparisons end here */
    const char *key;
    const char *value;
    long line;
};

struct build_ctx {
    struct buf arena; /* key NUL value NUL, ... */
    size_t *offsets;  /* of each key in arena (pointers come after it stops moving) */
    long *lines;
    size_t n, cap;
};

static int collect_entry(void *ctx, const char *key, const char *value, const char *origin,
                         long line, struct buf *why)
{
    struct build_ctx *b = ctx;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->offsets = xreallocarray(b->offsets, b->cap, sizeof(*b->offsets));
        b->lines = xreallocarray(b->lines, b->cap, sizeof(*b->lines));
    }
    b->offsets[b->n] = b->arena.len;
    b->lines[b->n] = line;
    b->n++;
    buf_append(&b->arena, key, strlen(key) + 1);
    buf_append(&b->arena, value, strlen(value) + 1);
    return 0;
}

/* key_prefix - the first 16 bytes (NUL-padded) as two numbers that order
 * as strcmp() orders the strings. */
static void key_prefix(const char *key, uint64_t prefix[2])
{
    int end = 0;
    for (size_t w = 0; w < 2; w++) {
        uint64_t p = 0;
        for (size_t i = 0; i < 8; i++) {
            end = end || key[8 * w + i] == 0;
            p = p << 8 | (end ? 0 : (unsigned char)key[8 * w + i]);
        }
        prefix[w] = p;
    }
}

/* key_cmp - strcmp() of the keys, mostly without touching them. */
static int key_cmp(const struct build_entry *x, const struct build_entry *y)
{
    if (x->prefix[0] != y->prefix[0])
        return x->prefix[0] < y->prefix[0] ? -1 : 1;
    if (x->prefix[1] != y->prefix[1])
        return x->prefix[1] < y->prefix[1] ? -1 : 1;
    if ((x->prefix[1] & 0xff) == 0)
        return 0; /* equal prefixes that hold a NUL: the whole keys are equal */
    return strcmp(x->key + 16, y->key + 16);
}

/* By key, then by line: among duplicates the first one in the file wins. */
static int entry_cmp(const void *a, const void *b)
{
    const struct build_entry *x = a, *y = b;
    int c = key_cmp(x, y);
    if (c != 0)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

static int line_cmp(const void *a, const void *b)
{
    const struct build_entry *x = a, *y = b;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* store - put the sorted entries into the table; the entry count or -1. */
static long store(struct map *m, struct build_entry *v, size_t n, const char *origin,
                  struct buf *why)
{
    struct buf reason = BUF_INIT;
    size_t ndup = 0;
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && key_cmp(&v[i], &v[i - 1]) == 0) {
            v[ndup++] = v[i]; /* below i: a slot already stored or moved */
            continue;
        }
        int r = map_update(m, v[i].key, v[i].value, &reason);
        if (r < 0) {
            buf_printf(why, "%s:%ld: %s", origin, v[i].line, buf_cstr(&reason));
            buf_free(&reason);
            return -1;
        }
        if (r == 1)
            v[ndup++] = v[i];
        else
            count++;
    }
    /* Warn in the order of the source, as a build in file order would. */
    qsort(v, ndup, sizeof(*v), line_cmp);
    for (size_t i = 0; i < ndup; i++)
        msg_warn("%s:%ld: duplicate entry: \"%s\"", origin, v[i].line, v[i].key);
    buf_free(&reason);
    return count;
}

long map_file_build(const char *spec, int flags, struct buf *why)
{
    struct build_ctx b = {BUF_INIT, NULL, NULL, 0, 0};
    struct map *m;
    long count = -1;
    /* The table folds nothing itself: the parser already did as asked. */
    if ((m = map_open(spec, MAP_UPDATE, why)) == NULL)
        return -1;
    if (map_file_parse(m->name, flags, collect_entry, &b, why) == 0) {
        struct build_entry *v = xreallocarray(NULL, b.n ? b.n : 1, sizeof(*v));
        for (size_t i = 0; i < b.n; i++) {
            v[i].key = b.arena.data + b.offsets[i];
            v[i].value = v[i].key + strlen(v[i].key) + 1;
            v[i].line = b.lines[i];
            key_prefix(v[i].key, v[i].prefix);
        }
        free(b.offsets);
        free(b.lines);
        b.offsets = NULL;
        b.lines = NULL;
        qsort(v, b.n, sizeof(*v), entry_cmp);
        count = store(m, v, b.n, m->name, why);
        free(v);
        if (count >= 0 && map_commit(m, why) < 0)
            count = -1;
    }
    free(b.offsets);
    free(b.lines);
    buf_free(&b.arena);
    map_close(m);
    return count;
}
