/* test_smtp_reply - the smtp client's reply reader: single and multi-line
 * replies, enhanced status codes, every malformed form a hostile server
 * can send (bad code, mixed codes, control bytes, too many lines, too many
 * bytes, a line without its end, a reply that never ends), and the EHLO
 * keyword parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mail/smtp_reply.h"

static int feed(struct smtp_resp *r, const char *lines, struct buf *why)
{
    const char *p = lines;
    int rc = SMTP_REPLY_MORE;
    smtp_resp_reset(r);
    while (*p && rc == SMTP_REPLY_MORE) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        rc = smtp_reply_add_line(r, p, n, why);
        p += n + (nl != NULL);
    }
    return rc;
}

static void test_single_line_with_enhanced_status(void **state)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf why = BUF_INIT;
    (void)state;
    assert_int_equal(feed(&r, "250 2.0.0 Ok: queued as ABC\r\n", &why), SMTP_REPLY_OK);
    assert_int_equal(r.code, 250);
    assert_string_equal(r.dsn, "2.0.0");
    assert_string_equal(buf_cstr(&r.text), "250 2.0.0 Ok: queued as ABC");
    smtp_resp_free(&r);
    buf_free(&why);
}

static void test_dsn_derived_when_missing_or_wrong_class(void **state)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf why = BUF_INIT;
    (void)state;
    assert_int_equal(feed(&r, "550 no such user\n", &why), SMTP_REPLY_OK);
    assert_string_equal(r.dsn, "5.0.0");
    /* a 2.x.y code in a 5xx reply is not believed */
    assert_int_equal(feed(&r, "550 2.1.1 odd\n", &why), SMTP_REPLY_OK);
    assert_string_equal(r.dsn, "5.0.0");
    assert_int_equal(feed(&r, "451 4.7.1234 too long a detail\n", &why), SMTP_REPLY_OK);
    assert_string_equal(r.dsn, "4.0.0");
    assert_int_equal(feed(&r, "221\n", &why), SMTP_REPLY_OK);
    assert_int_equal(r.code, 221);
    smtp_resp_free(&r);
    buf_free(&why);
}

static void test_multi_line_joined(void **state)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf why = BUF_INIT;
    (void)state;
    assert_int_equal(feed(&r, "550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 last\r\n", &why),
                     SMTP_REPLY_OK);
    assert_string_equal(buf_cstr(&r.text), "550-5.7.1 first 550-5.7.1 second 550 5.7.1 last");
    assert_string_equal(r.dsn, "5.7.1");
    assert_int_equal(r.lines, 3);
    smtp_resp_free(&r);
    buf_free(&why);
}

static void test_malformed_replies(void **state)
{
    static const char *bad[] = {
        "hello\n",      "25\n",    "250x ok\n",      "650 nope\n",
        "150 nope\n",   "2a0 x\n", "250-a\n251 b\n", /* codes differ */
        "250 a\x01b\n",                              /* control byte */
        "250 a\0b\n", /* NUL ends the C string here: "250 a" is fine */
    };
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf why = BUF_INIT;
    (void)state;
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(feed(&r, bad[i], &why), SMTP_REPLY_PROTO);
    /* NUL inside a counted line is a control byte */
    smtp_resp_reset(&r);
    assert_int_equal(smtp_reply_add_line(&r, "250 a\0b", 7, &why), SMTP_REPLY_PROTO);
    /* a line after the last one */
    smtp_resp_reset(&r);
    assert_int_equal(smtp_reply_add_line(&r, "250 ok", 6, &why), SMTP_REPLY_OK);
    assert_int_equal(smtp_reply_add_line(&r, "250 again", 9, &why), SMTP_REPLY_PROTO);
    smtp_resp_free(&r);
    buf_free(&why);
}

static void test_bounds(void **state)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf why = BUF_INIT;
    char line[SMTP_REPLY_LINE_MAX + 8];
    int rc = SMTP_REPLY_MORE;
    (void)state;
    memset(line, 'x', sizeof(line));
    memcpy(line, "250-", 4);
    assert_int_equal(smtp_reply_add_line(&r, line, SMTP_REPLY_LINE_MAX + 1, &why),
                     SMTP_REPLY_PROTO);
    /* many short lines: stopped by the line count */
    smtp_resp_reset(&r);
    size_t n = 0;
    while (rc == SMTP_REPLY_MORE && n < 5000) {
        rc = smtp_reply_add_line(&r, "220-x", 5, &why);
        n++;
    }
    assert_int_equal(rc, SMTP_REPLY_PROTO);
    assert_true(n <= SMTP_REPLY_LINES_MAX + 1);
    /* long lines: stopped by the byte total */
    smtp_resp_reset(&r);
    rc = SMTP_REPLY_MORE;
    for (n = 0; rc == SMTP_REPLY_MORE && n < 1000; n++)
        rc = smtp_reply_add_line(&r, line, 2000, &why);
    assert_int_equal(rc, SMTP_REPLY_PROTO);
    assert_true(r.text.len <= SMTP_REPLY_TOTAL_MAX);
    smtp_resp_free(&r);
    buf_free(&why);
}

/* ---- reading from a socket -------------------------------------------- */

static int read_from(const char *bytes, size_t len, int close_after, int timeout,
                     struct smtp_resp *r)
{
    int sv[2];
    struct buf why = BUF_INIT;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    if (len > 0)
        assert_int_equal(write(sv[1], bytes, len), (ssize_t)len);
    if (close_after)
        close(sv[1]);
    struct stream *s = stream_open(sv[0], timeout);
    int rc = smtp_reply_read(s, r, timeout, &why);
    (void)stream_close(s);
    if (!close_after)
        close(sv[1]);
    buf_free(&why);
    return rc;
}

static void test_read_ok_and_lost(void **state)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    (void)state;
    const char ok[] = "220-hello\r\n220 ESMTP\r\n";
    assert_int_equal(read_from(ok, sizeof(ok) - 1, 1, 5, &r), SMTP_REPLY_OK);
    assert_int_equal(r.code, 220);
    /* a reply without its line end, then EOF */
    assert_int_equal(read_from("220 no end", 10, 1, 5, &r), SMTP_REPLY_LOST);
    assert_int_equal(read_from("", 0, 1, 5, &r), SMTP_REPLY_LOST);
    smtp_resp_free(&r);
}

static void test_read_times_out(void **state)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    (void)state;
    time_t t0 = time(NULL);
    /* a continuation line and then silence */
    assert_int_equal(read_from("220-wait\r\n", 10, 0, 1, &r), SMTP_REPLY_TIMEOUT);
    assert_true(time(NULL) - t0 <= 3);
    smtp_resp_free(&r);
}

static void test_read_megabyte_reply(void **state)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf big = BUF_INIT;
    (void)state;
    /* 100 KB in the socket buffer is past the reply bound already */
    while (big.len < 100000)
        buf_puts(&big, "250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int sz = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    assert_int_equal(write(sv[1], big.data, big.len), (ssize_t)big.len);
    struct stream *s = stream_open(sv[0], 5);
    struct buf why = BUF_INIT;
    assert_int_equal(smtp_reply_read(s, &r, 5, &why), SMTP_REPLY_PROTO);
    assert_string_equal(buf_cstr(&why), "reply too long");
    (void)stream_close(s);
    close(sv[1]);
    buf_free(&why);
    buf_free(&big);
    smtp_resp_free(&r);
}

static void test_ehlo_keywords(void **state)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf why = BUF_INIT;
    struct smtp_ehlo e;
    (void)state;
    assert_int_equal(feed(&r,
                          "250-mx.example.com Hello\n250-PIPELINING\n250-size 1000\n"
                          "250-8BITMIME\n250-AUTH PLAIN LOGIN\n250-AUTH=CRAM-MD5\n250-DSN\n"
                          "250-SMTPUTF8\n250-STARTTLS\n250 ENHANCEDSTATUSCODES\n",
                          &why),
                     SMTP_REPLY_OK);
    smtp_ehlo_parse(&r, &e);
    assert_string_equal(e.server_name, "mx.example.com");
    assert_int_equal(e.features, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
                                     SMTP_EXT_AUTH | SMTP_EXT_DSN | SMTP_EXT_SMTPUTF8 |
                                     SMTP_EXT_STARTTLS | SMTP_EXT_ENHANCED);
    assert_int_equal(e.size_limit, 1000);
    assert_string_equal(e.auth, "PLAIN LOGIN CRAM-MD5");
    /* the first line is the server name, never a keyword */
    assert_int_equal(feed(&r, "250 PIPELINING\n", &why), SMTP_REPLY_OK);
    smtp_ehlo_parse(&r, &e);
    assert_int_equal(e.features, 0);
    /* a SIZE that overflows is "no limit known" */
    assert_int_equal(feed(&r, "250-x\n250 SIZE 99999999999999999999999\n", &why), SMTP_REPLY_OK);
    smtp_ehlo_parse(&r, &e);
    assert_true(e.features & SMTP_EXT_SIZE);
    assert_int_equal(e.size_limit, 0);
    smtp_resp_free(&r);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_line_with_enhanced_status),
        cmocka_unit_test(test_dsn_derived_when_missing_or_wrong_class),
        cmocka_unit_test(test_multi_line_joined),
        cmocka_unit_test(test_malformed_replies),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_read_ok_and_lost),
        cmocka_unit_test(test_read_times_out),
        cmocka_unit_test(test_read_megabyte_reply),
        cmocka_unit_test(test_ehlo_keywords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
