/* test_addr - address-list parsing (RFC 5322 appendix A examples, groups,
 * comments, routes, bounds), local-part quoting round trips, qualification,
 * extension splitting and domain folding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mail/addr.h"
#include "util/alloc.h"

/* Parse s; the result must equal the NULL-terminated list `want`. */
static void expect_list(const char *s, const char *const *want)
{
    struct argv *out = argv_alloc();
    struct buf why = BUF_INIT;
    size_t n = 0;
    while (want[n])
        n++;
    int r = addr_list_parse(s, strlen(s), out, &why);
    if (r < 0)
        fail_msg("parse of [%s] failed: %s", s, buf_cstr(&why));
    assert_int_equal(r, n);
    assert_int_equal(out->argc, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(out->argv[i], want[i]);
    argv_free(out);
    buf_free(&why);
}

/* Parse s; it must fail, leave the list untouched, and say why. */
static void expect_error(const char *s, size_t len, const char *why_part)
{
    struct argv *out = argv_alloc();
    struct buf why = BUF_INIT;
    argv_add(out, "keep");
    assert_int_equal(addr_list_parse(s, len, out, &why), -1);
    assert_int_equal(out->argc, 1);
    if (strstr(buf_cstr(&why), why_part) == NULL)
        fail_msg("reason [%s] lacks [%s]", buf_cstr(&why), why_part);
    argv_free(out);
    buf_free(&why);
}

static void test_rfc5322_a12_mixed_mailboxes(void **state)
{
    static const char *const want[] = {"mary@x.test", "jdoe@example.org", "one@y.test", NULL};
    expect_list("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>", want);
}

static void test_rfc5322_a12_quoted_display_name(void **state)
{
    static const char *const want[] = {"boss@nil.test", "sysservices@example.net", NULL};
    expect_list("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>", want);
}

static void test_rfc5322_a13_group_members_are_kept(void **state)
{
    static const char *const want[] = {"c@a.test", "joe@where.test", "jdoe@one.test", NULL};
    expect_list("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", want);
}

static void test_empty_group_gives_no_addresses(void **state)
{
    static const char *const none[] = {NULL};
    expect_list("Undisclosed recipients:;", none);
    static const char *const one[] = {"a@b.test", NULL};
    expect_list("undisclosed-recipients:;, a@b.test", one);
}

static void test_rfc5322_a5_nested_comments_are_dropped(void **state)
{
    static const char *const want[] = {"pete@silly.test", NULL};
    expect_list("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", want);
    static const char *const want2[] = {"c@public.example", "joe@example.org", "jdoe@one.test",
                                        NULL};
    expect_list("A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
                "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end)",
                want2);
}

static void test_obsolete_route_is_stripped(void **state)
{
    static const char *const want[] = {"user@c.test", NULL};
    expect_list("Someone <@a.test,@b.test:user@c.test>", want);
}

static void test_quoted_local_part_becomes_internal_form(void **state)
{
    static const char *const want[] = {"a b@x.test", "q\"uote@x.test", NULL};
    expect_list("\"a b\"@x.test, <\"q\\\"uote\"@x.test>", want);
}

static void test_obs_local_part_with_spaces_around_dots(void **state)
{
    static const char *const want[] = {"john.q.public@example.com", "x@[192.0.2.1]",
                                       "y@[IPv6:2001:db8::1]", NULL};
    expect_list("john . q. public @ example.com, x@[192.0.2.1], y@[IPv6:2001:db8::1]", want);
}

static void test_null_angle_address_and_empty_elements(void **state)
{
    static const char *const want[] = {"", "a@b", "user", NULL};
    expect_list("<>, , a@b,, user,", want);
}

/* Internal form would be "a@b", i.e. domain b: a local address must not
 * turn into a remote one. */
static void test_quoted_at_in_local_part_needs_a_domain(void **state)
{
    expect_error("\"victim@remote.test\"", 20, "'@' in a local part without a domain");
    expect_error("X <\"a@b\">", 9, "'@' in a local part without a domain");
    static const char *const want[] = {"a@b@x", NULL};
    expect_list("\"a@b\"@x", want);
}

static void test_malformed_lists_are_rejected_with_reason(void **state)
{
    expect_error("John Doe", 8, "missing '.' or '@'");
    expect_error("<a@b", 4, "missing '>'");
    expect_error("a@b>", 4, "'>' without '<'");
    expect_error("<a<b>>", 6, "nested '<'");
    expect_error("\"open@x", 7, "unterminated quoted string");
    expect_error("(open a@b", 9, "unterminated comment");
    expect_error("a@@b", 4, "more than one '@'");
    expect_error("a@", 2, "missing domain");
    expect_error("a@b..c", 6, "empty label");
    expect_error("<a@b> trailing", 14, "text after '>'");
    expect_error("A:B:c@d;;", 9, "group inside a group");
    expect_error("<@a.test:>", 10, "route without address");
    expect_error("x@[a@b]", 7, "invalid character in domain literal");
    expect_error("x@[\\\"]", 7, "invalid character in domain literal");
    expect_error("x@[a[b]", 7, "invalid character in domain literal");
}

static void test_nul_cr_lf_never_reach_an_address(void **state)
{
    expect_error("a\0b@x", 5, "control character");
    expect_error("\"a\nb\"@x", 7, "NUL, CR or LF");
    expect_error("\"a\\\rb\"@x", 8, "NUL, CR or LF");
    expect_error("x@[1.2\n]", 8, "NUL, CR or LF");
    /* outside quoted strings a line break is folding white space */
    static const char *const want[] = {"a@b", "c@d", NULL};
    expect_list("a@b,\r\n c@d", want);
}

static void test_address_count_bound(void **state)
{
    struct buf s = BUF_INIT;
    for (int i = 0; i < ADDR_LIST_MAX; i++)
        buf_printf(&s, "%su%d@x", i ? "," : "", i);
    struct argv *out = argv_alloc();
    struct buf why = BUF_INIT;
    assert_int_equal(addr_list_parse(s.data, s.len, out, &why), ADDR_LIST_MAX);
    assert_string_equal(out->argv[ADDR_LIST_MAX - 1], "u999@x");
    buf_puts(&s, ",one@more");
    expect_error(s.data, s.len, "more than 1000 addresses");
    argv_free(out);
    buf_free(&why);
    buf_free(&s);
}

static void test_address_length_bound(void **state)
{
    char big[ADDR_MAX_BYTES + 8];
    memset(big, 'a', sizeof(big));
    /* exactly ADDR_MAX_BYTES: "aaa...@x" */
    memcpy(big + ADDR_MAX_BYTES - 2, "@x", 2);
    struct argv *out = argv_alloc();
    struct buf why = BUF_INIT;
    assert_int_equal(addr_list_parse(big, ADDR_MAX_BYTES, out, &why), 1);
    assert_int_equal(strlen(out->argv[0]), ADDR_MAX_BYTES);
    memset(big, 'a', sizeof(big));
    memcpy(big + ADDR_MAX_BYTES - 1, "@x", 2);
    expect_error(big, ADDR_MAX_BYTES + 1, "longer than 1024");
    argv_free(out);
    buf_free(&why);
}

static void check_quote(const char *internal, const char *external)
{
    struct buf out = BUF_INIT, back = BUF_INIT, why = BUF_INIT;
    assert_int_equal(addr_quote_local(internal, &out, &why), 0);
    assert_string_equal(buf_cstr(&out), external);
    assert_int_equal(addr_unquote(buf_cstr(&out), &back, &why), 0);
    assert_string_equal(buf_cstr(&back), internal);
    buf_free(&out);
    buf_free(&back);
    buf_free(&why);
}

static void test_quote_local_round_trips(void **state)
{
    check_quote("user@example.com", "user@example.com");
    check_quote("first.last@x", "first.last@x");
    check_quote("a b@x", "\"a b\"@x");
    check_quote("a@b@x", "\"a@b\"@x");
    check_quote("q\"t\\s@x", "\"q\\\"t\\\\s\"@x");
    check_quote(".lead@x", "\".lead\"@x");
    check_quote("dou..ble@x", "\"dou..ble\"@x");
    check_quote("@x", "\"\"@x");
    check_quote("", "");
    check_quote("no domain", "\"no domain\"");
}

static void test_unquote_rejects_bad_input(void **state)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(addr_unquote("\"open@x", &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "unterminated"));
    assert_int_equal(addr_unquote("a\r\n@x", &out, &why), -1);
    assert_int_equal(addr_quote_local("a\nb@x", &out, &why), -1);
    assert_int_equal(addr_unquote("\"a\\\"b\".c@x", &out, &why), 0);
    assert_string_equal(buf_cstr(&out), "a\"b.c@x");
    buf_free(&out);
    buf_free(&why);
}

static void test_qualify(void **state)
{
    struct buf out = BUF_INIT;
    addr_qualify("user", "example.com", &out);
    assert_string_equal(buf_cstr(&out), "user@example.com");
    addr_qualify("user@other.org", "example.com", &out);
    assert_string_equal(buf_cstr(&out), "user@other.org");
    addr_qualify("", "example.com", &out);
    assert_string_equal(buf_cstr(&out), "");
    buf_free(&out);
}

static void check_split(const char *addr, const char *delims, int split, const char *u,
                        const char *e, const char *d)
{
    struct buf user = BUF_INIT, ext = BUF_INIT, dom = BUF_INIT;
    assert_int_equal(addr_split_ext(addr, delims, &user, &ext, &dom), split);
    assert_string_equal(buf_cstr(&user), u);
    assert_string_equal(buf_cstr(&ext), e);
    assert_string_equal(buf_cstr(&dom), d);
    buf_free(&user);
    buf_free(&ext);
    buf_free(&dom);
}

static void test_split_ext(void **state)
{
    check_split("user+ext@example.com", "+", 1, "user", "ext", "example.com");
    check_split("user+a+b@x", "+", 1, "user", "a+b", "x");
    check_split("user@x", "+", 0, "user", "", "x");
    check_split("user+ext", "+", 1, "user", "ext", "");
    check_split("user+@x", "+", 1, "user", "", "x");
    check_split("user+ext@x", "", 0, "user+ext", "", "x");
    check_split("user+ext@x", NULL, 0, "user+ext", "", "x");
}

static void test_split_ext_first_of_several_delimiters(void **state)
{
    check_split("user-a+b@x", "+-", 1, "user", "a+b", "x");
    check_split("user+a-b@x", "+-", 1, "user", "a-b", "x");
    check_split("u=v@x", "+-=", 1, "u", "v", "x");
}

static void test_split_ext_edge_cases_are_not_split(void **state)
{
    check_split("+foo@x", "+", 0, "+foo", "", "x");
    check_split("-foo@x", "+-", 0, "-foo", "", "x");
    check_split("owner-list@x", "-", 0, "owner-list", "", "x");
    check_split("list-request@x", "+-", 0, "list-request", "", "x");
    /* the mailing-list exception is only for '-' */
    check_split("owner+x@y", "+", 1, "owner", "x", "y");
    /* the delimiter is looked for in the local part only */
    check_split("user@a+b.example", "+", 0, "user", "", "a+b.example");
    check_split("a+b@c@x", "+", 1, "a", "b@c", "x");
}

static void test_fold_domain_lowercases_domain_only(void **state)
{
    char a[] = "John.Doe@Example.COM";
    assert_string_equal(addr_fold_domain(a), "John.Doe@example.com");
    char b[] = "NoDomain";
    assert_string_equal(addr_fold_domain(b), "NoDomain");
    char c[] = "\"A@B\"@MiXeD";
    assert_string_equal(addr_fold_domain(c), "\"A@B\"@mixed");
}

struct span_rec {
    struct buf text;
};

static int record_span(void *ctx, const char *addr, size_t len, const struct addr_pos *pos,
                       struct buf *why)
{
    struct span_rec *r = ctx;
    buf_printf(&r->text, "[%s %zu-%zu r%zu %s]", addr, pos->start, pos->end, pos->route,
               pos->angle ? "angle" : "bare");
    return 0;
}

static int fail_second(void *ctx, const char *addr, size_t len, const struct addr_pos *pos,
                       struct buf *why)
{
    int *calls = ctx;
    if (++*calls == 2) {
        buf_puts(why, "stop here");
        return -1;
    }
    return 0;
}

static void test_scan_reports_addr_spec_spans(void **state)
{
    const char *in = "A <@r.test:a@b> (c), \"q x\"@y ,< >";
    struct span_rec r = {BUF_INIT};
    struct buf why = BUF_INIT;
    assert_int_equal(addr_list_scan(in, strlen(in), 0, record_span, &r, &why), 3);
    assert_string_equal(buf_cstr(&r.text),
                        "[a@b 11-14 r3 angle][q x@y 21-28 r21 bare][ 31-31 r31 angle]");
    buf_free(&r.text);

    /* fn is not called at all when the list is malformed further on */
    struct span_rec none = {BUF_INIT};
    assert_int_equal(addr_list_scan("a@b, c@d, <e", 12, 0, record_span, &none, &why), -1);
    assert_int_equal(none.text.len, 0);

    /* fn's -1 stops the scan and is the result */
    int calls = 0;
    buf_reset(&why);
    assert_int_equal(addr_list_scan("a@b, c@d, e@f", 13, 0, fail_second, &calls, &why), -1);
    assert_int_equal(calls, 2);
    assert_string_equal(buf_cstr(&why), "stop here");
    buf_free(&why);
}

static void test_scan_folded_allows_fws_in_quoted_strings(void **state)
{
    const char *in = "\"a\r\n b\"@x, \"c\n\td\"@y";
    struct span_rec r = {BUF_INIT};
    struct buf why = BUF_INIT;
    assert_int_equal(addr_list_scan(in, strlen(in), ADDR_SCAN_FOLDED, record_span, &r, &why), 2);
    assert_string_equal(buf_cstr(&r.text), "[a b@x 0-9 r0 bare][c\td@y 11-19 r11 bare]");
    /* without the flag, as addr_list_parse: an error */
    assert_int_equal(addr_list_scan(in, strlen(in), 0, record_span, &r, &why), -1);
    /* a line break that is not a fold stays an error */
    buf_reset(&r.text);
    assert_int_equal(addr_list_scan("\"a\r\nb\"@x", 9, ADDR_SCAN_FOLDED, record_span, &r, &why),
                     -1);
    buf_free(&r.text);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_reports_addr_spec_spans),
        cmocka_unit_test(test_quoted_at_in_local_part_needs_a_domain),
        cmocka_unit_test(test_scan_folded_allows_fws_in_quoted_strings),
        cmocka_unit_test(test_rfc5322_a12_mixed_mailboxes),
        cmocka_unit_test(test_rfc5322_a12_quoted_display_name),
        cmocka_unit_test(test_rfc5322_a13_group_members_are_kept),
        cmocka_unit_test(test_empty_group_gives_no_addresses),
        cmocka_unit_test(test_rfc5322_a5_nested_comments_are_dropped),
        cmocka_unit_test(test_obsolete_route_is_stripped),
        cmocka_unit_test(test_quoted_local_part_becomes_internal_form),
        cmocka_unit_test(test_obs_local_part_with_spaces_around_dots),
        cmocka_unit_test(test_null_angle_address_and_empty_elements),
        cmocka_unit_test(test_malformed_lists_are_rejected_with_reason),
        cmocka_unit_test(test_nul_cr_lf_never_reach_an_address),
        cmocka_unit_test(test_address_count_bound),
        cmocka_unit_test(test_address_length_bound),
        cmocka_unit_test(test_quote_local_round_trips),
        cmocka_unit_test(test_unquote_rejects_bad_input),
        cmocka_unit_test(test_qualify),
        cmocka_unit_test(test_split_ext),
        cmocka_unit_test(test_split_ext_first_of_several_delimiters),
        cmocka_unit_test(test_split_ext_edge_cases_are_not_split),
        cmocka_unit_test(test_fold_domain_lowercases_domain_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
