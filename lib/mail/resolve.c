/* resolve - the recipient resolver: address classes (mydestination, the
 * virtual and relay domain lists), their transport:nexthop choice, and the
 * transport_maps override (resolve.h). Addresses are in internal form
 * (addr.h): the domain is everything after the last '@'.
 */
#include "mail/resolve.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/addr.h"
#include "maps/map.h"
#include "maps/match_list.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"
#include "util/strutil.h"

#define DOMAIN_MAX 1024 /* longer "domains" are not domains: never local */

#define LIST_SEP " ,\t\r\n"

#define UNDELIVERABLE "Address is undeliverable" /* error/retry without a next hop */

struct dest_entry {
    int negate;
    char *pattern;   /* lower-cased domain or ".domain"; NULL for a table */
    struct map *map; /* type:name entry */
};

/* One transport_maps table. A table that cannot be opened stays in the
 * list without a map: it fails every lookup, naming itself, and opening is
 * tried again at most once a second. */
struct tmap {
    char *spec;
    struct map *map;
    struct buf error; /* why it could not be opened */
    time_t last_try;
};

struct resolver {
    struct dest_entry *dest;
    size_t ndest;
    char *local_transport, *local_nexthop;
    char *default_transport, *default_nexthop;
    char *relayhost;
    char *myhostname;
    /* resolve_routing; lists are NULL when empty */
    struct match_list *alias_doms, *mailbox_doms, *relay_doms;
    char *virtual_transport, *virtual_nexthop;
    char *relay_transport, *relay_nexthop;
    char *error_service;
    char *unknown_alias; /* the alias class next hop */
    char *delim;
    struct tmap *tmaps;
    size_t ntmaps;
    int tmaps_parent; /* parent_domain_matches_subdomains lists transport_maps */
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

static void free_tmaps(struct resolver *r)
{
    for (size_t i = 0; i < r->ntmaps; i++) {
        free(r->tmaps[i].spec);
        if (r->tmaps[i].map)
            map_close(r->tmaps[i].map);
        buf_free(&r->tmaps[i].error);
    }
    free(r->tmaps);
    r->tmaps = NULL;
    r->ntmaps = 0;
}

void resolver_free(struct resolver *r)
{
    if (r == NULL)
        return;
    free_dest(r);
    free_tmaps(r);
    match_list_free(r->alias_doms);
    match_list_free(r->mailbox_doms);
    match_list_free(r->relay_doms);
    free(r->local_transport);
    free(r->local_nexthop);
    free(r->default_transport);
    free(r->default_nexthop);
    free(r->virtual_transport);
    free(r->virtual_nexthop);
    free(r->relay_transport);
    free(r->relay_nexthop);
    free(r->relayhost);
    free(r->myhostname);
    free(r->error_service);
    free(r->unknown_alias);
    free(r->delim);
    free(r);
}

/* split_list - a Postfix list: items separated by commas and white space,
 * except inside {braces}, so "inline:{ a=1, b=2 }" stays one item. An
 * unbalanced brace is an error (param names the setting). */
static struct argv *split_list(const char *param, const char *list, struct buf *why)
{
    struct argv *items = argv_alloc();
    const char *p = list;

    for (;;) {
        while (*p && strchr(LIST_SEP, *p))
            p++;
        if (*p == 0)
            break;
        const char *start = p;
        int depth = 0;
        for (; *p && (depth > 0 || !strchr(LIST_SEP, *p)); p++) {
            if (*p == '{')
                depth++;
            else if (*p == '}' && --depth < 0)
                break;
        }
        if (depth != 0) {
            buf_setf(why, "%s: unbalanced braces in \"%s\"", param, list);
            argv_free(items);
            return NULL;
        }
        argv_addn(items, start, (size_t)(p - start));
    }
    return items;
}

/* in_list - is name one of the words of list (parent_domain_matches_subdomains)? */
static int in_list(const char *list, const char *name)
{
    struct argv *words = argv_split(list ? list : "", LIST_SEP);
    int found = 0;
    for (size_t i = 0; i < words->argc && !found; i++)
        found = strcmp(words->argv[i], name) == 0;
    argv_free(words);
    return found;
}

/* blank - a NULL or white-space-only setting. */
static int blank(const char *s)
{
    return s == NULL || s[strspn(s, LIST_SEP)] == 0;
}

/* parse_dest - the mydestination list into r->dest. */
static int parse_dest(struct resolver *r, const char *list, struct buf *why)
{
    struct argv *items = split_list("mydestination", list, why);
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

/* split_setting - param's "transport[:nexthop]" into *t and *n. */
static int split_setting(const char *param, const char *value, char **t, char **n, struct buf *why)
{
    struct buf tb = BUF_INIT, nb = BUF_INIT, w = BUF_INIT;
    int rc = resolve_split_transport(value, &tb, &nb, &w);
    if (rc < 0)
        buf_setf(why, "%s: %s", param, buf_cstr(&w));
    else {
        *t = buf_steal(&tb);
        *n = buf_steal(&nb);
    }
    buf_free(&tb);
    buf_free(&nb);
    buf_free(&w);
    return rc;
}

/* open_tmaps - the transport_maps tables. An unknown type or a syntax error
 * in the list is a configuration error; a table that merely cannot be
 * opened now is kept, unopened (struct tmap). */
static int open_tmaps(struct resolver *r, const char *list, struct buf *why)
{
    struct argv *items = split_list("transport_maps", list, why);
    if (items == NULL)
        return -1;
    r->tmaps = xcalloc(items->argc ? items->argc : 1, sizeof(*r->tmaps));
    for (size_t i = 0; i < items->argc; i++) {
        const char *spec = items->argv[i];
        char *type = NULL, *name = NULL;
        struct buf w = BUF_INIT;
        if (map_split(spec, &type, &name, &w) < 0 || map_find_type(type) == NULL) {
            if (type != NULL)
                buf_setf(why, "transport_maps: table \"%s\": unsupported table type \"%s\"", spec,
                         type);
            else
                buf_setf(why, "transport_maps: %s", buf_cstr(&w));
            free(type);
            free(name);
            buf_free(&w);
            argv_free(items);
            return -1;
        }
        free(type);
        free(name);
        struct tmap *t = &r->tmaps[r->ntmaps++];
        t->spec = xstrdup(spec);
        buf_init(&t->error);
        t->last_try = time(NULL);
        if ((t->map = map_open(spec, MAP_FOLD_CASE, &w)) == NULL) {
            buf_set(&t->error, buf_cstr(&w));
            msg_warn("transport_maps: table %s is unavailable: %s", spec, buf_cstr(&w));
        }
        buf_free(&w);
    }
    argv_free(items);
    return 0;
}

/* open_domains - a domain class list (NULL when blank). */
static int open_domains(struct match_list **out, const char *param, const char *value,
                        const char *parent, struct buf *why)
{
    if (blank(value))
        return 0;
    *out = match_list_create(param, value, in_list(parent, param) ? MATCH_FLAG_PARENT : 0, why);
    return *out == NULL ? -1 : 0;
}

static int setup_routing(struct resolver *r, const struct resolve_routing *rt, struct buf *why)
{
    const char *parent = rt->parent_domain_matches_subdomains;
    const char *err = rt->error_service ? rt->error_service : "error";

    if (!resolve_transport_name_ok(err)) {
        buf_setf(why, "error_service_name: bad transport name \"%s\"", err);
        return -1;
    }
    r->error_service = xstrdup(err);
    r->unknown_alias =
        xstrdup(rt->hide_unknown_table ? "5.1.1 User unknown"
                                       : "5.1.1 User unknown in virtual alias table");
    r->delim = xstrdup(rt->recipient_delimiter ? rt->recipient_delimiter : "");
    r->tmaps_parent = in_list(parent, "transport_maps");
    if (open_domains(&r->alias_doms, "virtual_alias_domains", rt->virtual_alias_domains, parent,
                     why) < 0 ||
        open_domains(&r->mailbox_doms, "virtual_mailbox_domains", rt->virtual_mailbox_domains,
                     parent, why) < 0 ||
        open_domains(&r->relay_doms, "relay_domains", rt->relay_domains, parent, why) < 0)
        return -1;
    if (r->mailbox_doms != NULL &&
        split_setting("virtual_transport",
                      rt->virtual_transport ? rt->virtual_transport : "virtual",
                      &r->virtual_transport, &r->virtual_nexthop, why) < 0)
        return -1;
    if (r->relay_doms != NULL &&
        split_setting("relay_transport", rt->relay_transport ? rt->relay_transport : "relay",
                      &r->relay_transport, &r->relay_nexthop, why) < 0)
        return -1;
    if (!blank(rt->transport_maps) && open_tmaps(r, rt->transport_maps, why) < 0)
        return -1;
    return 0;
}

struct resolver *resolver_create_routing(const struct resolve_params *p,
                                         const struct resolve_routing *rt, struct buf *why)
{
    struct resolver *r = xcalloc(1, sizeof(*r));
    static const struct resolve_routing none;

    if (split_setting("local_transport", p->local_transport, &r->local_transport, &r->local_nexthop,
                      why) < 0 ||
        split_setting("default_transport", p->default_transport, &r->default_transport,
                      &r->default_nexthop, why) < 0)
        goto fail;
    r->relayhost = xstrdup(p->relayhost ? p->relayhost : "");
    r->myhostname = xstrdup(p->myhostname ? p->myhostname : "");
    if (parse_dest(r, p->mydestination ? p->mydestination : "", why) < 0)
        goto fail;
    if (setup_routing(r, rt ? rt : &none, why) < 0)
        goto fail;
    return r;
fail:
    resolver_free(r);
    return NULL;
}

struct resolver *resolver_create(const struct resolve_params *p, struct buf *why)
{
    return resolver_create_routing(p, NULL, why);
}

const char *resolve_unavailable_table(const struct resolver *r)
{
    for (size_t i = 0; i < r->ntmaps; i++)
        if (r->tmaps[i].map == NULL)
            return r->tmaps[i].spec;
    return NULL;
}

static int tmap_usable(struct tmap *t, struct buf *why);

void resolve_check_tables(struct resolver *r)
{
    struct buf value = BUF_INIT, why = BUF_INIT;
    for (size_t i = 0; i < r->ntmaps; i++) {
        struct tmap *t = &r->tmaps[i];
        /* the answer does not matter: the lookup runs the file check */
        if (tmap_usable(t, &why) == 0 && t->map->watch_path != NULL)
            (void)map_lookup(t->map, "*", &value);
    }
    buf_free(&value);
    buf_free(&why);
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

/* classify - the address class of domain ("" for none). 0 or -1 + why. */
static int classify(struct resolver *r, const char *domain, enum resolve_class *cls,
                    struct buf *why)
{
    struct {
        struct match_list *ml;
        enum resolve_class cls;
    } lists[] = {{r->alias_doms, RESOLVE_CLASS_ALIAS},
                 {r->mailbox_doms, RESOLVE_CLASS_VIRTUAL},
                 {r->relay_doms, RESOLVE_CLASS_RELAY}};
    int m;

    *cls = RESOLVE_CLASS_LOCAL;
    if (*domain == 0)
        return 0;
    if ((m = resolve_is_local_domain(r, domain, why)) != 0)
        return m < 0 ? -1 : 0;
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        if (lists[i].ml == NULL)
            continue;
        if ((m = match_list_domain(lists[i].ml, domain, why)) < 0)
            return -1;
        if (m > 0) {
            *cls = lists[i].cls;
            return 0;
        }
    }
    *cls = RESOLVE_CLASS_DEFAULT;
    return 0;
}

/* class_route - the transport and next hop of the address class. */
static void class_route(const struct resolver *r, const char *domain, struct resolve_result *out)
{
    const char *t, *n;
    switch (out->class) {
    case RESOLVE_CLASS_LOCAL:
        t = r->local_transport;
        n = *r->local_nexthop ? r->local_nexthop : *domain ? domain : r->myhostname;
        break;
    case RESOLVE_CLASS_ALIAS:
        t = r->error_service;
        n = r->unknown_alias;
        break;
    case RESOLVE_CLASS_VIRTUAL:
        t = r->virtual_transport;
        n = *r->virtual_nexthop ? r->virtual_nexthop : domain;
        break;
    case RESOLVE_CLASS_RELAY:
        t = r->relay_transport;
        n = *r->relay_nexthop ? r->relay_nexthop : *r->relayhost ? r->relayhost : domain;
        break;
    case RESOLVE_CLASS_DEFAULT:
    default:
        t = r->default_transport;
        n = *r->default_nexthop ? r->default_nexthop : *r->relayhost ? r->relayhost : domain;
        break;
    }
    buf_set(&out->transport, t);
    buf_set(&out->nexthop, n);
}

/* tmap_usable - open a table that could not be opened before (at most
 * once a second). 0, or -1 + why. */
static int tmap_usable(struct tmap *t, struct buf *why)
{
    time_t now = time(NULL);
    if (t->map == NULL && now != t->last_try) {
        struct buf w = BUF_INIT;
        t->last_try = now;
        if ((t->map = map_open(t->spec, MAP_FOLD_CASE, &w)) == NULL)
            buf_set(&t->error, buf_cstr(&w));
        else
            msg_info("transport_maps: table %s is available again", t->spec);
        buf_free(&w);
    }
    if (t->map == NULL) {
        buf_setf(why, "transport_maps: table %s is unavailable: %s", t->spec, buf_cstr(&t->error));
        return -1;
    }
    return 0;
}

/* tmaps_find - key in each transport table in order (a partial key skips
 * pattern tables): 1 + value + the table, 0, or -1 + why. */
static int tmaps_find(struct resolver *r, const char *key, int partial, struct buf *value,
                      const struct tmap **hit, struct buf *why)
{
    for (size_t i = 0; i < r->ntmaps; i++) {
        struct tmap *t = &r->tmaps[i];
        if (tmap_usable(t, why) < 0)
            return -1;
        if (partial && map_is_pattern(t->map))
            continue;
        int rc = map_lookup(t->map, key, value);
        if (rc < 0) {
            buf_setf(why, "transport_maps: table %s: lookup of \"%s\" failed: %s", t->spec, key,
                     map_error(t->map));
            return -1;
        }
        if (rc > 0) {
            *hit = t;
            return 1;
        }
    }
    return 0;
}

/* apply_value - a transport_maps result over the class route (transport(5)
 * RESULT FORMAT). A value no agent could be given is a configuration
 * error: -1 + why naming the table and key. */
static int apply_value(const struct resolver *r, const char *value, const char *rcpt_domain,
                       const struct tmap *t, const char *key, struct resolve_result *out,
                       struct buf *why)
{
    const char *colon = strchr(value, ':');
    size_t tlen = colon ? (size_t)(colon - value) : strlen(value);
    const char *nexthop = colon ? colon + 1 : "";
    char transport[RESOLVE_TRANSPORT_MAX + 1];

    for (const char *p = value; *p; p++) {
        if (iscntrl((unsigned char)*p)) {
            buf_setf(why, "transport_maps: table %s: key \"%s\": control character in the value",
                     t->spec, key);
            return -1;
        }
    }
    if (tlen > RESOLVE_TRANSPORT_MAX || strlen(nexthop) > RESOLVE_NEXTHOP_MAX) {
        buf_setf(why, "transport_maps: table %s: key \"%s\": value too long", t->spec, key);
        return -1;
    }
    memcpy(transport, value, tlen);
    transport[tlen] = 0;
    if (tlen == 0) {
        /* ":nexthop" keeps the transport; ":" alone changes nothing */
        if (*nexthop)
            buf_set(&out->nexthop, nexthop);
        return 0;
    }
    if (!resolve_transport_name_ok(transport)) {
        buf_setf(why, "transport_maps: table %s: key \"%s\": bad transport name \"%.64s\"", t->spec,
                 key, transport);
        return -1;
    }
    buf_set(&out->transport, transport);
    if (*nexthop)
        buf_set(&out->nexthop, nexthop);
    else if (strcmp(transport, r->error_service) == 0 || strcmp(transport, "error") == 0 ||
             strcmp(transport, "retry") == 0)
        buf_set(&out->nexthop, UNDELIVERABLE);
    else
        buf_set(&out->nexthop, rcpt_domain);
    return 0;
}

/* transport_lookup - the transport_maps keys in Postfix's order for
 * local@domain (domain without a trailing dot, never empty). 0 (route
 * possibly changed), or -1 + why. */
static int transport_lookup(struct resolver *r, const char *local, const char *domain,
                            struct resolve_result *out, struct buf *why)
{
    struct buf key = BUF_INIT, value = BUF_INIT, user = BUF_INIT;
    const struct tmap *hit = NULL;
    int rc;

    /* 1. the full address, the only key a pattern table sees */
    buf_printf(&key, "%s@%s", local, domain);
    rc = tmaps_find(r, key.data, 0, &value, &hit, why);
    /* 2. without the extension */
    if (rc == 0 && addr_split_ext(key.data, r->delim, &user, NULL, NULL) == 1) {
        buf_reset(&key);
        buf_printf(&key, "%s@%s", buf_cstr(&user), domain);
        rc = tmaps_find(r, key.data, 1, &value, &hit, why);
    }
    /* 3. the domain, then its parents (not for a domain literal) */
    for (const char *name = domain; rc == 0 && *name;) {
        buf_set(&key, name);
        rc = tmaps_find(r, key.data, 1, &value, &hit, why);
        const char *next = *domain == '[' ? NULL : strchr(name + 1, '.');
        if (next == NULL)
            break;
        name = r->tmaps_parent ? next + 1 : next;
    }
    /* 4. the wildcard */
    if (rc == 0) {
        buf_set(&key, "*");
        rc = tmaps_find(r, key.data, 1, &value, &hit, why);
    }
    if (rc > 0)
        rc = apply_value(r, value.data, domain, hit, key.data, out, why);
    buf_free(&key);
    buf_free(&value);
    buf_free(&user);
    return rc < 0 ? -1 : 0;
}

int resolve_addr(struct resolver *r, const char *addr, struct resolve_result *out, struct buf *why)
{
    const char *at = strrchr(addr, '@');
    struct buf domain = BUF_INIT, local = BUF_INIT;
    int rc = 0;

    buf_set(&domain, at ? at + 1 : "");
    /* RFC 1034 3.1: a trailing dot makes a name absolute; same domain. */
    if (domain.len > 0 && domain.data[domain.len - 1] == '.')
        buf_truncate(&domain, domain.len - 1);
    if (classify(r, buf_cstr(&domain), &out->class, why) < 0) {
        rc = -1;
        goto out;
    }
    class_route(r, buf_cstr(&domain), out);
    /* As in Postfix, an unknown virtual alias stays unknown. An address
     * without a domain is looked up as Postfix sees it: user@myhostname. */
    if (r->ntmaps > 0 && out->class != RESOLVE_CLASS_ALIAS) {
        const char *d = domain.len > 0 ? domain.data : r->myhostname;
        buf_reset(&local);
        buf_append(&local, addr, at ? (size_t)(at - addr) : strlen(addr));
        if (*d && transport_lookup(r, buf_cstr(&local), d, out, why) < 0)
            rc = -1;
    }
out:
    buf_free(&domain);
    buf_free(&local);
    return rc;
}
