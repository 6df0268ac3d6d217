/* map_types - the built-in table types, one struct map_ops each; a new
 * type adds its declaration here and its entry to map_types.c.
 *
 * Below the ops: the parts of the rule-file types (cidr, pcre, regexp) that
 * are shared between them and with match_list, and their parsers as pure
 * functions over text, for unit tests and fuzzers.
 */
#ifndef MAPS_MAP_TYPES_H
#define MAPS_MAP_TYPES_H

#include <stddef.h>

#include "maps/map.h"
#include "util/buf.h"

extern const struct map_ops map_lmdb_ops;  /* lmdb: */
extern const struct map_ops map_hash_ops;  /* hash: (LMDB) */
extern const struct map_ops map_btree_ops; /* btree: (LMDB) */
extern const struct map_ops map_texthash_ops;
extern const struct map_ops map_inline_ops;
extern const struct map_ops map_static_ops;
extern const struct map_ops map_fail_ops;
extern const struct map_ops map_cidr_ops;   /* cidr: (IPv4 and IPv6 networks, first match) */
extern const struct map_ops map_pcre_ops;   /* pcre: (PCRE2, $1 substitution, if/endif) */
extern const struct map_ops map_regexp_ops; /* regexp: (POSIX extended) */
extern const struct map_ops map_unix_ops;   /* unix:passwd.byname, group.byname, group.bygid */
extern const struct map_ops map_proxy_ops;  /* proxy:TYPE:NAME (through proxymap) */
extern const struct map_ops map_ldap_ops;   /* ldap:/file.cf (libldap; map_ldap.h) */

/* ---- rule files (map_regexp.c) ---- */

/* Called with each logical line (NUL-terminated, writable, trailing white
 * space removed); origin and lineno (of the line's first physical line)
 * are for error messages. 0 to go on, -1 with why set to stop. */
typedef int (*map_rule_line_fn)(void *ctx, char *line, const char *origin, long lineno,
                                struct buf *why);

/* map_rule_lines_text - split text into logical lines by Postfix's rules:
 * blank lines and lines whose first non-blank byte is '#' are skipped; a
 * line that starts with white space continues the one before (joined with
 * one space). A NUL byte, a continuation before any line, or a logical line
 * over MAP_FILE_MAX_LINE is an error. 0, or -1 + why ("origin:line: ...",
 * or the callback's reason). */
int map_rule_lines_text(const char *text, size_t len, const char *origin, map_rule_line_fn fn,
                        void *ctx, struct buf *why);
/* map_rule_lines - the same for a file (at most MAP_FILE_MAX_SIZE bytes). */
int map_rule_lines(const char *path, map_rule_line_fn fn, void *ctx, struct buf *why);

/* ---- pcre: and regexp: tables (map_regexp.c, map_pcre.c) ---- */

#define MAP_RE_UNSET   ((size_t)-1) /* a group that took no part in the match */
#define MAP_RE_MAX_SUB 99           /* highest $number in a result */

/* A regular-expression engine. */
struct map_re_engine {
    const char *type; /* "pcre", "regexp": for messages */
    /* compile - pattern as written between the delimiters, flags the letters
     * after them; sets *groups to the number of capture groups. The
     * compiled pattern, or NULL + why (without file:line). */
    void *(*compile)(const char *pattern, const char *flags, size_t *groups, struct buf *why);
    /* exec - match subject (len bytes, NUL-terminated). Sets ov[2i], ov[2i+1]
     * (start, end) for each group i < nov (group 0: the whole match), or
     * MAP_RE_UNSET. 1 match, 0 none, -1 + why (a temporary failure, such as
     * a match limit). */
    int (*exec)(void *re, const char *subject, size_t len, size_t *ov, size_t nov, struct buf *why);
    void (*free)(void *re);
};

extern const struct map_re_engine map_pcre_engine;
extern const struct map_re_engine map_regexp_engine;

struct map_re_table;

/* map_re_parse - a table's text ("/pattern/flags result", "!/pattern/ result",
 * "if /pattern/", "endif"); NULL + why ("origin:line: ..."). */
struct map_re_table *map_re_parse(const char *text, size_t len, const char *origin,
                                  const struct map_re_engine *engine, struct buf *why);
/* map_re_match - the first rule that applies to key, its result with $n
 * substituted: 1 (value set), 0 none, -1 + why. */
int map_re_match(const struct map_re_table *t, const char *key, struct buf *value, struct buf *why);
void map_re_free(struct map_re_table *t);

/* The map_ops functions of both types, over their engine. */
int map_re_open(struct map *m, const struct map_re_engine *engine, struct buf *why);
int map_re_lookup(struct map *m, const char *key, struct buf *value);
void map_re_close(struct map *m);

/* ---- cidr: tables (map_cidr.c) ---- */

struct map_cidr_table;

/* map_cidr_parse - a table's text ("network/len result", "address result",
 * "!network result", "if network", "if !network", "endif"); NULL + why. */
struct map_cidr_table *map_cidr_parse(const char *text, size_t len, const char *origin,
                                      struct buf *why);
/* map_cidr_match - the result of the first rule that applies to the
 * address key: 1 (value set), 0 none (or key not an address). */
int map_cidr_match(const struct map_cidr_table *t, const char *key, struct buf *value);
void map_cidr_free(struct map_cidr_table *t);

#endif
