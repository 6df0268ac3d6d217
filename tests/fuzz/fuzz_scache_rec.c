/* fuzz_scache_rec - libFuzzer target for the scache(8) session record: an
 * attribute message decoded and checked as a record. A record that is
 * accepted must hold only bounded, printable text (it reaches log lines)
 * and numbers in range, and must encode and decode back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/attr.h"
#include "mail/scache_client.h"

static void check_text(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    if (n >= size)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct attr_list l, l2;
    struct buf why = BUF_INIT, wire = BUF_INIT;
    struct scache_rec r, r2;
    size_t used;

    attr_list_init(&l);
    attr_list_init(&l2);
    if (attr_decode(data, size, 0, &l, &used, &why) == 1 && scache_rec_decode(&l, &r, &why) == 0) {
        check_text(r.dest, sizeof(r.dest));
        check_text(r.endp, sizeof(r.endp));
        check_text(r.relay, sizeof(r.relay));
        check_text(r.name, sizeof(r.name));
        check_text(r.ehlo.auth, sizeof(r.ehlo.auth));
        if (r.ttl < 0 || r.ttl > 86400 || r.uses < 0 || r.born < 0)
            abort();
        scache_rec_encode(&r, &l2);
        attr_encode(&l2, &wire);
        attr_list_free(&l2);
        if (attr_decode(wire.data, wire.len, 0, &l2, &used, &why) != 1 ||
            scache_rec_decode(&l2, &r2, &why) != 0 || memcmp(&r, &r2, sizeof(r)) != 0)
            abort();
    }
    attr_list_free(&l);
    attr_list_free(&l2);
    buf_free(&why);
    buf_free(&wire);
    return 0;
}
