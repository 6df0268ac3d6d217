/* resolve - the recipient resolver: mydestination matching and the
 * transport:nexthop choice (resolve.h). Addresses are in internal form
 * (addr.h): the domain is everything after the last '@'.
 */
#include "mail/resolve.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "maps/map.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/strutil.h"

#define DOMAIN_MAX 1024 /* longer "domains" are not domains: never local */

struct dest_entry {
    int negate;
    char *pattern;   /* lower-cased domain or ".domain"; NULL for a table */
    struct map *map; /* type:name entry */
};

struct resolver {
    struct dest_entry *dest;
    size_t ndest;
    char *local_transport, *local_nexthop;
    char *default_transport, *default_nexthop;
    char *relayhost;
    char *myhostname;
};

int resolve_transport_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > RESOLVE_TRANSPORT_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return 0;
    return 1;
}

int resolve_split_transport(const char *value, struct buf *transport, struct buf *nexthop,
                            struct buf *why)
{
    const char *colon = strchr(value, ':');
    size_t tlen = colon ? (size_t)(colon - value) : strlen(value);

    buf_reset(transport);
    buf_append(transport, value, tlen);
    buf_set(nexthop, colon ? colon + 1 : "");
    if (!resolve_transport_name_ok(transport->data)) {
        buf_setf(why, "bad transport name \"%s\" in \"%s\"", transport->data, value);
        return -1;
    }
    return 0;
}

static void free_dest(struct resolver *r)
{
    for (size_t i = 0; i < r->ndest; i++) {
        free(r->dest[i].pattern);
        if (r->dest[i].map)
            map_close(r->dest[i].map);
    }
    free(r->dest);
    r->dest = NULL;
    r->ndest = 0;
}

void resolver_free(struct resolver *r)
{
    if (r == NULL)
        return;
    free_dest(r);
    free(r->local_transport);
    free(r->local_nexthop);
    free(r->default_transport);
    free(r->default_nexthop);
    free(r->relayhost);
    free(r->myhostname);
    free(r);
}

/* split_list - a Postfix list: items separated by commas and white space,
 * except inside {braces}, so "inline:{ a=1, b=2 }" stays one item. An
 * unbalanced brace is an error. */
static struct argv *split_list(const char *list, struct buf *why)
{
    struct argv *items = argv_alloc();
    const char *p = list;

    for (;;) {
        while (*p && strchr(", \t\r\n", *p))
            p++;
        if (*p == 0)
            break;
        const char *start = p;
        int depth = 0;
        for (; *p && (depth > 0 || !strchr(", \t\r\n", *p)); p++) {
            if (*p == '{')
                depth++;
            else if (*p == '}' && --depth < 0)
                break;
        }
        if (depth != 0) {
            buf_setf(why, "mydestination: unbalanced braces in \"%s\"", list);
            argv_free(items);
            return NULL;
        }
        argv_addn(items, start, (size_t)(p - start));
    }
    return items;
}

/* parse_dest - the mydestination list into r->dest. */
static int parse_dest(struct resolver *r, const char *list, struct buf *why)
{
    struct argv *items = split_list(list, why);
    int rc = 0;

    if (items == NULL)
        return -1;

    r->dest = xcalloc(items->argc ? items->argc : 1, sizeof(*r->dest));
    for (size_t i = 0; i < items->argc; i++) {
        const char *s = items->argv[i];
        struct dest_entry *e = &r->dest[r->ndest];
        if (*s == '!') {
            e->negate = 1;
            s++;
        }
        if (*s == 0) {
            buf_setf(why, "mydestination: empty pattern after \"!\"");
            rc = -1;
            break;
        }
        if (*s == '/') {
            /* Postfix reads patterns from such a file; inside the chroot the
             * path would not even resolve, so refuse rather than ignore it. */
            buf_setf(why, "mydestination: \"%s\": /file/name patterns are not supported", s);
            rc = -1;
            break;
        }
        if (strchr(s, ':') != NULL) {
            struct buf mwhy = BUF_INIT;
            e->map = map_open(s, MAP_FOLD_CASE, &mwhy);
            if (e->map == NULL) {
                buf_setf(why, "mydestination: %s", buf_cstr(&mwhy));
                buf_free(&mwhy);
                rc = -1;
                break;
            }
            buf_free(&mwhy);
        } else {
            e->pattern = str_lower(xstrdup(s));
            size_t n = strlen(e->pattern);
            /* "example.com." names the same domain as "example.com" */
            if (n > 1 && e->pattern[n - 1] == '.')
                e->pattern[n - 1] = 0;
        }
        r->ndest++;
    }
    argv_free(items);
    return rc;
}

struct resolver *resolver_create(const struct resolve_params *p, struct buf *why)
{
    struct resolver *r = xcalloc(1, sizeof(*r));
    struct buf t = BUF_INIT, n = BUF_INIT, w = BUF_INIT;

    if (resolve_split_transport(p->local_transport, &t, &n, &w) < 0) {
        buf_setf(why, "local_transport: %s", buf_cstr(&w));
        goto fail;
    }
    r->local_transport = xstrdup(t.data);
    r->local_nexthop = xstrdup(n.data);
    if (resolve_split_transport(p->default_transport, &t, &n, &w) < 0) {
        buf_setf(why, "default_transport: %s", buf_cstr(&w));
        goto fail;
    }
    r->default_transport = xstrdup(t.data);
    r->default_nexthop = xstrdup(n.data);
    r->relayhost = xstrdup(p->relayhost ? p->relayhost : "");
    r->myhostname = xstrdup(p->myhostname ? p->myhostname : "");
    if (parse_dest(r, p->mydestination ? p->mydestination : "", why) < 0)
        goto fail;
    buf_free(&t);
    buf_free(&n);
    buf_free(&w);
    return r;
fail:
    buf_free(&t);
    buf_free(&n);
    buf_free(&w);
    resolver_free(r);
    return NULL;
}

void resolve_result_init(struct resolve_result *res)
{
    buf_init(&res->transport);
    buf_init(&res->nexthop);
    res->class = RESOLVE_CLASS_DEFAULT;
}

void resolve_result_free(struct resolve_result *res)
{
    buf_free(&res->transport);
    buf_free(&res->nexthop);
}

/* table_match - domain, then ".parent" for each parent: 1, 0, -1 + why. */
static int table_match(struct map *m, const char *domain, struct buf *why)
{
    struct buf value = BUF_INIT, key = BUF_INIT;
    int rc = map_lookup(m, domain, &value);
    for (const char *p = strchr(domain, '.'); rc == 0 && p != NULL; p = strchr(p + 1, '.')) {
        if (p[1] == 0)
            break;
        buf_set(&key, p);
        rc = map_lookup(m, key.data, &value);
    }
    if (rc < 0)
        buf_setf(why, "%s: %s", m->spec, map_error(m));
    buf_free(&value);
    buf_free(&key);
    return rc;
}

/* pattern_match - "domain" exactly, ".domain" any subdomain of it. */
static int pattern_match(const char *pattern, const char *domain)
{
    if (*pattern == '.') {
        size_t pl = strlen(pattern), dl = strlen(domain);
        return dl > pl && strcmp(domain + dl - pl, pattern) == 0;
    }
    return strcmp(pattern, domain) == 0;
}

int resolve_is_local_domain(struct resolver *r, const char *domain, struct buf *why)
{
    char lower[DOMAIN_MAX + 1];
    size_t n = strlen(domain);

    if (n == 0 || n > DOMAIN_MAX || *domain == '[')
        return 0;
    memcpy(lower, domain, n + 1);
    str_lower(lower);
    for (size_t i = 0; i < r->ndest; i++) {
        const struct dest_entry *e = &r->dest[i];
        int m = e->map ? table_match(e->map, lower, why) : pattern_match(e->pattern, lower);
        if (m < 0)
            return -1;
        if (m > 0)
            return e->negate ? 0 : 1;
    }
    return 0;
}

int resolve_addr(struct resolver *r, const char *addr, struct resolve_result *out, struct buf *why)
{
    const char *at = strrchr(addr, '@');
    struct buf domain = BUF_INIT;
    int local;

    if (at != NULL) {
        buf_set(&domain, at + 1);
        /* RFC 1034 3.1: a trailing dot makes a name absolute; same domain. */
        if (domain.len > 0 && domain.data[domain.len - 1] == '.')
            buf_truncate(&domain, domain.len - 1);
    }
    if (domain.len == 0) {
        local = 1;
    } else {
        local = resolve_is_local_domain(r, domain.data, why);
        if (local < 0) {
            buf_free(&domain);
            return -1;
        }
    }
    if (local) {
        out->class = RESOLVE_CLASS_LOCAL;
        buf_set(&out->transport, r->local_transport);
        buf_set(&out->nexthop, *r->local_nexthop ? r->local_nexthop
                               : domain.len > 0  ? domain.data
                                                 : r->myhostname);
    } else {
        out->class = RESOLVE_CLASS_DEFAULT;
        buf_set(&out->transport, r->default_transport);
        buf_set(&out->nexthop, *r->default_nexthop ? r->default_nexthop
                               : *r->relayhost     ? r->relayhost
                                                   : domain.data);
    }
    buf_free(&domain);
    return 0;
}
