/* fuzz_ldap_query - libFuzzer target for the ldap: table's text parsers:
 * the input is parsed as a whole .cf file (accepted, or rejected with a
 * "fuzz:" reason), and split at its first newline into a %-template and a
 * key that are expanded in every quoting mode. Invariants: a template that
 * map_query_check accepts never fails to expand; a filter-quoted key holds
 * no filter metacharacter, control or non-ASCII byte, every backslash
 * starts a hex pair, and decoding gives the key back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps/map_ldap.h"
#include "maps/map_query.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void check_filter_quoting(const char *key, size_t len)
{
    struct buf out = BUF_INIT, back = BUF_INIT;
    map_query_quote(&out, key, len, MAP_QUOTE_LDAP_FILTER);
    for (size_t i = 0; i < out.len; i++) {
        unsigned char c = (unsigned char)out.data[i];
        if (c == '(' || c == ')' || c == '*' || c < 0x20 || c >= 0x7f)
            abort();
        if (c == '\\') {
            if (i + 2 >= out.len)
                abort();
            int hi = hexval(out.data[i + 1]), lo = hexval(out.data[i + 2]);
            if (hi < 0 || lo < 0)
                abort();
            buf_putc(&back, hi * 16 + lo);
            i += 2;
        } else {
            buf_putc(&back, c);
        }
    }
    if (back.len != len || memcmp(back.data ? back.data : "", key, len) != 0)
        abort();
    buf_free(&out);
    buf_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf why = BUF_INIT;
    struct map_ldap_cf cf;
    if (map_ldap_cf_parse(&cf, (const char *)data, size, "fuzz", NULL, &why) == 0)
        map_ldap_cf_free(&cf);
    else if (strncmp(buf_cstr(&why), "fuzz", 4) != 0)
        abort();

    const uint8_t *nl = memchr(data, '\n', size);
    size_t tlen = nl ? (size_t)(nl - data) : size;
    char *tpl = xmemdup(data, tlen);
    size_t klen = nl ? size - tlen - 1 : 0;
    char *key = xmemdup(nl ? nl + 1 : data + size, klen);
    check_filter_quoting(key, klen);
    if (strlen(tpl) == tlen) { /* templates are C strings */
        int ok = map_query_check(tpl, &why) == 0;
        for (int q = MAP_QUOTE_NONE; q <= MAP_QUOTE_LDAP_DN; q++) {
            struct buf out = BUF_INIT;
            int r = map_query_expand(&out, tpl, key, key, (enum map_query_quote)q);
            if (r < -1 || r > 1 || (ok && r < 0) || (r <= 0 && out.len != 0))
                abort();
            buf_free(&out);
        }
    }
    free(tpl);
    free(key);
    buf_free(&why);
    return 0;
}
