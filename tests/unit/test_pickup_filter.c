/* test_pickup_filter - which maildrop records pickup forwards, and which
 * files it refuses as not postdrop's. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mail/pickup_filter.h"
#include "mail/queue_file.h"

static int feed(struct pickup_filter *f, int type, const char *s, struct buf *why)
{
    return pickup_filter_record(f, type, s, strlen(s), why);
}

/* postdrop's own prefix: time and uid, both dropped */
static void start(struct pickup_filter *f, struct buf *why)
{
    pickup_filter_init(f, 0);
    assert_int_equal(feed(f, QF_TIME, "1700000000.000001", why), PICKUP_DROP);
    assert_int_equal(feed(f, QF_ATTR, "uid=1000", why), PICKUP_DROP);
}

static void test_well_formed_file_forwards_user_records(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    start(&f, &why);
    assert_int_equal(feed(&f, QF_ATTR, "sender_fullname=Alice", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_SENDER, "alice@example.com", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_RCPT, "bob@example.com", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_CONTENT, "Subject: x\n\nhi\n", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_END, "", &why), PICKUP_END);
    assert_int_equal(pickup_filter_extract(&f), 0);
    buf_free(&why);
}

static void test_extract_recipients_is_a_flag_not_a_record(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    start(&f, &why);
    assert_int_equal(feed(&f, QF_ATTR, "extract_recipients=1", &why), PICKUP_DROP);
    assert_int_equal(feed(&f, QF_SENDER, "", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_CONTENT, "To: bob@example.com\n\nhi\n", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_END, "", &why), PICKUP_END);
    assert_int_equal(pickup_filter_extract(&f), 1);
    buf_free(&why);
}

static void test_second_uid_attribute_is_rejected(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    start(&f, &why);
    assert_int_equal(feed(&f, QF_ATTR, "uid=0", &why), -1);
    assert_string_equal(buf_cstr(&why), "unexpected uid attribute");
    buf_free(&why);
}

static void test_uid_attribute_after_user_records_is_rejected(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    start(&f, &why);
    assert_int_equal(feed(&f, QF_SENDER, "alice@example.com", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_ATTR, "uid=0", &why), -1);
    buf_free(&why);
}

static void test_file_without_postdrop_prefix_is_rejected(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    pickup_filter_init(&f, 0);
    assert_int_equal(feed(&f, QF_SENDER, "alice@example.com", &why), -1);
    assert_string_equal(buf_cstr(&why), "no arrival time or uid record from postdrop");
    buf_free(&why);
}

static void test_unknown_attribute_is_rejected(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    start(&f, &why);
    assert_int_equal(feed(&f, QF_ATTR, "client_address=1.2.3.4", &why), -1);
    buf_free(&why);
}

static void test_queue_only_record_types_are_rejected(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    start(&f, &why);
    assert_int_equal(feed(&f, QF_SENDER, "a@example.com", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_DONE, "b@example.com", &why), -1);
    buf_free(&why);
}

static void test_missing_recipient_is_rejected_at_end(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    start(&f, &why);
    assert_int_equal(feed(&f, QF_SENDER, "a@example.com", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_END, "", &why), -1);
    assert_string_equal(buf_cstr(&why), "no recipients specified");
    buf_free(&why);
}

static void test_control_character_in_recipient_is_rejected(void **state)
{
    struct pickup_filter f;
    struct buf why = BUF_INIT;
    start(&f, &why);
    assert_int_equal(feed(&f, QF_SENDER, "a@example.com", &why), PICKUP_FORWARD);
    assert_int_equal(feed(&f, QF_RCPT, "b@example.com\tx", &why), -1);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed_file_forwards_user_records),
        cmocka_unit_test(test_extract_recipients_is_a_flag_not_a_record),
        cmocka_unit_test(test_second_uid_attribute_is_rejected),
        cmocka_unit_test(test_uid_attribute_after_user_records_is_rejected),
        cmocka_unit_test(test_file_without_postdrop_prefix_is_rejected),
        cmocka_unit_test(test_unknown_attribute_is_rejected),
        cmocka_unit_test(test_queue_only_record_types_are_rejected),
        cmocka_unit_test(test_missing_recipient_is_rejected_at_end),
        cmocka_unit_test(test_control_character_in_recipient_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
