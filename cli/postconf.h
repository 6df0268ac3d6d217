/* postconf - declarations shared by the parts of the postconf command:
 * postconf.c (options, main.cf display), postconf_edit.c (in-place edits
 * of main.cf and master.cf), postconf_master.c (-M), postconf_man.c
 * (--man5). */
#ifndef CLI_POSTCONF_H
#define CLI_POSTCONF_H

#include <stddef.h>
#include <stdio.h>

#include "util/buf.h"

enum pc_edit_mode { PC_EDIT_SET, PC_EDIT_REMOVE, PC_EDIT_COMMENT };

/* One requested change: key is what pc_key_fn returns for the logical line
 * to change ("name" in main.cf, "service/type" in master.cf); text is the
 * replacement logical line (PC_EDIT_SET only), without a newline. */
struct pc_edit {
    char *key;
    char *text;
    int done;
};

/* pc_key_fn - the key of a logical line, from its first physical line. */
typedef void (*pc_key_fn)(const char *line, size_t len, struct buf *key);
/* pc_check_fn - 0 if text is a valid file, else -1 + "FILE:LINE: reason". */
typedef int (*pc_check_fn)(const char *text, size_t len, const char *path, struct buf *why);

/* pc_rewrite - apply edits to path under an exclusive lock: a matching
 * logical line (with its continuation lines) is replaced, removed or
 * commented out, later duplicates are removed, comments and order are kept,
 * and new PC_EDIT_SET lines are appended. The result replaces the file
 * atomically (temp file in the same directory, fsync, rename). When check is
 * given and the old text passed it, the new text must pass too. */
int pc_rewrite(const char *path, pc_key_fn key_of, struct pc_edit *edits, size_t n,
               enum pc_edit_mode mode, pc_check_fn check, struct buf *why);
/* pc_main_key - main.cf: the parameter name of a line. */
void pc_main_key(const char *line, size_t len, struct buf *key);

/* -M: print entries (all when n == 0; "service" or "service/type"). */
int pc_master_show(const char *dir, char **names, int n);
/* -Me "service/type = entry", -MX / -M# "service/type". */
int pc_master_edit(const char *dir, char **args, int n, enum pc_edit_mode mode);

/* --man5: the postconf(5) page, generated from the parameter table. */
void pc_man5(FILE *out);

#endif
