/* fuzz_sasl - libFuzzer target for the SASL input side: strict base64
 * (whatever decodes must re-encode to the very same text: one spelling per
 * value), the PLAIN message parser, and PLAIN / LOGIN exchanges driven by
 * the input's lines. Checked: results are consistent, credentials are
 * bounded and clean, challenges are canonical base64, no exchange takes
 * more steps than its mechanism allows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl_base64.h"
#include "auth/sasl_mech.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_base64(const char *p, size_t n)
{
    struct buf out = BUF_INIT, back = BUF_INIT, why = BUF_INIT;
    if (sasl_base64_decode(p, n, SASL_WIRE_MAX, &out, &why) == 0) {
        if (out.len > SASL_WIRE_MAX)
            abort();
        sasl_base64_encode(out.data ? out.data : "", out.len, &back);
        if (back.len != n || memcmp(back.data ? back.data : "", p, n) != 0)
            abort();
    } else if (out.len != 0 || why.len == 0) {
        abort();
    }
    buf_free(&out);
    buf_free(&back);
    buf_free(&why);
}

static void check_credentials(const struct sasl_exchange *x)
{
    struct buf why = BUF_INIT;
    if (!sasl_name_valid(x->authcid.data, x->authcid.len, &why))
        abort();
    if (x->passwd.len == 0 || x->passwd.len > SASL_PASS_MAX ||
        memchr(x->passwd.data, 0, x->passwd.len) != NULL)
        abort();
    if (x->authzid.len && (x->authzid.len != x->authcid.len ||
                           memcmp(x->authzid.data, x->authcid.data, x->authcid.len) != 0))
        abort();
    buf_free(&why);
}

static void check_plain(const char *p, size_t n)
{
    struct buf z = BUF_INIT, c = BUF_INIT, pw = BUF_INIT, why = BUF_INIT;
    if (sasl_plain_parse(p, n, &z, &c, &pw, &why) == 0) {
        struct sasl_exchange x;
        sasl_exchange_init(&x, SASL_MECH_PLAIN);
        buf_append(&x.authzid, z.data, z.len);
        buf_append(&x.authcid, c.data, c.len);
        buf_append(&x.passwd, pw.data, pw.len);
        check_credentials(&x);
        sasl_exchange_free(&x);
    } else if (why.len == 0) {
        abort();
    }
    buf_free(&z);
    buf_free(&c);
    buf_free(&pw);
    buf_free(&why);
}

static void run_exchange(enum sasl_mech_id mech, const char *p, size_t n)
{
    struct sasl_exchange x;
    struct buf challenge = BUF_INIT, why = BUF_INIT, dec = BUF_INIT;
    sasl_exchange_init(&x, mech);
    int steps = 0;
    size_t pos = 0;
    enum sasl_result r = SASL_CONTINUE;
    while (r == SASL_CONTINUE) {
        const char *nl = pos < n ? memchr(p + pos, '\n', n - pos) : NULL;
        size_t len = nl ? (size_t)(nl - p - pos) : n - pos;
        const char *line = pos <= n ? p + pos : "";
        if (pos > n)
            len = 0;
        r = steps == 0 ? sasl_exchange_start(&x, line, len, &challenge, &why)
                       : sasl_exchange_step(&x, line, len, &challenge, &why);
        steps++;
        pos += len + 1;
        if (r == SASL_CONTINUE && sasl_base64_decode(challenge.data ? challenge.data : "",
                                                     challenge.len, 64, &dec, &why) < 0)
            abort();
        if (r == SASL_FAIL && why.len == 0)
            abort();
        if (steps > 3)
            abort(); /* LOGIN: start + user + password at most */
    }
    if (r == SASL_DONE)
        check_credentials(&x);
    sasl_exchange_free(&x);
    buf_free(&challenge);
    buf_free(&why);
    buf_free(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    check_base64(p, size);
    check_plain(p, size);
    if (size > 0)
        run_exchange((data[0] & 1) ? SASL_MECH_LOGIN : SASL_MECH_PLAIN, p + 1, size - 1);
    return 0;
}
