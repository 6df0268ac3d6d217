/* cleanup_rewrite - the address rewriting of cleanup(8), as Postfix's
 * cleanup does it, without sockets or files:
 *
 *   envelope sender     sender_canonical_maps, canonical_maps, masquerading
 *   envelope recipient  recipient_canonical_maps, canonical_maps,
 *                       masquerading, then virtual_alias_maps expansion
 *   header addresses    qualification, the canonical maps and masquerading
 *                       of the header's class (never virtual aliasing)
 *
 * Each step applies only when its *_classes parameter names the address
 * class (envelope_sender, envelope_recipient, header_sender,
 * header_recipient). Canonical lookups (canonical(5)) repeat while the
 * address changes, at most CLEANUP_CANON_NESTING times; a table result with
 * several addresses uses the first, with a warning. Virtual expansion
 * (virtual(5)) is one-to-many and recursive, bounded by
 * virtual_alias_recursion_limit (depth) and virtual_alias_expansion_limit
 * (addresses); an address that expands to itself is a final recipient.
 * Lookups ask the local part alone only when the domain is in
 * mydestination (resolve_is_local_domain).
 *
 * A table that cannot be consulted is never "not found": the function
 * fails with CLEANUP_RW_TEMP and a Postfix-style text ("virtual_alias_maps
 * map lookup problem for a@b"), and the caller refuses the message with a
 * temporary error. Exceeded limits give CLEANUP_RW_LIMIT.
 */
#ifndef MAIL_CLEANUP_REWRITE_H
#define MAIL_CLEANUP_REWRITE_H

#include <stddef.h>

#include "util/argv.h"
#include "util/buf.h"

/* Address classes (the words of the *_classes parameters). */
#define CLEANUP_RW_ENV_SENDER 0x01 /* envelope_sender */
#define CLEANUP_RW_ENV_RCPT   0x02 /* envelope_recipient */
#define CLEANUP_RW_HDR_SENDER 0x04 /* header_sender */
#define CLEANUP_RW_HDR_RCPT   0x08 /* header_recipient */

#define CLEANUP_CANON_NESTING 10 /* canonical lookups per address (Postfix's) */

/* Results. */
#define CLEANUP_RW_OK    0
#define CLEANUP_RW_TEMP  (-1) /* a table could not be consulted */
#define CLEANUP_RW_LIMIT (-2) /* virtual alias nesting or expansion limit */

/* Parameter values, already $-expanded; NULL is read as "". */
struct cleanup_rewrite_conf {
    const char *canonical_maps;
    const char *canonical_classes;
    const char *sender_canonical_maps;
    const char *sender_canonical_classes;
    const char *recipient_canonical_maps;
    const char *recipient_canonical_classes;
    const char *masquerade_domains;
    const char *masquerade_exceptions;
    const char *masquerade_classes;
    const char *virtual_alias_maps;
    long virtual_alias_recursion_limit; /* <= 0: 1 */
    long virtual_alias_expansion_limit; /* <= 0: 1 */
    const char *propagate_unmatched_extensions;
    const char *recipient_delimiter;
    const char *mydestination; /* for "is this domain ours" */
    const char *myhostname;
    const char *myorigin;                     /* header qualification, local clients */
    const char *remote_header_rewrite_domain; /* remote clients; "" = no header rewriting */
    const char *local_header_rewrite_clients;
    const char *inet_interfaces; /* permit_inet_interfaces */
    const char *proxy_interfaces;
    const char *mynetworks; /* permit_mynetworks */
    /* keep_broken: a table list that does not open is kept as unavailable
     * (every lookup in it fails temporarily, cleanup_rewrite_broken says
     * why) instead of failing creation. A server uses it so that a missing
     * table defers mail instead of stopping the service. */
    int keep_broken;
    int table_flags; /* map_open flags (MAP_FOLD_CASE); 0 means MAP_FOLD_CASE */
};

struct cleanup_rewrite;

/* cleanup_rewrite_create - parse the settings and open the tables. NULL +
 * why on a bad setting (unknown class, local_header_rewrite_clients word)
 * or, without keep_broken, a table that does not open. */
struct cleanup_rewrite *cleanup_rewrite_create(const struct cleanup_rewrite_conf *conf,
                                               struct buf *why);
void cleanup_rewrite_free(struct cleanup_rewrite *r);

/* cleanup_rewrite_broken - NULL, or why a table list did not open
 * ("virtual_alias_maps: ..."): that list fails every lookup. */
const char *cleanup_rewrite_broken(const struct cleanup_rewrite *r);

/* cleanup_rewrite_last_error - the table-level reason of the last
 * CLEANUP_RW_TEMP ("lmdb:/etc/postern/virtual: ..."). */
const char *cleanup_rewrite_last_error(const struct cleanup_rewrite *r);

/* cleanup_rewrite_sender - a sender address (internal form, qualified) of
 * class CLEANUP_RW_ENV_SENDER or CLEANUP_RW_HDR_SENDER into out. The null
 * sender "" stays as it is. qid is for warnings. CLEANUP_RW_OK, or
 * CLEANUP_RW_TEMP + why. */
int cleanup_rewrite_sender(struct cleanup_rewrite *r, const char *qid, const char *addr, int cls,
                           struct buf *out, struct buf *why);

/* cleanup_rewrite_recipient - the same for a recipient address of class
 * CLEANUP_RW_ENV_RCPT or CLEANUP_RW_HDR_RCPT (no virtual aliasing). */
int cleanup_rewrite_recipient(struct cleanup_rewrite *r, const char *qid, const char *addr, int cls,
                              struct buf *out, struct buf *why);

/* cleanup_rewrite_virtual - expand a recipient through virtual_alias_maps
 * (Postfix's cleanup_map1n): the final addresses are appended to out (addr
 * itself when it has no alias). CLEANUP_RW_OK, CLEANUP_RW_TEMP + why, or
 * CLEANUP_RW_LIMIT + why; nothing is appended on failure. */
int cleanup_rewrite_virtual(struct cleanup_rewrite *r, const char *qid, const char *addr,
                            struct argv *out, struct buf *why);

/* cleanup_rewrite_envelope_recipient - the whole envelope recipient path:
 * cleanup_rewrite_recipient (CLEANUP_RW_ENV_RCPT), then
 * cleanup_rewrite_virtual. */
int cleanup_rewrite_envelope_recipient(struct cleanup_rewrite *r, const char *qid, const char *addr,
                                       struct argv *out, struct buf *why);

/* cleanup_rewrite_header_class - CLEANUP_RW_HDR_SENDER for From, Sender,
 * Reply-To, Errors-To, Return-Receipt-To, Resent-From/Sender/Reply-To;
 * CLEANUP_RW_HDR_RCPT for To, Cc, Bcc, Resent-To/Cc/Bcc, Apparently-To;
 * else 0. Case-insensitive. */
int cleanup_rewrite_header_class(const char *name);

/* cleanup_rewrite_local_client - should headers of mail from this client
 * get local rewriting (local_header_rewrite_clients)? addr NULL or "" (no
 * client: local submission) is local. 1, 0, or CLEANUP_RW_TEMP + why. */
int cleanup_rewrite_local_client(struct cleanup_rewrite *r, const char *addr, struct buf *why);

/* cleanup_rewrite_header - rewrite the addresses of one header field body
 * (value, len bytes, as stored, folding included) of class cls: each
 * address without a domain gets "@domain" appended (domain NULL: none),
 * then the class's canonical maps and masquerading apply. The new body
 * goes into out. Returns the number of addresses changed (0: keep the
 * header as it is; also for a body that does not parse), or
 * CLEANUP_RW_TEMP + why. */
int cleanup_rewrite_header(struct cleanup_rewrite *r, const char *qid, int cls, const char *domain,
                           const char *value, size_t len, struct buf *out, struct buf *why);

/* cleanup_rewrite_header_domain - the domain header addresses of a local
 * (local != 0) or remote client are qualified with: myorigin, or
 * remote_header_rewrite_domain; NULL when headers of remote clients are
 * not rewritten at all (it is empty). */
const char *cleanup_rewrite_header_domain(const struct cleanup_rewrite *r, int local);

#endif
