/* smtp_tls_policy - which TLS the smtp client demands of a destination:
 * smtp_tls_security_level, overridden per destination by
 * smtp_tls_policy_maps (Postfix's TLS_README "TLS policy table").
 *
 * A policy entry is "level [name=value ...]", e.g.
 *     example.com        encrypt protocols=>=TLSv1.2
 *     [mx.example.net]:587  verify match=hostname:nexthop ciphers=high
 *     .example.org       secure match=.example.org
 *     legacy.example     none
 * Levels: none, may, encrypt, verify, secure (dane and dane-only are
 * treated as unknown: the entry is invalid). Attributes: match (":"
 * separated), protocols, ciphers, exclude (ignored, recorded), servername.
 * An invalid entry is a temporary failure for that destination, never a
 * silent downgrade (Postfix: "mail for X deferred: invalid TLS policy").
 *
 * Lookup order (Postfix): for a next hop without MX lookup the key is the
 * next hop exactly as the transport wrote it ("[host]:port", "[host]");
 * otherwise the next-hop domain ("sub.example.com"), then each parent as
 * ".example.com", ".com" (a leading dot matches subdomains only).
 */
#ifndef MAIL_SMTP_TLS_POLICY_H
#define MAIL_SMTP_TLS_POLICY_H

#include "maps/map_addr.h"
#include "util/buf.h"

enum smtp_tls_level {
    SMTP_TLS_NONE = 0, /* never STARTTLS */
    SMTP_TLS_MAY,      /* STARTTLS when offered; on a TLS failure, retry in plaintext */
    SMTP_TLS_ENCRYPT,  /* mandatory TLS, no certificate check */
    SMTP_TLS_VERIFY,   /* mandatory TLS, chain and MX host name checked */
    SMTP_TLS_SECURE,   /* mandatory TLS, chain and next-hop domain checked */
};

#define SMTP_TLS_MATCH_MAX 16

struct smtp_tls_policy {
    enum smtp_tls_level level;
    /* match strategies/names (verify: default "hostname"; secure: default
     * "nexthop:dot-nexthop"), already expanded into names where possible:
     * "hostname" stays a keyword (matched against the MX host name at
     * connect time), "nexthop" / "dot-nexthop" become the domain and
     * ".domain"; anything else is a literal name. */
    char *match[SMTP_TLS_MATCH_MAX + 1]; /* NULL terminated */
    char *protocols;  /* "" = the level's default (smtp_tls[_mandatory]_protocols) */
    char *ciphers;    /* "" = the level's default */
    char *servername; /* SNI, "" = none / default */
    char source[64];  /* "smtp_tls_security_level" or "smtp_tls_policy_maps" */
};

/* smtp_tls_level_parse - "none" .. "secure" (case-insensitive); -1 for
 * anything else. smtp_tls_level_name - the reverse. */
int smtp_tls_level_parse(const char *name);
const char *smtp_tls_level_name(enum smtp_tls_level level);

/* smtp_tls_policy_parse - one table value for a destination whose domain
 * is nexthop_domain (source "smtp_tls_policy_maps"). 0 (unset strings are
 * ""), or -1 + why ("invalid TLS security level \"foo\"", "unknown
 * attribute \"x\"") leaving p freed. smtp_tls_policy_free is safe to call
 * again on a freed policy. */
int smtp_tls_policy_parse(const char *value, const char *nexthop_domain, struct smtp_tls_policy *p,
                          struct buf *why);

/* smtp_tls_policy_find - the policy for next hop (as the transport wrote
 * it: "example.com", "[10.0.0.1]:2525") whose domain part is domain:
 * maps (smtp_tls_policy_maps, may be NULL) first, then default_level
 * (smtp_tls_security_level; "" is none, and the default takes no
 * attributes). A nexthop that is not a plain domain ("[host]:port",
 * "host:port") is one exact key; a domain is tried, then its parents as
 * ".parent". domain may be NULL (then nexthop). 0 found/defaulted, -1 +
 * why: a table lookup failed or the entry is invalid (the caller defers
 * the mail, 4.7.5). Either way p is safe to pass to smtp_tls_policy_free. */
int smtp_tls_policy_find(struct maps *maps, const char *nexthop, const char *domain,
                         const char *default_level, struct smtp_tls_policy *p, struct buf *why);

void smtp_tls_policy_free(struct smtp_tls_policy *p);

#endif
