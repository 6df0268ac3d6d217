/* map_unix - unix:passwd.byname and unix:group.byname: the system's user
 * and group databases (through NSS) as tables, as in Postfix.
 *
 *   unix:passwd.byname  key: a login name; value "name:x:uid:gid:gecos:home:shell"
 *   unix:group.byname   key: a group name; value "name:x:gid:member,member"
 *
 * Keys are case-folded like any other fixed-string table when the caller
 * asks for it (MAP_FOLD_CASE, postmap without -f): Postfix's dict_unix
 * folds with DICT_FLAG_FOLD_FIX, so a mixed-case login name is found only
 * by callers that do not fold. The password field is always "x": password
 * data is for the auth service alone, never in a lookup result.
 *
 * A database that cannot be read (NSS error, out of files) is a temporary
 * failure; only "no such entry" is "not found".
 */
#include "maps/map_types.h"

#include "util/alloc.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The NSS scratch buffer grows on ERANGE up to this size. */
#define UNIX_BUF_MAX (1024 * 1024)

enum unix_table { UNIX_PASSWD, UNIX_GROUP };

/* not_found - the errors getpwnam_r(3) documents for "no such name". */
static int not_found(int err)
{
    return err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM;
}

static int passwd_lookup(struct map *m, const char *key, struct buf *value)
{
    size_t size = 1024;
    for (;;) {
        struct passwd pw, *res = NULL;
        char *scratch = xmalloc(size);
        int err = getpwnam_r(key, &pw, scratch, size, &res);
        if (err == ERANGE && size < UNIX_BUF_MAX) {
            free(scratch);
            size *= 2;
            continue;
        }
        if (res == NULL) {
            free(scratch);
            if (not_found(err))
                return 0;
            return map_set_error(m, "table %s: getpwnam %s: %s", m->spec, key, strerror(err));
        }
        buf_printf(value, "%s:x:%ld:%ld:%s:%s:%s", pw.pw_name, (long)pw.pw_uid, (long)pw.pw_gid,
                   pw.pw_gecos ? pw.pw_gecos : "", pw.pw_dir ? pw.pw_dir : "",
                   pw.pw_shell ? pw.pw_shell : "");
        free(scratch);
        return 1;
    }
}

static int group_lookup(struct map *m, const char *key, struct buf *value)
{
    size_t size = 1024;
    for (;;) {
        struct group gr, *res = NULL;
        char *scratch = xmalloc(size);
        int err = getgrnam_r(key, &gr, scratch, size, &res);
        if (err == ERANGE && size < UNIX_BUF_MAX) {
            free(scratch);
            size *= 2;
            continue;
        }
        if (res == NULL) {
            free(scratch);
            if (not_found(err))
                return 0;
            return map_set_error(m, "table %s: getgrnam %s: %s", m->spec, key, strerror(err));
        }
        buf_printf(value, "%s:x:%ld:", gr.gr_name, (long)gr.gr_gid);
        for (char **mem = gr.gr_mem; mem != NULL && *mem != NULL; mem++)
            buf_printf(value, "%s%s", mem == gr.gr_mem ? "" : ",", *mem);
        free(scratch);
        return 1;
    }
}

static int unix_open(struct map *m, struct buf *why)
{
    static enum unix_table passwd = UNIX_PASSWD, group = UNIX_GROUP;
    if (strcmp(m->name, "passwd.byname") == 0) {
        m->priv = &passwd;
    } else if (strcmp(m->name, "group.byname") == 0) {
        m->priv = &group;
    } else {
        buf_printf(why, "table %s: unknown unix: table (known: passwd.byname, group.byname)",
                   m->spec);
        return -1;
    }
    return 0;
}

static int unix_lookup(struct map *m, const char *key, struct buf *value)
{
    if (key[0] == 0)
        return 0;
    return *(const enum unix_table *)m->priv == UNIX_PASSWD ? passwd_lookup(m, key, value)
                                                            : group_lookup(m, key, value);
}

const struct map_ops map_unix_ops = {
    .type = "unix",
    .open = unix_open,
    .lookup = unix_lookup,
};
