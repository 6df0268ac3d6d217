/* bounce_log - the per-message delivery status logs bounce/ID and defer/ID
 * (see bounce_log.h for the format).
 *
 * Writing: one entry is formatted in memory and appended with a single
 * write under an exclusive lock, then fsynced (and the directory too when
 * the log was created), so a recipient that the bounce service reported as
 * recorded survives a crash. An entry that a crash cut short is removed by
 * the next append before it writes, so the fragment can never merge with
 * the next entry into a wrong one.
 *
 * Reading: every line is bounded by BOUNCE_LOG_LINE_MAX; a longer line is
 * cut there. An entry counts only once its closing empty line was read and
 * only when it names a recipient; unknown fields and lines without '=' are
 * ignored; NUL and CR bytes become spaces.
 */
#include "mail/bounce_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/iostuff.h"
#include "util/stream.h"
#include "util/strutil.h"

/* put_field - "name=value\n", with CR/LF turned into spaces and the value
 * cut so that the line fits a reader's bound. */
static void put_field(struct buf *out, const char *name, const char *value)
{
    size_t room = BOUNCE_LOG_LINE_MAX - strlen(name) - 1;
    size_t n = value ? strlen(value) : 0;

    if (n > room)
        n = room;
    buf_printf(out, "%s=", name);
    buf_reserve(out, n + 1);
    for (size_t i = 0; i < n; i++)
        buf_putc(out, value[i] == '\r' || value[i] == '\n' ? ' ' : value[i]);
    buf_putc(out, '\n');
}

void bounce_log_format(struct buf *out, const struct bounce_log_entry *e)
{
    char num[32];

    put_field(out, "recipient", e->recipient);
    put_field(out, "orcpt", e->orcpt);
    snprintf(num, sizeof(num), "%" PRId64, e->offset);
    put_field(out, "offset", num);
    put_field(out, "status", e->status);
    put_field(out, "action", e->action);
    snprintf(num, sizeof(num), "%lld", (long long)e->when);
    put_field(out, "time", num);
    put_field(out, "reason", e->reason);
    /* the DSN details only when known, so old readers see old entries */
    if (e->mta && e->mta[0])
        put_field(out, "mta", e->mta);
    if (e->diag && e->diag[0])
        put_field(out, "diag", e->diag);
    if (e->notify != 0) {
        snprintf(num, sizeof(num), "%d", e->notify);
        put_field(out, "notify", num);
    }
    buf_putc(out, '\n');
}

/* complete_length - the length of the log up to and including the last
 * "\n\n" (the end of the last whole entry), or 0 when there is none.
 * Searches backwards, so the cost is the size of a damaged tail, not of
 * the log. -1 on a read error. */
static off_t complete_length(int fd, off_t size)
{
    char block[4096 + 1];
    off_t end = size;

    while (end > 0) {
        off_t start = end > 4096 ? end - 4096 : 0;
        size_t n = (size_t)(end - start);
        /* one byte of overlap with the block after, for a "\n\n" across */
        size_t extra = end < size ? 1 : 0;
        ssize_t got = pread(fd, block, n + extra, start);
        if (got < 0)
            return -1;
        if ((size_t)got != n + extra) {
            errno = EIO;
            return -1;
        }
        for (size_t i = n + extra - 1; i >= 1; i--)
            if (block[i] == '\n' && block[i - 1] == '\n')
                return start + (off_t)i + 1;
        end = start;
    }
    return 0;
}

/* trim_damaged_tail - cut a partial entry (a crash during an earlier
 * append) off the end of the log, so the next entry starts clean. */
static int trim_damaged_tail(int fd, const char *path, struct buf *why)
{
    struct stat st;
    char tail[2];

    if (fstat(fd, &st) < 0) {
        buf_setf(why, "fstat %s: %m", path);
        return -1;
    }
    if (st.st_size == 0)
        return 0;
    if (st.st_size >= 2 && pread(fd, tail, 2, st.st_size - 2) == 2 && tail[0] == '\n' &&
        tail[1] == '\n')
        return 0;
    off_t keep = complete_length(fd, st.st_size);
    if (keep < 0) {
        buf_setf(why, "read %s: %m", path);
        return -1;
    }
    if (ftruncate(fd, keep) < 0) {
        buf_setf(why, "truncate the damaged end of %s: %m", path);
        return -1;
    }
    return 0;
}

/* open_log - open path for appending, creating it exclusively when it is
 * missing; *created says which. Never through a symlink, never anything
 * but a regular file (a FIFO would block, a device would be worse). */
static int open_log(const char *path, int *created, struct buf *why)
{
    const int flags = O_RDWR | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    struct stat st;
    int fd = -1;

    for (int tries = 0; fd < 0 && tries < 3; tries++) {
        *created = 0;
        fd = open(path, flags);
        if (fd < 0 && errno == ENOENT) {
            fd = open(path, flags | O_CREAT | O_EXCL, 0600);
            *created = fd >= 0;
            if (fd < 0 && errno == EEXIST)
                continue; /* another appender was first: open theirs */
        }
        if (fd < 0) {
            buf_setf(why, "open %s: %m", path);
            return -1;
        }
    }
    if (fd < 0) {
        buf_setf(why, "open %s: file keeps appearing and disappearing", path);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
        buf_setf(why, "open %s: not a regular file with one link", path);
        close(fd);
        return -1;
    }
    return fd;
}

int bounce_log_append(const char *path, const struct bounce_log_entry *e, struct buf *why)
{
    struct buf text = BUF_INIT;
    int created = 0, rc = -1;

    if (e->recipient == NULL || e->recipient[0] == '\0') {
        buf_setf(why, "bounce log entry without a recipient");
        return -1;
    }
    bounce_log_format(&text, e);
    int fd = open_log(path, &created, why);
    if (fd < 0)
        goto out;
    /* Appenders for one message may run at the same time (one delivery
     * agent per recipient); the lock keeps the tail check and the write
     * of one of them together. */
    if (flock(fd, LOCK_EX) < 0) {
        buf_setf(why, "lock %s: %m", path);
        goto out;
    }
    if (trim_damaged_tail(fd, path, why) < 0)
        goto out;
    if (write_full(fd, text.data, text.len, -1) < 0) {
        buf_setf(why, "write %s: %m", path);
        goto out;
    }
    if (fsync(fd) < 0) {
        buf_setf(why, "fsync %s: %m", path);
        goto out;
    }
    /* A new log must survive a crash too: its directory entry. */
    if (created && fsync_dir(path) < 0) {
        buf_setf(why, "fsync the directory of %s: %m", path);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    buf_free(&text);
    return rc;
}

struct bounce_log_reader {
    struct stream *s;
    struct buf line;
    int done; /* EOF or damage seen: nothing more to read */
};

struct bounce_log_reader *bounce_log_open(const char *path, struct buf *why)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

    if (fd < 0) {
        buf_setf(why, "open %s: %m", path);
        return NULL;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        errno = EINVAL;
        buf_setf(why, "open %s: not a regular file", path);
        return NULL;
    }
    struct bounce_log_reader *r = xmalloc(sizeof(*r));
    r->s = stream_open(fd, -1);
    buf_init(&r->line);
    r->done = 0;
    return r;
}

void bounce_log_entry_free(struct bounce_log_entry *e)
{
    free(e->recipient);
    free(e->orcpt);
    free(e->status);
    free(e->action);
    free(e->reason);
    free(e->mta);
    free(e->diag);
    memset(e, 0, sizeof(*e));
    e->offset = -1;
}

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

/* take_field - one "name=value" line into e; anything else is ignored. */
static void take_field(struct bounce_log_entry *e, char *line)
{
    char *eq = strchr(line, '=');
    long n;

    if (eq == NULL)
        return;
    *eq = '\0';
    const char *value = eq + 1;
    if (strcmp(line, "recipient") == 0)
        set_str(&e->recipient, value);
    else if (strcmp(line, "orcpt") == 0)
        set_str(&e->orcpt, value);
    else if (strcmp(line, "status") == 0)
        set_str(&e->status, value);
    else if (strcmp(line, "action") == 0)
        set_str(&e->action, value);
    else if (strcmp(line, "reason") == 0)
        set_str(&e->reason, value);
    else if (strcmp(line, "offset") == 0)
        e->offset = str_to_long(value, 0, LONG_MAX, &n) == 0 ? (int64_t)n : -1;
    else if (strcmp(line, "time") == 0)
        e->when = str_to_long(value, 0, LONG_MAX, &n) == 0 ? (time_t)n : 0;
    else if (strcmp(line, "mta") == 0)
        set_str(&e->mta, value);
    else if (strcmp(line, "diag") == 0)
        set_str(&e->diag, value);
    else if (strcmp(line, "notify") == 0) /* SMTP_NOTIFY_* bits: 4 of them */
        e->notify = str_to_long(value, 0, 15, &n) == 0 ? (int)n : 0;
}

/* finish - fill the defaults of fields the entry did not have. */
static void finish(struct bounce_log_entry *e)
{
    char **fields[] = {&e->orcpt, &e->status, &e->action, &e->reason, &e->mta, &e->diag};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (*fields[i] == NULL)
            *fields[i] = xstrdup("");
}

int bounce_log_read(struct bounce_log_reader *r, struct bounce_log_entry *e, struct buf *why)
{
    int in_entry = 0;

    memset(e, 0, sizeof(*e));
    e->offset = -1;
    while (!r->done) {
        r->s->flags &= ~STREAM_F_EOF;
        enum stream_line st = stream_get_line(r->s, &r->line, BOUNCE_LOG_LINE_MAX);
        if (st == STREAM_LINE_ERR) {
            buf_setf(why, "read bounce log: %s", strerror(r->s->err ? r->s->err : EIO));
            bounce_log_entry_free(e);
            return -1;
        }
        if (st == STREAM_LINE_EOF)
            break;
        if (st == STREAM_LINE_LONG && stream_skip_line(r->s) < 0) {
            if (stream_error(r->s)) {
                buf_setf(why, "read bounce log: %s", strerror(r->s->err ? r->s->err : EIO));
                bounce_log_entry_free(e);
                return -1;
            }
            break; /* the file ends inside this line: a cut-short entry */
        }
        if (st == STREAM_LINE_OK && (r->s->flags & STREAM_F_EOF))
            break; /* a last line without its LF: cut short */
        if (r->line.len == 0) {
            if (in_entry && e->recipient && e->recipient[0]) {
                finish(e);
                return 1;
            }
            /* an entry without a recipient reports nothing: skip it */
            bounce_log_entry_free(e);
            in_entry = 0;
            continue;
        }
        for (size_t i = 0; i < r->line.len; i++)
            if (r->line.data[i] == '\0' || r->line.data[i] == '\r')
                r->line.data[i] = ' ';
        in_entry = 1;
        take_field(e, r->line.data);
    }
    r->done = 1;
    bounce_log_entry_free(e);
    return 0;
}

void bounce_log_close(struct bounce_log_reader *r)
{
    if (r == NULL)
        return;
    (void)stream_close(r->s);
    buf_free(&r->line);
    free(r);
}
