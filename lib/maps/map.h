/* map - lookup tables named "type:name", with Postfix semantics.
 *
 * A caller opens a table once and looks keys up many times:
 *
 *     struct map *m = map_open("hash:/etc/aliases", MAP_FOLD_CASE, &why);
 *     switch (map_lookup(m, "postmaster", &value)) { ... }
 *
 * map_lookup answers 1 (found, value set), 0 (not found) or -1 (the table
 * could not be consulted; map_error() says why). A caller must treat -1 as a
 * temporary failure: a missing, unreadable or broken table defers mail, it
 * never bounces it.
 *
 * File-backed tables (lmdb/hash/btree, texthash) are watched: at most once a
 * second a lookup stat()s the file and reopens the table when it changed
 * (other device, inode, size or mtime), so `postmap` / `newaliases` take
 * effect without a restart. If the reopen fails, lookups return -1 until
 * the file is usable again.
 *
 * Types: lmdb (also "hash" and "btree"; file NAME.lmdb), texthash (a text
 * table read into memory), static:VALUE, inline:{ k=v, { k2 = v w } },
 * fail:REASON, cidr:, pcre:, regexp: (pattern files, also watched),
 * unix:passwd.byname / group.byname / group.bygid, proxy:TYPE:NAME (through
 * proxymap, map_proxy.h). A type is a struct map_ops registered in map_types.c (built
 * in) or with map_register() (at run time).
 *
 * Writing (lmdb only): MAP_UPDATE opens a new, empty table in a temporary
 * file next to the target; map_update()/map_delete() fill it and
 * map_commit() renames it into place, so readers see the old table or the
 * new one, never half of one. MAP_UPDATE|MAP_EDIT starts from a copy of the
 * existing table (postmap -d). map_close() without map_commit() discards it.
 */
#ifndef MAPS_MAP_H
#define MAPS_MAP_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util/buf.h"

/* map_open flags. */
#define MAP_FOLD_CASE 0x01 /* fold keys to lower case (Postfix's default) */
#define MAP_UPDATE    0x02 /* open a new table for building (lmdb only) */
#define MAP_EDIT      0x04 /* with MAP_UPDATE: start from the existing contents */

/* map_iterate callback: return 0 to go on, anything else to stop (returned). */
typedef int (*map_iter_fn)(void *ctx, const char *key, const char *value);

struct map;

/* A table type. Every function but open and lookup may be NULL. */
struct map_ops {
    const char *type;
    int flags; /* MAP_OPS_* */
    /* open - set m->priv (and m->watch_path for a file to watch); 0, or -1 + why.
     * m->name, m->flags are set before the call. */
    int (*open)(struct map *m, struct buf *why);
    /* lookup - the key is already case-folded when asked; 1/0/-1 (reason in
     * m->error via map_set_error). value is reset by the caller. */
    int (*lookup)(struct map *m, const char *key, struct buf *value);
    /* update - 0 stored, 1 key existed (kept, not replaced), -1 + why. */
    int (*update)(struct map *m, const char *key, const char *value, struct buf *why);
    /* delete - 1 deleted, 0 absent, -1 + why. */
    int (*delete)(struct map *m, const char *key, struct buf *why);
    /* iterate - every entry in table order; 0, the callback's non-zero, or -1. */
    int (*iterate)(struct map *m, map_iter_fn fn, void *ctx, struct buf *why);
    /* commit - make a MAP_UPDATE table live; 0 or -1 + why. */
    int (*commit)(struct map *m, struct buf *why);
    /* close - free m->priv (discarding an uncommitted update). */
    void (*close)(struct map *m);
};

/* map_ops flags. */
#define MAP_OPS_NO_FOLD      0x01 /* the type handles case itself (regexp, pcre, cidr) */
#define MAP_OPS_NAME_IS_FILE 0x02 /* name is a path (postmap may build it) */
#define MAP_OPS_PATTERN                                                                            \
    0x04 /* matches patterns, not keys (cidr, pcre, regexp): asked                                 \
          * only the full key, never partial ones (Postfix's                                       \
          * tables without DICT_FLAG_FIXED) */

/* The table. Callers use the functions below; the fields are for types. */
struct map {
    const struct map_ops *ops;
    char *spec; /* "type:name" as given */
    char *type;
    char *name;
    int flags;
    void *priv;
    struct buf error;  /* last temporary error (map_error) */
    char *watch_path;  /* set by open: file whose change means "reopen" */
    int broken;        /* reopen failed: every lookup fails until it works */
    time_t last_check; /* when watch_path was last stat()ed */
    dev_t w_dev;
    ino_t w_ino;
    off_t w_size;
    struct timespec w_mtime;
};

/* map_open - open "type:name"; NULL + why on error (unknown type, missing
 * file, syntax error with FILE:LINE, ...). */
struct map *map_open(const char *spec, int flags, struct buf *why);
/* map_lookup - 1 found (value set), 0 not found, -1 temporary error. */
int map_lookup(struct map *m, const char *key, struct buf *value);
/* map_error - the reason for the last -1 from map_lookup. */
const char *map_error(const struct map *m);
/* map_update / map_delete / map_iterate / map_commit - see struct map_ops;
 * -1 + why if the type cannot do it. Keys are folded per MAP_FOLD_CASE. */
int map_update(struct map *m, const char *key, const char *value, struct buf *why);
int map_delete(struct map *m, const char *key, struct buf *why);
int map_iterate(struct map *m, map_iter_fn fn, void *ctx, struct buf *why);
int map_commit(struct map *m, struct buf *why);
void map_close(struct map *m);

/* map_is_pattern - 1 for a table that matches patterns rather than keys
 * (MAP_OPS_PATTERN; for proxy:TYPE:NAME, the type behind the proxy), so
 * address and domain lookups ask it the full key only. */
int map_is_pattern(const struct map *m);

/* map_check_now - make the next lookup check the file at once (tests, and
 * callers that know a table just changed). */
void map_check_now(struct map *m);

/* map_stale - the spec of an open table whose file changed but could not
 * be reopened where the process now runs (a chrooted daemon: the file is
 * outside its root; found with fstat of the file opened at start, whose
 * link count drops to 0 when postmap renames a new table into place), or
 * NULL. The old contents keep answering lookups; the server skeleton exits
 * after the current client ("table hash:/etc/aliases has changed --
 * restarting") so master starts a process that opens the new table, as
 * Postfix does. */
const char *map_stale(void);

/* map_register - add a type at run time (replaces one of the same name). */
void map_register(const struct map_ops *ops);
/* map_find_type - the ops of a type name, or NULL. */
const struct map_ops *map_find_type(const char *type);
/* map_split - split "type:name" into malloc'ed parts; -1 + why if no type. */
int map_split(const char *spec, char **type, char **name, struct buf *why);

/* For types: record a temporary error for map_error(); returns -1. */
int map_set_error(struct map *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* For types: remember watch_path's identity now (after a successful open). */
void map_watch(struct map *m, const char *path);

/* The built-in types (map_types.c): a NULL-terminated list. */
extern const struct map_ops *const map_builtin_types[];

#endif
