/* map - the type-independent part of lookup tables: the type registry,
 * "type:name" parsing, case folding, the once-a-second check that reopens
 * a file-backed table after it was rebuilt, and, where the file is out of
 * sight (chroot), the check through the file opened with the table that
 * makes map_stale() name it. */
#include "maps/map.h"

#include "util/alloc.h"
#include "util/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Types added with map_register(), searched before the built-in ones. */
static const struct map_ops **extra_types;
static size_t extra_count;

void map_register(const struct map_ops *ops)
{
    for (size_t i = 0; i < extra_count; i++) {
        if (strcmp(extra_types[i]->type, ops->type) == 0) {
            extra_types[i] = ops;
            return;
        }
    }
    extra_types = xreallocarray(extra_types, extra_count + 1, sizeof(*extra_types));
    extra_types[extra_count++] = ops;
}

const struct map_ops *map_find_type(const char *type)
{
    for (size_t i = 0; i < extra_count; i++)
        if (strcmp(extra_types[i]->type, type) == 0)
            return extra_types[i];
    for (size_t i = 0; map_builtin_types[i] != NULL; i++)
        if (strcmp(map_builtin_types[i]->type, type) == 0)
            return map_builtin_types[i];
    return NULL;
}

int map_split(const char *spec, char **type, char **name, struct buf *why)
{
    const char *colon = strchr(spec, ':');
    if (colon == NULL || colon == spec) {
        buf_printf(why, "table \"%s\": expected type:name", spec);
        return -1;
    }
    for (const char *p = spec; p < colon; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            buf_printf(why, "table \"%s\": bad type name", spec);
            return -1;
        }
    }
    *type = xstrndup(spec, (size_t)(colon - spec));
    *name = xstrdup(colon + 1);
    return 0;
}

int map_set_error(struct map *m, const char *fmt, ...)
{
    va_list ap;
    buf_reset(&m->error);
    va_start(ap, fmt);
    buf_vprintf(&m->error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *map_error(const struct map *m)
{
    return buf_cstr(&m->error);
}

/* identity - the fields whose change means the file was replaced or edited. */
static void record_identity(struct map *m, const struct stat *st)
{
    m->w_dev = st->st_dev;
    m->w_ino = st->st_ino;
    m->w_size = st->st_size;
    m->w_mtime = st->st_mtim;
}

/* The file each watched table was opened from, kept open: after a chroot
 * its path may be out of sight, but fstat still shows whether it was
 * replaced (link count 0: postmap renamed a new table over it) or changed.
 * A side table, so struct map (a public header) keeps its layout. */
struct watch_fd {
    const struct map *m;
    int fd;
    dev_t root_dev; /* "/" when the file was opened: a chroot changes it */
    ino_t root_ino;
    int stale;
};
static struct watch_fd *watch_fds;
static size_t watch_count;

static struct watch_fd *watch_find(const struct map *m)
{
    for (size_t i = 0; i < watch_count; i++)
        if (watch_fds[i].m == m)
            return &watch_fds[i];
    return NULL;
}

static void watch_forget(const struct map *m)
{
    struct watch_fd *w = watch_find(m);
    if (w == NULL)
        return;
    if (w->fd >= 0)
        close(w->fd);
    *w = watch_fds[--watch_count];
}

void map_watch(struct map *m, const char *path)
{
    struct stat st;
    free(m->watch_path);
    m->watch_path = xstrdup(path);
    m->last_check = time(NULL);
    watch_forget(m);
    /* O_NONBLOCK: a FIFO named as a table must not hang the open. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd >= 0) {
        watch_fds = xreallocarray(watch_fds, watch_count + 1, sizeof(*watch_fds));
        struct watch_fd *w = &watch_fds[watch_count++];
        *w = (struct watch_fd){m, fd, 0, 0, 0};
        if (stat("/", &st) == 0) {
            w->root_dev = st.st_dev;
            w->root_ino = st.st_ino;
        }
    }
    /* The identity of the file opened, when there is one: no race between
     * the open and a stat of the path. */
    if ((fd >= 0 && fstat(fd, &st) == 0) || stat(path, &st) == 0)
        record_identity(m, &st);
}

/* out_of_sight - after stat(watch_path) failed with err: is the path
 * merely unreachable from here (a chroot, a directory we may not search)
 * rather than gone? Then the open file is the only way to tell. */
static int out_of_sight(const struct map *m, const struct watch_fd *w, int err)
{
    struct stat st;
    if (err == EACCES)
        return 1;
    if (err != ENOENT && err != ENOTDIR)
        return 0;
    if (stat("/", &st) == 0 && (st.st_dev != w->root_dev || st.st_ino != w->root_ino))
        return 1; /* chrooted since the table was opened */
    /* The file is gone from a directory we can still see: really removed. */
    char *dir = xstrdup(m->watch_path);
    char *slash = strrchr(dir, '/');
    int gone_dir = 0;
    if (slash != NULL) {
        slash[slash == dir] = 0; /* "/x" -> "/" */
        gone_dir = stat(dir, &st) < 0 && (errno == ENOENT || errno == EACCES || errno == ENOTDIR);
    }
    free(dir);
    return gone_dir;
}

/* check_open_file - fstat the file opened with the table: replaced or
 * changed means stale (the contents in memory keep answering). */
static void check_open_file(const struct map *m, struct watch_fd *w)
{
    struct stat st;
    if (fstat(w->fd, &st) < 0 || st.st_nlink == 0 || st.st_size != m->w_size ||
        st.st_mtim.tv_sec != m->w_mtime.tv_sec || st.st_mtim.tv_nsec != m->w_mtime.tv_nsec)
        w->stale = 1;
}

const char *map_stale(void)
{
    for (size_t i = 0; i < watch_count; i++)
        if (watch_fds[i].stale)
            return watch_fds[i].m->spec;
    return NULL;
}

struct map *map_open(const char *spec, int flags, struct buf *why)
{
    char *type, *name;
    if (map_split(spec, &type, &name, why) < 0)
        return NULL;
    const struct map_ops *ops = map_find_type(type);
    if (ops == NULL) {
        buf_printf(why, "table \"%s\": unsupported table type \"%s\"", spec, type);
        free(type);
        free(name);
        return NULL;
    }
    if ((flags & MAP_UPDATE) && ops->update == NULL) {
        buf_printf(why, "table \"%s\": type \"%s\" cannot be built or updated", spec, type);
        free(type);
        free(name);
        return NULL;
    }
    struct map *m = xcalloc(1, sizeof(*m));
    m->ops = ops;
    m->spec = xstrdup(spec);
    m->type = type;
    m->name = name;
    m->flags = flags;
    buf_init(&m->error);
    if (ops->open(m, why) < 0) {
        m->ops = NULL; /* nothing to close */
        map_close(m);
        return NULL;
    }
    return m;
}

/* check_change - at most once a second, reopen a watched table whose file
 * changed; a table that cannot be reopened stays broken (lookups fail
 * temporarily) and is retried at the next check. A file that is out of
 * sight is judged by the file opened with the table instead: changed
 * means stale (map_stale), never broken, since reopening cannot work. */
static void check_change(struct map *m)
{
    time_t now = time(NULL);
    if (m->watch_path == NULL || now == m->last_check)
        return;
    m->last_check = now;
    struct stat st;
    int changed;
    struct watch_fd *w = watch_find(m);
    if (w != NULL && w->stale)
        return; /* already reported; the process is about to restart */
    if (stat(m->watch_path, &st) < 0) {
        if (w != NULL && !m->broken && out_of_sight(m, w, errno)) {
            check_open_file(m, w);
            return;
        }
        changed = 1;
    } else
        changed = m->broken || st.st_dev != m->w_dev || st.st_ino != m->w_ino ||
                  st.st_size != m->w_size || st.st_mtim.tv_sec != m->w_mtime.tv_sec ||
                  st.st_mtim.tv_nsec != m->w_mtime.tv_nsec;
    if (!changed)
        return;
    if (m->ops->close != NULL && !m->broken)
        m->ops->close(m);
    m->priv = NULL;
    struct buf why = BUF_INIT;
    /* open calls map_watch on success, which records the new identity. */
    if (m->ops->open(m, &why) < 0) {
        m->broken = 1;
        map_set_error(m, "%s", buf_cstr(&why));
    } else {
        m->broken = 0;
    }
    m->last_check = now;
    buf_free(&why);
}

/* fold_key - a lower-case copy when the table wants one, else NULL. */
static char *fold_key(const struct map *m, const char *key)
{
    if (!(m->flags & MAP_FOLD_CASE) || (m->ops->flags & MAP_OPS_NO_FOLD))
        return NULL;
    return str_lower(xstrdup(key));
}

int map_lookup(struct map *m, const char *key, struct buf *value)
{
    buf_reset(value);
    if (!(m->flags & MAP_UPDATE))
        check_change(m);
    if (m->broken)
        return -1;
    char *folded = fold_key(m, key);
    int r = m->ops->lookup(m, folded ? folded : key, value);
    free(folded);
    if (r != 1)
        buf_reset(value);
    return r;
}

int map_update(struct map *m, const char *key, const char *value, struct buf *why)
{
    if (m->ops->update == NULL || !(m->flags & MAP_UPDATE)) {
        buf_printf(why, "table %s: not open for update", m->spec);
        return -1;
    }
    char *folded = fold_key(m, key);
    int r = m->ops->update(m, folded ? folded : key, value, why);
    free(folded);
    return r;
}

int map_delete(struct map *m, const char *key, struct buf *why)
{
    if (m->ops->delete == NULL || !(m->flags & MAP_UPDATE)) {
        buf_printf(why, "table %s: not open for update", m->spec);
        return -1;
    }
    char *folded = fold_key(m, key);
    int r = m->ops->delete (m, folded ? folded : key, why);
    free(folded);
    return r;
}

int map_iterate(struct map *m, map_iter_fn fn, void *ctx, struct buf *why)
{
    if (m->ops->iterate == NULL) {
        buf_printf(why, "table %s: type \"%s\" cannot be listed", m->spec, m->type);
        return -1;
    }
    if (!(m->flags & MAP_UPDATE))
        check_change(m);
    if (m->broken) {
        buf_puts(why, map_error(m));
        return -1;
    }
    return m->ops->iterate(m, fn, ctx, why);
}

int map_commit(struct map *m, struct buf *why)
{
    if (m->ops->commit == NULL || !(m->flags & MAP_UPDATE)) {
        buf_printf(why, "table %s: not open for update", m->spec);
        return -1;
    }
    return m->ops->commit(m, why);
}

void map_check_now(struct map *m)
{
    m->last_check = 0;
}

int map_is_pattern(const struct map *m)
{
    const struct map_ops *ops = m->ops;
    char *type = NULL, *name = NULL;
    struct buf why = BUF_INIT;

    /* proxy:TYPE:NAME behaves as TYPE does. */
    if (strcmp(m->type, "proxy") == 0 && map_split(m->name, &type, &name, &why) == 0) {
        ops = map_find_type(type);
        free(type);
        free(name);
    }
    buf_free(&why);
    return ops != NULL && (ops->flags & MAP_OPS_PATTERN) != 0;
}

void map_close(struct map *m)
{
    if (m == NULL)
        return;
    if (m->ops != NULL && m->ops->close != NULL && !m->broken)
        m->ops->close(m);
    free(m->spec);
    free(m->type);
    free(m->name);
    free(m->watch_path);
    watch_forget(m);
    buf_free(&m->error);
    free(m);
}
