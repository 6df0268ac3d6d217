/* params - the parameter table (param_table.def), lookups in it, computed
 * defaults, and type checks of values against it. */
#include "conf/params.h"
#include "util/buf.h"
#include "util/strutil.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "unknown"
#endif
#ifndef DEF_CONFIG_DIR
#define DEF_CONFIG_DIR "/etc/postern"
#endif
#ifndef DEF_COMMAND_DIR
#define DEF_COMMAND_DIR "/usr/local/sbin"
#endif
#ifndef DEF_DAEMON_DIR
#define DEF_DAEMON_DIR "/usr/local/lib/postern"
#endif
#ifndef DEF_QUEUE_DIR
#define DEF_QUEUE_DIR "/var/spool/postern"
#endif

static const char *param_default_myhostname(void);
static const char *param_default_mydomain(void);
static const char *param_default_mail_version(void);

const struct param_def param_table[] = {
#define PARAM(n, t, d, desc)     {n, t, d, NULL, desc, 0},
#define PARAM_RAW(n, t, d, desc) {n, t, d, NULL, desc, 1},
#define PARAM_FN(n, t, fn, desc) {n, t, NULL, fn, desc, 0},
#include "conf/param_table.def"
#undef PARAM
#undef PARAM_RAW
#undef PARAM_FN
};

const size_t param_count = sizeof(param_table) / sizeof(param_table[0]);

static int compare_name(const void *key, const void *elem)
{
    return strcmp((const char *)key, ((const struct param_def *)elem)->name);
}

/* The table is kept sorted (test_params enforces it), so bsearch works. */
const struct param_def *param_find(const char *name)
{
    return bsearch(name, param_table, param_count, sizeof(param_table[0]), compare_name);
}

const char *param_default(const struct param_def *p)
{
    if (p->def_fn != NULL)
        return p->def_fn();
    return p->def ? p->def : "";
}

const char *param_type_name(enum param_type t)
{
    switch (t) {
    case PT_STR:
        return "string";
    case PT_INT:
        return "integer";
    case PT_BOOL:
        return "boolean";
    case PT_TIME:
        return "time";
    }
    return "unknown";
}

int param_time_unit(const struct param_def *p)
{
    const char *d = p->def;
    size_t n = d ? strlen(d) : 0;
    if (n > 0 && strchr("smhdw", d[n - 1]) != NULL && isdigit((unsigned char)d[0]))
        return d[n - 1];
    return 's';
}

int param_check(const struct param_def *p, const char *value, struct buf *why)
{
    long l;
    int b;
    int ok = 1;
    switch (p->type) {
    case PT_STR:
        break;
    case PT_INT:
        ok = str_to_long(value, 0, LONG_MAX, &l) == 0;
        break;
    case PT_BOOL:
        ok = str_to_bool(value, &b) == 0;
        break;
    case PT_TIME:
        ok = str_to_time(value, param_time_unit(p), &l) == 0;
        break;
    }
    if (ok)
        return 0;
    if (why) {
        buf_reset(why);
        buf_printf(why, "bad %s parameter value: %s = %.200s", param_type_name(p->type), p->name,
                   value);
    }
    return -1;
}

/* ---- computed defaults ------------------------------------------------ */

static const char *param_default_mail_version(void)
{
    return POSTERN_VERSION;
}

/* The system's name as the kernel reports it; a name without a dot is used
 * as it is (set myhostname for a fully-qualified one). */
static const char *param_default_myhostname(void)
{
    static char name[256];
    if (name[0] == 0) {
        if (gethostname(name, sizeof(name) - 1) < 0 || name[0] == 0)
            strcpy(name, "localhost");
        name[sizeof(name) - 1] = 0;
        /* A host name that would break a log line or an SMTP reply is not one. */
        for (char *s = name; *s; s++)
            if (!isalnum((unsigned char)*s) && *s != '.' && *s != '-' && *s != '_') {
                strcpy(name, "localhost");
                break;
            }
    }
    return name;
}

static void domain_of(const char *host, struct buf *out)
{
    const char *dot = strchr(host, '.');
    buf_reset(out);
    buf_puts(out, dot && dot[1] ? dot + 1 : "localdomain");
}

static const char *param_default_mydomain(void)
{
    static struct buf dom = BUF_INIT;
    if (dom.len == 0)
        domain_of(param_default_myhostname(), &dom);
    return buf_cstr(&dom);
}

const char *param_derived_from(const struct param_def *p)
{
    if (p->def_fn == param_default_mydomain)
        return "myhostname";
    return NULL;
}

void param_derive(const struct param_def *p, const char *source_value, struct buf *out)
{
    if (p->def_fn == param_default_mydomain)
        domain_of(source_value, out);
    else
        buf_set(out, source_value);
}
