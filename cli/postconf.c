/* postconf - show and change the Postern configuration, like Postfix's
 * postconf(1).
 *
 *   postconf [-dhHnx] [-c dir] [name ...]     show main.cf parameters
 *   postconf [-e] [-c dir] name=value ...      set them (edits main.cf)
 *   postconf -X|-# [-c dir] name ...           remove / comment out
 *   postconf -M [-c dir] [service[/type] ...]  show master.cf entries
 *   postconf -Me "service/type = entry" ...    replace or add an entry
 *   postconf -MX|-M# service/type ...          remove / comment out
 *   postconf --man5                            print postconf(5)
 *
 * Showing reads main.cf strictly (a syntax error is fatal, with FILE:LINE)
 * and warns about parameters nothing uses; editing works on the text, so a
 * broken value can always be fixed with postconf itself.
 */
#include "postconf.h"

#include "conf/config.h"
#include "conf/mail_conf.h"
#include "conf/params.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHOW_DEFAULTS 0x01 /* -d */
#define SHOW_SET_ONLY 0x02 /* -n */
#define SHOW_VALUES   0x04 /* -h: value only */
#define SHOW_NAMES    0x08 /* -H: name only */
#define SHOW_EXPAND   0x10 /* -x */

static void usage(void)
{
    msg_fatal("usage: postconf [-dhHnx] [-c config_dir] [name ...] | -e name=value ... | "
              "-X name ... | -# name ... | -M [service[/type] ...] | "
              "-Me service/type=entry ... | -MX service/type ... | --man5");
}

static char *main_cf_path(const char *dir)
{
    struct buf p = BUF_INIT;
    buf_printf(&p, "%s/main.cf", dir);
    return buf_steal(&p);
}

static int compare_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* load - main.cf as it is, for showing: syntax errors are fatal. */
static struct config *load(const char *dir, const char *path)
{
    struct config *c = config_alloc();
    struct buf why = BUF_INIT;
    if (config_read_file(c, path, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    buf_free(&why);
    /* $config_directory is the directory in use, as for every program. */
    if (config_find(c, "config_directory") == NULL)
        config_set(c, "config_directory", dir, NULL, 0);
    return c;
}

/* warn_about - unused parameters (like Postfix) and values that do not fit
 * their type (which would stop the daemons). */
static void warn_about(const struct config *c, const char *dir)
{
    struct buf text = BUF_INIT, why = BUF_INIT, out = BUF_INIT, val = BUF_INIT;
    struct buf mpath = BUF_INIT;
    buf_printf(&mpath, "%s/master.cf", dir);
    if (config_read_text(buf_cstr(&mpath), &text, &why) < 0)
        buf_reset(&text);
    if (mail_conf_unknown(c, buf_cstr(&text), &out) > 0) {
        struct argv *lines = argv_split(buf_cstr(&out), "\n");
        for (size_t i = 0; i < lines->argc; i++)
            msg_warn("%s", lines->argv[i]);
        argv_free(lines);
    }
    for (size_t i = 0; i < c->count; i++) {
        const struct config_entry *e = &c->ents[i];
        const struct param_def *p = param_find(e->name);
        if (p == NULL || e->file == NULL)
            continue;
        if (config_lookup(c, e->name, &val, &why) < 0 || param_check(p, buf_cstr(&val), &why) < 0)
            msg_warn("%s:%d: %s", e->file, e->line, buf_cstr(&why));
    }
    buf_free(&text);
    buf_free(&why);
    buf_free(&out);
    buf_free(&val);
    buf_free(&mpath);
}

/* value_of - the text to show for name; 0, or -1 when it is unknown. */
static int value_of(const struct config *c, const char *name, int flags, struct buf *out)
{
    const struct config_entry *e = (flags & SHOW_DEFAULTS) ? NULL : config_find(c, name);
    const struct param_def *p = param_find(name);
    struct buf why = BUF_INIT;
    buf_reset(out);
    if (e == NULL && p == NULL)
        return -1;
    /* A default computed from another setting (mydomain from myhostname)
     * has no text of its own: show what it comes to. */
    int derived = e == NULL && !(flags & SHOW_DEFAULTS) && param_derived_from(p) != NULL;
    if ((flags & SHOW_EXPAND) || derived) {
        if (config_lookup(c, name, out, &why) < 0) {
            if (e != NULL && e->file != NULL)
                msg_fatal("%s:%d: %s", e->file, e->line, buf_cstr(&why));
            msg_fatal("%s", buf_cstr(&why));
        }
    } else {
        buf_puts(out, e != NULL ? e->value : param_default(p));
    }
    buf_free(&why);
    return 0;
}

static void show_one(const struct config *c, const char *name, int flags)
{
    struct buf v = BUF_INIT;
    if (value_of(c, name, flags, &v) < 0) {
        msg_warn("%s: unknown parameter", name);
    } else if (flags & SHOW_NAMES) {
        printf("%s\n", name);
    } else if (flags & SHOW_VALUES) {
        printf("%s\n", buf_cstr(&v));
    } else {
        printf("%s =%s%s\n", name, v.len ? " " : "", buf_cstr(&v));
    }
    buf_free(&v);
}

static void show(const char *dir, int flags, char **names, int n)
{
    char *path = main_cf_path(dir);
    struct config *c;
    if (flags & SHOW_DEFAULTS) {
        c = config_alloc(); /* defaults expand against defaults only */
    } else {
        c = load(dir, path);
        warn_about(c, dir);
    }
    if (n > 0) {
        for (int i = 0; i < n; i++) {
            if ((flags & SHOW_SET_ONLY) && config_find(c, names[i]) == NULL)
                continue;
            show_one(c, names[i], flags);
        }
    } else {
        struct argv *all = argv_alloc();
        if (!(flags & SHOW_SET_ONLY))
            for (size_t i = 0; i < param_count; i++)
                argv_add(all, param_table[i].name);
        if (!(flags & SHOW_DEFAULTS))
            for (size_t i = 0; i < c->count; i++) {
                const struct config_entry *e = &c->ents[i];
                int from_file = e->file != NULL && strcmp(e->file, path) == 0;
                if ((flags & SHOW_SET_ONLY) ? from_file : param_find(e->name) == NULL)
                    argv_add(all, e->name);
            }
        qsort(all->argv, all->argc, sizeof(char *), compare_str);
        for (size_t i = 0; i < all->argc; i++)
            show_one(c, all->argv[i], flags);
        argv_free(all);
    }
    if (fflush(stdout) != 0 || ferror(stdout))
        msg_fatal("write error on standard output");
    config_free(c);
    free(path);
}

/* edit_main - -e, -X and -#. */
static void edit_main(const char *dir, char **args, int n, enum pc_edit_mode mode)
{
    struct pc_edit *edits = xcalloc((size_t)n + 1, sizeof(*edits));
    struct buf why = BUF_INIT;
    for (int i = 0; i < n; i++) {
        const char *arg = args[i];
        const char *eq = strchr(arg, '=');
        size_t nlen = eq && mode == PC_EDIT_SET ? (size_t)(eq - arg) : strlen(arg);
        if (mode == PC_EDIT_SET && eq == NULL)
            msg_fatal("%s: expected name=value", arg);
        char *name = xmemdup(arg, nlen);
        char *trimmed = name;
        while (*trimmed == ' ' || *trimmed == '\t')
            trimmed++;
        size_t tl = strlen(trimmed);
        while (tl && (trimmed[tl - 1] == ' ' || trimmed[tl - 1] == '\t'))
            trimmed[--tl] = 0;
        if (!config_valid_name(trimmed, tl))
            msg_fatal("bad parameter name: %s", trimmed);
        edits[i].key = xstrdup(trimmed);
        free(name);
        if (mode != PC_EDIT_SET)
            continue;
        const char *v = eq + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        if (memchr(v, '\n', vl) != NULL || memchr(v, '\r', vl) != NULL)
            msg_fatal("%s: value must be one line", edits[i].key);
        if (vl > CONFIG_MAX_LINE / 2)
            msg_fatal("%s: value too long", edits[i].key);
        struct buf text = BUF_INIT;
        buf_printf(&text, "%s =%s%.*s", edits[i].key, vl ? " " : "", (int)vl, v);
        edits[i].text = buf_steal(&text);
        /* Catch obvious typos now rather than at the next daemon start. */
        const struct param_def *p = param_find(edits[i].key);
        char *value = xmemdup(v, vl);
        if (p != NULL && strchr(value, '$') == NULL && param_check(p, value, &why) < 0)
            msg_warn("%s", buf_cstr(&why));
        free(value);
    }
    char *path = main_cf_path(dir);
    if (pc_rewrite(path, pc_main_key, edits, (size_t)n, mode, NULL, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    for (int i = 0; i < n; i++) {
        free(edits[i].key);
        free(edits[i].text);
    }
    free(edits);
    free(path);
    buf_free(&why);
}

int main(int argc, char **argv)
{
    int flags = 0, edit = 0, master = 0;
    enum pc_edit_mode mode = PC_EDIT_SET;
    const char *dir_arg = NULL;
    int ch;

    msg_init("postconf");
    if (argc == 2 && strcmp(argv[1], "--man5") == 0) {
        pc_man5(stdout);
        if (fflush(stdout) != 0 || ferror(stdout))
            msg_fatal("write error on standard output");
        return 0;
    }
    while ((ch = getopt(argc, argv, "c:dehHMnpvxX#")) != -1) {
        switch (ch) {
        case 'c':
            dir_arg = optarg;
            break;
        case 'd':
            flags |= SHOW_DEFAULTS;
            break;
        case 'e':
            edit = 1;
            mode = PC_EDIT_SET;
            break;
        case 'h':
            flags |= SHOW_VALUES;
            break;
        case 'H':
            flags |= SHOW_NAMES;
            break;
        case 'M':
            master = 1;
            break;
        case 'n':
            flags |= SHOW_SET_ONLY;
            break;
        case 'p':
            break; /* main.cf: the default */
        case 'v':
            msg_verbose++;
            break;
        case 'x':
            flags |= SHOW_EXPAND;
            break;
        case 'X':
            edit = 1;
            mode = PC_EDIT_REMOVE;
            break;
        case '#':
            edit = 1;
            mode = PC_EDIT_COMMENT;
            break;
        default:
            usage();
        }
    }
    char **args = argv + optind;
    int nargs = argc - optind;
    /* As in Postfix 2.8 and later, name=value implies -e. */
    if (!edit && !master && nargs > 0 && strchr(args[0], '=') != NULL)
        edit = 1;
    if (edit && flags != 0)
        usage();
    if (edit && nargs == 0)
        usage();
    const char *dir = mail_conf_dir(dir_arg);

    if (master && edit)
        pc_master_edit(dir, args, nargs, mode);
    else if (master)
        pc_master_show(dir, args, nargs);
    else if (edit)
        edit_main(dir, args, nargs, mode);
    else
        show(dir, flags, args, nargs);
    return 0;
}
