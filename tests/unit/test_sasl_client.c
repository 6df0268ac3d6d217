/* test_sasl_client - SMTP AUTH as a client: credentials from
 * smtp_sasl_password_maps in Postfix's order (host, then the next hop as
 * written), the mechanism choice under smtp_sasl_security_options, the
 * PLAIN initial response and the LOGIN / PLAIN answers to 334 challenges,
 * checked against the server-side decoder (sasl_mech) where it applies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl_base64.h"
#include "auth/sasl_client.h"
#include "auth/sasl_mech.h"

static void open_ok(struct maps *ms, const char *value)
{
    struct buf why = BUF_INIT;
    if (maps_open(ms, "smtp_sasl_password_maps", value, MAP_FOLD_CASE, &why) < 0)
        fail_msg("maps_open %s: %s", value, buf_cstr(&why));
    buf_free(&why);
}

static void cred_is(struct maps *ms, const char *nexthop, const char *host, int want,
                    const char *user, const char *pass)
{
    struct sasl_client_cred c;
    struct buf why = BUF_INIT;
    int rc = sasl_client_find_cred(ms, nexthop, host, &c, &why);
    if (rc != want)
        fail_msg("%s/%s: got %d (%s), want %d", nexthop, host ? host : "-", rc, buf_cstr(&why),
                 want);
    if (want == 1) {
        assert_string_equal(c.username, user);
        assert_string_equal(c.password, pass);
    } else {
        assert_null(c.username);
        assert_null(c.password);
    }
    sasl_client_cred_free(&c);
    buf_free(&why);
}

static void test_host_first_then_next_hop_as_written(void **state)
{
    struct maps ms;
    open_ok(&ms, "inline:{ [relay.example]:587=bracket:pw1, relay.example=host:pw2, "
                 "mx1.example.com=mx:pw3, example.com=dom:pw4 }");
    /* the host connected to wins over the bracketed next hop (Postfix) */
    cred_is(&ms, "[relay.example]:587", "relay.example", 1, "host", "pw2");
    cred_is(&ms, "[relay.example]:587", "other.example", 1, "bracket", "pw1");
    cred_is(&ms, "[relay.example]:587", NULL, 1, "bracket", "pw1");
    /* MX delivery: the MX host name, then the domain */
    cred_is(&ms, "example.com", "mx1.example.com", 1, "mx", "pw3");
    cred_is(&ms, "example.com", "mx2.example.com", 1, "dom", "pw4");
    /* no port stripping: a different port is a different key */
    cred_is(&ms, "[relay.example]:25", "10.0.0.1", 0, NULL, NULL);
    cred_is(&ms, "nowhere.example", "", 0, NULL, NULL);
    maps_close(&ms);
}

static void test_value_splits_at_first_colon(void **state)
{
    struct maps ms;
    open_ok(&ms, "inline:{ a.example=u:p:with:colons, b.example=nocolon, c.example=:x }");
    cred_is(&ms, "a.example", NULL, 1, "u", "p:with:colons");
    cred_is(&ms, "b.example", NULL, 1, "nocolon", "");
    cred_is(&ms, "c.example", NULL, 1, "", "x");
    maps_close(&ms);
    /* no table, an empty list: no AUTH */
    cred_is(NULL, "a.example", "a.example", 0, NULL, NULL);
    open_ok(&ms, "");
    cred_is(&ms, "a.example", "a.example", 0, NULL, NULL);
    maps_close(&ms);
}

static void test_table_failure_is_an_error_not_no_auth(void **state)
{
    struct maps ms;
    struct sasl_client_cred c;
    struct buf why = BUF_INIT;
    open_ok(&ms, "fail:ldap_down");
    assert_int_equal(sasl_client_find_cred(&ms, "[relay.example]:587", "relay.example", &c, &why),
                     -1);
    assert_non_null(strstr(buf_cstr(&why), "SASL password lookup for relay.example"));
    assert_null(c.username);
    maps_close(&ms);
    buf_free(&why);
}

static void choose_is(const char *offered, const char *opts, const char *want, const char *why_has)
{
    struct buf why = BUF_INIT;
    const char *m = sasl_client_choose(offered, opts, &why);
    if (want == NULL) {
        if (m != NULL)
            fail_msg("\"%s\" / \"%s\": chose %s, want none", offered, opts, m);
        if (strstr(buf_cstr(&why), why_has) == NULL)
            fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", offered, buf_cstr(&why), why_has);
    } else {
        if (m == NULL || strcmp(m, want) != 0)
            fail_msg("\"%s\" / \"%s\": chose %s (%s), want %s", offered, opts, m ? m : "none",
                     buf_cstr(&why), want);
    }
    buf_free(&why);
}

static void test_mechanism_choice(void **state)
{
    choose_is("PLAIN LOGIN CRAM-MD5", "noanonymous", "PLAIN", NULL);
    choose_is("login plain", "noanonymous", "PLAIN", NULL);
    choose_is("CRAM-MD5 LOGIN", "noanonymous", "LOGIN", NULL);
    choose_is("  LOGIN\tDIGEST-MD5 ", "", "LOGIN", NULL);
    choose_is("PLAINX XLOGIN", "noanonymous", NULL, "server offered \"PLAINX XLOGIN\"");
    choose_is("CRAM-MD5 GSSAPI", "noanonymous", NULL, "no mechanism available");
    choose_is("", "noanonymous", NULL, "no mechanism available");
    choose_is(NULL, "noanonymous", NULL, "no mechanism available");
    /* Postfix's default refuses plaintext mechanisms */
    choose_is("PLAIN LOGIN", "noplaintext, noanonymous", NULL, "noplaintext excludes");
    choose_is("PLAIN LOGIN", "nodictionary", NULL, "nodictionary excludes");
    choose_is("PLAIN LOGIN", "noanonymous, bogus", NULL, "unknown SASL security option");
    /* server text in the reason is bounded and printable */
    char big[600];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    big[3] = '\x1b';
    struct buf why = BUF_INIT;
    assert_null(sasl_client_choose(big, "noanonymous", &why));
    assert_true(why.len < 300);
    assert_null(strchr(buf_cstr(&why), '\x1b'));
    buf_free(&why);
}

/* decode - base64 text to a C string (the test's data has no NUL unless
 * said). */
static size_t decode(const char *text, struct buf *out)
{
    struct buf why = BUF_INIT;
    if (sasl_base64_decode(text, strlen(text), 4096, out, &why) < 0)
        fail_msg("bad base64 \"%s\": %s", text, buf_cstr(&why));
    buf_free(&why);
    return out->len;
}

static void test_plain_initial_response_is_what_a_server_accepts(void **state)
{
    struct sasl_client_cred c = {"jane@example.com", "s3cr:et pass"};
    struct buf line = BUF_INIT, why = BUF_INIT, chal = BUF_INIT;
    assert_int_equal(sasl_client_initial("plain", &c, &line, &why), 0);
    assert_memory_equal(line.data, "AUTH PLAIN ", 11);
    /* our server side takes it */
    struct sasl_exchange x;
    sasl_exchange_init(&x, SASL_MECH_PLAIN);
    const char *resp = line.data + 11;
    assert_int_equal(sasl_exchange_start(&x, resp, strlen(resp), &chal, &why), SASL_DONE);
    assert_string_equal(buf_cstr(&x.authcid), "jane@example.com");
    assert_string_equal(buf_cstr(&x.passwd), "s3cr:et pass");
    sasl_exchange_free(&x);
    /* and the exact bytes */
    struct buf raw = BUF_INIT;
    assert_int_equal(decode(resp, &raw), 1 + 16 + 1 + 12);
    assert_memory_equal(raw.data, "\0jane@example.com\0s3cr:et pass", raw.len);
    buf_free(&raw);
    assert_int_equal(sasl_client_initial("LOGIN", &c, &line, &why), 0);
    assert_string_equal(buf_cstr(&line), "AUTH LOGIN");
    buf_free(&line);
    buf_free(&why);
    buf_free(&chal);
}

static void test_bad_credentials_or_mechanism_are_refused(void **state)
{
    struct buf line = BUF_INIT, why = BUF_INIT;
    char longname[1100];
    memset(longname, 'u', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    struct sasl_client_cred empty = {"", "x"}, toolong = {longname, "x"}, ok = {"u", "p"};
    assert_int_equal(sasl_client_initial("PLAIN", &empty, &line, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "empty"));
    assert_int_equal(sasl_client_initial("PLAIN", &toolong, &line, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "longer than 1024"));
    assert_int_equal(sasl_client_initial("CRAM-MD5", &ok, &line, &why), -1);
    assert_int_equal(sasl_client_initial(NULL, &ok, &line, &why), -1);
    assert_int_equal(sasl_client_step("CRAM-MD5", &ok, "", &line, &why), -1);
    buf_free(&line);
    buf_free(&why);
}

/* The whole LOGIN exchange against our server-side state machine. */
static void test_login_exchange_completes_against_the_server_side(void **state)
{
    struct sasl_client_cred c = {"bob", "pa:ss word"};
    struct buf line = BUF_INIT, why = BUF_INIT, chal = BUF_INIT;
    struct sasl_exchange x;
    sasl_exchange_init(&x, SASL_MECH_LOGIN);
    assert_int_equal(sasl_exchange_start(&x, "", 0, &chal, &why), SASL_CONTINUE);
    assert_int_equal(sasl_client_step("LOGIN", &c, chal.data, &line, &why), 0);
    assert_int_equal(sasl_exchange_step(&x, line.data, line.len, &chal, &why), SASL_CONTINUE);
    assert_int_equal(sasl_client_step("LOGIN", &c, chal.data, &line, &why), 0);
    assert_int_equal(sasl_exchange_step(&x, line.data, line.len, &chal, &why), SASL_DONE);
    assert_string_equal(buf_cstr(&x.authcid), "bob");
    assert_string_equal(buf_cstr(&x.passwd), "pa:ss word");
    sasl_exchange_free(&x);
    buf_free(&line);
    buf_free(&why);
    buf_free(&chal);
}

static void step_is(const char *mech, const char *challenge, int want, const char *decoded)
{
    struct sasl_client_cred c = {"user1", "pass1"};
    struct buf line = BUF_INIT, why = BUF_INIT, raw = BUF_INIT;
    int rc = sasl_client_step(mech, &c, challenge, &line, &why);
    if (rc != want)
        fail_msg("%s \"%.40s\": got %d (%s), want %d", mech, challenge, rc, buf_cstr(&why), want);
    if (want == 0) {
        decode(line.data, &raw);
        assert_int_equal(raw.len, strlen(decoded));
        assert_memory_equal(raw.data, decoded, raw.len);
        assert_null(strpbrk(line.data, "\r\n "));
    } else {
        assert_true(why.len > 0);
        assert_int_equal(line.len, 0);
    }
    buf_free(&line);
    buf_free(&why);
    buf_free(&raw);
}

static void test_login_prompts(void **state)
{
    step_is("LOGIN", "VXNlcm5hbWU6", 0, "user1");             /* "Username:" */
    step_is("login", "dXNlcm5hbWU6", 0, "user1");             /* "username:" */
    step_is("LOGIN", "VXNlciBOYW1lAA==", 0, "user1");         /* "User Name\0" (Exchange) */
    step_is("LOGIN", "UGFzc3dvcmQ6", 0, "pass1");             /* "Password:" */
    step_is("LOGIN", "UGFzc3dvcmQ6  ", 0, "pass1");           /* trailing blanks */
    step_is("LOGIN", "Z2l2ZSBtZSB0aGUgc2VjcmV0", 0, "pass1"); /* "give me the secret" */
}

static void test_plain_step_and_malformed_challenges(void **state)
{
    struct sasl_client_cred c = {"user1", "pass1"};
    struct buf line = BUF_INIT, why = BUF_INIT, raw = BUF_INIT;
    /* RFC 4954: "334 " with nothing asks for the PLAIN response */
    assert_int_equal(sasl_client_step("PLAIN", &c, "", &line, &why), 0);
    decode(line.data, &raw);
    assert_int_equal(raw.len, 12);
    assert_memory_equal(raw.data, "\0user1\0pass1", 12);
    step_is("PLAIN", "VXNlcm5hbWU6", -1, NULL);
    step_is("LOGIN", "not base64!", -1, NULL);
    step_is("LOGIN", "VXNlcm5hbWU", -1, NULL);   /* bad length */
    step_is("LOGIN", " VXNlcm5hbWU6", -1, NULL); /* leading blank */
    /* a challenge over 1024 decoded bytes */
    char big[2000];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    step_is("LOGIN", big, -1, NULL);
    buf_free(&line);
    buf_free(&why);
    buf_free(&raw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_first_then_next_hop_as_written),
        cmocka_unit_test(test_value_splits_at_first_colon),
        cmocka_unit_test(test_table_failure_is_an_error_not_no_auth),
        cmocka_unit_test(test_mechanism_choice),
        cmocka_unit_test(test_plain_initial_response_is_what_a_server_accepts),
        cmocka_unit_test(test_bad_credentials_or_mechanism_are_refused),
        cmocka_unit_test(test_login_exchange_completes_against_the_server_side),
        cmocka_unit_test(test_login_prompts),
        cmocka_unit_test(test_plain_step_and_malformed_challenges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
