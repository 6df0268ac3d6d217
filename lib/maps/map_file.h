/* map_file - the two text formats that tables are built from.
 *
 * Table format (postmap, texthash): "key whitespace value". Aliases format
 * (newaliases): "name: value, value"; the name may be quoted
 * ("\"foo bar\": x") and is stored unquoted. In both, a line whose first
 * non-blank character is '#' is a comment, blank lines are ignored, and a
 * line that starts with white space continues the logical line before it
 * (joined with one space). Errors name FILE:LINE of the logical line.
 */
#ifndef MAPS_MAP_FILE_H
#define MAPS_MAP_FILE_H

#include <stddef.h>

#include "util/buf.h"

#define MAP_FILE_ALIASES 0x01 /* "name: value" instead of "key value" */
#define MAP_FILE_FOLD    0x02 /* fold keys to lower case */

/* Bounds on hostile or broken input. */
#define MAP_FILE_MAX_SIZE (1024L * 1024 * 1024) /* a whole source file */
#define MAP_FILE_MAX_LINE (1024 * 1024)         /* one logical line */

/* Called once per entry; return 0 to go on, -1 (with why set) to stop. */
typedef int (*map_file_fn)(void *ctx, const char *key, const char *value, const char *origin,
                           long line, struct buf *why);

/* map_file_parse_text - parse len bytes; origin names them in errors.
 * 0, or -1 + why ("origin:line: reason", or the callback's reason). */
int map_file_parse_text(const char *text, size_t len, const char *origin, int flags, map_file_fn fn,
                        void *ctx, struct buf *why);
/* map_file_parse - the same for a file. */
int map_file_parse(const char *path, int flags, map_file_fn fn, void *ctx, struct buf *why);
/* map_file_read - the contents of a file (bounded by MAP_FILE_MAX_SIZE);
 * 0, or -1 + why. */
int map_file_read(const char *path, struct buf *out, struct buf *why);

/* map_file_build - build the table spec ("hash:/etc/aliases") from the text
 * file its name names, in the format flags select. Duplicate keys are
 * warned about with FILE:LINE and the first one wins (as in Postfix). The
 * old table stays in place unless the whole source was read and stored.
 * The number of entries, or -1 + why. */
long map_file_build(const char *spec, int flags, struct buf *why);

#endif
