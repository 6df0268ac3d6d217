/* map_query - %-template expansion with query-language quoting, and the
 * "domain" restriction, for query-based tables (map_query.h). */
#include "maps/map_query.h"

#include "maps/match_list.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

static const char hex[] = "0123456789ABCDEF";

static void put_hex(struct buf *out, unsigned char c)
{
    char e[3] = {'\\', hex[c >> 4], hex[c & 15]};
    buf_append(out, e, 3);
}

void map_query_quote(struct buf *out, const char *s, size_t len, enum map_query_quote quote)
{
    const unsigned char *p = (const unsigned char *)s;
    switch (quote) {
    case MAP_QUOTE_NONE:
        buf_append(out, s, len);
        return;
    case MAP_QUOTE_LDAP_FILTER:
        /* RFC 4515 section 3: in an assertion value '*', '(', ')', '\' and
         * NUL must be escaped as \XX; control bytes and non-ASCII bytes are
         * escaped too, so no byte reaches the server that a careless
         * decoder could misread. */
        for (size_t i = 0; i < len; i++) {
            unsigned char c = p[i];
            if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f)
                put_hex(out, c);
            else
                buf_putc(out, c);
        }
        return;
    case MAP_QUOTE_LDAP_DN:
        /* RFC 4514 section 2.4: the specials get a backslash; a leading '#'
         * or space and a trailing space too; other bytes as \XX. */
        for (size_t i = 0; i < len; i++) {
            unsigned char c = p[i];
            if (c < 0x20 || c >= 0x7f) {
                put_hex(out, c);
            } else if (strchr(",+\"\\<>;=", c) != NULL || (i == 0 && (c == '#' || c == ' ')) ||
                       (i == len - 1 && c == ' ')) {
                buf_putc(out, '\\');
                buf_putc(out, c);
            } else {
                buf_putc(out, c);
            }
        }
        return;
    }
}

int map_query_check(const char *fmt, struct buf *why)
{
    for (const char *p = fmt; (p = strchr(p, '%')) != NULL; p += 2) {
        if (p[1] == 0) {
            buf_setf(why, "'%%' at the end of \"%s\"", fmt);
            return -1;
        }
        if (strchr("%sudSUD123456789", p[1]) == NULL) {
            buf_setf(why, "unknown expansion \"%%%c\" in \"%s\"", p[1], fmt);
            return -1;
        }
    }
    return 0;
}

/* A string split at its last '@'. */
struct parts {
    const char *all, *local, *domain;
    size_t all_len, local_len, domain_len; /* domain NULL: no '@' */
};

static void split(const char *s, struct parts *p)
{
    const char *at = strrchr(s, '@');
    p->all = p->local = s;
    p->all_len = strlen(s);
    if (at == NULL) {
        p->local_len = p->all_len;
        p->domain = NULL;
        p->domain_len = 0;
    } else {
        p->local_len = (size_t)(at - s);
        p->domain = at + 1;
        p->domain_len = strlen(at + 1);
    }
}

/* label - the n-th label of the domain, counted from the right (1 = top);
 * 0 when there are fewer labels. */
static int label(const struct parts *k, int n, const char **start, size_t *len)
{
    if (k->domain == NULL)
        return 0;
    const char *end = k->domain + k->domain_len;
    for (int i = 1;; i++) {
        const char *dot = end;
        while (dot > k->domain && dot[-1] != '.')
            dot--;
        if (i == n) {
            *start = dot;
            *len = (size_t)(end - dot);
            return 1;
        }
        if (dot == k->domain)
            return 0;
        end = dot - 1;
    }
}

int map_query_expand(struct buf *out, const char *fmt, const char *value, const char *key,
                     enum map_query_quote quote)
{
    struct parts v, k;
    size_t start = out->len;
    split(value, &v);
    split(key, &k);
    for (const char *p = fmt; *p != 0; p++) {
        if (*p != '%') {
            const char *pct = strchr(p, '%');
            size_t n = pct ? (size_t)(pct - p) : strlen(p);
            buf_append(out, p, n);
            p += n - 1;
            continue;
        }
        const struct parts *src = p[1] >= 'a' && p[1] <= 'z' ? &v : &k;
        const char *s = NULL;
        size_t n = 0;
        switch (*++p) {
        case '%':
            buf_putc(out, '%');
            continue;
        case 's':
        case 'S':
            s = src->all, n = src->all_len;
            break;
        case 'u':
        case 'U':
            s = src->local, n = src->local_len;
            break;
        case 'd':
        case 'D':
            s = src->domain, n = src->domain_len;
            break;
        case 0:
            buf_truncate(out, start);
            return -1;
        default:
            if (*p < '1' || *p > '9') {
                buf_truncate(out, start);
                return -1;
            }
            if (!label(&k, *p - '0', &s, &n))
                s = NULL;
            break;
        }
        if (s == NULL || n == 0) {
            buf_truncate(out, start);
            return 0;
        }
        map_query_quote(out, s, n, quote);
    }
    return 1;
}

/* ---- the domain restriction ---- */

struct map_query_domain {
    struct match_list *list;
};

struct map_query_domain *map_query_domain_create(const char *param, const char *list,
                                                 struct buf *why)
{
    struct match_list *ml = match_list_create(param, list, 0, why);
    if (ml == NULL)
        return NULL;
    struct map_query_domain *d = xcalloc(1, sizeof(*d));
    d->list = ml;
    return d;
}

int map_query_domain_check(struct map_query_domain *d, const char *key, struct buf *why)
{
    const char *at = strrchr(key, '@');
    if (at == NULL || at == key || at[1] == 0)
        return 0;
    return match_list_domain(d->list, at + 1, why);
}

void map_query_domain_free(struct map_query_domain *d)
{
    if (d == NULL)
        return;
    match_list_free(d->list);
    free(d);
}
