/* resolve - which transport and next hop deliver a recipient address.
 *
 * Postfix's trivial-rewrite(8) resolver as qmgr needs it. An address
 * falls into the first class that matches its domain (postconf(5)):
 *
 *   local    no domain, or the domain is in mydestination: local_transport;
 *            next hop: local_transport's, else the recipient domain, else
 *            (no domain) myhostname;
 *   alias    virtual_alias_domains: an address that is still in such a
 *            domain after virtual alias expansion (cleanup) is unknown:
 *            the error transport (error_service_name) with the next hop
 *            "5.1.1 User unknown in virtual alias table";
 *   virtual  virtual_mailbox_domains: virtual_transport; next hop:
 *            virtual_transport's, else the recipient domain;
 *   relay    relay_domains: relay_transport; next hop: relay_transport's,
 *            else relayhost, else the recipient domain;
 *   default  everything else: default_transport; next hop:
 *            default_transport's, else relayhost, else the recipient domain.
 *
 * Then transport_maps (transport(5)) may override the choice, except for
 * the alias class (as in Postfix: an unknown address stays unknown). Keys,
 * first hit wins, each key asked of every table in order:
 *   user+ext@domain; user@domain (when recipient_delimiter split off an
 *   extension); domain; each parent as ".parent" (as "parent" when
 *   parent_domain_matches_subdomains lists transport_maps); "*".
 * Pattern tables (map_is_pattern) are asked the full address only. An
 * address without a domain is looked up as user@myhostname. The value is
 * "transport:nexthop":
 *   ":" or ""             nothing changes;
 *   ":nexthop"            the class transport, to nexthop;
 *   "transport:nexthop"   both replaced; nexthop is kept verbatim, so
 *                         "smtp:[relay.example]:2526" works;
 *   "transport" / "transport:"  the recipient domain as next hop, but for
 *                         error and retry "Address is undeliverable".
 *
 * mydestination is a list separated by commas and white space. An entry is
 * a domain (matched case-insensitively, exactly), ".domain" (any subdomain
 * of domain), "type:name" (a table: the domain is looked up, then each
 * parent as ".parent", Postfix's match_list style), or any of these after
 * "!" (a match means "not local"). The first matching entry decides.
 * A domain literal ([1.2.3.4]) never matches: it goes to default_transport.
 * The virtual and relay domain lists are match_list.h lists.
 *
 * Failures are never decisions: a table that cannot be consulted, or a
 * transport_maps value that is not usable (bad transport name, control
 * characters, too long), makes resolve_addr answer -1 with a reason that
 * names the table (and key), and the caller defers. A transport_maps table
 * that cannot be opened does not stop the resolver (Postfix's surrogate
 * tables): every lookup fails, naming it, and opening is tried again at
 * most once a second; resolve_unavailable_table() names it meanwhile.
 *
 * The resolver is pure apart from table lookups, so it is unit-tested.
 */
#ifndef MAIL_RESOLVE_H
#define MAIL_RESOLVE_H

#include "util/buf.h"

#define RESOLVE_TRANSPORT_MAX 64   /* longest transport (master.cf service) name */
#define RESOLVE_NEXTHOP_MAX   1024 /* longest next hop from a transport_maps value */

/* Where an address was sent, so callers can log or apply class rules. The
 * class is the address class: a transport_maps entry does not change it. */
enum resolve_class {
    RESOLVE_CLASS_LOCAL,
    RESOLVE_CLASS_DEFAULT,
    RESOLVE_CLASS_ALIAS,
    RESOLVE_CLASS_VIRTUAL,
    RESOLVE_CLASS_RELAY,
};

struct resolve_params {
    const char *mydestination;     /* expanded list */
    const char *local_transport;   /* "local:$myhostname", expanded */
    const char *default_transport; /* "smtp" */
    const char *relayhost;         /* "" for none */
    const char *myhostname;
};

/* The rest of the address classes and transport_maps (resolver_create_routing).
 * Kept apart from struct resolve_params so that callers that fill only
 * those five fields (on the stack, uninitialised or not) stay correct.
 * Every field may be NULL (zero): no such domains, no tables, defaults. */
struct resolve_routing {
    const char *virtual_alias_domains;   /* match list */
    const char *virtual_mailbox_domains; /* match list */
    const char *virtual_transport;       /* NULL: "virtual" */
    const char *relay_domains;           /* match list */
    const char *relay_transport;         /* NULL: "relay" */
    const char *transport_maps;          /* list of tables */
    const char *parent_domain_matches_subdomains;
    const char *recipient_delimiter; /* set of characters */
    const char *error_service;       /* error_service_name; NULL: "error" */
    int hide_unknown_table;          /* show_user_unknown_table_name = no */
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
/* resolver_create_routing - the same with the classes and tables of rt
 * (NULL: none). NULL + why also for a bad domain list, a bad
 * virtual/relay transport (checked when its domain list is not empty), an
 * unknown table type in transport_maps. */
struct resolver *resolver_create_routing(const struct resolve_params *p,
                                         const struct resolve_routing *rt, struct buf *why);
void resolver_free(struct resolver *r);

/* resolve_unavailable_table - "type:name" of a transport_maps table that
 * could not be opened (yet), or NULL. A chrooted caller cannot open a
 * file outside its root: it restarts to try again. */
const char *resolve_unavailable_table(const struct resolver *r);

/* resolve_check_tables - let each file-backed transport_maps table check
 * its file now (map.c checks at lookup time, at most once a second), and
 * try to open an unavailable one, so that a removed or rebuilt table is
 * noticed (map_stale(), or lookups that fail) before mail is routed by
 * its old contents. For a caller's timer; other tables are left alone. */
void resolve_check_tables(struct resolver *r);

void resolve_result_init(struct resolve_result *res);
void resolve_result_free(struct resolve_result *res);

/* resolve_addr - transport and next hop for addr (internal form) into out.
 * 0, or -1 + why on a temporary failure or an unusable table value. */
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
