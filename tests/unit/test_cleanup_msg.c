/* test_cleanup_msg - cleanup's message processing: header fix-ups,
 * sendmail -t extraction, duplicates, qualification, limits, and the
 * address rewriting wired in (envelope, headers, temporary failures). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mail/cleanup_msg.h"
#include "mail/cleanup_rewrite.h"
#include "mail/mail_proto.h"
#include "mail/queue_file.h"

#include <string.h>

#define QID "0123456789BCDFGH"

static struct cleanup_msg_conf conf = {"origin.example", "host.example", 0, 200, 20, 2, NULL, 0};

static void start(struct cleanup_msg *m, int flags, const char *sender)
{
    cleanup_msg_init(m, &conf, flags, QID, 1700000000);
    assert_int_equal(cleanup_msg_record(m, QF_SENDER, sender, strlen(sender)), 0);
}

static int put(struct cleanup_msg *m, int type, const char *s)
{
    return cleanup_msg_record(m, type, s, strlen(s));
}

/* feed content in 3-byte chunks to exercise line reassembly */
static int content(struct cleanup_msg *m, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i += 3) {
        int rc = cleanup_msg_record(m, QF_CONTENT, s + i, n - i < 3 ? n - i : 3);
        if (rc)
            return rc;
    }
    return 0;
}

static void test_local_submit_adds_missing_headers(void **state)
{
    struct cleanup_msg m;
    start(&m, CLEANUP_FLAG_LOCAL_SUBMIT, "alice");
    assert_int_equal(put(&m, QF_ATTR, "uid=1000"), 0);
    assert_int_equal(put(&m, QF_ATTR, "sender_fullname=Alice Liddell"), 0);
    assert_int_equal(put(&m, QF_RCPT, "bob"), 0);
    assert_int_equal(content(&m, "Subject: hi\n\nbody line\n"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_string_equal(m.sender.data, "alice@origin.example");
    assert_string_equal(m.rcpts->argv[0], "bob@origin.example");
    const char *c = m.content.data;
    assert_true(strncmp(c, "Received: by host.example (Postern, from userid 1000)\n\tid " QID "; ",
                        strlen("Received: by host.example (Postern, from userid 1000)\n\tid " QID
                               "; ")) == 0);
    assert_non_null(strstr(c, "\nSubject: hi\nFrom: Alice Liddell <alice@origin.example>\nDate: "));
    assert_non_null(strstr(c, "\nMessage-Id: <"));
    assert_non_null(strstr(c, "." QID "@host.example>\n\nbody line\n"));
    assert_int_equal(m.message_id.data[0], '<');
    cleanup_msg_free(&m);
}

static void test_existing_headers_are_kept_not_duplicated(void **state)
{
    struct cleanup_msg m;
    start(&m, CLEANUP_FLAG_LOCAL_SUBMIT, "a@x.example");
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(content(&m, "From: Me <a@x.example>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
                                 "Message-ID: <abc@x>\n\nbody\n"),
                     0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    const char *c = strchr(m.content.data, '\n');
    c = strchr(c + 1, '\n') + 1; /* past the two-line Received header */
    assert_string_equal(c, "From: Me <a@x.example>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
                           "Message-ID: <abc@x>\n\nbody\n");
    assert_string_equal(m.message_id.data, "<abc@x>");
    cleanup_msg_free(&m);
}

static void test_without_local_submit_content_is_unchanged(void **state)
{
    struct cleanup_msg m;
    start(&m, 0, "");
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(content(&m, "Subject: x\n\nbody without newline"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_string_equal(m.sender.data, "");
    assert_string_equal(m.content.data, "Subject: x\n\nbody without newline");
    cleanup_msg_free(&m);
}

static void test_extract_takes_to_cc_bcc_and_removes_bcc(void **state)
{
    struct cleanup_msg m;
    start(&m, CLEANUP_FLAG_EXTRACT_RCPT, "a");
    assert_int_equal(content(&m,
                             "To: Bob <bob@y.example>, carol\nCc: dave@z.example\n"
                             "Bcc: eve@w.example,\n secret@w.example\nSubject: s\n\nBcc: body\n"),
                     0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.rcpts->argc, 5);
    assert_string_equal(m.rcpts->argv[0], "bob@y.example");
    assert_string_equal(m.rcpts->argv[1], "carol@origin.example");
    assert_string_equal(m.rcpts->argv[2], "dave@z.example");
    assert_string_equal(m.rcpts->argv[3], "eve@w.example");
    assert_string_equal(m.rcpts->argv[4], "secret@w.example");
    assert_string_equal(m.content.data, "To: Bob <bob@y.example>, carol\nCc: dave@z.example\n"
                                        "Subject: s\n\nBcc: body\n");
    cleanup_msg_free(&m);
}

static void test_extract_prefers_resent_block(void **state)
{
    struct cleanup_msg m;
    start(&m, CLEANUP_FLAG_EXTRACT_RCPT, "a@x.example");
    assert_int_equal(content(&m, "Resent-From: a@x.example\nResent-To: new@y.example\n"
                                 "Resent-Bcc: hidden@y.example\nTo: old@y.example\n\nb\n"),
                     0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.rcpts->argc, 2);
    assert_string_equal(m.rcpts->argv[0], "new@y.example");
    assert_string_equal(m.rcpts->argv[1], "hidden@y.example");
    assert_null(strstr(m.content.data, "Resent-Bcc"));
    assert_non_null(strstr(m.content.data, "To: old@y.example\n"));
    cleanup_msg_free(&m);
}

static void test_bcc_kept_without_extraction(void **state)
{
    struct cleanup_msg m;
    start(&m, 0, "a@x.example");
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(content(&m, "Bcc: c@y.example\n\nb\n"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.rcpts->argc, 1);
    assert_string_equal(m.content.data, "Bcc: c@y.example\n\nb\n");
    cleanup_msg_free(&m);
}

static void test_duplicate_recipients_are_removed_case_insensitive_domain(void **state)
{
    struct cleanup_msg m;
    start(&m, CLEANUP_FLAG_EXTRACT_RCPT, "a");
    assert_int_equal(put(&m, QF_RCPT, "Bob@Y.Example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "bob@y.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "carol"), 0);
    assert_int_equal(put(&m, QF_RCPT, "carol@ORIGIN.example"), 0);
    assert_int_equal(content(&m, "To: Bob@y.EXAMPLE, bob@y.example\n\n"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    /* the local part is case-sensitive: Bob and bob differ */
    assert_int_equal(m.rcpts->argc, 3);
    assert_string_equal(m.rcpts->argv[0], "Bob@Y.Example");
    assert_string_equal(m.rcpts->argv[1], "bob@y.example");
    assert_string_equal(m.rcpts->argv[2], "carol@origin.example");
    cleanup_msg_free(&m);
}

static void test_orcpt_is_attached_to_next_recipient(void **state)
{
    struct cleanup_msg m;
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_ORCPT, "rfc822;B@y.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "c@y.example"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_string_equal(m.orcpts->argv[0], "rfc822;B@y.example");
    assert_string_equal(m.orcpts->argv[1], "");
    cleanup_msg_free(&m);
}

static void test_no_recipients_is_rejected(void **state)
{
    struct cleanup_msg m;
    start(&m, CLEANUP_FLAG_EXTRACT_RCPT, "a");
    assert_int_equal(content(&m, "To: Undisclosed recipients:;\n\nb\n"), 0);
    assert_int_equal(cleanup_msg_end(&m), CLEANUP_STAT_RCPT);
    assert_string_equal(m.reason.data, "5.1.3 no recipients specified");
    cleanup_msg_free(&m);
}

static void test_message_size_limit_boundary(void **state)
{
    struct cleanup_msg_conf c = conf;
    c.message_size_limit = 10;
    struct cleanup_msg m;
    cleanup_msg_init(&m, &c, 0, QID, 0);
    assert_int_equal(put(&m, QF_SENDER, ""), 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, "A: b\n\n1234"), 0); /* exactly 10 */
    assert_int_equal(cleanup_msg_end(&m), 0);
    cleanup_msg_free(&m);

    cleanup_msg_init(&m, &c, 0, QID, 0);
    assert_int_equal(put(&m, QF_SENDER, ""), 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, "A: b\n\n12345"), CLEANUP_STAT_SIZE);
    assert_int_equal(cleanup_msg_end(&m), CLEANUP_STAT_SIZE);
    assert_string_equal(m.reason.data, "5.3.4 message file too big");
    cleanup_msg_free(&m);
}

static void test_header_size_limit_boundary(void **state)
{
    char hdr[256];
    struct cleanup_msg m;
    /* "X: " + 196 bytes + LF = 200 = header_size_limit */
    memset(hdr, 'a', sizeof(hdr));
    memcpy(hdr, "X: ", 3);
    hdr[199] = '\n';
    hdr[200] = '\0';
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, hdr), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    cleanup_msg_free(&m);

    hdr[199] = 'a';
    hdr[200] = '\n';
    hdr[201] = '\0';
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, hdr), CLEANUP_STAT_HDR);
    cleanup_msg_free(&m);
}

static void test_endless_header_line_is_rejected_before_buffering(void **state)
{
    char chunk[1000];
    struct cleanup_msg m;
    memset(chunk, 'a', sizeof(chunk));
    memcpy(chunk, "X: ", 3);
    start(&m, 0, "a");
    assert_int_equal(cleanup_msg_record(&m, QF_CONTENT, chunk, sizeof(chunk)), CLEANUP_STAT_HDR);
    assert_true(m.line.len <= 201);
    cleanup_msg_free(&m);
}

static void test_header_count_limit(void **state)
{
    struct cleanup_msg m;
    char buf[2048] = "";
    for (int i = 0; i < 20; i++)
        strcat(buf, "X: y\n");
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, buf), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    cleanup_msg_free(&m);
    strcat(buf, "X: y\n");
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, buf), CLEANUP_STAT_HDR);
    cleanup_msg_free(&m);
}

static void test_hopcount_limit(void **state)
{
    struct cleanup_msg m;
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, "Received: one\nReceived: two\n\nb\n"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    cleanup_msg_free(&m);
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, "Received: one\nReceived: two\nReceived: three\n\nb\n"),
                     CLEANUP_STAT_HOPS);
    assert_string_equal(m.reason.data, "5.4.6 too many hops");
    cleanup_msg_free(&m);
}

static void test_bad_input_is_rejected(void **state)
{
    struct cleanup_msg m;
    start(&m, 0, "a");
    assert_int_equal(cleanup_msg_record(&m, QF_CONTENT, "X: a\0b\n", 7), CLEANUP_STAT_BAD);
    cleanup_msg_free(&m);

    /* NUL in the body: refused with its own reason, in any chunk */
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(content(&m, "X: a\n\nfirst\n"), 0);
    assert_int_equal(cleanup_msg_record(&m, QF_CONTENT, "be\0fore\n", 8), CLEANUP_STAT_BAD);
    assert_string_equal(m.reason.data, "5.6.0 NUL character in message body");
    cleanup_msg_free(&m);

    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_SENDER, "b"), CLEANUP_STAT_BAD); /* twice */
    cleanup_msg_free(&m);

    start(&m, 0, "a");
    assert_int_equal(put(&m, 'Q', "x"), CLEANUP_STAT_BAD);
    cleanup_msg_free(&m);

    start(&m, 0, "a");
    assert_int_equal(cleanup_msg_record(&m, QF_RCPT, "b\n@y", 4), CLEANUP_STAT_BAD);
    cleanup_msg_free(&m);

    cleanup_msg_init(&m, &conf, 0, QID, 0); /* no sender at all */
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(cleanup_msg_end(&m), CLEANUP_STAT_BAD);
    cleanup_msg_free(&m);
}

static void test_unknown_attributes_are_dropped(void **state)
{
    struct cleanup_msg m;
    start(&m, 0, "a");
    assert_int_equal(put(&m, QF_ATTR, "bogus=1"), 0);
    assert_int_equal(put(&m, QF_ATTR, "dsn_ret=FULL"), 0);
    assert_int_equal(put(&m, QF_RCPT, "b@y"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.attrs->argc, 1);
    assert_string_equal(m.attrs->argv[0], "dsn_ret=FULL");
    cleanup_msg_free(&m);
}

/* ---- address rewriting (cleanup_rewrite) ---------------------------------- */

static struct cleanup_rewrite *rewriter(const char *canonical, const char *virtual_maps,
                                        const char *masq)
{
    struct cleanup_rewrite_conf c = {
        .canonical_maps = canonical,
        .canonical_classes = "envelope_sender, envelope_recipient, header_sender, header_recipient",
        .sender_canonical_classes = "envelope_sender, header_sender",
        .recipient_canonical_classes = "envelope_recipient, header_recipient",
        .masquerade_domains = masq,
        .masquerade_exceptions = "root",
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

static void start_rw(struct cleanup_msg *m, struct cleanup_rewrite *r, int flags)
{
    struct cleanup_msg_conf c = conf;
    c.rw = r;
    cleanup_msg_init(m, &c, flags, QID, 1700000000);
}

static void test_envelope_sender_is_canonicalized_and_masqueraded(void **state)
{
    struct cleanup_rewrite *r =
        rewriter("inline:{ amy@origin.example=Amy.Lee@h.example.com }", "", "example.com");
    struct cleanup_msg m;
    start_rw(&m, r, 0);
    assert_int_equal(put(&m, QF_SENDER, "amy"), 0);
    assert_int_equal(put(&m, QF_RCPT, "bob@elsewhere.example"), 0);
    assert_int_equal(content(&m, "Subject: x\n\nbody\n"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_string_equal(m.sender.data, "Amy.Lee@example.com");
    cleanup_msg_free(&m);

    start_rw(&m, r, 0);
    assert_int_equal(put(&m, QF_SENDER, "root@h.example.com"), 0);
    assert_int_equal(put(&m, QF_RCPT, "bob@elsewhere.example"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_string_equal(m.sender.data, "root@h.example.com");
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);
}

static void test_recipients_expand_through_virtual_aliases(void **state)
{
    struct cleanup_rewrite *r = rewriter("",
                                         "inline:{ {team@v.example = amy@v.example, "
                                         "bob@v.example}, @catch.example=cat@v.example }",
                                         "");
    struct cleanup_msg m;
    start_rw(&m, r, 0);
    assert_int_equal(put(&m, QF_SENDER, "s@x.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "team@v.example"), 0);
    assert_int_equal(put(&m, QF_ORCPT, "rfc822;given@v.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "who@catch.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "bob@v.example"), 0); /* a duplicate after expansion */
    assert_int_equal(put(&m, QF_RCPT, "dan@x.example"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.rcpts->argc, 4);
    assert_string_equal(m.rcpts->argv[0], "amy@v.example");
    assert_string_equal(m.orcpts->argv[0], "team@v.example");
    assert_string_equal(m.rcpts->argv[1], "bob@v.example");
    assert_string_equal(m.orcpts->argv[1], "team@v.example");
    assert_string_equal(m.rcpts->argv[2], "cat@v.example");
    assert_string_equal(m.orcpts->argv[2], "rfc822;given@v.example");
    assert_string_equal(m.rcpts->argv[3], "dan@x.example");
    assert_string_equal(m.orcpts->argv[3], ""); /* unchanged: no original recipient */
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);
}

static void test_local_headers_are_qualified_and_rewritten(void **state)
{
    struct cleanup_rewrite *r =
        rewriter("inline:{ amy@origin.example=Amy.Lee@h.example.com }",
                 "inline:{ bob@origin.example=robert@elsewhere.example }", "example.com");
    struct cleanup_msg m;
    start_rw(&m, r, CLEANUP_FLAG_LOCAL_SUBMIT);
    assert_int_equal(put(&m, QF_SENDER, "amy"), 0);
    assert_int_equal(put(&m, QF_RCPT, "bob"), 0);
    assert_int_equal(content(&m, "From: Amy <amy>\nTo: bob,\n  \"C. Cat\" <cat@h.example.com>\n"
                                 "Reply-To: root@h.example.com\nSubject: amy\nDate: x\n"
                                 "Message-ID: <a@b>\n\nbody amy\n"),
                     0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_string_equal(m.rcpts->argv[0], "robert@elsewhere.example");
    const char *c = strstr(m.content.data, "\nFrom: ");
    assert_non_null(c);
    assert_string_equal(c, "\nFrom: Amy <Amy.Lee@example.com>\n"
                           "To: bob@origin.example,\n  \"C. Cat\" <cat@example.com>\n"
                           "Reply-To: root@h.example.com\nSubject: amy\nDate: x\n"
                           "Message-ID: <a@b>\n\nbody amy\n");
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);
}

static void test_remote_headers_are_left_alone(void **state)
{
    struct cleanup_rewrite *r =
        rewriter("inline:{ amy@origin.example=Amy.Lee@corp.example }", "", "example.com");
    const char *hdrs = "From: amy\nTo: x@h.example.com\n\nbody\n";
    struct cleanup_msg m;
    start_rw(&m, r, 0);
    assert_int_equal(put(&m, QF_ATTR, "client_address=192.0.2.1"), 0);
    assert_int_equal(put(&m, QF_SENDER, "amy@origin.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "x@y.example"), 0);
    assert_int_equal(content(&m, hdrs), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_string_equal(m.content.data, hdrs);
    /* the envelope is rewritten whoever the client is */
    assert_string_equal(m.sender.data, "Amy.Lee@corp.example");
    cleanup_msg_free(&m);

    /* a loopback client is local under permit_inet_interfaces */
    start_rw(&m, r, 0);
    assert_int_equal(put(&m, QF_ATTR, "client_address=127.0.0.1"), 0);
    assert_int_equal(put(&m, QF_SENDER, "amy@origin.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "x@y.example"), 0);
    assert_int_equal(content(&m, hdrs), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_string_equal(m.content.data, "From: Amy.Lee@corp.example\nTo: x@example.com\n\nbody\n");
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);
}

static void test_extracted_recipients_are_rewritten(void **state)
{
    struct cleanup_rewrite *r = rewriter("", "inline:{ team@origin.example=amy@v.example }", "");
    struct cleanup_msg m;
    start_rw(&m, r, CLEANUP_FLAG_EXTRACT_RCPT | CLEANUP_FLAG_LOCAL_SUBMIT);
    assert_int_equal(put(&m, QF_SENDER, "s"), 0);
    assert_int_equal(content(&m, "To: team\n\nbody\n"), 0);
    assert_int_equal(cleanup_msg_end(&m), 0);
    assert_int_equal(m.rcpts->argc, 1);
    assert_string_equal(m.rcpts->argv[0], "amy@v.example");
    assert_non_null(strstr(m.content.data, "\nTo: team@origin.example\n"));
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);
}

static void test_table_failure_is_a_temporary_rejection(void **state)
{
    struct cleanup_rewrite *r = rewriter("", "fail:down", "");
    struct cleanup_msg m;
    start_rw(&m, r, 0);
    assert_int_equal(put(&m, QF_SENDER, "s@x.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "u@example.com"), CLEANUP_STAT_DEFER);
    /* later records are ignored; the status stays */
    assert_int_equal(content(&m, "Subject: x\n\nbody\n"), CLEANUP_STAT_DEFER);
    assert_int_equal(cleanup_msg_end(&m), CLEANUP_STAT_DEFER);
    assert_true(strncmp(m.reason.data, "4.3.0 ", 6) == 0);
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);

    r = rewriter("fail:down", "", "");
    start_rw(&m, r, CLEANUP_FLAG_LOCAL_SUBMIT);
    assert_int_equal(put(&m, QF_SENDER, ""), 0); /* the null sender needs no lookup */
    assert_int_equal(put(&m, QF_RCPT, "u@example.com"), CLEANUP_STAT_DEFER);
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);
}

static void test_alias_nesting_limit_defers(void **state)
{
    struct cleanup_rewrite *r =
        rewriter("", "inline:{ a@x=b@x, b@x=c@x, c@x=d@x, d@x=e@x, e@x=f@x, f@x=g@x }", "");
    struct cleanup_msg m;
    start_rw(&m, r, 0);
    assert_int_equal(put(&m, QF_SENDER, "s@x.example"), 0);
    assert_int_equal(put(&m, QF_RCPT, "a@x"), CLEANUP_STAT_DEFER);
    assert_string_equal(m.reason.data, "4.6.0 Alias expansion error");
    cleanup_msg_free(&m);
    cleanup_rewrite_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_submit_adds_missing_headers),
        cmocka_unit_test(test_existing_headers_are_kept_not_duplicated),
        cmocka_unit_test(test_without_local_submit_content_is_unchanged),
        cmocka_unit_test(test_extract_takes_to_cc_bcc_and_removes_bcc),
        cmocka_unit_test(test_extract_prefers_resent_block),
        cmocka_unit_test(test_bcc_kept_without_extraction),
        cmocka_unit_test(test_duplicate_recipients_are_removed_case_insensitive_domain),
        cmocka_unit_test(test_orcpt_is_attached_to_next_recipient),
        cmocka_unit_test(test_no_recipients_is_rejected),
        cmocka_unit_test(test_message_size_limit_boundary),
        cmocka_unit_test(test_header_size_limit_boundary),
        cmocka_unit_test(test_endless_header_line_is_rejected_before_buffering),
        cmocka_unit_test(test_header_count_limit),
        cmocka_unit_test(test_hopcount_limit),
        cmocka_unit_test(test_bad_input_is_rejected),
        cmocka_unit_test(test_unknown_attributes_are_dropped),
        cmocka_unit_test(test_envelope_sender_is_canonicalized_and_masqueraded),
        cmocka_unit_test(test_recipients_expand_through_virtual_aliases),
        cmocka_unit_test(test_local_headers_are_qualified_and_rewritten),
        cmocka_unit_test(test_remote_headers_are_left_alone),
        cmocka_unit_test(test_extracted_recipients_are_rewritten),
        cmocka_unit_test(test_table_failure_is_a_temporary_rejection),
        cmocka_unit_test(test_alias_nesting_limit_defers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
