/* test_smtp_client - the pure parts of the smtp client: next-hop syntax
 * (MX or not, ports, literals, LMTP sockets), the DATA encoder (CRLF,
 * dot-stuffing, no bare CR or LF out, long-line folding), and the DSN
 * parameters of RCPT TO. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mail/smtp_client.h"
#include "mail/smtp_cmd.h"

static void nexthop_ok(const char *in, int lmtp, const char *host, unsigned port, int mx, int addr,
                       const char *path)
{
    struct smtp_nexthop nh;
    struct buf why = BUF_INIT;
    if (smtp_nexthop_parse(in, lmtp, &nh, &why) != 0)
        fail_msg("%s: %s", in, buf_cstr(&why));
    assert_string_equal(nh.host, host);
    assert_int_equal(nh.port, port);
    assert_int_equal(nh.mx, mx);
    assert_int_equal(nh.addr, addr);
    assert_string_equal(nh.path, path);
    buf_free(&why);
}

static void test_nexthop_forms(void **state)
{
    (void)state;
    nexthop_ok("example.com", 0, "example.com", 25, 1, 0, "");
    nexthop_ok("example.com:2525", 0, "example.com", 2525, 1, 0, "");
    nexthop_ok("[mail.example.com]", 0, "mail.example.com", 25, 0, 0, "");
    nexthop_ok("[mail.example.com]:submission", 0, "mail.example.com", 587, 0, 0, "");
    nexthop_ok("[192.0.2.1]:2525", 0, "192.0.2.1", 2525, 0, 1, "");
    nexthop_ok("192.0.2.1", 0, "192.0.2.1", 25, 0, 1, "");
    nexthop_ok("[ipv6:2001:db8::1]:25", 0, "2001:db8::1", 25, 0, 1, "");
    nexthop_ok("[2001:db8::1]", 0, "2001:db8::1", 25, 0, 1, "");
    nexthop_ok("unix:private/dovecot-lmtp", 1, "", 24, 0, 0, "private/dovecot-lmtp");
    nexthop_ok("inet:store.example:2400", 1, "store.example", 2400, 0, 0, "");
    nexthop_ok("store.example", 1, "store.example", 24, 0, 0, "");
}

static void test_nexthop_bad(void **state)
{
    static const char *bad[] = {"",
                                "[x.example",
                                "[x.example]junk",
                                "x.example:0",
                                "x.example:65536",
                                "x.example:abc",
                                "bad_host!.example",
                                "[]:25",
                                "-x.example"};
    struct smtp_nexthop nh;
    struct buf why = BUF_INIT;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (smtp_nexthop_parse(bad[i], 0, &nh, &why) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    /* unix: is an LMTP form only */
    assert_int_equal(smtp_nexthop_parse("unix:/x", 0, &nh, &why), -1);
    buf_free(&why);
}

static void encode(const char *in, size_t limit, const char *want)
{
    struct smtp_data_enc e;
    struct buf out = BUF_INIT;
    smtp_data_enc_init(&e, limit);
    /* byte by byte: chunk boundaries must not matter */
    for (size_t i = 0; in[i]; i++)
        smtp_data_enc_put(&e, in + i, 1, &out);
    smtp_data_enc_end(&e, &out);
    assert_string_equal(buf_cstr(&out), want);
    buf_free(&out);
}

static void test_data_encoding(void **state)
{
    (void)state;
    encode("a\nb\n", 0, "a\r\nb\r\n.\r\n");
    encode("no newline", 0, "no newline\r\n.\r\n");
    encode("", 0, ".\r\n");
    /* RFC 5321 4.5.2 */
    encode(".\n..x\nmid.dle\n", 0, "..\r\n...x\r\nmid.dle\r\n.\r\n");
    /* CRLF in content stays one line end; a bare CR becomes one */
    encode("a\r\nb\rc\n", 0, "a\r\nb\r\nc\r\n.\r\n");
    encode("x\r\n.\r\n", 0, "x\r\n..\r\n.\r\n");
    /* smuggling: LF.CR is never sent as a bare sequence */
    encode("a\n.\rb\n", 0, "a\r\n..\r\nb\r\n.\r\n");
    /* folding with CRLF SPACE */
    encode("abcdefghij\n", 4, "abcd\r\n efg\r\n hij\r\n.\r\n");
}

static void test_dsn_params(void **state)
{
    struct buf b = BUF_INIT;
    (void)state;
    smtp_notify_param(SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, &b);
    assert_string_equal(buf_cstr(&b), " NOTIFY=SUCCESS,FAILURE");
    buf_reset(&b);
    smtp_notify_param(SMTP_NOTIFY_NEVER, &b);
    assert_string_equal(buf_cstr(&b), " NOTIFY=NEVER");
    buf_reset(&b);
    smtp_notify_param(0, &b);
    assert_string_equal(buf_cstr(&b), "");
    buf_set(&b, "RCPT TO:<a@b>");
    smtp_orcpt_param("u+x=y@example.com", &b);
    assert_string_equal(buf_cstr(&b), "RCPT TO:<a@b> ORCPT=rfc822;u+2Bx+3Dy@example.com");
    buf_free(&b);
}

static void test_8bit_and_utf8(void **state)
{
    (void)state;
    assert_int_equal(smtp_content_8bit("plain", 5), 0);
    assert_int_equal(smtp_content_8bit("caf\xc3\xa9", 5), 1);
    assert_int_equal(smtp_needs_utf8("user@example.com"), 0);
    assert_int_equal(smtp_needs_utf8("j\xc3\xb6rg@example.com"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nexthop_forms), cmocka_unit_test(test_nexthop_bad),
        cmocka_unit_test(test_data_encoding), cmocka_unit_test(test_dsn_params),
        cmocka_unit_test(test_8bit_and_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
