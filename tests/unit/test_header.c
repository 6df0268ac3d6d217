/* test_header - the header section reader (folding, end of section, CRLF,
 * limits exactly at the boundary), the well-known header table, and the
 * Date / Message-ID values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mail/header.h"
#include "util/alloc.h"

#define MAXH 16

/* Feed msg line by line; collect headers; report the final status and the
 * offset of the first body line (or of the byte after the separator). */
struct run {
    enum header_status st;
    size_t nh;
    char *name[MAXH], *value[MAXH], *raw[MAXH];
    size_t body_off;
};

static void keep(struct run *res, const struct header *h)
{
    if (!h)
        return;
    assert_true(res->nh < MAXH);
    res->name[res->nh] = xstrdup(buf_cstr(&h->name));
    res->value[res->nh] = xstrdup(buf_cstr(&h->value));
    res->raw[res->nh] = xstrdup(buf_cstr(&h->raw));
    res->nh++;
}

static void run_msg(struct run *res, const char *msg, const struct header_limits *lim)
{
    struct header_reader *r = header_reader_create(lim);
    const struct header *h;
    size_t off = 0, len = strlen(msg);
    memset(res, 0, sizeof(*res));
    res->st = HEADER_MORE;
    while (off < len && res->st == HEADER_MORE) {
        const char *nl = memchr(msg + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (msg + off)) + 1 : len - off;
        res->st = header_reader_feed(r, msg + off, n, &h);
        keep(res, h);
        if (res->st == HEADER_END_BODY)
            break;
        off += n;
    }
    res->body_off = off;
    if (res->st == HEADER_MORE) {
        res->st = header_reader_eof(r, &h);
        keep(res, h);
    }
    header_reader_free(r);
}

static void run_free(struct run *res)
{
    for (size_t i = 0; i < res->nh; i++) {
        free(res->name[i]);
        free(res->value[i]);
        free(res->raw[i]);
    }
}

static const char folded_msg[] = "Received: from mx.example.org (mx.example.org [192.0.2.7])\n"
                                 "\tby mail.example.com with ESMTP id 4Tq\n"
                                 "\tfor <jdoe@example.com>; Sat, 21 Nov 2026 13:15:03 +0000\n"
                                 "From: Mary Smith <mary@x.test>\n"
                                 "Subject:   Hello\n"
                                 "  world\n"
                                 "\n"
                                 "Body line\n";

static void test_folded_headers_keep_raw_and_unfold_value(void **state)
{
    struct run r;
    run_msg(&r, folded_msg, NULL);
    assert_int_equal(r.st, HEADER_END_EMPTY);
    assert_int_equal(r.nh, 3);
    assert_string_equal(r.name[0], "Received");
    assert_string_equal(r.value[0], "from mx.example.org (mx.example.org [192.0.2.7])"
                                    "\tby mail.example.com with ESMTP id 4Tq"
                                    "\tfor <jdoe@example.com>; Sat, 21 Nov 2026 13:15:03 +0000");
    assert_string_equal(r.raw[0], "Received: from mx.example.org (mx.example.org [192.0.2.7])\n"
                                  "\tby mail.example.com with ESMTP id 4Tq\n"
                                  "\tfor <jdoe@example.com>; Sat, 21 Nov 2026 13:15:03 +0000");
    assert_string_equal(r.name[1], "From");
    assert_string_equal(r.value[1], "Mary Smith <mary@x.test>");
    assert_string_equal(r.value[2], "Hello  world");
    assert_string_equal(r.raw[2], "Subject:   Hello\n  world");
    /* the separator was consumed; the body follows it */
    assert_string_equal(folded_msg + r.body_off, "Body line\n");
    run_free(&r);
}

static void test_crlf_input_is_accepted_and_cr_removed(void **state)
{
    struct run r;
    run_msg(&r, "To: a@b.test,\r\n c@d.test\r\nX-Y: z\r\n\r\nbody\r\n", NULL);
    assert_int_equal(r.st, HEADER_END_EMPTY);
    assert_int_equal(r.nh, 2);
    assert_string_equal(r.value[0], "a@b.test, c@d.test");
    assert_string_equal(r.raw[0], "To: a@b.test,\n c@d.test");
    assert_string_equal(r.name[1], "X-Y");
    assert_string_equal(r.value[1], "z");
    run_free(&r);
}

static void test_resent_block_headers_are_seen_in_order(void **state)
{
    struct run r;
    run_msg(&r,
            "Resent-From: Mary Smith <mary@x.test>\n"
            "Resent-To: Jane Brown <j-brown@other.example>\n"
            "Resent-Date: Mon, 24 Nov 1997 14:22:01 -0800\n"
            "Resent-Message-ID: <78910@x.test>\n"
            "From: John Doe <jdoe@machine.example>\n"
            "\n",
            NULL);
    assert_int_equal(r.st, HEADER_END_EMPTY);
    assert_int_equal(r.nh, 5);
    assert_int_equal(header_lookup(r.name[0])->id, HDR_RESENT_FROM);
    assert_int_equal(header_lookup(r.name[1])->flags,
                     HDR_FL_ADDRESS | HDR_FL_RECIPIENT | HDR_FL_RESENT);
    assert_int_equal(header_lookup(r.name[3])->id, HDR_RESENT_MESSAGE_ID);
    assert_string_equal(r.value[3], "<78910@x.test>");
    assert_int_equal(header_lookup(r.name[4])->flags, HDR_FL_ADDRESS);
    run_free(&r);
}

static void test_line_without_colon_starts_the_body(void **state)
{
    static const char msg[] = "From: a@b\nSubject: x\nthis is body text\nTo: not@header\n";
    struct run r;
    run_msg(&r, msg, NULL);
    assert_int_equal(r.st, HEADER_END_BODY);
    assert_int_equal(r.nh, 2);
    assert_string_equal(r.name[1], "Subject");
    assert_string_equal(msg + r.body_off, "this is body text\nTo: not@header\n");
    run_free(&r);
}

static void test_invalid_field_names_start_the_body(void **state)
{
    struct run r;
    run_msg(&r, "Bad Name: x\n", NULL);
    assert_int_equal(r.st, HEADER_END_BODY);
    assert_int_equal(r.nh, 0);
    run_msg(&r, ": empty name\n", NULL);
    assert_int_equal(r.st, HEADER_END_BODY);
    run_msg(&r, "Caf\xc3\xa9: 8bit\n", NULL);
    assert_int_equal(r.st, HEADER_END_BODY);
    run_msg(&r, "From sender@example.com Sat Nov 21 13:15:03 2026\n", NULL);
    assert_int_equal(r.st, HEADER_END_BODY);
    /* a continuation line with nothing to continue */
    run_msg(&r, " folded: first\n", NULL);
    assert_int_equal(r.st, HEADER_END_BODY);
}

static void test_obsolete_space_before_colon_is_a_header(void **state)
{
    struct run r;
    run_msg(&r, "Subject\t : hi\n\n", NULL);
    assert_int_equal(r.st, HEADER_END_EMPTY);
    assert_int_equal(r.nh, 1);
    assert_string_equal(r.name[0], "Subject");
    assert_string_equal(r.value[0], "hi");
    assert_string_equal(r.raw[0], "Subject\t : hi");
    run_free(&r);
}

static void test_eof_in_headers_hands_out_last_header(void **state)
{
    struct run r;
    run_msg(&r, "Subject: a\n b", NULL);
    assert_int_equal(r.st, HEADER_END_EOF);
    assert_int_equal(r.nh, 1);
    assert_string_equal(r.value[0], "a b");
    run_free(&r);
}

static void test_total_size_limit_exact_boundary(void **state)
{
    /* "A: 1\n" + "B: 2\n" = 10 bytes; CRs are not counted */
    struct header_limits lim = {.max_total_bytes = 10};
    struct run r;
    run_msg(&r, "A: 1\r\nB: 2\r\n\r\n", &lim);
    assert_int_equal(r.st, HEADER_END_EMPTY);
    assert_int_equal(r.nh, 2);
    run_free(&r);
    lim.max_total_bytes = 9;
    run_msg(&r, "A: 1\nB: 2\n\n", &lim);
    assert_int_equal(r.st, HEADER_ERR_TOTAL_SIZE);
    run_free(&r);
}

static void test_header_size_limit_counts_folded_lines(void **state)
{
    /* "S: a\n b\n" = 8 bytes in one logical header */
    struct header_limits lim = {.max_header_bytes = 8};
    struct run r;
    run_msg(&r, "S: a\n b\nT: 1234\n\n", &lim);
    assert_int_equal(r.st, HEADER_END_EMPTY);
    assert_int_equal(r.nh, 2);
    run_free(&r);
    lim.max_header_bytes = 7;
    run_msg(&r, "S: a\n b\n\n", &lim);
    assert_int_equal(r.st, HEADER_ERR_HEADER_SIZE);
    run_free(&r);
    run_msg(&r, "T: 12345\n\n", &lim);
    assert_int_equal(r.st, HEADER_ERR_HEADER_SIZE);
    run_free(&r);
}

static void test_header_count_limit_exact_boundary(void **state)
{
    struct header_limits lim = {.max_headers = 2};
    struct run r;
    run_msg(&r, "A: 1\nB: 2\n continued\n\n", &lim);
    assert_int_equal(r.st, HEADER_END_EMPTY);
    run_free(&r);
    run_msg(&r, "A: 1\nB: 2\nC: 3\n\n", &lim);
    assert_int_equal(r.st, HEADER_ERR_COUNT);
    run_free(&r);
}

static void test_line_length_limit_exact_boundary(void **state)
{
    struct header_limits lim = {.max_line_length = 6};
    struct run r;
    run_msg(&r, "A: 123\r\n 45678\n\n", &lim);
    assert_int_equal(r.st, HEADER_END_EMPTY);
    run_free(&r);
    run_msg(&r, "A: 1234\n\n", &lim);
    assert_int_equal(r.st, HEADER_ERR_LINE_LENGTH);
    run_free(&r);
}

static void test_finished_reader_keeps_its_status(void **state)
{
    struct header_limits lim = {.max_headers = 1};
    struct header_reader *r = header_reader_create(&lim);
    const struct header *h;
    assert_int_equal(header_reader_feed(r, "A: 1\n", 5, &h), HEADER_MORE);
    assert_null(h);
    assert_int_equal(header_reader_feed(r, "B: 2\n", 5, &h), HEADER_ERR_COUNT);
    assert_int_equal(header_reader_feed(r, "\n", 1, &h), HEADER_ERR_COUNT);
    assert_null(h);
    assert_int_equal(header_reader_eof(r, &h), HEADER_ERR_COUNT);
    assert_int_equal(header_reader_count(r), 1);
    assert_int_equal(header_reader_bytes(r), 5);
    assert_string_equal(header_status_str(HEADER_ERR_COUNT), "too many message headers");
    header_reader_free(r);
}

static void test_name_comparison_is_case_insensitive(void **state)
{
    assert_true(header_name_is("resent-from", "Resent-From"));
    assert_true(header_name_is("RESENT-FROM", "Resent-From"));
    assert_false(header_name_is("Resent-Fro", "Resent-From"));
    assert_false(header_name_is("Resent-From2", "Resent-From"));
}

static void test_well_known_table_is_complete_and_indexed(void **state)
{
    static const char *const names[] = {"From",
                                        "Sender",
                                        "To",
                                        "Cc",
                                        "Bcc",
                                        "Date",
                                        "Message-ID",
                                        "Received",
                                        "Return-Path",
                                        "Delivered-To",
                                        "Resent-From",
                                        "Resent-Sender",
                                        "Resent-To",
                                        "Resent-Cc",
                                        "Resent-Bcc",
                                        "Resent-Date",
                                        "Resent-Message-ID",
                                        "Content-Type",
                                        "Content-Transfer-Encoding",
                                        "MIME-Version"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct header_info *hi = header_lookup(names[i]);
        assert_non_null(hi);
        assert_int_equal(hi->id, (int)i + 1);
        assert_ptr_equal(header_info_by_id(hi->id), hi);
    }
    assert_int_equal(header_lookup("message-id")->id, HDR_MESSAGE_ID);
    assert_null(header_lookup("X-Mailer"));
    assert_null(header_info_by_id(HDR_OTHER));
    assert_null(header_info_by_id((enum header_id)999));
    assert_true(header_lookup("bcc")->flags & HDR_FL_RECIPIENT);
    assert_false(header_lookup("From")->flags & HDR_FL_RECIPIENT);
    assert_int_equal(header_lookup("Mime-Version")->flags, HDR_FL_MIME);
}

static void test_date_format_in_utc_and_with_offset(void **state)
{
    struct buf b = BUF_INIT;
    setenv("TZ", "UTC", 1);
    tzset();
    header_date_format(&b, 1795266903); /* 2026-11-21 13:15:03 UTC */
    assert_string_equal(buf_cstr(&b), "Sat, 21 Nov 2026 13:15:03 +0000");
    setenv("TZ", "PST8PDT", 1);
    tzset();
    header_date_format(&b, 1795266903);
    assert_string_equal(buf_cstr(&b), "Sat, 21 Nov 2026 05:15:03 -0800");
    setenv("TZ", "Asia/Kolkata", 1);
    tzset();
    header_date_format(&b, 0);
    assert_string_equal(buf_cstr(&b), "Thu, 1 Jan 1970 05:30:00 +0530");
    setenv("TZ", "UTC", 1);
    tzset();
    header_date_now(&b);
    assert_int_equal(b.len, strlen("Sat, 21 Nov 2026 13:15:03 +0000") - (b.data[6] == ' '));
    buf_free(&b);
}

static void test_message_id_format(void **state)
{
    struct buf b = BUF_INIT, why = BUF_INIT;
    assert_int_equal(
        message_id_format(&b, 1795266903, "1LP7X803SL00044L", "mail.example.com", &why), 0);
    assert_string_equal(buf_cstr(&b), "<20261121131503.1LP7X803SL00044L@mail.example.com>");
    assert_int_equal(message_id_new(&b, "ABC", "host", &why), 0);
    assert_int_equal(b.len, strlen("<20261121131503.ABC@host>"));
    assert_int_equal(message_id_format(&b, 0, "A B", "host", &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "queue ID"));
    buf_reset(&why);
    assert_int_equal(message_id_format(&b, 0, "ABC", "host>\r\nX: y", &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "host name"));
    assert_int_equal(message_id_format(&b, 0, "ABC", "", &why), -1);
    assert_int_equal(message_id_format(&b, 0, "ABC", "a..b", &why), -1);
    buf_free(&b);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folded_headers_keep_raw_and_unfold_value),
        cmocka_unit_test(test_crlf_input_is_accepted_and_cr_removed),
        cmocka_unit_test(test_resent_block_headers_are_seen_in_order),
        cmocka_unit_test(test_line_without_colon_starts_the_body),
        cmocka_unit_test(test_invalid_field_names_start_the_body),
        cmocka_unit_test(test_obsolete_space_before_colon_is_a_header),
        cmocka_unit_test(test_eof_in_headers_hands_out_last_header),
        cmocka_unit_test(test_total_size_limit_exact_boundary),
        cmocka_unit_test(test_header_size_limit_counts_folded_lines),
        cmocka_unit_test(test_header_count_limit_exact_boundary),
        cmocka_unit_test(test_line_length_limit_exact_boundary),
        cmocka_unit_test(test_finished_reader_keeps_its_status),
        cmocka_unit_test(test_name_comparison_is_case_insensitive),
        cmocka_unit_test(test_well_known_table_is_complete_and_indexed),
        cmocka_unit_test(test_date_format_in_utc_and_with_offset),
        cmocka_unit_test(test_message_id_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
