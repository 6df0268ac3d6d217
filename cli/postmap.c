/* postmap - build, query, list and edit lookup tables, like Postfix's
 * postmap(1).
 *
 *   postmap [-Nfnv] [-c dir] [type:]file ...         build file.lmdb from file
 *   postmap [-fv] [-c dir] -i [type:]file ...        add "key value" lines from stdin
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

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEF_TYPE "hash"

static void usage(void)
{
    msg_fatal("usage: postmap [-Nfinsv] [-c config_dir] [-d key] [-q key] [type:]file ...");
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

static void close_all(struct map **maps, int n)
{
    for (int i = 0; i < n; i++)
        map_close(maps[i]);
    free(maps);
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
    buf_free(&value);
    close_all(maps, n);
    return r > 0 ? 0 : r == 0 ? 1 : 2;
}

/* query_line - look up one line of "-q -" input (len bytes, no newline):
 * the whole line is the key, as in Postfix. 1 found, 0 not, -1 error. */
static int query_line(struct map **maps, int n, char *line, size_t len, struct buf *value)
{
    if (len == 0 || memchr(line, 0, len) != NULL)
        return 0; /* no key, or one that no table can hold */
    line[len] = 0;
    int r = query(maps, n, line, value);
    if (r > 0)
        printf("%s\t%s\n", line, buf_cstr(value));
    return r;
}

/* query_stdin - "-q -": each line of standard input is a key; found ones
 * are printed as "key<TAB>value". The output is flushed whenever the
 * input runs dry, so a program can talk to one postmap over pipes, while
 * a file of keys costs one write per buffer, not one per key. 0 if any
 * key was found. */
static int query_stdin(char **args, int n, int flags)
{
    struct map **maps = open_all(args, n, flags);
    struct buf value = BUF_INIT, in = BUF_INIT;
    int found = 0, failed = 0, skipping = 0;
    for (;;) {
        if (fflush(stdout) != 0)
            msg_fatal("write error on standard output");
        buf_reserve(&in, 65536);
        ssize_t got = read(0, in.data + in.len, 65536);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            msg_fatal("read standard input: %m");
        if (got == 0)
            break;
        in.len += (size_t)got;
        size_t pos = 0;
        char *nl;
        while ((nl = memchr(in.data + pos, '\n', in.len - pos)) != NULL) {
            size_t len = (size_t)(nl - (in.data + pos));
            int r = skipping ? 0 : query_line(maps, n, in.data + pos, len, &value);
            skipping = 0;
            found |= r > 0;
            failed |= r < 0;
            pos += len + 1;
        }
        memmove(in.data, in.data + pos, in.len - pos);
        in.len -= pos;
        /* A key longer than any table can hold: drop it up to its newline. */
        if (in.len > MAP_FILE_MAX_LINE) {
            if (!skipping)
                msg_warn("standard input: line longer than %d bytes ignored", MAP_FILE_MAX_LINE);
            skipping = 1;
            in.len = 0;
        }
    }
    if (in.len > 0 && !skipping) { /* a last line without a newline */
        int r = query_line(maps, n, in.data, in.len, &value);
        found |= r > 0;
        failed |= r < 0;
    }
    buf_free(&in);
    buf_free(&value);
    close_all(maps, n);
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
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (map_iterate(maps[i], print_entry, NULL, &why) < 0) {
            msg_error("%s", buf_cstr(&why));
            rc = 2;
        }
    }
    buf_free(&why);
    close_all(maps, n);
    return rc;
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
    buf_free(&why);
    return deleted ? 0 : 1;
}

struct incr_ctx {
    struct map *map;
};

static int incr_entry(void *ctx, const char *key, const char *value, const char *origin, long line,
                      struct buf *why)
{
    struct incr_ctx *c = ctx;
    struct buf reason = BUF_INIT;
    int r = map_update(c->map, key, value, &reason);
    if (r < 0)
        buf_printf(why, "%s:%ld: %s", origin, line, buf_cstr(&reason));
    else if (r == 1) /* Postfix: the entry already there stays */
        msg_warn("%s:%ld: duplicate entry: \"%s\"", origin, line, key);
    buf_free(&reason);
    return r < 0 ? -1 : 0;
}

/* read_stdin - all of standard input, bounded like a table source. */
static void read_stdin(struct buf *text)
{
    for (;;) {
        if (text->len > (size_t)MAP_FILE_MAX_SIZE)
            msg_fatal("standard input: larger than %ld bytes", MAP_FILE_MAX_SIZE);
        buf_reserve(text, 65536);
        ssize_t got = read(0, text->data + text->len, 65536);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            msg_fatal("read standard input: %m");
        if (got == 0)
            break;
        text->len += (size_t)got;
        text->data[text->len] = 0;
    }
}

/* incremental - "-i": add the "key value" lines of standard input to each
 * table (created when absent), through the same copy-and-rename as every
 * other change, so readers see the table before or after, never between.
 * A bad line changes nothing. */
static int incremental(char **args, int n, int fold)
{
    struct buf text = BUF_INIT, why = BUF_INIT;
    int rc = 0;
    read_stdin(&text);
    for (int i = 0; i < n && rc == 0; i++) {
        char *spec = spec_of(args[i]);
        int flags = MAP_UPDATE | (fold ? MAP_FOLD_CASE : 0);
        /* Start from the existing table; only an absent one (an lmdb
         * table is NAME.lmdb, map.h) starts empty. */
        char *type = NULL, *name = NULL;
        struct stat st;
        if (map_split(spec, &type, &name, &why) == 0) {
            struct buf file = BUF_INIT;
            buf_printf(&file, "%s.lmdb", name);
            if (stat(buf_cstr(&file), &st) == 0 || errno != ENOENT)
                flags |= MAP_EDIT;
            buf_free(&file);
        }
        free(type);
        free(name);
        struct map *m = map_open(spec, flags, &why);
        struct incr_ctx c = {m};
        if (m == NULL) {
            rc = 2;
        } else if (map_file_parse_text(text.data ? text.data : "", text.len, "stdin",
                                       fold ? MAP_FILE_FOLD : 0, incr_entry, &c, &why) < 0) {
            rc = 1;
        } else if (map_commit(m, &why) < 0) {
            rc = 2;
        }
        if (rc != 0)
            msg_error("%s", buf_cstr(&why));
        map_close(m);
        free(spec);
    }
    buf_free(&text);
    buf_free(&why);
    return rc;
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
    buf_free(&why);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir_arg = NULL, *qkey = NULL, *dkey = NULL;
    int fold = 1, show = 0, incr = 0, ch;

    msg_init("postmap");
    while ((ch = getopt(argc, argv, "c:d:fiNnq:sv")) != -1) {
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
        case 'i':
            incr = 1;
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
    if (optind >= argc || (qkey != NULL) + (dkey != NULL) + show + incr > 1)
        usage();
    (void)mail_conf_dir(dir_arg);
    char **args = argv + optind;
    int n = argc - optind, flags = fold ? MAP_FOLD_CASE : 0, rc;
    /* Nothing in main.cf changes how tables are built; proxy: tables need
     * queue_directory to find proxymap. Other uses work without a main.cf. */
    for (int i = 0; i < n; i++) {
        if (strncmp(args[i], "proxy:", 6) == 0) {
            mail_conf_read();
            break;
        }
    }
    if (qkey != NULL && strcmp(qkey, "-") == 0)
        rc = query_stdin(args, n, flags);
    else if (qkey != NULL)
        rc = query_one(args, n, flags, qkey);
    else if (show)
        rc = show_all(args, n, flags);
    else if (dkey != NULL)
        rc = delete_key(args, n, flags, dkey);
    else if (incr)
        rc = incremental(args, n, fold);
    else
        rc = build_all(args, n, fold);
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output");
    return rc;
}
