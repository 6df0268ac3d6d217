/* maildir - Maildir delivery: tmp/UNIQUE, fsync, no-replace move into new/,
 * fsync new/, and only then success. See maildir.h.
 *
 * The subdirectories are opened once with O_NOFOLLOW and every later step
 * works relative to those descriptors (openat, renameat2), so a symlink or a
 * directory swapped in after the checks cannot redirect the message.
 */
#include "mail/maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/alloc.h"

#define MAILDIR_BUFSIZE      65536 /* flush content to the file past this */
#define MAILDIR_NAME_RETRIES 10    /* unique-name collisions before giving up */
#define MAILDIR_HOST_MAX     255   /* longest host name used in a file name */

struct maildir_delivery {
    char *path;     /* the Maildir, for messages */
    int tmp_dir;    /* descriptor of tmp/ */
    int new_dir;    /* descriptor of new/ */
    int fd;         /* the file in tmp/ */
    char *name;     /* its unique name */
    struct buf out; /* content not yet written */
};

/* Like Postfix's mbox_dsn(): a full mailbox or file size limit will not go
 * away by itself (5.2.2); anything else may. */
static int err_status(int err)
{
    return (err == EDQUOT || err == EFBIG) ? MAILDIR_BOUNCE : MAILDIR_DEFER;
}

static void close_quiet(int fd)
{
    int saved = errno;
    if (fd >= 0)
        (void)close(fd);
    errno = saved;
}

void maildir_unique(struct buf *out)
{
    static unsigned long counter;
    struct timeval tv;
    char host[MAILDIR_HOST_MAX + 1];

    gettimeofday(&tv, NULL);
    if (gethostname(host, sizeof(host)) < 0 || host[0] == 0)
        snprintf(host, sizeof(host), "localhost");
    host[MAILDIR_HOST_MAX] = 0;

    buf_reset(out);
    buf_printf(out, "%lld.M%ldP%ldQ%lu.", (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
               ++counter);
    /* '/' cannot be in a file name and ':' starts the info part of a
     * name in cur/; Dovecot writes them as octal escapes. */
    for (const char *cp = host; *cp; cp++) {
        if (*cp == '/')
            buf_puts(out, "\\057");
        else if (*cp == ':')
            buf_puts(out, "\\072");
        else
            buf_putc(out, *cp);
    }
}

/* Create path and its missing parents (0700), like mkdir -p. */
static int make_dirs(const char *path, struct buf *why)
{
    char *copy = xstrdup(path);
    size_t len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = 0;
    for (char *cp = copy + 1;; cp++) {
        if (*cp != '/' && *cp != 0)
            continue;
        char saved = *cp;
        *cp = 0;
        if (mkdir(copy, 0700) < 0 && errno != EEXIST) {
            int err = errno;
            buf_setf(why, "cannot create directory %s: %s", copy, strerror(err));
            free(copy);
            errno = err;
            return -1;
        }
        *cp = saved;
        if (saved == 0)
            break;
    }
    free(copy);
    return 0;
}

static int open_subdir(int root, const char *path, const char *sub, struct buf *why)
{
    if (mkdirat(root, sub, 0700) < 0 && errno != EEXIST) {
        buf_setf(why, "cannot create directory %s/%s: %s", path, sub, strerror(errno));
        return -1;
    }
    int fd = openat(root, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        struct stat st;
        if (errno == ELOOP ||
            (fstatat(root, sub, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)))
            buf_setf(why, "maildir directory %s/%s is a symbolic link", path, sub);
        else if (errno == ENOTDIR)
            buf_setf(why, "maildir directory %s/%s is not a directory", path, sub);
        else
            buf_setf(why, "cannot open directory %s/%s: %s", path, sub, strerror(errno));
        return -1;
    }
    return fd;
}

static void free_delivery(struct maildir_delivery *d)
{
    close_quiet(d->fd);
    close_quiet(d->tmp_dir);
    close_quiet(d->new_dir);
    buf_free(&d->out);
    free(d->name);
    free(d->path);
    free(d);
}

struct maildir_delivery *maildir_open(const char *path, struct buf *why, int *status)
{
    struct maildir_delivery *d = xcalloc(1, sizeof(*d));
    struct buf name = BUF_INIT;
    int root = -1, cur = -1;

    d->path = xstrdup(path);
    d->tmp_dir = d->new_dir = d->fd = -1;
    buf_init(&d->out);

    if (*path == 0) {
        errno = EINVAL;
        buf_setf(why, "empty maildir path");
        goto bad;
    }
    if (make_dirs(path, why) < 0)
        goto bad;
    /* The Maildir itself may be reached through links the owner made;
     * only its three subdirectories must be real directories. */
    if ((root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        buf_setf(why, "cannot open directory %s: %s", path, strerror(errno));
        goto bad;
    }
    if ((d->tmp_dir = open_subdir(root, path, "tmp", why)) < 0 ||
        (d->new_dir = open_subdir(root, path, "new", why)) < 0 ||
        (cur = open_subdir(root, path, "cur", why)) < 0)
        goto bad;

    for (int i = 0; i < MAILDIR_NAME_RETRIES; i++) {
        maildir_unique(&name);
        d->fd = openat(d->tmp_dir, buf_cstr(&name),
                       O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (d->fd >= 0 || errno != EEXIST)
            break;
    }
    if (d->fd < 0) {
        buf_setf(why, "cannot create file %s/tmp/%s: %s", path, buf_cstr(&name), strerror(errno));
        goto bad;
    }
    d->name = buf_steal(&name);
    close_quiet(root);
    close_quiet(cur);
    return d;

bad:
    if (status)
        *status = err_status(errno);
    buf_free(&name);
    close_quiet(root);
    close_quiet(cur);
    free_delivery(d);
    return NULL;
}

const char *maildir_tmp_name(const struct maildir_delivery *d)
{
    return d->name;
}

static void remove_tmp(struct maildir_delivery *d)
{
    int saved = errno;
    close_quiet(d->fd);
    d->fd = -1;
    (void)unlinkat(d->tmp_dir, d->name, 0);
    errno = saved;
}

void maildir_abort(struct maildir_delivery *d)
{
    if (d == NULL)
        return;
    remove_tmp(d);
    free_delivery(d);
}

/* Write n bytes; a zero-length write without errno means no room. */
static int write_raw(struct maildir_delivery *d, const char *cp, size_t n, struct buf *why)
{
    while (n > 0) {
        ssize_t w = write(d->fd, cp, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            buf_setf(why, "cannot write file %s/tmp/%s: %s", d->path, d->name, strerror(errno));
            return -1;
        }
        cp += w;
        n -= (size_t)w;
    }
    return 0;
}

static int flush_out(struct maildir_delivery *d, struct buf *why)
{
    if (write_raw(d, d->out.data, d->out.len, why) < 0)
        return -1;
    buf_reset(&d->out);
    return 0;
}

static int fail(struct maildir_delivery *d)
{
    int status = err_status(errno);
    maildir_abort(d);
    return status;
}

int maildir_write(struct maildir_delivery *d, const void *p, size_t n, struct buf *why)
{
    /* Large pieces go straight to the file instead of through the buffer. */
    if (n >= MAILDIR_BUFSIZE) {
        if (flush_out(d, why) < 0 || write_raw(d, p, n, why) < 0)
            return fail(d);
        return 0;
    }
    buf_append(&d->out, p, n);
    if (d->out.len >= MAILDIR_BUFSIZE && flush_out(d, why) < 0)
        return fail(d);
    return 0;
}

/* Move tmp/NAME to new/NAME, never replacing a file already there. */
static int move_to_new(struct maildir_delivery *d, struct buf *why)
{
    if (renameat2(d->tmp_dir, d->name, d->new_dir, d->name, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS) {
        buf_setf(why, "cannot rename %s/tmp/%s to %s/new/%s: %s", d->path, d->name, d->path,
                 d->name, strerror(errno));
        return -1;
    }
    /* No RENAME_NOREPLACE on this file system: the specification's own
     * link-then-unlink, which fails on an existing name just the same. */
    if (linkat(d->tmp_dir, d->name, d->new_dir, d->name, 0) < 0) {
        buf_setf(why, "cannot link %s/tmp/%s to %s/new/%s: %s", d->path, d->name, d->path, d->name,
                 strerror(errno));
        return -1;
    }
    (void)unlinkat(d->tmp_dir, d->name, 0);
    return 0;
}

int maildir_commit(struct maildir_delivery *d, struct buf *name, struct buf *why)
{
    if (flush_out(d, why) < 0)
        return fail(d);
    if (fsync(d->fd) < 0) {
        buf_setf(why, "cannot fsync file %s/tmp/%s: %s", d->path, d->name, strerror(errno));
        return fail(d);
    }
    /* Network file systems may report a failed write only at close. */
    int fd = d->fd;
    d->fd = -1;
    if (close(fd) < 0) {
        buf_setf(why, "cannot close file %s/tmp/%s: %s", d->path, d->name, strerror(errno));
        return fail(d);
    }
    if (move_to_new(d, why) < 0)
        return fail(d);
    if (fsync(d->new_dir) < 0) {
        /* Not durable, so not delivered: take it back rather than risk a
         * reader seeing a message that a crash could still lose, and let the
         * retry deliver it once. */
        int err = errno;
        buf_setf(why, "cannot fsync directory %s/new: %s", d->path, strerror(err));
        (void)unlinkat(d->new_dir, d->name, 0);
        free_delivery(d);
        return err_status(err);
    }
    if (name)
        buf_set(name, d->name);
    free_delivery(d);
    return 0;
}

int maildir_deliver(const char *path, const void *msg, size_t len, struct buf *name,
                    struct buf *why)
{
    int status = MAILDIR_DEFER;
    struct maildir_delivery *d = maildir_open(path, why, &status);
    if (d == NULL)
        return status;
    if ((status = maildir_write(d, msg, len, why)) < 0)
        return status;
    return maildir_commit(d, name, why);
}
