/* resolve - which transport and next hop deliver a recipient address.
 *
 * The part of Postfix's trivial-rewrite(8) resolver that qmgr needs: an
 * address without a domain, or whose domain is listed in mydestination,
 * goes to local_transport; everything else to default_transport. A
 * transport setting is "transport" or "transport:nexthop".
 *
 * Next hop, in decreasing precedence (postconf(5), transport(5)):
 *   local:   the nexthop in local_transport, else the recipient domain,
 *            else (no domain) myhostname;
 *   default: the nexthop in default_transport, else relayhost, else the
 *            recipient domain.
 *
 * mydestination is a list separated by commas and white space. An entry is
 * a domain (matched case-insensitively, exactly), ".domain" (any subdomain
 * of domain), "type:name" (a table: the domain is looked up, then each
 * parent as ".parent", Postfix's match_list style), or any of these after
 * "!" (a match means "not local"). The first matching entry decides.
 * A domain literal ([1.2.3.4]) never matches: it goes to default_transport.
 *
 * The resolver is pure apart from table lookups, so it is unit-tested; a
 * table that cannot be consulted is a temporary failure (-1), never a
 * decision. transport_maps will slot in before the mydestination test.
 */
#ifndef MAIL_RESOLVE_H
#define MAIL_RESOLVE_H

#include "util/buf.h"

#define RESOLVE_TRANSPORT_MAX 64 /* longest transport (master.cf service) name */

/* Where an address was sent, so callers can log or apply class rules. */
enum resolve_class { RESOLVE_CLASS_LOCAL, RESOLVE_CLASS_DEFAULT };

struct resolve_params {
    const char *mydestination;     /* expanded list */
    const char *local_transport;   /* "local:$myhostname", expanded */
    const char *default_transport; /* "smtp" */
    const char *relayhost;         /* "" for none */
    const char *myhostname;
};

struct resolve_result {
    struct buf transport; /* master.cf service name: private/<transport> */
    struct buf nexthop;
    enum resolve_class class;
};

struct resolver;

/* resolver_create - check the settings and open the tables named in
 * mydestination. NULL + why (bad transport name, a table that does not
 * open, an unsupported /file entry). */
struct resolver *resolver_create(const struct resolve_params *p, struct buf *why);
void resolver_free(struct resolver *r);

void resolve_result_init(struct resolve_result *res);
void resolve_result_free(struct resolve_result *res);

/* resolve_addr - transport and next hop for addr into out. 0, or -1 + why
 * on a temporary failure (a mydestination table could not be consulted). */
int resolve_addr(struct resolver *r, const char *addr, struct resolve_result *out, struct buf *why);

/* resolve_is_local_domain - does domain (no trailing dot handling; the
 * caller normalises) match mydestination? 1, 0, or -1 + why. */
int resolve_is_local_domain(struct resolver *r, const char *domain, struct buf *why);

/* resolve_split_transport - "transport[:nexthop]" into its parts. The
 * transport must be a plausible service name ([A-Za-z0-9._-], not "." or
 * "..", at most RESOLVE_TRANSPORT_MAX): it becomes a socket path. nexthop
 * is "" when absent. 0, or -1 + why. */
int resolve_split_transport(const char *value, struct buf *transport, struct buf *nexthop,
                            struct buf *why);

/* resolve_transport_name_ok - 1 if name is usable as private/<name>. */
int resolve_transport_name_ok(const char *name);

#endif
