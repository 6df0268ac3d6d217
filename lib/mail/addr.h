/* addr - mail addresses: address-list parsing for headers, the internal and
 * external forms of a local part, qualification, extensions and domain case.
 *
 * Internal form (as Postfix): the local part is unquoted, so "a b"@x is
 * held as `a b@x`; the domain is everything after the LAST '@'. The
 * external form is what goes on the wire and into headers (RFC 5321 4.1.2,
 * RFC 5322 3.4.1). No function here ever produces NUL, CR or LF in an
 * address: input that would is rejected.
 */
#ifndef MAIL_ADDR_H
#define MAIL_ADDR_H

#include <stddef.h>

#include "util/argv.h"
#include "util/buf.h"

#define ADDR_LIST_MAX  1000 /* addresses in one header value */
#define ADDR_MAX_BYTES 1024 /* one address, internal form */

/* addr_list_parse - the addr-specs of an RFC 5322 address-list (3.4):
 * mailboxes with or without display names, angle addresses, groups (the
 * group name is dropped, members kept; "Undisclosed recipients:;" gives
 * none), nested comments, quoted strings, obsolete forms (4.4): routes in
 * angle addresses (stripped), CFWS around dots, empty list elements.
 * Each address is appended to `out` in internal form; "<>" gives "".
 * Returns the number appended, or -1 with why (nothing is appended then)
 * on malformed syntax or a bound (ADDR_LIST_MAX, ADDR_MAX_BYTES) exceeded.
 * `value` is counted and should be unfolded; CR/LF outside quoted strings
 * count as white space. */
int addr_list_parse(const char *value, size_t len, struct argv *out, struct buf *why);

/* Where an addr-spec is in the value given to addr_list_scan: byte offsets. */
struct addr_pos {
    size_t start, end; /* the addr-spec, [start, end); start == end for "<>" */
    size_t route;      /* start of an obsolete route "@a,@b:" (== start without) */
    int angle;         /* 1 inside <...> */
};

#define ADDR_SCAN_FOLDED 1 /* value may be folded: FWS inside quoted strings */

/* addr_scan_fn - one addr-spec, in internal form (addr: len bytes, NUL-
 * terminated). 0 to go on, -1 with why to stop. */
typedef int (*addr_scan_fn)(void *ctx, const char *addr, size_t len, const struct addr_pos *pos,
                            struct buf *why);

/* addr_list_scan - the parser behind addr_list_parse, for callers that need
 * to know where each addr-spec is (header_addr). The whole value is parsed
 * first; only when it is well-formed is fn called, once per addr-spec, in
 * order. With ADDR_SCAN_FOLDED, a fold (CRLF or LF followed by a space or a
 * tab) inside a quoted string is removed as RFC 5322 3.2.2 unfolding would;
 * without it, that is an error as in addr_list_parse. Returns the number
 * of addr-specs, or -1 with why (syntax, bounds, or fn's -1). */
int addr_list_scan(const char *value, size_t len, int flags, addr_scan_fn fn, void *ctx,
                   struct buf *why);

/* addr_quote_local - internal to external form: quote the local part when it
 * is not a dot-atom (RFC 5322 3.4.1), escaping '"' and '\'. 0, or -1 and why
 * for NUL/CR/LF or an over-long result. */
int addr_quote_local(const char *addr, struct buf *out, struct buf *why);
/* addr_unquote - external to internal form: remove quotes and resolve
 * quoted-pairs in the local part. 0, or -1 and why (unterminated quote,
 * NUL/CR/LF, over-long). */
int addr_unquote(const char *addr, struct buf *out, struct buf *why);

/* addr_qualify - "user" becomes "user@myorigin"; an address with a domain
 * and the null sender "" are copied unchanged. */
void addr_qualify(const char *addr, const char *myorigin, struct buf *out);

/* addr_split_ext - split "user+ext@domain" at the first byte of the local
 * part that is in `delims` (Postfix recipient_delimiter, a set of
 * characters). Returns 1 and fills user/ext/domain (any may be NULL) when
 * split, 0 when not (then user = local part, ext empty). Never splits when
 * delims is empty, when the local part starts with a delimiter ("+foo"),
 * or, when '-' is a delimiter, "owner-foo" and "foo-request" (Postfix
 * compatibility: mailing-list conventions). domain excludes the '@'. */
int addr_split_ext(const char *addr, const char *delims, struct buf *user, struct buf *ext,
                   struct buf *domain);

/* addr_fold_domain - lower-case (ASCII) the domain part in place. */
char *addr_fold_domain(char *addr);

#endif
