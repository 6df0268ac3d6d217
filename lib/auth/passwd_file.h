/* passwd_file - Dovecot's passwd-file format, for auth's
 * "passwd-file:/path" backend:
 *
 *   user:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields
 *
 * Only the user and password fields are required; uid and gid, when
 * present and not empty, must be numbers; the rest is kept for a later
 * userdb and ignored here. Empty lines and lines that start with '#' are
 * skipped; a CR before the line end is dropped. A malformed line (no
 * password field, an empty or invalid user name, control characters, a
 * bad uid/gid, NUL, longer than PASSWD_FILE_LINE_MAX) is skipped with a
 * warning "PATH:LINE: reason"; for a user listed twice the first line
 * wins, as in Dovecot. A password without "{SCHEME}" is CRYPT.
 *
 * passwd_file_refresh rereads the file when its inode, size, mtime or
 * ctime changed, so an edited file is in use for the next lookup. When the
 * file cannot be read, its old contents are dropped: an outdated password
 * must not keep working.
 */
#ifndef AUTH_PASSWD_FILE_H
#define AUTH_PASSWD_FILE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util/argv.h"
#include "util/buf.h"

#define PASSWD_FILE_LINE_MAX       8192
#define PASSWD_FILE_SIZE_MAX       (256u << 20)
#define PASSWD_FILE_DEFAULT_SCHEME "CRYPT"

struct passwd_file_entry {
    char *user;
    char *password; /* "{SCHEME}hash", or "" (the user can never log in) */
    unsigned long line;
};

struct passwd_file_table {
    struct passwd_file_entry *v; /* sorted by user */
    size_t n, cap;
};

/* passwd_file_parse - parse a whole file (name is for the warnings) into
 * t, which must be empty. Returns the number of entries; never fails: bad
 * lines are skipped, each with one warning appended to warnings. */
size_t passwd_file_parse(const char *name, const char *text, size_t len,
                         struct passwd_file_table *t, struct argv *warnings);
const struct passwd_file_entry *passwd_file_table_lookup(const struct passwd_file_table *t,
                                                         const char *user);
void passwd_file_table_free(struct passwd_file_table *t);

struct passwd_file {
    char *path;
    struct passwd_file_table table;
    int loaded;
    int plain_warned; /* the PLAIN warning is given once per file */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

/* passwd_file_open - remember the path; nothing is read yet. */
struct passwd_file *passwd_file_open(const char *path);
/* passwd_file_refresh - reload when changed: 1 reloaded (warnings may have
 * been added), 0 unchanged, -1 + why (the file is unreadable, and no user
 * is known until it is readable again). */
int passwd_file_refresh(struct passwd_file *pf, struct argv *warnings, struct buf *why);
const struct passwd_file_entry *passwd_file_lookup(const struct passwd_file *pf, const char *user);
void passwd_file_close(struct passwd_file *pf);

#endif
