/* mail_conf - this process's configuration: which directory, loading and
 * type-checking main.cf, overrides, cached typed getters, and log setup.
 *
 * A set-uid or set-gid program (postdrop, postqueue) must not let its
 * caller pick the configuration: -c and MAIL_CONFIG are then honoured only
 * for directories listed in alternate_config_directories of the default
 * main.cf, as in Postfix.
 */
#include "conf/mail_conf.h"
#include "conf/params.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"
#include "util/strutil.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#ifndef DEF_CONFIG_DIR
#define DEF_CONFIG_DIR "/etc/postern"
#endif

struct config *mail_conf;
static char *conf_dir;

/* ---- getter cache ----------------------------------------------------- */

struct cached {
    const struct param_def *p;
    char *str;
    long num;
};

static struct cached *cache;
static size_t cache_len, cache_cap;

static void cache_clear(void)
{
    for (size_t i = 0; i < cache_len; i++)
        free(cache[i].str);
    cache_len = 0;
}

/* ---- directory -------------------------------------------------------- */

/* Run set-id by someone other than root: the caller is not to be trusted
 * with the choice of configuration. */
static int privileged_caller(void)
{
    if (getuid() == 0)
        return 0;
    return getauxval(AT_SECURE) != 0 || getuid() != geteuid() || getgid() != getegid();
}

/* A set-id program accepts another directory only when the administrator
 * listed it in the default main.cf. */
static void check_alternate_dir(const char *dir)
{
    if (strcmp(dir, DEF_CONFIG_DIR) == 0 || !privileged_caller())
        return;
    struct config *c = config_alloc();
    struct buf why = BUF_INIT, val = BUF_INIT;
    int ok = 0;
    if (config_read_file(c, DEF_CONFIG_DIR "/main.cf", &why) == 0 &&
        config_lookup(c, "alternate_config_directories", &val, &why) == 0) {
        struct argv *dirs = argv_split(buf_cstr(&val), ", \t\r\n");
        for (size_t i = 0; i < dirs->argc && !ok; i++)
            ok = strcmp(dirs->argv[i], dir) == 0;
        argv_free(dirs);
    }
    config_free(c);
    buf_free(&why);
    buf_free(&val);
    if (!ok)
        msg_fatal("%s: permission denied: configuration directory is not listed in "
                  "alternate_config_directories of %s/main.cf",
                  dir, DEF_CONFIG_DIR);
}

const char *mail_conf_dir(const char *arg)
{
    if (arg == NULL && conf_dir != NULL)
        return conf_dir;
    const char *d = arg;
    if (d == NULL || *d == 0)
        d = getenv("MAIL_CONFIG");
    if (d == NULL || *d == 0)
        d = DEF_CONFIG_DIR;
    if (strlen(d) > PATH_MAX - 16)
        msg_fatal("configuration directory name too long");
    check_alternate_dir(d);
    char *copy = xstrdup(d);
    free(conf_dir);
    conf_dir = copy;
    return conf_dir;
}

/* ---- loading ---------------------------------------------------------- */

/* where - "FILE:LINE: ", "ORIGIN: " or "" for an entry. */
static void where(struct buf *out, const struct config_entry *e)
{
    buf_reset(out);
    if (e == NULL || e->file == NULL)
        return;
    if (e->line > 0)
        buf_printf(out, "%s:%d: ", e->file, e->line);
    else
        buf_printf(out, "%s: ", e->file);
}

/* check_entry - expand one setting and check it against its type. */
static int check_entry(const struct config *c, const struct config_entry *e,
                       const struct param_def *p, struct buf *why)
{
    struct buf val = BUF_INIT, reason = BUF_INIT, loc = BUF_INIT;
    int ret = 0;
    if (config_lookup(c, p->name, &val, &reason) < 0 ||
        param_check(p, buf_cstr(&val), &reason) < 0) {
        where(&loc, e);
        buf_reset(why);
        buf_printf(why, "%s%s", buf_cstr(&loc), buf_cstr(&reason));
        ret = -1;
    }
    buf_free(&val);
    buf_free(&reason);
    buf_free(&loc);
    return ret;
}

int mail_conf_load(const char *dir, struct buf *why)
{
    struct buf path = BUF_INIT;
    buf_printf(&path, "%s/main.cf", dir);
    struct config *c = config_alloc();
    int ret = -1;
    if (config_read_file(c, buf_cstr(&path), why) < 0)
        goto out;
    /* Like Postfix, the directory in use is what $config_directory means. */
    if (config_find(c, "config_directory") == NULL)
        config_set(c, "config_directory", dir, NULL, 0);
    for (size_t i = 0; i < c->count; i++) {
        const struct param_def *p = param_find(c->ents[i].name);
        if (p != NULL && check_entry(c, &c->ents[i], p, why) < 0)
            goto out;
    }
    cache_clear();
    config_free(mail_conf);
    mail_conf = c;
    c = NULL;
    if (conf_dir == NULL || strcmp(conf_dir, dir) != 0) {
        char *copy = xstrdup(dir);
        free(conf_dir);
        conf_dir = copy;
    }
    ret = 0;
out:
    config_free(c);
    buf_free(&path);
    return ret;
}

void mail_conf_read(void)
{
    struct buf why = BUF_INIT, text = BUF_INIT, path = BUF_INIT, out = BUF_INIT;
    const char *dir = mail_conf_dir(NULL);
    if (mail_conf_load(dir, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    /* master.cf -o settings may be the only users of a parameter. */
    buf_printf(&path, "%s/master.cf", dir);
    if (config_read_text(buf_cstr(&path), &text, &why) < 0)
        buf_reset(&text);
    if (mail_conf_unknown(mail_conf, buf_cstr(&text), &out) > 0) {
        struct argv *lines = argv_split(buf_cstr(&out), "\n");
        for (size_t i = 0; i < lines->argc; i++)
            msg_warn("%s", lines->argv[i]);
        argv_free(lines);
    }
    buf_free(&why);
    buf_free(&text);
    buf_free(&path);
    buf_free(&out);
}

/* ---- unknown parameters ----------------------------------------------- */

/* Per-transport forms of global settings, e.g. smtp_destination_rate_delay
 * next to default_destination_rate_delay, are used by the queue manager and
 * delivery agents for the transport named by the prefix. */
static int transport_param(const char *name)
{
    static const char *const plain[] = {"initial_destination_concurrency", "time_limit"};
    char key[256];
    for (const char *u = strchr(name, '_'); u != NULL; u = strchr(u + 1, '_')) {
        const char *suffix = u + 1;
        if (*suffix == 0)
            break;
        for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
            if (strcmp(suffix, plain[i]) == 0)
                return 1;
        if (strlen(suffix) + 9 > sizeof(key))
            continue;
        strcpy(key, "default_");
        strcat(key, suffix);
        if (param_find(key) != NULL)
            return 1;
    }
    return 0;
}

static void add_refs(struct config *set, const char *text)
{
    struct argv *names = argv_alloc();
    config_refs(text, names);
    for (size_t i = 0; i < names->argc; i++)
        if (config_find(set, names->argv[i]) == NULL)
            config_set(set, names->argv[i], "", NULL, 0);
    argv_free(names);
}

int mail_conf_unknown(const struct config *c, const char *extra_refs_text, struct buf *out)
{
    struct config *used = config_alloc(); /* a set of names, by its index */
    for (size_t i = 0; i < c->count; i++)
        add_refs(used, c->ents[i].value);
    if (extra_refs_text != NULL)
        add_refs(used, extra_refs_text);
    /* Restriction classes are parameters named in smtpd_restriction_classes. */
    const struct config_entry *rc = config_find(c, "smtpd_restriction_classes");
    if (rc != NULL) {
        struct argv *names = argv_split(rc->value, ", \t\r\n");
        for (size_t i = 0; i < names->argc; i++)
            if (config_valid_name(names->argv[i], strlen(names->argv[i])))
                config_set(used, names->argv[i], "", NULL, 0);
        argv_free(names);
    }
    int count = 0;
    for (size_t i = 0; i < c->count; i++) {
        const struct config_entry *e = &c->ents[i];
        if (param_find(e->name) != NULL || config_find(used, e->name) != NULL ||
            transport_param(e->name))
            continue;
        buf_printf(out, "%s: unused parameter: %s=%s\n", e->file ? e->file : "(unknown)", e->name,
                   e->value);
        count++;
    }
    config_free(used);
    return count;
}

/* ---- overrides and getters -------------------------------------------- */

void mail_conf_override(const char *name, const char *value, const char *origin)
{
    if (!config_valid_name(name, strlen(name)))
        msg_fatal("%s: bad parameter name: %.100s", origin ? origin : "command line", name);
    if (mail_conf == NULL)
        mail_conf = config_alloc();
    config_set(mail_conf, name, value, origin ? origin : "command line", 0);
    cache_clear();
}

static const struct config *active_conf(void)
{
    static struct config *empty;
    if (mail_conf != NULL)
        return mail_conf;
    if (empty == NULL)
        empty = config_alloc();
    return empty;
}

/* get - the cached entry for name, expanded and type-checked on first use. */
static struct cached *lookup(const char *name)
{
    for (size_t i = 0; i < cache_len; i++)
        if (strcmp(cache[i].p->name, name) == 0)
            return &cache[i];
    const struct param_def *p = param_find(name);
    if (p == NULL)
        msg_panic("configuration parameter not in the table: %s", name);
    const struct config *c = active_conf();
    const struct config_entry *e = config_find(c, name);
    struct buf val = BUF_INIT, why = BUF_INIT, loc = BUF_INIT;
    if (config_lookup(c, name, &val, &why) < 0 || param_check(p, buf_cstr(&val), &why) < 0) {
        where(&loc, e);
        msg_fatal("%s%s", buf_cstr(&loc), buf_cstr(&why));
    }
    long num = 0;
    int b = 0;
    switch (p->type) {
    case PT_INT:
        (void)str_to_long(buf_cstr(&val), 0, LONG_MAX, &num);
        break;
    case PT_BOOL:
        (void)str_to_bool(buf_cstr(&val), &b);
        num = b;
        break;
    case PT_TIME:
        (void)str_to_time(buf_cstr(&val), param_time_unit(p), &num);
        break;
    case PT_STR:
        break;
    }
    if (cache_len == cache_cap) {
        cache_cap = cache_cap ? cache_cap * 2 : 32;
        cache = xreallocarray(cache, cache_cap, sizeof(*cache));
    }
    struct cached *ce = &cache[cache_len++];
    ce->p = p;
    ce->str = buf_steal(&val);
    ce->num = num;
    buf_free(&why);
    buf_free(&loc);
    return ce;
}

/* Any parameter can be read as text; a number only from a typed one. */
static struct cached *get(const char *name, enum param_type want)
{
    struct cached *ce = lookup(name);
    if (ce->p->type != want)
        msg_panic("parameter %s is a %s, not a %s", name, param_type_name(ce->p->type),
                  param_type_name(want));
    return ce;
}

const char *conf_str(const char *name)
{
    return lookup(name)->str;
}

long conf_int(const char *name)
{
    return get(name, PT_INT)->num;
}

int conf_bool(const char *name)
{
    return (int)get(name, PT_BOOL)->num;
}

long conf_time(const char *name)
{
    return get(name, PT_TIME)->num;
}

/* ---- logging ---------------------------------------------------------- */

void mail_log_setup(const char *progname, int keep_stderr)
{
    msg_init(progname);
    /* As in Postfix, "-o syslog_name=postern/submission" gives
     * "postern/submission/smtpd": log tools expect the program name last. */
    struct buf ident = BUF_INIT;
    buf_printf(&ident, "%s/%s", conf_str("syslog_name"), msg_progname());
    msg_set_ident(buf_cstr(&ident));
    buf_free(&ident);
    msg_set_hostname(conf_str("myhostname"));
    const char *logfile = conf_str("maillog_file");
    if (*logfile) {
        if (msg_logfile_open(logfile) < 0)
            msg_fatal("open maillog_file %s: %s", logfile, strerror(errno));
    } else {
        const char *facility = conf_str("syslog_facility");
        if (msg_syslog_open(facility) < 0)
            msg_fatal("bad syslog_facility: %s", facility);
    }
    msg_set_stderr(keep_stderr);
}
