/* local_addr - recipient_delimiter split, forward_path $name expansion and
 * Delivered-To: collection for local(8) (local_addr.h).
 */
#include "mail/local_addr.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#define EXPAND_NEST_MAX 10   /* ${a?${b?${c...}}} depth */
#define DELIVERED_MAX   2048 /* longer Delivered-To: values are not addresses */

static void lower(struct buf *b)
{
    for (size_t i = 0; i < b->len; i++)
        b->data[i] = (char)tolower((unsigned char)b->data[i]);
}

void local_addr_init(struct local_addr *a)
{
    buf_init(&a->local);
    buf_init(&a->user);
    buf_init(&a->extension);
    buf_init(&a->domain);
    a->delim[0] = a->delim[1] = 0;
    a->has_ext = 0;
}

void local_addr_free(struct local_addr *a)
{
    buf_free(&a->local);
    buf_free(&a->user);
    buf_free(&a->extension);
    buf_free(&a->domain);
}

/* never_split - Postfix split_addr(): these names keep their delimiters. */
static int never_split(const char *local, size_t len, const char *delims)
{
    if (strcasecmp(local, "postmaster") == 0 || strcasecmp(local, "mailer-daemon") == 0 ||
        strcasecmp(local, "double-bounce") == 0)
        return 1;
    /* Mailing-list conventions, when '-' could split them. */
    if (strchr(delims, '-') != NULL && (strncasecmp(local, "owner-", 6) == 0 ||
                                        (len > 8 && strcasecmp(local + len - 8, "-request") == 0)))
        return 1;
    return 0;
}

int local_addr_split(const char *addr, const char *delims, struct local_addr *a)
{
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);

    buf_reset(&a->local);
    buf_append(&a->local, addr, llen);
    lower(&a->local);
    buf_set(&a->domain, at ? at + 1 : "");
    lower(&a->domain);
    buf_reset(&a->extension);
    buf_set(&a->user, a->local.data);
    a->delim[0] = 0;
    a->has_ext = 0;

    if (delims == NULL || *delims == 0 || never_split(a->local.data, llen, delims))
        return 0;
    size_t cut = strcspn(a->local.data, delims);
    if (cut == 0 || cut == llen)
        return 0;
    buf_truncate(&a->user, cut);
    buf_set(&a->extension, a->local.data + cut + 1);
    a->delim[0] = a->local.data[cut];
    a->has_ext = 1;
    return 1;
}

/* ---- forward_path expansion ---------------------------------------------- */

struct expand {
    const struct local_expand_attr *attr;
    const char *filter;
    struct buf *out;
    struct buf *why;
};

static int is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* lookup - the attribute called name[0..len); NULL for an unknown name too
 * (Postfix treats both as undefined). */
static const char *lookup(const struct local_expand_attr *a, const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t off;
    } table[] = {
        {"user", offsetof(struct local_expand_attr, user)},
        {"home", offsetof(struct local_expand_attr, home)},
        {"shell", offsetof(struct local_expand_attr, shell)},
        {"recipient", offsetof(struct local_expand_attr, recipient)},
        {"extension", offsetof(struct local_expand_attr, extension)},
        {"domain", offsetof(struct local_expand_attr, domain)},
        {"local", offsetof(struct local_expand_attr, local)},
        {"recipient_delimiter", offsetof(struct local_expand_attr, recipient_delimiter)},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0)
            return *(const char *const *)((const char *)a + table[i].off);
    return NULL;
}

static int put_bytes(struct expand *e, const char *p, size_t n, int filtered)
{
    if (e->out->len + n > LOCAL_EXPAND_MAX) {
        buf_setf(e->why, "expansion longer than %d bytes", LOCAL_EXPAND_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (filtered && e->filter && (c == 0 || strchr(e->filter, c) == NULL))
            c = '_';
        buf_putc(e->out, c);
    }
    return 0;
}

static int expand_text(struct expand *e, const char *s, size_t len, int nest);

/* expand_ref - s[0..len) is what follows '$'; *used is set to the bytes
 * consumed. 0, 1 (undefined) or -1. */
static int expand_ref(struct expand *e, const char *s, size_t len, size_t *used, int nest)
{
    if (len > 0 && s[0] == '$') {
        *used = 1;
        return put_bytes(e, "$", 1, 0);
    }
    if (len > 0 && (s[0] == '{' || s[0] == '(')) {
        char open = s[0], close = open == '{' ? '}' : ')';
        size_t i = 1, depth = 1;
        size_t name_end;
        while (i < len && is_name_char(s[i]))
            i++;
        name_end = i;
        if (name_end == 1) {
            buf_setf(e->why, "missing name after \"$%c\"", open);
            return -1;
        }
        char op = 0;
        size_t text_start = i;
        if (i < len && (s[i] == '?' || s[i] == ':')) {
            op = s[i];
            text_start = ++i;
        } else if (i >= len) {
            buf_setf(e->why, "missing \"%c\"", close);
            return -1;
        } else if (s[i] != close) {
            buf_setf(e->why, "bad character after \"$%c%.*s\"", open, (int)(name_end - 1), s + 1);
            return -1;
        }
        for (; i < len; i++) {
            if (s[i] == open)
                depth++;
            else if (s[i] == close && --depth == 0)
                break;
        }
        if (i >= len) {
            buf_setf(e->why, "missing \"%c\"", close);
            return -1;
        }
        *used = i + 1;
        const char *v = lookup(e->attr, s + 1, name_end - 1);
        if (op == 0) {
            if (v == NULL)
                return 1;
            return put_bytes(e, v, strlen(v), 1);
        }
        int defined = v != NULL && *v != 0;
        if ((op == '?') == defined)
            return expand_text(e, s + text_start, i - text_start, nest + 1);
        return 0;
    }
    size_t i = 0;
    while (i < len && is_name_char(s[i]))
        i++;
    if (i == 0) {
        buf_setf(e->why, "\"$\" not followed by a name");
        return -1;
    }
    *used = i;
    const char *v = lookup(e->attr, s, i);
    if (v == NULL)
        return 1;
    return put_bytes(e, v, strlen(v), 1);
}

static int expand_text(struct expand *e, const char *s, size_t len, int nest)
{
    if (nest > EXPAND_NEST_MAX) {
        buf_setf(e->why, "more than %d nested ${name?text} levels", EXPAND_NEST_MAX);
        return -1;
    }
    int undefined = 0;
    size_t i = 0;
    while (i < len) {
        const char *dollar = memchr(s + i, '$', len - i);
        size_t lit = dollar ? (size_t)(dollar - (s + i)) : len - i;
        if (put_bytes(e, s + i, lit, 0) < 0)
            return -1;
        i += lit;
        if (i == len)
            break;
        size_t used = 0;
        int rc = expand_ref(e, s + i + 1, len - i - 1, &used, nest);
        if (rc < 0)
            return -1;
        if (rc > 0)
            undefined = 1; /* keep going: a syntax error later still counts */
        i += 1 + used;
    }
    return undefined;
}

int local_addr_expand(const char *pattern, const struct local_expand_attr *attr, const char *filter,
                      struct buf *out, struct buf *why)
{
    struct expand e = {attr, filter, out, why};
    buf_reset(out);
    return expand_text(&e, pattern, strlen(pattern), 0);
}

/* ---- Delivered-To: ------------------------------------------------------- */

static void add_delivered(struct argv *out, const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
        v++;
        n -= 2;
    }
    if (n == 0 || n > DELIVERED_MAX || memchr(v, 0, n) != NULL)
        return;
    argv_addn(out, v, n);
    char *s = out->argv[out->argc - 1];
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

int local_addr_delivered_to(const char *header, size_t len, struct argv *out)
{
    static const char name[] = "delivered-to:";
    const size_t nlen = sizeof(name) - 1;
    struct buf value = BUF_INIT;
    int found = 0, in_field = 0;
    size_t pos = 0;

    while (pos < len) {
        const char *nl = memchr(header + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - header) : len;
        size_t n = end - pos;
        const char *line = header + pos;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        pos = end + 1;
        if (n == 0)
            break; /* the empty line that ends the header */
        if (line[0] == ' ' || line[0] == '\t') {
            /* RFC 5322 2.2.3: unfolding removes the line break only. */
            if (in_field && value.len <= DELIVERED_MAX)
                buf_append(&value, line, n);
            continue;
        }
        if (in_field) {
            if (out->argc < LOCAL_DELIVERED_TO_MAX) {
                size_t before = out->argc;
                add_delivered(out, value.data, value.len);
                found += (int)(out->argc - before);
            }
            in_field = 0;
        }
        if (n >= nlen && strncasecmp(line, name, nlen) == 0) {
            in_field = 1;
            buf_reset(&value);
            buf_append(&value, line + nlen, n - nlen);
        } else if (n >= nlen - 1 && strncasecmp(line, name, nlen - 1) == 0) {
            /* "Delivered-To  :" - RFC 5322 4.5 allows blanks before the colon. */
            size_t i = nlen - 1;
            while (i < n && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (i < n && line[i] == ':') {
                in_field = 1;
                buf_reset(&value);
                buf_append(&value, line + i + 1, n - i - 1);
            }
        }
    }
    if (in_field && out->argc < LOCAL_DELIVERED_TO_MAX) {
        size_t before = out->argc;
        add_delivered(out, value.data, value.len);
        found += (int)(out->argc - before);
    }
    buf_free(&value);
    return found;
}

int local_addr_delivered_find(const struct argv *list, const char *addr)
{
    for (size_t i = 0; i < list->argc; i++)
        if (strcasecmp(list->argv[i], addr) == 0)
            return 1;
    return 0;
}
