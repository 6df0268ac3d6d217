/* smtpd_check_addr - addresses for smtpd's restrictions: where a
 * recipient really goes (Postfix's trivial-rewrite resolver, which decides
 * relaying), our own addresses for [literal] domains, the recipient
 * tables behind reject_unlisted_recipient, sender login ownership, and
 * the host name syntax checks.
 *
 * The resolver strips our own domains and follows routing left in the
 * local part, so that none of these relay through us unless the final
 * destination is allowed:
 *   "user@other"@ours  (internal form user@other@ours)  -> user@other
 *   user%other@ours    (allow_percent_hack)             -> user@other
 *   other!user@ours    (swap_bangpath)                  -> user@other
 * A local part that still routes elsewhere (user%other@relaydomain) marks
 * the address "routed": not authorized unless allow_untrusted_routing.
 */
#include "smtpd_check_int.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "conf/mail_conf.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"

#define DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */

/* ---- host names and addresses --------------------------------------------- */

/* chk_valid_hostname - Postfix's valid_hostname(): labels of letters,
 * digits, '-' and '_' (not leading or trailing '-'), at most 63 bytes,
 * at most 255 in all, no empty label, and not all-numeric. */
int chk_valid_hostname(const char *name)
{
    size_t len = strlen(name), label = 0;
    int non_numeric = 0;

    if (len == 0 || len > DOMAIN_MAX)
        return 0;
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_') {
            if (++label > 63)
                return 0;
            if (ch < '0' || ch > '9')
                non_numeric = 1;
        } else if (ch == '.') {
            if (label == 0 || p[1] == 0)
                return 0;
            label = 0;
        } else if (ch == '-') {
            non_numeric = 1;
            if (++label == 1 || p[1] == 0 || p[1] == '.')
                return 0;
        } else {
            return 0;
        }
    }
    return non_numeric;
}

/* parse_addr - a printable IPv4/IPv6 address ("IPv6:" prefix allowed for
 * v6) into out; 1 or 0. */
static int parse_addr(const char *s, struct chk_addr *out)
{
    if (strncasecmp(s, "IPv6:", 5) == 0) {
        out->family = AF_INET6;
        return inet_pton(AF_INET6, s + 5, out->a) == 1;
    }
    if (strchr(s, ':') != NULL) {
        out->family = AF_INET6;
        return inet_pton(AF_INET6, s, out->a) == 1;
    }
    out->family = AF_INET;
    return inet_pton(AF_INET, s, out->a) == 1;
}

int chk_valid_hostaddr(const char *addr)
{
    struct chk_addr a;
    if (strncasecmp(addr, "IPv6:", 5) == 0)
        return 0; /* only in a mail address literal */
    return parse_addr(addr, &a);
}

/* valid_mailhost_addr - the inside of [...] in a mail address or HELO:
 * IPv4, or "IPv6:" and IPv6 (RFC 5321 4.1.3). Bare IPv6 is accepted too,
 * as Postfix does. */
static int valid_mailhost_addr(const char *s)
{
    struct chk_addr a;
    return parse_addr(s, &a);
}

/* trunc_dot - a copy without one trailing dot (but "x.." stays). */
static char *trunc_dot(const char *name)
{
    size_t n = strlen(name);
    char *copy = xstrdup(name);
    if (n > 1 && copy[n - 1] == '.' && copy[n - 2] != '.')
        copy[n - 1] = 0;
    return copy;
}

static int invalid_hostaddr(struct chk *c, const char *addr, const char *reply_name,
                            const char *reply_class)
{
    size_t n = strlen(addr);
    char *inner;
    int ok;

    if (n > 2 && addr[0] == '[' && addr[n - 1] == ']')
        inner = xstrndup(addr + 1, n - 2);
    else
        inner = xstrdup(addr);
    ok = valid_mailhost_addr(inner);
    free(inner);
    if (ok)
        return SMTPD_CHECK_DUNNO;
    return chk_reject(c, CHK_ERR_POLICY, chk_cf.bad_name_code, "5.5.2",
                      "<%s>: %s rejected: invalid ip address", reply_name, reply_class);
}

int chk_invalid_helo(struct chk *c, const char *helo)
{
    char *name;
    int ok;

    if (*helo == '[')
        return invalid_hostaddr(c, helo, helo, CHK_HELO);
    name = trunc_dot(helo);
    ok = chk_valid_hostname(name) || chk_valid_hostaddr(name);
    free(name);
    if (ok)
        return SMTPD_CHECK_DUNNO;
    return chk_reject(c, CHK_ERR_POLICY, chk_cf.bad_name_code, "5.5.2",
                      "<%s>: %s rejected: Invalid name", helo, CHK_HELO);
}

int chk_non_fqdn_helo(struct chk *c, const char *helo)
{
    char *name;
    int ok;

    if (*helo == '[')
        return invalid_hostaddr(c, helo, helo, CHK_HELO);
    name = trunc_dot(helo);
    ok = chk_valid_hostname(name) && strchr(name, '.') != NULL;
    free(name);
    if (ok)
        return SMTPD_CHECK_DUNNO;
    return chk_reject(c, CHK_ERR_POLICY, chk_cf.non_fqdn_code, "5.5.2",
                      "<%s>: %s rejected: need fully-qualified hostname", helo, CHK_HELO);
}

int chk_non_fqdn_addr(struct chk *c, const char *addr, const char *reply_class)
{
    const char *at = strrchr(addr, '@');
    const char *domain = at ? at + 1 : "";
    size_t n = strlen(domain);
    char *name;
    int ok;

    if (n > 1 && domain[0] == '[' && domain[n - 1] == ']')
        return SMTPD_CHECK_DUNNO;
    name = trunc_dot(domain);
    ok = *name != 0 && chk_valid_hostname(name) && strchr(name, '.') != NULL;
    free(name);
    if (ok)
        return SMTPD_CHECK_DUNNO;
    return chk_reject(c, CHK_ERR_POLICY, chk_cf.non_fqdn_code, "4.5.2",
                      "<%s>: %s rejected: need fully-qualified address", addr, reply_class);
}

/* ---- our own addresses ------------------------------------------------------ */

static int proto4, proto6;

static void own_add(const struct chk_addr *a)
{
    if ((a->family == AF_INET && !proto4) || (a->family == AF_INET6 && !proto6))
        return;
    for (size_t i = 0; i < chk_cf.nown; i++)
        if (chk_cf.own[i].family == a->family &&
            memcmp(chk_cf.own[i].a, a->a, a->family == AF_INET ? 4 : 16) == 0)
            return;
    chk_cf.own = xreallocarray(chk_cf.own, chk_cf.nown + 1, sizeof(*chk_cf.own));
    chk_cf.own[chk_cf.nown++] = *a;
}

static void own_add_sockaddr(const struct sockaddr *sa)
{
    struct chk_addr a;
    memset(&a, 0, sizeof(a));
    if (sa->sa_family == AF_INET) {
        a.family = AF_INET;
        memcpy(a.a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        a.family = AF_INET6;
        memcpy(a.a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else {
        return;
    }
    own_add(&a);
}

static int own_add_list(const char *param, const char *list, struct buf *why)
{
    struct argv *words = argv_split(list, ", \t\r\n");
    int rc = 0;

    for (size_t i = 0; i < words->argc && rc == 0; i++) {
        char *w = words->argv[i];
        size_t n = strlen(w);
        struct chk_addr a;

        memset(&a, 0, sizeof(a));
        if (strcasecmp(w, "all") == 0) {
            struct ifaddrs *ifs, *p;
            if (getifaddrs(&ifs) < 0) {
                buf_setf(why, "%s: cannot list the network interfaces: %m", param);
                rc = -1;
                break;
            }
            for (p = ifs; p != NULL; p = p->ifa_next)
                if (p->ifa_addr != NULL)
                    own_add_sockaddr(p->ifa_addr);
            freeifaddrs(ifs);
            continue;
        }
        if (strcasecmp(w, "loopback-only") == 0) {
            parse_addr("127.0.0.1", &a);
            own_add(&a);
            parse_addr("::1", &a);
            own_add(&a);
            continue;
        }
        if (n > 2 && w[0] == '[' && w[n - 1] == ']') {
            w[n - 1] = 0;
            w++;
        }
        if (parse_addr(w, &a)) {
            own_add(&a);
        } else {
            struct addrinfo hints, *res, *r;
            memset(&hints, 0, sizeof(hints));
            hints.ai_socktype = SOCK_STREAM;
            if (getaddrinfo(w, NULL, &hints, &res) != 0) {
                buf_setf(why, "%s: host not found: %s", param, w);
                rc = -1;
                break;
            }
            for (r = res; r != NULL; r = r->ai_next)
                own_add_sockaddr(r->ai_addr);
            freeaddrinfo(res);
        }
    }
    argv_free(words);
    return rc;
}

int chk_own_addrs_init(struct buf *why)
{
    const char *protos = conf_str("inet_protocols");
    struct buf value = BUF_INIT, w = BUF_INIT;
    int rc;

    proto4 = proto6 = 0;
    if (strcasecmp(protos, "all") == 0) {
        proto4 = proto6 = 1;
    } else {
        struct argv *p = argv_split(protos, ", \t\r\n");
        for (size_t i = 0; i < p->argc; i++) {
            if (strcasecmp(p->argv[i], "ipv4") == 0)
                proto4 = 1;
            else if (strcasecmp(p->argv[i], "ipv6") == 0)
                proto6 = 1;
        }
        argv_free(p);
    }
    rc = own_add_list("inet_interfaces", conf_str("inet_interfaces"), why);
    /* proxy_interfaces: the addresses a proxy or NAT in front of us
     * receives mail on. */
    if (rc == 0)
        rc = own_add_list("proxy_interfaces", conf_str("proxy_interfaces"), why);
    buf_free(&value);
    buf_free(&w);
    return rc;
}

void chk_own_addrs_free(void)
{
    free(chk_cf.own);
    chk_cf.own = NULL;
    chk_cf.nown = 0;
}

int chk_is_own_addr(const char *addr)
{
    struct chk_addr a;
    memset(&a, 0, sizeof(a));
    if (!parse_addr(addr, &a))
        return 0;
    for (size_t i = 0; i < chk_cf.nown; i++)
        if (chk_cf.own[i].family == a.family &&
            memcmp(chk_cf.own[i].a, a.a, a.family == AF_INET ? 4 : 16) == 0)
            return 1;
    return 0;
}

/* ---- the resolver ----------------------------------------------------------- */

/* is_local_domain - mydestination, or a literal of one of our addresses
 * (with resolve_numeric_domain also a bare address). 1, 0, -1 + why. */
static int is_local_domain(const char *domain, struct buf *why)
{
    size_t n = strlen(domain);
    char *name;
    int rc;

    if (n == 0 || n > DOMAIN_MAX + 2)
        return 0;
    if (domain[0] == '[') {
        if (n < 3 || domain[n - 1] != ']')
            return 0;
        name = xstrndup(domain + 1, n - 2);
        rc = chk_is_own_addr(name);
        free(name);
        return rc;
    }
    if (chk_cf.resolve_numeric && chk_valid_hostaddr(domain))
        return chk_is_own_addr(domain);
    name = trunc_dot(domain);
    rc = resolve_is_local_domain(chk_cf.resolver, name, why);
    free(name);
    return rc;
}

static int classify(const char *domain, enum chk_class *class, struct buf *why)
{
    struct buf w = BUF_INIT;
    int m;

    *class = CHK_CLASS_DEFAULT;
    if ((m = match_list_domain(chk_cf.virt_alias_doms, domain, &w)) > 0)
        *class = CHK_CLASS_ALIAS;
    else if (m == 0 && (m = match_list_domain(chk_cf.virt_mailbox_doms, domain, &w)) > 0)
        *class = CHK_CLASS_VIRTUAL;
    else if (m == 0 && (m = match_list_domain(chk_cf.relay_domains, domain, &w)) > 0)
        *class = CHK_CLASS_RELAY;
    if (m < 0)
        buf_setf(why, "%s", w.data);
    buf_free(&w);
    return m < 0 ? -1 : 0;
}

void chk_resolved_init(struct chk_resolved *r)
{
    buf_init(&r->addr);
    r->at = 0;
    r->class = CHK_CLASS_DEFAULT;
    r->routed = 0;
}

void chk_resolved_free(struct chk_resolved *r)
{
    buf_free(&r->addr);
}

int chk_resolve(const char *addr, struct chk_resolved *out, struct buf *why)
{
    struct buf a = BUF_INIT, saved = BUF_INIT, t = BUF_INIT;
    size_t loops = 0, max = strlen(addr) + 100;
    int remote = 0, rc = 0;
    char *at, *p;

    buf_set(&a, addr);
    for (;;) {
        if (++loops > max) {
            msg_warn("resolve_addr: <%s>: giving up after %zu iterations", addr, loops);
            remote = strchr(a.data, '@') != NULL;
            break;
        }
        at = strrchr(a.data, '@');
        /* A trailing dot ends an absolute domain name: the same domain. */
        if (at != NULL && a.len >= 2 && a.data[a.len - 1] == '.' && a.data[a.len - 2] != '.' &&
            a.data + a.len - 1 > at + 1)
            buf_truncate(&a, a.len - 1);
        if (a.len > 0 && a.data[a.len - 1] == '@')
            buf_truncate(&a, a.len - 1);
        if ((at = strrchr(a.data, '@')) != NULL) {
            int local = is_local_domain(at + 1, why);
            if (local < 0) {
                rc = -1;
                goto done;
            }
            if (!local) {
                remote = 1;
                break;
            }
            buf_set(&saved, at + 1);
            buf_truncate(&a, (size_t)(at - a.data));
        }
        /* What is left is a local part of ours; does it route on? */
        if (strchr(a.data, '@') != NULL) {
            /* "user@other"@ours: resolve_dequoted_address says whether the
             * quoted local part is opened up (Postfix default: yes). */
            if (!chk_cf.resolve_dequoted)
                break;
            continue;
        }
        if (chk_cf.swap_bangpath && (p = strchr(a.data, '!')) != NULL) {
            buf_set(&t, p + 1); /* site!user -> user@site */
            buf_putc(&t, '@');
            buf_append(&t, a.data, (size_t)(p - a.data));
            buf_set(&a, t.data);
            continue;
        }
        if (chk_cf.percent_hack && (p = strrchr(a.data, '%')) != NULL) {
            *p = '@'; /* user%site -> user@site */
            continue;
        }
        break;
    }

    buf_set(&out->addr, a.data);
    if (remote) {
        at = strrchr(out->addr.data, '@');
        out->at = (size_t)(at - out->addr.data);
        if (classify(at + 1, &out->class, why) < 0) {
            rc = -1;
            goto done;
        }
    } else {
        if (out->addr.len == 0)
            buf_set(&out->addr, chk_cf.empty_addr);
        out->at = out->addr.len;
        buf_putc(&out->addr, '@');
        buf_puts(&out->addr, saved.len ? saved.data : chk_cf.myhostname);
        out->class = CHK_CLASS_LOCAL;
    }
    /* Routing operators left in the local part (even those this system
     * would not follow: the next hop might). */
    out->routed = strcspn(out->addr.data, "@!%") != out->at;
done:
    buf_free(&a);
    buf_free(&saved);
    buf_free(&t);
    return rc;
}

/* ---- relay control ------------------------------------------------------------ */

int chk_auth_destination(struct chk *c, const char *rcpt)
{
    struct chk_resolved res;
    struct buf why = BUF_INIT;
    int rc;

    chk_resolved_init(&res);
    if (chk_resolve(rcpt, &res, &why) < 0)
        rc = chk_lookup_failed(c, rcpt, "address resolver", why.data);
    else if (!chk_cf.allow_untrusted_routing && res.routed)
        rc = SMTPD_CHECK_DUNNO; /* uncertain destination */
    else if (res.class != CHK_CLASS_DEFAULT)
        rc = SMTPD_CHECK_OK; /* ours (local, virtual) or relay_domains */
    else
        rc = SMTPD_CHECK_DUNNO;
    chk_resolved_free(&res);
    buf_free(&why);
    return rc;
}

int chk_unauth_destination(struct chk *c, const char *rcpt, int code, const char *dsn)
{
    int rc = chk_auth_destination(c, rcpt);
    if (rc == SMTPD_CHECK_OK)
        return SMTPD_CHECK_DUNNO;
    if (rc == SMTPD_CHECK_REJECT)
        return rc;
    return chk_reject(c, CHK_ERR_POLICY, code, dsn, "<%s>: Relay access denied", rcpt);
}

/* ---- recipient tables ----------------------------------------------------------- */

/* local_part_is - addr's local part equals name (case-insensitive). */
static int local_part_is(const char *addr, size_t at, const char *name)
{
    return strlen(name) == at && strncasecmp(addr, name, at) == 0;
}

/* found - address lookup for reject_unlisted_*: 1, 0, or -1 after the
 * 451 reply has been made (rc_out). */
static int found(struct chk *c, struct maps *m, const struct chk_resolved *res, const char *addr,
                 int *rc_out)
{
    struct buf value = BUF_INIT, why = BUF_INIT;
    int rc = chk_addr_find(m, res->addr.data, res->class == CHK_CLASS_LOCAL, &value, &why);
    if (rc < 0)
        *rc_out = chk_lookup_failed(c, addr, m->param, why.data);
    buf_free(&value);
    buf_free(&why);
    return rc;
}

int chk_rcpt_maps(struct chk *c, const char *addr, const char *reply_class)
{
    struct chk_resolved res;
    struct buf why = BUF_INIT;
    int sender = strcmp(reply_class, CHK_SENDER) == 0;
    const char *dsn = sender ? "5.1.0" : "5.1.1";
    struct maps *known[] = {&chk_cf.rcpt_canonical, sender ? &chk_cf.send_canonical : NULL,
                            &chk_cf.canonical, &chk_cf.virt_alias};
    int rc = SMTPD_CHECK_DUNNO, f;

    chk_resolved_init(&res);
    if (chk_resolve(addr, &res, &why) < 0) {
        rc = chk_lookup_failed(c, addr, "address resolver", why.data);
        goto done;
    }
    /* An address that a canonical or virtual alias table rewrites exists. */
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (known[i] == NULL)
            continue;
        if ((f = found(c, known[i], &res, addr, &rc)) != 0)
            goto done; /* -1: rc holds the 451 */
    }
    switch (res.class) {
    case CHK_CLASS_ALIAS:
        rc = chk_reject(c, CHK_ERR_BOUNCE, chk_cf.unk_valias_code, dsn,
                        "<%s>: %s rejected: User unknown%s", addr, reply_class,
                        chk_cf.show_unk_table ? " in virtual alias table" : "");
        break;
    case CHK_CLASS_LOCAL:
        /* Mail to these is absorbed or generated by the system itself. */
        if (chk_cf.local_rcpt.n == 0 || local_part_is(res.addr.data, res.at, "postmaster") ||
            local_part_is(res.addr.data, res.at, "MAILER-DAEMON") ||
            local_part_is(res.addr.data, res.at, chk_cf.double_bounce))
            break;
        if ((f = found(c, &chk_cf.local_rcpt, &res, addr, &rc)) == 0)
            rc = chk_reject(c, CHK_ERR_BOUNCE, chk_cf.unk_local_code, dsn,
                            "<%s>: %s rejected: User unknown%s", addr, reply_class,
                            chk_cf.show_unk_table ? " in local recipient table" : "");
        break;
    case CHK_CLASS_VIRTUAL:
        if (chk_cf.virt_mailbox.n == 0)
            break;
        if ((f = found(c, &chk_cf.virt_mailbox, &res, addr, &rc)) == 0)
            rc = chk_reject(c, CHK_ERR_BOUNCE, chk_cf.unk_vmailbox_code, dsn,
                            "<%s>: %s rejected: User unknown%s", addr, reply_class,
                            chk_cf.show_unk_table ? " in virtual mailbox table" : "");
        break;
    case CHK_CLASS_RELAY:
        if (chk_cf.relay_rcpt.n == 0)
            break;
        if ((f = found(c, &chk_cf.relay_rcpt, &res, addr, &rc)) == 0)
            rc = chk_reject(c, CHK_ERR_BOUNCE, chk_cf.unk_relay_code, dsn,
                            "<%s>: %s rejected: User unknown%s", addr, reply_class,
                            chk_cf.show_unk_table ? " in relay recipient table" : "");
        break;
    case CHK_CLASS_DEFAULT:
        break;
    }
done:
    chk_resolved_free(&res);
    buf_free(&why);
    return rc;
}

/* ---- sender login ownership ------------------------------------------------------- */

/* owners_of - 1 with the owners in value, 0 for none, -1 after a 451. */
static int owners_of(struct chk *c, const char *sender, struct buf *value, int *rc_out)
{
    struct chk_resolved res;
    struct buf why = BUF_INIT;
    int rc;

    chk_resolved_init(&res);
    if (chk_resolve(sender, &res, &why) < 0) {
        *rc_out = chk_lookup_failed(c, sender, "address resolver", why.data);
        rc = -1;
    } else if ((rc = chk_addr_find(&chk_cf.sender_login, res.addr.data,
                                   res.class == CHK_CLASS_LOCAL, value, &why)) < 0) {
        *rc_out = chk_lookup_failed(c, sender, "smtpd_sender_login_maps", why.data);
    }
    chk_resolved_free(&res);
    buf_free(&why);
    return rc;
}

int chk_sender_login(struct chk *c, int authenticated_check, int unauthenticated_check,
                     int allow_unknown)
{
    const char *sender = c->st->sender, *user = c->st->sasl_username;
    struct buf owners = BUF_INIT;
    int rc = SMTPD_CHECK_DUNNO, f;

    if (user != NULL && authenticated_check) {
        if ((f = owners_of(c, sender, &owners, &rc)) < 0)
            goto done;
        if (f == 0 && allow_unknown)
            goto done;
        if (f > 0) {
            struct argv *names = argv_split(owners.data, ", \t\r\n");
            for (size_t i = 0; i < names->argc; i++) {
                if (strcasecmp(names->argv[i], user) == 0) {
                    argv_free(names);
                    goto done;
                }
            }
            argv_free(names);
        }
        rc = chk_reject(c, CHK_ERR_POLICY, 553, "5.7.1",
                        "<%s>: Sender address rejected: not owned by user %s", sender, user);
    } else if (user == NULL && unauthenticated_check) {
        if ((f = owners_of(c, sender, &owners, &rc)) > 0)
            rc = chk_reject(c, CHK_ERR_POLICY, 553, "5.7.1",
                            "<%s>: Sender address rejected: not logged in", sender);
    }
done:
    buf_free(&owners);
    return rc;
}
