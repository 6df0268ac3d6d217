/* map_types - the built-in table types, one struct map_ops each; a new
 * type adds its declaration here and its entry to map_types.c. */
#ifndef MAPS_MAP_TYPES_H
#define MAPS_MAP_TYPES_H

#include "maps/map.h"

extern const struct map_ops map_lmdb_ops;  /* lmdb: */
extern const struct map_ops map_hash_ops;  /* hash: (LMDB) */
extern const struct map_ops map_btree_ops; /* btree: (LMDB) */
extern const struct map_ops map_texthash_ops;
extern const struct map_ops map_inline_ops;
extern const struct map_ops map_static_ops;
extern const struct map_ops map_fail_ops;

#endif
