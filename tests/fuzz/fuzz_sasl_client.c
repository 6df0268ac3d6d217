/* fuzz_sasl_client - libFuzzer target for the client side of SMTP AUTH:
 * the server's AUTH mechanism list (sasl_client_choose) and its 334
 * challenges (sasl_client_step), for PLAIN and LOGIN. The input's first
 * line is the mechanism list, the rest the challenge text. Checked: a
 * chosen mechanism is one we speak and the server named; a reason is
 * bounded and printable; a response is canonical base64 of exactly the
 * user name, the password, or the PLAIN message, and empty on failure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/sasl_base64.h"
#include "auth/sasl_client.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reason(const struct buf *why)
{
    if (why->len == 0 || why->len > 600)
        abort();
    for (size_t i = 0; i < why->len; i++)
        if ((unsigned char)why->data[i] < 0x20 || why->data[i] == 0x7f)
            abort();
}

static void check_step(const char *mech, const struct sasl_client_cred *c, const char *challenge)
{
    struct buf line = BUF_INIT, why = BUF_INIT, raw = BUF_INIT;

    if (sasl_client_step(mech, c, challenge, &line, &why) == 0) {
        if (sasl_base64_decode(line.data, line.len, 4096, &raw, &why) < 0)
            abort();
        int is_user = raw.len == strlen(c->username) && memcmp(raw.data, c->username, raw.len) == 0;
        int is_pass = raw.len == strlen(c->password) && memcmp(raw.data, c->password, raw.len) == 0;
        int is_plain = raw.len == 12 && memcmp(raw.data, "\0user1\0pa:s1", 12) == 0;
        if (strcmp(mech, "PLAIN") == 0 ? !is_plain : !(is_user || is_pass))
            abort();
    } else {
        check_reason(&why);
        if (line.len != 0)
            abort();
    }
    buf_free(&line);
    buf_free(&why);
    buf_free(&raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sasl_client_cred c = {"user1", "pa:s1"};
    char *text = xmemdup(data, size);
    char *challenge = strchr(text, '\n');
    struct buf why = BUF_INIT;

    if (challenge != NULL)
        *challenge++ = 0;
    else
        challenge = "";

    const char *m = sasl_client_choose(text, "noanonymous", &why);
    if (m != NULL) {
        if (strcmp(m, "PLAIN") != 0 && strcmp(m, "LOGIN") != 0)
            abort();
        if (strcasestr(text, m) == NULL)
            abort();
    } else {
        check_reason(&why);
    }
    if (sasl_client_choose(text, "noplaintext", &why) != NULL)
        abort();

    check_step("PLAIN", &c, challenge);
    check_step("LOGIN", &c, challenge);
    free(text);
    buf_free(&why);
    return 0;
}
