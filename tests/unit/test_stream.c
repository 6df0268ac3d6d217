/* test_stream - line reading, bounds, EOF, timeouts, purge and output
 * buffering of util/stream, over real socketpairs and custom I/O hooks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/iostuff.h"
#include "util/stream.h"

/* A stream on one end of a socketpair; *peer is the other end. */
static struct stream *pair_stream(int *peer, int timeout)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    *peer = sv[1];
    return stream_open(sv[0], timeout);
}

static void send_all(int fd, const char *s)
{
    assert_int_equal(write_full(fd, s, strlen(s), 5), 0);
}

static void test_crlf_line_keeps_cr_and_lf_line_has_none(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    struct buf line = BUF_INIT;

    send_all(peer, "HELO a\r\nMAIL b\n\n");
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_int_equal(line.len, 7);
    assert_memory_equal(line.data, "HELO a\r", 7);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "MAIL b");
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_int_equal(line.len, 0);
    assert_int_equal(stream_pending(s), 0);
    close(peer);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_EOF);
    assert_true(s->flags & STREAM_F_EOF);
    assert_int_equal(stream_error(s), 0);
    buf_free(&line);
    assert_int_equal(stream_close(s), 0);
}

static void test_line_keeps_embedded_nul(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    struct buf line = BUF_INIT;

    assert_int_equal(write_full(peer, "a\0b\n", 4, 5), 0);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_int_equal(line.len, 3);
    assert_memory_equal(line.data, "a\0b", 3);
    assert_true(buf_has_nul(&line));
    buf_free(&line);
    close(peer);
    assert_int_equal(stream_close(s), 0);
}

static void test_line_of_exactly_max_bytes_is_ok(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    struct buf line = BUF_INIT;

    send_all(peer, "12345\n123456\n");
    assert_int_equal(stream_get_line(s, &line, 5), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "12345");
    assert_int_equal(stream_get_line(s, &line, 5), STREAM_LINE_LONG);
    assert_string_equal(buf_cstr(&line), "12345");
    buf_free(&line);
    close(peer);
    assert_int_equal(stream_close(s), 0);
}

static void test_long_line_is_reported_then_skipped(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    struct buf line = BUF_INIT;
    char big[20000];

    /* Longer than the stream buffer, so the line spans several reads. */
    memset(big, 'x', sizeof(big));
    assert_int_equal(write_full(peer, big, sizeof(big), 5), 0);
    send_all(peer, "\r\nNEXT\r\n");
    assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_LONG);
    assert_int_equal(line.len, 1000);
    assert_int_equal(line.data[999], 'x');
    assert_int_equal(stream_skip_line(s), 0);
    assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "NEXT\r");
    buf_free(&line);
    close(peer);
    assert_int_equal(stream_close(s), 0);
}

static void test_line_spanning_reads_is_joined(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    struct buf line = BUF_INIT;
    char big[STREAM_BUFSIZE + 500];

    memset(big, 'y', sizeof(big));
    big[sizeof(big) - 1] = '\n';
    assert_int_equal(write_full(peer, big, sizeof(big), 5), 0);
    assert_int_equal(stream_get_line(s, &line, sizeof(big)), STREAM_LINE_OK);
    assert_int_equal(line.len, sizeof(big) - 1);
    assert_int_equal(strspn(line.data, "y"), sizeof(big) - 1);
    buf_free(&line);
    close(peer);
    assert_int_equal(stream_close(s), 0);
}

static void test_partial_last_line_at_eof_is_ok_with_eof_flag(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    struct buf line = BUF_INIT;

    send_all(peer, "one\ntwo");
    close(peer);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "one");
    assert_false(s->flags & STREAM_F_EOF);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "two");
    assert_true(s->flags & STREAM_F_EOF);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_EOF);
    assert_int_equal(line.len, 0);
    assert_int_equal(stream_skip_line(s), -1);
    assert_int_equal(stream_getc(s), -1);
    buf_free(&line);
    assert_int_equal(stream_close(s), 0);
}

static void test_silent_peer_times_out_and_error_sticks(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 1);
    struct buf line = BUF_INIT;
    struct timespec a, b;

    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_ERR);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_in_range(ms, 900, 3000);
    assert_true(s->flags & STREAM_F_TIMEOUT);
    assert_true(s->flags & STREAM_F_ERR);
    assert_int_equal(s->err, ETIMEDOUT);
    assert_true(stream_error(s));

    /* Sticky: data arriving later does not revive the stream. */
    send_all(peer, "late\n");
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_ERR);
    assert_int_equal(stream_getc(s), -1);
    stream_puts(s, "reply\r\n");
    assert_int_equal(stream_flush(s), -1);
    assert_int_equal(errno, ETIMEDOUT);
    buf_free(&line);
    close(peer);
    assert_int_equal(stream_close(s), -1);
}

static void test_purge_input_drops_pipelined_bytes(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    struct buf line = BUF_INIT;

    /* The STARTTLS injection pattern: a command pipelined after STARTTLS. */
    send_all(peer, "STARTTLS\r\nMAIL FROM:<evil>\r\n");
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "STARTTLS\r");
    assert_int_equal(stream_pending(s), strlen("MAIL FROM:<evil>\r\n"));
    stream_purge_input(s);
    assert_int_equal(stream_pending(s), 0);
    send_all(peer, "EHLO x\r\n");
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "EHLO x\r");
    buf_free(&line);
    close(peer);
    assert_int_equal(stream_close(s), 0);
}

static void test_stream_read_and_getc_take_exact_bytes(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    char got[6];

    send_all(peer, "abcdefgh");
    assert_int_equal(stream_getc(s), 'a');
    assert_int_equal(stream_read(s, got, 5), 0);
    assert_memory_equal(got, "bcdef", 5);
    assert_int_equal(stream_pending(s), 2);
    close(peer);
    /* Only 2 bytes remain: asking for 5 is a short read. */
    assert_int_equal(stream_read(s, got, 5), -1);
    assert_true(s->flags & STREAM_F_EOF);
    assert_int_equal(stream_error(s), 0);
    assert_int_equal(stream_close(s), 0);
}

static void test_output_is_buffered_until_flush(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    char got[64];

    stream_puts(s, "250 ");
    stream_printf(s, "%s %d\r\n", "ok", 42);
    stream_write(s, "x", 1);
    assert_int_equal(s->wbuf.len, strlen("250 ok 42\r\nx"));
    assert_int_equal(read_wait(peer, 0), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_int_equal(stream_flush(s), 0);
    assert_int_equal(s->wbuf.len, 0);
    assert_int_equal(read_full(peer, got, 12, 5, NULL), 0);
    assert_memory_equal(got, "250 ok 42\r\nx", 12);
    close(peer);
    assert_int_equal(stream_close(s), 0);
}

static void test_output_past_bufsize_is_written_without_flush(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    char chunk[1000];
    static char got[STREAM_BUFSIZE + 1000];

    memset(chunk, 'z', sizeof(chunk));
    for (int i = 0; i < 9; i++)
        stream_write(s, chunk, sizeof(chunk));
    /* 9000 bytes passed STREAM_BUFSIZE, so they went out on their own. */
    assert_int_equal(s->wbuf.len, 0);
    assert_int_equal(read_full(peer, got, 9000, 5, NULL), 0);
    assert_int_equal(got[8999], 'z');
    close(peer);
    assert_int_equal(stream_close(s), 0);
}

static void test_close_flushes_pending_output(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    char got[16];
    int eof;

    stream_puts(s, "221 bye\r\n");
    assert_int_equal(stream_close(s), 0);
    assert_int_equal(read_full(peer, got, 9, 5, NULL), 0);
    assert_memory_equal(got, "221 bye\r\n", 9);
    assert_int_equal(read_full(peer, got, 1, 5, &eof), -1);
    assert_int_equal(eof, 1);
    close(peer);
}

static void test_write_to_closed_peer_is_an_error(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);

    close(peer);
    stream_puts(s, "hello\r\n");
    assert_int_equal(stream_flush(s), -1);
    assert_int_equal(s->err, EPIPE);
    assert_true(stream_error(s));
    assert_false(s->flags & STREAM_F_TIMEOUT);
    assert_int_equal(stream_close(s), -1);
}

/* Custom hooks: input from a script in small pieces, output rot13'd, as a
 * TLS layer would transform it. */
struct fake_io {
    const char *input;
    size_t pos, piece;
    struct buf out;
    int reads;
};

static ssize_t fake_read(int fd, void *p, size_t len, int timeout, void *ctx)
{
    struct fake_io *io = ctx;
    size_t left = strlen(io->input) - io->pos;
    size_t n = left < io->piece ? left : io->piece;
    if (n > len)
        n = len;
    memcpy(p, io->input + io->pos, n);
    io->pos += n;
    io->reads++;
    return (ssize_t)n;
}

static ssize_t fake_write(int fd, const void *p, size_t len, int timeout, void *ctx)
{
    struct fake_io *io = ctx;
    const char *cp = p;
    size_t n = len > 3 ? 3 : len; /* short writes must be continued */
    for (size_t i = 0; i < n; i++) {
        char c = cp[i];
        if (c >= 'a' && c <= 'z')
            c = (char)('a' + (c - 'a' + 13) % 26);
        buf_putc(&io->out, c);
    }
    return (ssize_t)n;
}

static void test_custom_io_hooks_carry_all_traffic(void **state)
{
    struct fake_io io = {"first line\nsecond\r\n", 0, 4, BUF_INIT, 0};
    struct stream *s = stream_open(-1, 5);
    struct buf line = BUF_INIT;

    stream_set_io(s, fake_read, fake_write, &io);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "first line");
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_OK);
    assert_string_equal(buf_cstr(&line), "second\r");
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_EOF);
    assert_int_equal(io.reads, 6); /* 19 bytes in 4-byte pieces, then EOF */

    stream_puts(s, "hello");
    assert_int_equal(io.out.len, 0);
    assert_int_equal(stream_flush(s), 0);
    assert_string_equal(buf_cstr(&io.out), "uryyb");
    buf_free(&line);
    buf_free(&io.out);
    assert_int_equal(stream_release(s), -1);
}

static ssize_t failing_read(int fd, void *p, size_t len, int timeout, void *ctx)
{
    errno = ECONNRESET;
    return -1;
}

static void test_hook_error_is_recorded(void **state)
{
    struct stream *s = stream_open(-1, 5);
    struct buf line = BUF_INIT;

    stream_set_io(s, failing_read, NULL, NULL);
    assert_int_equal(stream_get_line(s, &line, 100), STREAM_LINE_ERR);
    assert_int_equal(s->err, ECONNRESET);
    assert_false(s->flags & STREAM_F_TIMEOUT);
    buf_free(&line);
    assert_int_equal(stream_release(s), -1);
}

static void test_release_leaves_fd_open(void **state)
{
    int peer;
    struct stream *s = pair_stream(&peer, 5);
    char c;

    int fd = stream_release(s);
    assert_int_equal(write_full(fd, "!", 1, 5), 0);
    assert_int_equal(read_full(peer, &c, 1, 5, NULL), 0);
    assert_int_equal(c, '!');
    close(fd);
    close(peer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crlf_line_keeps_cr_and_lf_line_has_none),
        cmocka_unit_test(test_line_keeps_embedded_nul),
        cmocka_unit_test(test_line_of_exactly_max_bytes_is_ok),
        cmocka_unit_test(test_long_line_is_reported_then_skipped),
        cmocka_unit_test(test_line_spanning_reads_is_joined),
        cmocka_unit_test(test_partial_last_line_at_eof_is_ok_with_eof_flag),
        cmocka_unit_test(test_silent_peer_times_out_and_error_sticks),
        cmocka_unit_test(test_purge_input_drops_pipelined_bytes),
        cmocka_unit_test(test_stream_read_and_getc_take_exact_bytes),
        cmocka_unit_test(test_output_is_buffered_until_flush),
        cmocka_unit_test(test_output_past_bufsize_is_written_without_flush),
        cmocka_unit_test(test_close_flushes_pending_output),
        cmocka_unit_test(test_write_to_closed_peer_is_an_error),
        cmocka_unit_test(test_custom_io_hooks_carry_all_traffic),
        cmocka_unit_test(test_hook_error_is_recorded),
        cmocka_unit_test(test_release_leaves_fd_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
