/* header_addr - rewrite the addr-specs of an address header in place.
 *
 * addr_list_scan (addr.c) parses the whole value first and reports where
 * each addr-spec is; the output is then the input with only those byte
 * spans replaced, so everything between them (display names, comments,
 * group syntax, white space, folding) is copied unchanged.
 *
 * A replacement goes in as its external form and must read back as exactly
 * the address the callback gave, as one plain addr-spec: a table result
 * such as "x@(y" or "x@y z" is refused rather than allowed to change the
 * structure of the header.
 */
#include <string.h>

#include "mail/addr.h"
#include "mail/header_addr.h"

struct rewrite {
    const char *value;
    header_addr_fn fn;
    void *ctx;
    struct buf *out;
    size_t copied; /* value[0, copied) is in out */
    int replaced;
    struct buf repl, ext;
};

/* The replacement must read back as one plain addr-spec, and as itself. */
struct check {
    const struct buf *want, *ext;
    int ok;
};

static int check_one(void *ctx, const char *addr, size_t len, const struct addr_pos *pos,
                     struct buf *why)
{
    struct check *c = ctx;
    c->ok = !pos->angle && pos->start == 0 && pos->end == c->ext->len && len == c->want->len &&
            memcmp(addr, c->want->data, len) == 0;
    return 0;
}

/* external_form - repl (internal form) as it is written into the header. */
static int external_form(const struct buf *repl, int angle, struct buf *ext, struct buf *why)
{
    struct buf err = BUF_INIT;
    struct check c = {repl, ext, 0};

    buf_reset(ext);
    if (buf_has_nul(repl)) {
        buf_setf(why, "replacement address contains a NUL byte");
        return -1;
    }
    if (repl->len == 0) {
        /* The null address: "<>" where a bare addr-spec was, so the list
         * keeps its number of addresses. */
        if (!angle)
            buf_puts(ext, "<>");
        return 0;
    }
    if (addr_quote_local(buf_cstr(repl), ext, &err) < 0) {
        buf_setf(why, "replacement address: %s", buf_cstr(&err));
        buf_free(&err);
        return -1;
    }
    if (addr_list_scan(ext->data, ext->len, 0, check_one, &c, &err) != 1 || !c.ok) {
        /* not quoted into why: it may hold control characters */
        buf_setf(why, "replacement is not a single addr-spec");
        buf_free(&err);
        return -1;
    }
    buf_free(&err);
    return 0;
}

static int rewrite_one(void *ctx, const char *addr, size_t len, const struct addr_pos *pos,
                       struct buf *why)
{
    struct rewrite *r = ctx;

    buf_reset(&r->repl);
    int rc = r->fn(r->ctx, addr, &r->repl, why);
    if (rc < 0) {
        if (why->len == 0)
            buf_setf(why, "address rewrite failed");
        return -1;
    }
    if (rc == 0)
        return 0;
    if (external_form(&r->repl, pos->angle, &r->ext, why) < 0)
        return -1;
    /* An obsolete route goes with the address it belonged to. */
    buf_append(r->out, r->value + r->copied, pos->route - r->copied);
    buf_append(r->out, r->ext.data ? r->ext.data : "", r->ext.len);
    r->copied = pos->end;
    r->replaced++;
    return 0;
}

int header_addr_rewrite(const char *value, size_t len, header_addr_fn fn, void *ctx,
                        struct buf *out, struct buf *why)
{
    struct rewrite r = {value, fn, ctx, out, 0, 0, BUF_INIT, BUF_INIT};
    int ret = -1;

    buf_reset(out);
    if (len == 0)
        value = ""; /* may be NULL then */
    if (memchr(value, 0, len) != NULL) {
        buf_setf(why, "NUL byte in address header");
        return -1;
    }
    if (addr_list_scan(value, len, ADDR_SCAN_FOLDED, rewrite_one, &r, why) < 0) {
        buf_reset(out);
        goto done;
    }
    buf_append(out, value + r.copied, len - r.copied);
    ret = r.replaced;
done:
    buf_free(&r.repl);
    buf_free(&r.ext);
    return ret;
}
