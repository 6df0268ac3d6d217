/* match_list - Postfix-style host, network and domain lists (mynetworks,
 * relay_domains, ...) and the address/network parser shared with cidr:
 * tables. A list is parsed once into entries (networks, names, open
 * tables) and matched first-entry-wins; see match_list.h for the syntax.
 */
#include "maps/match_list.h"

#include "maps/map.h"
#include "maps/map_types.h"
#include "util/alloc.h"
#include "util/strutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A list entry inside /file/name may name another file; this many deep. */
#define MATCH_FILE_DEPTH 8

/* Longest "[address]/len" worth parsing: an IPv6 address in its longest
 * printable form is 45 bytes. */
#define MATCH_CIDR_MAX 64

#define V6_CHARS "0123456789abcdefABCDEF:."

/* ---- addresses and networks ---- */

/* set_mask - the first len bits of mask[0..nbytes) set, the rest clear. */
static void set_mask(unsigned char *mask, size_t nbytes, int len)
{
    for (size_t i = 0; i < nbytes; i++) {
        int bits = len - (int)(i * 8);
        mask[i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (unsigned char)(0xff << (8 - bits));
    }
}

int match_cidr_parse(const char *spec, struct match_cidr *out, struct buf *why)
{
    char copy[MATCH_CIDR_MAX + 1];
    size_t n = strlen(spec);
    if (n == 0 || n > MATCH_CIDR_MAX) {
        buf_printf(why, "bad network: \"%.*s%s\": %s", MATCH_CIDR_MAX, spec,
                   n > MATCH_CIDR_MAX ? "..." : "", n == 0 ? "empty" : "too long");
        return -1;
    }
    memcpy(copy, spec, n + 1);
    /* Postfix accepts [addr], [addr]/len and [addr/len]. */
    char *addr = copy, *slash;
    if (*addr == '[') {
        char *close = strchr(++addr, ']');
        if (close == NULL) {
            buf_printf(why, "bad network: \"%s\": missing ']'", spec);
            return -1;
        }
        if (close[1] != 0 && close[1] != '/') {
            buf_printf(why, "bad network: \"%s\": text after ']'", spec);
            return -1;
        }
        if (close[1] == '/' && strchr(addr, '/') != NULL && strchr(addr, '/') < close) {
            buf_printf(why, "bad network: \"%s\": two prefix lengths", spec);
            return -1;
        }
        memmove(close, close + 1, strlen(close + 1) + 1);
    }
    if ((slash = strchr(addr, '/')) != NULL)
        *slash++ = 0;
    memset(out, 0, sizeof(*out));
    out->family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
    int bits = out->family == AF_INET ? 32 : 128;
    if (inet_pton(out->family, addr, out->net) != 1) {
        buf_printf(why, "bad %s: \"%s\": not an IPv%d address", slash ? "network" : "address", spec,
                   out->family == AF_INET ? 4 : 6);
        return -1;
    }
    out->len = bits;
    if (slash != NULL) {
        long len;
        if (strlen(slash) > 3 || !str_alldig(slash) || str_to_long(slash, 0, bits, &len) < 0) {
            buf_printf(why, "bad network: \"%s\": prefix length must be 0 to %d", spec, bits);
            return -1;
        }
        out->len = (int)len;
    }
    size_t nbytes = (size_t)bits / 8;
    set_mask(out->mask, nbytes, out->len);
    for (size_t i = 0; i < nbytes; i++) {
        if ((out->net[i] & ~out->mask[i]) != 0) {
            unsigned char fixed[16];
            char text[INET6_ADDRSTRLEN];
            for (size_t j = 0; j < nbytes; j++)
                fixed[j] = out->net[j] & out->mask[j];
            if (inet_ntop(out->family, fixed, text, sizeof(text)) == NULL)
                text[0] = 0;
            buf_printf(why, "bad network: \"%s\": host bits are set (the network is %s/%d)", spec,
                       text, out->len);
            return -1;
        }
    }
    return 0;
}

int match_cidr_contains(const struct match_cidr *net, const char *addr)
{
    unsigned char bytes[16];
    if (addr == NULL || addr[0] == 0 || strlen(addr) >= INET6_ADDRSTRLEN)
        return 0;
    int family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
    if (inet_pton(family, addr, bytes) != 1)
        return 0;
    const unsigned char *p = bytes;
    if (family != net->family) {
        /* ::ffff:a.b.c.d is the IPv4 client a.b.c.d on a dual-stack socket. */
        if (net->family != AF_INET || !IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)bytes))
            return 0;
        p = bytes + 12;
    }
    size_t nbytes = net->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < nbytes; i++)
        if ((p[i] & net->mask[i]) != net->net[i])
            return 0;
    return 1;
}

/* ---- lists ---- */

enum match_kind { MATCH_NET, MATCH_NAME, MATCH_TABLE };

struct match_entry {
    enum match_kind kind;
    int negate;
    struct match_cidr net; /* MATCH_NET */
    char *name;            /* MATCH_NAME: lower case, no trailing dot */
    struct map *map;       /* MATCH_TABLE */
    int pattern_table;     /* a regexp/pcre/cidr table: no parent lookups */
};

struct match_list {
    char *param;
    int flags;
    struct match_entry *v;
    size_t n;
    size_t cap;
};

static struct match_entry *add_entry(struct match_list *ml, enum match_kind kind, int negate)
{
    if (ml->n == ml->cap) {
        ml->cap = ml->cap ? ml->cap * 2 : 8;
        ml->v = xreallocarray(ml->v, ml->cap, sizeof(*ml->v));
    }
    struct match_entry *e = &ml->v[ml->n++];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->negate = negate;
    return e;
}

/* looks_like_address - an entry that can only be meant as an address or
 * network: "[...]", or hex digits, ':' '.' '/' only and either a ':' or a
 * leading digit. Checked before "type:table", since 2001:db8::1 has a
 * colon too; no table type is spelled in hex digits alone. */
static int looks_like_address(const char *s)
{
    if (s[0] == '[')
        return 1;
    if (s[strspn(s, V6_CHARS "/")] != 0)
        return 0;
    return strchr(s, ':') != NULL || (s[0] >= '0' && s[0] <= '9');
}

/* looks_like_table - "type:name" with a plausible type name. */
static int looks_like_table(const char *s)
{
    const char *colon = strchr(s, ':');
    if (colon == NULL || colon == s)
        return 0;
    for (const char *p = s; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    return 1;
}

/* next_item - the next entry of a list, separated by commas and white
 * space; "{...}" (inline: tables) may hold separators. NULL at the end,
 * or NULL + why on an unbalanced brace. */
static char *next_item(char **sp, struct buf *why)
{
    char *s = *sp + strspn(*sp, ", \t\r\n");
    if (*s == 0) {
        *sp = s;
        return NULL;
    }
    char *p = s;
    int depth = 0;
    for (; *p != 0; p++) {
        if (*p == '{') {
            depth++;
        } else if (*p == '}') {
            if (depth == 0) {
                buf_printf(why, "unexpected '}' in \"%.80s\"", s);
                return NULL;
            }
            depth--;
        } else if (depth == 0 && strchr(", \t\r\n", *p) != NULL) {
            break;
        }
    }
    if (depth != 0) {
        buf_printf(why, "missing '}' in \"%.80s\"", s);
        return NULL;
    }
    if (*p != 0)
        *p++ = 0;
    *sp = p;
    return s;
}

static int parse_list(struct match_list *ml, char *text, int negate, int depth, struct buf *why);

struct file_ctx {
    struct match_list *ml;
    int negate;
    int depth;
};

static int file_line(void *ctx, char *line, const char *origin, long lineno, struct buf *why)
{
    struct file_ctx *f = ctx;
    struct buf reason = BUF_INIT;
    int rc = parse_list(f->ml, line, f->negate, f->depth, &reason);
    if (rc < 0)
        buf_printf(why, "%s:%ld: %s", origin, lineno, buf_cstr(&reason));
    buf_free(&reason);
    return rc;
}

/* parse_file - a /file/name entry: its lines are list text, read now. */
static int parse_file(struct match_list *ml, const char *path, int negate, int depth,
                      struct buf *why)
{
    if (depth >= MATCH_FILE_DEPTH) {
        buf_printf(why, "%s: files included more than %d deep", path, MATCH_FILE_DEPTH);
        return -1;
    }
    struct file_ctx f = {ml, negate, depth + 1};
    return map_rule_lines(path, file_line, &f, why);
}

/* parse_item - one entry; errors do not name the parameter (the caller
 * does, once). */
static int parse_item(struct match_list *ml, char *item, int negate, int depth, struct buf *why)
{
    while (*item == '!') {
        negate = !negate;
        item++;
    }
    if (*item == 0) {
        buf_puts(why, "missing pattern after '!'");
        return -1;
    }
    if (*item == '/')
        return parse_file(ml, item, negate, depth, why);
    if (looks_like_address(item)) {
        struct match_cidr net;
        if (match_cidr_parse(item, &net, why) < 0)
            return -1;
        add_entry(ml, MATCH_NET, negate)->net = net;
        return 0;
    }
    if (looks_like_table(item)) {
        struct map *m = map_open(item, MAP_FOLD_CASE, why);
        if (m == NULL)
            return -1;
        struct match_entry *e = add_entry(ml, MATCH_TABLE, negate);
        e->map = m;
        e->pattern_table = map_is_pattern(m);
        return 0;
    }
    char *name = str_lower(xstrdup(item));
    size_t n = strlen(name);
    if (n > 1 && name[n - 1] == '.')
        name[n - 1] = 0;
    add_entry(ml, MATCH_NAME, negate)->name = name;
    return 0;
}

static int parse_list(struct match_list *ml, char *text, int negate, int depth, struct buf *why)
{
    char *item;
    size_t before = why->len;
    while ((item = next_item(&text, why)) != NULL)
        if (parse_item(ml, item, negate, depth, why) < 0)
            return -1;
    return why->len > before ? -1 : 0;
}

struct match_list *match_list_create(const char *param, const char *list, int flags,
                                     struct buf *why)
{
    struct match_list *ml = xcalloc(1, sizeof(*ml));
    ml->param = xstrdup(param);
    ml->flags = flags;
    char *copy = xstrdup(list != NULL ? list : "");
    struct buf reason = BUF_INIT;
    int rc = parse_list(ml, copy, 0, 0, &reason);
    free(copy);
    if (rc < 0) {
        buf_printf(why, "%s: %s", param, buf_cstr(&reason));
        buf_free(&reason);
        match_list_free(ml);
        return NULL;
    }
    buf_free(&reason);
    return ml;
}

void match_list_free(struct match_list *ml)
{
    if (ml == NULL)
        return;
    for (size_t i = 0; i < ml->n; i++) {
        free(ml->v[i].name);
        map_close(ml->v[i].map);
    }
    free(ml->v);
    free(ml->param);
    free(ml);
}

/* normalize - a lower-case copy without one trailing dot; NULL if empty. */
static char *normalize(const char *name)
{
    if (name == NULL || name[0] == 0)
        return NULL;
    char *s = str_lower(xstrdup(name));
    size_t n = strlen(s);
    if (n > 1 && s[n - 1] == '.')
        s[n - 1] = 0;
    return s;
}

/* name_matches - the pattern name against a normalized name. */
static int name_matches(const struct match_list *ml, const char *pattern, const char *name)
{
    if (strcmp(name, pattern) == 0)
        return 1;
    size_t np = strlen(pattern), nn = strlen(name);
    if (nn <= np)
        return 0;
    const char *tail = name + nn - np;
    if (pattern[0] == '.')
        return strcmp(tail, pattern) == 0;
    return (ml->flags & MATCH_FLAG_PARENT) && tail[-1] == '.' && strcmp(tail, pattern) == 0;
}

/* table_get - 1 if the table has key, 0 if not, -1 + why. */
static int table_get(const struct match_list *ml, struct map *m, const char *key, struct buf *value,
                     struct buf *why)
{
    int r = map_lookup(m, key, value);
    if (r < 0)
        buf_printf(why, "%s: table %s: %s", ml->param, m->spec, map_error(m));
    return r;
}

/* table_name - look the name up, then (fixed-string tables only, as
 * Postfix) each parent domain: ".parent", or "parent" when the list's
 * parameter is in parent_domain_matches_subdomains (Postfix's
 * match_hostname). 1, 0 or -1 + why. */
static int table_name(const struct match_list *ml, const struct match_entry *e, const char *name,
                      struct buf *why)
{
    struct buf value = BUF_INIT, key = BUF_INIT;
    int r = table_get(ml, e->map, name, &value, why);
    for (const char *dot = strchr(name + 1, '.'); r == 0 && !e->pattern_table && dot != NULL;
         dot = strchr(dot + 1, '.')) {
        buf_reset(&key);
        buf_puts(&key, (ml->flags & MATCH_FLAG_PARENT) ? dot + 1 : dot);
        if (key.len > 1)
            r = table_get(ml, e->map, buf_cstr(&key), &value, why);
    }
    buf_free(&value);
    buf_free(&key);
    return r;
}

int match_list_host(struct match_list *ml, const char *name, const char *addr, struct buf *why)
{
    char *host = normalize(name);
    const char *a = addr != NULL && addr[0] != 0 ? addr : NULL;
    int result = 0;
    for (size_t i = 0; i < ml->n; i++) {
        const struct match_entry *e = &ml->v[i];
        int hit = 0;
        switch (e->kind) {
        case MATCH_NET:
            hit = match_cidr_contains(&e->net, a);
            break;
        case MATCH_NAME:
            hit = host != NULL && name_matches(ml, e->name, host);
            break;
        case MATCH_TABLE:
            if (host != NULL)
                hit = table_name(ml, e, host, why);
            /* An address is looked up as it is printed (Postfix's
             * match_hostaddr); a cidr: table parses it. */
            if (hit == 0 && a != NULL && a[strspn(a, V6_CHARS)] == 0) {
                struct buf value = BUF_INIT;
                hit = table_get(ml, e->map, a, &value, why);
                buf_free(&value);
            }
            break;
        }
        if (hit != 0) {
            result = hit < 0 ? -1 : !e->negate;
            break;
        }
    }
    free(host);
    return result;
}

int match_list_domain(struct match_list *ml, const char *domain, struct buf *why)
{
    char *d = normalize(domain);
    int result = 0;
    for (size_t i = 0; d != NULL && i < ml->n; i++) {
        const struct match_entry *e = &ml->v[i];
        int hit = 0;
        if (e->kind == MATCH_NAME)
            hit = name_matches(ml, e->name, d);
        else if (e->kind == MATCH_TABLE)
            hit = table_name(ml, e, d, why);
        /* A network never matches a domain; a domain literal is not a name. */
        if (hit != 0) {
            result = hit < 0 ? -1 : !e->negate;
            break;
        }
    }
    free(d);
    return result;
}
