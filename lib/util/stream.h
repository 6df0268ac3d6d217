/* stream - buffered, bounded, timed I/O on a file descriptor.
 *
 * Every protocol reader (attribute IPC, SMTP, POP3, IMAP) reads through a
 * stream: lines are bounded by the caller's limit, every wait is bounded by
 * the stream timeout, and errors are sticky so a caller can check once.
 * The raw read/write functions are replaceable so TLS can sit underneath
 * (stream_set_io); stream_purge_input drops buffered plaintext at STARTTLS.
 */
#ifndef UTIL_STREAM_H
#define UTIL_STREAM_H

#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

#define STREAM_BUFSIZE 8192

/* Raw I/O hooks: like read(2)/write(2), but waiting up to timeout seconds.
 * Return >0 bytes, 0 for EOF (read), or -1 with errno (ETIMEDOUT on timeout). */
typedef ssize_t (*stream_read_fn)(int fd, void *buf, size_t len, int timeout, void *ctx);
typedef ssize_t (*stream_write_fn)(int fd, const void *buf, size_t len, int timeout, void *ctx);

struct stream {
    int fd;
    int timeout; /* seconds; < 0 waits forever */
    int flags;   /* STREAM_F_* */
    int err;     /* errno of the first error */
    stream_read_fn read_fn;
    stream_write_fn write_fn;
    void *io_ctx;
    char rbuf[STREAM_BUFSIZE];
    size_t rpos, rlen; /* unread input is rbuf[rpos..rlen) */
    struct buf wbuf;   /* output not yet written */
};

#define STREAM_F_EOF     (1 << 0)
#define STREAM_F_ERR     (1 << 1)
#define STREAM_F_TIMEOUT (1 << 2)

/* Results of stream_get_line. */
enum stream_line {
    STREAM_LINE_OK = 0,   /* a whole line, terminator removed */
    STREAM_LINE_LONG = 1, /* more than max bytes before the terminator: the
                           * first max bytes are in the buffer; the caller
                           * decides (reject; or stream_skip_line) */
    STREAM_LINE_EOF = -1, /* EOF before any byte (partial line at EOF: see below) */
    STREAM_LINE_ERR = -2, /* I/O error or timeout (see flags, err) */
};

/* stream_open - wrap fd (the stream owns it from now on). */
struct stream *stream_open(int fd, int timeout);
/* stream_close - flush, close the fd, free. Returns the flush result. */
int stream_close(struct stream *s);
/* stream_release - free the stream but leave the fd open; returns the fd. */
int stream_release(struct stream *s);
void stream_set_timeout(struct stream *s, int timeout);
void stream_set_io(struct stream *s, stream_read_fn r, stream_write_fn w, void *ctx);
/* stream_purge_input - forget any buffered input (STARTTLS: RFC 3207 4.2). */
void stream_purge_input(struct stream *s);
/* stream_pending - bytes of input already buffered. */
size_t stream_pending(const struct stream *s);

/* stream_get_line - read up to and including '\n' into line (reset first),
 * storing at most max bytes. The '\n' is removed; a '\r' before it is kept
 * (protocol code decides what bare LF and CRLF mean). A last line without
 * '\n' at EOF is returned as STREAM_LINE_OK with STREAM_F_EOF set. */
enum stream_line stream_get_line(struct stream *s, struct buf *line, size_t max);
/* stream_skip_line - discard input through the next '\n'; 0 or -1. */
int stream_skip_line(struct stream *s);
/* stream_read - exactly n bytes into p; 0, or -1 on EOF/error/timeout. */
int stream_read(struct stream *s, void *p, size_t n) __attribute__((warn_unused_result));
/* stream_getc - one byte, or -1 on EOF/error. */
int stream_getc(struct stream *s);

/* Output is buffered until stream_flush (or the buffer passes STREAM_BUFSIZE). */
void stream_write(struct stream *s, const void *p, size_t n);
void stream_puts(struct stream *s, const char *str);
void stream_printf(struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* stream_flush - write out the buffer; 0, or -1 (the stream is then in error). */
int stream_flush(struct stream *s) __attribute__((warn_unused_result));
/* stream_error - nonzero once any read or write failed or timed out. */
int stream_error(const struct stream *s);

#endif
