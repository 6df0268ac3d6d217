/* config - main.cf-style parameter files: parsing, storage and $expansion.
 *
 * Syntax (Postfix main.cf): "name = value"; a line that starts with white
 * space continues the previous one; lines whose first non-blank byte is '#'
 * and blank lines are ignored; white space around '=' and at the end of the
 * value is dropped. A later setting of the same name wins. Every error names
 * FILE:LINE.
 *
 * Expansion happens when a value is used, not when it is read: $name,
 * ${name}, $(name); ${name?text} (text when name is non-empty),
 * ${name:text} (text when name is empty or unset), where text may itself
 * contain $expansions; $$ is a literal '$'. Unset names expand to their
 * default from the parameter table (params.h) or to "". Recursion is
 * bounded (a loop is an error that names the parameter).
 */
#ifndef CONF_CONFIG_H
#define CONF_CONFIG_H

#include <stddef.h>

#include "util/buf.h"

/* Bounds on hostile input: one logical line, one expanded value, one file. */
#define CONFIG_MAX_LINE  (1024 * 1024)
#define CONFIG_MAX_VALUE (1024 * 1024)
#define CONFIG_MAX_FILE  (64 * 1024 * 1024)

struct config_entry {
    char *name;
    char *value; /* raw, unexpanded */
    char *file;  /* where it was set: a path, "master.cf -o", "command line" */
    int line;    /* 0 when not from a file */
};

struct config {
    struct config_entry *ents; /* in order of first appearance */
    size_t count;
    size_t cap;
    void *index; /* private to config.c: name -> entry hash, built on demand */
};

struct config *config_alloc(void);
void config_free(struct config *c);
/* config_parse - parse text as if it were the file `filename`. 0, or -1 with
 * "FILE:LINE: reason" in why (nothing is half-applied: c is unchanged). */
int config_parse(struct config *c, const char *text, size_t len, const char *filename,
                 struct buf *why);
/* config_read_file - read and parse path; a missing file is an error. */
int config_read_file(struct config *c, const char *path, struct buf *why);
/* config_read_text - read a whole config-sized file (at most CONFIG_MAX_FILE
 * bytes) into out. 0, or -1 + "open PATH: reason" (errno kept). */
int config_read_text(const char *path, struct buf *out, struct buf *why);
/* config_set - set (or replace) a value; file may be NULL. */
void config_set(struct config *c, const char *name, const char *value, const char *file, int line);
/* config_unset - remove a name; 1 if it was set. */
int config_unset(struct config *c, const char *name);
/* config_find - the entry for name, or NULL. */
const struct config_entry *config_find(const struct config *c, const char *name);
/* config_expand - expand $references in value into out (reset first), taking
 * unset names from the parameter table's defaults. 0, or -1 + why. */
int config_expand(const struct config *c, const char *value, struct buf *out, struct buf *why);
/* config_lookup - the expanded value of name (its setting, else its table
 * default). 0, or -1 + why: an expansion error, or "NAME: unknown
 * parameter" when name is neither set nor in the table. Parameters marked
 * raw in the table come back unexpanded. */
int config_lookup(const struct config *c, const char *name, struct buf *out, struct buf *why);
/* config_refs - add to names (struct argv *) every $name that value mentions. */
struct argv;
void config_refs(const char *value, struct argv *names);
/* config_valid_name - parameter names are [A-Za-z0-9_]+. */
int config_valid_name(const char *name, size_t len);

#endif
