/* fuzz_local_token - libFuzzer target for the aliases(5) value and
 * .forward / :include: file parsers. Every input must parse or fail
 * cleanly; a failure leaves earlier tokens alone and says why; every token
 * is bounded, has a known type, holds no NUL or control byte, and only
 * COMMAND, HOME and INCLUDE tokens may be empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/local_token.h"

static void check_tokens(const struct local_tokens *t, size_t from)
{
    if (t->count - from > LOCAL_TOKEN_MAX_COUNT)
        abort();
    for (size_t i = from; i < t->count; i++) {
        const struct local_token *k = &t->tok[i];
        size_t n = strlen(k->text);
        if (n > LOCAL_TOKEN_MAX_LEN)
            abort();
        for (size_t j = 0; j < n; j++) {
            unsigned char c = (unsigned char)k->text[j];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                abort();
        }
        switch (k->type) {
        case LOCAL_TOKEN_ADDR:
        case LOCAL_TOKEN_NOALIAS:
        case LOCAL_TOKEN_FILE:
            if (n == 0)
                abort();
            break;
        case LOCAL_TOKEN_COMMAND:
        case LOCAL_TOKEN_HOME:
        case LOCAL_TOKEN_INCLUDE:
            break;
        default:
            abort();
        }
        if (k->type == LOCAL_TOKEN_FILE && k->text[0] != '/')
            abort();
        if (k->type == LOCAL_TOKEN_COMMAND && (k->text[0] == ' ' || k->text[0] == '\t'))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct local_tokens t;
    struct buf why = BUF_INIT;
    local_tokens_init(&t);
    if (local_token_parse_value("keep", 4, &t, &why) != 1)
        abort();
    for (int file = 0; file < 2; file++) {
        size_t before = t.count;
        int n = file ? local_token_parse_file((const char *)data, size, &t, &why)
                     : local_token_parse_value((const char *)data, size, &t, &why);
        if (n < 0) {
            if (t.count != before || why.len == 0)
                abort();
        } else {
            if ((size_t)n != t.count - before)
                abort();
            check_tokens(&t, before);
        }
    }
    if (strcmp(t.tok[0].text, "keep") != 0)
        abort();
    local_tokens_free(&t);
    buf_free(&why);
    return 0;
}
