/* smtp_addr - the ordered list of server addresses for a next hop:
 * MX records (lowest preference first, random among equals: dns.c), the
 * A/AAAA records of each exchange (inet_protocols, smtp_address_preference),
 * the domain's own addresses when it has no MX, literals and UNIX sockets
 * as they are. Postfix's rules for the special cases:
 *   - null MX (RFC 7505: one MX "." of preference 0): bounce, 5.1.10;
 *   - an MX that is this host (its address is one of inet_interfaces or
 *     proxy_interfaces, or its name is $myhostname): it and every MX of
 *     the same or a worse preference are dropped; when that leaves
 *     nothing and this host was the best MX: bounce, 5.4.6 "mail for X
 *     loops back to myself";
 *   - a lookup that fails temporarily defers (4.4.3); a name that does not
 *     exist bounces (5.4.4).
 */
#include "smtp.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/mail_conf.h"
#include "dns/dns.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"

static void own_add(const struct sockaddr *sa)
{
    struct smtp_conf *c = &smtp_conf;
    size_t len =
        sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (c->own_count >= SMTP_OWN_ADDR_MAX ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return;
    memset(&c->own[c->own_count], 0, sizeof(c->own[0]));
    memcpy(&c->own[c->own_count], sa, len);
    c->own_count++;
}

static void own_add_text(const char *text)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    if (getaddrinfo(text, NULL, &hints, &res) != 0) {
        msg_warn("cannot find the address of interface \"%s\" (for mail loop checks)", text);
        return;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        own_add(ai->ai_addr);
    freeaddrinfo(res);
}

/* smtp_own_addrs_init - this host's addresses, before the chroot. */
void smtp_own_addrs_init(void)
{
    const char *params[] = {"inet_interfaces", "proxy_interfaces"};
    for (size_t p = 0; p < 2; p++) {
        struct argv *words = argv_split(conf_str(params[p]), ", \t\r\n");
        for (size_t i = 0; i < words->argc; i++) {
            const char *w = words->argv[i];
            if (strcasecmp(w, "all") == 0) {
                struct ifaddrs *ifa = NULL;
                if (getifaddrs(&ifa) == 0) {
                    for (struct ifaddrs *x = ifa; x; x = x->ifa_next)
                        if (x->ifa_addr)
                            own_add(x->ifa_addr);
                    freeifaddrs(ifa);
                }
            } else if (strcasecmp(w, "loopback-only") == 0) {
                own_add_text("127.0.0.1");
                own_add_text("::1");
            } else {
                /* "[::1]" and "::1" alike */
                char buf[SMTP_CLIENT_HOST_MAX];
                size_t n = strlen(w);
                if (w[0] == '[' && n > 2 && w[n - 1] == ']') {
                    w++;
                    n -= 2;
                }
                if (n >= sizeof(buf))
                    continue;
                memcpy(buf, w, n);
                buf[n] = 0;
                own_add_text(buf);
            }
        }
        argv_free(words);
    }
}

static int is_own(const struct sockaddr_storage *sa)
{
    const struct smtp_conf *c = &smtp_conf;
    for (size_t i = 0; i < c->own_count; i++) {
        if (c->own[i].ss_family != sa->ss_family)
            continue;
        if (sa->ss_family == AF_INET && ((const struct sockaddr_in *)&c->own[i])->sin_addr.s_addr ==
                                            ((const struct sockaddr_in *)sa)->sin_addr.s_addr)
            return 1;
        if (sa->ss_family == AF_INET6 &&
            memcmp(&((const struct sockaddr_in6 *)&c->own[i])->sin6_addr,
                   &((const struct sockaddr_in6 *)sa)->sin6_addr, 16) == 0)
            return 1;
    }
    return 0;
}

void smtp_addr_free(struct smtp_addr *list)
{
    while (list) {
        struct smtp_addr *next = list->next;
        free(list);
        list = next;
    }
}

static struct smtp_addr *addr_new(const char *host, int family, const void *raw, unsigned port,
                                  unsigned pref)
{
    struct smtp_addr *a = xcalloc(1, sizeof(*a));
    snprintf(a->host, sizeof(a->host), "%s", host);
    a->port = port;
    a->pref = pref;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        memcpy(&sin->sin_addr, raw, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        memcpy(&sin6->sin6_addr, raw, 16);
    }
    inet_ntop(family, raw, a->text, sizeof(a->text));
    return a;
}

/* The two address families in the order to try them. */
static void family_order(int fam[2])
{
    const struct smtp_conf *c = &smtp_conf;
    int first = c->prefer_ipv6 ? AF_INET6 : AF_INET;
    int second = first == AF_INET ? AF_INET6 : AF_INET;
    fam[0] = (first == AF_INET ? c->use_ipv4 : c->use_ipv6) ? first : 0;
    fam[1] = (second == AF_INET ? c->use_ipv4 : c->use_ipv6) ? second : 0;
}

/* host_addrs - the addresses of host appended at *tail. DNS_OK when some
 * were found; else the worst status + why. */
static enum dns_status host_addrs(const char *host, unsigned port, unsigned pref,
                                  struct smtp_addr ***tail, struct buf *why)
{
    int fam[2], found = 0;
    enum dns_status worst = DNS_NOTFOUND;

    family_order(fam);
    if (smtp_conf.host_lookup_native) {
        struct addrinfo hints = {0}, *res = NULL;
        hints.ai_socktype = SOCK_STREAM;
        int e = getaddrinfo(host, NULL, &hints, &res);
        if (e != 0) {
            buf_setf(why, "Host or domain name not found. Name service error for name=%s: %s", host,
                     gai_strerror(e));
            return e == EAI_AGAIN ? DNS_RETRY : DNS_NOTFOUND;
        }
        for (int f = 0; f < 2; f++)
            for (struct addrinfo *ai = res; fam[f] && ai; ai = ai->ai_next) {
                if (ai->ai_family != fam[f])
                    continue;
                const void *raw =
                    fam[f] == AF_INET
                        ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
                **tail = addr_new(host, fam[f], raw, port, pref);
                *tail = &(**tail)->next;
                found = 1;
            }
        freeaddrinfo(res);
        return found ? DNS_OK : DNS_NOTFOUND;
    }
    for (int f = 0; f < 2; f++) {
        struct dns_rr *rr = NULL;
        struct buf w = BUF_INIT;
        if (!fam[f])
            continue;
        enum dns_status st = dns_lookup(host, fam[f] == AF_INET ? DNS_T_A : DNS_T_AAAA, &rr, &w);
        if (st == DNS_OK) {
            for (struct dns_rr *r = rr; r; r = r->next) {
                if ((fam[f] == AF_INET && r->addr_len != 4) ||
                    (fam[f] == AF_INET6 && r->addr_len != 16))
                    continue;
                **tail = addr_new(host, fam[f], r->addr, port, pref);
                *tail = &(**tail)->next;
                found = 1;
            }
        } else {
            if (st == DNS_RETRY || worst != DNS_RETRY) {
                worst = st == DNS_INVAL ? DNS_NOTFOUND : st;
                buf_setf(
                    why,
                    "Host or domain name not found. Name service error for name=%s type=%s: %s",
                    host, fam[f] == AF_INET ? "A" : "AAAA",
                    st == DNS_RETRY ? "Host not found, try again" : "Host not found");
            }
        }
        dns_rr_free(rr);
        buf_free(&w);
    }
    return found ? DNS_OK : worst;
}

static enum smtp_fail lookup_fail(struct smtp_state *st, enum dns_status s, const char *why)
{
    if (s == DNS_RETRY)
        smtp_fail_set(st, DELIVER_DEFER, "4.4.3", NULL, NULL, "%s", why);
    else
        smtp_fail_set(st, DELIVER_BOUNCE, "5.4.4", NULL, NULL, "%s", why);
    return s == DNS_RETRY ? SMTP_ALL_TEMP : SMTP_ALL_BOUNCE;
}

static int is_myhostname(const char *name)
{
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--;
    return strlen(smtp_conf.myhostname) == n && strncasecmp(name, smtp_conf.myhostname, n) == 0;
}

enum smtp_fail smtp_addr_list(struct smtp_state *st, struct smtp_addr **out)
{
    const struct smtp_nexthop *nh = &st->nh;
    struct smtp_addr *list = NULL, **tail = &list;
    struct buf why = BUF_INIT;
    enum smtp_fail rc = SMTP_OK;
    enum dns_status ds;

    *out = NULL;
    if (nh->path[0]) {
        struct smtp_addr *a = xcalloc(1, sizeof(*a));
        snprintf(a->host, sizeof(a->host), "%s", smtp_conf.myhostname);
        snprintf(a->path, sizeof(a->path), "%s", nh->path);
        snprintf(a->text, sizeof(a->text), "%.63s", nh->path);
        a->sa.ss_family = AF_UNSPEC;
        *out = a;
        return SMTP_OK;
    }
    if (nh->addr) {
        unsigned char raw[16];
        int fam = inet_pton(AF_INET, nh->host, raw) == 1 ? AF_INET : AF_INET6;
        if (fam == AF_INET6 && inet_pton(AF_INET6, nh->host, raw) != 1) {
            smtp_fail_set(st, DELIVER_DEFER, "4.3.5", NULL, NULL, "bad address %s", nh->host);
            return SMTP_ALL_TEMP;
        }
        *out = addr_new(nh->host, fam, raw, nh->port, 0);
        return SMTP_OK;
    }
    if (!nh->mx) {
        if ((ds = host_addrs(nh->host, nh->port, 0, &tail, &why)) != DNS_OK)
            rc = lookup_fail(st, ds, buf_cstr(&why));
        goto done;
    }

    struct dns_rr *mx = NULL;
    ds = dns_lookup(nh->host, DNS_T_MX, &mx, &why);
    if (ds == DNS_NOTFOUND) {
        /* RFC 5321 5.1: no MX, the domain itself is the implicit MX */
        if ((ds = host_addrs(nh->host, nh->port, 0, &tail, &why)) != DNS_OK)
            rc = lookup_fail(st, ds, buf_cstr(&why));
        goto done;
    }
    if (ds != DNS_OK) {
        buf_setf(&why, "Host or domain name not found. Name service error for name=%s type=MX: %s",
                 nh->host, ds == DNS_RETRY ? "Host not found, try again" : "Host not found");
        rc = lookup_fail(st, ds, buf_cstr(&why));
        goto done;
    }
    /* RFC 7505 3: a single MX of "." says the domain takes no mail */
    if (mx->next == NULL && mx->pref == 0 && (mx->data[0] == 0 || strcmp(mx->data, ".") == 0)) {
        smtp_fail_set(st, DELIVER_BOUNCE, "5.1.10", NULL, NULL,
                      "Domain %s does not accept mail (nullMX)", nh->host);
        dns_rr_free(mx);
        rc = SMTP_ALL_BOUNCE;
        goto done;
    }
    int found_self = 0, best_is_self = 0, any = 0;
    enum dns_status worst = DNS_NOTFOUND;
    struct buf last = BUF_INIT;
    for (struct dns_rr *r = mx; r != NULL; r = r->next) {
        struct smtp_addr *mine = NULL, **mt = &mine;
        if (r->data[0] == 0 || strcmp(r->data, ".") == 0)
            continue;
        ds = host_addrs(r->data, nh->port, r->pref, &mt, &last);
        int self = is_myhostname(r->data);
        for (struct smtp_addr *a = mine; a && !self; a = a->next)
            self = is_own(&a->sa);
        if (self) {
            /* Postfix smtp_truncate_self: drop it and every MX of the same
             * or a worse preference */
            found_self = 1;
            best_is_self = r == mx || list == NULL;
            smtp_addr_free(mine);
            break;
        }
        if (ds == DNS_OK) {
            *tail = mine;
            while (*tail)
                tail = &(*tail)->next;
            any = 1;
        } else {
            if (ds == DNS_RETRY)
                worst = DNS_RETRY;
            buf_set(&why, buf_cstr(&last));
        }
    }
    buf_free(&last);
    dns_rr_free(mx);
    if (!any) {
        if (found_self && best_is_self) {
            smtp_fail_set(st, DELIVER_BOUNCE, "5.4.6", NULL, NULL,
                          "mail for %s loops back to myself", nh->host);
            rc = SMTP_ALL_BOUNCE;
        } else if (found_self && worst != DNS_RETRY) {
            /* better MX hosts exist but none could be found */
            smtp_fail_set(st, DELIVER_DEFER, "4.4.4", NULL, NULL, "%s",
                          why.len ? why.data : "no usable MX host");
            rc = SMTP_ALL_TEMP;
        } else {
            rc = lookup_fail(st, worst, why.len ? why.data : "no usable MX host");
        }
    }
done:
    buf_free(&why);
    if (rc != SMTP_OK) {
        smtp_addr_free(list);
        return rc;
    }
    *out = list;
    return SMTP_OK;
}
