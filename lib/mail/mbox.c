/* mbox - locked, all-or-nothing appends to a UNIX mailbox file, with
 * Postfix local(8)'s From_ line, ">From " quoting and empty-line separator.
 * See mbox.h.
 */
#include "mail/mbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/msg.h"
#include "util/safe_open.h"

#define MBOX_BUFSIZE     65536 /* flush content to the file past this */
#define MBOX_SENDER_MAX  1000  /* longest sender shown in a From_ line */
#define MBOX_ATTEMPT_MAX 10000 /* sanity bound on configured lock attempts */

static const char from_[] = "From ";
#define FROM_LEN (sizeof(from_) - 1)

struct mbox {
    char *path;
    char *lock_path; /* non-NULL while we hold the dotlock */
    dev_t lock_dev;  /* identity of our dotlock, so we never remove */
    ino_t lock_ino;  /* one that another process made after ours went stale */
    int fd;
    off_t orig_size; /* rollback point */
    int in_message;  /* between mbox_begin and mbox_end */
    int match;       /* at line start: bytes of "From " seen so far; -1 mid-line */
    struct buf out;  /* content not yet written */
};

/* As Postfix's mbox_dsn(): a busy or stale resource and a full disk are
 * temporary; a full mailbox (quota, file size limit) is not (5.2.2);
 * anything else gets the caller's default. */
static int err_status(int err, int deflt)
{
    switch (err) {
    case EAGAIN:
    case ESTALE:
    case ENOSPC:
    case EINTR:
    case EIO:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
        return MBOX_DEFER;
    case EDQUOT:
    case EFBIG:
        return MBOX_BOUNCE;
    default:
        return deflt;
    }
}

void mbox_params_init(struct mbox_params *p)
{
    p->owner = SAFE_OPEN_ANY_USER;
    p->group = SAFE_OPEN_ANY_GROUP;
    p->mode = 0600;
    p->locks = MBOX_LOCK_FCNTL | MBOX_LOCK_DOTLOCK;
    p->lock_attempts = 20;
    p->lock_delay_ms = 1000;
    p->stale_lock_time = 500;
}

static void sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int bounded_attempts(int n)
{
    return n < 1 ? 1 : n > MBOX_ATTEMPT_MAX ? MBOX_ATTEMPT_MAX : n;
}

static int dotlock_take(struct mbox *mb, const struct mbox_params *p, struct buf *why)
{
    struct buf lock = BUF_INIT;
    struct stat st;
    int attempts = bounded_attempts(p->lock_attempts);

    buf_printf(&lock, "%s.lock", mb->path);
    for (int i = 0; i < attempts; i++) {
        /* O_EXCL creates a new name or fails, even on a symlink (Postfix
         * dot_lockfile() does the same). */
        int fd = open(buf_cstr(&lock), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            if (fstat(fd, &st) < 0) {
                int err = errno;
                (void)close(fd);
                (void)unlink(buf_cstr(&lock));
                errno = err;
                buf_setf(why, "cannot fstat lock file %s: %s", buf_cstr(&lock), strerror(err));
                buf_free(&lock);
                return err_status(err, MBOX_DEFER);
            }
            (void)close(fd);
            mb->lock_dev = st.st_dev;
            mb->lock_ino = st.st_ino;
            mb->lock_path = buf_steal(&lock);
            return 0;
        }
        if (errno != EEXIST) {
            int err = errno;
            buf_setf(why, "cannot create lock file %s: %s", buf_cstr(&lock), strerror(err));
            buf_free(&lock);
            errno = err;
            return err_status(err, MBOX_DEFER);
        }
        /* The modification time, not ctime: lock makers (liblockfile,
         * procmail) refresh a long-held lock by touching it. A holder that
         * died cannot, so after stale_lock_time the lock is nobody's. */
        if (lstat(buf_cstr(&lock), &st) == 0 && time(NULL) > st.st_mtime + p->stale_lock_time) {
            msg_warn("removing stale lock file %s", buf_cstr(&lock));
            if (unlink(buf_cstr(&lock)) == 0 || errno == ENOENT)
                continue;
        }
        if (i + 1 < attempts)
            sleep_ms(p->lock_delay_ms);
    }
    buf_setf(why, "cannot create lock file %s: file exists (mailbox is locked)", buf_cstr(&lock));
    buf_free(&lock);
    errno = EAGAIN;
    return MBOX_DEFER;
}

static void dotlock_release(struct mbox *mb)
{
    struct stat st;
    if (mb->lock_path == NULL)
        return;
    if (lstat(mb->lock_path, &st) == 0 && st.st_dev == mb->lock_dev && st.st_ino == mb->lock_ino) {
        if (unlink(mb->lock_path) < 0)
            msg_warn("cannot remove lock file %s: %s", mb->lock_path, strerror(errno));
    } else {
        msg_warn("lock file %s was removed or replaced while we held it", mb->lock_path);
    }
    free(mb->lock_path);
    mb->lock_path = NULL;
}

static int fcntl_lock(struct mbox *mb, const struct mbox_params *p, struct buf *why)
{
    int attempts = bounded_attempts(p->lock_attempts);
    struct flock fl;

    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    for (int i = 0; i < attempts; i++) {
        if (fcntl(mb->fd, F_SETLK, &fl) == 0)
            return 0;
        if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
            int err = errno;
            buf_setf(why, "cannot lock mailbox %s: %s", mb->path, strerror(err));
            return err_status(err, MBOX_DEFER);
        }
        if (i + 1 < attempts)
            sleep_ms(p->lock_delay_ms);
    }
    buf_setf(why, "cannot lock mailbox %s: %s", mb->path, strerror(EAGAIN));
    errno = EAGAIN;
    return MBOX_DEFER;
}

/* Unlock (closing drops the fcntl lock), remove the dotlock, free. */
static void release(struct mbox *mb)
{
    int saved = errno;
    if (mb->fd >= 0)
        (void)close(mb->fd);
    dotlock_release(mb);
    buf_free(&mb->out);
    free(mb->path);
    free(mb);
    errno = saved;
}

/* Put the mailbox back as we found it, so no partial message remains. */
static void rollback(struct mbox *mb)
{
    int saved = errno;
    if (ftruncate(mb->fd, mb->orig_size) < 0)
        msg_warn("cannot truncate mailbox %s back to %lld bytes: %s", mb->path,
                 (long long)mb->orig_size, strerror(errno));
    else if (fsync(mb->fd) < 0)
        msg_warn("cannot fsync mailbox %s: %s", mb->path, strerror(errno));
    errno = saved;
}

static int fail(struct mbox *mb, int status)
{
    rollback(mb);
    release(mb);
    return status;
}

int mbox_open(struct mbox **mbp, const char *path, const struct mbox_params *p, struct buf *why)
{
    struct mbox *mb = xcalloc(1, sizeof(*mb));
    struct stat st;
    int status;

    *mbp = NULL;
    mb->path = xstrdup(path);
    mb->fd = -1;
    mb->match = -1;
    buf_init(&mb->out);

    if ((p->locks & MBOX_LOCK_DOTLOCK) && (status = dotlock_take(mb, p, why)) < 0) {
        release(mb);
        return status;
    }
    mb->fd = safe_open(path, O_WRONLY | O_APPEND | O_CREAT, p->mode, &st, p->owner, p->group, why);
    if (mb->fd < 0) {
        /* A symlink, a hard-linked or foreign file will still be there
         * next time (Postfix: 5.2.0). */
        status = err_status(errno, MBOX_BOUNCE);
        release(mb);
        return status;
    }
    if ((p->locks & MBOX_LOCK_FCNTL) && (status = fcntl_lock(mb, p, why)) < 0) {
        release(mb);
        return status;
    }
    /* Measured under the locks: someone may have appended before we got them. */
    if (fstat(mb->fd, &st) < 0) {
        buf_setf(why, "cannot fstat mailbox %s: %s", path, strerror(errno));
        status = err_status(errno, MBOX_DEFER);
        release(mb);
        return status;
    }
    mb->orig_size = st.st_size;
    *mbp = mb;
    return 0;
}

static int flush_out(struct mbox *mb, struct buf *why)
{
    const char *cp = mb->out.data;
    size_t n = mb->out.len;
    while (n > 0) {
        ssize_t w = write(mb->fd, cp, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            buf_setf(why, "cannot write mailbox %s: %s", mb->path, strerror(errno));
            return -1;
        }
        cp += w;
        n -= (size_t)w;
    }
    buf_reset(&mb->out);
    return 0;
}

static int maybe_flush(struct mbox *mb, struct buf *why)
{
    if (mb->out.len >= MBOX_BUFSIZE && flush_out(mb, why) < 0)
        return fail(mb, err_status(errno, MBOX_DEFER));
    return 0;
}

void mbox_from_line(struct buf *out, const char *sender, time_t when)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    buf_reset(out);
    buf_puts(out, from_);
    if (*sender == 0) {
        buf_puts(out, "MAILER-DAEMON");
    } else {
        /* The envelope never holds control characters (DESIGN.md,
         * invariant 2), but a newline here would forge a message boundary. */
        size_t len = strnlen(sender, MBOX_SENDER_MAX);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)sender[i];
            buf_putc(out, c < 0x20 || c == 0x7f ? '?' : c);
        }
    }
    /* The date as asctime(3) writes it, in English whatever the locale. */
    if (localtime_r(&when, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
        tm.tm_mon > 11) {
        time_t zero = 0;
        gmtime_r(&zero, &tm);
    }
    buf_printf(out, "  %s %s %2d %02d:%02d:%02d %d\n", days[tm.tm_wday], months[tm.tm_mon],
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900);
}

int mbox_begin(struct mbox *mb, const char *sender, time_t when, struct buf *why)
{
    struct buf line = BUF_INIT;

    if (mb->in_message)
        msg_panic("mbox_begin: message to %s already started", mb->path);
    mbox_from_line(&line, sender, when);
    buf_append(&mb->out, line.data, line.len);
    buf_free(&line);
    mb->in_message = 1;
    mb->match = 0;
    return maybe_flush(mb, why);
}

int mbox_write(struct mbox *mb, const void *p, size_t n, struct buf *why)
{
    const char *cp = p;
    const char *end = cp + n;

    if (!mb->in_message)
        msg_panic("mbox_write: no message started for %s", mb->path);
    while (cp < end) {
        /* At a line start: hold back a possible "From " until it is
         * complete or disproved, however the content is split. */
        if (mb->match >= 0) {
            if (*cp == from_[mb->match]) {
                cp++;
                if ((size_t)++mb->match == FROM_LEN) {
                    buf_putc(&mb->out, '>');
                    buf_append(&mb->out, from_, FROM_LEN);
                    mb->match = -1;
                }
                continue;
            }
            buf_append(&mb->out, from_, (size_t)mb->match);
            mb->match = -1;
        }
        const char *nl = memchr(cp, '\n', (size_t)(end - cp));
        const char *stop = nl ? nl + 1 : end;
        buf_append(&mb->out, cp, (size_t)(stop - cp));
        cp = stop;
        if (nl)
            mb->match = 0;
        int status = maybe_flush(mb, why);
        if (status < 0)
            return status; /* rolled back and freed */
    }
    return 0;
}

int mbox_end(struct mbox *mb, struct buf *why)
{
    if (!mb->in_message)
        msg_panic("mbox_end: no message started for %s", mb->path);
    if (mb->match > 0) {
        buf_append(&mb->out, from_, (size_t)mb->match);
        mb->match = -1;
    }
    /* The From_ line ends in a newline, so out is never empty here unless
     * it was just flushed at a line end, where match is 0. */
    if (mb->match < 0)
        buf_putc(&mb->out, '\n');
    buf_putc(&mb->out, '\n');
    mb->in_message = 0;
    mb->match = -1;
    return maybe_flush(mb, why);
}

int mbox_write_message(struct mbox *mb, const char *sender, time_t when, const void *p, size_t n,
                       struct buf *why)
{
    int status;
    if ((status = mbox_begin(mb, sender, when, why)) < 0 ||
        (status = mbox_write(mb, p, n, why)) < 0 || (status = mbox_end(mb, why)) < 0)
        return status;
    return 0;
}

int mbox_commit(struct mbox *mb, struct buf *why)
{
    if (mb->in_message)
        msg_panic("mbox_commit: message to %s not ended", mb->path);
    if (flush_out(mb, why) < 0)
        return fail(mb, err_status(errno, MBOX_DEFER));
    if (fsync(mb->fd) < 0) {
        buf_setf(why, "cannot fsync mailbox %s: %s", mb->path, strerror(errno));
        return fail(mb, err_status(errno, MBOX_DEFER));
    }
    /* fsync has reported any write error (NFS included); closing, which
     * also drops the fcntl lock, cannot lose the data now. */
    release(mb);
    return 0;
}

void mbox_abort(struct mbox *mb)
{
    if (mb == NULL)
        return;
    rollback(mb);
    release(mb);
}
