/* map_addr - lists of tables ("maps" parameters such as virtual_alias_maps =
 * hash:/etc/postern/virtual, ldap:/etc/postern/ldap.cf) and mail address
 * lookups in them, in Postfix's order (mail_addr_find, mail_addr_map).
 *
 * A list is searched table by table; the first table that has the key
 * wins. A table that cannot be consulted before a hit makes the whole
 * lookup a temporary failure (-1, maps_error() names the table), never a
 * "not found": callers defer.
 *
 * Address lookup order for user+ext@domain (recipient_delimiter "+"):
 *   1. user+ext@domain
 *   2. user@domain                     (only when there is an extension)
 *   3. user+ext, then user             (only with MAPS_ADDR_LOCALPART, the
 *                                       caller's "domain is ours" answer)
 *   4. @domain
 * Pattern tables (map_is_pattern: cidr, pcre, regexp, and proxy: of them)
 * are asked step 1 only. An address without '@' is looked up as it is
 * (then without its extension). Keys are passed in internal form (unquoted
 * local part); case folding is up to each table's MAP_FOLD_CASE.
 */
#ifndef MAPS_MAP_ADDR_H
#define MAPS_MAP_ADDR_H

#include "maps/map.h"
#include "util/argv.h"
#include "util/buf.h"

struct maps {
    char *param; /* the parameter the list came from, for messages */
    struct map **v;
    size_t n;
    struct buf error; /* "spec: reason" of the last -1 */
};

/* maps_open - open every table named in value (separated by commas and
 * white space; "inline:{ a=b, c=d }" kept whole) with flags (MAP_FOLD_CASE
 * usually). An empty value gives an empty list (every lookup: 0). 0, or -1
 * + why ("param: reason"); on failure nothing stays open. */
int maps_open(struct maps *ms, const char *param, const char *value, int flags, struct buf *why);
void maps_close(struct maps *ms);

/* maps_find - key in each table in order: 1 + value, 0, -1 (maps_error).
 * With MAPS_PARTIAL pattern tables are skipped (the key is a partial key,
 * such as a parent domain, that a pattern table must not see). */
#define MAPS_PARTIAL 0x01
int maps_find(struct maps *ms, const char *key, int flags, struct buf *value);

/* maps_error - why the last lookup answered -1: "spec: reason". */
const char *maps_error(const struct maps *ms);

/* maps_addr_find - the lookup order above. delims is recipient_delimiter
 * (a set of characters, may be ""). 1 + value (+ the extension that the
 * matching key left out, with its delimiter, e.g. "+foo", in ext when ext
 * is not NULL; "" when the key kept it or there was none), 0, or -1. */
#define MAPS_ADDR_LOCALPART 0x01
int maps_addr_find(struct maps *ms, const char *addr, const char *delims, int flags,
                   struct buf *value, struct buf *ext);

/* maps_addr_map - maps_addr_find, with the value read as a list of
 * addresses, as canonical(5) and virtual(5) results are:
 *   - items separated by commas and white space (a quoted local part may
 *     hold either); each is turned into internal form (addr_unquote);
 *   - an item "@domain" becomes addr's local part + "@domain";
 *   - with propagate, an extension that the matching key left out is put
 *     back after each result's local part (user@dom -> other+ext@dom), as
 *     propagate_unmatched_extensions asks.
 * Results are appended to out. 1 (at least one item), 0 (not found, or a
 * value with no items), -1 (lookup failure, or an item that is not a
 * usable address: maps_error() says which). */
int maps_addr_map(struct maps *ms, const char *addr, const char *delims, int flags, int propagate,
                  struct argv *out);

#endif
