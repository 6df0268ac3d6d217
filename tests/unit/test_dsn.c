/* test_dsn - the non-delivery notice: composed, then parsed back here as a
 * MIME reader would (header, boundary, parts), to check the RFC 3464 /
 * RFC 6522 structure, the fields, the header cut at bounce_size_limit, and
 * that hostile input (a header holding the boundary, long lines, CR, NUL,
 * 8-bit bytes) cannot break the structure or the line limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/dsn.h"
#include "mail/header.h"

#define QID   "3F2BCDFGHJ0123_9"
#define NID   "3F2BCDFGHJ0124XY"
#define NOW   1700000000
#define HOST  "mx.example.com"
#define BASE  QID ".1700000000/" HOST
#define BBASE "\tboundary=\"" BASE

/* ---- a small MIME reader ------------------------------------------------ */

struct part {
    struct buf head; /* header lines, each ending in LF */
    struct buf body;
};

struct notice {
    struct buf head;     /* top-level header, each line ending in LF */
    struct buf boundary; /* from Content-Type */
    struct part parts[8];
    int nparts;
    int closed; /* the closing delimiter was seen */
};

static void notice_free(struct notice *m)
{
    buf_free(&m->head);
    buf_free(&m->boundary);
    for (int i = 0; i < 8; i++) {
        buf_free(&m->parts[i].head);
        buf_free(&m->parts[i].body);
    }
}

/* field - the unfolded value of the first header field name in head, or
 * NULL (into out). */
static const char *field(const struct buf *head, const char *name, struct buf *out)
{
    size_t nl = strlen(name);
    const char *p = head->data;
    buf_reset(out);
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            buf_append(out, v, (size_t)(eol - v));
            /* continuation lines */
            while (eol[1] == ' ' || eol[1] == '\t') {
                const char *next = strchr(eol + 1, '\n');
                buf_append(out, eol + 1, (size_t)(next - eol - 1));
                eol = next;
            }
            return out->data;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* parse - split text into the top header, then the parts between
 * "--boundary" lines (RFC 2046 5.1.1), each into header and body. */
static void parse(const char *text, struct notice *m)
{
    memset(m, 0, sizeof(*m));
    const char *sep = strstr(text, "\n\n");
    assert_non_null(sep);
    buf_append(&m->head, text, (size_t)(sep - text) + 1);
    struct buf ct = BUF_INIT;
    assert_non_null(field(&m->head, "Content-Type", &ct));
    const char *b = strstr(ct.data, "boundary=\"");
    assert_non_null(b);
    b += strlen("boundary=\"");
    const char *q = strchr(b, '"');
    assert_non_null(q);
    buf_append(&m->boundary, b, (size_t)(q - b));
    buf_free(&ct);

    struct buf delim = BUF_INIT, close = BUF_INIT;
    buf_printf(&delim, "--%s", m->boundary.data);
    buf_printf(&close, "--%s--", m->boundary.data);
    const char *p = sep + 2;
    struct part *cur = NULL;
    int in_head = 0;
    while (*p) {
        const char *eol = strchr(p, '\n');
        assert_non_null(eol); /* every line ends in LF */
        size_t len = (size_t)(eol - p);
        if (len == close.len && memcmp(p, close.data, len) == 0) {
            m->closed = 1;
            cur = NULL;
        } else if (len == delim.len && memcmp(p, delim.data, len) == 0) {
            assert_false(m->closed);
            assert_true(m->nparts < 8);
            cur = &m->parts[m->nparts++];
            in_head = 1;
        } else if (cur && in_head && len == 0) {
            in_head = 0;
        } else if (cur) {
            buf_append(in_head ? &cur->head : &cur->body, p, len + 1);
        }
        p = eol + 1;
    }
    /* the LF before a delimiter belongs to the delimiter */
    for (int i = 0; i < m->nparts; i++)
        if (m->parts[i].body.len && m->parts[i].body.data[m->parts[i].body.len - 1] == '\n')
            buf_truncate(&m->parts[i].body, m->parts[i].body.len - 1);
    buf_free(&delim);
    buf_free(&close);
}

/* ---- notices to test ------------------------------------------------------ */

static const struct dsn_rcpt two_rcpts[] = {
    {.address = "bob@example.net",
     .orcpt = "",
     .status = "5.1.1",
     .reason = "unknown user: \"bob\""},
    {.address = "carol@example.net",
     .orcpt = "list@example.net",
     .status = "5.2.2",
     .reason = "mailbox full"},
};

static struct dsn_notice base_notice(void)
{
    struct dsn_notice n = {0};
    n.myhostname = HOST;
    n.queue_id = QID;
    n.notice_id = NID;
    n.sender = "alice@example.org";
    n.to = "alice@example.org";
    n.arrival = NOW - 3600;
    n.now = NOW;
    n.rcpts = two_rcpts;
    n.rcpt_count = 2;
    n.message = "Subject: hello\nFrom: alice@example.org\nTo: bob@example.net\n\nbody line\n";
    n.message_len = strlen(n.message);
    n.size_limit = 50000;
    return n;
}

static void compose(const struct dsn_notice *n, struct buf *out)
{
    struct buf why = BUF_INIT;
    int rc = dsn_compose(n, out, &why);
    if (rc != 0)
        fail_msg("dsn_compose: %s", buf_cstr(&why));
    buf_free(&why);
    /* every notice: no CR, no NUL, no line over the limit, LF at the end */
    assert_null(memchr(out->data, '\r', out->len));
    assert_int_equal(strlen(out->data), out->len);
    assert_int_equal(out->data[out->len - 1], '\n');
    size_t run = 0;
    for (size_t i = 0; i < out->len; i++) {
        if (out->data[i] == '\n') {
            run = 0;
        } else if (++run > DSN_LINE_MAX) {
            fail_msg("line longer than %d bytes at offset %zu", DSN_LINE_MAX, i);
        }
    }
}

static int has_line(const struct buf *b, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = b->data; p && (p = strstr(p, line)) != NULL; p++)
        if ((p == b->data || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return 1;
    return 0;
}

#define assert_line(b, l)                                                                          \
    do {                                                                                           \
        if (!has_line((b), (l)))                                                                   \
            fail_msg("no line \"%s\" in:\n%s", (l), (b)->data);                                    \
    } while (0)

/* ---- tests ---------------------------------------------------------------- */

static void test_notice_is_a_multipart_report_with_three_parts(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out);
    /* the exact Content-Type, folded like Postfix's */
    assert_non_null(strstr(out.data,
                           "\nMIME-Version: 1.0\n"
                           "Content-Type: multipart/report; report-type=delivery-status;\n"
                           "\tboundary=\"" BASE "\"\n\n"));
    struct notice m;
    parse(out.data, &m);
    assert_string_equal(m.boundary.data, BASE);
    assert_int_equal(m.nparts, 3);
    assert_true(m.closed);
    assert_string_equal(m.parts[0].head.data, "Content-Description: Notification\n"
                                              "Content-Type: text/plain; charset=us-ascii\n");
    assert_string_equal(m.parts[1].head.data, "Content-Description: Delivery report\n"
                                              "Content-Type: message/delivery-status\n");
    assert_string_equal(m.parts[2].head.data, "Content-Description: Undelivered Message Headers\n"
                                              "Content-Type: text/rfc822-headers\n");
    /* every delimiter on a line of its own, the closing one last */
    assert_non_null(strstr(out.data, "\n\n--" BASE "\nContent-Description: Notification\n"));
    assert_non_null(strstr(out.data, "\n\n--" BASE "\nContent-Description: Delivery report\n"));
    assert_non_null(strstr(out.data, "\n\n--" BASE "\nContent-Description: Undelivered"));
    size_t tail = strlen("\n--" BASE "--\n");
    assert_string_equal(out.data + out.len - tail, "\n--" BASE "--\n");

    assert_string_equal(field(&m.head, "From", &v),
                        "MAILER-DAEMON@" HOST " (Mail Delivery System)");
    assert_string_equal(field(&m.head, "To", &v), "alice@example.org");
    assert_string_equal(field(&m.head, "Subject", &v), "Undelivered Mail Returned to Sender");
    assert_string_equal(field(&m.head, "Auto-Submitted", &v), "auto-replied");
    assert_string_equal(field(&m.head, "Message-Id", &v), "<20231114221320." NID "@" HOST ">");
    struct buf date = BUF_INIT;
    header_date_format(&date, NOW);
    assert_string_equal(field(&m.head, "Date", &v), date.data);
    assert_null(field(&m.head, "Content-Transfer-Encoding", &v));

    assert_line(&m.parts[0].body, "This is the mail system at host " HOST ".");
    assert_line(&m.parts[0].body, "<bob@example.net>: unknown user: \"bob\"");
    assert_line(&m.parts[0].body,
                "<carol@example.net> (expanded from <list@example.net>): mailbox full");
    assert_string_equal(m.parts[2].body.data,
                        "Subject: hello\nFrom: alice@example.org\nTo: bob@example.net\n");
    buf_free(&date);
    buf_free(&v);
    buf_free(&out);
    notice_free(&m);
}

static void test_delivery_status_has_per_message_and_per_recipient_fields(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    struct buf out = BUF_INIT, want = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    buf_puts(&want, "Reporting-MTA: dns; " HOST "\n"
                    "X-Postern-Queue-ID: " QID "\n"
                    "X-Postern-Sender: rfc822; alice@example.org\n"
                    "Arrival-Date: ");
    struct buf date = BUF_INIT;
    header_date_format(&date, NOW - 3600);
    buf_puts(&want, date.data);
    buf_free(&date);
    buf_puts(&want, "\n"
                    "\n"
                    "Final-Recipient: rfc822; bob@example.net\n"
                    "Action: failed\n"
                    "Status: 5.1.1\n"
                    "Diagnostic-Code: X-Postern; unknown user: \"bob\"\n"
                    "\n"
                    "Original-Recipient: rfc822; list@example.net\n"
                    "Final-Recipient: rfc822; carol@example.net\n"
                    "Action: failed\n"
                    "Status: 5.2.2\n"
                    "Diagnostic-Code: X-Postern; mailbox full\n");
    assert_string_equal(m.parts[1].body.data, want.data);
    buf_free(&want);
    buf_free(&out);
    notice_free(&m);
}

static void test_invalid_status_is_reported_as_5_0_0_and_empty_reason_has_no_code(void **state)
{
    (void)state;
    static const struct dsn_rcpt r[] = {
        {.address = "x@example.net", .orcpt = NULL, .status = "9.9.9\nStatus: 2.0.0", .reason = ""},
        {.address = "y@example.net",
         .orcpt = "rfc822;Y@example.net",
         .status = NULL,
         .reason = NULL}};
    struct dsn_notice n = base_notice();
    n.rcpts = r;
    n.rcpt_count = 2;
    struct buf out = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_non_null(strstr(m.parts[1].body.data, "\n\nFinal-Recipient: rfc822; x@example.net\n"
                                                 "Action: failed\n"
                                                 "Status: 5.0.0\n"
                                                 "\n"
                                                 "Original-Recipient: rfc822; Y@example.net\n"
                                                 "Final-Recipient: rfc822; y@example.net\n"
                                                 "Action: failed\n"
                                                 "Status: 5.0.0\n"));
    assert_null(strstr(m.parts[1].body.data, "Diagnostic-Code"));
    assert_null(strstr(out.data, "2.0.0"));
    buf_free(&out);
    notice_free(&m);
}

static void test_header_is_cut_at_the_size_limit_on_a_line_boundary(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    n.message = "X-A: 1234567\nX-B: 1234567\nX-C: 1234567\n\nbody\n"; /* 13 bytes a line */
    n.message_len = strlen(n.message);
    struct buf out = BUF_INIT;
    struct notice m;
    size_t limits[] = {0, 12, 13, 25, 26, 38, 39, 40, 1000};
    const char *want[] = {"",
                          "",
                          "X-A: 1234567\n",
                          "X-A: 1234567\n",
                          "X-A: 1234567\nX-B: 1234567\n",
                          "X-A: 1234567\nX-B: 1234567\n",
                          "X-A: 1234567\nX-B: 1234567\nX-C: 1234567\n",
                          "X-A: 1234567\nX-B: 1234567\nX-C: 1234567\n",
                          "X-A: 1234567\nX-B: 1234567\nX-C: 1234567\n"};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        n.size_limit = limits[i];
        compose(&n, &out);
        parse(out.data, &m);
        assert_int_equal(m.nparts, 3);
        if (strcmp(buf_cstr(&m.parts[2].body), want[i]) != 0)
            fail_msg("limit %zu: got \"%s\", want \"%s\"", limits[i], buf_cstr(&m.parts[2].body),
                     want[i]);
        notice_free(&m);
    }
    /* a header without the empty line and without a last LF */
    n.message = "X-A: 1234567\nX-B: 12";
    n.message_len = strlen(n.message);
    n.size_limit = 100;
    compose(&n, &out);
    parse(out.data, &m);
    assert_string_equal(m.parts[2].body.data, "X-A: 1234567\nX-B: 12\n");
    notice_free(&m);
    buf_free(&out);
}

static void test_header_holding_the_boundary_cannot_break_the_structure(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    n.message = "Subject: x\n"
                "--" BASE "\n"
                "--" BASE ".0\n"
                "--" BASE "--\n"
                "Content-Type: text/plain\n";
    n.message_len = strlen(n.message);
    struct buf out = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_string_equal(m.boundary.data, BASE ".1");
    assert_int_equal(m.nparts, 3);
    assert_true(m.closed);
    assert_string_equal(m.parts[2].body.data, n.message);
    /* the recipients' data is checked too */
    static const struct dsn_rcpt r[] = {{.address = "a@x",
                                         .orcpt = "",
                                         .status = "5.0.0",
                                         .reason = "--" BASE ".1 and " BASE ".2"}};
    n.rcpts = r;
    n.rcpt_count = 1;
    compose(&n, &out);
    notice_free(&m);
    parse(out.data, &m);
    assert_string_equal(m.boundary.data, BASE ".3");
    assert_int_equal(m.nparts, 3);
    buf_free(&out);
    notice_free(&m);
}

static void test_long_lines_are_folded_and_keep_their_text(void **state)
{
    (void)state;
    struct buf reason = BUF_INIT, hdr = BUF_INIT, out = BUF_INIT, v = BUF_INIT;
    for (int i = 0; i < DSN_REASON_MAX + 500; i++)
        buf_putc(&reason, (char)('a' + i % 26));
    struct dsn_rcpt r = {
        .address = "a@example.net", .orcpt = "", .status = "5.0.0", .reason = reason.data};
    /* one header of 3000 bytes with spaces, one of 2500 without */
    buf_puts(&hdr, "X-Long:");
    for (int i = 0; i < 300; i++)
        buf_puts(&hdr, " word56789");
    buf_puts(&hdr, "\nX-Solid: ");
    for (int i = 0; i < 2500; i++)
        buf_putc(&hdr, 'z');
    buf_puts(&hdr, "\nX-Spaces:");
    for (int i = 0; i < 2000; i++)
        buf_putc(&hdr, ' ');
    buf_puts(&hdr, "end\n");
    struct dsn_notice n = base_notice();
    n.rcpts = &r;
    n.rcpt_count = 1;
    n.message = hdr.data;
    n.message_len = hdr.len;
    compose(&n, &out); /* checks every line <= DSN_LINE_MAX */
    struct notice m;
    parse(out.data, &m);
    assert_int_equal(m.nparts, 3);
    /* the reason is cut at DSN_REASON_MAX and folded with one space */
    field(&m.parts[1].body, "Diagnostic-Code", &v);
    assert_int_equal(v.len, strlen("X-Postern; ") + DSN_REASON_MAX + 1);
    /* folding at white space unfolds to the same text (RFC 5322 2.2.3) */
    field(&m.parts[2].body, "X-Long", &v);
    const char *eol = strchr(hdr.data, '\n');
    assert_int_equal(v.len, (size_t)(eol - hdr.data) - strlen("X-Long: "));
    assert_memory_equal(v.data, hdr.data + strlen("X-Long: "), v.len);
    assert_true(strstr(out.data, "\n word56789 word56789") != NULL); /* it was folded */
    /* no white-space-only line anywhere */
    for (const char *p = m.parts[2].body.data; *p;) {
        const char *e = strchr(p, '\n');
        size_t k = 0;
        while (p + k < e && (p[k] == ' ' || p[k] == '\t'))
            k++;
        assert_true(p + k < e);
        p = e + 1;
    }
    buf_free(&reason);
    buf_free(&hdr);
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_control_bytes_never_reach_the_notice(void **state)
{
    (void)state;
    static const char hdr[] = "Subject: a\rb\0c\x01\n"
                              "X-Crlf: yes\r\n"
                              "\r\n"
                              "body\n";
    static const struct dsn_rcpt r[] = {{.address = "a\r\nBcc: evil@x",
                                         .orcpt = "",
                                         .status = "5.0.0",
                                         .reason = "line1\r\nline2\ttab\x7f\xc3\xa9"}};
    struct dsn_notice n = base_notice();
    n.rcpts = r;
    n.rcpt_count = 1;
    n.to = "alice\r\nBcc: evil@example.com";
    n.message = hdr;
    n.message_len = sizeof(hdr) - 1;
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out); /* no CR, no NUL */
    struct notice m;
    parse(out.data, &m);
    assert_null(field(&m.head, "Bcc", &v));
    assert_null(strstr(out.data, "\nBcc:"));
    assert_string_equal(m.parts[2].body.data, "Subject: a b c \nX-Crlf: yes\n");
    assert_line(&m.parts[1].body, "Diagnostic-Code: X-Postern; line1??line2 tab???");
    for (size_t i = 0; i < m.parts[0].body.len; i++)
        assert_true((unsigned char)m.parts[0].body.data[i] < 0x80);
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_8bit_header_makes_the_notice_8bit(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    n.message = "Subject: caf\xc3\xa9\n\n";
    n.message_len = strlen(n.message);
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_string_equal(field(&m.head, "Content-Transfer-Encoding", &v), "8bit");
    assert_string_equal(field(&m.parts[2].head, "Content-Transfer-Encoding", &v), "8bit");
    assert_null(field(&m.parts[0].head, "Content-Transfer-Encoding", &v));
    assert_string_equal(m.parts[2].body.data, "Subject: caf\xc3\xa9\n");
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_postmaster_copy_of_a_bounced_bounce(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    n.sender = "";
    n.to = "postmaster@example.com";
    n.postmaster_copy = 1;
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_string_equal(field(&m.head, "Subject", &v), "Postmaster Copy: Undelivered Mail");
    assert_string_equal(field(&m.head, "To", &v), "postmaster@example.com");
    assert_null(field(&m.parts[1].body, "X-Postern-Sender", &v));
    assert_int_equal(m.nparts, 3);
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_no_header_gives_two_parts_and_omitted_recipients_are_counted(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    n.message = NULL;
    n.message_len = 0;
    n.arrival = 0;
    n.rcpt_omitted = 7;
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_int_equal(m.nparts, 2);
    assert_true(m.closed);
    assert_null(field(&m.parts[1].body, "Arrival-Date", &v));
    assert_line(&m.parts[0].body, "(7 more recipients are not listed)");
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_quoted_local_part_and_odd_host_name_in_boundary(void **state)
{
    (void)state;
    static const struct dsn_rcpt r[] = {
        {.address = "john doe@example.net", .orcpt = "", .status = "5.1.1", .reason = "no"}};
    struct dsn_notice n = base_notice();
    n.rcpts = r;
    n.rcpt_count = 1;
    n.myhostname = "a_b.example.com";
    struct buf out = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_string_equal(m.boundary.data, QID ".1700000000/a-b.example.com");
    assert_line(&m.parts[1].body, "Final-Recipient: rfc822; \"john doe\"@example.net");
    buf_free(&out);
    notice_free(&m);
}

static void test_bad_notice_id_is_an_error(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    n.notice_id = "bad id";
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(dsn_compose(&n, &out, &why), -1);
    assert_true(why.len > 0);
    buf_free(&out);
    buf_free(&why);
}

static void test_status_code_syntax(void **state)
{
    (void)state;
    const char *good[] = {"5.1.1", "4.2.2", "2.0.0", "5.123.999", "5.0.10"};
    const char *bad[] = {"",       "5",    "5.1",   "6.1.1",   "5.01.1", "5.1.1000",
                         "5.1.1 ", "5..1", "x.1.1", "5.1.1.1", "3.1.1",  "5.1.01"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!dsn_status_valid(good[i]))
            fail_msg("\"%s\" should be valid", good[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (dsn_status_valid(bad[i]))
            fail_msg("\"%s\" should be invalid", bad[i]);
    assert_false(dsn_status_valid(NULL));
}

/* ---- the DSN extensions: kinds, RET, ENVID, NOTIFY, remote details ------ */

#define MSG "Subject: hello\nFrom: alice@example.org\n\nbody line 1\nbody line 2\n"

static void test_remote_mta_and_typed_diagnostic_code(void **state)
{
    (void)state;
    static const struct dsn_rcpt r[] = {
        {.address = "bob@example.net",
         .status = "5.1.1",
         .reason = "host mx1.example.net[192.0.2.1] said: 550 5.1.1 no such user",
         .mta = "mx1.example.net",
         .diag = "smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected"},
        /* a diagnostic without its type gets ours; a hostile host name is cleaned */
        {.address = "carol@example.net",
         .status = "5.0.0",
         .reason = "x",
         .mta = "evil\r\nStatus: 2.0.0",
         .diag = "no type here"},
        /* no diagnostic at all: the reason, as ours */
        {.address = "dave@example.net", .status = "5.2.2", .reason = "mailbox full"},
    };
    struct dsn_notice n = base_notice();
    n.rcpts = r;
    n.rcpt_count = 3;
    struct buf out = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_non_null(
        strstr(m.parts[1].body.data,
               "\n\nFinal-Recipient: rfc822; bob@example.net\n"
               "Action: failed\n"
               "Status: 5.1.1\n"
               "Remote-MTA: dns; mx1.example.net\n"
               "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected\n"
               "\n"
               "Final-Recipient: rfc822; carol@example.net\n"
               "Action: failed\n"
               "Status: 5.0.0\n"
               "Remote-MTA: dns; evil??Status: 2.0.0\n"
               "Diagnostic-Code: X-Postern; no type here\n"
               "\n"
               "Final-Recipient: rfc822; dave@example.net\n"
               "Action: failed\n"
               "Status: 5.2.2\n"
               "Diagnostic-Code: X-Postern; mailbox full\n"));
    assert_line(&m.parts[0].body,
                "<bob@example.net>: host mx1.example.net[192.0.2.1] said: 550 5.1.1 no such user");
    buf_free(&out);
    notice_free(&m);
}

static void test_envid_and_typed_orcpt(void **state)
{
    (void)state;
    static const struct dsn_rcpt r[] = {
        {.address = "bob@example.net", .orcpt = "rfc822;Bob@Example.NET", .status = "5.1.1"},
        {.address = "eve@example.net", .orcpt = "UTF-8;\xc3\xa9ve@example.net", .status = "5.1.1"},
    };
    struct dsn_notice n = base_notice();
    n.rcpts = r;
    n.rcpt_count = 2;
    n.envid = "QQ314159\r\nX";
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    /* RFC 3464 2.2: Original-Envelope-Id first, case kept */
    assert_true(strncmp(m.parts[1].body.data, "Original-Envelope-Id: QQ314159??X\nReporting-MTA: ",
                        strlen("Original-Envelope-Id: QQ314159??X\nReporting-MTA: ")) == 0);
    assert_line(&m.parts[1].body, "Original-Recipient: rfc822; Bob@Example.NET");
    assert_line(&m.parts[1].body, "Original-Recipient: utf-8; ??ve@example.net");
    /* a typed ORCPT is the sender's own spelling, not an expansion */
    assert_line(&m.parts[0].body, "<bob@example.net>: delivery failed");
    /* no ENVID: no field */
    n.envid = "";
    compose(&n, &out);
    notice_free(&m);
    parse(out.data, &m);
    assert_null(field(&m.parts[1].body, "Original-Envelope-Id", &v));
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_ret_full_returns_the_whole_message_as_message_rfc822(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    n.ret = DSN_RETURN_FULL;
    n.message = MSG;
    n.message_len = strlen(MSG);
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_int_equal(m.nparts, 3);
    assert_string_equal(m.parts[2].head.data, "Content-Description: Undelivered Message\n"
                                              "Content-Type: message/rfc822\n");
    assert_string_equal(m.parts[2].body.data, MSG);
    assert_null(strstr(m.parts[0].body.data, "only its header"));
    /* a message without a last LF gets one */
    n.message_len = strlen(MSG) - 1;
    compose(&n, &out);
    notice_free(&m);
    parse(out.data, &m);
    assert_string_equal(m.parts[2].body.data, MSG);
    /* RET=HDRS: the header only */
    n.ret = DSN_RETURN_HEADERS;
    n.message_len = strlen(MSG);
    compose(&n, &out);
    notice_free(&m);
    parse(out.data, &m);
    assert_string_equal(field(&m.parts[2].head, "Content-Type", &v), "text/rfc822-headers");
    assert_string_equal(m.parts[2].body.data, "Subject: hello\nFrom: alice@example.org\n");
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_ret_full_falls_back_to_headers_and_says_why(void **state)
{
    (void)state;
    struct dsn_notice n = base_notice();
    struct buf out = BUF_INIT, v = BUF_INIT, big = BUF_INIT;
    struct notice m;
    n.ret = DSN_RETURN_FULL;
    n.message = MSG;
    n.message_len = strlen(MSG);

    /* larger than bounce_size_limit; and a message known to go on */
    for (int c = 0; c < 2; c++) {
        n.size_limit = c == 0 ? strlen(MSG) - 1 : 50000;
        n.message_truncated = c == 1;
        compose(&n, &out);
        parse(out.data, &m);
        assert_string_equal(field(&m.parts[2].head, "Content-Type", &v), "text/rfc822-headers");
        assert_string_equal(m.parts[2].body.data, "Subject: hello\nFrom: alice@example.org\n");
        assert_non_null(strstr(m.parts[0].body.data, "bounce_size_limit"));
        assert_non_null(strstr(m.parts[0].body.data, "only its header is returned"));
        notice_free(&m);
    }
    /* an exact fit is returned whole */
    n.size_limit = strlen(MSG);
    n.message_truncated = 0;
    compose(&n, &out);
    parse(out.data, &m);
    assert_string_equal(field(&m.parts[2].head, "Content-Type", &v), "message/rfc822");
    notice_free(&m);

    /* a body that cannot go as it is: an overlong line, a NUL, a CR */
    n.size_limit = 50000;
    buf_puts(&big, "Subject: x\n\n");
    for (int i = 0; i < DSN_LINE_MAX + 1; i++)
        buf_putc(&big, 'z');
    buf_putc(&big, '\n');
    const char *odd[] = {big.data, "Subject: x\n\na\0b\n", "Subject: x\n\na\rb\n"};
    size_t odd_len[] = {big.len, 16, 16};
    for (int c = 0; c < 3; c++) {
        n.message = odd[c];
        n.message_len = odd_len[c];
        compose(&n, &out);
        parse(out.data, &m);
        assert_string_equal(field(&m.parts[2].head, "Content-Type", &v), "text/rfc822-headers");
        assert_string_equal(m.parts[2].body.data, "Subject: x\n");
        assert_non_null(strstr(m.parts[0].body.data, "cannot be returned as it is"));
        notice_free(&m);
    }
    buf_free(&out);
    buf_free(&v);
    buf_free(&big);
}

static void test_ret_full_with_8bit_body_and_boundary_inside(void **state)
{
    (void)state;
    static const char msg[] = "Subject: x\n\ncaf\xc3\xa9\n--" BASE "--\n";
    struct dsn_notice n = base_notice();
    n.ret = DSN_RETURN_FULL;
    n.message = msg;
    n.message_len = strlen(msg);
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_string_equal(m.boundary.data, BASE ".0");
    assert_int_equal(m.nparts, 3);
    assert_true(m.closed);
    assert_string_equal(field(&m.head, "Content-Transfer-Encoding", &v), "8bit");
    assert_string_equal(field(&m.parts[2].head, "Content-Transfer-Encoding", &v), "8bit");
    assert_string_equal(m.parts[2].body.data, msg);
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_delay_warning(void **state)
{
    (void)state;
    static const struct dsn_rcpt r[] = {
        {.address = "bob@example.net",
         .status = "4.4.1",
         .reason = "connect to mx.example.net[192.0.2.1]:25: Connection refused",
         .mta = "mx.example.net"},
        {.address = "carol@example.net", .status = "5.1.1", .reason = "odd"}, /* class fixed */
    };
    struct dsn_notice n = base_notice();
    n.kind = DSN_DELAY;
    n.rcpts = r;
    n.rcpt_count = 2;
    n.arrival = NOW - 4 * 3600 - 10;
    n.retry_until = n.arrival + 5 * 86400;
    n.ret = DSN_RETURN_FULL; /* ignored: a warning returns the header */
    n.message = MSG;
    n.message_len = strlen(MSG);
    struct buf out = BUF_INIT, v = BUF_INIT, date = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_string_equal(field(&m.head, "Subject", &v), "Delayed Mail (still being retried)");
    assert_line(&m.parts[0].body,
                "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #");
    assert_line(&m.parts[0].body, "Your message could not be delivered for more than 4 hour(s).");
    assert_line(&m.parts[0].body, "It will be retried until it is 5 day(s) old.");
    header_date_format(&date, n.retry_until);
    buf_set(&v, "");
    buf_printf(&v,
               "\n\nFinal-Recipient: rfc822; bob@example.net\n"
               "Action: delayed\n"
               "Status: 4.4.1\n"
               "Remote-MTA: dns; mx.example.net\n"
               "Diagnostic-Code: X-Postern; connect to mx.example.net[192.0.2.1]:25: "
               "Connection refused\n"
               "Will-Retry-Until: %s\n"
               "\n"
               "Final-Recipient: rfc822; carol@example.net\n"
               "Action: delayed\n"
               "Status: 4.0.0\n",
               date.data);
    assert_non_null(strstr(m.parts[1].body.data, v.data));
    assert_string_equal(m.parts[2].head.data, "Content-Description: Delayed Message Headers\n"
                                              "Content-Type: text/rfc822-headers\n");
    assert_string_equal(m.parts[2].body.data, "Subject: hello\nFrom: alice@example.org\n");
    buf_free(&out);
    buf_free(&v);
    buf_free(&date);
    notice_free(&m);
}

static void test_success_notice(void **state)
{
    (void)state;
    static const struct dsn_rcpt r[] = {
        {.address = "bob@example.net",
         .status = "2.0.0",
         .reason = "delivered to mailbox",
         .action = "delivered"},
        {.address = "carol@example.net",
         .status = "2.0.0",
         .reason = "250 2.0.0 Ok: queued as 4XYZ",
         .action = "relayed",
         .mta = "mx.example.net",
         .diag = "smtp; 250 2.0.0 Ok: queued as 4XYZ"},
        {.address = "dave@example.net", .status = "5.1.1", .action = "bogus"},
    };
    struct dsn_notice n = base_notice();
    n.kind = DSN_SUCCESS;
    n.rcpts = r;
    n.rcpt_count = 3;
    n.ret = DSN_RETURN_FULL; /* ignored: a success notice returns the header */
    n.message = MSG;
    n.message_len = strlen(MSG);
    struct buf out = BUF_INIT, v = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_string_equal(field(&m.head, "Subject", &v), "Successful Mail Delivery Report");
    assert_string_equal(field(&m.head, "Content-Type", &v),
                        "multipart/report; report-type=delivery-status;\tboundary=\"" BASE "\"");
    assert_line(&m.parts[0].body, "Your message was successfully delivered to the destination(s)");
    assert_line(&m.parts[0].body, "<bob@example.net>: delivered to mailbox");
    assert_non_null(strstr(m.parts[1].body.data,
                           "\n\nFinal-Recipient: rfc822; bob@example.net\n"
                           "Action: delivered\n"
                           "Status: 2.0.0\n"
                           "Diagnostic-Code: X-Postern; delivered to mailbox\n"
                           "\n"
                           "Final-Recipient: rfc822; carol@example.net\n"
                           "Action: relayed\n"
                           "Status: 2.0.0\n"
                           "Remote-MTA: dns; mx.example.net\n"
                           "Diagnostic-Code: smtp; 250 2.0.0 Ok: queued as 4XYZ\n"
                           "\n"
                           "Final-Recipient: rfc822; dave@example.net\n"
                           "Action: delivered\n"
                           "Status: 2.0.0\n"));
    assert_null(strstr(m.parts[1].body.data, "Will-Retry-Until"));
    assert_string_equal(m.parts[2].head.data, "Content-Description: Delivered Message Headers\n"
                                              "Content-Type: text/rfc822-headers\n");
    assert_string_equal(m.parts[2].body.data, "Subject: hello\nFrom: alice@example.org\n");
    buf_free(&out);
    buf_free(&v);
    notice_free(&m);
}

static void test_failure_status_keeps_4xx_of_expired_mail_but_not_2xx(void **state)
{
    (void)state;
    static const struct dsn_rcpt r[] = {{.address = "a@x", .status = "4.4.7"},
                                        {.address = "b@x", .status = "2.0.0"}};
    struct dsn_notice n = base_notice();
    n.rcpts = r;
    n.rcpt_count = 2;
    struct buf out = BUF_INIT;
    compose(&n, &out);
    struct notice m;
    parse(out.data, &m);
    assert_non_null(strstr(m.parts[1].body.data, "a@x\nAction: failed\nStatus: 4.4.7\n"));
    assert_non_null(strstr(m.parts[1].body.data, "b@x\nAction: failed\nStatus: 5.0.0\n"));
    buf_free(&out);
    notice_free(&m);
}

static void test_notify_filtering(void **state)
{
    (void)state;
    /* SMTP_NOTIFY_*: NEVER 1, SUCCESS 2, FAILURE 4, DELAY 8 */
    struct {
        int notify, failure, delay, success;
    } t[] = {
        {0, 1, 1, 0},     /* not given: failures and delays (RFC 3461 5.2.1) */
        {1, 0, 0, 0},     /* NEVER */
        {2, 0, 0, 1},     /* SUCCESS */
        {4, 1, 0, 0},     /* FAILURE */
        {8, 0, 1, 0},     /* DELAY */
        {2 | 4, 1, 0, 1}, /* SUCCESS,FAILURE */
        {2 | 4 | 8, 1, 1, 1},
        {1 | 4, 0, 0, 0}, /* NEVER wins (cannot come from smtpd, but from a log) */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (dsn_notify_wants(DSN_FAILURE, t[i].notify) != t[i].failure ||
            dsn_notify_wants(DSN_DELAY, t[i].notify) != t[i].delay ||
            dsn_notify_wants(DSN_SUCCESS, t[i].notify) != t[i].success)
            fail_msg("notify %d: wrong filtering", t[i].notify);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notice_is_a_multipart_report_with_three_parts),
        cmocka_unit_test(test_delivery_status_has_per_message_and_per_recipient_fields),
        cmocka_unit_test(test_invalid_status_is_reported_as_5_0_0_and_empty_reason_has_no_code),
        cmocka_unit_test(test_header_is_cut_at_the_size_limit_on_a_line_boundary),
        cmocka_unit_test(test_header_holding_the_boundary_cannot_break_the_structure),
        cmocka_unit_test(test_long_lines_are_folded_and_keep_their_text),
        cmocka_unit_test(test_control_bytes_never_reach_the_notice),
        cmocka_unit_test(test_8bit_header_makes_the_notice_8bit),
        cmocka_unit_test(test_postmaster_copy_of_a_bounced_bounce),
        cmocka_unit_test(test_no_header_gives_two_parts_and_omitted_recipients_are_counted),
        cmocka_unit_test(test_quoted_local_part_and_odd_host_name_in_boundary),
        cmocka_unit_test(test_bad_notice_id_is_an_error),
        cmocka_unit_test(test_status_code_syntax),
        cmocka_unit_test(test_remote_mta_and_typed_diagnostic_code),
        cmocka_unit_test(test_envid_and_typed_orcpt),
        cmocka_unit_test(test_ret_full_returns_the_whole_message_as_message_rfc822),
        cmocka_unit_test(test_ret_full_falls_back_to_headers_and_says_why),
        cmocka_unit_test(test_ret_full_with_8bit_body_and_boundary_inside),
        cmocka_unit_test(test_delay_warning),
        cmocka_unit_test(test_success_notice),
        cmocka_unit_test(test_failure_status_keeps_4xx_of_expired_mail_but_not_2xx),
        cmocka_unit_test(test_notify_filtering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
