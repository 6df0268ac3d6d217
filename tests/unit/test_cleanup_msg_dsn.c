/* test_cleanup_msg_dsn - the DSN side of cleanup's message processing:
 * QF_NOTIFY records bound to the next recipient, sendmail -N's dsn_notify
 * attribute as the default, NOTIFY and ORCPT inherited through canonical
 * rewriting and virtual alias expansion, duplicates keeping the first
 * recipient's, and the delay warning time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail/cleanup_msg.h"
#include "mail/cleanup_rewrite.h"
#include "mail/mail_proto.h"
#include "mail/queue_file.h"
#include "mail/smtp_cmd.h"

#include <limits.h>
#include <string.h>

#define QID     "0123456789BCDFGH"
#define ARRIVAL 1700000000

#define S SMTP_NOTIFY_SUCCESS
#define F SMTP_NOTIFY_FAILURE
#define D SMTP_NOTIFY_DELAY
#define N SMTP_NOTIFY_NEVER

static struct cleanup_msg_conf conf = {
    .myorigin = "origin.example",
    .myhostname = "host.example",
    .header_size_limit = 200,
    .header_count_limit = 20,
    .hopcount_limit = 2,
};

static int put(struct cleanup_msg *m, int type, const char *s)
{
    return cleanup_msg_record(m, type, s, strlen(s));
}

static void start(struct cleanup_msg *m, struct cleanup_rewrite *rw, long dwt, int flags)
{
    struct cleanup_msg_conf c = conf;
    c.rw = rw;
    c.delay_warning_time = dwt;
    cleanup_msg_init(m, &c, flags, QID, ARRIVAL);
    assert_int_equal(put(m, QF_SENDER, "s@x.example"), 0);
}

static struct cleanup_rewrite *rewriter(const char *canonical, const char *virtual_maps)
{
    struct cleanup_rewrite_conf c = {
        .canonical_maps = canonical,
        .canonical_classes = "envelope_sender, envelope_recipient, header_sender, header_recipient",
        .sender_canonical_classes = "envelope_sender, header_sender",
        .recipient_canonical_classes = "envelope_recipient, header_recipient",
        .masquerade_classes = "envelope_sender, header_sender, header_recipient",
        .virtual_alias_maps = virtual_maps,
        .virtual_alias_recursion_limit = 5,
        .virtual_alias_expansion_limit = 100,
        .propagate_unmatched_extensions = "canonical, virtual",
        .recipient_delimiter = "+",
        .mydestination = "origin.example",
        .myhostname = "host.example",
        .myorigin = "origin.example",
        .local_header_rewrite_clients = "permit_inet_interfaces",
        .inet_interfaces = "127.0.0.1",
    };
    struct buf why = BUF_INIT;
    struct cleanup_rewrite *r = cleanup_rewrite_create(&c, &why);
    if (r == NULL)
        fail_msg("cleanup_rewrite_create: %s", buf_cstr(&why));
    buf_free(&why);
    return r;
}

static void test_notify_record_applies_to_the_next_recipient_only(void **state)
{
    struct cleanup_msg m;
    start(&m, NULL, 0, 0);
    assert_int_equal(put(&m, QF_ORCPT, "rfc822;B@y.example"), 0);
    assert_int_equal(put(&m, QF_NOTIFY, "6"), 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "c@y.example"), 0);
    assert_int_equal(put(&m, QF_NOTIFY, "1"), 0);
    assert_int_equal(put(&m, QF_RCPT, "d@y.example"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.rcpts->argc, 3);
    assert_int_equal(m.notify[0], S | F);
    assert_string_equal(m.orcpts->argv[0], "rfc822;B@y.example");
    assert_int_equal(m.notify[1], 0);
    assert_int_equal(m.notify[2], N);
    assert_int_equal(m.warn_time, 0);
    cleanup_msg_free(&m);
}

static void test_bad_notify_records_are_refused(void **state)
{
    static const char *const bad[] = {"0", "16", "x", "", "3" /* NEVER|SUCCESS */, "01", NULL};
    struct cleanup_msg m;
    for (size_t i = 0; bad[i]; i++) {
        start(&m, NULL, 0, 0);
        if (put(&m, QF_NOTIFY, bad[i]) != CLEANUP_STAT_BAD)
            fail_msg("notify record \"%s\" was accepted", bad[i]);
        assert_string_equal(m.reason.data, "5.3.0 bad notify record");
        cleanup_msg_free(&m);
    }
    /* two in a row, a notify left over at the end, an ORCPT after it */
    start(&m, NULL, 0, 0);
    assert_int_equal(put(&m, QF_NOTIFY, "2"), 0);
    assert_int_equal(put(&m, QF_NOTIFY, "2"), CLEANUP_STAT_BAD);
    cleanup_msg_free(&m);
    start(&m, NULL, 0, 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(put(&m, QF_NOTIFY, "2"), 0);
    assert_int_equal(cleanup_msg_end(&m), CLEANUP_STAT_BAD);
    cleanup_msg_free(&m);
    start(&m, NULL, 0, 0);
    assert_int_equal(put(&m, QF_NOTIFY, "2"), 0);
    assert_int_equal(put(&m, QF_ORCPT, "rfc822;b@y.example"), CLEANUP_STAT_BAD);
    cleanup_msg_free(&m);
}

static void test_sendmail_notify_attribute_is_the_default(void **state)
{
    struct cleanup_msg m;
    start(&m, NULL, 0, CLEANUP_FLAG_EXTRACT_RCPT);
    assert_int_equal(put(&m, QF_ATTR, "dsn_notify=success,DELAY"), 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(put(&m, QF_NOTIFY, "4"), 0);
    assert_int_equal(put(&m, QF_RCPT, "c@y.example"), 0);
    assert_int_equal(put(&m, QF_CONTENT, "To: t@y.example\n\nbody\n"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.rcpts->argc, 3);
    assert_int_equal(m.notify[0], S | D);
    assert_int_equal(m.notify[1], F); /* its own record wins */
    assert_string_equal(m.rcpts->argv[2], "t@y.example");
    assert_int_equal(m.notify[2], S | D); /* extracted (-t) recipients too */
    /* not kept as an attribute: it travels as QF_NOTIFY */
    for (size_t i = 0; i < m.attrs->argc; i++)
        assert_null(strstr(m.attrs->argv[i], "dsn_notify"));
    cleanup_msg_free(&m);

    start(&m, NULL, 0, 0);
    assert_int_equal(put(&m, QF_ATTR, "dsn_notify=never"), 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.notify[0], N);
    cleanup_msg_free(&m);

    static const char *const bad[] = {"dsn_notify=",          "dsn_notify=NEVER,SUCCESS",
                                      "dsn_notify=SUCCESS,",  "dsn_notify=DELAY,DELAY",
                                      "dsn_notify=sometimes", NULL};
    for (size_t i = 0; bad[i]; i++) {
        start(&m, NULL, 0, 0);
        if (put(&m, QF_ATTR, bad[i]) != CLEANUP_STAT_BAD)
            fail_msg("\"%s\" was accepted", bad[i]);
        cleanup_msg_free(&m);
    }
}

static void test_expansion_and_canonical_inherit_notify_and_orcpt(void **state)
{
    struct cleanup_rewrite *r =
        rewriter("inline:{ old@v.example=new@v.example }",
                 "inline:{ {team@v.example = amy@v.example, bob@v.example} }");
    struct cleanup_msg m;
    start(&m, r, 0, 0);
    assert_int_equal(put(&m, QF_NOTIFY, "2"), 0);
    assert_int_equal(put(&m, QF_RCPT, "team@v.example"), 0);
    assert_int_equal(put(&m, QF_ORCPT, "rfc822;given@v.example"), 0);
    assert_int_equal(put(&m, QF_NOTIFY, "12"), 0);
    assert_int_equal(put(&m, QF_RCPT, "old@v.example"), 0);
    /* a duplicate of an expanded recipient, with another NOTIFY: the
     * first one stays, with its NOTIFY and original recipient */
    assert_int_equal(put(&m, QF_NOTIFY, "1"), 0);
    assert_int_equal(put(&m, QF_RCPT, "bob@v.example"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.rcpts->argc, 3);
    assert_string_equal(m.rcpts->argv[0], "amy@v.example");
    assert_string_equal(m.orcpts->argv[0], "team@v.example");
    assert_int_equal(m.notify[0], S);
    assert_string_equal(m.rcpts->argv[1], "bob@v.example");
    assert_string_equal(m.orcpts->argv[1], "team@v.example");
    assert_int_equal(m.notify[1], S);
    assert_string_equal(m.rcpts->argv[2], "new@v.example");
    assert_string_equal(m.orcpts->argv[2], "rfc822;given@v.example");
    assert_int_equal(m.notify[2], D | SMTP_NOTIFY_FAILURE);
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);
}

static void test_warn_time_is_arrival_plus_delay_warning_time(void **state)
{
    struct cleanup_msg m;
    start(&m, NULL, 4 * 3600, 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.warn_time, ARRIVAL + 4 * 3600);
    cleanup_msg_free(&m);

    /* no overflow with an absurd setting */
    start(&m, NULL, LONG_MAX, 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_true(m.warn_time == LLONG_MAX);
    char text[QF_WARN_LEN + 1];
    qf_warn_format(m.warn_time, text);
    assert_int_equal(strlen(text), QF_WARN_LEN);
    cleanup_msg_free(&m);
}

static void test_notify_words(void **state)
{
    int v = 0;
    assert_int_equal(cleanup_msg_notify_words("FAILURE,success", 15, &v), 0);
    assert_int_equal(v, S | F);
    assert_int_equal(cleanup_msg_notify_words("NEVER", 5, &v), 0);
    assert_int_equal(v, N);
    assert_int_equal(cleanup_msg_notify_words("NEVERX", 5, &v), 0); /* n bounds the text */
    assert_int_equal(cleanup_msg_notify_words(",DELAY", 6, &v), -1);
    assert_int_equal(cleanup_msg_notify_words("DELAY NEVER", 11, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_record_applies_to_the_next_recipient_only),
        cmocka_unit_test(test_bad_notify_records_are_refused),
        cmocka_unit_test(test_sendmail_notify_attribute_is_the_default),
        cmocka_unit_test(test_expansion_and_canonical_inherit_notify_and_orcpt),
        cmocka_unit_test(test_warn_time_is_arrival_plus_delay_warning_time),
        cmocka_unit_test(test_notify_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
