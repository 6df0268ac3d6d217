/* match_list - Postfix-style lists of hosts, networks and domains, as in
 * mynetworks, relay_domains, smtpd_client_event_limit_exceptions and
 * smtpd_sasl_exceptions_networks.
 *
 * A list is separated by commas and white space. Entries, each optionally
 * after "!" (a match then means "not in the list"), first match wins:
 *   192.0.2.1, 2001:db8::1, [2001:db8::1]   an address
 *   192.0.2.0/24, [2001:db8::]/32           a network (the address must be
 *                                           the network's first; else a
 *                                           config error, as Postfix warns)
 *   example.com                             a name (host lists: the client
 *                                           name; domain lists: the domain)
 *   .example.com                            any name under example.com
 *   type:table                              a table, looked up with the
 *                                           name, its parents as ".parent"
 *                                           (domain lists), and the address
 *                                           (host lists; cidr: tables match
 *                                           addresses); any found key is a
 *                                           match, whatever its value
 *   /file/name                              the file's entries, inline
 * With parent_domain_matches_subdomains listing the list's parameter
 * (Postfix's default lists relay_domains, mynetworks ... ), "example.com"
 * also matches its subdomains.
 *
 * A table that cannot be consulted makes the answer -1 (temporary), never
 * a silent "no".
 */
#ifndef MAPS_MATCH_LIST_H
#define MAPS_MATCH_LIST_H

#include "util/buf.h"

struct match_list;

#define MATCH_FLAG_PARENT 0x01 /* "example.com" matches subdomains too */

/* match_list_create - parse the list; param names the parameter for error
 * messages ("mynetworks: bad network: 10.0.0.1/8"). NULL + why. */
struct match_list *match_list_create(const char *param, const char *list, int flags,
                                     struct buf *why);
void match_list_free(struct match_list *ml);

/* match_list_host - does the client (name may be "unknown" or NULL, addr
 * printable IPv4/IPv6) match? 1, 0, or -1 + why. */
int match_list_host(struct match_list *ml, const char *name, const char *addr, struct buf *why);

/* match_list_domain - does the domain (case-insensitive; a trailing dot is
 * ignored) match? 1, 0, or -1 + why. */
int match_list_domain(struct match_list *ml, const char *domain, struct buf *why);

/* match_cidr_parse / match_cidr_contains - helpers shared with cidr:
 * tables: parse "addr" or "addr/len" (IPv6 optionally in []) into a network;
 * 0 or -1 + why. */
struct match_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char net[16];
    unsigned char mask[16];
    int len;
};
int match_cidr_parse(const char *spec, struct match_cidr *out, struct buf *why);
/* addr: printable address; 1 inside, 0 not (or not an address). An IPv4
 * network also matches the IPv4-mapped IPv6 form ::ffff:a.b.c.d. */
int match_cidr_contains(const struct match_cidr *net, const char *addr);

#endif
