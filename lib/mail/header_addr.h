/* header_addr - rewrite the addresses inside an address header (From:, To:,
 * Cc:, Sender:, Reply-To:, Resent-*, ...) without touching the rest of it.
 *
 * cleanup(8) rewrites header addresses (qualification, canonical_maps,
 * masquerade_domains). Only the text of each addr-spec changes: display
 * names, comments, group syntax, white space and line folding stay exactly
 * as the author wrote them, so a header that needs no change comes out
 * byte for byte the same.
 */
#ifndef MAIL_HEADER_ADDR_H
#define MAIL_HEADER_ADDR_H

#include <stddef.h>

#include "util/buf.h"

/* header_addr_fn - called once per addr-spec, in order, with the address
 * in internal form (addr.h: local part unquoted; "" for "<>"). Return 1
 * with a new address (internal form) in repl to replace it, 0 to keep it,
 * -1 + why to abandon the whole rewrite. */
typedef int (*header_addr_fn)(void *ctx, const char *addr, struct buf *repl, struct buf *why);

/* header_addr_rewrite - value is a header field body as stored (it may
 * contain folding: "\n" or "\r\n" followed by white space; it is counted,
 * len bytes). Each addr-spec of the RFC 5322 3.4 address-list (also a
 * bare local part "user", angle addresses with an obsolete route, groups)
 * is passed to fn; a replaced one is written back in external form
 * (addr_quote_local), replacing the addr-spec text (and the obsolete
 * route of an angle address, if any). The whole new value is put in out.
 *
 * Returns the number of addresses replaced (0: out equals value), or -1 +
 * why when value does not parse as an address-list, exceeds the addr.h
 * bounds (ADDR_LIST_MAX, ADDR_MAX_BYTES), or fn failed. On -1 the caller
 * keeps the header unchanged. */
int header_addr_rewrite(const char *value, size_t len, header_addr_fn fn, void *ctx,
                        struct buf *out, struct buf *why);

#endif
