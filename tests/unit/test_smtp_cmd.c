/* test_smtp_cmd - the SMTP command parser: verb splitting, MAIL FROM and
 * RCPT TO paths in the forms relay tests use (percent hack, source routes,
 * bang paths, quoted '@'), address literals, limits, UTF-8, every ESMTP
 * parameter with its error reply, xtext and requoting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/smtp_cmd.h"

#define MAIL   SMTP_PATH_MAIL
#define RCPT   0
#define STRICT SMTP_PATH_STRICT

/* ---- helpers -------------------------------------------------------------- */

static void split_ok(const char *line, const char *verb, const char *args)
{
    struct smtp_cmd c;
    struct smtp_reply err = {0, "", ""};
    if (smtp_cmd_split(line, strlen(line), &c, &err) < 0)
        fail_msg("split of [%s] failed: %d %s %s", line, err.code, err.dsn, err.text);
    assert_string_equal(c.verb, verb);
    if (c.args_len != strlen(args) || memcmp(c.args, args, c.args_len) != 0)
        fail_msg("split of [%s]: args [%.*s], want [%s]", line, (int)c.args_len, c.args, args);
}

static void split_err(const char *line, size_t len, int code, const char *dsn)
{
    struct smtp_cmd c;
    struct smtp_reply err = {0, "", ""};
    if (smtp_cmd_split(line, len, &c, &err) == 0)
        fail_msg("split of [%.*s] succeeded with verb %s", (int)len, line, c.verb);
    if (err.code != code || strcmp(err.dsn, dsn) != 0)
        fail_msg("split of [%.*s]: %d %s, want %d %s", (int)len, line, err.code, err.dsn, code,
                 dsn);
    assert_string_equal(c.verb, "");
    assert_int_equal(c.args_len, 0);
}

/* Parse args into p (already initialized); the address must be `want`. */
static void parse_into(struct smtp_path *p, const char *args, int flags, const char *want)
{
    size_t len = strlen(args);
    struct smtp_reply err = {0, "", ""};
    if (smtp_path_parse(args, len, flags, p, &err) < 0)
        fail_msg("parse of [%.*s] failed: %d %s %s", (int)len, args, err.code, err.dsn, err.text);
    if (strcmp(p->addr.data, want) != 0)
        fail_msg("parse of [%.*s] gave [%s], want [%s]", (int)len, args, p->addr.data, want);
    assert_int_equal(strlen(p->addr.data), p->addr.len);
}

static void expect_addr(const char *args, int flags, const char *want)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, args, flags, want);
    assert_int_equal(p.null_sender, 0);
    smtp_path_free(&p);
}

/* Parse must fail with code/dsn (and text, when given), leaving p empty. */
static void expect_err_len(const char *args, size_t len, int flags, int code, const char *dsn,
                           const char *text)
{
    struct smtp_path p;
    struct smtp_reply err = {0, "", ""};
    smtp_path_init(&p);
    if (smtp_path_parse(args, len, flags, &p, &err) == 0)
        fail_msg("parse of [%.*s] succeeded: [%s]", (int)len, args, p.addr.data);
    if (err.code != code || strcmp(err.dsn, dsn) != 0)
        fail_msg("parse of [%.*s]: %d %s %s, want %d %s", (int)len, args, err.code, err.dsn,
                 err.text, code, dsn);
    if (text && strcmp(err.text, text) != 0)
        fail_msg("parse of [%.*s]: text [%s], want [%s]", (int)len, args, err.text, text);
    assert_int_equal(p.addr.len, 0);
    assert_int_equal(p.size_given, 0);
    assert_int_equal(p.notify, 0);
    assert_int_equal(p.orcpt.len, 0);
    smtp_path_free(&p);
}

static void expect_err(const char *args, int flags, int code, const char *dsn, const char *text)
{
    expect_err_len(args, strlen(args), flags, code, dsn, text);
}

static void bad_sender(const char *args)
{
    expect_err(args, MAIL, 501, "5.1.7", NULL);
}

static void bad_rcpt(const char *args)
{
    expect_err(args, RCPT, 501, "5.1.3", NULL);
}

static void bad_param(const char *args, int flags, const char *text)
{
    expect_err(args, flags, 501, "5.5.4", text);
}

static char *repeat(char *dst, char c, size_t n)
{
    memset(dst, c, n);
    dst[n] = 0;
    return dst;
}

/* ---- split ---------------------------------------------------------------- */

static void test_split_verb_upper_cased_args_after_space(void **state)
{
    split_ok("MAIL FROM:<a@b>", "MAIL", "FROM:<a@b>");
    split_ok("mail FROM:<a@b>", "MAIL", "FROM:<a@b>");
    split_ok("rCpT TO:<a@b> NOTIFY=NEVER", "RCPT", "TO:<a@b> NOTIFY=NEVER");
}

static void test_split_extra_spaces_are_skipped(void **state)
{
    split_ok("EHLO    client.example", "EHLO", "client.example");
    split_ok("HELO x  ", "HELO", "x  ");
}

static void test_split_verb_without_args(void **state)
{
    split_ok("QUIT", "QUIT", "");
    split_ok("data", "DATA", "");
    split_ok("RSET   ", "RSET", "");
}

static void test_split_empty_line_gives_empty_verb(void **state)
{
    split_ok("", "", "");
}

static void test_split_rejects_control_characters(void **state)
{
    split_err("MAIL FROM:<a@b>\0x", 17, 500, "5.5.2");
    split_err("\0", 1, 500, "5.5.2");
    split_err("NOOP\t", 5, 500, "5.5.2");
    split_err("NOOP x\r", 7, 500, "5.5.2");
    split_err("NOOP x\n", 7, 500, "5.5.2");
    split_err("NOOP \x7f", 6, 500, "5.5.2");
    split_err("NO\x1fOP", 5, 500, "5.5.2");
}

static void test_split_rejects_verb_that_is_not_letters(void **state)
{
    split_err("MAIL:x", 6, 500, "5.5.2");
    split_err("X-FOO bar", 9, 500, "5.5.2");
    split_err("8BIT", 4, 500, "5.5.2");
    split_err(" MAIL FROM:<>", 13, 500, "5.5.2");
    split_err("   ", 3, 500, "5.5.2");
    split_err("HELO\xc3\xa9 x", 8, 500, "5.5.2");
}

static void test_split_allows_8bit_in_args(void **state)
{
    split_ok("RCPT TO:<j\xc3\xb6rg@example.de>", "RCPT", "TO:<j\xc3\xb6rg@example.de>");
}

static void test_split_verb_length_bound(void **state)
{
    split_ok("ABCDEFGHIJKLMNO x", "ABCDEFGHIJKLMNO", "x");
    split_err("ABCDEFGHIJKLMNOP x", 18, 502, "5.5.2");
}

/* ---- paths: basic forms ----------------------------------------------------- */

static void test_mail_and_rcpt_plain_address(void **state)
{
    expect_addr("FROM:<sender@example.com>", MAIL, "sender@example.com");
    expect_addr("TO:<rcpt@example.net>", RCPT, "rcpt@example.net");
}

static void test_prefix_is_case_insensitive(void **state)
{
    expect_addr("from:<a@b.example>", MAIL, "a@b.example");
    expect_addr("To:<a@b.example>", RCPT, "a@b.example");
}

static void test_wrong_prefix_gives_usage_reply(void **state)
{
    expect_err("TO:<a@b>", MAIL, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
    expect_err("FROM:<a@b>", RCPT, 501, "5.5.4", "Syntax: RCPT TO:<address>");
    expect_err("FROM <a@b>", MAIL, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
    expect_err("FROM :<a@b>", MAIL, 501, "5.5.4", NULL);
    expect_err("", MAIL, 501, "5.5.4", NULL);
    expect_err("T", RCPT, 501, "5.5.4", NULL);
}

static void test_missing_address_gives_usage_reply(void **state)
{
    expect_err("FROM:", MAIL, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
    expect_err("TO:   ", RCPT, 501, "5.5.4", "Syntax: RCPT TO:<address>");
}

static void test_space_after_colon_tolerated_unless_strict(void **state)
{
    expect_addr("FROM: <a@b.example>", MAIL, "a@b.example");
    expect_addr("TO:   <a@b.example>", RCPT, "a@b.example");
    expect_err("FROM: <a@b.example>", MAIL | STRICT, 501, "5.1.7", NULL);
    expect_err("TO: <a@b.example>", STRICT, 501, "5.1.3", NULL);
    expect_addr("TO:<a@b.example>", STRICT, "a@b.example");
}

static void test_missing_brackets_tolerated_unless_strict(void **state)
{
    expect_addr("FROM:a@b.example", MAIL, "a@b.example");
    expect_addr("TO: a@b.example", RCPT, "a@b.example");
    expect_err("FROM:a@b.example", MAIL | STRICT, 501, "5.1.7", "Bad sender address syntax");
    expect_err("TO:a@b.example", STRICT, 501, "5.1.3", "Bad recipient address syntax");
}

static void test_null_sender(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<>", MAIL, "");
    assert_int_equal(p.null_sender, 1);
    assert_int_equal(p.utf8, 0);
    parse_into(&p, "FROM: <> BODY=8BITMIME", MAIL, "");
    assert_int_equal(p.null_sender, 1);
    assert_int_equal(p.body, SMTP_BODY_8BITMIME);
    smtp_path_free(&p);
}

static void test_null_recipient_rejected(void **state)
{
    expect_err("TO:<>", RCPT, 501, "5.1.3", "Bad recipient address syntax");
    bad_rcpt("TO: <>");
}

/* ---- paths: what relay tests send ----------------------------------------- */

static void test_relay_percent_hack_kept_as_given(void **state)
{
    expect_addr("TO:<user%other.example@ours.example>", RCPT, "user%other.example@ours.example");
}

static void test_relay_source_route_dropped(void **state)
{
    expect_addr("TO:<@a:user@b>", RCPT, "user@b");
    expect_addr("TO:<@relay.one,@relay.two:user@final.example>", RCPT, "user@final.example");
    expect_addr("TO:<@[192.0.2.1]:user@b>", RCPT, "user@b");
    expect_addr("TO:@a:user@b", RCPT, "user@b");
    expect_addr("FROM:<@a:u@b>", MAIL, "u@b");
}

static void test_relay_bang_path_kept(void **state)
{
    expect_addr("TO:<other!user@ours>", RCPT, "other!user@ours");
}

static void test_relay_quoted_at_sign_in_local_part(void **state)
{
    expect_addr("TO:<\"user@other\"@ours>", RCPT, "user@other@ours");
}

static void test_trailing_dot_removed(void **state)
{
    expect_addr("TO:<user@ours.>", RCPT, "user@ours");
    expect_addr("TO:<user@ours.example.>", RCPT, "user@ours.example");
    expect_addr("TO:user@ours. NOTIFY=NEVER", RCPT, "user@ours");
}

static void test_case_kept_as_given(void **state)
{
    expect_addr("TO:<User.Name@Example.COM>", RCPT, "User.Name@Example.COM");
}

static void test_ipv4_address_literal(void **state)
{
    expect_addr("TO:<user@[1.2.3.4]>", RCPT, "user@[1.2.3.4]");
    expect_addr("FROM:<u@[255.255.255.255]>", MAIL, "u@[255.255.255.255]");
}

static void test_ipv6_address_literal(void **state)
{
    expect_addr("TO:<user@[IPv6:2001:db8::1]>", RCPT, "user@[IPv6:2001:db8::1]");
    expect_addr("TO:<user@[ipv6:::ffff:192.0.2.1]>", RCPT, "user@[ipv6:::ffff:192.0.2.1]");
}

static void test_bad_address_literals(void **state)
{
    bad_rcpt("TO:<user@[300.1.2.3]>");
    bad_rcpt("TO:<user@[1.2.3]>");
    bad_rcpt("TO:<user@[]>");
    bad_rcpt("TO:<user@[1.2.3.4>");
    bad_rcpt("TO:<user@[1.2.3.4].x>");
    bad_rcpt("TO:<user@[IPv6:zz::1]>");
    bad_rcpt("TO:<user@[IPv6:1.2.3.4]>");
    bad_rcpt("TO:<user@[IPv6:]>");
    bad_rcpt("TO:<user@[2001:db8::1]>");
    bad_sender("FROM:<user@[x400:c=us;a=b]>"); /* General-address-literal */
    bad_rcpt("TO:<user@[tag:content]>");
}

static void test_quoted_local_part_with_space_and_escapes(void **state)
{
    expect_addr("TO:<\"john smith\"@example.com>", RCPT, "john smith@example.com");
    expect_addr("TO:<\"say \\\"hi\\\"\"@example.com>", RCPT, "say \"hi\"@example.com");
    expect_addr("TO:<\"back\\\\slash\"@example.com>", RCPT, "back\\slash@example.com");
    expect_addr("TO:<\"a>b\"@example.com>", RCPT, "a>b@example.com");
    expect_addr("TO:<\"Joe\\,Smith\"@example.com>", RCPT, "Joe,Smith@example.com");
    expect_addr("TO:\"a b\"@example.com", RCPT, "a b@example.com");
}

static void test_quoted_atom_is_unquoted(void **state)
{
    expect_addr("TO:<\"user\"@example.com>", RCPT, "user@example.com");
}

static void test_bad_quoted_strings(void **state)
{
    bad_rcpt("TO:<\"unterminated@example.com>");
    bad_rcpt("TO:<\"a\"b@example.com>");
    bad_rcpt("TO:<a\"b\"@example.com>");
    bad_rcpt("TO:<\"a\".\"b\"@example.com>");
    bad_rcpt("TO:<\"\"@example.com>"); /* would be "@example.com" inside */
    bad_rcpt("TO:<\"\">");
    bad_rcpt("TO:<\"a\\");
    expect_err_len("TO:<\"a\\\rb\"@x>", 13, RCPT, 501, "5.1.3", NULL); /* \<CR> */
    expect_err_len("TO:<\"a\\\nb\"@x>", 13, RCPT, 501, "5.1.3", NULL);
    expect_err_len("TO:<\"a\\\0b\"@x>", 13, RCPT, 501, "5.1.3", NULL);
    expect_err_len("TO:<\"a\rb\"@x>", 12, RCPT, 501, "5.1.3", NULL);
    expect_err_len("TO:<\"a\0b\"@x>", 12, RCPT, 501, "5.1.3", NULL);
    bad_rcpt("TO:<\"a\\\xc3\xa9\"@x>"); /* quoted-pairSMTP is ASCII only */
}

static void test_postmaster_without_domain(void **state)
{
    expect_addr("TO:<Postmaster>", RCPT, "Postmaster");
    expect_addr("TO:<postmaster>", RCPT, "postmaster");
    expect_addr("TO:<POSTMASTER>", RCPT, "POSTMASTER");
}

static void test_bare_local_part_accepted(void **state)
{
    expect_addr("FROM:<user>", MAIL, "user");
    expect_addr("TO:<user>", RCPT, "user");
    expect_addr("TO:<\"john smith\">", RCPT, "john smith");
    expect_addr("TO:user", RCPT, "user");
}

static void test_quoted_at_sign_without_domain_rejected(void **state)
{
    bad_rcpt("TO:<\"user@other\">");
    bad_sender("FROM:<\"a@b\">");
}

static void test_dot_atom_local_part_is_lenient(void **state)
{
    expect_addr("TO:<a..b@x.example>", RCPT, "a..b@x.example");
    expect_addr("TO:<.a@x.example>", RCPT, ".a@x.example");
    expect_addr("TO:<a.@x.example>", RCPT, "a.@x.example");
    expect_addr("TO:<!#$%&'*+-/=?^_`{|}~@x.example>", RCPT, "!#$%&'*+-/=?^_`{|}~@x.example");
}

static void test_bad_local_part_characters(void **state)
{
    bad_rcpt("TO:<a b@x>");
    bad_rcpt("TO:<a(b)@x>");
    bad_rcpt("TO:<a,b@x>");
    bad_rcpt("TO:<a;b@x>");
    bad_rcpt("TO:<a[b@x>");
    bad_rcpt("TO:<a\\b@x>");
    bad_rcpt("TO:<@x>");
}

static void test_bad_domains(void **state)
{
    bad_rcpt("TO:<a@>");
    bad_rcpt("TO:<a@.x>");
    bad_rcpt("TO:<a@x..y>");
    bad_rcpt("TO:<a@x.>.");
    bad_rcpt("TO:<a@.>");
    bad_rcpt("TO:<a@b@c>");
    bad_rcpt("TO:<a@x!y>");
    bad_rcpt("TO:<a@x y>");
    bad_rcpt("TO:<a@x/y>");
    bad_rcpt("TO:a@");
}

static void test_domain_characters_accepted(void **state)
{
    expect_addr("TO:<a@under_score.example>", RCPT, "a@under_score.example");
    expect_addr("TO:<a@x-y.1example>", RCPT, "a@x-y.1example");
    expect_addr("TO:<a@localhost>", RCPT, "a@localhost");
}

static void test_bad_source_routes(void **state)
{
    bad_rcpt("TO:<@a>");
    bad_rcpt("TO:<@a:>");
    bad_rcpt("TO:<@a,b:u@c>");
    bad_rcpt("TO:<@:u@c>");
    bad_rcpt("TO:<@a,@:u@c>");
    bad_rcpt("TO:<@a;u@c>");
    bad_rcpt("TO:<@[1.2.3.4:u@c>");
}

static void test_text_after_path_rejected(void **state)
{
    bad_rcpt("TO:<a@b>x");
    bad_rcpt("TO:<a@b>>");
    bad_rcpt("TO:<a@b><c@d>");
    bad_sender("FROM:<>x");
    bad_sender("FROM:<<>>");
}

static void test_missing_close_bracket_rejected(void **state)
{
    bad_rcpt("TO:<a@b");
    bad_rcpt("TO:<a@b NOTIFY=NEVER");
    bad_sender("FROM:<");
    bad_rcpt("TO:<");
}

static void test_nul_and_control_characters_in_path(void **state)
{
    expect_err_len("TO:<a\0b@x>", 10, RCPT, 501, "5.1.3", NULL);
    expect_err_len("TO:<ab@x\0>", 10, RCPT, 501, "5.1.3", NULL);
    expect_err_len("TO:<ab@x>\0", 10, RCPT, 501, "5.1.3", NULL);
    expect_err_len("TO:<a\rb@x>", 10, RCPT, 501, "5.1.3", NULL);
    expect_err_len("FROM:<a\nb@x>", 12, MAIL, 501, "5.1.7", NULL);
    expect_err_len("TO:\0<a@b>", 9, RCPT, 501, "5.1.3", NULL);
    expect_err_len("TO\0<a@b>", 8, RCPT, 501, "5.5.4", NULL);
}

/* ---- limits ------------------------------------------------------------------ */

static void test_local_part_limit_64(void **state)
{
    char local[80], args[200];
    snprintf(args, sizeof(args), "TO:<%s@x.example>", repeat(local, 'l', 64));
    snprintf(local + 64, sizeof(local) - 64, "@x.example");
    expect_addr(args, RCPT, local);
    snprintf(args, sizeof(args), "TO:<%s@x.example>", repeat(local, 'l', 65));
    expect_err(args, RCPT, 501, "5.1.3", "Bad recipient address syntax: local part too long");
    /* quotes count: they are octets of the local part on the wire */
    snprintf(args, sizeof(args), "TO:<\"%s\"@x.example>", repeat(local, 'l', 63));
    bad_rcpt(args);
}

static void test_path_limit_256(void **state)
{
    char dom[300], args[400], want[310];
    /* "<a@" + domain + ">" = 256 octets */
    repeat(dom, 'd', 252);
    for (size_t i = 50; i < 252; i += 51)
        dom[i] = '.';
    snprintf(args, sizeof(args), "TO:<a@%s>", dom);
    snprintf(want, sizeof(want), "a@%s", dom);
    expect_addr(args, RCPT, want);
    snprintf(args, sizeof(args), "TO:a@%s", dom); /* as if bracketed */
    expect_addr(args, RCPT, want);
    strcat(dom, "x");
    snprintf(args, sizeof(args), "TO:<a@%s>", dom);
    expect_err(args, RCPT, 501, "5.1.3", "Bad recipient address syntax: path too long");
    snprintf(args, sizeof(args), "TO:a@%s", dom);
    bad_rcpt(args);
}

static void test_domain_limit_255(void **state)
{
    char dom[300], args[400];
    repeat(dom, 'd', 256);
    for (size_t i = 50; i < 256; i += 51)
        dom[i] = '.';
    snprintf(args, sizeof(args), "TO:<@r:a@%s>", dom);
    expect_err(args, RCPT, 501, "5.1.3", "Bad recipient address syntax: domain too long");
}

static void test_300_byte_addresses_rejected(void **state)
{
    char local[400], args[500];
    repeat(local, 'a', 40);
    for (size_t i = 0; i < 7; i++)
        strcat(local, ".abcdefghijklmnopqrstuvwxyz0123456789");
    assert_true(strlen(local) > 290);
    snprintf(args, sizeof(args), "FROM:<x@%s>", local);
    expect_err(args, MAIL, 501, "5.1.7", NULL);
    snprintf(args, sizeof(args), "TO:<x@%s>", local);
    expect_err(args, RCPT, 501, "5.1.3", NULL);
    snprintf(args, sizeof(args), "TO:<%s@x>", local);
    expect_err(args, RCPT, 501, "5.1.3", NULL);
}

/* ---- UTF-8 ------------------------------------------------------------------- */

static void test_utf8_address_sets_flag(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p,
               "TO:<j\xc3\xb6rg@b\xc3\xbc"
               "cher.example>",
               RCPT,
               "j\xc3\xb6rg@b\xc3\xbc"
               "cher.example");
    assert_int_equal(p.utf8, 1);
    parse_into(&p,
               "FROM:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
               "\xe5\x91\x8a>",
               MAIL,
               "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
               "\xe5\xb9\xbf\xe5\x91\x8a");
    assert_int_equal(p.utf8, 1);
    assert_int_equal(p.smtputf8, 0); /* the caller decides whether that is allowed */
    parse_into(&p, "FROM:<\xf0\x9f\x98\x80@x> SMTPUTF8", MAIL, "\xf0\x9f\x98\x80@x");
    assert_int_equal(p.utf8, 1);
    assert_int_equal(p.smtputf8, 1);
    parse_into(&p, "TO:<\"j\xc3\xb6rg smith\"@x>", RCPT, "j\xc3\xb6rg smith@x");
    assert_int_equal(p.utf8, 1);
    parse_into(&p, "TO:<ascii@x>", RCPT, "ascii@x");
    assert_int_equal(p.utf8, 0);
    smtp_path_free(&p);
}

static void test_invalid_utf8_rejected(void **state)
{
    bad_rcpt("TO:<a\xc0\x80@x>");         /* overlong NUL */
    bad_rcpt("TO:<a\xe0\x80\xaf@x>");     /* overlong '/' */
    bad_rcpt("TO:<a\x80@x>");             /* lone continuation */
    bad_rcpt("TO:<a\xc3@x>");             /* truncated */
    bad_rcpt("TO:<a\xed\xa0\x80@x>");     /* surrogate */
    bad_rcpt("TO:<a\xf4\x90\x80\x80@x>"); /* past U+10FFFF */
    bad_rcpt("TO:<a\xf5\x80\x80\x80@x>");
    bad_rcpt("TO:<a@b\xff.example>");
    bad_rcpt("TO:<\"a\xc3\"@x>");
    bad_sender("FROM:<a\xc3>");
    expect_err("TO:<a\xc3@x>", RCPT, 501, "5.1.3", "Bad recipient address syntax: invalid UTF-8");
}

/* ---- parameters ------------------------------------------------------------ */

static void test_size_parameter(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b> SIZE=12345", MAIL, "a@b");
    assert_int_equal(p.size_given, 1);
    assert_true(p.size == 12345);
    parse_into(&p, "FROM:<a@b> size=0", MAIL, "a@b");
    assert_int_equal(p.size_given, 1);
    assert_true(p.size == 0);
    parse_into(&p, "FROM:<a@b> SIZE=18446744073709551615", MAIL, "a@b");
    assert_true(p.size == UINT64_MAX);
    parse_into(&p, "FROM:<a@b>", MAIL, "a@b");
    assert_int_equal(p.size_given, 0);
    assert_true(p.size == 0);
    smtp_path_free(&p);
}

static void test_size_overflow_exceeds_limit(void **state)
{
    expect_err("FROM:<a@b> SIZE=18446744073709551616", MAIL, 552, "5.3.4",
               "Message size exceeds fixed limit");
    expect_err("FROM:<a@b> SIZE=99999999999999999999", MAIL, 552, "5.3.4", NULL);
    expect_err("FROM:<a@b> SIZE=000000000000000000001", MAIL, 552, "5.3.4", NULL);
}

static void test_size_syntax_errors(void **state)
{
    bad_param("FROM:<a@b> SIZE", MAIL, "Bad SIZE parameter syntax");
    bad_param("FROM:<a@b> SIZE=", MAIL, NULL);
    bad_param("FROM:<a@b> SIZE=12a", MAIL, NULL);
    bad_param("FROM:<a@b> SIZE=-1", MAIL, NULL);
    bad_param("FROM:<a@b> SIZE=+1", MAIL, NULL);
    bad_param("FROM:<a@b> SIZE=1=2", MAIL, NULL);
}

static void test_body_parameter(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b> BODY=7BIT", MAIL, "a@b");
    assert_int_equal(p.body, SMTP_BODY_7BIT);
    parse_into(&p, "FROM:<a@b> body=8bitmime", MAIL, "a@b");
    assert_int_equal(p.body, SMTP_BODY_8BITMIME);
    parse_into(&p, "FROM:<a@b> Body=BinaryMIME", MAIL, "a@b");
    assert_int_equal(p.body, SMTP_BODY_BINARYMIME);
    parse_into(&p, "FROM:<a@b>", MAIL, "a@b");
    assert_int_equal(p.body, SMTP_BODY_NONE);
    smtp_path_free(&p);
    bad_param("FROM:<a@b> BODY=8BIT", MAIL, "Bad BODY parameter");
    bad_param("FROM:<a@b> BODY", MAIL, "Bad BODY parameter");
    bad_param("FROM:<a@b> BODY=", MAIL, "Bad BODY parameter");
    bad_param("FROM:<a@b> BODY=7BIT=", MAIL, "Bad BODY parameter");
}

static void test_smtputf8_parameter(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b> SMTPUTF8", MAIL, "a@b");
    assert_int_equal(p.smtputf8, 1);
    parse_into(&p, "FROM:<a@b> smtputf8 BODY=8BITMIME", MAIL, "a@b");
    assert_int_equal(p.smtputf8, 1);
    smtp_path_free(&p);
    bad_param("FROM:<a@b> SMTPUTF8=yes", MAIL, "Bad SMTPUTF8 parameter syntax");
}

static void test_ret_parameter(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b> RET=FULL", MAIL, "a@b");
    assert_int_equal(p.ret, SMTP_RET_FULL);
    parse_into(&p, "FROM:<a@b> ret=hdrs", MAIL, "a@b");
    assert_int_equal(p.ret, SMTP_RET_HDRS);
    smtp_path_free(&p);
    bad_param("FROM:<a@b> RET=BODY", MAIL, "Bad RET parameter syntax");
    bad_param("FROM:<a@b> RET", MAIL, NULL);
}

static void test_envid_parameter(void **state)
{
    struct smtp_path p;
    char args[200], id[120];
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b> ENVID=QQ314159+2Bx+3Dy+20z", MAIL, "a@b");
    assert_string_equal(p.envid.data, "QQ314159+x=y z");
    snprintf(args, sizeof(args), "FROM:<a@b> ENVID=%s", repeat(id, 'e', 100));
    parse_into(&p, args, MAIL, "a@b");
    assert_int_equal(p.envid.len, 100);
    parse_into(&p, "FROM:<a@b>", MAIL, "a@b");
    assert_int_equal(p.envid.len, 0);
    smtp_path_free(&p);
    snprintf(args, sizeof(args), "FROM:<a@b> ENVID=%s", repeat(id, 'e', 101));
    bad_param(args, MAIL, "Bad ENVID parameter syntax");
    bad_param("FROM:<a@b> ENVID=a+2b", MAIL, NULL);    /* lower-case hex */
    bad_param("FROM:<a@b> ENVID=a+2", MAIL, NULL);     /* short hexchar */
    bad_param("FROM:<a@b> ENVID=a+0D", MAIL, NULL);    /* CR */
    bad_param("FROM:<a@b> ENVID=a+00", MAIL, NULL);    /* NUL */
    bad_param("FROM:<a@b> ENVID=a+01", MAIL, NULL);    /* not printable */
    bad_param("FROM:<a@b> ENVID=a+C3+A9", MAIL, NULL); /* not US-ASCII */
    bad_param("FROM:<a@b> ENVID", MAIL, NULL);
    bad_param("FROM:<a@b> ENVID=", MAIL, NULL);
}

static void test_auth_parameter(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b> AUTH=e+2Bx@example.com", MAIL, "a@b");
    assert_int_equal(p.auth_given, 1);
    assert_string_equal(p.auth.data, "e+x@example.com");
    parse_into(&p, "FROM:<a@b> AUTH=<>", MAIL, "a@b");
    assert_int_equal(p.auth_given, 1);
    assert_string_equal(p.auth.data, "<>");
    parse_into(&p, "FROM:<a@b>", MAIL, "a@b");
    assert_int_equal(p.auth_given, 0);
    smtp_path_free(&p);
    bad_param("FROM:<a@b> AUTH", MAIL, "Bad AUTH parameter syntax");
    bad_param("FROM:<a@b> AUTH=a+0Ab", MAIL, NULL);
    bad_param("FROM:<a@b> AUTH=a+zz", MAIL, NULL);
}

static void expect_notify(const char *args, int bits)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, args, RCPT, "a@b");
    assert_int_equal(p.notify, bits);
    smtp_path_free(&p);
}

static void test_notify_parameter(void **state)
{
    expect_notify("TO:<a@b> NOTIFY=NEVER", SMTP_NOTIFY_NEVER);
    expect_notify("TO:<a@b> NOTIFY=SUCCESS,FAILURE,DELAY",
                  SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
    expect_notify("TO:<a@b> notify=failure,Delay", SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
    expect_notify("TO:<a@b> NOTIFY=success", SMTP_NOTIFY_SUCCESS);
    expect_notify("TO:<a@b>", 0);
}

static void test_notify_syntax_errors(void **state)
{
    const char *text = "Bad NOTIFY parameter syntax";
    bad_param("TO:<a@b> NOTIFY=NEVER,SUCCESS", RCPT, text);
    bad_param("TO:<a@b> NOTIFY=FAILURE,NEVER", RCPT, text);
    bad_param("TO:<a@b> NOTIFY=SUCCESS,SUCCESS", RCPT, text);
    bad_param("TO:<a@b> NOTIFY=success,SUCCESS", RCPT, text);
    bad_param("TO:<a@b> NOTIFY=SUCCESS,", RCPT, text);
    bad_param("TO:<a@b> NOTIFY=,SUCCESS", RCPT, text);
    bad_param("TO:<a@b> NOTIFY=SUCCESS,,DELAY", RCPT, text);
    bad_param("TO:<a@b> NOTIFY=ALWAYS", RCPT, text);
    bad_param("TO:<a@b> NOTIFY=", RCPT, text);
    bad_param("TO:<a@b> NOTIFY", RCPT, text);
}

static void expect_orcpt(const char *args, const char *want)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, args, RCPT, "a@b");
    assert_string_equal(p.orcpt.data, want);
    smtp_path_free(&p);
}

static void test_orcpt_parameter(void **state)
{
    expect_orcpt("TO:<a@b> ORCPT=rfc822;user+40example.com", "rfc822;user@example.com");
    expect_orcpt("TO:<a@b> ORCPT=rfc822;user@example.com", "rfc822;user@example.com");
    expect_orcpt("TO:<a@b> ORCPT=RFC822;a+2Bb@example.com", "rfc822;a+b@example.com");
    expect_orcpt("TO:<a@b> ORCPT=rfc822;\"john+20smith\"@example.com",
                 "rfc822;\"john smith\"@example.com");
    expect_orcpt("TO:<a@b> ORCPT=utf-8;j\xc3\xb6rg@example.de", "utf-8;j\xc3\xb6rg@example.de");
    expect_orcpt("TO:<a@b> ORCPT=UTF-8;j\\x{F6}rg@example.de", "utf-8;j\xc3\xb6rg@example.de");
    expect_orcpt("TO:<a@b> ORCPT=X400;c+3Dus", "x400;c=us");
    bad_param("TO:<a@b> ORCPT=x400;c=us", RCPT, "Bad ORCPT parameter syntax");
    expect_orcpt("TO:<a@b>", "");
}

static void test_orcpt_syntax_errors(void **state)
{
    char args[700], v[600];
    const char *text = "Bad ORCPT parameter syntax";
    bad_param("TO:<a@b> ORCPT=rfc822", RCPT, text);
    bad_param("TO:<a@b> ORCPT=;a@b", RCPT, text);
    bad_param("TO:<a@b> ORCPT=rfc822;", RCPT, text);
    bad_param("TO:<a@b> ORCPT", RCPT, text);
    bad_param("TO:<a@b> ORCPT=rfc(822);a@b", RCPT, text);
    bad_param("TO:<a@b> ORCPT=rfc822;a+0D+0A@b", RCPT, text);
    bad_param("TO:<a@b> ORCPT=rfc822;a+09b", RCPT, text);
    bad_param("TO:<a@b> ORCPT=rfc822;j\xc3\xb6rg@x", RCPT, text); /* 8-bit needs utf-8 */
    bad_param("TO:<a@b> ORCPT=utf-8;j\xc3@x", RCPT, text);
    bad_param("TO:<a@b> ORCPT=utf-8;a\\x{D800}@x", RCPT, text);
    bad_param("TO:<a@b> ORCPT=utf-8;a\\x{0A}@x", RCPT, text);
    bad_param("TO:<a@b> ORCPT=utf-8;a\\x{F6@x", RCPT, text);
    snprintf(args, sizeof(args), "TO:<a@b> ORCPT=rfc822;%s", repeat(v, 'o', 500));
    expect_orcpt(args, strchr(args, '=') + 1);
    snprintf(args, sizeof(args), "TO:<a@b> ORCPT=rfc822;%s", repeat(v, 'o', 501));
    bad_param(args, RCPT, text);
}

static void test_duplicate_parameter_rejected(void **state)
{
    bad_param("FROM:<a@b> SIZE=1 SIZE=2", MAIL, "Duplicate SIZE parameter");
    bad_param("FROM:<a@b> body=7bit BODY=7BIT", MAIL, "Duplicate BODY parameter");
    bad_param("FROM:<a@b> RET=FULL ret=HDRS", MAIL, "Duplicate RET parameter");
    bad_param("FROM:<a@b> ENVID=x ENVID=y", MAIL, "Duplicate ENVID parameter");
    bad_param("TO:<a@b> NOTIFY=NEVER NOTIFY=NEVER", RCPT, "Duplicate NOTIFY parameter");
    bad_param("TO:<a@b> ORCPT=rfc822;a@b orcpt=rfc822;a@b", RCPT, "Duplicate ORCPT parameter");
    bad_param("TO:<a@b> XFOO XFOO=1", RCPT | SMTP_PATH_UNKNOWN_PARAM, "Duplicate XFOO parameter");
}

static void test_parameter_of_other_command_unsupported(void **state)
{
    expect_err("TO:<a@b> SIZE=10", RCPT, 555, "5.5.4", "Unsupported option: SIZE");
    expect_err("TO:<a@b> BODY=8BITMIME", RCPT | SMTP_PATH_UNKNOWN_PARAM, 555, "5.5.4",
               "Unsupported option: BODY");
    expect_err("FROM:<a@b> NOTIFY=NEVER", MAIL, 555, "5.5.4", "Unsupported option: NOTIFY");
    expect_err("FROM:<a@b> orcpt=rfc822;a@b", MAIL, 555, "5.5.4", "Unsupported option: ORCPT");
}

static void test_unknown_parameter(void **state)
{
    expect_err("FROM:<a@b> XFOO=1", MAIL, 555, "5.5.4", "Unsupported option: XFOO");
    expect_err("TO:<a@b> x-bar", RCPT, 555, "5.5.4", "Unsupported option: X-BAR");
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b> XFOO=1 SIZE=5 X-BAR", MAIL | SMTP_PATH_UNKNOWN_PARAM, "a@b");
    assert_true(p.size == 5);
    parse_into(&p, "TO:<a@b> XUTF=\xc3\xa9", SMTP_PATH_UNKNOWN_PARAM, "a@b");
    smtp_path_free(&p);
    bad_param("TO:<a@b> XFOO=a=b", SMTP_PATH_UNKNOWN_PARAM, "Bad XFOO parameter syntax");
    bad_param("TO:<a@b> XFOO=", SMTP_PATH_UNKNOWN_PARAM, NULL);
    bad_param("TO:<a@b> XFOO=\xc3", SMTP_PATH_UNKNOWN_PARAM, NULL);
}

static void test_bad_keyword_syntax(void **state)
{
    int f = MAIL | SMTP_PATH_UNKNOWN_PARAM;
    bad_param("FROM:<a@b> -X=1", f, "Bad parameter syntax");
    bad_param("FROM:<a@b> =1", f, NULL);
    bad_param("FROM:<a@b> A_B=1", f, NULL);
    bad_param("FROM:<a@b> A.B", f, NULL);
    bad_param("FROM:<a@b> ABCDEFGHIJKLMNOPQRSTU=1", f, NULL); /* 21 characters */
    bad_param("FROM:<a@b> \xc3\xa9=1", f, NULL);
    expect_err_len("FROM:<a@b> SIZE=1\0", 18, MAIL, 501, "5.5.4", NULL);
    expect_err_len("FROM:<a@b> SIZE=1\t", 18, MAIL, 501, "5.5.4", NULL);
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b> ABCDEFGHIJKLMNOPQRST=1", f, "a@b");
    smtp_path_free(&p);
}

static void test_parameter_spacing(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "FROM:<a@b>   SIZE=10    BODY=8BITMIME  ", MAIL, "a@b");
    assert_true(p.size == 10);
    assert_int_equal(p.body, SMTP_BODY_8BITMIME);
    parse_into(&p, "FROM:a@b SIZE=11", MAIL, "a@b");
    assert_true(p.size == 11);
    parse_into(&p, "TO:<a@b> ", RCPT, "a@b");
    smtp_path_free(&p);
}

static void test_parameter_count_limit(void **state)
{
    char args[600];
    int f = MAIL | SMTP_PATH_UNKNOWN_PARAM;
    strcpy(args, "FROM:<a@b>");
    for (int i = 0; i < SMTP_CMD_PARAMS_MAX; i++)
        snprintf(args + strlen(args), sizeof(args) - strlen(args), " X%d=1", i);
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, args, f, "a@b");
    smtp_path_free(&p);
    strcat(args, " XLAST");
    bad_param(args, f, "Too many parameters");
}

static void test_all_mail_parameters_together(void **state)
{
    struct smtp_path p;
    const char *a = "FROM:<\"j s\"@x.example> SIZE=999 BODY=8BITMIME SMTPUTF8 RET=HDRS "
                    "ENVID=id+2B1 AUTH=j+20s@x.example";
    smtp_path_init(&p);
    parse_into(&p, a, MAIL, "j s@x.example");
    assert_true(p.size == 999);
    assert_int_equal(p.size_given, 1);
    assert_int_equal(p.body, SMTP_BODY_8BITMIME);
    assert_int_equal(p.smtputf8, 1);
    assert_int_equal(p.ret, SMTP_RET_HDRS);
    assert_string_equal(p.envid.data, "id+1");
    assert_string_equal(p.auth.data, "j s@x.example");
    assert_int_equal(p.notify, 0);
    assert_int_equal(p.orcpt.len, 0);
    smtp_path_free(&p);
}

static void test_reparse_resets_previous_values(void **state)
{
    struct smtp_path p;
    struct smtp_reply err = {0, "", ""};
    const char *a = "FROM:<a@b> SIZE=5 BODY=7BIT SMTPUTF8 RET=FULL ENVID=e AUTH=<>";
    smtp_path_init(&p);
    parse_into(&p, a, MAIL, "a@b");
    parse_into(&p, "FROM:<>", MAIL, "");
    assert_int_equal(p.null_sender, 1);
    assert_int_equal(p.size_given, 0);
    assert_int_equal(p.body, SMTP_BODY_NONE);
    assert_int_equal(p.smtputf8, 0);
    assert_int_equal(p.ret, SMTP_RET_NONE);
    assert_int_equal(p.envid.len, 0);
    assert_int_equal(p.auth_given, 0);
    assert_int_equal(p.auth.len, 0);
    /* a failed parse leaves nothing from the good part behind */
    parse_into(&p, a, MAIL, "a@b");
    assert_int_equal(smtp_path_parse("FROM:<a@b> SIZE=5 BODY=9", 24, MAIL, &p, &err), -1);
    assert_int_equal(p.addr.len, 0);
    assert_string_equal(p.addr.data, "");
    assert_int_equal(p.size_given, 0);
    assert_int_equal(p.smtputf8, 0);
    smtp_path_free(&p);
}

static void test_buffers_read_as_empty_strings_after_parse(void **state)
{
    struct smtp_path p;
    smtp_path_init(&p);
    parse_into(&p, "TO:<a@b>", RCPT, "a@b");
    assert_non_null(p.envid.data);
    assert_non_null(p.auth.data);
    assert_non_null(p.orcpt.data);
    assert_string_equal(p.orcpt.data, "");
    smtp_path_free(&p);
}

/* ---- xtext and quoting ------------------------------------------------------ */

static void test_xtext_decode(void **state)
{
    struct buf out = BUF_INIT;
    assert_int_equal(smtp_xtext_decode("", 0, &out), 0);
    assert_string_equal(buf_cstr(&out), "");
    assert_int_equal(smtp_xtext_decode("a+2Bb+3Dc", 9, &out), 0);
    assert_string_equal(out.data, "a+b=c");
    assert_int_equal(smtp_xtext_decode("+C3+A9", 6, &out), 0);
    assert_string_equal(out.data, "\xc3\xa9");
    assert_int_equal(smtp_xtext_decode("a+2b", 4, &out), -1);
    assert_int_equal(out.len, 0);
    assert_int_equal(smtp_xtext_decode("a+", 2, &out), -1);
    assert_int_equal(smtp_xtext_decode("a+G0", 4, &out), -1);
    assert_int_equal(smtp_xtext_decode("a=b", 3, &out), -1);
    assert_int_equal(smtp_xtext_decode("a b", 3, &out), -1);
    assert_int_equal(smtp_xtext_decode("a\x7f", 2, &out), -1);
    assert_int_equal(smtp_xtext_decode("a\xc3\xa9", 3, &out), -1);
    assert_int_equal(smtp_xtext_decode("a\0b", 3, &out), -1);
    assert_int_equal(smtp_xtext_decode("+00", 3, &out), -1);
    assert_int_equal(smtp_xtext_decode("+0D", 3, &out), -1);
    assert_int_equal(smtp_xtext_decode("+0A", 3, &out), -1);
    buf_free(&out);
}

static void test_xtext_encode_round_trip(void **state)
{
    struct buf enc = BUF_INIT, dec = BUF_INIT;
    char all[256];
    size_t n = 0;
    for (int c = 1; c < 256; c++)
        if (c != '\r' && c != '\n')
            all[n++] = (char)c;
    all[n] = 0;
    smtp_xtext_encode(all, &enc);
    for (size_t i = 0; i < enc.len; i++) {
        unsigned char c = (unsigned char)enc.data[i];
        if (c < 33 || c > 126 || c == '=')
            fail_msg("xtext_encode produced byte %#x", c);
    }
    assert_int_equal(smtp_xtext_decode(enc.data, enc.len, &dec), 0);
    assert_string_equal(dec.data, all);
    smtp_xtext_encode("a+b=c d", &enc);
    assert_string_equal(enc.data, "a+2Bb+3Dc+20d");
    smtp_xtext_encode("", &enc);
    assert_string_equal(enc.data, "");
    buf_free(&enc);
    buf_free(&dec);
}

static void test_quote_addr(void **state)
{
    struct buf out = BUF_INIT;
    smtp_quote_addr("john smith@x.example", &out);
    assert_string_equal(out.data, "\"john smith\"@x.example");
    smtp_quote_addr("user@other@ours", &out);
    assert_string_equal(out.data, "\"user@other\"@ours");
    smtp_quote_addr("say \"hi\"\\@x", &out);
    assert_string_equal(out.data, "\"say \\\"hi\\\"\\\\\"@x");
    smtp_quote_addr("plain.user@x", &out);
    assert_string_equal(out.data, "plain.user@x");
    smtp_quote_addr("", &out);
    assert_string_equal(out.data, "");
    smtp_quote_addr("Postmaster", &out);
    assert_string_equal(out.data, "Postmaster");
    smtp_quote_addr("bad\r\nline@x", &out);
    assert_null(memchr(out.data, '\r', out.len));
    assert_null(memchr(out.data, '\n', out.len));
    buf_free(&out);
}

/* The quoted form parses back to the same internal address. */
static void test_quote_then_parse_round_trips(void **state)
{
    static const char *const addrs[] = {
        "john smith@x.example",
        "user@other@ours",
        "say \"hi\"@x",
        "back\\slash@x",
        "a..b@x",
        "j\xc3\xb6rg@x",
        "a>b@x",
        "Joe,Smith@x",
        "user%other@ours",
        "other!user@ours",
    };
    struct buf q = BUF_INIT, args = BUF_INIT;
    struct smtp_path p;
    smtp_path_init(&p);
    for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
        smtp_quote_addr(addrs[i], &q);
        buf_reset(&args);
        buf_printf(&args, "TO:<%s>", q.data);
        parse_into(&p, args.data, RCPT, addrs[i]);
    }
    smtp_path_free(&p);
    buf_free(&q);
    buf_free(&args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_verb_upper_cased_args_after_space),
        cmocka_unit_test(test_split_extra_spaces_are_skipped),
        cmocka_unit_test(test_split_verb_without_args),
        cmocka_unit_test(test_split_empty_line_gives_empty_verb),
        cmocka_unit_test(test_split_rejects_control_characters),
        cmocka_unit_test(test_split_rejects_verb_that_is_not_letters),
        cmocka_unit_test(test_split_allows_8bit_in_args),
        cmocka_unit_test(test_split_verb_length_bound),
        cmocka_unit_test(test_mail_and_rcpt_plain_address),
        cmocka_unit_test(test_prefix_is_case_insensitive),
        cmocka_unit_test(test_wrong_prefix_gives_usage_reply),
        cmocka_unit_test(test_missing_address_gives_usage_reply),
        cmocka_unit_test(test_space_after_colon_tolerated_unless_strict),
        cmocka_unit_test(test_missing_brackets_tolerated_unless_strict),
        cmocka_unit_test(test_null_sender),
        cmocka_unit_test(test_null_recipient_rejected),
        cmocka_unit_test(test_relay_percent_hack_kept_as_given),
        cmocka_unit_test(test_relay_source_route_dropped),
        cmocka_unit_test(test_relay_bang_path_kept),
        cmocka_unit_test(test_relay_quoted_at_sign_in_local_part),
        cmocka_unit_test(test_trailing_dot_removed),
        cmocka_unit_test(test_case_kept_as_given),
        cmocka_unit_test(test_ipv4_address_literal),
        cmocka_unit_test(test_ipv6_address_literal),
        cmocka_unit_test(test_bad_address_literals),
        cmocka_unit_test(test_quoted_local_part_with_space_and_escapes),
        cmocka_unit_test(test_quoted_atom_is_unquoted),
        cmocka_unit_test(test_bad_quoted_strings),
        cmocka_unit_test(test_postmaster_without_domain),
        cmocka_unit_test(test_bare_local_part_accepted),
        cmocka_unit_test(test_quoted_at_sign_without_domain_rejected),
        cmocka_unit_test(test_dot_atom_local_part_is_lenient),
        cmocka_unit_test(test_bad_local_part_characters),
        cmocka_unit_test(test_bad_domains),
        cmocka_unit_test(test_domain_characters_accepted),
        cmocka_unit_test(test_bad_source_routes),
        cmocka_unit_test(test_text_after_path_rejected),
        cmocka_unit_test(test_missing_close_bracket_rejected),
        cmocka_unit_test(test_nul_and_control_characters_in_path),
        cmocka_unit_test(test_local_part_limit_64),
        cmocka_unit_test(test_path_limit_256),
        cmocka_unit_test(test_domain_limit_255),
        cmocka_unit_test(test_300_byte_addresses_rejected),
        cmocka_unit_test(test_utf8_address_sets_flag),
        cmocka_unit_test(test_invalid_utf8_rejected),
        cmocka_unit_test(test_size_parameter),
        cmocka_unit_test(test_size_overflow_exceeds_limit),
        cmocka_unit_test(test_size_syntax_errors),
        cmocka_unit_test(test_body_parameter),
        cmocka_unit_test(test_smtputf8_parameter),
        cmocka_unit_test(test_ret_parameter),
        cmocka_unit_test(test_envid_parameter),
        cmocka_unit_test(test_auth_parameter),
        cmocka_unit_test(test_notify_parameter),
        cmocka_unit_test(test_notify_syntax_errors),
        cmocka_unit_test(test_orcpt_parameter),
        cmocka_unit_test(test_orcpt_syntax_errors),
        cmocka_unit_test(test_duplicate_parameter_rejected),
        cmocka_unit_test(test_parameter_of_other_command_unsupported),
        cmocka_unit_test(test_unknown_parameter),
        cmocka_unit_test(test_bad_keyword_syntax),
        cmocka_unit_test(test_parameter_spacing),
        cmocka_unit_test(test_parameter_count_limit),
        cmocka_unit_test(test_all_mail_parameters_together),
        cmocka_unit_test(test_reparse_resets_previous_values),
        cmocka_unit_test(test_buffers_read_as_empty_strings_after_parse),
        cmocka_unit_test(test_xtext_decode),
        cmocka_unit_test(test_xtext_encode_round_trip),
        cmocka_unit_test(test_quote_addr),
        cmocka_unit_test(test_quote_then_parse_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
