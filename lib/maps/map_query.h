/* map_query - the key expansion of query-based tables (ldap:, and any
 * later type that sends a query built from the key), with Postfix's
 * db_common semantics, and the "domain" restriction of such tables.
 *
 * A template is text with '%' expansions. Lower-case letters take the
 * "value", upper-case letters and digits the lookup "key"; in a query
 * template (query_filter, search_base) both are the key, in result_format
 * the value is one attribute value of the answer:
 *
 *   %s %S   the whole value / key
 *   %u %U   the local part (before the last '@'); the whole string when
 *           it has no '@'
 *   %d %D   the domain (after the last '@'); a string without '@' has none
 *   %1..%9  the domain labels of the key, from the right: %1 is the top
 *           label (key user@mail.example.com: %1 com, %2 example, %3 mail)
 *   %%      a '%'
 *
 * When a part that the template uses is missing or empty (%d of "user",
 * %u of "@example.com", %3 of "a@example.com", %s of ""), the expansion is
 * suppressed: for a query that means "not found, no query made", for a
 * result value "skip this value".
 *
 * Every expanded part is quoted for the query language, so a key can never
 * change a query's structure: MAP_QUOTE_LDAP_FILTER writes '*', '(', ')',
 * '\', NUL, and every byte below 0x20 or from 0x7f as \XX (RFC 4515
 * section 3); MAP_QUOTE_LDAP_DN escapes an RFC 4514 attribute value.
 * These functions are pure: no I/O, no global state.
 */
#ifndef MAPS_MAP_QUERY_H
#define MAPS_MAP_QUERY_H

#include <stddef.h>

#include "util/buf.h"

enum map_query_quote {
    MAP_QUOTE_NONE,        /* parts as they are (result_format) */
    MAP_QUOTE_LDAP_FILTER, /* an RFC 4515 assertion value */
    MAP_QUOTE_LDAP_DN,     /* an RFC 4514 attribute value */
};

/* map_query_check - is fmt a valid template? 0, or -1 + why ("unknown
 * expansion \"%x\"", "'%' at the end"). */
int map_query_check(const char *fmt, struct buf *why);

/* map_query_expand - append fmt, expanded, to out: 1 done, 0 suppressed
 * (out is then left as it was), -1 fmt is not a valid template (likewise).
 * value and key are NUL-terminated. */
int map_query_expand(struct buf *out, const char *fmt, const char *value, const char *key,
                     enum map_query_quote quote);

/* map_query_quote - append len bytes of s to out, quoted. */
void map_query_quote(struct buf *out, const char *s, size_t len, enum map_query_quote quote);

/* ---- the "domain" restriction ---- */

struct map_query_domain;

/* map_query_domain_create - a list of domains, /file/names and type:tables
 * (match_list syntax, exact names unless written ".example.com"); param
 * names it in errors. NULL + why. */
struct map_query_domain *map_query_domain_create(const char *param, const char *list,
                                                 struct buf *why);
/* map_query_domain_check - may key be looked up? Only "user@domain" with a
 * non-empty user and a listed domain may: 1. Anything else (no '@', empty
 * user or domain, another domain): 0. A table in the list that cannot be
 * consulted: -1 + why. */
int map_query_domain_check(struct map_query_domain *d, const char *key, struct buf *why);
void map_query_domain_free(struct map_query_domain *d);

#endif
