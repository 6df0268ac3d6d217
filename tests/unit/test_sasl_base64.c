/* test_sasl_base64 - the strict base64 of SASL exchanges: RFC 4648 test
 * vectors, every byte value round trip, and each non-canonical or hostile
 * form refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth/sasl_base64.h"

static void expect_decode(const char *in, const char *want, size_t want_len)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    if (sasl_base64_decode(in, strlen(in), 1024, &out, &why) < 0)
        fail_msg("decode of [%s] failed: %s", in, buf_cstr(&why));
    assert_int_equal(out.len, want_len);
    assert_memory_equal(out.data ? out.data : "", want, want_len);
    buf_free(&out);
    buf_free(&why);
}

static void expect_reject(const char *in, size_t len, const char *why_part)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    if (sasl_base64_decode(in, len, 1024, &out, &why) == 0)
        fail_msg("decode of [%.*s] succeeded but must fail", (int)len, in);
    assert_int_equal(out.len, 0);
    if (strstr(buf_cstr(&why), why_part) == NULL)
        fail_msg("reason [%s] does not mention [%s]", buf_cstr(&why), why_part);
    buf_free(&out);
    buf_free(&why);
}

static void test_rfc4648_vectors_encode_and_decode(void **state)
{
    static const char *const pairs[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    struct buf out = BUF_INIT;
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        sasl_base64_encode(pairs[i][0], strlen(pairs[i][0]), &out);
        assert_string_equal(buf_cstr(&out), pairs[i][1]);
        expect_decode(pairs[i][1], pairs[i][0], strlen(pairs[i][0]));
    }
    buf_free(&out);
}

static void test_every_byte_value_round_trips(void **state)
{
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    struct buf enc = BUF_INIT, dec = BUF_INIT, why = BUF_INIT;
    for (size_t n = 0; n <= sizeof(all); n++) {
        sasl_base64_encode(all + 256 - n, n, &enc);
        assert_int_equal(enc.len % 4, 0);
        assert_int_equal(sasl_base64_decode(enc.data, enc.len, 256, &dec, &why), 0);
        assert_int_equal(dec.len, n);
        if (n)
            assert_memory_equal(dec.data, all + 256 - n, n);
    }
    buf_free(&enc);
    buf_free(&dec);
    buf_free(&why);
}

static void test_missing_padding_is_refused(void **state)
{
    expect_reject("Zg", 2, "multiple of 4");
    expect_reject("Zm8", 3, "multiple of 4");
    expect_reject("Zg=", 3, "multiple of 4");
}

static void test_nonzero_pad_bits_are_refused(void **state)
{
    /* "Zh==" and "Zm9=" decode to the same bytes as "Zg==" / "Zm8=" with
     * stray bits: a second spelling of one text */
    expect_reject("Zh==", 4, "pad bits");
    expect_reject("Zm9=", 4, "pad bits");
}

static void test_white_space_and_line_breaks_are_refused(void **state)
{
    expect_reject("Zm9v\r\n", 6, "multiple of 4");
    expect_reject("Zm9vYg\r\n", 8, "invalid base64 character 0x0d");
    expect_reject(" Zm9", 4, "invalid base64 character 0x20");
    expect_reject("Zm\n9", 4, "invalid base64 character 0x0a");
    expect_reject("Zm9v    ", 8, "invalid base64 character");
}

static void test_padding_in_the_middle_is_refused(void **state)
{
    expect_reject("Zg==Zg==", 8, "padding in the middle");
    expect_reject("Zm9v====", 8, "padding in the middle");
    expect_reject("Z===", 4, "padding in the middle");
    expect_reject("====", 4, "padding in the middle");
    expect_reject("Z=g=", 4, "padding in the middle");
}

static void test_other_alphabets_and_nul_are_refused(void **state)
{
    expect_reject("Zm-v", 4, "0x2d");
    expect_reject("Zm_v", 4, "0x5f");
    expect_reject("Zm\0v", 4, "0x00");
    expect_reject("Zm9\xc3", 4, "0xc3");
}

static void test_decoded_length_is_bounded(void **state)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    /* 8 characters = 6 bytes: allowed with max 6, refused with max 5 */
    assert_int_equal(sasl_base64_decode("Zm9vYmFy", 8, 6, &out, &why), 0);
    assert_int_equal(sasl_base64_decode("Zm9vYmFy", 8, 5, &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "longer than 5"));
    assert_int_equal(out.len, 0);
    buf_free(&out);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors_encode_and_decode),
        cmocka_unit_test(test_every_byte_value_round_trips),
        cmocka_unit_test(test_missing_padding_is_refused),
        cmocka_unit_test(test_nonzero_pad_bits_are_refused),
        cmocka_unit_test(test_white_space_and_line_breaks_are_refused),
        cmocka_unit_test(test_padding_in_the_middle_is_refused),
        cmocka_unit_test(test_other_alphabets_and_nul_are_refused),
        cmocka_unit_test(test_decoded_length_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
