/* fuzz_map_addr - libFuzzer target for maps_addr_map's reading of a table
 * value as a list of addresses. The input is "address\nvalue"; a table
 * type registered here answers every key with that value. The answer is
 * 1, 0 or -1; on 1 there is at least one address and none holds CR or LF
 * (the address given has none, as in every caller); on -1 the error names
 * the table list or the table. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps/map_addr.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fuzz_value;

static int fuzz_open(struct map *m, struct buf *why)
{
    (void)m;
    (void)why;
    return 0;
}

static int fuzz_lookup(struct map *m, const char *key, struct buf *value)
{
    (void)m;
    (void)key;
    buf_set(value, fuzz_value);
    return 1;
}

static const struct map_ops fuzz_ops = {
    .type = "fuzz", .flags = MAP_OPS_NO_FOLD, .open = fuzz_open, .lookup = fuzz_lookup};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    struct maps ms;
    struct buf why = BUF_INIT;
    struct argv *out = argv_alloc();

    if (!registered) {
        map_register(&fuzz_ops);
        registered = 1;
    }
    char *text = xmemdup(data, size); /* NUL-terminated copy */
    char *nl = memchr(text, '\n', strlen(text));
    if (nl == NULL)
        goto done;
    *nl = 0;
    if (strchr(text, '\r') != NULL)
        goto done; /* callers never pass CR/LF in an address (envelope records) */
    fuzz_value = nl + 1;
    if (maps_open(&ms, "fuzz_maps", "fuzz:x", 0, &why) < 0)
        abort();
    int rc = maps_addr_map(&ms, text, "+-", MAPS_ADDR_LOCALPART, 1, out);
    if (rc < -1 || rc > 1 || (rc == 1 && out->argc == 0))
        abort();
    if (rc < 0 && strncmp(maps_error(&ms), "fuzz_maps", 9) != 0 &&
        strncmp(maps_error(&ms), "table fuzz:x", 12) != 0)
        abort();
    for (size_t i = 0; rc == 1 && i < out->argc; i++)
        if (strpbrk(out->argv[i], "\r\n") != NULL)
            abort();
    maps_close(&ms);
done:
    argv_free(out);
    buf_free(&why);
    free(text);
    return 0;
}
