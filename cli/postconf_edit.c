/* postconf_edit - in-place edits of main.cf and master.cf for postconf -e,
 * -X, -#, -Me, -MX and -M#.
 *
 * The file is changed as text, so comments, blank lines and the order of
 * everything else survive. A logical line is its first physical line plus
 * the indented lines after it (comment and blank lines in between belong to
 * no one and are kept, as Postfix's postconf does). Concurrent editors are
 * serialized with flock() on the directory that holds the file, and the
 * new text replaces the old with write-to-temp, fsync, rename, so a crash
 * leaves the old or the new file, never a mix.
 */
#include "postconf.h"

#include "conf/config.h"
#include "util/alloc.h"
#include "util/iostuff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

void pc_main_key(const char *line, size_t len, struct buf *key)
{
    size_t n = 0;
    while (n < len && line[n] != '=' && !is_blank((unsigned char)line[n]))
        n++;
    buf_reset(key);
    buf_append(key, line, n);
}

/* lock_dir - serialize editors with an exclusive lock on the directory
 * that holds path: unlike the file, it is not replaced by our rename. */
static int lock_dir(const char *path, struct buf *why)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == NULL   ? xstrdup(".")
                : slash == path ? xstrdup("/")
                                : xmemdup(path, (size_t)(slash - path));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        buf_setf(why, "lock directory %s: %s", dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    free(dir);
    return fd;
}

static int open_file(const char *path, int create, struct stat *st, struct buf *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT && create) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0644);
    }
    if (fd < 0) {
        buf_setf(why, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        buf_setf(why, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

static int read_all(int fd, const char *path, struct buf *out, struct buf *why)
{
    char chunk[65536];
    buf_reset(out);
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_setf(why, "read %s: %s", path, strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        if ((size_t)n > CONFIG_MAX_FILE - out->len) {
            buf_setf(why, "%s: file larger than %d bytes", path, CONFIG_MAX_FILE);
            return -1;
        }
        buf_append(out, chunk, (size_t)n);
    }
}

/* replace_file - durably replace path with text, keeping its mode (and its
 * owner, when we may set it). */
static int replace_file(const char *path, const struct stat *st, const struct buf *text,
                        struct buf *why)
{
    struct buf tmp = BUF_INIT;
    buf_printf(&tmp, "%s.XXXXXX", path);
    int fd = mkstemp(tmp.data);
    if (fd < 0) {
        buf_setf(why, "create temporary file %s: %s", buf_cstr(&tmp), strerror(errno));
        buf_free(&tmp);
        return -1;
    }
    const char *step = "write";
    if (fchmod(fd, st->st_mode & 07777) < 0) {
        step = "chmod";
        goto fail;
    }
    if (geteuid() == 0 && fchown(fd, st->st_uid, st->st_gid) < 0) {
        step = "chown";
        goto fail;
    }
    if (write_full(fd, text->data ? text->data : "", text->len, -1) < 0)
        goto fail;
    if (fsync(fd) < 0) {
        step = "fsync";
        goto fail;
    }
    if (close(fd) < 0) {
        fd = -1;
        step = "close";
        goto fail;
    }
    fd = -1;
    if (rename(tmp.data, path) < 0) {
        step = "rename";
        goto fail;
    }
    if (fsync_dir(path) < 0) {
        buf_setf(why, "fsync directory of %s: %s", path, strerror(errno));
        buf_free(&tmp);
        return -1;
    }
    buf_free(&tmp);
    return 0;
fail:
    buf_setf(why, "%s %s: %s", step, buf_cstr(&tmp), strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp.data);
    buf_free(&tmp);
    return -1;
}

static struct pc_edit *find_edit(struct pc_edit *edits, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(edits[i].key, key) == 0)
            return &edits[i];
    return NULL;
}

/* apply - the line walk: copy, replace, drop or comment out. */
static void apply(const struct buf *in, pc_key_fn key_of, struct pc_edit *edits, size_t n,
                  enum pc_edit_mode mode, struct buf *out)
{
    struct buf key = BUF_INIT;
    int changing = 0; /* the current logical line is being changed */
    size_t off = 0;
    while (off < in->len) {
        const char *p = in->data + off;
        const char *nl = memchr(p, '\n', in->len - off);
        size_t len = nl ? (size_t)(nl - p) : in->len - off;
        size_t whole = nl ? len + 1 : len;
        off += whole;
        size_t skip = 0;
        while (skip < len && is_blank((unsigned char)p[skip]))
            skip++;
        if (skip == len || p[skip] == '#') {
            buf_append(out, p, whole);
            continue;
        }
        if (skip > 0) {
            if (!changing)
                buf_append(out, p, whole);
            else if (mode == PC_EDIT_COMMENT) {
                buf_putc(out, '#');
                buf_append(out, p, whole);
            }
            continue;
        }
        key_of(p, len, &key);
        struct pc_edit *e = find_edit(edits, n, buf_cstr(&key));
        changing = e != NULL;
        if (e == NULL) {
            buf_append(out, p, whole);
            continue;
        }
        if (mode == PC_EDIT_SET && !e->done) {
            buf_puts(out, e->text);
            buf_putc(out, '\n');
        } else if (mode == PC_EDIT_COMMENT) {
            buf_putc(out, '#');
            buf_append(out, p, whole);
        }
        e->done = 1;
    }
    if (mode == PC_EDIT_SET) {
        for (size_t i = 0; i < n; i++) {
            if (edits[i].done)
                continue;
            if (out->len > 0 && out->data[out->len - 1] != '\n')
                buf_putc(out, '\n');
            buf_puts(out, edits[i].text);
            buf_putc(out, '\n');
            edits[i].done = 1;
        }
    }
    buf_free(&key);
}

int pc_rewrite(const char *path, pc_key_fn key_of, struct pc_edit *edits, size_t n,
               enum pc_edit_mode mode, pc_check_fn check, struct buf *why)
{
    struct stat st;
    int lock = lock_dir(path, why);
    if (lock < 0)
        return -1;
    int fd = open_file(path, mode == PC_EDIT_SET, &st, why);
    if (fd < 0) {
        close(lock);
        return -1;
    }
    struct buf in = BUF_INIT, out = BUF_INIT, reason = BUF_INIT;
    int ret = -1;
    if (read_all(fd, path, &in, why) < 0)
        goto done;
    apply(&in, key_of, edits, n, mode, &out);
    if (out.len == in.len && (in.len == 0 || memcmp(out.data, in.data, in.len) == 0)) {
        ret = 0; /* nothing to change: leave the file (and its mtime) alone */
        goto done;
    }
    /* Never turn a valid file into an invalid one. */
    if (check != NULL && check(buf_cstr(&in), in.len, path, &reason) == 0 &&
        check(buf_cstr(&out), out.len, path, &reason) < 0) {
        buf_setf(why, "not changing %s: the result would be invalid: %s", path, buf_cstr(&reason));
        goto done;
    }
    ret = replace_file(path, &st, &out, why);
done:
    close(fd);
    close(lock); /* after the rename: the next editor reads the new file */
    buf_free(&in);
    buf_free(&out);
    buf_free(&reason);
    return ret;
}
