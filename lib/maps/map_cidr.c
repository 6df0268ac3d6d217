/* map_cidr - cidr: tables (Postfix's cidr_table(5)): a file of networks
 * and addresses, each with a result, searched in file order for the first
 * one that contains the address looked up; "!network" applies to the
 * addresses outside it, and "if network" ... "endif" blocks (nesting, and
 * "if !network") hold rules that apply only inside (outside) a network.
 *
 * A network with host bits set (10.0.0.1/8) is an error naming FILE:LINE,
 * where Postfix only warns: the admin meant either the address or the
 * network, and guessing wrong opens or closes a relay.
 */
#include "maps/map_types.h"

#include "maps/map_file.h"
#include "maps/match_list.h"
#include "util/alloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum cidr_op { CIDR_MATCH, CIDR_IF };

struct cidr_rule {
    enum cidr_op op;
    int positive; /* 0: "!network": applies to addresses outside it */
    struct match_cidr net;
    char *result;   /* CIDR_MATCH */
    size_t skip_to; /* CIDR_IF: the rule after the matching endif */
};

struct map_cidr_table {
    struct cidr_rule *v;
    size_t n;
    size_t cap;
    size_t *open_ifs; /* while parsing: if rules without endif, and their lines */
    long *open_lines;
    size_t n_open;
};

void map_cidr_free(struct map_cidr_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].result);
    free(t->v);
    free(t->open_ifs);
    free(t->open_lines);
    free(t);
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* word - the next white-space separated word of *pp (NUL-terminated in
 * place), or NULL at the end. */
static char *word(char **pp)
{
    char *p = *pp;
    while (is_blank((unsigned char)*p))
        p++;
    if (*p == 0) {
        *pp = p;
        return NULL;
    }
    char *w = p;
    while (*p != 0 && !is_blank((unsigned char)*p))
        p++;
    if (*p != 0)
        *p++ = 0;
    while (is_blank((unsigned char)*p))
        p++;
    *pp = p;
    return w;
}

/* network - "[!...]network" into the rule; -1 + why. */
static int network(char *pattern, struct cidr_rule *r, struct buf *why)
{
    r->positive = 1;
    for (; *pattern == '!'; pattern++)
        r->positive = !r->positive;
    if (*pattern == 0) {
        buf_puts(why, "missing network after '!'");
        return -1;
    }
    return match_cidr_parse(pattern, &r->net, why);
}

static int parse_rule(struct map_cidr_table *t, char *line, long lineno, struct buf *why)
{
    struct cidr_rule r = {0};
    char *p = line, *first = word(&p);
    if (strcasecmp(first, "endif") == 0) {
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
    if (strcasecmp(first, "if") == 0) {
        char *pattern = word(&p);
        if (pattern == NULL) {
            buf_puts(why, "missing network after if");
            return -1;
        }
        if (*p != 0) {
            buf_printf(why,
                       "text after if network: \"%s\" (rules inside if/endif must not "
                       "start with white space)",
                       p);
            return -1;
        }
        if (network(pattern, &r, why) < 0)
            return -1;
        r.op = CIDR_IF;
    } else {
        if (network(first, &r, why) < 0)
            return -1;
        if (*p == 0) {
            buf_printf(why, "missing result after \"%s\"", first);
            return -1;
        }
        r.op = CIDR_MATCH;
        r.result = xstrdup(p);
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
    }
    if (r.op == CIDR_IF) {
        t->open_ifs = xreallocarray(t->open_ifs, t->n_open + 1, sizeof(*t->open_ifs));
        t->open_lines = xreallocarray(t->open_lines, t->n_open + 1, sizeof(*t->open_lines));
        t->open_ifs[t->n_open] = t->n;
        t->open_lines[t->n_open++] = lineno;
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

struct map_cidr_table *map_cidr_parse(const char *text, size_t len, const char *origin,
                                      struct buf *why)
{
    struct map_cidr_table *t = xcalloc(1, sizeof(*t));
    if (map_rule_lines_text(text, len, origin, rule_line, t, why) < 0) {
        map_cidr_free(t);
        return NULL;
    }
    if (t->n_open > 0) {
        buf_printf(why, "%s:%ld: if without endif", origin, t->open_lines[t->n_open - 1]);
        map_cidr_free(t);
        return NULL;
    }
    return t;
}

/* contains - the rule's network against a parsed address (the rule of
 * match_cidr_contains: an IPv4 network also holds ::ffff:a.b.c.d). */
static int contains(const struct match_cidr *net, int family, const unsigned char *addr)
{
    if (family != net->family) {
        if (net->family != AF_INET || !IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr))
            return 0;
        addr += 12;
    }
    size_t nbytes = net->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < nbytes; i++)
        if ((addr[i] & net->mask[i]) != net->net[i])
            return 0;
    return 1;
}

int map_cidr_match(const struct map_cidr_table *t, const char *key, struct buf *value)
{
    unsigned char addr[16];
    if (strlen(key) >= INET6_ADDRSTRLEN)
        return 0;
    int family = strchr(key, ':') != NULL ? AF_INET6 : AF_INET;
    /* The address is parsed once, not once per rule: tables of many
     * thousand networks are common. */
    if (inet_pton(family, key, addr) != 1)
        return 0;
    for (size_t i = 0; i < t->n;) {
        const struct cidr_rule *r = &t->v[i];
        int applies = contains(&r->net, family, addr) == r->positive;
        if (r->op == CIDR_IF) {
            i = applies ? i + 1 : r->skip_to;
        } else if (applies) {
            buf_puts(value, r->result);
            return 1;
        } else {
            i++;
        }
    }
    return 0;
}

/* ---- map_ops ---- */

static int cidr_open(struct map *m, struct buf *why)
{
    struct buf text = BUF_INIT;
    if (m->name[0] == 0) {
        buf_printf(why, "%s: missing file name", m->spec);
        return -1;
    }
    map_watch(m, m->name);
    if (map_file_read(m->name, &text, why) < 0) {
        buf_free(&text);
        return -1;
    }
    m->priv = map_cidr_parse(text.data ? text.data : "", text.len, m->name, why);
    buf_free(&text);
    return m->priv == NULL ? -1 : 0;
}

static int cidr_lookup(struct map *m, const char *key, struct buf *value)
{
    return map_cidr_match(m->priv, key, value);
}

static void cidr_close(struct map *m)
{
    map_cidr_free(m->priv);
    m->priv = NULL;
}

const struct map_ops map_cidr_ops = {
    .type = "cidr",
    .flags = MAP_OPS_NO_FOLD | MAP_OPS_PATTERN,
    .open = cidr_open,
    .lookup = cidr_lookup,
    .close = cidr_close,
};
