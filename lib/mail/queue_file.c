/* queue_file - write and read queue files: typed records with an explicit end.
 *
 * Writer: records are collected in a 64 KiB buffer and written in large
 * chunks; qf_commit() adds the end record, fsyncs the file, renames the
 * temporary name to the queue ID without replacing anything, and fsyncs the
 * directories, so a message exists under its ID only when it is complete and
 * durable (DESIGN.md invariant 1). The first failure sticks: every later
 * call fails and qf_commit() reports it and removes the file, so a caller
 * that misses one error still never commits a message with a record missing.
 *
 * Reader: the file is hostile. It is read through a fixed buffer (never
 * slurped), every length is checked before anything is allocated, and the
 * order rules of postern-queue(5) are enforced.
 */
#include "mail/queue_file.h"
#include "util/alloc.h"
#include "util/iostuff.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QF_HDR_LEN      5     /* type:1 len:4 */
#define QF_WBUF_SIZE    65536 /* writer: bytes collected before a write() */
#define QF_RBUF_SIZE    65536 /* reader: bytes per read() */
#define QF_CREATE_TRIES 100   /* fresh IDs tried when a temporary name exists */

/* ---- shared ------------------------------------------------------------- */

static int qf_known_type(int type)
{
    switch (type) {
    case QF_MAGIC:
    case QF_TIME:
    case QF_SIZE:
    case QF_ATTR:
    case QF_SENDER:
    case QF_ORCPT:
    case QF_NOTIFY:
    case QF_WARN:
    case QF_RCPT:
    case QF_DONE:
    case QF_CONTENT:
    case QF_END:
        return 1;
    default:
        return 0;
    }
}

int qf_is_text_type(int type)
{
    return qf_known_type(type) && type != QF_CONTENT;
}

/* Envelope text never holds NUL, CR or LF (DESIGN.md invariant 2), so no
 * record payload can be mistaken for a line break or a terminator by any
 * program that later prints or forwards it. */
static const void *bad_text_byte(const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        if (s[i] == 0 || s[i] == '\r' || s[i] == '\n')
            return s + i;
    return NULL;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* A printable name for a record type in messages. */
static const char *type_name(int type, char *tmp, size_t len)
{
    if (type > 0x20 && type < 0x7f)
        snprintf(tmp, len, "'%c'", type);
    else
        snprintf(tmp, len, "0x%02x", (unsigned)type & 0xff);
    return tmp;
}

/* A QF_NOTIFY payload: decimal SMTP_NOTIFY_* bits, 1..QF_NOTIFY_MAX, no
 * leading zero. */
static int notify_payload_ok(const void *data, size_t n)
{
    const unsigned char *p = data;
    unsigned v = 0;
    if (n == 0 || n > 2 || p[0] == '0')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v <= QF_NOTIFY_MAX;
}

/* A QF_WARN payload: exactly QF_WARN_LEN decimal digits. */
static int warn_payload_ok(const void *data, size_t n)
{
    const unsigned char *p = data;
    if (n != QF_WARN_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

int qf_notify_parse(const char *p, size_t n, int *notify)
{
    if (!notify_payload_ok(p, n))
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (p[i] - '0');
    *notify = v;
    return 0;
}

void qf_warn_format(long long when, char out[QF_WARN_LEN + 1])
{
    if (when < 0)
        when = 0;
    snprintf(out, QF_WARN_LEN + 1, "%0*lld", QF_WARN_LEN, when);
}

int qf_warn_parse(const char *p, size_t n, long long *when)
{
    unsigned long long v = 0;
    if (!warn_payload_ok(p, n))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (v > ((unsigned long long)LLONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *when = (long long)v;
    return 0;
}

/* ---- writer ------------------------------------------------------------- */

struct qf_writer {
    int fd;
    char *dir;
    char *tmp_path;
    char id[QUEUE_ID_LEN + 1];
    unsigned char *obuf;
    size_t olen;
    int after_orcpt;  /* the last record was QF_ORCPT */
    int after_notify; /* the last record was QF_NOTIFY */
    int seen_rcpt;    /* a QF_RCPT or QF_DONE was written */
    int seen_warn;    /* a QF_WARN was written */
    struct buf error; /* the first failure; non-empty means failed */
};

static int w_fail(struct qf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int w_fail(struct qf_writer *w, const char *fmt, ...)
{
    va_list ap;
    if (w->error.len == 0) {
        va_start(ap, fmt);
        buf_vprintf(&w->error, fmt, ap);
        va_end(ap);
    }
    errno = EIO;
    return -1;
}

static int w_flush(struct qf_writer *w)
{
    if (w->olen == 0)
        return 0;
    if (write_full(w->fd, w->obuf, w->olen, -1) < 0)
        return w_fail(w, "write %s: %s", w->tmp_path, strerror(errno));
    w->olen = 0;
    return 0;
}

/* Fill the buffer and write it whole, so a large message goes out in
 * 64 KiB writes however the records fall; data that would fill a whole
 * buffer by itself skips the copy. */
static int w_write(struct qf_writer *w, const void *p, size_t n)
{
    const unsigned char *cp = p;
    while (n > 0) {
        if (w->olen == 0 && n >= QF_WBUF_SIZE) {
            if (write_full(w->fd, cp, n, -1) < 0)
                return w_fail(w, "write %s: %s", w->tmp_path, strerror(errno));
            return 0;
        }
        size_t take = QF_WBUF_SIZE - w->olen;
        if (take > n)
            take = n;
        memcpy(w->obuf + w->olen, cp, take);
        w->olen += take;
        cp += take;
        n -= take;
        if (w->olen == QF_WBUF_SIZE && w_flush(w) < 0)
            return -1;
    }
    return 0;
}

static int w_record(struct qf_writer *w, int type, const void *p, size_t n)
{
    unsigned char hdr[QF_HDR_LEN];
    hdr[0] = (unsigned char)type;
    put_be32(hdr + 1, (uint32_t)n);
    if (w_write(w, hdr, sizeof(hdr)) < 0 || w_write(w, p, n) < 0)
        return -1;
    return 0;
}

static void w_free(struct qf_writer *w)
{
    if (w->fd >= 0)
        (void)close(w->fd);
    free(w->dir);
    free(w->tmp_path);
    free(w->obuf);
    buf_free(&w->error);
    free(w);
}

struct qf_writer *qf_create(const char *dir, mode_t mode, char *id, struct buf *why)
{
    struct buf path = BUF_INIT;
    int fd = -1;

    for (int tries = 0; tries < QF_CREATE_TRIES; tries++) {
        queue_id_new(id);
        buf_reset(&path);
        /* A leading dot and a suffix: never a valid queue ID, so queue
         * scanners skip files that are still being written. */
        buf_printf(&path, "%s/.%s.tmp", dir, id);
        fd = open(path.data, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        buf_setf(why, "create %s: %s", path.data, strerror(errno));
        buf_free(&path);
        return NULL;
    }

    struct qf_writer *w = xcalloc(1, sizeof(*w));
    w->fd = fd;
    w->dir = xstrdup(dir);
    w->tmp_path = buf_steal(&path);
    memcpy(w->id, id, sizeof(w->id));
    w->obuf = xmalloc(QF_WBUF_SIZE);
    buf_init(&w->error);
    /* Only buffered here; a failure shows at the first flush. */
    (void)w_record(w, QF_MAGIC, QF_MAGIC_TEXT, strlen(QF_MAGIC_TEXT));
    return w;
}

int qf_put(struct qf_writer *w, int type, const void *p, size_t n)
{
    char tn[8];

    if (w->error.len > 0) {
        errno = EIO;
        return -1;
    }
    /* The magic and end records belong to qf_create() and qf_commit(). */
    if (!qf_known_type(type) || type == QF_MAGIC || type == QF_END)
        return w_fail(w, "%s: record type %s may not be added", w->tmp_path,
                      type_name(type, tn, sizeof(tn)));
    if (n > QF_RECORD_MAX)
        return w_fail(w, "%s: record %s of %zu bytes exceeds the limit of %u", w->tmp_path,
                      type_name(type, tn, sizeof(tn)), n, QF_RECORD_MAX);
    if (n > 0 && p == NULL)
        return w_fail(w, "%s: record %s without data", w->tmp_path,
                      type_name(type, tn, sizeof(tn)));
    if (qf_is_text_type(type) && bad_text_byte(p, n) != NULL)
        return w_fail(w, "%s: record %s contains NUL, CR or LF", w->tmp_path,
                      type_name(type, tn, sizeof(tn)));
    if (w->after_orcpt && type != QF_NOTIFY && type != QF_RCPT && type != QF_DONE)
        return w_fail(w, "%s: original recipient not followed by a recipient", w->tmp_path);
    if (w->after_notify && type != QF_RCPT && type != QF_DONE)
        return w_fail(w, "%s: notify record not followed by a recipient", w->tmp_path);
    if (type == QF_NOTIFY && !notify_payload_ok(p, n))
        return w_fail(w, "%s: notify record is not a number from 1 to %d", w->tmp_path,
                      QF_NOTIFY_MAX);
    if (type == QF_WARN) {
        if (!warn_payload_ok(p, n))
            return w_fail(w, "%s: warning time is not %d digits", w->tmp_path, QF_WARN_LEN);
        if (w->seen_warn || w->seen_rcpt)
            return w_fail(w, "%s: warning time repeated or after a recipient", w->tmp_path);
        w->seen_warn = 1;
    }
    if (w_record(w, type, p, n) < 0)
        return -1;
    w->after_orcpt = (type == QF_ORCPT);
    w->after_notify = (type == QF_NOTIFY);
    if (type == QF_RCPT || type == QF_DONE)
        w->seen_rcpt = 1;
    return 0;
}

int qf_put_str(struct qf_writer *w, int type, const char *s)
{
    return qf_put(w, type, s, strlen(s));
}

int qf_put_content(struct qf_writer *w, const void *p, size_t n)
{
    const char *cp = p;
    while (n > 0) {
        size_t chunk = n < QF_CONTENT_CHUNK ? n : QF_CONTENT_CHUNK;
        if (qf_put(w, QF_CONTENT, cp, chunk) < 0)
            return -1;
        cp += chunk;
        n -= chunk;
    }
    return w->error.len > 0 ? -1 : 0;
}

/* Rename without replacing: even a queue ID that repeats (clock stepped
 * back onto a reused pid) never overwrites a message. link() + unlink() is
 * the fallback for file systems without RENAME_NOREPLACE. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(from, to) < 0)
        return -1;
    if (unlink(from) < 0) {
        int saved = errno;
        (void)unlink(to);
        errno = saved;
        return -1;
    }
    return 0;
}

int qf_commit(struct qf_writer *w, const char *dest_dir, struct buf *why)
{
    const char *dir = dest_dir ? dest_dir : w->dir;
    struct buf dest = BUF_INIT;
    int renamed = 0;

    buf_printf(&dest, "%s/%s", dir, w->id);
    if (w->error.len > 0)
        goto fail;
    if (w->after_orcpt || w->after_notify) {
        w_fail(w, "%s: %s not followed by a recipient", w->tmp_path,
               w->after_orcpt ? "original recipient" : "notify record");
        goto fail;
    }
    if (w_record(w, QF_END, NULL, 0) < 0 || w_flush(w) < 0)
        goto fail;
    if (fsync(w->fd) < 0) {
        w_fail(w, "fsync %s: %s", w->tmp_path, strerror(errno));
        goto fail;
    }
    /* close() can report a delayed write error (NFS). */
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) < 0) {
        w_fail(w, "close %s: %s", w->tmp_path, strerror(errno));
        goto fail;
    }
    if (rename_noreplace(w->tmp_path, dest.data) < 0) {
        w_fail(w, "rename %s to %s: %s", w->tmp_path, dest.data, strerror(errno));
        goto fail;
    }
    renamed = 1;
    if (fsync_dir(dest.data) < 0) {
        w_fail(w, "fsync directory of %s: %s", dest.data, strerror(errno));
        goto fail;
    }
    /* The old name must be gone for good too, or a crash could bring it back
     * next to the new one. */
    if (dest_dir != NULL && strcmp(dest_dir, w->dir) != 0 && fsync_dir(w->tmp_path) < 0) {
        w_fail(w, "fsync directory of %s: %s", w->tmp_path, strerror(errno));
        goto fail;
    }
    buf_free(&dest);
    w_free(w);
    return 0;

fail:
    buf_setf(why, "%s", w->error.data);
    /* Not durable, so not accepted: the client is told to try again, and a
     * file left behind would be a second copy. */
    (void)unlink(renamed ? dest.data : w->tmp_path);
    buf_free(&dest);
    w_free(w);
    errno = EIO;
    return -1;
}

void qf_abort(struct qf_writer *w)
{
    if (w == NULL)
        return;
    (void)unlink(w->tmp_path);
    w_free(w);
}

const char *qf_writer_path(const struct qf_writer *w)
{
    return w->tmp_path;
}

/* ---- reader ------------------------------------------------------------- */

enum qf_state { QF_READING, QF_AT_END, QF_DAMAGED };

struct qf_reader {
    int fd;
    char *path;
    unsigned char *rbuf;
    size_t rpos, rlen;
    off_t rbuf_off; /* file offset of rbuf[0] */
    off_t first;    /* offset of the first record after the magic */
    enum qf_state state;
    int after_orcpt;   /* the last record was QF_ORCPT */
    int after_notify;  /* the last record was QF_NOTIFY */
    int seen_rcpt;     /* a QF_RCPT or QF_DONE was read */
    int seen_warn;     /* a QF_WARN was read */
    struct buf damage; /* why, once state is QF_DAMAGED */
};

static int r_damaged(struct qf_reader *r, struct buf *why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int r_damaged(struct qf_reader *r, struct buf *why, const char *fmt, ...)
{
    va_list ap;
    buf_reset(&r->damage);
    buf_printf(&r->damage, "%s: damaged queue file: ", r->path);
    va_start(ap, fmt);
    buf_vprintf(&r->damage, fmt, ap);
    va_end(ap);
    r->state = QF_DAMAGED;
    buf_setf(why, "%s", r->damage.data);
    errno = EBADMSG;
    return -1;
}

/* Copy up to n bytes at the read position to dst (or append them to b);
 * the number copied (< n only at end of file), or -1 with errno. */
static ssize_t r_get(struct qf_reader *r, unsigned char *dst, struct buf *b, size_t n)
{
    size_t done = 0;
    while (done < n) {
        if (r->rpos == r->rlen) {
            r->rbuf_off += (off_t)r->rlen;
            r->rpos = r->rlen = 0;
            ssize_t got;
            do
                got = read(r->fd, r->rbuf, QF_RBUF_SIZE);
            while (got < 0 && errno == EINTR);
            if (got < 0)
                return -1;
            if (got == 0)
                break;
            r->rlen = (size_t)got;
        }
        size_t take = r->rlen - r->rpos;
        if (take > n - done)
            take = n - done;
        if (dst != NULL)
            memcpy(dst + done, r->rbuf + r->rpos, take);
        else
            buf_append(b, r->rbuf + r->rpos, take);
        r->rpos += take;
        done += take;
    }
    return (ssize_t)done;
}

static off_t r_tell(const struct qf_reader *r)
{
    return r->rbuf_off + (off_t)r->rpos;
}

static void r_free(struct qf_reader *r)
{
    if (r->fd >= 0)
        (void)close(r->fd);
    free(r->path);
    free(r->rbuf);
    buf_free(&r->damage);
    free(r);
}

struct qf_reader *qf_open(const char *path, int for_update, struct buf *why)
{
    /* O_NONBLOCK so that a FIFO planted in a queue directory cannot hang
     * the reader in open(); it is refused below as not a regular file. */
    int fd = open(path, (for_update ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
                            O_NOCTTY);
    if (fd < 0) {
        buf_setf(why, "open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || set_nonblock(fd, 0) < 0) {
        buf_setf(why, "open %s: %s", path, strerror(errno));
        (void)close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        buf_setf(why, "open %s: not a regular file", path);
        (void)close(fd);
        errno = EBADMSG;
        return NULL;
    }

    struct qf_reader *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    r->path = xstrdup(path);
    r->rbuf = xmalloc(QF_RBUF_SIZE);
    buf_init(&r->damage);

    unsigned char rec[QF_HDR_LEN + sizeof(QF_MAGIC_TEXT) - 1];
    ssize_t got = r_get(r, rec, NULL, sizeof(rec));
    if (got < 0) {
        buf_setf(why, "read %s: %s", path, strerror(errno));
        r_free(r);
        return NULL;
    }
    if ((size_t)got < sizeof(rec) || rec[0] != QF_MAGIC ||
        get_be32(rec + 1) != sizeof(QF_MAGIC_TEXT) - 1 ||
        memcmp(rec + QF_HDR_LEN, QF_MAGIC_TEXT, sizeof(QF_MAGIC_TEXT) - 1) != 0) {
        buf_setf(why, "%s: not a queue file: no " QF_MAGIC_TEXT " magic record", path);
        r_free(r);
        errno = EBADMSG;
        return NULL;
    }
    r->first = r_tell(r);
    return r;
}

int qf_read(struct qf_reader *r, int *type, struct buf *data, off_t *offset, struct buf *why)
{
    unsigned char hdr[QF_HDR_LEN];
    char tn[8];

    buf_reset(data);
    buf_reserve(data, 0); /* an empty payload still reads as "" */
    if (r->state == QF_DAMAGED) {
        buf_setf(why, "%s", r->damage.data);
        errno = EBADMSG;
        return -1;
    }
    if (r->state == QF_AT_END)
        return 0;

    off_t off = r_tell(r);
    ssize_t got = r_get(r, hdr, NULL, sizeof(hdr));
    if (got < 0)
        goto ioerr;
    if (got == 0)
        return r_damaged(r, why, "premature end of file at offset %lld: no end record",
                         (long long)off);
    if ((size_t)got < sizeof(hdr))
        return r_damaged(r, why, "premature end of file in the record header at offset %lld",
                         (long long)off);

    int t = hdr[0];
    uint32_t len = get_be32(hdr + 1);
    if (!qf_known_type(t))
        return r_damaged(r, why, "unknown record type %s at offset %lld",
                         type_name(t, tn, sizeof(tn)), (long long)off);
    if (t == QF_MAGIC)
        return r_damaged(r, why, "magic record at offset %lld is not the first record",
                         (long long)off);
    if (len > QF_RECORD_MAX)
        return r_damaged(r, why, "record %s at offset %lld has length %lu, over the limit of %u",
                         type_name(t, tn, sizeof(tn)), (long long)off, (unsigned long)len,
                         QF_RECORD_MAX);
    if (r->after_orcpt && t != QF_NOTIFY && t != QF_RCPT && t != QF_DONE)
        return r_damaged(r, why, "original recipient is followed by record %s at offset %lld",
                         type_name(t, tn, sizeof(tn)), (long long)off);
    if (r->after_notify && t != QF_RCPT && t != QF_DONE)
        return r_damaged(r, why, "notify record is followed by record %s at offset %lld",
                         type_name(t, tn, sizeof(tn)), (long long)off);
    if (t == QF_WARN && (r->seen_warn || r->seen_rcpt))
        return r_damaged(r, why, "warning time record at offset %lld is %s", (long long)off,
                         r->seen_warn ? "repeated" : "after a recipient");

    if (t == QF_END) {
        if (len != 0)
            return r_damaged(r, why, "end record at offset %lld has length %lu", (long long)off,
                             (unsigned long)len);
        unsigned char extra;
        got = r_get(r, &extra, NULL, 1);
        if (got < 0)
            goto ioerr;
        if (got > 0)
            return r_damaged(r, why, "data after the end record at offset %lld", (long long)off);
        r->state = QF_AT_END;
        *type = t;
        *offset = off;
        return 0;
    }

    /* Appended as it arrives: memory grows with the bytes really present,
     * not with what the length field claims. */
    got = r_get(r, NULL, data, len);
    if (got < 0)
        goto ioerr;
    if ((size_t)got < len)
        return r_damaged(r, why, "premature end of file in record %s at offset %lld",
                         type_name(t, tn, sizeof(tn)), (long long)off);
    if (qf_is_text_type(t)) {
        const unsigned char *bad = bad_text_byte(data->data, data->len);
        if (bad != NULL)
            return r_damaged(r, why, "record %s at offset %lld contains %s",
                             type_name(t, tn, sizeof(tn)), (long long)off,
                             *bad == 0      ? "NUL"
                             : *bad == '\r' ? "CR"
                                            : "LF");
    }
    if (t == QF_NOTIFY && !notify_payload_ok(data->data, data->len))
        return r_damaged(r, why, "notify record at offset %lld is not a number from 1 to %d",
                         (long long)off, QF_NOTIFY_MAX);
    if (t == QF_WARN && !warn_payload_ok(data->data, data->len))
        return r_damaged(r, why, "warning time record at offset %lld is not %d digits",
                         (long long)off, QF_WARN_LEN);
    r->after_orcpt = (t == QF_ORCPT);
    r->after_notify = (t == QF_NOTIFY);
    if (t == QF_WARN)
        r->seen_warn = 1;
    if (t == QF_RCPT || t == QF_DONE)
        r->seen_rcpt = 1;
    *type = t;
    *offset = off;
    return 1;

ioerr:;
    int saved = errno;
    buf_setf(why, "read %s: %s", r->path, strerror(saved));
    errno = saved;
    return -1;
}

int qf_rewind(struct qf_reader *r)
{
    if (lseek(r->fd, r->first, SEEK_SET) < 0)
        return -1;
    r->rbuf_off = r->first;
    r->rpos = r->rlen = 0;
    r->state = QF_READING;
    r->after_orcpt = r->after_notify = r->seen_rcpt = r->seen_warn = 0;
    buf_reset(&r->damage);
    return 0;
}

static int pread_full(int fd, void *p, size_t n, off_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(fd, (char *)p + done, n - done, off + (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (int)done;
}

int qf_mark_done(struct qf_reader *r, off_t offset, struct buf *why)
{
    unsigned char hdr[QF_HDR_LEN];
    char tn[8];
    struct stat st;

    if (offset < r->first) {
        buf_setf(why, "%s: offset %lld is not a recipient record", r->path, (long long)offset);
        errno = EINVAL;
        return -1;
    }
    int got = pread_full(r->fd, hdr, sizeof(hdr), offset);
    if (got < 0 || fstat(r->fd, &st) < 0) {
        buf_setf(why, "read %s: %s", r->path, strerror(errno));
        return -1;
    }
    /* The type byte alone could be a byte inside some payload: also require
     * a sane length, a record that ends inside the file, and a text payload,
     * before anything is written. */
    uint32_t len = get_be32(hdr + 1);
    if (got < (int)sizeof(hdr) || hdr[0] != QF_RCPT || len > QF_RECORD_MAX ||
        offset + (off_t)sizeof(hdr) + (off_t)len > st.st_size) {
        if (got >= 1 && hdr[0] == QF_DONE)
            buf_setf(why, "%s: recipient at offset %lld is already marked done", r->path,
                     (long long)offset);
        else
            buf_setf(why, "%s: record at offset %lld is not a recipient (type %s)", r->path,
                     (long long)offset, got >= 1 ? type_name(hdr[0], tn, sizeof(tn)) : "none");
        errno = EINVAL;
        return -1;
    }
    if (len > 0) {
        unsigned char *payload = xmalloc(len);
        got = pread_full(r->fd, payload, len, offset + (off_t)sizeof(hdr));
        int bad = got != (int)len || bad_text_byte(payload, len) != NULL;
        int saved = errno;
        free(payload);
        if (got < 0) {
            buf_setf(why, "read %s: %s", r->path, strerror(saved));
            errno = saved;
            return -1;
        }
        if (bad) {
            buf_setf(why, "%s: record at offset %lld is not a recipient (bad payload)", r->path,
                     (long long)offset);
            errno = EINVAL;
            return -1;
        }
    }

    unsigned char done = QF_DONE;
    ssize_t put;
    do
        put = pwrite(r->fd, &done, 1, offset);
    while (put < 0 && errno == EINTR);
    if (put != 1) {
        buf_setf(why, "write %s: %s", r->path, put < 0 ? strerror(errno) : "short write");
        return -1;
    }
    /* Not fsynced: a lost mark means the recipient is tried again (at
     * least once, never lost); the delivery itself was made durable by the
     * agent before it marked it. Postfix does the same. */
    /* Keep a buffered copy of that byte in step with the file. */
    if (offset >= r->rbuf_off && offset < r->rbuf_off + (off_t)r->rlen)
        r->rbuf[offset - r->rbuf_off] = QF_DONE;
    return 0;
}

int qf_update_warn(struct qf_reader *r, off_t offset, long long when, struct buf *why)
{
    unsigned char rec[QF_HDR_LEN + QF_WARN_LEN];
    char text[QF_WARN_LEN + 1];

    if (offset < r->first) {
        buf_setf(why, "%s: offset %lld is not a warning time record", r->path, (long long)offset);
        errno = EINVAL;
        return -1;
    }
    int got = pread_full(r->fd, rec, sizeof(rec), offset);
    if (got < 0) {
        buf_setf(why, "read %s: %s", r->path, strerror(errno));
        return -1;
    }
    /* The whole record must look right, not just a type byte that could be
     * part of some payload. */
    if (got < (int)sizeof(rec) || rec[0] != QF_WARN || get_be32(rec + 1) != QF_WARN_LEN ||
        !warn_payload_ok(rec + QF_HDR_LEN, QF_WARN_LEN)) {
        buf_setf(why, "%s: record at offset %lld is not a warning time record", r->path,
                 (long long)offset);
        errno = EINVAL;
        return -1;
    }
    qf_warn_format(when, text);
    ssize_t put;
    do
        put = pwrite(r->fd, text, QF_WARN_LEN, offset + QF_HDR_LEN);
    while (put < 0 && errno == EINTR);
    if (put != QF_WARN_LEN) {
        buf_setf(why, "write %s: %s", r->path, put < 0 ? strerror(errno) : "short write");
        if (put >= 0)
            errno = EIO;
        return -1;
    }
    /* fsynced, unlike a done mark: a lost update would send the warning
     * a second time. */
    if (fsync(r->fd) < 0) {
        buf_setf(why, "fsync %s: %s", r->path, strerror(errno));
        return -1;
    }
    off_t start = offset + QF_HDR_LEN;
    for (int i = 0; i < QF_WARN_LEN; i++)
        if (start + i >= r->rbuf_off && start + i < r->rbuf_off + (off_t)r->rlen)
            r->rbuf[start + i - r->rbuf_off] = (unsigned char)text[i];
    return 0;
}

int qf_fd(const struct qf_reader *r)
{
    return r->fd;
}

void qf_close(struct qf_reader *r)
{
    if (r != NULL)
        r_free(r);
}

int qf_validate(const char *path, struct buf *why)
{
    struct qf_reader *r = qf_open(path, 0, why);
    if (r == NULL)
        return -1;
    struct buf data = BUF_INIT;
    int type, ret;
    off_t off;
    while ((ret = qf_read(r, &type, &data, &off, why)) > 0)
        ;
    buf_free(&data);
    qf_close(r);
    return ret;
}
