/* master_cf - parse master.cf (Postfix master(5) syntax) into service entries.
 *
 * The text is cut into logical lines (continuations joined with a space),
 * each logical line into tokens, and the tokens are checked column by
 * column. Every token remembers the physical line it started on, so an error
 * in a "-o" on the fifth continuation line names that line. The parser is a
 * pure function of its input (master_cf_read only adds the file read), so
 * it is unit-tested and fuzzed directly.
 */
#include "conf/master_cf.h"
#include "util/alloc.h"
#include "util/strutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MCF_LINE_MAX      65536      /* bytes in one logical line */
#define MCF_SERVICES_MAX  1000       /* entries per file */
#define MCF_FILE_MAX      (64 << 20) /* master_cf_read: bytes in the file */
#define MCF_INET_NAME_MAX 300        /* "[v6 address]:port" with room to spare */
/* A local service becomes "private/NAME" relative to queue_directory, and
 * that path must fit sun_path (108 bytes with its NUL). */
#define MCF_LOCAL_NAME_MAX 99
#define MCF_SHOW_MAX       80 /* bytes of hostile text echoed in an error */

enum { F_SERVICE, F_TYPE, F_PRIVATE, F_UNPRIV, F_CHROOT, F_WAKEUP, F_MAXPROC, F_COMMAND, F_COUNT };

static const char *const field_names[F_COUNT] = {
    "service", "type", "private", "unpriv", "chroot", "wakeup", "maxproc", "command",
};

static const char *const type_names[] = {
    [MASTER_INET] = "inet", [MASTER_UNIX] = "unix", [MASTER_UNIX_DGRAM] = "unix-dgram",
    [MASTER_FIFO] = "fifo", [MASTER_PASS] = "pass",
};

/* A token of a logical line: NUL-terminated text and where it started. */
struct tok {
    char *s;
    int line;
    int group; /* written as "{ ... }": braces and surrounding space removed */
};

/* One logical line being parsed. */
struct lline {
    struct buf text;
    int *seg_line;   /* physical line of each joined segment */
    size_t *seg_off; /* offset in text where that segment starts */
    size_t nseg, segcap;
    struct tok *toks;
    size_t ntok, tokcap;
};

struct ctx {
    const char *file;
    struct buf *why;
    struct master_cf *cf;
    int default_maxproc;
};

const char *master_type_name(enum master_type t)
{
    if ((unsigned)t < sizeof(type_names) / sizeof(type_names[0]))
        return type_names[t];
    return "unknown";
}

int master_type_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(s, type_names[i]) == 0)
            return (int)i;
    return -1;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* put_shown - echo hostile text into a message: bounded, printable only. */
static void put_shown(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n && i < MCF_SHOW_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        buf_putc(b, c >= 0x20 && c < 0x7f ? c : '?');
    }
    if (n > MCF_SHOW_MAX)
        buf_puts(b, "...");
}

static int fail(struct ctx *c, int line, const char *reason, const char *shown)
{
    buf_reset(c->why);
    buf_printf(c->why, "%s:%d: %s", c->file, line, reason);
    if (shown)
        put_shown(c->why, shown);
    return -1;
}

/* ---- values of single columns --------------------------------------------- */

static int local_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MCF_LOCAL_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* An absolute path without "." or ".." components or empty components. */
static int absolute_path_ok(const char *s)
{
    if (s[0] != '/' || strlen(s) > 4096)
        return 0;
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
        if (*p == '/' && (p[1] == '/' || p[1] == 0 ||
                          (p[1] == '.' && (p[2] == '/' || p[2] == 0 ||
                                           (p[2] == '.' && (p[3] == '/' || p[3] == 0))))))
            return 0;
    }
    return 1;
}

/* A port is a number 1-65535 or a services(5) name. */
static int port_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    size_t digits = 0;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (digits == n) {
        long v = 0;
        for (size_t i = 0; i < n; i++) {
            v = v * 10 + (s[i] - '0');
            if (v > 65535)
                return 0;
        }
        return v >= 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

/* "port", "host:port" or "[address]:port"; 0 ok, else a reason. */
static const char *inet_name_check(const char *s)
{
    size_t n = strlen(s);
    if (n > MCF_INET_NAME_MAX)
        return "inet service name too long: ";
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close == s + 1 || close[1] != ':')
            return "bad inet service address (expected [address]:port): ";
        size_t alen = (size_t)(close - s - 1);
        if (strspn(s + 1, "0123456789abcdefABCDEF:.") != alen)
            return "bad inet service address (expected [address]:port): ";
        if (!port_ok(close + 2, strlen(close + 2)))
            return "bad inet service port: ";
        return NULL;
    }
    const char *colon = strrchr(s, ':');
    if (colon == NULL)
        return port_ok(s, n) ? NULL : "bad inet service port: ";
    size_t hlen = (size_t)(colon - s);
    if (hlen == 0 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") != hlen)
        return "bad inet service host: ";
    if (!port_ok(colon + 1, strlen(colon + 1)))
        return "bad inet service port: ";
    return NULL;
}

/* y, n or - (default); 0 and *out, or -1. */
static int parse_yn(const char *s, int def, int *out)
{
    if (strcmp(s, "y") == 0)
        *out = 1;
    else if (strcmp(s, "n") == 0)
        *out = 0;
    else if (strcmp(s, "-") == 0)
        *out = def;
    else
        return -1;
    return 0;
}

static int parse_count(const char *s, int *out)
{
    long v;
    if (!str_alldig(s) || str_to_long(s, 0, INT_MAX, &v) < 0)
        return -1;
    *out = (int)v;
    return 0;
}

static int param_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* ---- logical lines and tokens --------------------------------------------- */

static void lline_reset(struct lline *ll)
{
    buf_reset(&ll->text);
    ll->nseg = 0;
    ll->ntok = 0;
}

static void lline_free(struct lline *ll)
{
    buf_free(&ll->text);
    free(ll->seg_line);
    free(ll->seg_off);
    free(ll->toks);
}

static void lline_add_seg(struct lline *ll, const char *p, size_t n, int line)
{
    if (ll->nseg == ll->segcap) {
        ll->segcap = ll->segcap ? 2 * ll->segcap : 8;
        ll->seg_line = xreallocarray(ll->seg_line, ll->segcap, sizeof(int));
        ll->seg_off = xreallocarray(ll->seg_off, ll->segcap, sizeof(size_t));
    }
    if (ll->text.len)
        buf_putc(&ll->text, ' ');
    ll->seg_line[ll->nseg] = line;
    ll->seg_off[ll->nseg] = ll->text.len;
    ll->nseg++;
    buf_append(&ll->text, p, n);
}

/* line_at - the physical line of text offset off. Offsets only grow while
 * a line is tokenized, so *seg carries on where the last call stopped. */
static int line_at(const struct lline *ll, size_t off, size_t *seg)
{
    while (*seg + 1 < ll->nseg && ll->seg_off[*seg + 1] <= off)
        (*seg)++;
    return ll->seg_line[*seg];
}

static void add_tok(struct lline *ll, char *s, int line, int group)
{
    if (ll->ntok == ll->tokcap) {
        ll->tokcap = ll->tokcap ? 2 * ll->tokcap : 16;
        ll->toks = xreallocarray(ll->toks, ll->tokcap, sizeof(struct tok));
    }
    ll->toks[ll->ntok++] = (struct tok){s, line, group};
}

/* ungroup - s starts with '{': check that its matching '}' ends s and return
 * the text between them, trimmed, in place. NULL + reason on a bad group. */
static char *ungroup(char *s, const char **reason)
{
    int level = 0;
    char *p = s;
    for (; *p; p++) {
        if (*p == '{') {
            level++;
        } else if (*p == '}' && --level == 0) {
            break;
        }
    }
    if (*p == 0) {
        *reason = "missing '}' in: ";
        return NULL;
    }
    if (p[1] != 0) {
        *reason = "text after '}' in: ";
        return NULL;
    }
    *p = 0;
    return str_trim(s + 1);
}

/* Tokens of the first F_COMMAND+1 columns are plain words; arguments may
 * be "{ grouped text }" and may contain balanced braces, like Postfix's
 * pipe(8) "argv=... ${recipient}". */
static int tokenize(struct ctx *c, struct lline *ll)
{
    char *s = ll->text.data;
    size_t pos = 0, len = ll->text.len, seg = 0;
    while (pos < len) {
        while (pos < len && is_space(s[pos]))
            pos++;
        if (pos == len)
            break;
        size_t start = pos;
        int line = line_at(ll, start, &seg);
        if (ll->ntok <= F_COMMAND) {
            while (pos < len && !is_space(s[pos]))
                pos++;
        } else {
            int level = 0;
            for (; pos < len && (level > 0 || !is_space(s[pos])); pos++) {
                if (s[pos] == '{') {
                    level++;
                } else if (s[pos] == '}') {
                    if (level == 0) {
                        s[pos + strcspn(s + pos, " \t\r\f\v")] = 0;
                        return fail(c, line, "unexpected '}' in: ", s + start);
                    }
                    level--;
                }
            }
            if (level > 0)
                return fail(c, line, "missing '}' in: ", s + start);
        }
        s[pos] = 0; /* pos == len lands on the buffer's own NUL */
        if (pos < len)
            pos++;
        char *t = s + start;
        int group = 0;
        if (ll->ntok > F_COMMAND && *t == '{') {
            const char *reason = NULL;
            char *full = t;
            if ((t = ungroup(full, &reason)) == NULL)
                return fail(c, line, reason, full);
            group = 1;
        }
        add_tok(ll, t, line, group);
    }
    return 0;
}

/* ---- one entry -------------------------------------------------------------- */

static void ent_free(struct master_ent *e)
{
    if (e == NULL)
        return;
    free(e->name);
    free(e->command);
    argv_free(e->args);
    argv_free(e->opts);
    free(e->file);
    free(e);
}

/* add_opt - "name=value" from an -o argument; spaces around '=' allowed. */
static int add_opt(struct ctx *c, struct master_ent *e, char *arg, int line)
{
    char *eq = strchr(arg, '=');
    if (eq == NULL)
        return fail(c, line, "-o argument is not name=value: ", arg);
    *eq = 0;
    char *name = str_trim(arg);
    char *value = str_trim(eq + 1);
    if (!param_name_ok(name, strlen(name)))
        return fail(c, line, "bad parameter name in -o: ", name);
    struct buf nv = BUF_INIT;
    buf_printf(&nv, "%s=%s", name, value);
    argv_add(e->opts, buf_cstr(&nv));
    buf_free(&nv);
    return 0;
}

static int parse_args(struct ctx *c, struct lline *ll, struct master_ent *e)
{
    for (size_t i = F_COMMAND + 1; i < ll->ntok; i++) {
        struct tok *t = &ll->toks[i];
        if (t->group || strncmp(t->s, "-o", 2) != 0) {
            argv_add(e->args, t->s);
            continue;
        }
        char *val;
        int line = t->line;
        if (t->s[2] != 0) {
            val = t->s + 2;
            if (*val == '{') {
                const char *reason = NULL;
                char *full = val;
                if ((val = ungroup(full, &reason)) == NULL)
                    return fail(c, line, reason, full);
            }
        } else {
            if (i + 1 == ll->ntok)
                return fail(c, line, "-o without a value", NULL);
            val = ll->toks[++i].s;
            line = ll->toks[i].line;
        }
        if (add_opt(c, e, val, line) < 0)
            return -1;
    }
    return 0;
}

static int parse_entry(struct ctx *c, struct lline *ll, struct master_ent **out)
{
    int line0 = ll->seg_line[0];
    if (ll->ntok <= F_COMMAND) {
        buf_reset(c->why);
        buf_printf(c->why, "%s:%d: missing field '%s'", c->file, line0, field_names[ll->ntok]);
        return -1;
    }
    struct tok *f = ll->toks;
    int type = master_type_parse(f[F_TYPE].s);
    if (type < 0)
        return fail(c, f[F_TYPE].line, "unknown service type: ", f[F_TYPE].s);

    const char *name = f[F_SERVICE].s;
    if (type == MASTER_INET) {
        const char *reason = inet_name_check(name);
        if (reason)
            return fail(c, f[F_SERVICE].line, reason, name);
    } else if (!local_name_ok(name)) {
        buf_reset(c->why);
        buf_printf(c->why, "%s:%d: bad %s service name (a plain file name is required): ", c->file,
                   f[F_SERVICE].line, type_names[type]);
        put_shown(c->why, name);
        return -1;
    }

    int yn[3];
    for (int k = F_PRIVATE; k <= F_CHROOT; k++) {
        /* '-' for an inet service's private column means n: TCP has no private/. */
        int def = (k == F_PRIVATE && type == MASTER_INET) ? 0 : 1;
        if (parse_yn(f[k].s, def, &yn[k - F_PRIVATE]) < 0) {
            buf_reset(c->why);
            buf_printf(c->why, "%s:%d: field '%s': expected y, n or -", c->file, f[k].line,
                       field_names[k]);
            return -1;
        }
    }
    if (type == MASTER_INET && yn[0])
        return fail(c, f[F_PRIVATE].line, "inet services cannot be private", NULL);

    int wakeup = 0, if_used = 0;
    if (strcmp(f[F_WAKEUP].s, "-") != 0) {
        char *w = f[F_WAKEUP].s;
        size_t wl = strlen(w);
        char *digits = xstrdup(w);
        if (wl > 1 && w[wl - 1] == '?') {
            digits[wl - 1] = 0;
            if_used = 1;
        }
        int bad = parse_count(digits, &wakeup) < 0;
        free(digits);
        if (bad)
            return fail(c, f[F_WAKEUP].line, "bad wakeup time: ", w);
    }

    int maxproc = c->default_maxproc;
    if (strcmp(f[F_MAXPROC].s, "-") != 0 && parse_count(f[F_MAXPROC].s, &maxproc) < 0)
        return fail(c, f[F_MAXPROC].line, "bad process limit: ", f[F_MAXPROC].s);

    /* master runs daemon_directory/COMMAND, so a relative COMMAND must stay
     * inside it; an absolute path names a program of the admin's choosing
     * (master.cf is root's file, so this grants nothing new). */
    if (!local_name_ok(f[F_COMMAND].s) && !absolute_path_ok(f[F_COMMAND].s))
        return fail(c, f[F_COMMAND].line,
                    "bad command name (a file name in daemon_directory or an absolute path "
                    "is required): ",
                    f[F_COMMAND].s);

    struct master_ent *e = xcalloc(1, sizeof(*e));
    e->name = xstrdup(name);
    e->type = (enum master_type)type;
    e->private_ = yn[0];
    e->unpriv = yn[1];
    e->chroot = yn[2];
    e->wakeup = wakeup;
    e->wakeup_if_used = if_used;
    e->maxproc = maxproc;
    e->command = xstrdup(f[F_COMMAND].s);
    e->args = argv_alloc();
    e->opts = argv_alloc();
    e->file = xstrdup(c->file);
    e->line = line0;
    if (parse_args(c, ll, e) < 0) {
        ent_free(e);
        return -1;
    }
    *out = e;
    return 0;
}

static int finish_lline(struct ctx *c, struct lline *ll)
{
    if (ll->nseg == 0)
        return 0;
    struct master_ent *e = NULL;
    if (tokenize(c, ll) < 0 || parse_entry(c, ll, &e) < 0)
        return -1;
    struct master_cf *cf = c->cf;
    for (size_t i = 0; i < cf->count; i++) {
        const struct master_ent *o = cf->ents[i];
        if (o->type == e->type && strcmp(o->name, e->name) == 0) {
            buf_reset(c->why);
            buf_printf(c->why, "%s:%d: duplicate service %s/%s (already defined at line %d)",
                       c->file, e->line, e->name, type_names[e->type], o->line);
            ent_free(e);
            return -1;
        }
    }
    if (cf->count == MCF_SERVICES_MAX) {
        buf_reset(c->why);
        buf_printf(c->why, "%s:%d: too many services (limit %d)", c->file, e->line,
                   MCF_SERVICES_MAX);
        ent_free(e);
        return -1;
    }
    cf->ents = xreallocarray(cf->ents, cf->count + 1, sizeof(*cf->ents));
    cf->ents[cf->count++] = e;
    return 0;
}

int master_cf_parse(const char *text, size_t len, const char *file, int default_maxproc,
                    struct master_cf **out, struct buf *why)
{
    struct ctx c = {file, why, xcalloc(1, sizeof(struct master_cf)), default_maxproc};
    struct lline ll = {0};
    buf_init(&ll.text);
    int lineno = 0, rc = 0;
    size_t pos = 0;

    *out = NULL;
    while (pos < len && rc == 0) {
        const char *p = text + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        pos += nl ? n + 1 : n;
        if (lineno == INT_MAX) {
            rc = fail(&c, lineno, "too many lines", NULL);
            break;
        }
        lineno++;
        if (memchr(p, 0, n) != NULL) {
            rc = fail(&c, lineno, "NUL byte in line", NULL);
            break;
        }
        size_t skip = 0;
        while (skip < n && is_space((unsigned char)p[skip]))
            skip++;
        if (skip == n || p[skip] == '#')
            continue;
        if (skip == 0) {
            rc = finish_lline(&c, &ll);
            lline_reset(&ll);
        } else if (ll.nseg == 0) {
            rc = fail(&c, lineno, "continuation line without a preceding service line", NULL);
        }
        if (rc == 0) {
            /* A continuation joins its line with one space, like main.cf. */
            if (ll.text.len + (ll.text.len ? 1 : 0) + (n - skip) > MCF_LINE_MAX)
                rc = fail(&c, lineno, "logical line too long (limit 65536 bytes)", NULL);
            else
                lline_add_seg(&ll, p + skip, n - skip, lineno);
        }
    }
    if (rc == 0)
        rc = finish_lline(&c, &ll);
    lline_free(&ll);
    if (rc < 0) {
        master_cf_free(c.cf);
        return -1;
    }
    *out = c.cf;
    return 0;
}

int master_cf_read(const char *path, int default_maxproc, struct master_cf **out, struct buf *why)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        buf_reset(why);
        buf_printf(why, "%s: open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        buf_reset(why);
        buf_printf(why, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    struct buf text = BUF_INIT;
    char chunk[8192];
    int rc = 0;
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            buf_reset(why);
            buf_printf(why, "%s: read: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        if (r == 0)
            break;
        if (text.len + (size_t)r > MCF_FILE_MAX) {
            buf_reset(why);
            buf_printf(why, "%s: file too large (limit %d bytes)", path, MCF_FILE_MAX);
            rc = -1;
            break;
        }
        buf_append(&text, chunk, (size_t)r);
    }
    close(fd);
    if (rc == 0)
        rc = master_cf_parse(buf_cstr(&text), text.len, path, default_maxproc, out, why);
    buf_free(&text);
    return rc;
}

void master_cf_free(struct master_cf *cf)
{
    if (cf == NULL)
        return;
    for (size_t i = 0; i < cf->count; i++)
        ent_free(cf->ents[i]);
    free(cf->ents);
    free(cf);
}

const struct master_ent *master_cf_find(const struct master_cf *cf, const char *name,
                                        enum master_type type)
{
    for (size_t i = 0; i < cf->count; i++)
        if (cf->ents[i]->type == type && strcmp(cf->ents[i]->name, name) == 0)
            return cf->ents[i];
    return NULL;
}
