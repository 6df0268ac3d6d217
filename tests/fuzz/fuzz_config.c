/* fuzz_config - main.cf parsing and $expansion: parse the input as main.cf,
 * then expand every value, look up every name, list its references, and run
 * the unused-parameter check, as postconf and every daemon do. */
#include <stddef.h>
#include <stdint.h>

#include "conf/config.h"
#include "conf/mail_conf.h"
#include "util/argv.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *c = config_alloc();
    struct buf why = BUF_INIT, out = BUF_INIT;
    if (config_parse(c, (const char *)data, size, "main.cf", &why) == 0) {
        for (size_t i = 0; i < c->count; i++) {
            (void)config_expand(c, c->ents[i].value, &out, &why);
            (void)config_lookup(c, c->ents[i].name, &out, &why);
            struct argv *refs = argv_alloc();
            config_refs(c->ents[i].value, refs);
            argv_free(refs);
        }
        buf_reset(&out);
        (void)mail_conf_unknown(c, NULL, &out);
    }
    buf_free(&why);
    buf_free(&out);
    config_free(c);
    return 0;
}
