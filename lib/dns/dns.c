/* dns - DNS lookups through libresolv's thread-safe res_n* API and a
 * strict parser for the answers (see dns.h for the contract).
 *
 * The answer is parsed with ns_initparse / ns_parserr, which check every
 * section count and record length against the message; names are expanded
 * with ns_name_uncompress, which detects compression loops and bounds the
 * result. Anything that does not parse is a temporary failure: a broken or
 * forged answer must never become a "not found" (that would bounce mail or
 * skip a blocklist) nor a crash.
 */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"

/* A CNAME chain longer than this in one answer is treated as broken. */
#define DNS_CNAME_MAX 16

/* The largest DNS message (TCP length prefix is 16 bits). */
#define DNS_ANSWER_MAX 65536

static const char *dns_type_name(int type)
{
    switch (type) {
    case DNS_T_A:
        return "A";
    case DNS_T_NS:
        return "NS";
    case DNS_T_PTR:
        return "PTR";
    case DNS_T_MX:
        return "MX";
    case DNS_T_TXT:
        return "TXT";
    case DNS_T_AAAA:
        return "AAAA";
    default:
        return "unknown";
    }
}

int dns_domain_valid(const char *name)
{
    size_t total, label = 0;
    unsigned char prev = 0;

    if (name == NULL)
        return 0;
    total = strlen(name);
    if (total > 0 && name[total - 1] == '.')
        total--; /* one trailing dot: the name is absolute */
    if (total == 0 || total > 253)
        return 0;
    for (size_t i = 0; i < total; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0 || prev == '-')
                return 0; /* empty label, or one ending in a hyphen */
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-') {
            if (c == '-' && label == 0)
                return 0; /* RFC 1035 2.3.1: a label starts with a letter or digit */
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
        prev = c;
    }
    return label > 0 && prev != '-';
}

int dns_reverse_name(const char *addr, const char *zone, struct buf *out)
{
    unsigned char a[16];
    static const char hex[] = "0123456789abcdef";
    struct buf name = BUF_INIT;
    int rc = -1;

    if (addr == NULL)
        return -1;
    if (inet_pton(AF_INET, addr, a) == 1) {
        buf_printf(&name, "%u.%u.%u.%u", a[3], a[2], a[1], a[0]);
    } else if (inet_pton(AF_INET6, addr, a) == 1) {
        /* RFC 3596 2.5: nibbles, least significant first */
        for (int i = 15; i >= 0; i--) {
            buf_putc(&name, hex[a[i] & 0x0f]);
            buf_putc(&name, '.');
            buf_putc(&name, hex[a[i] >> 4]);
            if (i > 0)
                buf_putc(&name, '.');
        }
    } else {
        return -1;
    }
    if (zone != NULL && *zone != 0) {
        size_t zl = strlen(zone);
        if (zone[zl - 1] == '.')
            zl--;
        buf_putc(&name, '.');
        buf_append(&name, zone, zl);
    }
    if (!buf_has_nul(&name) && dns_domain_valid(buf_cstr(&name))) {
        buf_set(out, buf_cstr(&name));
        rc = 0;
    }
    buf_free(&name);
    return rc;
}

void dns_rr_free(struct dns_rr *list)
{
    while (list != NULL) {
        struct dns_rr *next = list->next;
        free(list);
        list = next;
    }
}

/* ---- random order among equal MX preferences ------------------------------ */

struct dns_rand {
    uint32_t pool[64];
    size_t left;
    uint64_t fallback;
};

static uint32_t dns_rand_u32(struct dns_rand *r)
{
    if (r->left == 0) {
        ssize_t n = getrandom(r->pool, sizeof(r->pool), GRND_NONBLOCK);
        if (n != (ssize_t)sizeof(r->pool)) {
            /* No kernel entropy yet (early boot) or no getrandom: the order
             * among equal preferences only spreads load, so a clock-seeded
             * generator is acceptable here. */
            if (r->fallback == 0) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                r->fallback = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                              ((uint64_t)getpid() << 40) ^ 0x9e3779b97f4a7c15ULL;
            }
            for (size_t i = 0; i < 64; i++) {
                r->fallback ^= r->fallback << 13; /* xorshift64 */
                r->fallback ^= r->fallback >> 7;
                r->fallback ^= r->fallback << 17;
                r->pool[i] = (uint32_t)(r->fallback >> 32);
            }
        }
        r->left = 64;
    }
    return r->pool[--r->left];
}

/* uniform in [0, bound) by rejection, bound >= 1 */
static size_t dns_rand_below(struct dns_rand *r, size_t bound)
{
    uint32_t b = (uint32_t)bound;
    uint32_t limit = UINT32_MAX - (UINT32_MAX % b);
    uint32_t v;
    do
        v = dns_rand_u32(r);
    while (v >= limit);
    return v % b;
}

struct dns_mx_slot {
    struct dns_rr *rr;
    size_t pos;
};

static int dns_mx_cmp(const void *a, const void *b)
{
    const struct dns_mx_slot *x = a, *y = b;
    if (x->rr->pref != y->rr->pref)
        return x->rr->pref < y->rr->pref ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* RFC 5321 5.1: lowest preference first; equal preferences in random order.
 * Shuffle everything, then sort stably by preference. */
static struct dns_rr *dns_mx_sort(struct dns_rr *list)
{
    size_t n = 0, i;
    struct dns_rr *rr;
    struct dns_mx_slot *v;
    struct dns_rand rnd;

    for (rr = list; rr; rr = rr->next)
        n++;
    if (n < 2)
        return list;
    v = xreallocarray(NULL, n, sizeof(*v));
    for (i = 0, rr = list; rr; rr = rr->next, i++)
        v[i].rr = rr;
    memset(&rnd, 0, sizeof(rnd));
    for (i = n - 1; i > 0; i--) {
        size_t j = dns_rand_below(&rnd, i + 1);
        struct dns_rr *t = v[i].rr;
        v[i].rr = v[j].rr;
        v[j].rr = t;
    }
    for (i = 0; i < n; i++)
        v[i].pos = i;
    qsort(v, n, sizeof(*v), dns_mx_cmp);
    for (i = 0; i + 1 < n; i++)
        v[i].rr->next = v[i + 1].rr;
    v[n - 1].rr->next = NULL;
    list = v[0].rr;
    free(v);
    return list;
}

/* ---- answer parsing --------------------------------------------------------- */

/* Expand the domain name at rdata[off] into dst; it must end exactly at
 * rdata[want_end] (compression pointers may point elsewhere in msg). */
static int dns_rdata_name(ns_msg *msg, const unsigned char *rdata, size_t off, size_t want_end,
                          char *dst, size_t dstlen)
{
    int n = ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg), rdata + off, dst, dstlen);
    if (n < 0 || (size_t)n != want_end - off)
        return -1;
    return 0;
}

/* TXT: the character-strings joined; control bytes (NUL, CR, LF, ...)
 * become '?' because this text ends up in SMTP replies and logs. */
static int dns_txt_join(const unsigned char *p, size_t len, char *dst, size_t dstlen)
{
    size_t pos = 0, used = 0;

    if (len == 0)
        return -1; /* RFC 1035 3.3.14: one or more character-strings */
    while (pos < len) {
        size_t sl = p[pos++];
        if (sl > len - pos)
            return -1;
        for (size_t i = 0; i < sl; i++) {
            unsigned char c = p[pos + i];
            if (used + 1 < dstlen)
                dst[used++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
        pos += sl;
    }
    dst[used] = 0;
    return 0;
}

/* Fill rr from the record data of one answer record of the wanted type. */
static int dns_rr_fill(ns_msg *msg, const ns_rr *r, int type, struct dns_rr *rr, struct buf *why)
{
    const unsigned char *rd = ns_rr_rdata(*r);
    size_t rdlen = ns_rr_rdlen(*r);
    const char *bad = NULL;

    switch (type) {
    case DNS_T_A:
    case DNS_T_AAAA: {
        size_t want = type == DNS_T_A ? 4 : 16;
        if (rdlen != want) {
            bad = "bad address length";
            break;
        }
        memcpy(rr->addr, rd, want);
        rr->addr_len = want;
        if (inet_ntop(type == DNS_T_A ? AF_INET : AF_INET6, rd, rr->data, sizeof(rr->data)) == NULL)
            bad = "unprintable address";
        break;
    }
    case DNS_T_MX:
        if (rdlen < 3) {
            bad = "short MX data";
            break;
        }
        rr->pref = ns_get16(rd);
        if (dns_rdata_name(msg, rd, 2, rdlen, rr->data, sizeof(rr->data)) < 0)
            bad = "bad MX exchange name";
        break;
    case DNS_T_NS:
    case DNS_T_PTR:
        if (dns_rdata_name(msg, rd, 0, rdlen, rr->data, sizeof(rr->data)) < 0)
            bad = "bad target name";
        break;
    case DNS_T_TXT:
        if (dns_txt_join(rd, rdlen, rr->data, sizeof(rr->data)) < 0)
            bad = "bad TXT data";
        break;
    default:
        bad = "unsupported record type";
        break;
    }
    if (bad != NULL) {
        buf_setf(why, "malformed DNS answer: %s record for %s: %s", dns_type_name(type),
                 ns_rr_name(*r), bad);
        return -1;
    }
    return 0;
}

/* ns_rr_name() is the record's name buffer, or the literal "." for the
 * root: copy only the string. */
static void dns_name_copy(char dst[NS_MAXDNAME], const char *src)
{
    size_t n = strnlen(src, NS_MAXDNAME - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

static int dns_name_in(const char *name, char (*set)[NS_MAXDNAME], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(name, set[i]) == 0)
            return 1;
    return 0;
}

/* The names an answer may use for the queried one: the name itself and
 * every CNAME target reachable from it within the answer section (in any
 * record order). Returns the count, or -1 for a chain that is too long. */
static int dns_aliases(ns_msg *msg, int ancount, char (*set)[NS_MAXDNAME], struct buf *why)
{
    size_t n = 1, before;
    char target[NS_MAXDNAME];
    ns_rr r;

    do {
        before = n;
        for (int i = 0; i < ancount; i++) {
            if (ns_parserr(msg, ns_s_an, i, &r) < 0) {
                buf_setf(why, "malformed DNS answer: answer record %d", i);
                return -1;
            }
            if (ns_rr_type(r) != ns_t_cname || ns_rr_class(r) != ns_c_in ||
                !dns_name_in(ns_rr_name(r), set, n))
                continue;
            if (dns_rdata_name(msg, ns_rr_rdata(r), 0, ns_rr_rdlen(r), target, sizeof(target)) <
                0) {
                buf_setf(why, "malformed DNS answer: bad CNAME target for %s", ns_rr_name(r));
                return -1;
            }
            if (dns_name_in(target, set, n))
                continue;
            if (n >= DNS_CNAME_MAX) {
                buf_setf(why, "malformed DNS answer: CNAME chain too long at %s", target);
                return -1;
            }
            memcpy(set[n++], target, sizeof(target));
        }
    } while (n != before);
    return (int)n;
}

/* The parser; qname, when given, must be the question's name. */
static enum dns_status dns_parse(const unsigned char *answer, size_t len, int type,
                                 const char *qname, struct dns_rr **out, struct buf *why)
{
    ns_msg msg;
    ns_rr q, r;
    char(*aliases)[NS_MAXDNAME] = NULL;
    struct dns_rr *head = NULL, **tail = &head;
    enum dns_status st = DNS_RETRY;
    int ancount, naliases;

    *out = NULL;
    if (answer == NULL || len < NS_HFIXEDSZ || len > DNS_ANSWER_MAX) {
        buf_setf(why, "malformed DNS answer: bad length %zu", len);
        return DNS_RETRY;
    }
    if (ns_initparse(answer, (int)len, &msg) < 0) {
        buf_setf(why, "malformed DNS answer: section counts do not match the message");
        return DNS_RETRY;
    }
    if (!ns_msg_getflag(msg, ns_f_qr)) {
        buf_setf(why, "malformed DNS answer: not a response");
        return DNS_RETRY;
    }
    if (ns_msg_getflag(msg, ns_f_tc)) {
        buf_setf(why, "truncated DNS answer");
        return DNS_RETRY;
    }
    if (ns_msg_count(msg, ns_s_qd) != 1 || ns_parserr(&msg, ns_s_qd, 0, &q) < 0) {
        buf_setf(why, "malformed DNS answer: no single question");
        return DNS_RETRY;
    }
    if ((int)ns_rr_type(q) != type || ns_rr_class(q) != ns_c_in ||
        (qname != NULL && strcasecmp(ns_rr_name(q), qname) != 0)) {
        buf_setf(why, "malformed DNS answer: answers another question (%s)", ns_rr_name(q));
        return DNS_RETRY;
    }
    switch (ns_msg_getflag(msg, ns_f_rcode)) {
    case ns_r_noerror:
        break;
    case ns_r_nxdomain:
        buf_setf(why, "host or domain name not found: %s", ns_rr_name(q));
        return DNS_NOTFOUND;
    case ns_r_servfail:
        buf_setf(why, "DNS server failure for %s", ns_rr_name(q));
        return DNS_RETRY;
    default:
        buf_setf(why, "DNS error %d for %s", ns_msg_getflag(msg, ns_f_rcode), ns_rr_name(q));
        return DNS_RETRY;
    }

    aliases = xreallocarray(NULL, DNS_CNAME_MAX, sizeof(*aliases));
    dns_name_copy(aliases[0], ns_rr_name(q));
    ancount = ns_msg_count(msg, ns_s_an);
    if ((naliases = dns_aliases(&msg, ancount, aliases, why)) < 0)
        goto done;
    for (int i = 0; i < ancount; i++) {
        if (ns_parserr(&msg, ns_s_an, i, &r) < 0) {
            buf_setf(why, "malformed DNS answer: answer record %d", i);
            goto done;
        }
        if ((int)ns_rr_type(r) != type || ns_rr_class(r) != ns_c_in ||
            !dns_name_in(ns_rr_name(r), aliases, (size_t)naliases))
            continue;
        struct dns_rr *rr = xcalloc(1, sizeof(*rr));
        rr->type = type;
        rr->ttl = ns_rr_ttl(r);
        dns_name_copy(rr->name, ns_rr_name(r));
        *tail = rr;
        tail = &rr->next;
        if (dns_rr_fill(&msg, &r, type, rr, why) < 0)
            goto done;
    }
    if (head == NULL) {
        buf_setf(why, "no %s record for %s", dns_type_name(type), ns_rr_name(q));
        st = DNS_NOTFOUND;
        goto done;
    }
    if (type == DNS_T_MX)
        head = dns_mx_sort(head);
    *out = head;
    head = NULL;
    st = DNS_OK;
done:
    dns_rr_free(head);
    free(aliases);
    return st;
}

enum dns_status dns_parse_answer(const unsigned char *answer, size_t len, int type,
                                 struct dns_rr **out, struct buf *why)
{
    return dns_parse(answer, len, type, NULL, out, why);
}

/* The resolver state captured by dns_init before chroot; reused for every
 * lookup (single-threaded processes). */
static struct __res_state dns_state;
static int dns_state_ok;

int dns_init(struct buf *why)
{
    if (dns_state_ok)
        return 0;
    memset(&dns_state, 0, sizeof(dns_state));
    if (res_ninit(&dns_state) != 0) {
        buf_setf(why, "cannot initialize the DNS resolver");
        return -1;
    }
    /* Absolute names only: never try them under the search list. */
    dns_state.options &= ~(unsigned long)(RES_DEFNAMES | RES_DNSRCH);
    dns_state_ok = 1;
    return 0;
}

enum dns_status dns_lookup(const char *name, int type, struct dns_rr **out, struct buf *why)
{
    struct __res_state local, *rsp = &local;
    char qname[NS_MAXDNAME];
    size_t nlen;
    unsigned char *answer;
    int len;
    enum dns_status st;

    *out = NULL;
    if (!dns_domain_valid(name)) {
        buf_setf(why, "malformed domain name");
        return DNS_INVAL;
    }
    nlen = strlen(name);
    if (name[nlen - 1] == '.')
        nlen--;
    memcpy(qname, name, nlen); /* nlen <= 253 (dns_domain_valid) */
    qname[nlen] = 0;
    if (strcmp(dns_type_name(type), "unknown") == 0) {
        buf_setf(why, "unsupported DNS record type %d", type);
        return DNS_INVAL;
    }

    if (dns_state_ok) {
        rsp = &dns_state;
    } else {
        memset(&local, 0, sizeof(local));
        if (res_ninit(&local) != 0) {
            buf_setf(why, "cannot initialize the DNS resolver");
            return DNS_RETRY;
        }
        /* An absolute name: never try it under the search list. */
        local.options &= ~(unsigned long)(RES_DEFNAMES | RES_DNSRCH);
    }
    answer = xmalloc(DNS_ANSWER_MAX);
    len = res_nquery(rsp, qname, ns_c_in, type, answer, DNS_ANSWER_MAX);
    if (len < 0) {
        /* The h_errno mapping of Postfix's dns_lookup. */
        switch (rsp->res_h_errno) {
        case HOST_NOT_FOUND:
            buf_setf(why, "host or domain name not found: %s", qname);
            st = DNS_NOTFOUND;
            break;
        case NO_DATA:
            buf_setf(why, "no %s record for %s", dns_type_name(type), qname);
            st = DNS_NOTFOUND;
            break;
        case TRY_AGAIN:
            buf_setf(why, "DNS lookup of %s %s failed: server failure or timeout", qname,
                     dns_type_name(type));
            st = DNS_RETRY;
            break;
        case NO_RECOVERY:
            buf_setf(why, "DNS lookup of %s %s failed: non-recoverable error", qname,
                     dns_type_name(type));
            st = DNS_RETRY;
            break;
        default:
            buf_setf(why, "DNS lookup of %s %s failed: resolver error %d", qname,
                     dns_type_name(type), rsp->res_h_errno);
            st = DNS_RETRY;
            break;
        }
    } else if (len > DNS_ANSWER_MAX) {
        buf_setf(why, "truncated DNS answer for %s %s", qname, dns_type_name(type));
        st = DNS_RETRY;
    } else {
        st = dns_parse(answer, (size_t)len, type, qname, out, why);
    }
    free(answer);
    if (rsp == &local)
        res_nclose(&local);
    return st;
}
