/* fuzz_addr - libFuzzer target for the address-list parser and the address
 * helpers. Every input must parse or fail cleanly; every address produced
 * must be bounded, free of NUL/CR/LF, survive a quote/unquote round trip,
 * and come back whole from addr_split_ext. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"

static void check_addr(const char *a)
{
    struct buf q = BUF_INIT, u = BUF_INIT, why = BUF_INIT;
    struct buf user = BUF_INIT, ext = BUF_INIT, dom = BUF_INIT, whole = BUF_INIT;

    if (strlen(a) > ADDR_MAX_BYTES || strpbrk(a, "\r\n"))
        abort();
    if (addr_quote_local(a, &q, &why) < 0 || addr_unquote(buf_cstr(&q), &u, &why) < 0)
        abort();
    if (strcmp(buf_cstr(&u), a) != 0)
        abort();

    int split = addr_split_ext(a, "+-=", &user, &ext, &dom);
    buf_append(&whole, user.data ? user.data : "", user.len);
    if (split) {
        const char *at = strrchr(a, '@');
        size_t llen = at ? (size_t)(at - a) : strlen(a);
        buf_putc(&whole, a[user.len]); /* the delimiter */
        buf_append(&whole, ext.data ? ext.data : "", ext.len);
        if (whole.len != llen)
            abort();
    }
    if (strrchr(a, '@')) {
        buf_putc(&whole, '@');
        buf_append(&whole, dom.data ? dom.data : "", dom.len);
    }
    if (strcmp(buf_cstr(&whole), a) != 0)
        abort();

    char *f = strdup(a);
    if (!f || strlen(addr_fold_domain(f)) != strlen(a))
        abort();
    free(f);
    buf_free(&q);
    buf_free(&u);
    buf_free(&why);
    buf_free(&user);
    buf_free(&ext);
    buf_free(&dom);
    buf_free(&whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct argv *out = argv_alloc();
    struct buf why = BUF_INIT;
    int n = addr_list_parse((const char *)data, size, out, &why);
    if (n < 0) {
        if (out->argc != 0 || why.len == 0)
            abort();
    } else {
        if ((size_t)n != out->argc || n > ADDR_LIST_MAX)
            abort();
        for (size_t i = 0; i < out->argc; i++)
            check_addr(out->argv[i]);
    }
    argv_free(out);
    buf_free(&why);
    return 0;
}
