/* config - main.cf-style files: logical lines, "name = value" pairs kept raw
 * in order of first appearance, and $name expansion at the time of use.
 *
 * The syntax and the expansion forms follow Postfix main.cf (postconf(5)),
 * including the Postfix 3 forms ${name?{text}}, ${name:{text}} and
 * ${name?{text1}:{text2}}. Everything read is bounded: a logical line, an
 * expanded value, the nesting depth and the total expansion work, so a
 * hostile file can neither exhaust memory nor loop.
 */
#include "conf/config.h"
#include "conf/params.h"
#include "util/alloc.h"
#include "util/argv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Nesting of $name references and ${...} text, together. */
#define EXPAND_MAX_DEPTH 100
/* Bytes produced across one expansion, including discarded ${x?..} tests:
 * stops exponential blow-up (a=$b$b, b=$c$c, ...) long before it hurts. */
#define EXPAND_MAX_WORK (16 * 1024 * 1024)

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static int is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int config_valid_name(const char *name, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char((unsigned char)name[i]))
            return 0;
    return 1;
}

/* ---- storage ---------------------------------------------------------- */

/* Open addressing; a slot holds entry index + 1, 0 is empty. */
struct config_index {
    size_t *slots;
    size_t nslots; /* power of two */
};

static size_t name_hash(const char *s, size_t n)
{
    size_t h = (size_t)14695981039346656037ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= (size_t)1099511628211ULL;
    }
    return h;
}

static void index_free(struct config *c)
{
    struct config_index *ix = c->index;
    if (ix) {
        free(ix->slots);
        free(ix);
    }
    c->index = NULL;
}

static void index_put(struct config_index *ix, const char *name, size_t pos)
{
    size_t mask = ix->nslots - 1;
    size_t i = name_hash(name, strlen(name)) & mask;
    while (ix->slots[i])
        i = (i + 1) & mask;
    ix->slots[i] = pos + 1;
}

/* Keep the table at most half full; rebuilt whole (entries are few). */
static void index_rebuild(struct config *c, size_t want)
{
    index_free(c);
    struct config_index *ix = xcalloc(1, sizeof(*ix));
    size_t n = 16;
    while (n < want * 2 && n <= SIZE_MAX / 4)
        n *= 2;
    ix->nslots = n;
    ix->slots = xcalloc(n, sizeof(size_t));
    for (size_t i = 0; i < c->count; i++)
        index_put(ix, c->ents[i].name, i);
    c->index = ix;
}

static long find_pos(const struct config *cc, const char *name, size_t len)
{
    struct config *c = (struct config *)cc; /* the index is a cache */
    if (c->count == 0)
        return -1;
    if (c->index == NULL)
        index_rebuild(c, c->count);
    struct config_index *ix = c->index;
    size_t mask = ix->nslots - 1;
    for (size_t i = name_hash(name, len) & mask; ix->slots[i]; i = (i + 1) & mask) {
        const char *n = c->ents[ix->slots[i] - 1].name;
        if (strncmp(n, name, len) == 0 && n[len] == 0)
            return (long)(ix->slots[i] - 1);
    }
    return -1;
}

struct config *config_alloc(void)
{
    return xcalloc(1, sizeof(struct config));
}

static void entry_free(struct config_entry *e)
{
    free(e->name);
    free(e->value);
    free(e->file);
}

void config_free(struct config *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        entry_free(&c->ents[i]);
    free(c->ents);
    index_free(c);
    free(c);
}

const struct config_entry *config_find(const struct config *c, const char *name)
{
    long pos = find_pos(c, name, strlen(name));
    return pos < 0 ? NULL : &c->ents[pos];
}

void config_set(struct config *c, const char *name, const char *value, const char *file, int line)
{
    long pos = find_pos(c, name, strlen(name));
    if (pos >= 0) {
        struct config_entry *e = &c->ents[pos];
        free(e->value);
        free(e->file);
        e->value = xstrdup(value);
        e->file = file ? xstrdup(file) : NULL;
        e->line = line;
        return;
    }
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        c->ents = xreallocarray(c->ents, cap, sizeof(*c->ents));
        c->cap = cap;
    }
    struct config_entry *e = &c->ents[c->count++];
    e->name = xstrdup(name);
    e->value = xstrdup(value);
    e->file = file ? xstrdup(file) : NULL;
    e->line = line;
    struct config_index *ix = c->index;
    if (ix == NULL || c->count * 2 > ix->nslots)
        index_rebuild(c, c->count);
    else
        index_put(ix, e->name, c->count - 1);
}

int config_unset(struct config *c, const char *name)
{
    long pos = find_pos(c, name, strlen(name));
    if (pos < 0)
        return 0;
    entry_free(&c->ents[pos]);
    memmove(&c->ents[pos], &c->ents[pos + 1], (c->count - (size_t)pos - 1) * sizeof(*c->ents));
    c->count--;
    index_free(c);
    return 1;
}

/* ---- parsing ---------------------------------------------------------- */

struct pending {
    char *name;
    char *value;
    int line;
};

/* finish_line - split one logical line into name and value. */
static int finish_line(struct buf *logical, int line, const char *filename, struct pending *out,
                       struct buf *why)
{
    char *s = logical->data;
    char *eq = strchr(s, '=');
    if (eq == NULL) {
        buf_setf(why, "%s:%d: missing '=' after parameter name", filename, line);
        return -1;
    }
    char *name_end = eq;
    while (name_end > s && is_space((unsigned char)name_end[-1]))
        name_end--;
    size_t name_len = (size_t)(name_end - s);
    if (name_len == 0) {
        buf_setf(why, "%s:%d: missing parameter name before '='", filename, line);
        return -1;
    }
    if (!config_valid_name(s, name_len)) {
        buf_setf(why, "%s:%d: bad parameter name: %.*s", filename, line,
                 (int)(name_len > 100 ? 100 : name_len), s);
        return -1;
    }
    char *v = eq + 1;
    while (*v && is_space((unsigned char)*v))
        v++;
    size_t vlen = strlen(v);
    while (vlen && is_space((unsigned char)v[vlen - 1]))
        vlen--;
    out->name = xmemdup(s, name_len);
    out->value = xmemdup(v, vlen);
    out->line = line;
    return 0;
}

static void pending_free(struct pending *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].value);
    }
    free(p);
}

int config_parse(struct config *c, const char *text, size_t len, const char *filename,
                 struct buf *why)
{
    struct pending *pend = NULL;
    size_t npend = 0, cap = 0;
    struct buf logical = BUF_INIT;
    int logical_line = 0; /* 0: no logical line open */
    int lineno = 0;
    int ret = -1;
    size_t off = 0;

    while (off < len || logical_line) {
        const char *p = text + off;
        size_t n = 0;
        int at_eof = off >= len;
        if (!at_eof) {
            const char *nl = memchr(p, '\n', len - off);
            n = nl ? (size_t)(nl - p) : len - off;
            off += nl ? n + 1 : n;
            if (lineno == INT32_MAX) {
                buf_setf(why, "%s:%d: too many lines", filename, lineno);
                goto out;
            }
            lineno++;
            if (memchr(p, 0, n) != NULL) {
                buf_setf(why, "%s:%d: NUL byte in line", filename, lineno);
                goto out;
            }
        }
        size_t skip = 0;
        while (skip < n && is_space((unsigned char)p[skip]))
            skip++;
        /* Blank and comment lines are ignored and do not end a logical line. */
        if (!at_eof && (skip == n || p[skip] == '#'))
            continue;
        if (!at_eof && skip > 0) {
            if (!logical_line) {
                buf_setf(why, "%s:%d: continuation line before any parameter", filename, lineno);
                goto out;
            }
            size_t tail = logical.len;
            while (tail && is_space((unsigned char)logical.data[tail - 1]))
                tail--;
            buf_truncate(&logical, tail);
            if (n - skip > CONFIG_MAX_LINE || logical.len + 1 + (n - skip) > CONFIG_MAX_LINE) {
                buf_setf(why, "%s:%d: logical line longer than %d bytes", filename, logical_line,
                         CONFIG_MAX_LINE);
                goto out;
            }
            buf_putc(&logical, ' ');
            buf_append(&logical, p + skip, n - skip);
            continue;
        }
        /* A new logical line (or the end) completes the previous one. */
        if (logical_line) {
            if (npend == cap) {
                cap = cap ? cap * 2 : 32;
                pend = xreallocarray(pend, cap, sizeof(*pend));
            }
            if (finish_line(&logical, logical_line, filename, &pend[npend], why) < 0)
                goto out;
            npend++;
            logical_line = 0;
        }
        if (at_eof)
            break;
        if (n > CONFIG_MAX_LINE) {
            buf_setf(why, "%s:%d: logical line longer than %d bytes", filename, lineno,
                     CONFIG_MAX_LINE);
            goto out;
        }
        buf_reset(&logical);
        buf_append(&logical, p, n);
        logical_line = lineno;
    }
    for (size_t i = 0; i < npend; i++)
        config_set(c, pend[i].name, pend[i].value, filename, pend[i].line);
    ret = 0;
out:
    pending_free(pend, npend);
    buf_free(&logical);
    return ret;
}

int config_read_text(const char *path, struct buf *out, struct buf *why)
{
    buf_reset(out);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        buf_setf(why, "open %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        buf_setf(why, "open %s: not a regular file", path);
        close(fd);
        errno = EINVAL;
        return -1;
    }
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            buf_setf(why, "read %s: %s", path, strerror(e));
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        if ((size_t)n > CONFIG_MAX_FILE - out->len) {
            buf_setf(why, "%s: file larger than %d bytes", path, CONFIG_MAX_FILE);
            close(fd);
            errno = EFBIG;
            return -1;
        }
        buf_append(out, chunk, (size_t)n);
    }
    close(fd);
    return 0;
}

int config_read_file(struct config *c, const char *path, struct buf *why)
{
    struct buf text = BUF_INIT;
    int ret = -1;
    if (config_read_text(path, &text, why) == 0)
        ret = config_parse(c, buf_cstr(&text), text.len, path, why);
    buf_free(&text);
    return ret;
}

/* ---- expansion -------------------------------------------------------- */

struct expand {
    const struct config *c;
    const char *stack[EXPAND_MAX_DEPTH + 1]; /* parameters being expanded */
    size_t stack_len[EXPAND_MAX_DEPTH + 1];
    int names;
    int depth; /* names plus nested ${...} text */
    size_t work;
    struct buf *why;
};

static int expand_text(struct expand *x, const char *s, size_t n, struct buf *out);

/* Errors say which parameter was being expanded, when there is one. */
static void expand_error(struct expand *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void expand_error(struct expand *x, const char *fmt, ...)
{
    if (x->why == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    buf_reset(x->why);
    if (x->names > 0)
        buf_printf(x->why, "parameter %.*s: ", (int)x->stack_len[x->names - 1],
                   x->stack[x->names - 1]);
    buf_vprintf(x->why, fmt, ap);
    va_end(ap);
}

/* Both the text scanned and the text produced count as work, so neither
 * many references to a long value nor many references to an empty one can
 * stall the process. */
static int charge(struct expand *x, size_t n)
{
    if (n > EXPAND_MAX_WORK - x->work) {
        expand_error(x, "expansion needs more than %d bytes of work (runaway references?)",
                     EXPAND_MAX_WORK);
        return -1;
    }
    x->work += n;
    return 0;
}

static int put(struct expand *x, struct buf *out, const char *s, size_t n)
{
    if (charge(x, n) < 0)
        return -1;
    if (n > CONFIG_MAX_VALUE - out->len) {
        expand_error(x, "expanded value longer than %d bytes", CONFIG_MAX_VALUE);
        return -1;
    }
    buf_append(out, s, n);
    return 0;
}

/* match_close - index of the bracket that closes s[start]; -1 if none. */
static long match_close(const char *s, size_t n, size_t start)
{
    char open = s[start], close = open == '{' ? '}' : ')';
    size_t depth = 0;
    for (size_t i = start; i < n; i++) {
        if (s[i] == open)
            depth++;
        else if (s[i] == close && --depth == 0)
            return (long)i;
    }
    return -1;
}

static int expand_name(struct expand *x, const char *name, size_t len, struct buf *out)
{
    for (int i = 0; i < x->names; i++) {
        if (x->stack_len[i] == len && memcmp(x->stack[i], name, len) == 0) {
            if (x->why) {
                buf_reset(x->why);
                buf_printf(x->why, "parameter %.*s: expansion loop: ", (int)len, name);
                for (int j = i; j < x->names; j++)
                    buf_printf(x->why, "%.*s -> ", (int)x->stack_len[j], x->stack[j]);
                buf_printf(x->why, "%.*s", (int)len, name);
            }
            return -1;
        }
    }
    if (x->depth >= EXPAND_MAX_DEPTH) {
        if (x->why) {
            buf_reset(x->why);
            buf_printf(x->why, "parameter %.*s: more than %d levels of nested expansion", (int)len,
                       name, EXPAND_MAX_DEPTH);
        }
        return -1;
    }
    if (charge(x, 1) < 0)
        return -1;
    x->stack[x->names] = name;
    x->stack_len[x->names] = len;
    x->names++;
    x->depth++;

    int ret = 0;
    long pos = find_pos(x->c, name, len);
    const struct param_def *p = NULL;
    char key[128];
    if (len < sizeof(key)) {
        memcpy(key, name, len);
        key[len] = 0;
        p = param_find(key);
    }
    if (p != NULL && p->raw) {
        /* Expanded later by its user, with names of its own ($home, ...). */
        const char *v = pos >= 0 ? x->c->ents[pos].value : param_default(p);
        ret = put(x, out, v, strlen(v));
    } else if (pos >= 0) {
        const char *v = x->c->ents[pos].value;
        ret = expand_text(x, v, strlen(v), out);
    } else if (p == NULL) {
        ret = 0; /* unknown and unset: empty, as in Postfix */
    } else if (param_derived_from(p) != NULL) {
        const char *src = param_derived_from(p);
        struct buf sv = BUF_INIT, d = BUF_INIT;
        ret = expand_name(x, src, strlen(src), &sv);
        if (ret == 0) {
            param_derive(p, buf_cstr(&sv), &d);
            ret = put(x, out, buf_cstr(&d), d.len);
        }
        buf_free(&sv);
        buf_free(&d);
    } else if (p->def_fn != NULL) {
        const char *v = param_default(p); /* computed: taken literally */
        ret = put(x, out, v, strlen(v));
    } else {
        const char *v = param_default(p);
        ret = expand_text(x, v, strlen(v), out);
    }
    x->names--;
    x->depth--;
    return ret;
}

static size_t skip_space(const char *s, size_t n, size_t i)
{
    while (i < n && is_space((unsigned char)s[i]))
        i++;
    return i;
}

/* expand_braced - the inside of ${...} or $(...): name, name?text,
 * name:text, and the Postfix 3 forms name?{t1}, name:{t1}, name?{t1}:{t2}. */
static int expand_braced(struct expand *x, const char *in, size_t m, struct buf *out)
{
    size_t k = 0;
    while (k < m && is_name_char((unsigned char)in[k]))
        k++;
    if (k == 0) {
        expand_error(x, "missing parameter name after '${' or '$('");
        return -1;
    }
    if (k == m)
        return expand_name(x, in, k, out);
    char op = in[k];
    if (op != '?' && op != ':') {
        expand_error(x, "unexpected '%c' after parameter name \"%.*s\"", op,
                     (int)(k > 100 ? 100 : k), in);
        return -1;
    }
    const char *text = in + k + 1;
    size_t tlen = m - k - 1;
    const char *t1 = text, *t2 = NULL;
    size_t l1 = tlen, l2 = 0;
    size_t j = skip_space(text, tlen, 0);
    if (j < tlen && text[j] == '{') {
        long e1 = match_close(text, tlen, j);
        if (e1 < 0) {
            expand_error(x, "unbalanced '{' after \"%.*s%c\"", (int)(k > 100 ? 100 : k), in, op);
            return -1;
        }
        t1 = text + j + 1;
        l1 = (size_t)e1 - j - 1;
        j = skip_space(text, tlen, (size_t)e1 + 1);
        if (j < tlen && op == '?' && text[j] == ':') {
            j = skip_space(text, tlen, j + 1);
            long e2 = j < tlen && text[j] == '{' ? match_close(text, tlen, j) : -1;
            if (e2 < 0) {
                expand_error(x, "expected '{text}' after ':' in \"${%.*s?{...}:\"",
                             (int)(k > 100 ? 100 : k), in);
                return -1;
            }
            t2 = text + j + 1;
            l2 = (size_t)e2 - j - 1;
            j = skip_space(text, tlen, (size_t)e2 + 1);
        }
        if (j < tlen) {
            expand_error(x, "unexpected text after '}' in \"${%.*s%c...}\"",
                         (int)(k > 100 ? 100 : k), in, op);
            return -1;
        }
    }
    struct buf v = BUF_INIT;
    int ret = expand_name(x, in, k, &v);
    int nonempty = v.len > 0;
    buf_free(&v);
    if (ret < 0)
        return -1;
    const char *pick = NULL;
    size_t plen = 0;
    if (op == '?' && nonempty) {
        pick = t1;
        plen = l1;
    } else if (op == '?' && t2 != NULL) {
        pick = t2;
        plen = l2;
    } else if (op == ':' && !nonempty) {
        pick = t1;
        plen = l1;
    }
    if (pick == NULL)
        return 0;
    if (x->depth >= EXPAND_MAX_DEPTH) {
        expand_error(x, "more than %d levels of nested expansion", EXPAND_MAX_DEPTH);
        return -1;
    }
    x->depth++;
    ret = expand_text(x, pick, plen, out);
    x->depth--;
    return ret;
}

static int expand_text(struct expand *x, const char *s, size_t n, struct buf *out)
{
    if (charge(x, n) < 0)
        return -1;
    size_t i = 0;
    while (i < n) {
        const char *d = memchr(s + i, '$', n - i);
        size_t lit = d ? (size_t)(d - (s + i)) : n - i;
        if (put(x, out, s + i, lit) < 0)
            return -1;
        i += lit;
        if (i >= n)
            break;
        i++; /* the '$' */
        char c = i < n ? s[i] : 0;
        if (c == '{' || c == '(') {
            long end = match_close(s, n, i);
            if (end < 0) {
                expand_error(x, "unbalanced '%c' in \"%.*s\"", c, (int)(n > 100 ? 100 : n), s);
                return -1;
            }
            if (expand_braced(x, s + i + 1, (size_t)end - i - 1, out) < 0)
                return -1;
            i = (size_t)end + 1;
        } else if (i < n && is_name_char((unsigned char)c)) {
            size_t j = i;
            while (j < n && is_name_char((unsigned char)s[j]))
                j++;
            if (expand_name(x, s + i, j - i, out) < 0)
                return -1;
            i = j;
        } else {
            /* "$$" is a literal '$'; so is a '$' that starts no reference. */
            if (put(x, out, "$", 1) < 0)
                return -1;
            if (c == '$')
                i++;
        }
    }
    return 0;
}

static void expand_init(struct expand *x, const struct config *c, struct buf *why)
{
    memset(x, 0, sizeof(*x));
    x->c = c;
    x->why = why;
}

int config_expand(const struct config *c, const char *value, struct buf *out, struct buf *why)
{
    struct expand x;
    expand_init(&x, c, why);
    buf_reset(out);
    if (expand_text(&x, value, strlen(value), out) < 0) {
        buf_reset(out);
        return -1;
    }
    return 0;
}

int config_lookup(const struct config *c, const char *name, struct buf *out, struct buf *why)
{
    buf_reset(out);
    if (config_find(c, name) == NULL && param_find(name) == NULL) {
        buf_setf(why, "%s: unknown parameter", name);
        return -1;
    }
    struct expand x;
    expand_init(&x, c, why);
    if (expand_name(&x, name, strlen(name), out) < 0) {
        buf_reset(out);
        return -1;
    }
    return 0;
}

/* ---- references ------------------------------------------------------- */

static void refs_text(const char *s, size_t n, struct argv *names, int depth)
{
    int brackets_ok = 1; /* after one unbalanced bracket, stop matching: stays linear */
    size_t i = 0;
    while (i < n) {
        const char *d = memchr(s + i, '$', n - i);
        if (d == NULL)
            return;
        i = (size_t)(d - s) + 1;
        if (i >= n)
            return;
        char c = s[i];
        if (c == '$') {
            i++;
        } else if ((c == '{' || c == '(') && brackets_ok) {
            long end = match_close(s, n, i);
            if (end < 0) {
                brackets_ok = 0;
                continue;
            }
            const char *in = s + i + 1;
            size_t m = (size_t)end - i - 1, k = 0;
            while (k < m && is_name_char((unsigned char)in[k]))
                k++;
            if (k > 0)
                argv_addn(names, in, k);
            if (k < m && (in[k] == '?' || in[k] == ':') && depth < EXPAND_MAX_DEPTH)
                refs_text(in + k + 1, m - k - 1, names, depth + 1);
            i = (size_t)end + 1;
        } else if (is_name_char((unsigned char)c)) {
            size_t j = i;
            while (j < n && is_name_char((unsigned char)s[j]))
                j++;
            argv_addn(names, s + i, j - i);
            i = j;
        }
    }
}

void config_refs(const char *value, struct argv *names)
{
    refs_text(value, strlen(value), names, 0);
}
