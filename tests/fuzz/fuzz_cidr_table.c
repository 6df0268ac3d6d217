/* fuzz_cidr_table - libFuzzer target for the cidr: table parser: any input
 * is parsed or rejected with an "origin:line:" reason; an accepted table
 * answers lookups of fixed addresses and of every word of the input
 * without crashing, and a found result is never empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps/map_types.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lookup(const struct map_cidr_table *t, const char *key)
{
    struct buf value = BUF_INIT;
    int r = map_cidr_match(t, key, &value);
    if (r < 0 || r > 1 || (r == 1 && value.len == 0) || (r == 0 && value.len != 0))
        abort();
    buf_free(&value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fixed[] = {
        "0.0.0.0", "10.1.2.3",    "192.0.2.1",       "255.255.255.255", "::",
        "::1",     "2001:db8::1", "::ffff:10.1.2.3", "fe80::1:2:3:4:5", NULL};
    struct buf why = BUF_INIT;
    struct map_cidr_table *t = map_cidr_parse((const char *)data, size, "fuzz", &why);
    if (t == NULL) {
        if (strncmp(buf_cstr(&why), "fuzz:", 5) != 0)
            abort();
    } else {
        for (int i = 0; fixed[i] != NULL; i++)
            lookup(t, fixed[i]);
        /* every word of the input as a key (NUL bytes end a word) */
        char *copy = xmemdup(data, size), *p = copy, *w;
        while ((w = strsep(&p, " \t\r\n/[]!")) != NULL)
            lookup(t, w);
        free(copy);
        map_cidr_free(t);
    }
    buf_free(&why);
    return 0;
}
