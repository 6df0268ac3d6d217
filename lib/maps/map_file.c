/* map_file - parse the Postfix table and aliases text formats into
 * (key, value) entries for postmap, newaliases and texthash. */
#include "maps/map_file.h"

#include "maps/map.h"
#include "util/msg.h"
#include "util/strutil.h"

#include <errno.h>
#include <fcntl.h>
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

struct build_ctx {
    struct map *map;
    long count;
};

static int build_entry(void *ctx, const char *key, const char *value, const char *origin, long line,
                       struct buf *why)
{
    struct build_ctx *b = ctx;
    struct buf reason = BUF_INIT;
    int r = map_update(b->map, key, value, &reason);
    if (r < 0)
        buf_printf(why, "%s:%ld: %s", origin, line, buf_cstr(&reason));
    else if (r == 1)
        msg_warn("%s:%ld: duplicate entry: \"%s\"", origin, line, key);
    else
        b->count++;
    buf_free(&reason);
    return r < 0 ? -1 : 0;
}

long map_file_build(const char *spec, int flags, struct buf *why)
{
    struct build_ctx b = {NULL, 0};
    /* The table folds nothing itself: the parser already did as asked. */
    if ((b.map = map_open(spec, MAP_UPDATE, why)) == NULL)
        return -1;
    int rc = map_file_parse(b.map->name, flags, build_entry, &b, why);
    if (rc == 0)
        rc = map_commit(b.map, why);
    map_close(b.map);
    return rc < 0 ? -1 : b.count;
}
