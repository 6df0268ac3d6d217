/* map_unix - unix:passwd.byname, unix:group.byname and unix:group.bygid:
 * the system's user and group databases (through NSS) as tables.
 *
 *   unix:passwd.byname  key: a login name; value "name:x:uid:gid:gecos:home:shell"
 *   unix:group.byname   key: a group name; value "name:x:gid:member,member"
 *   unix:group.bygid    key: a numeric gid; value the group name
 *
 * The first two are Postfix's dict_unix tables, with values in passwd(5)
 * and group(5) form. group.bygid is ours (Postfix has no such table): a gid
 * written in decimal digits only, no sign or white space; anything else, or
 * a number beyond gid_t, is simply not found.
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

enum unix_table { UNIX_PASSWD, UNIX_GROUP, UNIX_GROUP_BYGID };

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

/* parse_gid - a gid in decimal digits; 0 when the key is not one, or is
 * (gid_t)-1 or more (not a valid gid: chown(2) reads it as "no change"). */
static int parse_gid(const char *key, gid_t *gid)
{
    const unsigned long long max = (gid_t)-1 - 1;
    unsigned long long v = 0;
    if (*key == 0)
        return 0;
    for (const char *p = key; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *gid = (gid_t)v;
    return 1;
}

/* group_lookup - by name, or by gid (then the value is the name alone). */
static int group_lookup(struct map *m, const char *key, int by_gid, struct buf *value)
{
    size_t size = 1024;
    gid_t gid = 0;
    if (by_gid && !parse_gid(key, &gid))
        return 0;
    for (;;) {
        struct group gr, *res = NULL;
        char *scratch = xmalloc(size);
        int err = by_gid ? getgrgid_r(gid, &gr, scratch, size, &res)
                         : getgrnam_r(key, &gr, scratch, size, &res);
        if (err == ERANGE && size < UNIX_BUF_MAX) {
            free(scratch);
            size *= 2;
            continue;
        }
        if (res == NULL) {
            free(scratch);
            if (not_found(err))
                return 0;
            return map_set_error(m, "table %s: %s %s: %s", m->spec,
                                 by_gid ? "getgrgid" : "getgrnam", key, strerror(err));
        }
        if (by_gid) {
            buf_puts(value, gr.gr_name);
            free(scratch);
            return 1;
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
    static enum unix_table passwd = UNIX_PASSWD, group = UNIX_GROUP, bygid = UNIX_GROUP_BYGID;
    if (strcmp(m->name, "passwd.byname") == 0) {
        m->priv = &passwd;
    } else if (strcmp(m->name, "group.byname") == 0) {
        m->priv = &group;
    } else if (strcmp(m->name, "group.bygid") == 0) {
        m->priv = &bygid;
    } else {
        buf_printf(why,
                   "table %s: unknown unix: table (known: passwd.byname, group.byname, "
                   "group.bygid)",
                   m->spec);
        return -1;
    }
    return 0;
}

static int unix_lookup(struct map *m, const char *key, struct buf *value)
{
    if (key[0] == 0)
        return 0;
    switch (*(const enum unix_table *)m->priv) {
    case UNIX_PASSWD:
        return passwd_lookup(m, key, value);
    case UNIX_GROUP:
        return group_lookup(m, key, 0, value);
    case UNIX_GROUP_BYGID:
        return group_lookup(m, key, 1, value);
    }
    return map_set_error(m, "table %s: bad table kind", m->spec);
}

const struct map_ops map_unix_ops = {
    .type = "unix",
    .open = unix_open,
    .lookup = unix_lookup,
};
