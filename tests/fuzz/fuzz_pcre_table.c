/* fuzz_pcre_table - libFuzzer target for the pcre: table parser (the rule
 * language shared with regexp:, over PCRE2): any input is parsed or
 * rejected with an "origin:line:" reason; an accepted table answers
 * lookups of fixed keys and of every line of the input, where a failure
 * (the match limit) must carry a reason and a result stays bounded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps/map_types.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void lookup(const struct map_re_table *t, const char *key)
{
    struct buf value = BUF_INIT, why = BUF_INIT;
    int r = map_re_match(t, key, &value, &why);
    if (r < -1 || r > 1 || (r < 0 && strncmp(buf_cstr(&why), "fuzz:", 5) != 0) ||
        (r != 1 && value.len != 0) || value.len > 4 * 1024 * 1024)
        abort();
    buf_free(&value);
    buf_free(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const fixed[] = {
        "",  "a", "user@example.com", "Subject: hello\n world", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
        NULL};
    struct buf why = BUF_INIT;
    struct map_re_table *t = map_re_parse((const char *)data, size, "fuzz", &map_pcre_engine, &why);
    if (t == NULL) {
        if (strncmp(buf_cstr(&why), "fuzz:", 5) != 0)
            abort();
    } else {
        for (int i = 0; fixed[i] != NULL; i++)
            lookup(t, fixed[i]);
        char *copy = xmemdup(data, size), *p = copy, *line;
        while ((line = strsep(&p, "\n")) != NULL)
            lookup(t, line);
        free(copy);
        map_re_free(t);
    }
    buf_free(&why);
    return 0;
}
