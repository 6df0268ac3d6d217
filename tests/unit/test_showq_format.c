/* test_showq_format - the mailq text listing and the postqueue -j JSON lines,
 * byte for byte, and the showq attribute records they are made from:
 * markers, the null sender, reason lines, escaping of hostile bytes, the
 * Kbytes trailer, and strict decoding of what showq sends. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/showq_format.h"

#define ID1 "1LP7X803SL00044L"
#define ID2 "1LP7X803SL00044M"
#define T0  1605952800 /* Sat Nov 21 10:00:00 2020 UTC */

/* Columns: 17 ID, 8 size, 19 arrival, single spaces between: recipients
 * start after 47 spaces. */
#define INDENT  "                                               "
#define HEADING "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"

static int setup_utc(void **state)
{
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static struct showq_msg msg(const char *queue, const char *id, int64_t size, const char *sender,
                            const struct showq_rcpt *r, size_t n)
{
    struct showq_msg m;
    memset(&m, 0, sizeof(m));
    m.queue_name = queue;
    m.queue_id = id;
    m.arrival = T0;
    m.size = size;
    m.sender = sender;
    m.rcpts = r;
    m.rcpt_count = n;
    return m;
}

/* text_of - the whole listing for messages ms[0..n). */
static char *text_of(const struct showq_msg *ms, size_t n)
{
    struct showq_text t;
    struct buf out = BUF_INIT;

    showq_text_init(&t);
    for (size_t i = 0; i < n; i++)
        showq_text_message(&t, &ms[i], &out);
    showq_text_end(&t, &out);
    return buf_steal(&out);
}

static void test_empty_queue_says_mail_queue_is_empty(void **state)
{
    char *s = text_of(NULL, 0);
    assert_string_equal(s, "Mail queue is empty\n");
    free(s);
}

static void test_one_message_listing_is_exact(void **state)
{
    struct showq_rcpt r[] = {{"bob@example.com", ""}, {"carol@example.org", ""}};
    struct showq_msg m = msg("incoming", ID1, 1234, "alice@example.com", r, 2);
    char *s = text_of(&m, 1);
    assert_string_equal(s, HEADING ID1 "      1234 Sat Nov 21 10:00:00 alice@example.com\n" INDENT
                                       "bob@example.com\n" INDENT "carol@example.org\n"
                                       "\n-- 1 Kbytes in 1 Request.\n");
    free(s);
}

static void test_active_and_hold_messages_are_marked(void **state)
{
    struct showq_rcpt r[] = {{"bob@example.com", ""}};
    struct showq_msg ms[] = {msg("active", ID1, 10, "a@x", r, 1),
                             msg("hold", ID2, 20, "b@x", r, 1)};
    char *s = text_of(ms, 2);
    assert_string_equal(s, HEADING ID1
                        "*       10 Sat Nov 21 10:00:00 a@x\n" INDENT "bob@example.com\n"
                        "\n" ID2 "!       20 Sat Nov 21 10:00:00 b@x\n" INDENT "bob@example.com\n"
                        "\n-- 0 Kbytes in 2 Requests.\n");
    free(s);
}

static void test_null_sender_is_shown_as_mailer_daemon(void **state)
{
    struct showq_rcpt r[] = {{"bob@example.com", ""}};
    struct showq_msg m = msg("deferred", ID1, 5, "", r, 1);
    struct buf out = BUF_INIT;
    struct showq_text t;

    showq_text_init(&t);
    showq_text_message(&t, &m, &out);
    assert_non_null(strstr(out.data, " Sat Nov 21 10:00:00 MAILER-DAEMON\n"));
    buf_reset(&out);
    showq_json_message(&m, &out);
    assert_non_null(strstr(out.data, "\"sender\": \"MAILER-DAEMON\""));
    buf_free(&out);
}

static void test_reason_line_only_where_the_reason_changes(void **state)
{
    struct showq_rcpt r[] = {{"a@x", "connect refused"},
                             {"b@x", "connect refused"},
                             {"c@x", "mailbox full"},
                             {"d@x", ""}};
    struct showq_msg m = msg("deferred", ID1, 2048, "s@x", r, 4);
    char pad15[80], pad12[80], pad18[80];
    char expect[2048];

    /* Right-aligned so that ")" lands in column 78: 76 - strlen spaces. */
    snprintf(pad15, sizeof(pad15), "%*s", 76 - 15, "");
    snprintf(pad12, sizeof(pad12), "%*s", 76 - 12, "");
    snprintf(pad18, sizeof(pad18), "%*s", 76 - 18, "");
    snprintf(expect, sizeof(expect),
             HEADING ID1 "      2048 Sat Nov 21 10:00:00 s@x\n"
                         "%s(connect refused)\n" INDENT "a@x\n" INDENT "b@x\n"
                         "%s(mailbox full)\n" INDENT "c@x\n"
                         "%s(reason unavailable)\n" INDENT "d@x\n"
                         "\n-- 2 Kbytes in 1 Request.\n",
             pad15, pad12, pad18);
    char *s = text_of(&m, 1);
    assert_string_equal(s, expect);
    free(s);
}

static void test_reason_longer_than_the_line_gets_no_padding(void **state)
{
    char reason[200];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = 0;
    struct showq_rcpt r[] = {{"a@x", reason}};
    struct showq_msg m = msg("deferred", ID1, 1, "s@x", r, 1);
    struct buf out = BUF_INIT;
    struct showq_text t;

    showq_text_init(&t);
    showq_text_message(&t, &m, &out);
    const char *line = strstr(out.data, "\n(r");
    assert_non_null(line);
    assert_int_equal(strlen(line + 1), 1 + 199 + 2 + 47 + 4); /* "(...)\n" + rcpt line */
    buf_free(&out);
}

static void test_long_addresses_are_printed_whole(void **state)
{
    char addr[400];
    memset(addr, 'x', 300);
    strcpy(addr + 300, "@example.com");
    struct showq_rcpt r[] = {{addr, ""}};
    struct showq_msg m = msg("incoming", ID1, 1, addr, r, 1);
    struct buf out = BUF_INIT, want = BUF_INIT;
    struct showq_text t;

    showq_text_init(&t);
    showq_text_message(&t, &m, &out);
    buf_printf(&want, HEADING ID1 "         1 Sat Nov 21 10:00:00 %s\n" INDENT "%s\n", addr, addr);
    assert_string_equal(out.data, want.data);
    buf_free(&out);
    buf_free(&want);
}

static void test_kbytes_are_truncated_like_postfix(void **state)
{
    struct showq_rcpt r[] = {{"a@x", ""}};
    struct showq_msg ms[] = {msg("incoming", ID1, 1023, "s@x", r, 1),
                             msg("incoming", ID2, 1024 + 1023, "s@x", r, 1)};
    char *s = text_of(ms, 1);
    assert_non_null(strstr(s, "\n-- 0 Kbytes in 1 Request.\n"));
    free(s);
    s = text_of(ms, 2);
    /* 1023 + 2047 = 3070 bytes: 2 Kbytes, not 3 */
    assert_non_null(strstr(s, "\n-- 2 Kbytes in 2 Requests.\n"));
    free(s);
}

static void test_arrival_pads_the_day_like_asctime(void **state)
{
    struct buf out = BUF_INIT;
    showq_arrival(&out, 1604221507); /* Sun Nov  1 09:05:07 2020 UTC */
    assert_string_equal(out.data, "Sun Nov  1 09:05:07");
    buf_reset(&out);
    showq_arrival(&out, -1);
    assert_string_equal(out.data, "??");
    buf_free(&out);
}

static void test_printable_replaces_control_and_invalid_bytes(void **state)
{
    struct buf out = BUF_INIT;
    /* ESC, CR, DEL, a C1 CSI (U+009B as UTF-8), a stray 0xff, an overlong
     * '/', a surrogate; kept: plain text and well-formed UTF-8. */
    showq_printable(&out, "a\x1b[31mb\rc\x7f"
                          "d\xc2\x9b"
                          "e\xff"
                          "f\xc0\xaf"
                          "g\xed\xa0\x80"
                          "h caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_string_equal(out.data,
                        "a?[31mb?c?d?e?f??g???h caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    buf_free(&out);
}

static void test_text_listing_never_prints_a_control_byte(void **state)
{
    struct showq_rcpt r[] = {{"evil\x1b]0;pwned\x07@x", "bad\x1b[2Jreason"}};
    struct showq_msg m = msg("deferred", ID1, 1, "s\x1b@x", r, 1);
    char *s = text_of(&m, 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        assert_true(*p == '\n' || (*p >= 0x20 && *p != 0x7f));
    assert_non_null(strstr(s, "(bad?[2Jreason)\n"));
    free(s);
}

static void test_json_string_escapes_quotes_backslashes_and_controls(void **state)
{
    struct buf out = BUF_INIT;
    showq_json_string(&out, "q\"b\\n\n t\t\b\f\r \x01\x1f\x7f"
                            "\xc2\x9b"
                            " caf\xc3\xa9 \xff!");
    assert_string_equal(out.data, "\"q\\\"b\\\\n\\n t\\t\\b\\f\\r \\u0001\\u001F\\u007F\\u009B caf"
                                  "\xc3\xa9 ?!\"");
    buf_free(&out);
}

static void test_json_message_is_exact(void **state)
{
    struct showq_rcpt r[] = {{"bob@example.com", ""}, {"a b@x", "host said \"no\""}};
    struct showq_msg m = msg("deferred", ID1, 4321, "alice@example.com", r, 2);
    struct buf out = BUF_INIT;

    showq_json_message(&m, &out);
    assert_string_equal(out.data, "{\"queue_name\": \"deferred\", \"queue_id\": \"" ID1 "\", "
                                  "\"arrival_time\": 1605952800, \"message_size\": 4321, "
                                  "\"force_expired\": false, \"sender\": \"alice@example.com\", "
                                  "\"recipients\": [{\"address\": \"bob@example.com\"}, "
                                  "{\"address\": \"\\\"a b\\\"@x\", \"delay_reason\": "
                                  "\"host said \\\"no\\\"\"}]}\n");
    buf_free(&out);
}

static void test_addresses_are_shown_in_external_form(void **state)
{
    struct buf out = BUF_INIT;
    showq_external(&out, "john doe@example.com");
    assert_string_equal(out.data, "\"john doe\"@example.com");
    buf_reset(&out);
    showq_external(&out, "");
    assert_string_equal(out.data, "MAILER-DAEMON");
    buf_free(&out);
}

static void test_encode_decode_round_trip(void **state)
{
    struct showq_rcpt r[] = {{"bob@example.com", ""}, {"carol@x", "later"}};
    struct showq_msg m = msg("hold", ID2, 77, "", r, 2), d;
    struct attr_list l;
    struct buf why = BUF_INIT;

    attr_list_init(&l);
    showq_encode(&m, &l);
    assert_int_equal(showq_decode(&l, &d, &why), 1);
    assert_string_equal(d.queue_name, "hold");
    assert_string_equal(d.queue_id, ID2);
    assert_int_equal(d.arrival, T0);
    assert_int_equal(d.size, 77);
    assert_string_equal(d.sender, "");
    assert_int_equal(d.rcpt_count, 2);
    assert_int_equal(d.rcpt_omitted, 0);
    assert_string_equal(d.rcpts[1].address, "carol@x");
    assert_string_equal(d.rcpts[1].reason, "later");
    assert_null(attr_get(&l, "rcpt_omitted"));
    showq_msg_release(&d);
    attr_list_free(&l);

    showq_encode_end(&l);
    assert_int_equal(showq_decode(&l, &d, &why), 0);
    attr_list_free(&l);
    buf_free(&why);
}

static void test_encode_bounds_recipients_and_counts_the_rest(void **state)
{
    size_t n = SHOWQ_RCPT_MAX + 100;
    struct showq_rcpt *r = calloc(n, sizeof(*r));
    for (size_t i = 0; i < n; i++)
        r[i] = (struct showq_rcpt){"x@y", ""};
    struct showq_msg m = msg("deferred", ID1, 1, "s@x", r, n), d;
    struct attr_list l;
    struct buf why = BUF_INIT, wire = BUF_INIT;

    attr_list_init(&l);
    showq_encode(&m, &l);
    assert_true(l.count <= ATTR_COUNT_MAX);
    attr_encode(&l, &wire); /* and it must go through the wire limits */
    struct attr_list back;
    size_t used;
    attr_list_init(&back);
    assert_int_equal(attr_decode(wire.data, wire.len, 0, &back, &used, &why), 1);
    assert_int_equal(showq_decode(&back, &d, &why), 1);
    assert_int_equal(d.rcpt_count, SHOWQ_RCPT_MAX);
    assert_int_equal(d.rcpt_omitted, 100);
    char *s = text_of(&d, 1);
    assert_non_null(strstr(s, INDENT "(100 more recipients not listed)\n"));
    free(s);
    buf_reset(&wire);
    showq_json_message(&d, &wire);
    assert_non_null(strstr(wire.data, "], \"recipients_omitted\": 100}\n"));
    showq_msg_release(&d);
    attr_list_free(&l);
    attr_list_free(&back);
    buf_free(&why);
    buf_free(&wire);
    free(r);
}

static void test_encode_bounds_the_bytes_of_huge_addresses(void **state)
{
    size_t big = 400000;
    char *addr = malloc(big + 1);
    memset(addr, 'a', big);
    addr[big] = 0;
    struct showq_rcpt r[] = {{addr, ""}, {addr, ""}, {addr, ""}, {addr, ""},
                             {addr, ""}, {addr, ""}, {addr, ""}};
    struct showq_msg m = msg("deferred", ID1, 1, "s@x", r, 7), d;
    struct attr_list l, back;
    struct buf why = BUF_INIT, wire = BUF_INIT;
    size_t used;

    attr_list_init(&l);
    attr_list_init(&back);
    showq_encode(&m, &l);
    attr_encode(&l, &wire);
    assert_true(wire.len < ATTR_SIZE_MAX);
    assert_int_equal(attr_decode(wire.data, wire.len, 0, &back, &used, &why), 1);
    assert_int_equal(showq_decode(&back, &d, &why), 1);
    assert_int_equal(d.rcpt_count + d.rcpt_omitted, 7);
    assert_true(d.rcpt_omitted > 0);
    showq_msg_release(&d);
    attr_list_free(&l);
    attr_list_free(&back);
    buf_free(&why);
    buf_free(&wire);
    free(addr);
}

/* decode_fails - a valid message changed by fn must be rejected. */
static void expect_rejected(void (*fn)(struct attr_list *), const char *why_part)
{
    struct showq_rcpt r[] = {{"bob@example.com", ""}};
    struct showq_msg m = msg("deferred", ID1, 1, "s@x", r, 1), d;
    struct attr_list l;
    struct buf why = BUF_INIT;

    attr_list_init(&l);
    showq_encode(&m, &l);
    fn(&l);
    assert_int_equal(showq_decode(&l, &d, &why), -1);
    if (strstr(why.data, why_part) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", why.data, why_part);
    attr_list_free(&l);
    buf_free(&why);
}

static void add_unknown(struct attr_list *l)
{
    attr_add_str(l, "surprise", "x");
}
static void bad_id(struct attr_list *l)
{
    free(l->v[1].val);
    l->v[1].val = strdup("../../etc/passwd");
}
static void negative_size(struct attr_list *l)
{
    l->v[3].num = -5;
}
static void too_many_rcpts(struct attr_list *l)
{
    l->v[5].num = SHOWQ_RCPT_MAX + 1;
}
static void missing_reason(struct attr_list *l)
{
    free(l->v[7].val);
    l->count--;
    attr_add_str(l, "reason_9", "");
}
static void unknown_queue(struct attr_list *l)
{
    free(l->v[0].val);
    l->v[0].val = strdup("maildrop/../x");
}
static void end_with_extra(struct attr_list *l)
{
    free(l->v[0].val);
    l->v[0].val = strdup("");
}

static void test_decode_rejects_malformed_messages(void **state)
{
    expect_rejected(add_unknown, "attributes where");
    expect_rejected(bad_id, "queue ID");
    expect_rejected(negative_size, "size");
    expect_rejected(too_many_rcpts, "rcpt_count");
    expect_rejected(missing_reason, "reason_0");
    expect_rejected(unknown_queue, "queue name");
    expect_rejected(end_with_extra, "end message");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_queue_says_mail_queue_is_empty),
        cmocka_unit_test(test_one_message_listing_is_exact),
        cmocka_unit_test(test_active_and_hold_messages_are_marked),
        cmocka_unit_test(test_null_sender_is_shown_as_mailer_daemon),
        cmocka_unit_test(test_reason_line_only_where_the_reason_changes),
        cmocka_unit_test(test_reason_longer_than_the_line_gets_no_padding),
        cmocka_unit_test(test_long_addresses_are_printed_whole),
        cmocka_unit_test(test_kbytes_are_truncated_like_postfix),
        cmocka_unit_test(test_arrival_pads_the_day_like_asctime),
        cmocka_unit_test(test_printable_replaces_control_and_invalid_bytes),
        cmocka_unit_test(test_text_listing_never_prints_a_control_byte),
        cmocka_unit_test(test_json_string_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(test_json_message_is_exact),
        cmocka_unit_test(test_addresses_are_shown_in_external_form),
        cmocka_unit_test(test_encode_decode_round_trip),
        cmocka_unit_test(test_encode_bounds_recipients_and_counts_the_rest),
        cmocka_unit_test(test_encode_bounds_the_bytes_of_huge_addresses),
        cmocka_unit_test(test_decode_rejects_malformed_messages),
    };
    return cmocka_run_group_tests(tests, setup_utc, NULL);
}
