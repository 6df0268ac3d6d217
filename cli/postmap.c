/* postmap - build, query, list and edit lookup tables, like Postfix's
 * postmap(1).
 *
 *   postmap [-Nfv] [-c dir] [type:]file ...          build file.lmdb from file
 *   postmap [-fv] [-c dir] -q key [type:]name ...    print the value of key
 *   postmap [-fv] [-c dir] -q - [type:]name ...      keys from stdin
 *   postmap [-fv] [-c dir] -s [type:]name ...        list every entry
 *   postmap [-fv] [-c dir] -d key [type:]file ...    delete key
 *
 * A name without a type is hash: (LMDB). Exit status: 0 success (or key
 * found / deleted), 1 key not found or not deleted or a build error, 2 a
 * table could not be consulted (a temporary error to callers such as
 * scripts, which must not treat it as "not found").
 */
#include "conf/mail_conf.h"
#include "maps/map.h"
#include "maps/map_file.h"
#include "util/alloc.h"
#include "util/msg.h"
#include "util/strutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEF_TYPE "hash"

static void usage(void)
{
    msg_fatal("usage: postmap [-Nfsv] [-c config_dir] [-d key] [-q key] [type:]file ...");
}

/* spec_of - "type:name", with the default type when none is given. */
static char *spec_of(const char *arg)
{
    struct buf s = BUF_INIT;
    if (strchr(arg, ':') == NULL)
        buf_printf(&s, "%s:%s", DEF_TYPE, arg);
    else
        buf_puts(&s, arg);
    return buf_steal(&s);
}

static struct map **open_all(char **args, int n, int flags)
{
    struct map **maps = xcalloc((size_t)n, sizeof(*maps));
    struct buf why = BUF_INIT;
    for (int i = 0; i < n; i++) {
        char *spec = spec_of(args[i]);
        if ((maps[i] = map_open(spec, flags, &why)) == NULL) {
            msg_error("%s", buf_cstr(&why));
            exit(2);
        }
        free(spec);
    }
    buf_free(&why);
    return maps;
}

/* query - the first table that has key; 1 found, 0 not, -1 error (logged). */
static int query(struct map **maps, int n, const char *key, struct buf *value)
{
    for (int i = 0; i < n; i++) {
        int r = map_lookup(maps[i], key, value);
        if (r != 0) {
            if (r < 0)
                msg_error("%s", map_error(maps[i]));
            return r;
        }
    }
    return 0;
}

static int query_one(char **args, int n, int flags, const char *key)
{
    struct map **maps = open_all(args, n, flags);
    struct buf value = BUF_INIT;
    int r = query(maps, n, key, &value);
    if (r > 0)
        printf("%s\n", buf_cstr(&value));
    return r > 0 ? 0 : r == 0 ? 1 : 2;
}

/* query_stdin - "-q -": the first word of each line is a key; found ones
 * are printed as "key value". 0 if any was found. */
static int query_stdin(char **args, int n, int flags)
{
    struct map **maps = open_all(args, n, flags);
    struct buf value = BUF_INIT;
    char *line = NULL;
    size_t cap = 0;
    int found = 0, failed = 0;
    while (getline(&line, &cap, stdin) > 0) {
        char *p = line, *key = str_token(&p, " \t\r\n");
        if (key == NULL)
            continue;
        int r = query(maps, n, key, &value);
        if (r > 0) {
            printf("%s\t%s\n", key, buf_cstr(&value));
            found = 1;
        } else if (r < 0) {
            failed = 1;
        }
    }
    free(line);
    return failed ? 2 : found ? 0 : 1;
}

static int print_entry(void *ctx, const char *key, const char *value)
{
    printf("%s\t%s\n", key, value);
    return 0;
}

static int show_all(char **args, int n, int flags)
{
    struct map **maps = open_all(args, n, flags);
    struct buf why = BUF_INIT;
    for (int i = 0; i < n; i++) {
        if (map_iterate(maps[i], print_entry, NULL, &why) < 0) {
            msg_error("%s", buf_cstr(&why));
            return 2;
        }
    }
    return 0;
}

static int delete_key(char **args, int n, int flags, const char *key)
{
    struct buf why = BUF_INIT;
    int deleted = 0;
    for (int i = 0; i < n; i++) {
        char *spec = spec_of(args[i]);
        struct map *m = map_open(spec, flags | MAP_UPDATE | MAP_EDIT, &why);
        if (m == NULL) {
            msg_error("%s", buf_cstr(&why));
            return 2;
        }
        int r = map_delete(m, key, &why);
        if (r > 0)
            r = map_commit(m, &why) < 0 ? -1 : 1;
        map_close(m); /* discards the copy when nothing was deleted */
        if (r < 0) {
            msg_error("%s", buf_cstr(&why));
            return 2;
        }
        deleted |= r;
        free(spec);
    }
    return deleted ? 0 : 1;
}

static int build_all(char **args, int n, int fold)
{
    struct buf why = BUF_INIT;
    for (int i = 0; i < n; i++) {
        char *spec = spec_of(args[i]);
        if (map_file_build(spec, fold ? MAP_FILE_FOLD : 0, &why) < 0) {
            msg_error("%s", buf_cstr(&why));
            return 1;
        }
        free(spec);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir_arg = NULL, *qkey = NULL, *dkey = NULL;
    int fold = 1, show = 0, ch;

    msg_init("postmap");
    while ((ch = getopt(argc, argv, "c:d:fNnq:sv")) != -1) {
        switch (ch) {
        case 'c':
            dir_arg = optarg;
            break;
        case 'd':
            dkey = optarg;
            break;
        case 'f':
            fold = 0;
            break;
        case 'N':
        case 'n':
            break; /* Postfix's NUL-terminator choice: keys never have one here */
        case 'q':
            qkey = optarg;
            break;
        case 's':
            show = 1;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc || (qkey != NULL) + (dkey != NULL) + show > 1)
        usage();
    /* Nothing in main.cf changes how tables are built yet; -c is accepted
     * for uniformity with every other command. */
    (void)mail_conf_dir(dir_arg);
    char **args = argv + optind;
    int n = argc - optind, flags = fold ? MAP_FOLD_CASE : 0, rc;
    if (qkey != NULL && strcmp(qkey, "-") == 0)
        rc = query_stdin(args, n, flags);
    else if (qkey != NULL)
        rc = query_one(args, n, flags, qkey);
    else if (show)
        rc = show_all(args, n, flags);
    else if (dkey != NULL)
        rc = delete_key(args, n, flags, dkey);
    else
        rc = build_all(args, n, fold);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output");
    return rc;
}
