/* fuzz_attr - libFuzzer target for the attribute protocol decoder.
 *
 * Checks three properties on every input: attr_decode never crashes, a
 * message it accepts re-encodes to exactly the bytes it consumed (the wire
 * form is canonical), and the incremental stream reader (attr_read, fed
 * from memory) accepts exactly the messages attr_decode accepts, with the
 * same contents. Accepted messages also go through attr_check.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/attr.h"
#include "util/stream.h"

struct mem {
    const uint8_t *p;
    size_t n, off;
};

/* Hand out at most 7 bytes per read, so headers straddle refills. */
static ssize_t mem_read(int fd, void *buf, size_t len, int timeout, void *ctx)
{
    (void)fd;
    (void)timeout;
    struct mem *m = ctx;
    size_t left = m->n - m->off;
    size_t take = len < left ? len : left;
    if (take > 7)
        take = 7;
    memcpy(buf, m->p + m->off, take);
    m->off += take;
    return (ssize_t)take;
}

static ssize_t mem_write(int fd, const void *buf, size_t len, int timeout, void *ctx)
{
    (void)fd;
    (void)buf;
    (void)timeout;
    (void)ctx;
    return (ssize_t)len;
}

static const struct attr_spec spec[] = {
    {"a", ATTR_INT, 1},
    {"b", ATTR_STR, 0},
    {"c", ATTR_DATA, 0},
    ATTR_SPEC_END,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks a size limit, so the limit checks get exercised */
    size_t max = 0;
    if (size > 0) {
        max = data[0] < 128 ? data[0] : 0;
        data++;
        size--;
    }
    struct attr_list l, r;
    struct buf why = BUF_INIT;
    attr_list_init(&l);
    attr_list_init(&r);
    size_t used = 0;
    int rc = attr_decode(data, size, max, &l, &used, &why);
    if (rc == 1) {
        if (used > size)
            abort();
        struct buf out = BUF_INIT;
        attr_encode(&l, &out);
        if (out.len != used || memcmp(out.data, data, used) != 0)
            abort();
        buf_free(&out);
        (void)attr_check(&l, spec, 0, &why);
        (void)attr_check(&l, spec, ATTR_FLAG_LAX, &why);
        for (size_t i = 0; i < l.count; i++)
            (void)attr_get_str(&l, l.v[i].name);
    } else if (l.count != 0) {
        abort();
    }

    struct mem m = {data, size, 0};
    struct stream *s = stream_open(-1, 1);
    stream_set_io(s, mem_read, mem_write, &m);
    int rrc = attr_read(s, max, &r, &why);
    if ((rrc == 0) != (rc == 1))
        abort();
    if (rrc == 0) {
        if (r.count != l.count || m.off - stream_pending(s) != used)
            abort();
        for (size_t i = 0; i < l.count; i++) {
            const struct attr *x = &l.v[i], *y = &r.v[i];
            if (x->type != y->type || strcmp(x->name, y->name) != 0 || x->num != y->num ||
                x->len != y->len || (x->val && memcmp(x->val, y->val, x->len + 1) != 0))
                abort();
        }
    }
    (void)stream_release(s);
    attr_list_free(&l);
    attr_list_free(&r);
    buf_free(&why);
    return 0;
}
