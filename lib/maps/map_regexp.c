/* map_regexp - regexp: tables (POSIX extended regular expressions), and
 * what they share with pcre: tables and the other rule files: the logical
 * line reader, the rule language of Postfix's regexp_table(5) and
 * pcre_table(5), and $number substitution. The engines differ only in
 * struct map_re_engine (this file: regcomp/regexec; map_pcre.c: PCRE2).
 *
 * Where Postfix warns about a bad rule and skips it, the table does not
 * open: a pattern that does not compile, an unknown flag, a $number beyond
 * the pattern's groups, unbalanced if/endif, or a rule without a result
 * would otherwise change mail handling silently.
 */
#include "maps/map_types.h"

#include "maps/map_file.h"
#include "util/alloc.h"
#include "util/strutil.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest result after substitution: beyond it a lookup fails (temporarily)
 * rather than returning a truncated value. */
#define MAP_RE_MAX_RESULT (4 * 1024 * 1024)

/* ---- logical lines ---- */

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* emit - trim the logical line and hand it to the callback. */
static int emit(struct buf *logical, const char *origin, long lineno, map_rule_line_fn fn,
                void *ctx, struct buf *why)
{
    while (logical->len > 0 && is_blank((unsigned char)logical->data[logical->len - 1]))
        logical->len--;
    logical->data[logical->len] = 0;
    return fn(ctx, logical->data, origin, lineno, why);
}

int map_rule_lines_text(const char *text, size_t len, const char *origin, map_rule_line_fn fn,
                        void *ctx, struct buf *why)
{
    struct buf logical = BUF_INIT;
    long lineno = 0, start = 0;
    size_t pos = 0;
    int rc = 0;
    while (rc == 0 && pos < len) {
        const char *p = text + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        pos += n + (nl != NULL);
        lineno++;
        if (memchr(p, 0, n) != NULL) {
            buf_printf(why, "%s:%ld: NUL byte in line", origin, lineno);
            rc = -1;
            break;
        }
        size_t skip = 0;
        while (skip < n && is_blank((unsigned char)p[skip]))
            skip++;
        if (skip == n || p[skip] == '#')
            continue;
        while (is_blank((unsigned char)p[n - 1])) /* CR LF, and blanks before a join */
            n--;
        if (skip > 0 && start == 0) {
            buf_printf(why, "%s:%ld: continuation line before any rule", origin, lineno);
            rc = -1;
            break;
        }
        if (skip == 0 && start != 0) {
            if ((rc = emit(&logical, origin, start, fn, ctx, why)) < 0)
                break;
            buf_reset(&logical);
        }
        size_t add = n - skip + (skip > 0);
        if (add > MAP_FILE_MAX_LINE || logical.len > MAP_FILE_MAX_LINE - add) {
            buf_printf(why, "%s:%ld: line longer than %d bytes", origin, skip ? start : lineno,
                       MAP_FILE_MAX_LINE);
            rc = -1;
            break;
        }
        if (skip > 0)
            buf_putc(&logical, ' ');
        else
            start = lineno;
        buf_append(&logical, p + skip, n - skip);
    }
    if (rc == 0 && start != 0)
        rc = emit(&logical, origin, start, fn, ctx, why);
    buf_free(&logical);
    return rc < 0 ? -1 : 0;
}

int map_rule_lines(const char *path, map_rule_line_fn fn, void *ctx, struct buf *why)
{
    struct buf text = BUF_INIT;
    int rc = map_file_read(path, &text, why);
    if (rc == 0)
        rc = map_rule_lines_text(text.data ? text.data : "", text.len, path, fn, ctx, why);
    buf_free(&text);
    return rc;
}

/* ---- the rule language ---- */

enum re_op { RE_MATCH, RE_IF };

struct re_rule {
    enum re_op op;
    int positive;   /* 0: "!/pattern/": the rule applies when it does not match */
    long line;      /* for lookup errors */
    void *re;       /* the engine's compiled pattern */
    char *result;   /* RE_MATCH: the result, $number not yet substituted */
    size_t max_sub; /* RE_MATCH: highest $number in result */
    size_t skip_to; /* RE_IF: the rule after the matching endif */
};

struct map_re_table {
    const struct map_re_engine *engine;
    char *origin;
    struct re_rule *v;
    size_t n;
    size_t cap;
    size_t *open_ifs; /* while parsing: indexes of if rules without endif */
    size_t n_open;
};

/* group_ref - at p (just past '$'), the number of a $n, ${n} or $(n)
 * reference and its end; -1 + why if it is not one. */
static long group_ref(const char *p, const char **end, struct buf *why)
{
    const char *name = p, *stop;
    if (*p == '{' || *p == '(') {
        int close = *p == '{' ? '}' : ')';
        name = p + 1;
        if ((stop = strchr(name, close)) == NULL) {
            buf_printf(why, "unterminated \"$%c\" in result", *p);
            return -1;
        }
        *end = stop + 1;
    } else {
        stop = name;
        while (isalnum((unsigned char)*stop) || *stop == '_')
            stop++;
        *end = stop;
    }
    size_t n = (size_t)(stop - name);
    if (n == 0) {
        buf_puts(why, "'$' in result must be followed by a group number or '$'");
        return -1;
    }
    long value = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)name[i])) {
            buf_printf(why, "\"$%.*s\" in result is not a group number (write \"$$\" for '$')",
                       (int)(*end - p), p);
            return -1;
        }
        if (value <= MAP_RE_MAX_SUB)
            value = value * 10 + (name[i] - '0');
    }
    if (value < 1 || value > MAP_RE_MAX_SUB) {
        buf_printf(why, "\"$%.*s\" in result: group numbers are 1 to %d", (int)(*end - p), p,
                   MAP_RE_MAX_SUB);
        return -1;
    }
    return value;
}

/* prescan - the highest $number in a result; -1 + why if one is bad. */
static int prescan(const char *result, size_t *max_sub, struct buf *why)
{
    *max_sub = 0;
    for (const char *p = result; *p != 0;) {
        if (*p != '$') {
            p++;
        } else if (p[1] == '$') {
            p += 2;
        } else {
            long n = group_ref(p + 1, &p, why);
            if (n < 0)
                return -1;
            if ((size_t)n > *max_sub)
                *max_sub = (size_t)n;
        }
    }
    return 0;
}

/* expand - the result with $n replaced by group n of subject ("" when the
 * group took no part in the match); -1 + why if it grows too long. */
static int expand(const struct re_rule *r, const char *subject, const size_t *ov, size_t nov,
                  struct buf *value, struct buf *why)
{
    const char *p = r->result;
    while (*p != 0) {
        const char *dollar = strchr(p, '$');
        size_t lit = dollar ? (size_t)(dollar - p) : strlen(p);
        if (lit > MAP_RE_MAX_RESULT - value->len)
            goto too_long;
        buf_append(value, p, lit);
        if (dollar == NULL)
            break;
        if (dollar[1] == '$') {
            buf_putc(value, '$');
            p = dollar + 2;
            continue;
        }
        long n = group_ref(dollar + 1, &p, why); /* checked when the table was read */
        if (n < 0)
            return -1;
        if ((size_t)n < nov && ov[2 * n] != MAP_RE_UNSET) {
            size_t len = ov[2 * n + 1] - ov[2 * n];
            if (len > MAP_RE_MAX_RESULT - value->len)
                goto too_long;
            buf_append(value, subject + ov[2 * n], len);
        }
    }
    if (value->len < MAP_RE_MAX_RESULT)
        return 0;
too_long:
    buf_printf(why, "result longer than %d bytes", MAP_RE_MAX_RESULT);
    return -1;
}

/* parse_pattern - at *pp: [!...] DELIM pattern DELIM flags. Fills the rule's
 * positive and compiled pattern; *pp moves past the flags. */
static int parse_pattern(struct map_re_table *t, char **pp, struct re_rule *r, size_t *groups,
                         struct buf *why)
{
    char *p = *pp;
    r->positive = 1;
    for (;; p++) {
        if (*p == '!')
            r->positive = !r->positive;
        else if (!is_blank((unsigned char)*p))
            break;
    }
    if (*p == 0) {
        buf_puts(why, "missing pattern");
        return -1;
    }
    int delim = (unsigned char)*p;
    if (isalnum(delim) || delim == '\\') {
        buf_printf(why, "pattern must start with a delimiter such as '/', not '%c'", delim);
        return -1;
    }
    char *pattern = ++p;
    for (; *p != 0 && *p != delim; p++)
        if (*p == '\\' && p[1] != 0)
            p++; /* "\/" stays in the pattern, as in Postfix */
    if (*p == 0) {
        buf_printf(why, "missing closing '%c' after pattern", delim);
        return -1;
    }
    *p++ = 0;
    char *flags = p;
    while (*p != 0 && !is_blank((unsigned char)*p))
        p++;
    char saved = *p;
    *p = 0;
    struct buf reason = BUF_INIT;
    r->re = t->engine->compile(pattern, flags, groups, &reason);
    *p = saved;
    if (r->re == NULL) {
        buf_printf(why, "%s pattern \"%s\": %s", t->engine->type, pattern, buf_cstr(&reason));
        buf_free(&reason);
        return -1;
    }
    buf_free(&reason);
    while (is_blank((unsigned char)*p))
        p++;
    *pp = p;
    return 0;
}

/* keyword - "if" or "endif" (any case) followed by a non-alphanumeric. */
static int keyword(const char *p, const char *word)
{
    size_t n = strlen(word);
    return strncasecmp(p, word, n) == 0 && !isalnum((unsigned char)p[n]);
}

static void rule_free(const struct map_re_engine *e, struct re_rule *r)
{
    if (r->re != NULL)
        e->free(r->re);
    free(r->result);
}

/* parse_rule - one logical line into the table; -1 + why (no file:line). */
static int parse_rule(struct map_re_table *t, char *p, long lineno, struct buf *why)
{
    struct re_rule r = {.line = lineno};
    size_t groups = 0;
    if (keyword(p, "endif")) {
        for (p += 5; is_blank((unsigned char)*p);)
            p++;
        if (*p != 0) {
            buf_printf(why, "text after endif: \"%s\"", p);
            return -1;
        }
        if (t->n_open == 0) {
            buf_puts(why, "endif without if");
            return -1;
        }
        t->v[t->open_ifs[--t->n_open]].skip_to = t->n;
        return 0;
    }
    int is_if = keyword(p, "if");
    if (is_if) {
        p += 2;
    } else if (isalnum((unsigned char)*p)) {
        buf_printf(why, "expected /pattern/ result, if or endif: \"%.40s\"", p);
        return -1;
    }
    if (parse_pattern(t, &p, &r, &groups, why) < 0)
        return -1;
    if (is_if) {
        r.op = RE_IF;
        if (*p != 0) {
            buf_printf(why,
                       "text after if pattern: \"%s\" (rules inside if/endif must not "
                       "start with white space)",
                       p);
            rule_free(t->engine, &r);
            return -1;
        }
    } else {
        r.op = RE_MATCH;
        if (*p == 0) {
            buf_puts(why, "missing result after pattern");
            rule_free(t->engine, &r);
            return -1;
        }
        if (prescan(p, &r.max_sub, why) < 0) {
            rule_free(t->engine, &r);
            return -1;
        }
        if (r.max_sub > 0 && !r.positive) {
            buf_printf(why, "$%zu in the result of a negated pattern, which captures nothing",
                       r.max_sub);
            rule_free(t->engine, &r);
            return -1;
        }
        if (r.max_sub > groups) {
            buf_printf(why, "$%zu in result, but the pattern has %zu group%s", r.max_sub, groups,
                       groups == 1 ? "" : "s");
            rule_free(t->engine, &r);
            return -1;
        }
        r.result = xstrdup(p);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
    }
    if (r.op == RE_IF) {
        t->open_ifs = xreallocarray(t->open_ifs, t->n_open + 1, sizeof(*t->open_ifs));
        t->open_ifs[t->n_open++] = t->n;
    }
    t->v[t->n++] = r;
    return 0;
}

static int rule_line(void *ctx, char *line, const char *origin, long lineno, struct buf *why)
{
    struct buf reason = BUF_INIT;
    int rc = parse_rule(ctx, line, lineno, &reason);
    if (rc < 0)
        buf_printf(why, "%s:%ld: %s", origin, lineno, buf_cstr(&reason));
    buf_free(&reason);
    return rc;
}

void map_re_free(struct map_re_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        rule_free(t->engine, &t->v[i]);
    free(t->v);
    free(t->open_ifs);
    free(t->origin);
    free(t);
}

struct map_re_table *map_re_parse(const char *text, size_t len, const char *origin,
                                  const struct map_re_engine *engine, struct buf *why)
{
    struct map_re_table *t = xcalloc(1, sizeof(*t));
    t->engine = engine;
    t->origin = xstrdup(origin);
    if (map_rule_lines_text(text, len, origin, rule_line, t, why) < 0) {
        map_re_free(t);
        return NULL;
    }
    if (t->n_open > 0) {
        buf_printf(why, "%s:%ld: if without endif", origin, t->v[t->open_ifs[t->n_open - 1]].line);
        map_re_free(t);
        return NULL;
    }
    free(t->open_ifs);
    t->open_ifs = NULL;
    return t;
}

int map_re_match(const struct map_re_table *t, const char *key, struct buf *value, struct buf *why)
{
    size_t ov[2 * (MAP_RE_MAX_SUB + 1)];
    size_t len = strlen(key);
    for (size_t i = 0; i < t->n;) {
        const struct re_rule *r = &t->v[i];
        size_t nov = r->op == RE_MATCH && r->max_sub > 0 ? r->max_sub + 1 : 1;
        struct buf reason = BUF_INIT;
        int rc = t->engine->exec(r->re, key, len, ov, nov, &reason);
        if (rc < 0) {
            buf_printf(why, "%s:%ld: %s", t->origin, r->line, buf_cstr(&reason));
            buf_free(&reason);
            return -1;
        }
        buf_free(&reason);
        int applies = rc == r->positive;
        if (r->op == RE_IF) {
            i = applies ? i + 1 : r->skip_to;
            continue;
        }
        if (!applies) {
            i++;
            continue;
        }
        buf_reset(value);
        if (expand(r, key, ov, nov, value, &reason) < 0) {
            buf_printf(why, "%s:%ld: %s", t->origin, r->line, buf_cstr(&reason));
            buf_free(&reason);
            buf_reset(value);
            return -1;
        }
        return 1;
    }
    return 0;
}

/* ---- the map_ops of pcre: and regexp: ---- */

int map_re_open(struct map *m, const struct map_re_engine *engine, struct buf *why)
{
    struct buf text = BUF_INIT;
    if (m->name[0] == 0) {
        buf_printf(why, "%s: missing file name", m->spec);
        return -1;
    }
    /* Watch first: a change racing with the read is seen at the next check. */
    map_watch(m, m->name);
    if (map_file_read(m->name, &text, why) < 0) {
        buf_free(&text);
        return -1;
    }
    m->priv = map_re_parse(text.data ? text.data : "", text.len, m->name, engine, why);
    buf_free(&text);
    return m->priv == NULL ? -1 : 0;
}

int map_re_lookup(struct map *m, const char *key, struct buf *value)
{
    struct buf why = BUF_INIT;
    int rc = map_re_match(m->priv, key, value, &why);
    if (rc < 0)
        map_set_error(m, "table %s: %s", m->spec, buf_cstr(&why));
    buf_free(&why);
    return rc;
}

void map_re_close(struct map *m)
{
    map_re_free(m->priv);
    m->priv = NULL;
}

/* ---- the POSIX engine ---- */

static void *posix_compile(const char *pattern, const char *flags, size_t *groups, struct buf *why)
{
    /* regexp_table(5): case-insensitive and extended syntax unless toggled. */
    int cflags = REG_EXTENDED | REG_ICASE;
    for (const char *f = flags; *f != 0; f++) {
        switch (*f) {
        case 'i':
            cflags ^= REG_ICASE;
            break;
        case 'x':
            cflags ^= REG_EXTENDED;
            break;
        case 'm':
            cflags ^= REG_NEWLINE;
            break;
        default:
            buf_printf(why, "unknown flag '%c' (regexp: tables know i, m and x)", *f);
            return NULL;
        }
    }
    regex_t *re = xmalloc(sizeof(*re));
    int rc = regcomp(re, pattern, cflags);
    if (rc != 0) {
        char msg[256];
        regerror(rc, re, msg, sizeof(msg));
        buf_puts(why, msg);
        free(re);
        return NULL;
    }
    *groups = re->re_nsub;
    return re;
}

static int posix_exec(void *re, const char *subject, size_t len, size_t *ov, size_t nov,
                      struct buf *why)
{
    regmatch_t pm[MAP_RE_MAX_SUB + 1];
    if (nov > MAP_RE_MAX_SUB + 1)
        nov = MAP_RE_MAX_SUB + 1;
    int rc = regexec(re, subject, nov, pm, 0);
    if (rc == REG_NOMATCH)
        return 0;
    if (rc != 0) {
        char msg[256];
        regerror(rc, re, msg, sizeof(msg));
        buf_printf(why, "regexec: %s", msg);
        return -1;
    }
    for (size_t i = 0; i < nov; i++) {
        if (pm[i].rm_so < 0 || pm[i].rm_eo < pm[i].rm_so || (size_t)pm[i].rm_eo > len) {
            ov[2 * i] = ov[2 * i + 1] = MAP_RE_UNSET;
        } else {
            ov[2 * i] = (size_t)pm[i].rm_so;
            ov[2 * i + 1] = (size_t)pm[i].rm_eo;
        }
    }
    return 1;
}

static void posix_free(void *re)
{
    regfree(re);
    free(re);
}

const struct map_re_engine map_regexp_engine = {
    .type = "regexp",
    .compile = posix_compile,
    .exec = posix_exec,
    .free = posix_free,
};

static int regexp_open(struct map *m, struct buf *why)
{
    return map_re_open(m, &map_regexp_engine, why);
}

const struct map_ops map_regexp_ops = {
    .type = "regexp",
    .flags = MAP_OPS_NO_FOLD | MAP_OPS_PATTERN,
    .open = regexp_open,
    .lookup = map_re_lookup,
    .close = map_re_close,
};
