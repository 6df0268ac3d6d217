/* map_types - the registry of built-in table types, searched by map_open
 * after any type added with map_register(). */
#include "maps/map_types.h"

#include <stddef.h>

const struct map_ops *const map_builtin_types[] = {
    &map_lmdb_ops,   &map_hash_ops,
    &map_btree_ops,  &map_texthash_ops,
    &map_inline_ops, &map_static_ops,
    &map_fail_ops,   &map_cidr_ops,
    &map_pcre_ops,   &map_regexp_ops,
    &map_unix_ops,   &map_proxy_ops,
    &map_ldap_ops,   NULL,
};
