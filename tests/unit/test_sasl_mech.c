/* test_sasl_mech - PLAIN and LOGIN exchanges: the normal flows, with and
 * without initial responses, cancel, and hostile input (bad base64, NUL
 * and control bytes, invalid UTF-8, over-long parts, extra steps). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth/sasl_base64.h"
#include "auth/sasl_mech.h"
#include "util/alloc.h"

/* b64 - the base64 of n bytes, malloc'ed */
static char *b64(const char *p, size_t n)
{
    struct buf out = BUF_INIT;
    sasl_base64_encode(p, n, &out);
    return buf_steal(&out);
}

struct run {
    struct sasl_exchange x;
    struct buf challenge, why;
};

static void run_init(struct run *r, enum sasl_mech_id id)
{
    sasl_exchange_init(&r->x, id);
    buf_init(&r->challenge);
    buf_init(&r->why);
}

static void run_free(struct run *r)
{
    sasl_exchange_free(&r->x);
    buf_free(&r->challenge);
    buf_free(&r->why);
}

static enum sasl_result start_raw(struct run *r, const char *wire)
{
    return sasl_exchange_start(&r->x, wire, wire ? strlen(wire) : 0, &r->challenge, &r->why);
}

static enum sasl_result start_bytes(struct run *r, const char *p, size_t n)
{
    char *w = b64(p, n);
    enum sasl_result res = start_raw(r, w);
    free(w);
    return res;
}

static enum sasl_result step_raw(struct run *r, const char *wire)
{
    return sasl_exchange_step(&r->x, wire, strlen(wire), &r->challenge, &r->why);
}

static enum sasl_result step_bytes(struct run *r, const char *p, size_t n)
{
    char *w = b64(p, n);
    enum sasl_result res = step_raw(r, w);
    free(w);
    return res;
}

static void expect_fail(struct run *r, enum sasl_result res, const char *why_part)
{
    if (res != SASL_FAIL)
        fail_msg("expected failure (%s), got %d", why_part, (int)res);
    if (strstr(buf_cstr(&r->why), why_part) == NULL)
        fail_msg("reason [%s] does not mention [%s]", buf_cstr(&r->why), why_part);
    assert_int_equal(r->x.passwd.len, 0);
}

/* plain_fails - a PLAIN initial response of n bytes must fail with why_part */
static void plain_fails(const char *p, size_t n, const char *why_part)
{
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    expect_fail(&r, start_bytes(&r, p, n), why_part);
    run_free(&r);
}

static void test_mechanism_names_are_case_insensitive(void **state)
{
    assert_int_equal(sasl_mech_by_name("PLAIN"), SASL_MECH_PLAIN);
    assert_int_equal(sasl_mech_by_name("plain"), SASL_MECH_PLAIN);
    assert_int_equal(sasl_mech_by_name("Login"), SASL_MECH_LOGIN);
    assert_int_equal(sasl_mech_by_name("CRAM-MD5"), SASL_MECH_NONE);
    assert_int_equal(sasl_mech_by_name("PLAIN "), SASL_MECH_NONE);
    assert_int_equal(sasl_mech_by_name(NULL), SASL_MECH_NONE);
    assert_string_equal(sasl_mech_name(SASL_MECH_LOGIN), "LOGIN");
}

static void test_plain_initial_response_gives_credentials(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    /* "\0amy\0secret" as a client sends it */
    assert_int_equal(start_raw(&r, "AGFteQBzZWNyZXQ="), SASL_DONE);
    assert_string_equal(buf_cstr(&r.x.authcid), "amy");
    assert_string_equal(buf_cstr(&r.x.passwd), "secret");
    assert_int_equal(r.x.authzid.len, 0);
    /* nothing more is accepted after the end */
    expect_fail(&r, step_raw(&r, "AGFteQBzZWNyZXQ="), "unexpected response");
    run_free(&r);
}

static void test_plain_authzid_equal_to_authcid_is_accepted(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    assert_int_equal(start_bytes(&r, "amy\0amy\0pw", 10), SASL_DONE);
    assert_string_equal(buf_cstr(&r.x.authzid), "amy");
    run_free(&r);
}

static void test_plain_other_authzid_is_refused(void **state)
{
    plain_fails("root\0amy\0pw", 11, "authorization identity differs");
    plain_fails("Amy\0amy\0pw", 10, "authorization identity differs");
}

static void test_plain_without_initial_response_sends_empty_challenge(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    assert_int_equal(start_raw(&r, ""), SASL_CONTINUE);
    assert_int_equal(r.challenge.len, 0);
    assert_int_equal(step_bytes(&r, "\0bob\0hunter2", 12), SASL_DONE);
    assert_string_equal(buf_cstr(&r.x.authcid), "bob");
    assert_string_equal(buf_cstr(&r.x.passwd), "hunter2");
    run_free(&r);
    run_init(&r, SASL_MECH_PLAIN);
    assert_int_equal(start_raw(&r, NULL), SASL_CONTINUE);
    run_free(&r);
}

static void test_plain_empty_initial_response_is_malformed(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    expect_fail(&r, start_raw(&r, "="), "malformed PLAIN");
    run_free(&r);
}

static void test_plain_hostile_responses_are_refused(void **state)
{
    plain_fails("amy", 3, "malformed PLAIN");
    plain_fails("\0amy", 4, "malformed PLAIN");
    plain_fails("\0\0pw", 4, "empty user name");
    plain_fails("\0amy\0", 5, "empty password");
    plain_fails("\0amy\0pw\0x", 9, "NUL byte in password");
    plain_fails("\0a\tmy\0pw", 8, "control character");
    plain_fails("\0a\x7fmy\0pw", 8, "control character");
    plain_fails("\0a\xc2\x85y\0pw", 8, "control character"); /* U+0085 NEL */
    plain_fails("\0a\xffy\0pw", 7, "not valid UTF-8");
    plain_fails("\0a\xc0\xafy\0pw", 8, "not valid UTF-8");     /* overlong '/' */
    plain_fails("\0a\xed\xa0\x80y\0pw", 9, "not valid UTF-8"); /* surrogate */
    plain_fails("\0\xe2\x82\0pw", 6, "not valid UTF-8");       /* cut sequence */
}

static void test_plain_utf8_user_is_accepted(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    const char msg[] = "\0j\xc3\xb6rg@\xe4\xbe\x8b.example\0pw";
    assert_int_equal(start_bytes(&r, msg, sizeof(msg) - 1), SASL_DONE);
    assert_string_equal(buf_cstr(&r.x.authcid), "j\xc3\xb6rg@\xe4\xbe\x8b.example");
    run_free(&r);
}

static void test_parts_are_bounded(void **state)
{
    size_t n = 1 + SASL_NAME_MAX + 1 + 1 + 3;
    char *msg = xmalloc(n);
    /* a user name of exactly SASL_NAME_MAX bytes is fine ... */
    msg[0] = 0;
    memset(msg + 1, 'u', SASL_NAME_MAX);
    msg[1 + SASL_NAME_MAX] = 0;
    memcpy(msg + 2 + SASL_NAME_MAX, "pw", 2);
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    assert_int_equal(start_bytes(&r, msg, 2 + SASL_NAME_MAX + 2), SASL_DONE);
    run_free(&r);
    /* ... one more is not */
    memset(msg + 1, 'u', SASL_NAME_MAX + 1);
    msg[2 + SASL_NAME_MAX] = 0;
    memcpy(msg + 3 + SASL_NAME_MAX, "pw", 2);
    plain_fails(msg, n, "user name longer than");
    free(msg);

    size_t pn = 5 + SASL_PASS_MAX + 1;
    char *pm = xmalloc(pn);
    memcpy(pm, "\0amy\0", 5);
    memset(pm + 5, 'p', SASL_PASS_MAX + 1);
    plain_fails(pm, pn, "password longer than");
    free(pm);
}

static void test_wire_text_is_bounded(void **state)
{
    char *w = xmalloc(SASL_WIRE_MAX + 5);
    memset(w, 'A', SASL_WIRE_MAX + 4);
    w[SASL_WIRE_MAX + 4] = 0;
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    expect_fail(&r, start_raw(&r, w), "response longer than");
    run_free(&r);
    free(w);
}

static void test_bad_base64_fails(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    expect_fail(&r, start_raw(&r, "AGFteQBzZWNyZXQ"), "malformed response");
    run_free(&r);
    run_init(&r, SASL_MECH_LOGIN);
    assert_int_equal(start_raw(&r, ""), SASL_CONTINUE);
    expect_fail(&r, step_raw(&r, "YW15 "), "malformed response");
    run_free(&r);
}

static void test_login_asks_username_then_password(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_LOGIN);
    assert_int_equal(start_raw(&r, ""), SASL_CONTINUE);
    assert_string_equal(buf_cstr(&r.challenge), "VXNlcm5hbWU6"); /* "Username:" */
    assert_int_equal(step_raw(&r, "YW15"), SASL_CONTINUE);       /* "amy" */
    assert_string_equal(buf_cstr(&r.challenge), "UGFzc3dvcmQ6"); /* "Password:" */
    assert_int_equal(step_raw(&r, "c2VjcmV0"), SASL_DONE);       /* "secret" */
    assert_string_equal(buf_cstr(&r.x.authcid), "amy");
    assert_string_equal(buf_cstr(&r.x.passwd), "secret");
    expect_fail(&r, step_raw(&r, "c2VjcmV0"), "unexpected response");
    run_free(&r);
}

static void test_login_initial_response_is_the_user_name(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_LOGIN);
    assert_int_equal(start_raw(&r, "YW15"), SASL_CONTINUE);
    assert_string_equal(buf_cstr(&r.challenge), "UGFzc3dvcmQ6");
    assert_int_equal(step_raw(&r, "c2VjcmV0"), SASL_DONE);
    run_free(&r);
}

static void test_login_hostile_answers_fail(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_LOGIN);
    expect_fail(&r, start_raw(&r, "="), "empty user name");
    run_free(&r);

    run_init(&r, SASL_MECH_LOGIN);
    assert_int_equal(start_raw(&r, "YW15"), SASL_CONTINUE);
    expect_fail(&r, step_bytes(&r, "se\0cret", 7), "NUL byte in password");
    run_free(&r);

    run_init(&r, SASL_MECH_LOGIN);
    assert_int_equal(start_raw(&r, "YW15"), SASL_CONTINUE);
    expect_fail(&r, step_raw(&r, ""), "empty password");
    run_free(&r);

    run_init(&r, SASL_MECH_LOGIN);
    assert_int_equal(start_raw(&r, ""), SASL_CONTINUE);
    expect_fail(&r, step_bytes(&r, "amy\r\nRCPT", 9), "control character");
    run_free(&r);
}

static void test_star_cancels_at_any_step(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_PLAIN);
    expect_fail(&r, start_raw(&r, "*"), "authentication cancelled");
    run_free(&r);
    run_init(&r, SASL_MECH_LOGIN);
    assert_int_equal(start_raw(&r, ""), SASL_CONTINUE);
    assert_int_equal(step_raw(&r, "YW15"), SASL_CONTINUE);
    expect_fail(&r, step_raw(&r, "*"), "authentication cancelled");
    /* a cancelled exchange stays over */
    expect_fail(&r, step_raw(&r, "c2VjcmV0"), "unexpected response");
    run_free(&r);
}

static void test_exchange_cannot_start_twice_or_step_first(void **state)
{
    struct run r;
    run_init(&r, SASL_MECH_LOGIN);
    expect_fail(&r, step_raw(&r, "YW15"), "unexpected response");
    run_free(&r);
    run_init(&r, SASL_MECH_LOGIN);
    assert_int_equal(start_raw(&r, ""), SASL_CONTINUE);
    expect_fail(&r, start_raw(&r, ""), "already started");
    run_free(&r);
    run_init(&r, SASL_MECH_NONE);
    expect_fail(&r, start_raw(&r, ""), "unsupported mechanism");
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mechanism_names_are_case_insensitive),
        cmocka_unit_test(test_plain_initial_response_gives_credentials),
        cmocka_unit_test(test_plain_authzid_equal_to_authcid_is_accepted),
        cmocka_unit_test(test_plain_other_authzid_is_refused),
        cmocka_unit_test(test_plain_without_initial_response_sends_empty_challenge),
        cmocka_unit_test(test_plain_empty_initial_response_is_malformed),
        cmocka_unit_test(test_plain_hostile_responses_are_refused),
        cmocka_unit_test(test_plain_utf8_user_is_accepted),
        cmocka_unit_test(test_parts_are_bounded),
        cmocka_unit_test(test_wire_text_is_bounded),
        cmocka_unit_test(test_bad_base64_fails),
        cmocka_unit_test(test_login_asks_username_then_password),
        cmocka_unit_test(test_login_initial_response_is_the_user_name),
        cmocka_unit_test(test_login_hostile_answers_fail),
        cmocka_unit_test(test_star_cancels_at_any_step),
        cmocka_unit_test(test_exchange_cannot_start_twice_or_step_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
