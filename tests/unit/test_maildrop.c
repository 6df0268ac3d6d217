/* test_maildrop - the sendmail -> postdrop record stream: what a local user
 * may submit, and every way a hostile stream must be refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mail/maildrop.h"
#include "mail/queue_file.h"

/* A valid stream: sender, one recipient, content, end. */
static void good_stream(struct buf *s)
{
    maildrop_put_str(s, QF_SENDER, "alice@example.com");
    maildrop_put_str(s, QF_RCPT, "bob@example.com");
    maildrop_put_str(s, QF_CONTENT, "Subject: x\n\nhi\n");
    maildrop_put(s, QF_END, NULL, 0);
}

static int check(const struct buf *s, size_t limit, struct buf *why)
{
    return maildrop_validate(s->data, s->len, limit, why);
}

static void test_valid_stream_is_accepted(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_ATTR, "sender_fullname=Alice A.");
    maildrop_put_str(&s, QF_ATTR, "dsn_notify=SUCCESS,DELAY");
    maildrop_put_str(&s, QF_ATTR, "dsn_ret=HDRS");
    maildrop_put_str(&s, QF_ATTR, "dsn_envid=QQ314159 a=b+c");
    good_stream(&s);
    assert_int_equal(check(&s, 0, &why), 0);
    buf_free(&s);
    buf_free(&why);
}

static void test_record_framing_is_big_endian(void **state)
{
    struct buf s = BUF_INIT;
    maildrop_put_str(&s, QF_RCPT, "ab");
    assert_int_equal(s.len, 7);
    assert_memory_equal(s.data, "R\0\0\0\2ab", 7);
    buf_free(&s);
}

static void test_missing_end_record_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    good_stream(&s);
    s.len -= MAILDROP_HDR_LEN;
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "premature end of input: no end record");
    buf_free(&s);
    buf_free(&why);
}

static void test_truncated_record_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_SENDER, "alice@example.com");
    s.len -= 3;
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "premature end of input in a record");
    buf_free(&s);
    buf_free(&why);
}

static void test_time_record_from_user_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_TIME, "1.0");
    good_stream(&s);
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "record type 'T' is not allowed in submitted mail");
    buf_free(&s);
    buf_free(&why);
}

static void test_unknown_attribute_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_ATTR, "uid=0");
    good_stream(&s);
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "attribute \"uid\" is not allowed in submitted mail");
    buf_free(&s);
    buf_free(&why);
}

static void test_bad_attribute_values_are_rejected(void **state)
{
    char long_envid[128]; /* RFC 3461 4.4: at most 100 characters */
    snprintf(long_envid, sizeof(long_envid), "dsn_envid=%0101d", 7);
    const char *const bad[] = {
        "extract_recipients=2",
        "extract_recipients=",
        "dsn_ret=ALL",
        "dsn_notify=NEVER,DELAY",
        "dsn_notify=DELAY,DELAY",
        "dsn_notify=DELAY,",
        "dsn_notify=",
        "sender_fullname",
        "dsn_envid=",
        "dsn_envid=\x01x",
        "dsn_envid=caf\xc3\xa9",
        long_envid,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf s = BUF_INIT, why = BUF_INIT;
        maildrop_put_str(&s, QF_ATTR, bad[i]);
        good_stream(&s);
        if (check(&s, 0, &why) != -1)
            fail_msg("accepted %s", bad[i]);
        buf_free(&s);
        buf_free(&why);
    }
}

static void test_repeated_attribute_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_ATTR, "dsn_ret=FULL");
    maildrop_put_str(&s, QF_ATTR, "dsn_ret=FULL");
    good_stream(&s);
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "attribute dsn_ret given twice");
    buf_free(&s);
    buf_free(&why);
}

static void test_newline_in_recipient_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_SENDER, "a@b");
    maildrop_put_str(&s, QF_RCPT, "x@y\nR\0\0\0\1z");
    maildrop_put(&s, QF_END, NULL, 0);
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "envelope record contains a control character");
    buf_free(&s);
    buf_free(&why);
}

static void test_two_senders_are_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_SENDER, "a@b");
    good_stream(&s);
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "more than one sender record");
    buf_free(&s);
    buf_free(&why);
}

static void test_no_sender_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_RCPT, "b@c");
    maildrop_put(&s, QF_END, NULL, 0);
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "no sender record");
    buf_free(&s);
    buf_free(&why);
}

static void test_no_recipient_needs_extract_recipients(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_SENDER, "");
    maildrop_put(&s, QF_END, NULL, 0);
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "no recipients specified");
    buf_reset(&s);
    maildrop_put_str(&s, QF_ATTR, "extract_recipients=1");
    maildrop_put_str(&s, QF_SENDER, "");
    maildrop_put_str(&s, QF_CONTENT, "To: x@y\n\n");
    maildrop_put(&s, QF_END, NULL, 0);
    assert_int_equal(check(&s, 0, &why), 0);
    buf_free(&s);
    buf_free(&why);
}

static void test_envelope_after_content_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    maildrop_put_str(&s, QF_SENDER, "a@b");
    maildrop_put_str(&s, QF_CONTENT, "x\n");
    maildrop_put_str(&s, QF_RCPT, "b@c");
    maildrop_put(&s, QF_END, NULL, 0);
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "envelope record 'R' after the message content");
    buf_free(&s);
    buf_free(&why);
}

static void test_oversized_lengths_are_rejected_before_the_payload(void **state)
{
    struct maildrop_check c;
    struct buf why = BUF_INIT;
    int type;
    size_t len;
    const unsigned char huge_rcpt[MAILDROP_HDR_LEN] = {'R', 0, 0, 0x10, 0x01};
    const unsigned char huge_content[MAILDROP_HDR_LEN] = {'C', 0xff, 0xff, 0xff, 0xff};
    const unsigned char end_with_data[MAILDROP_HDR_LEN] = {'E', 0, 0, 0, 1};

    maildrop_check_init(&c, 0);
    assert_int_equal(maildrop_header(&c, huge_rcpt, &type, &len, &why), -1);
    assert_string_equal(why.data, "record 'R' of 4097 bytes exceeds the limit of 4096");
    assert_int_equal(maildrop_header(&c, huge_content, &type, &len, &why), -1);
    assert_string_equal(why.data,
                        "content record of 4294967295 bytes exceeds the limit of 1048576");
    assert_int_equal(maildrop_header(&c, end_with_data, &type, &len, &why), -1);
    assert_string_equal(why.data, "end record with a payload of 1 bytes");
    buf_free(&why);
}

static void test_message_size_limit_counts_all_payload(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    good_stream(&s);
    /* 17 + 15 + 15 payload bytes */
    assert_int_equal(check(&s, 47, &why), 0);
    assert_int_equal(check(&s, 46, &why), -1);
    assert_string_equal(why.data, "message file too big");
    buf_free(&s);
    buf_free(&why);
}

static void test_data_after_end_is_rejected(void **state)
{
    struct buf s = BUF_INIT, why = BUF_INIT;
    good_stream(&s);
    buf_putc(&s, 'x');
    assert_int_equal(check(&s, 0, &why), -1);
    assert_string_equal(why.data, "data after the end record");
    buf_free(&s);
    buf_free(&why);
}

static void test_garbage_is_rejected(void **state)
{
    struct buf why = BUF_INIT;
    const char *text = "From: me\nSubject: not records\n\nhello\n";
    assert_int_equal(maildrop_validate(text, strlen(text), 0, &why), -1);
    assert_string_equal(why.data, "record type 'F' is not allowed in submitted mail");
    buf_free(&why);
}

static void test_text_check_refuses_controls_and_allows_utf8(void **state)
{
    assert_int_equal(maildrop_text_ok("J\xc3\xbcrgen <j@x>", 13), 1);
    assert_int_equal(maildrop_text_ok("a\tb", 3), 0);
    assert_int_equal(maildrop_text_ok("a\x7f", 2), 0);
    assert_int_equal(maildrop_text_ok("a\0b", 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_stream_is_accepted),
        cmocka_unit_test(test_record_framing_is_big_endian),
        cmocka_unit_test(test_missing_end_record_is_rejected),
        cmocka_unit_test(test_truncated_record_is_rejected),
        cmocka_unit_test(test_time_record_from_user_is_rejected),
        cmocka_unit_test(test_unknown_attribute_is_rejected),
        cmocka_unit_test(test_bad_attribute_values_are_rejected),
        cmocka_unit_test(test_repeated_attribute_is_rejected),
        cmocka_unit_test(test_newline_in_recipient_is_rejected),
        cmocka_unit_test(test_two_senders_are_rejected),
        cmocka_unit_test(test_no_sender_is_rejected),
        cmocka_unit_test(test_no_recipient_needs_extract_recipients),
        cmocka_unit_test(test_envelope_after_content_is_rejected),
        cmocka_unit_test(test_oversized_lengths_are_rejected_before_the_payload),
        cmocka_unit_test(test_message_size_limit_counts_all_payload),
        cmocka_unit_test(test_data_after_end_is_rejected),
        cmocka_unit_test(test_garbage_is_rejected),
        cmocka_unit_test(test_text_check_refuses_controls_and_allows_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
