/* fuzz_master_cf - libFuzzer target for the master.cf parser: any input is
 * parsed or rejected with a FILE:LINE reason, never a crash, and an accepted
 * file yields entries that keep the documented invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/master_cf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct master_cf *cf = NULL;
    struct buf why = BUF_INIT;
    if (master_cf_parse((const char *)data, size, "fuzz", 100, &cf, &why) == 0) {
        for (size_t i = 0; i < cf->count; i++) {
            const struct master_ent *e = cf->ents[i];
            if (e->name[0] == 0 || e->command[0] == 0 || e->line < 1 || e->maxproc < 0 ||
                e->wakeup < 0)
                abort();
            /* A command stays in daemon_directory or is a clean absolute path. */
            if (e->command[0] == '/'
                    ? strstr(e->command, "/../") != NULL || strstr(e->command, "/./") != NULL ||
                          strstr(e->command, "//") != NULL
                    : strchr(e->command, '/') != NULL)
                abort();
            if (e->type == MASTER_INET ? e->private_ != 0 : strchr(e->name, '/') != NULL)
                abort();
            for (size_t j = 0; j < e->opts->argc; j++)
                if (strchr(e->opts->argv[j], '=') == NULL)
                    abort();
            if (master_cf_find(cf, e->name, e->type) != e)
                abort();
        }
        master_cf_free(cf);
    } else if (cf != NULL || strncmp(buf_cstr(&why), "fuzz:", 5) != 0) {
        abort();
    }
    buf_free(&why);
    return 0;
}
