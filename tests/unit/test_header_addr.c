/* test_header_addr - rewriting the addr-specs of an address header in
 * place: everything else (display names, comments, groups, white space,
 * folding) must come out byte for byte; obsolete routes go with a replaced
 * address; malformed values, bad replacements, callback failures and the
 * addr.h bounds give -1 and no output. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/header_addr.h"
#include "util/alloc.h"

/* A rewrite table: `map` is from, to, from, to, ..., NULL. Every address
 * the callback sees is recorded in `seen`. */
struct table {
    const char *const *map;
    struct argv *seen;
    const char *qualify; /* when set: "user" becomes "user@qualify" */
    int fail_at;         /* when > 0: fail on that call (1-based) */
    const char *fail_why;
};

static int table_fn(void *ctx, const char *addr, struct buf *repl, struct buf *why)
{
    struct table *t = ctx;
    argv_add(t->seen, addr);
    if (t->fail_at > 0 && (int)t->seen->argc == t->fail_at) {
        if (t->fail_why)
            buf_setf(why, "%s", t->fail_why);
        return -1;
    }
    for (size_t i = 0; t->map && t->map[i]; i += 2) {
        if (strcmp(addr, t->map[i]) == 0) {
            buf_set(repl, t->map[i + 1]);
            return 1;
        }
    }
    if (t->qualify && *addr && strchr(addr, '@') == NULL) {
        buf_printf(repl, "%s@%s", addr, t->qualify);
        return 1;
    }
    return 0;
}

/* Rewrite `in` with `map`; expect `want_rc` and (when rc >= 0) `want`. */
static void expect_rewrite(const char *in, const char *const *map, int want_rc, const char *want)
{
    struct table t = {map, argv_alloc(), NULL, 0, NULL};
    struct buf out = BUF_INIT, why = BUF_INIT;
    int rc = header_addr_rewrite(in, strlen(in), table_fn, &t, &out, &why);
    if (rc != want_rc)
        fail_msg("rewrite of [%s]: rc %d, want %d (%s)", in, rc, want_rc, buf_cstr(&why));
    if (want && strcmp(buf_cstr(&out), want) != 0)
        fail_msg("rewrite of [%s]:\n got [%s]\nwant [%s]", in, buf_cstr(&out), want);
    if (rc == 0 && (out.len != strlen(in) || memcmp(out.data, in, out.len) != 0))
        fail_msg("nothing replaced but output differs: [%s]", buf_cstr(&out));
    argv_free(t.seen);
    buf_free(&out);
    buf_free(&why);
}

/* The value must be refused with a reason containing why_part, without
 * output and without a call to the callback. */
static void expect_malformed(const char *in, size_t len, const char *why_part)
{
    static const char *const map[] = {"a@b", "c@d", NULL};
    struct table t = {map, argv_alloc(), "q.test", 0, NULL};
    struct buf out = BUF_INIT, why = BUF_INIT;
    buf_set(&out, "stale");
    assert_int_equal(header_addr_rewrite(in, len, table_fn, &t, &out, &why), -1);
    assert_int_equal(out.len, 0);
    if (t.seen->argc != 0)
        fail_msg("callback called for malformed [%s]", in);
    if (strstr(buf_cstr(&why), why_part) == NULL)
        fail_msg("reason [%s] lacks [%s]", buf_cstr(&why), why_part);
    argv_free(t.seen);
    buf_free(&out);
    buf_free(&why);
}

static void test_display_names_with_commas_in_quotes_are_kept(void **state)
{
    static const char *const map[] = {"john@old.test", "john@new.test", NULL};
    expect_rewrite("\"Doe, John\" <john@old.test>, \"Smith, A; B\" <a@keep.test>", map, 1,
                   "\"Doe, John\" <john@new.test>, \"Smith, A; B\" <a@keep.test>");
    expect_rewrite("\"x <a@old.test>, y\" <john@old.test>", map, 1,
                   "\"x <a@old.test>, y\" <john@new.test>");
}

static void test_comments_with_at_and_angle_are_kept(void **state)
{
    static const char *const map[] = {"a@old.test", "alice@new.test", "b@old.test", "b@n.test",
                                      NULL};
    expect_rewrite("a@old.test (see <b@old.test> @ here), (c@d <) b@old.test (x)", map, 2,
                   "alice@new.test (see <b@old.test> @ here), (c@d <) b@n.test (x)");
    expect_rewrite("Pete(A nice \\) chap) <a@old.test(his host)>", map, 1,
                   "Pete(A nice \\) chap) <alice@new.test(his host)>");
}

static void test_comments_inside_a_replaced_addr_spec_go_with_it(void **state)
{
    static const char *const map[] = {"c@public.example", "chris@new.test", NULL};
    expect_rewrite("Chris <c@(Chris's host.)public.example> (kept)", map, 1,
                   "Chris <chris@new.test> (kept)");
}

static void test_groups_are_kept(void **state)
{
    static const char *const map[] = {"a@x", "alpha@x.test", "b@y", "b@y", NULL};
    expect_rewrite("undisclosed-recipients:;", map, 0, "undisclosed-recipients:;");
    expect_rewrite("team: a@x, b@y;", map, 2, "team: alpha@x.test, b@y;");
    expect_rewrite("Team (the A team) : Ann <a@x>,\r\n b@z ; , a@x", map, 2,
                   "Team (the A team) : Ann <alpha@x.test>,\r\n b@z ; , alpha@x.test");
}

static void test_folding_is_preserved(void **state)
{
    static const char *const map[] = {"a@old.test", "a@new.test", "b@old.test", "bert@new.test",
                                      NULL};
    expect_rewrite("Alice <a@old.test>,\r\n\tBob\r\n <b@old.test>,\n c@old.test", map, 2,
                   "Alice <a@new.test>,\r\n\tBob\r\n <bert@new.test>,\n c@old.test");
    /* RFC 5322 3.2.4: FWS inside a quoted display name */
    expect_rewrite("\"John\r\n Doe\" <a@old.test>", map, 1, "\"John\r\n Doe\" <a@new.test>");
}

static void test_folded_quoted_local_part_is_unfolded_for_the_callback(void **state)
{
    static const char *const map[] = {"john doe@x.test", "jd@x.test", NULL};
    expect_rewrite("<\"john\r\n doe\"@x.test>", map, 1, "<jd@x.test>");
}

static void test_local_parts_are_quoted_when_needed(void **state)
{
    static const char *const map[] = {
        "jd@x.test",       "john doe@x.test", "j@x.test", "a\"b\\c@x.test",
        "john doe@y.test", "john.doe@y.test", NULL};
    expect_rewrite("JD <jd@x.test>, j@x.test", map, 2,
                   "JD <\"john doe\"@x.test>, \"a\\\"b\\\\c\"@x.test");
    expect_rewrite("\"john doe\"@y.test", map, 1, "john.doe@y.test");
    /* the callback sees the internal (unquoted) form */
    static const char *const none[] = {NULL};
    struct table t = {none, argv_alloc(), NULL, 0, NULL};
    struct buf out = BUF_INIT, why = BUF_INIT;
    const char *in = "\"john doe\"@y.test, <\"a\\\"b\"@z>";
    assert_int_equal(header_addr_rewrite(in, strlen(in), table_fn, &t, &out, &why), 0);
    assert_int_equal(t.seen->argc, 2);
    assert_string_equal(t.seen->argv[0], "john doe@y.test");
    assert_string_equal(t.seen->argv[1], "a\"b@z");
    assert_string_equal(buf_cstr(&out), in);
    argv_free(t.seen);
    buf_free(&out);
    buf_free(&why);
}

static void test_internal_form_with_specials_is_quoted_not_split(void **state)
{
    /* internal form: the domain is after the LAST '@', the rest is the local part */
    static const char *const map[] = {"a@b", "x@y, z@w", NULL};
    expect_rewrite("A <a@b>, c@d", map, 1, "A <\"x@y, z\"@w>, c@d");
}

static void test_replacements_grow_and_shrink(void **state)
{
    static const char *const map[] = {"a@b", "a-much-longer-name@sub.example.test",
                                      "longer.name@example.test", "s@t", NULL};
    expect_rewrite("a@b,longer.name@example.test, X <a@b>,<longer.name@example.test>", map, 4,
                   "a-much-longer-name@sub.example.test,s@t, X "
                   "<a-much-longer-name@sub.example.test>,<s@t>");
}

static void test_bare_local_parts_are_addresses(void **state)
{
    struct table t = {NULL, argv_alloc(), "example.test", 0, NULL};
    struct buf out = BUF_INIT, why = BUF_INIT;
    const char *in = "root, Bob <bob> (the boss), x@y";
    assert_int_equal(header_addr_rewrite(in, strlen(in), table_fn, &t, &out, &why), 2);
    assert_string_equal(buf_cstr(&out),
                        "root@example.test, Bob <bob@example.test> (the boss), x@y");
    assert_int_equal(t.seen->argc, 3);
    assert_string_equal(t.seen->argv[0], "root");
    argv_free(t.seen);
    buf_free(&out);
    buf_free(&why);
}

static void test_route_is_dropped_only_with_a_replaced_address(void **state)
{
    static const char *const map[] = {"joe@c.test", "joe@new.test", NULL};
    expect_rewrite("Joe <@a.test,@b.test:joe@c.test>", map, 1, "Joe <joe@new.test>");
    expect_rewrite("Joe < @a.test , @b.test : joe@c.test >", map, 1, "Joe < joe@new.test >");
    expect_rewrite("Ann <@a.test,@b.test:ann@c.test>, joe@c.test", map, 1,
                   "Ann <@a.test,@b.test:ann@c.test>, joe@new.test");
    expect_rewrite("<@a.test:ann@c.test>", map, 0, "<@a.test:ann@c.test>");
}

static void test_null_address(void **state)
{
    struct table t = {NULL, argv_alloc(), NULL, 0, NULL};
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(header_addr_rewrite("<>", 2, table_fn, &t, &out, &why), 0);
    assert_int_equal(t.seen->argc, 1);
    assert_string_equal(t.seen->argv[0], "");
    argv_free(t.seen);
    buf_free(&out);
    buf_free(&why);

    static const char *const to_addr[] = {"", "postmaster@x.test", NULL};
    expect_rewrite("Daemon < >", to_addr, 1, "Daemon <postmaster@x.test >");
    /* A bare address that becomes the null address is written "<>" */
    static const char *const to_null[] = {"a@x", "", NULL};
    expect_rewrite("a@x, b@x", to_null, 1, "<>, b@x");
    expect_rewrite("A <a@x>", to_null, 1, "A <>");
}

static void test_unchanged_output_is_identical(void **state)
{
    static const char *const map[] = {"nobody@nowhere", "x@y", NULL};
    /* RFC 5322 A.5, as stored: folded */
    static const char a5[] =
        "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n"
        "         joe@example.org,\r\n  John <jdoe@one.test> (my dear friend); (the end)";
    const char *const in[] = {
        "",
        "   ",
        "a@b",
        " Mary Smith <mary@x.test>,\r\n\t jdoe@example.org (John),\n  Who? <one@y.test> ",
        a5,
        "\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>, ,, undisclosed-recipients:;",
        "<@route.test:x@y.test>, x . y @ z . test, \"q\"@[192.0.2.1]",
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        expect_rewrite(in[i], map, 0, in[i]);
}

static void test_value_is_counted_not_nul_terminated(void **state)
{
    static const char *const map[] = {"a@b", "c@d", NULL};
    struct table t = {map, argv_alloc(), NULL, 0, NULL};
    struct buf out = BUF_INIT, why = BUF_INIT;
    const char in[] = {'A', ' ', '<', 'a', '@', 'b', '>', ',', ' ', 'x', 'y', 'z'};
    assert_int_equal(header_addr_rewrite(in, 7, table_fn, &t, &out, &why), 1);
    assert_string_equal(buf_cstr(&out), "A <c@d>");
    assert_int_equal(t.seen->argc, 1);
    argv_free(t.seen);
    buf_free(&out);
    buf_free(&why);
}

static void test_malformed_values_are_refused(void **state)
{
    expect_malformed("a@b, <c@d", 9, "missing '>'");
    expect_malformed("a@b, \"unterminated", 18, "unterminated quoted string");
    expect_malformed("a@b, (comment", 13, "unterminated comment");
    expect_malformed("a@b>", 4, "'>' without '<'");
    expect_malformed("a@b, c@", 7, "missing domain");
    expect_malformed("John Doe", 8, "missing '.' or '@'");
    expect_malformed("g: a@b, h: c@d;;", 16, "group inside a group");
    expect_malformed("a@b, c\0d@e", 10, "NUL");
    expect_malformed("(a\0b) c@d", 9, "NUL");
    expect_malformed("\"a\rb\"@x", 7, "NUL, CR or LF");
    expect_malformed("\"a\r\nb\"@x", 8, "NUL, CR or LF"); /* a line break, not a fold */
    expect_malformed("a@b\x01", 4, "control character");
}

static void test_callback_failure_abandons_the_rewrite(void **state)
{
    static const char *const map[] = {"a@b", "c@d", NULL};
    struct table t = {map, argv_alloc(), NULL, 2, "table lookup failed"};
    struct buf out = BUF_INIT, why = BUF_INIT;
    const char *in = "a@b, x@y, z@w";
    assert_int_equal(header_addr_rewrite(in, strlen(in), table_fn, &t, &out, &why), -1);
    assert_string_equal(buf_cstr(&why), "table lookup failed");
    assert_int_equal(out.len, 0);
    assert_int_equal(t.seen->argc, 2); /* no call after the failure */
    argv_free(t.seen);

    t = (struct table){map, argv_alloc(), NULL, 1, NULL};
    buf_reset(&why);
    assert_int_equal(header_addr_rewrite(in, strlen(in), table_fn, &t, &out, &why), -1);
    assert_true(why.len > 0);
    argv_free(t.seen);
    buf_free(&out);
    buf_free(&why);
}

static void test_replacement_that_is_not_one_addr_spec_is_refused(void **state)
{
    const char *const bad[] = {"x@y z", "x@(y", "a@", "a@b..c", "x@y <z@w>", "a@\"q\"", "a\n@b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *map[] = {"a@b", bad[i], NULL};
        struct table t = {map, argv_alloc(), NULL, 0, NULL};
        struct buf out = BUF_INIT, why = BUF_INIT;
        if (header_addr_rewrite("A <a@b>", 7, table_fn, &t, &out, &why) != -1)
            fail_msg("replacement [%s] accepted: [%s]", bad[i], buf_cstr(&out));
        assert_int_equal(out.len, 0);
        assert_true(why.len > 0);
        argv_free(t.seen);
        buf_free(&out);
        buf_free(&why);
    }
}

static int nul_fn(void *ctx, const char *addr, struct buf *repl, struct buf *why)
{
    buf_append(repl, "a\0b@c", 5);
    return 1;
}

static void test_replacement_with_nul_is_refused(void **state)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(header_addr_rewrite("a@b", 3, nul_fn, NULL, &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "NUL"));
    buf_free(&out);
    buf_free(&why);
}

static void test_bounds(void **state)
{
    static const char *const map[] = {"a@b", "c@d", NULL};
    struct table t = {map, argv_alloc(), NULL, 0, NULL};
    struct buf in = BUF_INIT, out = BUF_INIT, why = BUF_INIT, want = BUF_INIT;

    for (int i = 0; i < ADDR_LIST_MAX; i++) {
        buf_puts(&in, i ? ", a@b" : "a@b");
        buf_puts(&want, i ? ", c@d" : "c@d");
    }
    assert_int_equal(header_addr_rewrite(in.data, in.len, table_fn, &t, &out, &why), ADDR_LIST_MAX);
    assert_string_equal(buf_cstr(&out), buf_cstr(&want));
    buf_puts(&in, ", a@b");
    argv_free(t.seen);
    t.seen = argv_alloc();
    assert_int_equal(header_addr_rewrite(in.data, in.len, table_fn, &t, &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "more than"));
    assert_int_equal(t.seen->argc, 0);

    /* one address over ADDR_MAX_BYTES */
    buf_reset(&in);
    buf_puts(&in, "X <");
    for (int i = 0; i < ADDR_MAX_BYTES; i++)
        buf_putc(&in, 'l');
    buf_puts(&in, "@d>");
    buf_reset(&why);
    assert_int_equal(header_addr_rewrite(in.data, in.len, table_fn, &t, &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "longer than"));

    /* a replacement over ADDR_MAX_BYTES */
    buf_reset(&want);
    for (int i = 0; i < ADDR_MAX_BYTES; i++)
        buf_putc(&want, 'l');
    buf_puts(&want, "@d");
    const char *long_map[] = {"a@b", buf_cstr(&want), NULL};
    t.map = long_map;
    buf_reset(&why);
    assert_int_equal(header_addr_rewrite("a@b", 3, table_fn, &t, &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "longer than"));

    argv_free(t.seen);
    buf_free(&in);
    buf_free(&out);
    buf_free(&why);
    buf_free(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_display_names_with_commas_in_quotes_are_kept),
        cmocka_unit_test(test_comments_with_at_and_angle_are_kept),
        cmocka_unit_test(test_comments_inside_a_replaced_addr_spec_go_with_it),
        cmocka_unit_test(test_groups_are_kept),
        cmocka_unit_test(test_folding_is_preserved),
        cmocka_unit_test(test_folded_quoted_local_part_is_unfolded_for_the_callback),
        cmocka_unit_test(test_local_parts_are_quoted_when_needed),
        cmocka_unit_test(test_internal_form_with_specials_is_quoted_not_split),
        cmocka_unit_test(test_replacements_grow_and_shrink),
        cmocka_unit_test(test_bare_local_parts_are_addresses),
        cmocka_unit_test(test_route_is_dropped_only_with_a_replaced_address),
        cmocka_unit_test(test_null_address),
        cmocka_unit_test(test_unchanged_output_is_identical),
        cmocka_unit_test(test_value_is_counted_not_nul_terminated),
        cmocka_unit_test(test_malformed_values_are_refused),
        cmocka_unit_test(test_callback_failure_abandons_the_rewrite),
        cmocka_unit_test(test_replacement_that_is_not_one_addr_spec_is_refused),
        cmocka_unit_test(test_replacement_with_nul_is_refused),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
