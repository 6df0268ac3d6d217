/* fuzz_map_file - libFuzzer target for the table and aliases text formats:
 * any input is parsed or rejected with an "origin:line:" reason, and every
 * accepted entry has a non-empty key without LF (lines are joined first). The first input
 * byte selects the format. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "maps/map_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check_entry(void *ctx, const char *key, const char *value, const char *origin, long line,
                       struct buf *why)
{
    (void)ctx;
    (void)value;
    (void)why;
    if (key[0] == 0 || strchr(key, '\n') != NULL || line < 1 || strcmp(origin, "fuzz") != 0)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int flags = (data[0] & 1 ? MAP_FILE_ALIASES : 0) | (data[0] & 2 ? MAP_FILE_FOLD : 0);
    struct buf why = BUF_INIT;
    if (map_file_parse_text((const char *)data + 1, size - 1, "fuzz", flags, check_entry, NULL,
                            &why) < 0 &&
        strncmp(buf_cstr(&why), "fuzz:", 5) != 0)
        abort();
    buf_free(&why);
    return 0;
}
