/* dns - DNS lookups through the system resolver (libresolv res_n*), for
 * smtpd (sender domains, DNS blocklists, client names) and the smtp client
 * (MX, A/AAAA).
 *
 * Every answer is hostile input: records are parsed with ns_initparse /
 * ns_parserr, names expanded with bounds, and anything malformed makes the
 * lookup a temporary failure, never a crash or a wrong "not found".
 *
 *     struct dns_rr *list;
 *     switch (dns_lookup("example.com", DNS_T_MX, &list, why)) {
 *     case DNS_OK:       for (rr = list; rr; rr = rr->next) ... ; dns_rr_free(list);
 *     case DNS_NOTFOUND: NXDOMAIN, or the name exists without such records
 *     case DNS_RETRY:    SERVFAIL, timeout, no resolver: try later
 *     case DNS_INVAL:    a malformed name (too long, empty label, ...)
 *     }
 */
#ifndef DNS_DNS_H
#define DNS_DNS_H

#include <stddef.h>

#include "util/buf.h"

/* Record types (RFC 1035 3.2.2, RFC 3596). */
#define DNS_T_A    1
#define DNS_T_NS   2
#define DNS_T_PTR  12
#define DNS_T_MX   15
#define DNS_T_TXT  16
#define DNS_T_AAAA 28

enum dns_status { DNS_OK = 0, DNS_NOTFOUND = 1, DNS_RETRY = 2, DNS_INVAL = 3 };

#define DNS_NAME_MAX 1025 /* NS_MAXDNAME */

struct dns_rr {
    struct dns_rr *next;
    int type;
    unsigned ttl;
    char name[DNS_NAME_MAX]; /* owner name */
    /* MX: pref and the exchange in data; PTR/NS: the target in data;
     * A/AAAA: the printable address in data and the raw one in addr;
     * TXT: the strings joined (each <= 255 bytes, total bounded) in data. */
    unsigned pref;
    unsigned char addr[16];
    size_t addr_len;
    char data[DNS_NAME_MAX > 1024 ? DNS_NAME_MAX : 1024];
};

/* dns_init - read the resolver configuration (/etc/resolv.conf) now and
 * keep it for every later dns_lookup of this process: call it before
 * chroot (pre_init), where the file is still visible. Idempotent; 0, or
 * -1 + why (lookups then initialize per call, as without dns_init). */
int dns_init(struct buf *why);

/* dns_lookup - records of type for name (absolute; a trailing dot is
 * allowed; no search list is applied). MX answers are sorted by preference
 * with the order among equal preferences shuffled (RFC 5321 5.1); CNAME
 * chains are followed by the resolver. */
enum dns_status dns_lookup(const char *name, int type, struct dns_rr **out, struct buf *why);

/* dns_parse_answer - the parser behind dns_lookup, exposed for tests and
 * the fuzzer: records of type from a raw response. */
enum dns_status dns_parse_answer(const unsigned char *answer, size_t len, int type,
                                 struct dns_rr **out, struct buf *why);

void dns_rr_free(struct dns_rr *list);

/* dns_reverse_name - the DNSBL / in-addr.arpa style query name for addr
 * under zone: ("192.0.2.1", "zen.example") -> "1.2.0.192.zen.example";
 * IPv6 as 32 nibbles. 0, or -1 when addr is not an address or the name
 * would be too long. */
int dns_reverse_name(const char *addr, const char *zone, struct buf *out);

/* dns_domain_valid - a syntactically valid host or domain name (RFC 1035
 * labels of letters, digits, hyphen and underscore, 1..63 bytes each, total
 * <= 253, no leading/trailing hyphen in a label); 1 or 0. */
int dns_domain_valid(const char *name);

#endif
