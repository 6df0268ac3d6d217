/* cleanup_rewrite - cleanup(8)'s address rewriting (cleanup_rewrite.h):
 * canonical maps (Postfix's cleanup_map11), masquerading
 * (cleanup_masquerade), virtual alias expansion (cleanup_map1n), and
 * header address rewriting through header_addr_rewrite().
 */
#include "mail/cleanup_rewrite.h"
#include "mail/addr.h"
#include "mail/header_addr.h"
#include "mail/resolve.h"
#include "maps/map_addr.h"
#include "maps/match_list.h"
#include "util/alloc.h"
#include "util/msg.h"
#include "util/strutil.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define LIST_SEPARATORS ", \t\r\n"

/* A table list that may have failed to open (keep_broken). */
struct rw_maps {
    char *param;
    struct maps ms;
    char *broken; /* why it did not open, or NULL */
};

/* One masquerade_exceptions entry: a local part or a table. */
struct masq_exc {
    char *name;       /* lower case, or NULL for a table */
    struct rw_maps t; /* when name is NULL */
    int negate;
};

struct cleanup_rewrite {
    struct rw_maps canon, send_canon, rcpt_canon, virt;
    int canon_cls, send_cls, rcpt_cls, masq_cls;
    struct argv *masq_domains; /* lower case; "!" kept in front */
    struct masq_exc *exc;
    size_t nexc;
    long recur_limit, expan_limit;
    int prop_canon, prop_virt;
    char *delims, *myorigin, *remote_domain;
    struct resolver *resolver;
    /* local_header_rewrite_clients */
    struct match_list *own, *mynet;
    struct rw_maps lc_tables;
    struct buf broken;     /* the first list that did not open */
    struct buf last_error; /* table-level reason of the last TEMP */
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

/* ---- settings ------------------------------------------------------------ */

static int parse_classes(const char *param, const char *value, int *out, struct buf *why)
{
    static const struct {
        const char *name;
        int bit;
    } names[] = {
        {"envelope_sender", CLEANUP_RW_ENV_SENDER},
        {"envelope_recipient", CLEANUP_RW_ENV_RCPT},
        {"header_sender", CLEANUP_RW_HDR_SENDER},
        {"header_recipient", CLEANUP_RW_HDR_RCPT},
    };
    struct argv *w = argv_split(nz(value), LIST_SEPARATORS);
    int rc = 0;
    *out = 0;
    for (size_t i = 0; i < w->argc && rc == 0; i++) {
        size_t k;
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (strcasecmp(w->argv[i], names[k].name) == 0)
                break;
        if (k == sizeof(names) / sizeof(names[0])) {
            buf_setf(why, "%s: unknown address class \"%.100s\"", param, w->argv[i]);
            rc = -1;
        } else {
            *out |= names[k].bit;
        }
    }
    argv_free(w);
    return rc;
}

static int parse_propagate(struct cleanup_rewrite *r, const char *value, struct buf *why)
{
    static const char *const known[] = {"canonical", "virtual", "alias",
                                        "forward",   "include", "generic"};
    struct argv *w = argv_split(nz(value), LIST_SEPARATORS);
    int rc = 0;
    for (size_t i = 0; i < w->argc && rc == 0; i++) {
        size_t k;
        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            if (strcasecmp(w->argv[i], known[k]) == 0)
                break;
        if (k == sizeof(known) / sizeof(known[0])) {
            buf_setf(why, "propagate_unmatched_extensions: unknown word \"%.100s\"", w->argv[i]);
            rc = -1;
        } else if (k == 0) {
            r->prop_canon = 1;
        } else if (k == 1) {
            r->prop_virt = 1;
        }
    }
    argv_free(w);
    return rc;
}

static int open_maps(struct cleanup_rewrite *r, struct rw_maps *m, const char *param,
                     const char *value, int flags, int keep_broken, struct buf *why)
{
    struct buf w = BUF_INIT;
    m->param = xstrdup(param);
    if (maps_open(&m->ms, param, nz(value), flags, &w) == 0) {
        buf_free(&w);
        return 0;
    }
    if (!keep_broken) {
        buf_setf(why, "%s", buf_cstr(&w));
        buf_free(&w);
        return -1;
    }
    m->broken = buf_steal(&w);
    if (r->broken.len == 0)
        buf_set(&r->broken, m->broken);
    return 0;
}

static void close_maps(struct rw_maps *m)
{
    if (m->param != NULL && m->broken == NULL)
        maps_close(&m->ms);
    free(m->param);
    free(m->broken);
    memset(m, 0, sizeof(*m));
}

static int maps_in_use(const struct rw_maps *m)
{
    return m->broken != NULL || m->ms.n > 0;
}

static int parse_exceptions(struct cleanup_rewrite *r, const char *value, int flags, int keep,
                            struct buf *why)
{
    struct argv *w = argv_split(nz(value), LIST_SEPARATORS);
    int rc = 0;
    for (size_t i = 0; i < w->argc && rc == 0; i++) {
        const char *word = w->argv[i];
        struct masq_exc e;
        memset(&e, 0, sizeof(e));
        if ((e.negate = *word == '!') != 0)
            word++;
        if (*word == 0)
            continue;
        if (strchr(word, ':') != NULL) {
            rc = open_maps(r, &e.t, "masquerade_exceptions", word, flags, keep, why);
        } else {
            e.name = str_lower(xstrdup(word));
        }
        if (rc == 0) {
            r->exc = xreallocarray(r->exc, r->nexc + 1, sizeof(*r->exc));
            r->exc[r->nexc++] = e;
        }
    }
    argv_free(w);
    return rc;
}

/* add_own - append the printable form of one interface address to list
 * (IPv6 in brackets, so that it is not read as a table name). */
static void add_own(struct buf *list, const struct sockaddr *sa)
{
    char text[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text)) != NULL)
            buf_printf(list, "%s ", text);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text)) != NULL)
            buf_printf(list, "[%s] ", text);
    }
}

/* own_addresses - the addresses of inet_interfaces and proxy_interfaces,
 * for permit_inet_interfaces ("all": every interface address). */
static int own_addresses(const char *param, const char *value, struct buf *list, struct buf *why)
{
    struct argv *w = argv_split(nz(value), LIST_SEPARATORS);
    int rc = 0;
    for (size_t i = 0; i < w->argc && rc == 0; i++) {
        char *word = w->argv[i];
        size_t n = strlen(word);
        if (strcasecmp(word, "all") == 0) {
            struct ifaddrs *ifs;
            if (getifaddrs(&ifs) < 0) {
                buf_setf(why, "%s: cannot list the network interfaces: %m", param);
                rc = -1;
                break;
            }
            for (struct ifaddrs *p = ifs; p != NULL; p = p->ifa_next)
                if (p->ifa_addr != NULL)
                    add_own(list, p->ifa_addr);
            freeifaddrs(ifs);
            continue;
        }
        if (strcasecmp(word, "loopback-only") == 0) {
            buf_puts(list, "127.0.0.1 [::1] ");
            continue;
        }
        if (n > 2 && word[0] == '[' && word[n - 1] == ']') {
            word[n - 1] = 0;
            word++;
        }
        struct addrinfo hints, *res;
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(word, NULL, &hints, &res) != 0) {
            buf_setf(why, "%s: host not found: %.100s", param, word);
            rc = -1;
            break;
        }
        for (struct addrinfo *a = res; a != NULL; a = a->ai_next)
            add_own(list, a->ai_addr);
        freeaddrinfo(res);
    }
    argv_free(w);
    return rc;
}

static int parse_local_clients(struct cleanup_rewrite *r, const struct cleanup_rewrite_conf *c,
                               int flags, struct buf *why)
{
    struct argv *w = argv_split(nz(c->local_header_rewrite_clients), LIST_SEPARATORS);
    struct buf tables = BUF_INIT, own = BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < w->argc && rc == 0; i++) {
        const char *word = w->argv[i];
        if (strcasecmp(word, "permit_inet_interfaces") == 0) {
            if (r->own == NULL) {
                rc = own_addresses("inet_interfaces", c->inet_interfaces, &own, why);
                if (rc == 0)
                    rc = own_addresses("proxy_interfaces", c->proxy_interfaces, &own, why);
                if (rc == 0)
                    r->own = match_list_create("inet_interfaces", own.data ? own.data : "", 0, why);
                if (rc == 0 && r->own == NULL)
                    rc = -1;
            }
        } else if (strcasecmp(word, "permit_mynetworks") == 0) {
            if (r->mynet == NULL &&
                (r->mynet = match_list_create("mynetworks", nz(c->mynetworks), 0, why)) == NULL)
                rc = -1;
        } else if (strcasecmp(word, "permit_sasl_authenticated") == 0 ||
                   strcasecmp(word, "permit_tls_clientcerts") == 0 ||
                   strcasecmp(word, "permit_tls_all_clientcerts") == 0) {
            /* cleanup does not learn these from the SMTP server: never a match. */
            continue;
        } else if (strcasecmp(word, "check_address_map") == 0) {
            if (i + 1 >= w->argc || strchr(w->argv[i + 1], ':') == NULL) {
                buf_setf(why, "local_header_rewrite_clients: check_address_map needs a table");
                rc = -1;
            } else {
                buf_printf(&tables, "%s ", w->argv[++i]);
            }
        } else if (strchr(word, ':') != NULL) {
            buf_printf(&tables, "%s ", word); /* e.g. static:all */
        } else {
            buf_setf(why, "local_header_rewrite_clients: unknown word \"%.100s\"", word);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = open_maps(r, &r->lc_tables, "local_header_rewrite_clients", buf_cstr(&tables), flags,
                       c->keep_broken, why);
    argv_free(w);
    buf_free(&tables);
    buf_free(&own);
    return rc;
}

struct cleanup_rewrite *cleanup_rewrite_create(const struct cleanup_rewrite_conf *c,
                                               struct buf *why)
{
    struct cleanup_rewrite *r = xcalloc(1, sizeof(*r));
    int flags = c->table_flags ? c->table_flags : MAP_FOLD_CASE;
    int keep = c->keep_broken;

    r->recur_limit = c->virtual_alias_recursion_limit > 0 ? c->virtual_alias_recursion_limit : 1;
    r->expan_limit = c->virtual_alias_expansion_limit > 0 ? c->virtual_alias_expansion_limit : 1;
    r->delims = xstrdup(nz(c->recipient_delimiter));
    r->myorigin = xstrdup(nz(c->myorigin));
    r->remote_domain = xstrdup(nz(c->remote_header_rewrite_domain));
    r->masq_domains = argv_split(nz(c->masquerade_domains), LIST_SEPARATORS);
    for (size_t i = 0; i < r->masq_domains->argc; i++)
        str_lower(r->masq_domains->argv[i]);

    struct resolve_params rp = {
        .mydestination = nz(c->mydestination),
        .local_transport = "local",
        .default_transport = "smtp",
        .relayhost = "",
        .myhostname = nz(c->myhostname),
    };
    if (parse_classes("canonical_classes", c->canonical_classes, &r->canon_cls, why) < 0 ||
        parse_classes("sender_canonical_classes", c->sender_canonical_classes, &r->send_cls, why) <
            0 ||
        parse_classes("recipient_canonical_classes", c->recipient_canonical_classes, &r->rcpt_cls,
                      why) < 0 ||
        parse_classes("masquerade_classes", c->masquerade_classes, &r->masq_cls, why) < 0 ||
        parse_propagate(r, c->propagate_unmatched_extensions, why) < 0)
        goto fail;
    if ((r->resolver = resolver_create(&rp, why)) == NULL)
        goto fail;
    if (open_maps(r, &r->send_canon, "sender_canonical_maps", c->sender_canonical_maps, flags, keep,
                  why) < 0 ||
        open_maps(r, &r->rcpt_canon, "recipient_canonical_maps", c->recipient_canonical_maps, flags,
                  keep, why) < 0 ||
        open_maps(r, &r->canon, "canonical_maps", c->canonical_maps, flags, keep, why) < 0 ||
        open_maps(r, &r->virt, "virtual_alias_maps", c->virtual_alias_maps, flags, keep, why) < 0 ||
        parse_exceptions(r, c->masquerade_exceptions, flags, keep, why) < 0 ||
        parse_local_clients(r, c, flags, why) < 0)
        goto fail;
    return r;
fail:
    cleanup_rewrite_free(r);
    return NULL;
}

void cleanup_rewrite_free(struct cleanup_rewrite *r)
{
    if (r == NULL)
        return;
    close_maps(&r->canon);
    close_maps(&r->send_canon);
    close_maps(&r->rcpt_canon);
    close_maps(&r->virt);
    close_maps(&r->lc_tables);
    for (size_t i = 0; i < r->nexc; i++) {
        free(r->exc[i].name);
        close_maps(&r->exc[i].t);
    }
    free(r->exc);
    argv_free(r->masq_domains);
    free(r->delims);
    free(r->myorigin);
    free(r->remote_domain);
    if (r->resolver)
        resolver_free(r->resolver);
    if (r->own)
        match_list_free(r->own);
    if (r->mynet)
        match_list_free(r->mynet);
    buf_free(&r->broken);
    buf_free(&r->last_error);
    free(r);
}

const char *cleanup_rewrite_broken(const struct cleanup_rewrite *r)
{
    return r->broken.len ? r->broken.data : NULL;
}

const char *cleanup_rewrite_last_error(const struct cleanup_rewrite *r)
{
    return buf_cstr(&r->last_error);
}

/* ---- lookups --------------------------------------------------------------- */

/* lookup_flags - MAPS_ADDR_LOCALPART when addr's domain is ours. 0, or -1
 * with last_error set. */
static int lookup_flags(struct cleanup_rewrite *r, const char *addr, int *flags)
{
    const char *at = strrchr(addr, '@');
    struct buf domain = BUF_INIT, w = BUF_INIT;
    int rc = 0;
    *flags = 0;
    if (at == NULL || at[1] == 0)
        return 0;
    buf_set(&domain, at + 1);
    /* RFC 1034 3.1: a trailing dot names the same domain. */
    if (domain.len > 1 && domain.data[domain.len - 1] == '.')
        buf_truncate(&domain, domain.len - 1);
    int local = resolve_is_local_domain(r->resolver, domain.data, &w);
    if (local < 0) {
        buf_setf(&r->last_error, "mydestination: %s", buf_cstr(&w));
        rc = -1;
    } else if (local > 0) {
        *flags = MAPS_ADDR_LOCALPART;
    }
    buf_free(&domain);
    buf_free(&w);
    return rc;
}

/* map_addr - maps_addr_map through a list that may be broken: 1, 0, -1
 * (last_error set). */
static int map_addr(struct cleanup_rewrite *r, struct rw_maps *m, const char *addr, int propagate,
                    struct argv *out)
{
    int flags;
    if (m->broken != NULL) {
        buf_set(&r->last_error, m->broken);
        return -1;
    }
    if (lookup_flags(r, addr, &flags) < 0)
        return -1;
    int rc = maps_addr_map(&m->ms, addr, r->delims, flags, propagate, out);
    if (rc < 0)
        buf_set(&r->last_error, maps_error(&m->ms));
    return rc;
}

static void lookup_problem(struct buf *why, const char *param, const char *addr)
{
    buf_setf(why, "%s map lookup problem for %.300s", param, addr);
}

/* map11 - one canonical table list applied to buf in place (Postfix's
 * cleanup_map11): repeated while the address changes. */
static int map11(struct cleanup_rewrite *r, const char *qid, struct rw_maps *m, struct buf *addr,
                 struct buf *why)
{
    if (!maps_in_use(m) || addr->len == 0)
        return CLEANUP_RW_OK;
    struct argv *res = argv_alloc();
    int rc = CLEANUP_RW_OK, count;
    for (count = 0; count < CLEANUP_CANON_NESTING; count++) {
        argv_free(res);
        res = argv_alloc();
        int found = map_addr(r, m, addr->data, r->prop_canon, res);
        if (found < 0) {
            lookup_problem(why, m->param, addr->data);
            rc = CLEANUP_RW_TEMP;
            break;
        }
        if (found == 0)
            break;
        if (res->argc > 1)
            msg_warn("%s: multi-valued %s entry for %.300s", qid, m->param, addr->data);
        if (strcmp(res->argv[0], addr->data) == 0)
            break;
        if (msg_verbose)
            msg_info("%s: %s map: %s -> %s", qid, m->param, addr->data, res->argv[0]);
        buf_set(addr, res->argv[0]);
    }
    if (count == CLEANUP_CANON_NESTING)
        msg_warn("%s: unreasonable %s map nesting for %.300s", qid, m->param, addr->data);
    argv_free(res);
    return rc;
}

/* masquerade - Postfix's cleanup_masquerade: the first masquerade_domains
 * entry that is the domain or a parent of it decides. */
static int masquerade(struct cleanup_rewrite *r, const char *qid, struct buf *addr, struct buf *why)
{
    const char *at = strrchr(addr->data ? addr->data : "", '@');
    if (at == NULL || r->masq_domains->argc == 0)
        return CLEANUP_RW_OK;

    /* masquerade_exceptions: local parts that keep their domain. */
    if (r->nexc > 0) {
        char *name = str_lower(xstrndup(addr->data, (size_t)(at - addr->data)));
        struct buf v = BUF_INIT;
        int excepted = 0, rc = CLEANUP_RW_OK;
        for (size_t i = 0; i < r->nexc; i++) {
            struct masq_exc *e = &r->exc[i];
            int hit;
            if (e->name != NULL) {
                hit = strcmp(e->name, name) == 0;
            } else if (e->t.broken != NULL) {
                buf_set(&r->last_error, e->t.broken);
                hit = -1;
            } else {
                hit = maps_find(&e->t.ms, name, 0, &v);
                if (hit < 0)
                    buf_set(&r->last_error, maps_error(&e->t.ms));
            }
            if (hit < 0) {
                lookup_problem(why, "masquerade_exceptions", addr->data);
                rc = CLEANUP_RW_TEMP;
                break;
            }
            if (hit > 0) {
                excepted = !e->negate;
                break;
            }
        }
        free(name);
        buf_free(&v);
        if (rc != CLEANUP_RW_OK || excepted)
            return rc;
    }

    const char *domain = at + 1;
    size_t dlen = strlen(domain);
    for (size_t i = 0; i < r->masq_domains->argc; i++) {
        const char *masq = r->masq_domains->argv[i];
        int keep = *masq == '!';
        if (keep)
            masq++;
        size_t mlen = strlen(masq);
        if (mlen == 0)
            continue;
        if (mlen == dlen) {
            if (strcasecmp(masq, domain) == 0)
                break;
        } else if (mlen < dlen) {
            const char *parent = domain + dlen - mlen;
            if (parent[-1] == '.' && strcasecmp(masq, parent) == 0) {
                if (!keep) {
                    if (msg_verbose)
                        msg_info("%s: masquerade: %s -> %s", qid, domain, masq);
                    buf_truncate(addr, (size_t)(domain - addr->data));
                    buf_puts(addr, masq);
                }
                break;
            }
        }
    }
    return CLEANUP_RW_OK;
}

int cleanup_rewrite_sender(struct cleanup_rewrite *r, const char *qid, const char *addr, int cls,
                           struct buf *out, struct buf *why)
{
    int rc = CLEANUP_RW_OK;
    buf_set(out, addr);
    if (*addr == 0)
        return CLEANUP_RW_OK; /* the null sender */
    if ((r->send_cls & cls) && (rc = map11(r, qid, &r->send_canon, out, why)) != CLEANUP_RW_OK)
        return rc;
    if ((r->canon_cls & cls) && (rc = map11(r, qid, &r->canon, out, why)) != CLEANUP_RW_OK)
        return rc;
    if (r->masq_cls & cls)
        rc = masquerade(r, qid, out, why);
    return rc;
}

int cleanup_rewrite_recipient(struct cleanup_rewrite *r, const char *qid, const char *addr, int cls,
                              struct buf *out, struct buf *why)
{
    int rc = CLEANUP_RW_OK;
    buf_set(out, addr);
    if (*addr == 0)
        return CLEANUP_RW_OK;
    if ((r->rcpt_cls & cls) && (rc = map11(r, qid, &r->rcpt_canon, out, why)) != CLEANUP_RW_OK)
        return rc;
    if ((r->canon_cls & cls) && (rc = map11(r, qid, &r->canon, out, why)) != CLEANUP_RW_OK)
        return rc;
    if (r->masq_cls & cls)
        rc = masquerade(r, qid, out, why);
    return rc;
}

static int seen_before(const struct argv *seen, const char *addr)
{
    for (size_t i = 0; i < seen->argc; i++)
        if (strcasecmp(seen->argv[i], addr) == 0)
            return 1;
    return 0;
}

int cleanup_rewrite_virtual(struct cleanup_rewrite *r, const char *qid, const char *addr,
                            struct argv *out, struct buf *why)
{
    if (!maps_in_use(&r->virt) || *addr == 0) {
        argv_add(out, addr);
        return CLEANUP_RW_OK;
    }
    struct argv *list = argv_alloc(), *seen = argv_alloc(), *res = argv_alloc();
    const char *param = r->virt.param;
    int rc = CLEANUP_RW_OK;
    argv_add(list, addr);
    for (size_t arg = 0; arg < list->argc && rc == CLEANUP_RW_OK; arg++) {
        if (list->argc > (size_t)r->expan_limit) {
            buf_setf(why, "unreasonable %s map expansion size for %.300s", param, addr);
            rc = CLEANUP_RW_LIMIT;
            break;
        }
        for (long count = 0;; count++) {
            /* An address that expanded into itself is final. */
            if (seen_before(seen, list->argv[arg]))
                break;
            if (count >= r->recur_limit) {
                buf_setf(why, "unreasonable %s map nesting for %.300s", param, addr);
                rc = CLEANUP_RW_LIMIT;
                break;
            }
            argv_add(seen, list->argv[arg]);
            argv_free(res);
            res = argv_alloc();
            int found = map_addr(r, &r->virt, list->argv[arg], r->prop_virt, res);
            if (found < 0) {
                lookup_problem(why, param, list->argv[arg]);
                rc = CLEANUP_RW_TEMP;
                break;
            }
            if (found == 0)
                break;
            if (msg_verbose)
                msg_info("%s: %s map: %s -> %s%s", qid, param, list->argv[arg], res->argv[0],
                         res->argc > 1 ? " ..." : "");
            free(list->argv[arg]);
            list->argv[arg] = xstrdup(res->argv[0]);
            for (size_t i = 1; i < res->argc; i++)
                argv_add(list, res->argv[i]);
        }
    }
    if (rc == CLEANUP_RW_OK && list->argc > (size_t)r->expan_limit) {
        buf_setf(why, "unreasonable %s map expansion size for %.300s", param, addr);
        rc = CLEANUP_RW_LIMIT;
    }
    if (rc == CLEANUP_RW_OK)
        for (size_t i = 0; i < list->argc; i++)
            argv_add(out, list->argv[i]);
    argv_free(list);
    argv_free(seen);
    argv_free(res);
    return rc;
}

int cleanup_rewrite_envelope_recipient(struct cleanup_rewrite *r, const char *qid, const char *addr,
                                       struct argv *out, struct buf *why)
{
    struct buf canon = BUF_INIT;
    int rc = cleanup_rewrite_recipient(r, qid, addr, CLEANUP_RW_ENV_RCPT, &canon, why);
    if (rc == CLEANUP_RW_OK)
        rc = cleanup_rewrite_virtual(r, qid, canon.data, out, why);
    buf_free(&canon);
    return rc;
}

/* ---- headers ----------------------------------------------------------------- */

int cleanup_rewrite_header_class(const char *name)
{
    static const char *const senders[] = {
        "From",        "Sender",        "Reply-To",        "Errors-To", "Return-Receipt-To",
        "Resent-From", "Resent-Sender", "Resent-Reply-To", NULL,
    };
    static const char *const rcpts[] = {
        "To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc", "Apparently-To", NULL,
    };
    for (size_t i = 0; senders[i]; i++)
        if (strcasecmp(name, senders[i]) == 0)
            return CLEANUP_RW_HDR_SENDER;
    for (size_t i = 0; rcpts[i]; i++)
        if (strcasecmp(name, rcpts[i]) == 0)
            return CLEANUP_RW_HDR_RCPT;
    return 0;
}

int cleanup_rewrite_local_client(struct cleanup_rewrite *r, const char *addr, struct buf *why)
{
    struct buf w = BUF_INIT, v = BUF_INIT;
    int rc = 0;
    if (addr == NULL || *addr == 0)
        return 1;
    if (r->own != NULL && match_list_host(r->own, NULL, addr, &w) > 0)
        rc = 1;
    if (rc == 0 && r->mynet != NULL) {
        int m = match_list_host(r->mynet, NULL, addr, &w);
        if (m < 0) {
            buf_setf(&r->last_error, "mynetworks: %s", buf_cstr(&w));
            buf_setf(why, "mynetworks lookup problem for %.100s", addr);
            rc = CLEANUP_RW_TEMP;
        } else if (m > 0) {
            rc = 1;
        }
    }
    if (rc == 0 && maps_in_use(&r->lc_tables)) {
        int m;
        if (r->lc_tables.broken != NULL) {
            buf_set(&r->last_error, r->lc_tables.broken);
            m = -1;
        } else if ((m = maps_find(&r->lc_tables.ms, addr, 0, &v)) < 0) {
            buf_set(&r->last_error, maps_error(&r->lc_tables.ms));
        }
        if (m < 0) {
            lookup_problem(why, "local_header_rewrite_clients", addr);
            rc = CLEANUP_RW_TEMP;
        } else if (m > 0) {
            rc = 1;
        }
    }
    buf_free(&w);
    buf_free(&v);
    return rc;
}

const char *cleanup_rewrite_header_domain(const struct cleanup_rewrite *r, int local)
{
    if (local)
        return r->myorigin;
    return *r->remote_domain ? r->remote_domain : NULL;
}

struct header_ctx {
    struct cleanup_rewrite *r;
    const char *qid;
    int cls;
    const char *domain;
    int temp;
    struct buf err;
    struct buf addr;
};

static int header_one(void *ctx, const char *addr, struct buf *repl, struct buf *why)
{
    struct header_ctx *h = ctx;
    int rc;
    if (*addr == 0)
        return 0; /* <> */
    buf_set(&h->addr, addr);
    if (strchr(addr, '@') == NULL && h->domain != NULL && *h->domain)
        buf_printf(&h->addr, "@%s", h->domain);
    buf_reset(repl);
    if (h->cls == CLEANUP_RW_HDR_SENDER)
        rc = cleanup_rewrite_sender(h->r, h->qid, h->addr.data, h->cls, repl, &h->err);
    else
        rc = cleanup_rewrite_recipient(h->r, h->qid, h->addr.data, h->cls, repl, &h->err);
    if (rc != CLEANUP_RW_OK) {
        h->temp = 1;
        buf_setf(why, "%s", buf_cstr(&h->err));
        return -1;
    }
    return strcmp(repl->data, addr) != 0;
}

int cleanup_rewrite_header(struct cleanup_rewrite *r, const char *qid, int cls, const char *domain,
                           const char *value, size_t len, struct buf *out, struct buf *why)
{
    struct header_ctx h = {r, qid, cls, domain, 0, BUF_INIT, BUF_INIT};
    struct buf w = BUF_INIT;
    int rc = header_addr_rewrite(value, len, header_one, &h, out, &w);
    if (rc < 0) {
        if (h.temp) {
            buf_setf(why, "%s", buf_cstr(&h.err));
            rc = CLEANUP_RW_TEMP;
        } else {
            /* Not an address list we can parse: left as the author wrote it. */
            if (msg_verbose)
                msg_info("%s: header not rewritten: %s", qid, buf_cstr(&w));
            rc = 0;
        }
    }
    buf_free(&h.err);
    buf_free(&h.addr);
    buf_free(&w);
    return rc;
}
