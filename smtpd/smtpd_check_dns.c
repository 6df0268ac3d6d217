/* smtpd_check_dns - the restrictions that ask DNS: unknown sender and
 * recipient domains (MX, then A, then AAAA; RFC 7505 null MX), unknown
 * HELO names, and DNS block / allow lists for the client address
 * (reject_rbl_client, permit_dnswl_client) and for names
 * (reject_rhsbl_*), with Postfix's reply template (default_rbl_reply,
 * rbl_reply_maps) and reply-address patterns ("zone=127.0.0.[2..11]").
 *
 * A DNS failure never rejects for good: unknown domains defer (when the
 * request would otherwise be accepted), a blocklist that does not answer
 * is skipped with a warning, as Postfix does.
 */
#include "smtpd_check_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "dns/dns.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"
#include "util/strutil.h"

#define RBL_TXT_LIMIT  500 /* joined TXT text, as Postfix */
#define RBL_CACHE_SIZE 64
#define RBL_CACHE_TTL  60 /* seconds: one session's worth of RCPTs */
#define EXPAND_DEPTH   10
#define EXPAND_MAX     2000

/* ---- unknown domains and host names ---------------------------------------- */

/* mailhost - MX, else A, else AAAA for name. DNS_OK (null MX sets
 * *nullmx), DNS_NOTFOUND, DNS_RETRY. */
static enum dns_status mailhost(const char *name, int *nullmx, int mx_first, struct buf *why)
{
    const int order_mx[] = {DNS_T_MX, DNS_T_A, DNS_T_AAAA};
    const int order_a[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX};
    const int *order = mx_first ? order_mx : order_a;
    int retry = 0;

    *nullmx = 0;
    for (int i = 0; i < 3; i++) {
        struct dns_rr *rr = NULL;
        enum dns_status s = dns_lookup(name, order[i], &rr, why);
        if (s == DNS_OK) {
            /* RFC 7505 3: one MX record whose exchange is the root. */
            if (order[i] == DNS_T_MX && rr->next == NULL &&
                (rr->data[0] == 0 || strcmp(rr->data, ".") == 0))
                *nullmx = 1;
            dns_rr_free(rr);
            return DNS_OK;
        }
        if (s == DNS_RETRY)
            retry = 1;
        if (s == DNS_INVAL)
            break; /* the name itself is bad: no other type helps */
    }
    return retry ? DNS_RETRY : DNS_NOTFOUND;
}

int chk_unknown_addr(struct chk *c, const char *addr, const char *reply_class)
{
    struct chk_resolved res;
    struct buf why = BUF_INIT;
    int sender = strcmp(reply_class, CHK_SENDER) == 0;
    int rc = SMTPD_CHECK_DUNNO, nullmx;
    const char *domain;

    chk_resolved_init(&res);
    if (chk_resolve(addr, &res, &why) < 0) {
        rc = chk_lookup_failed(c, addr, "address resolver", why.data);
        goto done;
    }
    domain = res.addr.data + res.at + 1;
    /* Our own domains and address literals need no DNS. */
    if (res.class == CHK_CLASS_LOCAL || res.class == CHK_CLASS_ALIAS ||
        res.class == CHK_CLASS_VIRTUAL || *domain == '[')
        goto done;
    switch (mailhost(domain, &nullmx, 1, &why)) {
    case DNS_OK:
        if (nullmx)
            rc = chk_reject(c, CHK_ERR_POLICY, sender ? 550 : 556, sender ? "5.7.27" : "5.1.10",
                            "<%s>: %s rejected: Domain %s does not accept mail (nullMX)", addr,
                            reply_class, domain);
        break;
    case DNS_RETRY:
        msg_info("%s: %s", domain, why.data);
        rc = chk_defer_if_permit(c, 450, sender ? "4.1.8" : "4.1.2",
                                 "<%s>: %s rejected: Domain not found", addr, reply_class);
        break;
    default:
        rc = chk_reject(c, CHK_ERR_POLICY, chk_cf.unk_addr_code, sender ? "4.1.8" : "4.1.2",
                        "<%s>: %s rejected: Domain not found", addr, reply_class);
        break;
    }
done:
    chk_resolved_free(&res);
    buf_free(&why);
    return rc;
}

int chk_unknown_helo(struct chk *c, const char *helo)
{
    struct buf why = BUF_INIT;
    int rc = SMTPD_CHECK_DUNNO, nullmx;
    size_t n = strlen(helo);
    char *name;

    if (*helo == '[') {
        /* Same as reject_invalid_helo_hostname for a literal. */
        return chk_invalid_helo(c, helo);
    }
    name = xstrdup(helo);
    if (n > 1 && name[n - 1] == '.' && name[n - 2] != '.')
        name[n - 1] = 0;
    switch (mailhost(name, &nullmx, 0, &why)) {
    case DNS_OK:
        break; /* a null MX is fine for a host name */
    case DNS_RETRY:
        rc = chk_defer_if_permit(c, 450, "4.7.1", "<%s>: %s rejected: Host not found", helo,
                                 CHK_HELO);
        break;
    default:
        rc = chk_reject(c, CHK_ERR_POLICY, chk_cf.unk_hostname_code, "4.7.1",
                        "<%s>: %s rejected: Host not found", helo, CHK_HELO);
        break;
    }
    free(name);
    buf_free(&why);
    return rc;
}

/* ---- reply-address patterns ---------------------------------------------------- */

/* octet_match - one field of a pattern ("2", "[2..11]", "[2;4;6..8]")
 * against value; 1, 0, or -1 for bad syntax. *pp advances past it. */
static int octet_match(const char **pp, int value)
{
    const char *p = *pp;
    int matched = 0;
    char *end;

    if (*p != '[') {
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 255 || *p == '-' || *p == '+')
            return -1;
        *pp = end;
        return v == value;
    }
    p++;
    for (;;) {
        long lo, hi;
        if (*p < '0' || *p > '9')
            return -1;
        lo = hi = strtol(p, &end, 10);
        p = end;
        if (p[0] == '.' && p[1] == '.') {
            p += 2;
            if (*p < '0' || *p > '9')
                return -1;
            hi = strtol(p, &end, 10);
            p = end;
        }
        if (lo > 255 || hi > 255 || lo > hi)
            return -1;
        if (value >= lo && value <= hi)
            matched = 1;
        if (*p == ';') {
            p++;
            continue;
        }
        if (*p != ']')
            return -1;
        *pp = p + 1;
        return matched;
    }
}

int chk_ip_match(const char *pattern, const char *addr)
{
    unsigned char a[4];
    const char *p = pattern;
    int is_v4 = inet_pton(AF_INET, addr, a) == 1, all = 1;

    /* The pattern is checked in full even when addr cannot match, so a
     * bad pattern is found at init. */
    for (int i = 0; i < 4; i++) {
        int m = octet_match(&p, is_v4 ? a[i] : -1);
        if (m < 0)
            return -1;
        if (m == 0)
            all = 0;
        if (i < 3 && *p++ != '.')
            return -1;
    }
    if (*p != 0)
        return -1;
    return is_v4 && all;
}

/* ---- DNS lists ------------------------------------------------------------------- */

/* A cached answer: the A records (printable) and the joined TXT. */
struct rbl_entry {
    char *query;
    time_t when;
    enum dns_status status; /* DNS_OK listed, DNS_NOTFOUND not, DNS_RETRY failed */
    struct argv *addrs;
    char *txt;
};

static struct rbl_entry rbl_cache[RBL_CACHE_SIZE];

static void rbl_entry_free(struct rbl_entry *e)
{
    free(e->query);
    if (e->addrs)
        argv_free(e->addrs);
    free(e->txt);
    memset(e, 0, sizeof(*e));
}

/* rbl_query - A (and, when listed, TXT) of query, cached for a minute: with
 * smtpd_delay_reject the client restrictions run for every RCPT. */
static const struct rbl_entry *rbl_query(const char *query)
{
    time_t now = time(NULL);
    struct rbl_entry *slot = &rbl_cache[0];
    struct dns_rr *rr = NULL, *r;
    struct buf why = BUF_INIT, txt = BUF_INIT;

    for (int i = 0; i < RBL_CACHE_SIZE; i++) {
        struct rbl_entry *e = &rbl_cache[i];
        if (e->query != NULL && strcmp(e->query, query) == 0 && now - e->when < RBL_CACHE_TTL &&
            now >= e->when)
            return e;
        if (e->query == NULL || e->when < slot->when)
            slot = e; /* an empty slot, else the oldest */
        if (slot->query == NULL)
            break;
    }
    rbl_entry_free(slot);
    slot->query = xstrdup(query);
    slot->when = now;
    slot->addrs = argv_alloc();
    slot->status = dns_lookup(query, DNS_T_A, &rr, &why);
    if (slot->status == DNS_INVAL)
        slot->status = DNS_NOTFOUND;
    if (slot->status == DNS_RETRY)
        msg_warn("%s: RBL lookup error: %s", query, why.data);
    if (slot->status == DNS_OK) {
        for (r = rr; r != NULL; r = r->next)
            argv_add(slot->addrs, r->data);
        dns_rr_free(rr);
        rr = NULL;
        if (dns_lookup(query, DNS_T_TXT, &rr, &why) == DNS_OK) {
            for (r = rr; r != NULL && txt.len < RBL_TXT_LIMIT; r = r->next) {
                size_t room = RBL_TXT_LIMIT - txt.len, n = strlen(r->data);
                buf_append(&txt, r->data, n < room ? n : room);
                if (r->next != NULL && txt.len + 3 < RBL_TXT_LIMIT)
                    buf_puts(&txt, " / ");
            }
            slot->txt = buf_steal(&txt);
        }
    }
    dns_rr_free(rr);
    buf_free(&why);
    buf_free(&txt);
    return slot;
}

/* dnsxl - is query listed (matching pattern, when given)? 1, 0, -1 for a
 * DNS failure. *txt: the TXT text or NULL. */
static int dnsxl(const char *query, const char *pattern, const char **txt)
{
    const struct rbl_entry *e = rbl_query(query);
    *txt = NULL;
    if (e->status == DNS_RETRY)
        return -1;
    if (e->status != DNS_OK)
        return 0;
    if (pattern != NULL) {
        int hit = 0;
        for (size_t i = 0; i < e->addrs->argc && !hit; i++)
            hit = chk_ip_match(pattern, e->addrs->argv[i]) > 0;
        if (!hit)
            return 0;
    }
    *txt = e->txt;
    return 1;
}

/* The $names of a reply template (Postfix's rbl and smtpd expansions). */
struct rbl_vars {
    struct chk *c;
    const char *domain, *what, *class, *txt;
    char code[8];
};

static const char *rbl_var(const struct rbl_vars *v, const char *name, size_t n)
{
    const struct smtpd_state *st = v->c->st;
#define IS(s) (strlen(s) == n && strncmp(name, s, n) == 0)
    if (IS("rbl_code"))
        return v->code;
    if (IS("rbl_domain"))
        return v->domain;
    if (IS("rbl_reason") || IS("rbl_txt"))
        return v->txt;
    if (IS("rbl_what"))
        return v->what;
    if (IS("rbl_class"))
        return v->class;
    if (IS("client_address"))
        return st->addr;
    if (IS("client_name"))
        return st->name;
    if (IS("reverse_client_name"))
        return st->reverse_name;
    if (IS("client_port"))
        return st->port;
    if (IS("helo_name"))
        return st->helo_name ? st->helo_name : "";
    if (IS("sender"))
        return st->sender ? st->sender : "";
    if (IS("recipient"))
        return st->recipient ? st->recipient : "";
    if (IS("sasl_method"))
        return st->sasl_method ? st->sasl_method : "";
    if (IS("sasl_username"))
        return st->sasl_username ? st->sasl_username : "";
    return "";
#undef IS
}

/* expand - $name, ${name}, ${name?text}, ${name:text}, $$ (mac_expand). */
static int expand(const struct rbl_vars *v, const char *t, struct buf *out, int depth)
{
    if (depth > EXPAND_DEPTH)
        return -1;
    while (*t) {
        const char *name, *val, *text = NULL;
        size_t n, tlen = 0;
        int op = 0;

        if (out->len > EXPAND_MAX)
            return -1;
        if (*t != '$') {
            buf_putc(out, *t++);
            continue;
        }
        t++;
        if (*t == '$') {
            buf_putc(out, *t++);
            continue;
        }
        if (*t == '{' || *t == '(') {
            char close = *t == '{' ? '}' : ')';
            int level = 1;
            const char *p;
            name = ++t;
            n = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            p = t + n;
            if (*p == '?' || *p == ':') {
                op = *p++;
                text = p;
                for (; *p && level > 0; p++) {
                    if (*p == '{' || *p == '(')
                        level++;
                    else if ((*p == '}' || *p == ')') && --level == 0)
                        break;
                }
                if (*p != close)
                    return -1;
                tlen = (size_t)(p - text);
            } else if (*p != close) {
                return -1;
            }
            t = p + 1;
        } else {
            name = t;
            n = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            if (n == 0)
                return -1;
            t += n;
        }
        val = rbl_var(v, name, n);
        if (op == 0) {
            /* Values come from the network and DNS: no control bytes. */
            for (const char *p = val; *p; p++)
                buf_putc(out, (unsigned char)*p < 0x20 || *p == 0x7f ? '_' : *p);
        } else if ((op == '?') == (*val != 0)) {
            char *sub = xstrndup(text, tlen);
            int rc = expand(v, sub, out, depth + 1);
            free(sub);
            if (rc < 0)
                return -1;
        }
    }
    return 0;
}

static int rbl_reply(struct chk *c, const char *zone_arg, const char *zone, const char *what,
                     const char *reply_class, const char *txt)
{
    struct rbl_vars v = {c, zone, what, reply_class, txt ? txt : "", ""};
    struct buf tmpl = BUF_INIT, out = BUF_INIT, why = BUF_INIT;
    const char *template = chk_cf.def_rbl_reply, *text;
    char dsn[ACCESS_DSN_MAX];
    int rc, code;

    snprintf(v.code, sizeof(v.code), "%d", chk_cf.maps_rbl_code);
    if (chk_cf.rbl_reply.n > 0) {
        rc = chk_maps_find(&chk_cf.rbl_reply, zone_arg, &tmpl, &why);
        if (rc < 0) {
            msg_warn("rbl_reply_maps: %s", why.data);
            rc = chk_config_error(c);
            goto done;
        }
        if (rc > 0)
            template = tmpl.data;
    }
    if (expand(&v, template, &out, 0) < 0) {
        msg_warn("bad rbl reply template for domain %s: %s", zone_arg, template);
        buf_reset(&out);
        if (template == chk_cf.def_rbl_reply || expand(&v, chk_cf.def_rbl_reply, &out, 0) < 0) {
            rc = chk_config_error(c);
            goto done;
        }
    }
    text = out.data;
    if ((text[0] != '4' && text[0] != '5') || text[1] < '0' || text[1] > '9' || text[2] < '0' ||
        text[2] > '9' || text[3] != ' ') {
        msg_warn("rbl response code configuration error: %s", text);
        rc = chk_reject(c, CHK_ERR_POLICY, 450, "4.7.1", "Service unavailable");
        goto done;
    }
    code = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
    text = access_dsn_split(text + 4, dsn);
    rc = chk_reject(c, CHK_ERR_POLICY, code, dsn[0] ? dsn : "4.7.1", "%s",
                    *text ? text : "Service unavailable");
done:
    buf_free(&tmpl);
    buf_free(&out);
    buf_free(&why);
    return rc;
}

/* split_zone - "zone=pattern" into zone (returned, malloc'ed) and pattern. */
static char *split_zone(const char *arg, const char **pattern)
{
    const char *eq = strchr(arg, '=');
    *pattern = eq ? eq + 1 : NULL;
    return eq ? xstrndup(arg, (size_t)(eq - arg)) : xstrdup(arg);
}

int chk_rbl_client(struct chk *c, const char *zone_arg, int permit)
{
    const char *pattern, *txt;
    char *zone = split_zone(zone_arg, &pattern);
    struct buf query = BUF_INIT;
    int rc = SMTPD_CHECK_DUNNO, listed;

    /* Never allow-list a recipient that may not be relayed to. */
    if (permit && c->st->recipient != NULL && strcmp(c->stage, "RCPT") == 0 &&
        (rc = chk_auth_destination(c, c->st->recipient)) != SMTPD_CHECK_OK) {
        goto done;
    }
    rc = SMTPD_CHECK_DUNNO;
    if (dns_reverse_name(c->st->addr, zone, &query) < 0)
        goto done;
    listed = dnsxl(query.data, pattern, &txt);
    if (permit) {
        if (listed > 0)
            rc = SMTPD_CHECK_OK;
        else if (listed < 0)
            rc = chk_defer_if_reject(c, 450, "4.7.1", "<%s>: %s rejected: %s", c->st->addr,
                                     CHK_CLIENT, "Service unavailable");
    } else if (listed > 0) {
        rc = rbl_reply(c, zone_arg, zone, c->st->addr, CHK_CLIENT, txt);
    }
done:
    free(zone);
    buf_free(&query);
    return rc;
}

int chk_rhsbl(struct chk *c, const char *zone_arg, const char *what, const char *reply_class)
{
    const char *pattern, *txt, *domain = strrchr(what, '@'), *suffix;
    char *zone = split_zone(zone_arg, &pattern);
    struct buf query = BUF_INIT;
    int rc = SMTPD_CHECK_DUNNO;

    domain = domain ? domain + 1 : what;
    suffix = strrchr(domain, '.');
    /* No literals, no numeric names: some lists refuse "IP queries". */
    if (*domain == 0 || *domain == '[' || str_alldig(suffix ? suffix + 1 : domain) ||
        !chk_valid_hostname(domain))
        goto done;
    buf_printf(&query, "%s.%s", domain, zone);
    if (dnsxl(query.data, pattern, &txt) > 0)
        rc = rbl_reply(c, zone_arg, zone, what, reply_class, txt);
done:
    free(zone);
    buf_free(&query);
    return rc;
}
