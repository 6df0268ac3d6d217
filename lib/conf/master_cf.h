/* master_cf - master.cf parsing.
 *
 * Columns (Postfix master(5)): service, type, private, unpriv, chroot,
 * wakeup, maxproc, command + args. "-" takes the default (private y, unpriv
 * y, chroot y, wakeup 0, maxproc = default_process_limit). wakeup may end in
 * '?' (only wake a service that is in use). A line that starts with white
 * space continues the previous one; '#' lines and blank lines are ignored.
 * Arguments may be grouped with "{ text with spaces }". "-o name=value",
 * "-oname=value" and "-o { name = value }" become overrides and are removed
 * from the argument list. Every error names FILE:LINE.
 */
#ifndef CONF_MASTER_CF_H
#define CONF_MASTER_CF_H

#include <stddef.h>

#include "util/argv.h"
#include "util/buf.h"

enum master_type { MASTER_INET, MASTER_UNIX, MASTER_UNIX_DGRAM, MASTER_FIFO, MASTER_PASS };

struct master_ent {
    char *name; /* service column as written: "smtp", "127.0.0.1:10025", "pickup" */
    enum master_type type;
    int private_;       /* 1: socket in private/, 0: public/ (inet: always 0) */
    int unpriv;         /* 1: run as mail_owner, 0: stay root */
    int chroot;         /* 1: chroot to queue_directory */
    int wakeup;         /* seconds between wakeup triggers; 0 = none */
    int wakeup_if_used; /* the '?' suffix */
    int maxproc;        /* 0 = no limit */
    char *command;      /* program name as written */
    struct argv *args;  /* remaining arguments, -o pairs removed */
    struct argv *opts;  /* "name=value" from -o, in order */
    char *file;
    int line;
};

struct master_cf {
    struct master_ent **ents;
    size_t count;
};

/* master_cf_parse - parse text as FILE. 0, or -1 + "FILE:LINE: reason". */
int master_cf_parse(const char *text, size_t len, const char *file, int default_maxproc,
                    struct master_cf **out, struct buf *why);
int master_cf_read(const char *path, int default_maxproc, struct master_cf **out, struct buf *why);
void master_cf_free(struct master_cf *cf);
/* master_cf_find - the entry for name and type, or NULL. */
const struct master_ent *master_cf_find(const struct master_cf *cf, const char *name,
                                        enum master_type type);
const char *master_type_name(enum master_type t);
/* master_type_parse - "inet", "unix", "unix-dgram", "fifo", "pass"; -1 if none. */
int master_type_parse(const char *s);

#endif
