/* postconf_master - postconf -M: show master.cf service entries one per
 * line with the columns aligned as in Postfix's output, and edit entries
 * (-Me replace or add, -MX remove, -M# comment out).
 *
 * The file is validated with master_cf_parse() first, so what is shown is
 * what master would run; fields are shown as written ("-" stays "-").
 */
#include "postconf.h"

#include "conf/config.h"
#include "conf/master_cf.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns: service type private unpriv chroot wakeup maxproc command. */
#define MASTER_FIELDS 8

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* tokens - split a logical line: the first MASTER_FIELDS fields are words,
 * later ones may be "{ grouped text }" with balanced braces. */
static struct argv *tokens(const char *s)
{
    struct argv *a = argv_alloc();
    size_t i = 0, n = strlen(s);
    while (i < n) {
        while (i < n && is_blank((unsigned char)s[i]))
            i++;
        if (i == n)
            break;
        size_t start = i;
        int level = 0;
        while (i < n && (level > 0 || !is_blank((unsigned char)s[i]))) {
            if (a->argc >= MASTER_FIELDS && s[i] == '{')
                level++;
            else if (a->argc >= MASTER_FIELDS && s[i] == '}' && level > 0)
                level--;
            i++;
        }
        argv_addn(a, s + start, i - start);
    }
    return a;
}

/* logical_lines - each service entry as one line, continuations joined
 * with a space. */
static struct argv *logical_lines(const char *text, size_t len)
{
    struct argv *lines = argv_alloc();
    struct buf cur = BUF_INIT;
    int open = 0;
    size_t off = 0;
    while (off < len) {
        const char *p = text + off;
        const char *nl = memchr(p, '\n', len - off);
        size_t n = nl ? (size_t)(nl - p) : len - off;
        off += nl ? n + 1 : n;
        size_t skip = 0, end = n;
        while (skip < n && is_blank((unsigned char)p[skip]))
            skip++;
        while (end > skip && is_blank((unsigned char)p[end - 1]))
            end--;
        if (skip == n || p[skip] == '#')
            continue;
        if (skip > 0 && open) {
            buf_putc(&cur, ' ');
            buf_append(&cur, p + skip, end - skip);
            continue;
        }
        if (open)
            argv_add(lines, buf_cstr(&cur));
        buf_reset(&cur);
        buf_append(&cur, p + skip, end - skip);
        open = 1;
    }
    if (open)
        argv_add(lines, buf_cstr(&cur));
    buf_free(&cur);
    return lines;
}

/* format_entry - one line, columns where master.cf's header puts them. */
static void format_entry(const struct argv *f, struct buf *line)
{
    static const size_t goal[MASTER_FIELDS] = {0, 11, 17, 25, 33, 41, 49, 57};
    buf_reset(line);
    for (size_t i = 0; i < f->argc; i++) {
        if (i > 0) {
            size_t want = i < MASTER_FIELDS ? goal[i] : 0;
            do
                buf_putc(line, ' ');
            while (line->len < want);
        }
        buf_puts(line, f->argv[i]);
    }
}

static void print_entry(const struct argv *f)
{
    struct buf line = BUF_INIT;
    format_entry(f, &line);
    printf("%s\n", buf_cstr(&line));
    buf_free(&line);
}

/* split_service - "service/type" or "service" into its parts; type may be
 * NULL. -1 for a bad type. The slash is the last one: inet service names
 * such as "[::1]:25" contain none, but be safe. */
static int split_service(const char *arg, char **service, char **type)
{
    const char *slash = strrchr(arg, '/');
    *type = NULL;
    if (slash == NULL) {
        *service = xstrdup(arg);
        return **service ? 0 : -1;
    }
    *service = xmemdup(arg, (size_t)(slash - arg));
    *type = xstrdup(slash + 1);
    if (**service == 0 || master_type_parse(*type) < 0) {
        free(*service);
        free(*type);
        return -1;
    }
    return 0;
}

static char *master_path(const char *dir)
{
    struct buf p = BUF_INIT;
    buf_printf(&p, "%s/master.cf", dir);
    return buf_steal(&p);
}

int pc_master_show(const char *dir, char **names, int n)
{
    char *path = master_path(dir);
    struct buf text = BUF_INIT, why = BUF_INIT;
    struct master_cf *cf = NULL;
    if (config_read_text(path, &text, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    if (master_cf_parse(buf_cstr(&text), text.len, path, 100, &cf, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    master_cf_free(cf);

    char **svc = xcalloc((size_t)n + 1, sizeof(char *));
    char **typ = xcalloc((size_t)n + 1, sizeof(char *));
    int *seen = xcalloc((size_t)n + 1, sizeof(int));
    for (int i = 0; i < n; i++)
        if (split_service(names[i], &svc[i], &typ[i]) < 0)
            msg_fatal("%s: bad service name or type (expected service or service/type)", names[i]);

    struct argv *lines = logical_lines(buf_cstr(&text), text.len);
    for (size_t l = 0; l < lines->argc; l++) {
        struct argv *f = tokens(lines->argv[l]);
        int show = n == 0;
        for (int i = 0; i < n && f->argc >= 2; i++) {
            if (strcmp(f->argv[0], svc[i]) == 0 &&
                (typ[i] == NULL || strcmp(f->argv[1], typ[i]) == 0)) {
                show = 1;
                seen[i] = 1;
            }
        }
        if (show)
            print_entry(f);
        argv_free(f);
    }
    for (int i = 0; i < n; i++) {
        if (!seen[i])
            msg_warn("%s: no such master.cf entry", names[i]);
        free(svc[i]);
        free(typ[i]);
    }
    argv_free(lines);
    free(svc);
    free(typ);
    free(seen);
    buf_free(&text);
    buf_free(&why);
    free(path);
    return 0;
}

/* The key of a master.cf line: "service/type" from its first two fields. */
static void master_key(const char *line, size_t len, struct buf *key)
{
    size_t i = 0;
    buf_reset(key);
    for (int field = 0; field < 2; field++) {
        while (i < len && is_blank((unsigned char)line[i]))
            i++;
        size_t start = i;
        while (i < len && !is_blank((unsigned char)line[i]))
            i++;
        if (field == 1)
            buf_putc(key, '/');
        buf_append(key, line + start, i - start);
    }
}

static int master_check(const char *text, size_t len, const char *path, struct buf *why)
{
    struct master_cf *cf = NULL;
    if (master_cf_parse(text, len, path, 100, &cf, why) < 0)
        return -1;
    master_cf_free(cf);
    return 0;
}

static char *trim_copy(const char *s, size_t n)
{
    while (n && is_blank((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && is_blank((unsigned char)s[n - 1]))
        n--;
    return xmemdup(s, n);
}

int pc_master_edit(const char *dir, char **args, int n, enum pc_edit_mode mode)
{
    struct pc_edit *edits = xcalloc((size_t)n + 1, sizeof(*edits));
    for (int i = 0; i < n; i++) {
        const char *arg = args[i];
        const char *eq = mode == PC_EDIT_SET ? strchr(arg, '=') : NULL;
        if (mode == PC_EDIT_SET && eq == NULL)
            msg_fatal("%s: expected \"service/type = entry\"", arg);
        char *key = eq ? trim_copy(arg, (size_t)(eq - arg)) : trim_copy(arg, strlen(arg));
        char *svc, *typ;
        if (split_service(key, &svc, &typ) < 0 || typ == NULL)
            msg_fatal("%s: bad service/type", key);
        if (eq != NULL) {
            char *entry = trim_copy(eq + 1, strlen(eq + 1));
            if (strpbrk(entry, "\n\r") != NULL)
                msg_fatal("%s: entry must be one line", key);
            struct argv *f = tokens(entry);
            if (f->argc < MASTER_FIELDS || strcmp(f->argv[0], svc) != 0 ||
                strcmp(f->argv[1], typ) != 0)
                msg_fatal("%s: entry must be a whole master.cf line that starts with \"%s %s\"",
                          key, svc, typ);
            struct buf line = BUF_INIT;
            format_entry(f, &line);
            argv_free(f);
            free(entry);
            edits[i].text = buf_steal(&line);
        }
        free(svc);
        free(typ);
        edits[i].key = key;
    }
    char *path = master_path(dir);
    struct buf why = BUF_INIT;
    if (pc_rewrite(path, master_key, edits, (size_t)n, mode, master_check, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    for (int i = 0; i < n; i++) {
        if (!edits[i].done)
            msg_warn("%s: no such master.cf entry", edits[i].key);
        free(edits[i].key);
        free(edits[i].text);
    }
    free(edits);
    free(path);
    buf_free(&why);
    return 0;
}
