/* fuzz_header_addr - libFuzzer target for header_addr_rewrite. Keeping
 * every address must give the input back byte for byte, with the same
 * addresses addr_list_parse finds in the unfolded input; replacing every
 * address must succeed too, and the result must parse (unfolded) to
 * exactly the replacements, in order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/header_addr.h"

/* Replacements in internal form: quoting needed, plain, a domain literal
 * with specials in the local part, unqualified, the null address. */
static const char *const repl_set[] = {
    "a b@example.test", "plain@example.test", "x\\y\"z@[192.0.2.1]", "local", "", "d.o.t@x"};
#define REPL_N (sizeof(repl_set) / sizeof(repl_set[0]))

struct seen {
    struct argv *addrs;
    int replace;
};

static int fuzz_fn(void *ctx, const char *addr, struct buf *repl, struct buf *why)
{
    struct seen *s = ctx;
    if (strlen(addr) > ADDR_MAX_BYTES || strpbrk(addr, "\r\n"))
        abort();
    size_t i = s->addrs->argc;
    argv_add(s->addrs, addr);
    if (!s->replace)
        return 0;
    buf_set(repl, repl_set[i % REPL_N]);
    return 1;
}

/* RFC 5322 3.2.2 unfolding: CRLF (or LF) before a space or tab goes. */
static void unfold(const char *s, size_t len, struct buf *out)
{
    buf_reset(out);
    for (size_t i = 0; i < len; i++) {
        size_t j = i + (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n');
        if (s[j] == '\n' && j + 1 < len && (s[j + 1] == ' ' || s[j + 1] == '\t')) {
            i = j;
            continue;
        }
        buf_putc(out, s[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct seen keep = {argv_alloc(), 0}, all = {argv_alloc(), 1};
    struct buf out = BUF_INIT, why = BUF_INIT, flat = BUF_INIT;
    struct argv *parsed = argv_alloc();

    int n = header_addr_rewrite(in, size, fuzz_fn, &keep, &out, &why);
    if (n < 0) {
        if (out.len != 0 || why.len == 0 || keep.addrs->argc != 0)
            abort();
        goto done;
    }
    if (n != 0 || out.len != size || (size && memcmp(out.data, in, size) != 0))
        abort();
    unfold(in, size, &flat);
    if (addr_list_parse(flat.data, flat.len, parsed, &why) != (int)keep.addrs->argc)
        abort();
    for (size_t i = 0; i < parsed->argc; i++)
        if (strcmp(parsed->argv[i], keep.addrs->argv[i]) != 0)
            abort();

    int r = header_addr_rewrite(in, size, fuzz_fn, &all, &out, &why);
    if (r != (int)keep.addrs->argc || all.addrs->argc != keep.addrs->argc)
        abort();
    unfold(out.data, out.len, &flat);
    argv_free(parsed);
    parsed = argv_alloc();
    if (addr_list_parse(flat.data, flat.len, parsed, &why) != r)
        abort();
    for (size_t i = 0; i < parsed->argc; i++)
        if (strcmp(parsed->argv[i], repl_set[i % REPL_N]) != 0)
            abort();
done:
    argv_free(keep.addrs);
    argv_free(all.addrs);
    argv_free(parsed);
    buf_free(&out);
    buf_free(&why);
    buf_free(&flat);
    return 0;
}
