/* test_pw_scheme - password checks: every scheme against hashes made here
 * with libxcrypt and libargon2, and against fixed vectors made elsewhere
 * (openssl passwd, the SHA-crypt specification, crypt_blowfish's and
 * libargon2's own test suites); wrong passwords, unknown schemes, hashes
 * that do not fit their scheme, and Argon2 costs beyond the bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <argon2.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/pw_scheme.h"

/* Fixed vectors. */
/* openssl passwd -6 -salt saltsalt secret */
#define OPENSSL_SHA512                                                                             \
    "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq."    \
    "H91p"                                                                                         \
    "5hVO1"
/* openssl passwd -5 -salt saltsalt secret */
#define OPENSSL_SHA256 "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"
/* openssl passwd -1 -salt saltsalt secret */
#define OPENSSL_MD5 "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"
/* Drepper's SHA-crypt specification, "Hello world!" */
#define SPEC_SHA512                                                                                \
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/"                                           \
    "O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfa"                                                  \
    "S35inz1"
/* crypt_blowfish's test vector, "U*U" */
#define BLOWFISH_VECTOR "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
/* libargon2 src/test.c, "password" with salt "somesalt", t=2, m=2^16, p=1 */
#define ARGON2ID_VECTOR                                                                            \
    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
#define ARGON2I_VECTOR                                                                             \
    "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$wWKIMhR9lyDFvRz9YTZweHKfbftvj+qf+YFY4NeBbtA"

static void expect(const char *stored, const char *password, int want, const char *why_part)
{
    struct buf why = BUF_INIT;
    int got = pw_scheme_verify(stored, "CRYPT", password, &why);
    if (got != want)
        fail_msg("verify([%s], [%s]) = %d, want %d (%s)", stored, password, got, want,
                 buf_cstr(&why));
    if (why_part && strstr(buf_cstr(&why), why_part) == NULL)
        fail_msg("reason [%s] does not mention [%s]", buf_cstr(&why), why_part);
    buf_free(&why);
}

/* with_scheme - "{scheme}hash" in a static buffer */
static const char *with_scheme(const char *scheme, const char *hash)
{
    static char out[1024];
    snprintf(out, sizeof(out), "{%s}%s", scheme, hash);
    return out;
}

/* gen_crypt - a fresh crypt(3) hash of password with prefix ("$6$" ...) */
static char *gen_crypt(const char *prefix, unsigned long count, const char *password)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    struct crypt_data cd;
    memset(&cd, 0, sizeof(cd));
    if (crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof(setting)) == NULL)
        fail_msg("crypt_gensalt_rn(%s) failed", prefix);
    const char *h = crypt_rn(password, setting, &cd, sizeof(cd));
    if (h == NULL || h[0] == '*')
        fail_msg("crypt_rn with %s failed", setting);
    return strdup(h);
}

static void test_fixed_vectors_from_other_implementations(void **state)
{
    expect(with_scheme("SHA512-CRYPT", OPENSSL_SHA512), "secret", PW_MATCH, NULL);
    expect(with_scheme("SHA512-CRYPT", OPENSSL_SHA512), "Secret", PW_MISMATCH, NULL);
    expect(with_scheme("SHA512-CRYPT", SPEC_SHA512), "Hello world!", PW_MATCH, NULL);
    expect(with_scheme("SHA256-CRYPT", OPENSSL_SHA256), "secret", PW_MATCH, NULL);
    expect(with_scheme("SHA256-CRYPT", OPENSSL_SHA256), "secre", PW_MISMATCH, NULL);
    expect(with_scheme("MD5-CRYPT", OPENSSL_MD5), "secret", PW_MATCH, NULL);
    expect(with_scheme("MD5-CRYPT", OPENSSL_MD5), "secret ", PW_MISMATCH, NULL);
    expect(with_scheme("BLF-CRYPT", BLOWFISH_VECTOR), "U*U", PW_MATCH, NULL);
    expect(with_scheme("BLF-CRYPT", BLOWFISH_VECTOR), "U*V", PW_MISMATCH, NULL);
    expect(with_scheme("ARGON2ID", ARGON2ID_VECTOR), "password", PW_MATCH, NULL);
    expect(with_scheme("ARGON2ID", ARGON2ID_VECTOR), "passwore", PW_MISMATCH, NULL);
    expect(with_scheme("ARGON2I", ARGON2I_VECTOR), "password", PW_MATCH, NULL);
    expect(with_scheme("ARGON2I", ARGON2I_VECTOR), "Password", PW_MISMATCH, NULL);
}

static void test_generated_crypt_hashes_of_each_kind(void **state)
{
    static const struct {
        const char *prefix, *scheme;
        unsigned long count;
    } kinds[] = {
        {"$6$", "SHA512-CRYPT", 0}, {"$5$", "SHA256-CRYPT", 0}, {"$1$", "MD5-CRYPT", 0},
        {"$2b$", "BLF-CRYPT", 4},   {"$y$", "CRYPT", 0},        {"$6$", "CRYPT", 0},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char *h = gen_crypt(kinds[i].prefix, kinds[i].count, "correct horse");
        expect(with_scheme(kinds[i].scheme, h), "correct horse", PW_MATCH, NULL);
        expect(with_scheme(kinds[i].scheme, h), "correct horsf", PW_MISMATCH, NULL);
        expect(with_scheme(kinds[i].scheme, h), "", PW_MISMATCH, NULL);
        struct buf why = BUF_INIT;
        assert_int_equal(pw_scheme_crypt_verify(h, "correct horse", &why), PW_MATCH);
        assert_int_equal(pw_scheme_crypt_verify(h, "correct", &why), PW_MISMATCH);
        buf_free(&why);
        free(h);
    }
}

static void test_generated_argon2_hashes(void **state)
{
    char enc[256];
    const char salt[] = "0123456789abcdef";
    assert_int_equal(argon2id_hash_encoded(1, 64, 1, "pässword", strlen("pässword"), salt, 16, 32,
                                           enc, sizeof(enc)),
                     ARGON2_OK);
    expect(with_scheme("ARGON2ID", enc), "pässword", PW_MATCH, NULL);
    expect(with_scheme("argon2id", enc), "pässword", PW_MATCH, NULL);
    expect(with_scheme("ARGON2ID", enc), "password", PW_MISMATCH, NULL);
    /* an argon2id hash is not an ARGON2I one */
    expect(with_scheme("ARGON2I", enc), "pässword", PW_ERROR, "$argon2i$");
    assert_int_equal(argon2i_hash_encoded(1, 64, 1, "pw", 2, salt, 16, 32, enc, sizeof(enc)),
                     ARGON2_OK);
    expect(with_scheme("ARGON2I", enc), "pw", PW_MATCH, NULL);
    expect(with_scheme("ARGON2ID", enc), "pw", PW_ERROR, "$argon2id$");
}

static void test_argon2_costs_are_bounded(void **state)
{
    /* 4 TiB of memory, or a million passes: refused before any work */
    expect("{ARGON2ID}$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$"
           "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
           "password", PW_ERROR, "memory above");
    expect("{ARGON2ID}$argon2id$v=19$m=65536,t=1000000,p=1$c29tZXNhbHQ$"
           "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
           "password", PW_ERROR, "cost above");
    expect("{ARGON2ID}$argon2id$v=19$m=65536,t=2,p=100$c29tZXNhbHQ$"
           "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
           "password", PW_ERROR, "cost above");
    expect("{ARGON2ID}$argon2id$v=19$m=,t=2,p=1$c29tZXNhbHQ$x", "password", PW_ERROR,
           "malformed Argon2 parameters");
    expect("{ARGON2ID}$argon2id$v=19$t=2,m=65536,p=1$c29tZXNhbHQ$x", "password", PW_ERROR,
           "malformed Argon2 parameters");
    /* well-formed parameters but a broken hash: libargon2 says why */
    expect("{ARGON2ID}$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$!!!", "password", PW_ERROR,
           "Argon2 hash not usable");
}

static void test_plain_and_cleartext_compare_whole_strings(void **state)
{
    expect("{PLAIN}secret", "secret", PW_MATCH, NULL);
    expect("{CLEARTEXT}secret", "secret", PW_MATCH, NULL);
    expect("{PLAIN}secret", "secre", PW_MISMATCH, NULL);
    expect("{PLAIN}secret", "secrets", PW_MISMATCH, NULL);
    expect("{plain}a:b{c}", "a:b{c}", PW_MATCH, NULL);
    expect("{PLAIN}", "", PW_ERROR, "empty password");
}

static void test_no_scheme_means_the_default(void **state)
{
    expect(OPENSSL_SHA512, "secret", PW_MATCH, NULL);
    struct buf why = BUF_INIT;
    assert_int_equal(pw_scheme_verify("secret", "PLAIN", "secret", &why), PW_MATCH);
    assert_int_equal(pw_scheme_verify("secret", "NOSUCH", "secret", &why), PW_ERROR);
    buf_free(&why);
}

static void test_unknown_or_broken_scheme_is_an_error(void **state)
{
    expect("{SSHA}abcdef", "secret", PW_ERROR, "unknown password scheme {SSHA}");
    expect("{PLAIN.B64}c2VjcmV0", "secret", PW_ERROR, "unknown password scheme {PLAIN.B64}");
    expect("{SHA512-CRYPT" OPENSSL_SHA512, "secret", PW_ERROR, "without closing brace");
    expect("{}secret", "secret", PW_ERROR, "unknown password scheme {}");
    /* control bytes in a scheme name are not copied into the reason */
    expect("{A\nB}x", "x", PW_ERROR, "{A?B}");
}

static void test_hash_must_fit_its_scheme(void **state)
{
    expect(with_scheme("SHA512-CRYPT", OPENSSL_MD5), "secret", PW_ERROR, "does not match");
    expect(with_scheme("MD5-CRYPT", OPENSSL_SHA512), "secret", PW_ERROR, "does not match");
    expect(with_scheme("BLF-CRYPT", OPENSSL_SHA256), "secret", PW_ERROR, "does not match");
    expect(with_scheme("SHA256-CRYPT", OPENSSL_SHA512), "secret", PW_ERROR, "does not match");
}

static void test_unusable_crypt_hashes_are_errors(void **state)
{
    expect("{CRYPT}", "secret", PW_ERROR, "empty password hash");
    expect("{CRYPT}$9$nosuchmethod$abc", "secret", PW_ERROR, "not usable");
    /* a bare setting is a hash no password has */
    expect("{SHA512-CRYPT}$6$", "secret", PW_MISMATCH, NULL);
    expect("{SHA512-CRYPT}$6$saltsalt$", "secret", PW_MISMATCH, NULL);
    expect("!", "secret", PW_ERROR, "not usable");
    expect("*", "secret", PW_ERROR, "not usable");
}

static void test_const_equal(void **state)
{
    assert_true(pw_scheme_const_equal("abc", 3, "abc", 3));
    assert_false(pw_scheme_const_equal("abc", 3, "abd", 3));
    assert_false(pw_scheme_const_equal("abc", 3, "abcabc", 6));
    assert_false(pw_scheme_const_equal("", 0, "a", 1));
    assert_true(pw_scheme_const_equal("", 0, "", 0));
    assert_false(pw_scheme_const_equal("a\0b", 3, "a\0c", 3));
}

static void test_scheme_names(void **state)
{
    const char *hash;
    struct buf why = BUF_INIT;
    assert_int_equal(pw_scheme_parse("{Blf-Crypt}$2b$x", "CRYPT", &hash, &why),
                     PW_SCHEME_BLF_CRYPT);
    assert_string_equal(hash, "$2b$x");
    assert_int_equal(pw_scheme_parse("$2b$x", "CRYPT", &hash, &why), PW_SCHEME_CRYPT);
    assert_string_equal(hash, "$2b$x");
    assert_true(pw_scheme_is_plain(PW_SCHEME_CLEARTEXT));
    assert_false(pw_scheme_is_plain(PW_SCHEME_ARGON2ID));
    assert_string_equal(pw_scheme_name(PW_SCHEME_SHA256_CRYPT), "SHA256-CRYPT");
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_vectors_from_other_implementations),
        cmocka_unit_test(test_generated_crypt_hashes_of_each_kind),
        cmocka_unit_test(test_generated_argon2_hashes),
        cmocka_unit_test(test_argon2_costs_are_bounded),
        cmocka_unit_test(test_plain_and_cleartext_compare_whole_strings),
        cmocka_unit_test(test_no_scheme_means_the_default),
        cmocka_unit_test(test_unknown_or_broken_scheme_is_an_error),
        cmocka_unit_test(test_hash_must_fit_its_scheme),
        cmocka_unit_test(test_unusable_crypt_hashes_are_errors),
        cmocka_unit_test(test_const_equal),
        cmocka_unit_test(test_scheme_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
