/* test_deliver_request - the qmgr <-> delivery agent request and reply:
 * exact round trips over a socketpair, and every hostile variant refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "mail/attr.h"
#include "mail/deliver_request.h"
#include "mail/mail_proto.h"

static const char *ID = "0123456789BCDFGH";

static void pair(struct stream **a, struct stream **b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    *a = stream_open(sv[0], 5);
    *b = stream_open(sv[1], 5);
}

static void sample(struct deliver_request *r)
{
    deliver_request_init(r);
    memcpy(r->queue_id, ID, QUEUE_ID_LEN + 1);
    r->queue_dir = strdup("active");
    r->size = 1234;
    r->sender = strdup("");
    r->nexthop = strdup("test.example");
    r->arrival = 1700000000;
    r->flags = 0;
    deliver_request_add_rcpt(r, "amy@test.example", "Amy@Test.Example", 321);
    deliver_request_add_rcpt(r, "bob@test.example", NULL, 654);
    r->envid = strdup("QQ123+2Bx");
    r->ret = DELIVER_RET_HDRS;
    r->rcpt[0].notify = 0x02 | 0x04; /* SUCCESS,FAILURE */
}

static void test_request_round_trips_exactly(void **state)
{
    (void)state;
    struct stream *a, *b;
    struct deliver_request in, out;
    struct buf why = BUF_INIT;
    pair(&a, &b);
    sample(&in);
    assert_int_equal(deliver_request_write(a, &in), 0);
    deliver_request_init(&out);
    assert_int_equal(deliver_request_read(b, &out, &why), 0);
    assert_string_equal(out.queue_id, ID);
    assert_string_equal(out.queue_dir, "active");
    assert_int_equal(out.size, 1234);
    assert_string_equal(out.sender, "");
    assert_string_equal(out.nexthop, "test.example");
    assert_int_equal(out.arrival, 1700000000);
    assert_int_equal(out.rcpt_count, 2);
    assert_string_equal(out.rcpt[0].address, "amy@test.example");
    assert_string_equal(out.rcpt[0].orcpt, "Amy@Test.Example");
    assert_int_equal(out.rcpt[0].offset, 321);
    assert_string_equal(out.rcpt[1].orcpt, "");
    assert_int_equal(out.rcpt[1].offset, 654);
    assert_string_equal(out.envid, "QQ123+2Bx");
    assert_int_equal(out.ret, DELIVER_RET_HDRS);
    assert_int_equal(out.rcpt[0].notify, 0x06);
    assert_int_equal(out.rcpt[1].notify, 0);
    deliver_request_free(&in);
    deliver_request_free(&out);
    stream_close(a);
    stream_close(b);
    buf_free(&why);
}

/* send_raw - a hand-made request, for the hostile cases. */
static int read_raw(struct attr_list *l, struct buf *why)
{
    struct stream *a, *b;
    struct deliver_request out;
    pair(&a, &b);
    assert_int_equal(attr_write(a, l), 0);
    deliver_request_init(&out);
    int rc = deliver_request_read(b, &out, why);
    deliver_request_free(&out);
    stream_close(a);
    stream_close(b);
    return rc;
}

static void base(struct attr_list *l, const char *id, const char *dir, int64_t count)
{
    attr_list_init(l);
    attr_add_str(l, "queue_id", id);
    attr_add_str(l, "queue_dir", dir);
    attr_add_int(l, "size", 10);
    attr_add_str(l, "sender", "s@x");
    attr_add_str(l, "nexthop", "x");
    attr_add_int(l, "arrival", 1);
    attr_add_int(l, "flags", 0);
    attr_add_str(l, "envid", "");
    attr_add_int(l, "ret", 0);
    attr_add_int(l, "rcpt_count", count);
}

static void add_rcpt(struct attr_list *l, int i, const char *addr, int64_t off)
{
    char name[32];
    snprintf(name, sizeof(name), "rcpt_addr_%d", i);
    attr_add_str(l, name, addr);
    snprintf(name, sizeof(name), "rcpt_orcpt_%d", i);
    attr_add_str(l, name, "");
    snprintf(name, sizeof(name), "rcpt_offset_%d", i);
    attr_add_int(l, name, off);
    snprintf(name, sizeof(name), "rcpt_notify_%d", i);
    attr_add_int(l, name, 0);
}

static void test_hostile_requests_are_refused(void **state)
{
    (void)state;
    struct attr_list l;
    struct buf why = BUF_INIT;

    base(&l, ID, "active", 1);
    add_rcpt(&l, 0, "a@x", 5);
    assert_int_equal(read_raw(&l, &why), 0); /* the control case reads */
    attr_list_free(&l);

    base(&l, "../../etc/passwd", "active", 1);
    add_rcpt(&l, 0, "a@x", 5);
    assert_int_equal(read_raw(&l, &why), -1);
    assert_string_equal(buf_cstr(&why), "bad queue ID");
    attr_list_free(&l);

    base(&l, ID, "../active", 1);
    add_rcpt(&l, 0, "a@x", 5);
    assert_int_equal(read_raw(&l, &why), -1);
    assert_string_equal(buf_cstr(&why), "queue_dir must be active");
    attr_list_free(&l);

    base(&l, ID, "active", 1);
    add_rcpt(&l, 0, "a@x\nRCPT TO:<evil>", 5);
    assert_int_equal(read_raw(&l, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "rcpt_addr_0"));
    attr_list_free(&l);

    base(&l, ID, "active", 1);
    add_rcpt(&l, 0, "a@x", -5);
    assert_int_equal(read_raw(&l, &why), -1);
    assert_string_equal(buf_cstr(&why), "attribute rcpt_offset_0: negative");
    attr_list_free(&l);

    base(&l, ID, "active", 0);
    assert_int_equal(read_raw(&l, &why), -1);
    attr_list_free(&l);

    base(&l, ID, "active", DELIVER_RCPT_MAX + 1);
    assert_int_equal(read_raw(&l, &why), -1);
    attr_list_free(&l);

    /* count says 2, one recipient present */
    base(&l, ID, "active", 2);
    add_rcpt(&l, 0, "a@x", 5);
    assert_int_equal(read_raw(&l, &why), -1);
    attr_list_free(&l);

    /* an extra attribute */
    base(&l, ID, "active", 1);
    add_rcpt(&l, 0, "a@x", 5);
    attr_add_str(&l, "extra", "x");
    assert_int_equal(read_raw(&l, &why), -1);
    attr_list_free(&l);

    /* empty recipient */
    base(&l, ID, "active", 1);
    add_rcpt(&l, 0, "", 5);
    assert_int_equal(read_raw(&l, &why), -1);
    attr_list_free(&l);
    buf_free(&why);
}

static void test_reply_round_trips_and_reasons_are_cleaned(void **state)
{
    (void)state;
    struct stream *a, *b;
    struct deliver_request r;
    struct deliver_result res[2] = {{0}}, got[2] = {{0}};
    struct buf why = BUF_INIT;
    pair(&a, &b);
    sample(&r);
    deliver_result_set(&res[0], DELIVER_OK, "2.0.0", "delivered to %s", "mailbox");
    deliver_result_set(&res[1], DELIVER_BOUNCE, "5.1.1", "unknown user: \"%s\"\r\nX", "bob");
    assert_string_equal(res[1].reason, "unknown user: \"bob\"  X");
    int site_fail = -1;
    assert_int_equal(deliver_reply_write(a, &r, res, 1), 0);
    assert_int_equal(deliver_reply_read(b, 2, got, &site_fail, &why), 0);
    assert_int_equal(site_fail, 1);
    assert_int_equal(got[0].status, DELIVER_OK);
    assert_string_equal(got[0].dsn, "2.0.0");
    assert_string_equal(got[0].reason, "delivered to mailbox");
    assert_int_equal(got[1].status, DELIVER_BOUNCE);
    assert_string_equal(got[1].dsn, "5.1.1");
    deliver_result_free(res, 2);
    deliver_result_free(got, 2);
    deliver_request_free(&r);
    stream_close(a);
    stream_close(b);
    buf_free(&why);
}

static int reply_raw(int status, const char *dsn, size_t n)
{
    struct stream *a, *b;
    struct attr_list l;
    struct deliver_result got[1] = {{0}};
    struct buf why = BUF_INIT;
    pair(&a, &b);
    attr_list_init(&l);
    attr_add_int(&l, "status", 1);
    attr_add_int(&l, "rcpt_status_0", status);
    attr_add_str(&l, "rcpt_dsn_0", dsn);
    attr_add_str(&l, "rcpt_reason_0", "r");
    assert_int_equal(attr_write(a, &l), 0);
    int site_fail = -1;
    int rc = deliver_reply_read(b, n, got, &site_fail, &why);
    if (rc == 0)
        assert_int_equal(site_fail, 0); /* absent attribute */
    deliver_result_free(got, 1);
    attr_list_free(&l);
    stream_close(a);
    stream_close(b);
    buf_free(&why);
    return rc;
}

static void test_reply_with_inconsistent_codes_is_refused(void **state)
{
    (void)state;
    assert_int_equal(reply_raw(DELIVER_DEFER, "4.3.0", 1), 0);
    assert_int_equal(reply_raw(DELIVER_DEFER, "5.3.0", 1), -1); /* class vs status */
    assert_int_equal(reply_raw(DELIVER_OK, "2.0", 1), -1);
    assert_int_equal(reply_raw(DELIVER_OK, "2.0.0.0", 1), -1);
    assert_int_equal(reply_raw(DELIVER_OK, "2.1000.0", 1), -1);
    assert_int_equal(reply_raw(7, "2.0.0", 1), -1);
    assert_int_equal(reply_raw(DELIVER_OK, "2.0.0", 2), -1); /* a result missing */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trips_exactly),
        cmocka_unit_test(test_hostile_requests_are_refused),
        cmocka_unit_test(test_reply_round_trips_and_reasons_are_cleaned),
        cmocka_unit_test(test_reply_with_inconsistent_codes_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
