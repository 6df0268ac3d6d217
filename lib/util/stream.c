/* stream - buffered, bounded, timed I/O on a file descriptor.
 *
 * Input is read in STREAM_BUFSIZE chunks and lines are cut with memchr, so a
 * line costs one copy however it arrives. Output collects in wbuf and goes
 * out on stream_flush or once it grows past STREAM_BUFSIZE. The first error
 * sticks: later calls fail at once, so a protocol loop can check at the end.
 */
#include "util/stream.h"
#include "util/alloc.h"
#include "util/iostuff.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ssize_t default_read(int fd, void *p, size_t len, int timeout, void *ctx)
{
    (void)ctx;
    return timed_read(fd, p, len, timeout);
}

static ssize_t default_write(int fd, const void *p, size_t len, int timeout, void *ctx)
{
    (void)ctx;
    return timed_write(fd, p, len, timeout);
}

static void set_error(struct stream *s, int err)
{
    if (err == 0)
        err = EIO;
    if (err == ETIMEDOUT)
        s->flags |= STREAM_F_TIMEOUT;
    s->flags |= STREAM_F_ERR;
    if (s->err == 0)
        s->err = err;
}

/* A failed stream reports its first error again to whoever looks at errno. */
static int failed(struct stream *s)
{
    if (s->flags & (STREAM_F_ERR | STREAM_F_TIMEOUT)) {
        errno = s->err ? s->err : EIO;
        return 1;
    }
    return 0;
}

struct stream *stream_open(int fd, int timeout)
{
    struct stream *s = xcalloc(1, sizeof(*s));
    s->fd = fd;
    s->timeout = timeout;
    s->read_fn = default_read;
    s->write_fn = default_write;
    buf_init(&s->wbuf);
    return s;
}

static int do_flush(struct stream *s)
{
    if (failed(s)) {
        buf_reset(&s->wbuf); /* it will never be sent; don't let it grow */
        return -1;
    }
    size_t off = 0;
    while (off < s->wbuf.len) {
        ssize_t w =
            s->write_fn(s->fd, s->wbuf.data + off, s->wbuf.len - off, s->timeout, s->io_ctx);
        if (w <= 0 || (size_t)w > s->wbuf.len - off) {
            set_error(s, w < 0 ? errno : EIO);
            buf_reset(&s->wbuf);
            errno = s->err;
            return -1;
        }
        off += (size_t)w;
    }
    buf_reset(&s->wbuf);
    return 0;
}

int stream_close(struct stream *s)
{
    int r = do_flush(s);
    int saved = errno;
    if (s->fd >= 0)
        close(s->fd);
    buf_free(&s->wbuf);
    free(s);
    errno = saved;
    return r;
}

int stream_release(struct stream *s)
{
    /* Output the caller already wrote is still owed to the peer. */
    (void)do_flush(s);
    int fd = s->fd;
    buf_free(&s->wbuf);
    free(s);
    return fd;
}

void stream_set_timeout(struct stream *s, int timeout)
{
    s->timeout = timeout;
}

void stream_set_io(struct stream *s, stream_read_fn r, stream_write_fn w, void *ctx)
{
    s->read_fn = r ? r : default_read;
    s->write_fn = w ? w : default_write;
    s->io_ctx = ctx;
}

void stream_purge_input(struct stream *s)
{
    s->rpos = s->rlen = 0;
}

size_t stream_pending(const struct stream *s)
{
    return s->rlen - s->rpos;
}

/* Read more input. >0 bytes added, 0 EOF, -1 error (sticky). Only called
 * when the buffer is empty, so every read can use the whole buffer. */
static ssize_t fill(struct stream *s)
{
    if (failed(s))
        return -1;
    if (s->flags & STREAM_F_EOF)
        return 0;
    s->rpos = s->rlen = 0;
    ssize_t r = s->read_fn(s->fd, s->rbuf, sizeof(s->rbuf), s->timeout, s->io_ctx);
    if (r < 0) {
        set_error(s, errno);
        errno = s->err;
        return -1;
    }
    if (r == 0) {
        s->flags |= STREAM_F_EOF;
        return 0;
    }
    if ((size_t)r > sizeof(s->rbuf)) { /* a broken hook must not make us overrun */
        set_error(s, EIO);
        errno = EIO;
        return -1;
    }
    s->rlen = (size_t)r;
    return r;
}

enum stream_line stream_get_line(struct stream *s, struct buf *line, size_t max)
{
    int got_any = 0;

    buf_reset(line);
    for (;;) {
        if (s->rpos == s->rlen) {
            ssize_t r = fill(s);
            if (r < 0)
                return STREAM_LINE_ERR;
            if (r == 0)
                return got_any ? STREAM_LINE_OK : STREAM_LINE_EOF;
        }
        const char *p = s->rbuf + s->rpos;
        size_t avail = s->rlen - s->rpos;
        const char *nl = memchr(p, '\n', avail);
        size_t chunk = nl ? (size_t)(nl - p) : avail;
        size_t room = max - line->len;
        if (chunk > room) {
            /* Leave the rest (and the '\n') for stream_skip_line. */
            buf_append(line, p, room);
            s->rpos += room;
            return STREAM_LINE_LONG;
        }
        buf_append(line, p, chunk);
        s->rpos += chunk;
        got_any = 1;
        if (nl) {
            s->rpos++;
            return STREAM_LINE_OK;
        }
    }
}

int stream_skip_line(struct stream *s)
{
    for (;;) {
        if (s->rpos == s->rlen && fill(s) <= 0)
            return -1;
        const char *p = s->rbuf + s->rpos;
        const char *nl = memchr(p, '\n', s->rlen - s->rpos);
        if (nl) {
            s->rpos += (size_t)(nl - p) + 1;
            return 0;
        }
        s->rpos = s->rlen;
    }
}

int stream_read(struct stream *s, void *p, size_t n)
{
    char *cp = p;
    while (n > 0) {
        if (s->rpos == s->rlen) {
            ssize_t r = fill(s);
            if (r < 0)
                return -1;
            if (r == 0) {
                errno = EPIPE; /* short read: the peer went away mid-record */
                return -1;
            }
        }
        size_t take = s->rlen - s->rpos;
        if (take > n)
            take = n;
        memcpy(cp, s->rbuf + s->rpos, take);
        s->rpos += take;
        cp += take;
        n -= take;
    }
    return 0;
}

int stream_getc(struct stream *s)
{
    if (s->rpos == s->rlen && fill(s) <= 0)
        return -1;
    return (unsigned char)s->rbuf[s->rpos++];
}

static void maybe_flush(struct stream *s)
{
    if (s->wbuf.len > STREAM_BUFSIZE)
        (void)do_flush(s); /* an error sticks; the caller sees it at flush */
}

void stream_write(struct stream *s, const void *p, size_t n)
{
    if (s->flags & STREAM_F_ERR)
        return;
    buf_append(&s->wbuf, p, n);
    maybe_flush(s);
}

void stream_puts(struct stream *s, const char *str)
{
    stream_write(s, str, strlen(str));
}

void stream_printf(struct stream *s, const char *fmt, ...)
{
    if (s->flags & STREAM_F_ERR)
        return;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&s->wbuf, fmt, ap);
    va_end(ap);
    maybe_flush(s);
}

int stream_flush(struct stream *s)
{
    return do_flush(s);
}

int stream_error(const struct stream *s)
{
    return (s->flags & (STREAM_F_ERR | STREAM_F_TIMEOUT)) != 0;
}
