/* dnsq - a DNS query tool for the integration tests (not installed): runs
 * dns_lookup and prints each record on one line, "NAME TYPE PREF DATA"
 * (PREF is 0 for types other than MX), in the order dns_lookup returned.
 *
 *   dnsq TYPE NAME            TYPE is A, AAAA, MX, TXT, PTR or NS
 *   dnsq -z ZONE TYPE ADDR    look up dns_reverse_name(ADDR, ZONE), the way
 *                             a DNSBL or in-addr.arpa query is made
 *
 * Exit status: 0 records found, 1 not found, 2 try again, 3 invalid name
 * (also for usage errors); the reason goes to stderr.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"

static const struct {
    const char *name;
    int type;
} dnsq_types[] = {
    {"A", DNS_T_A},     {"AAAA", DNS_T_AAAA}, {"MX", DNS_T_MX},
    {"TXT", DNS_T_TXT}, {"PTR", DNS_T_PTR},   {"NS", DNS_T_NS},
};

static int dnsq_usage(void)
{
    fprintf(stderr, "usage: dnsq [-z ZONE] A|AAAA|MX|TXT|PTR|NS NAME-OR-ADDRESS\n");
    return DNS_INVAL;
}

int main(int argc, char **argv)
{
    const char *zone = NULL, *tname = NULL;
    struct buf why = BUF_INIT, qname = BUF_INIT;
    struct dns_rr *list = NULL;
    int type = -1;
    enum dns_status st;

    if (argc == 5 && strcmp(argv[1], "-z") == 0) {
        zone = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc != 3)
        return dnsq_usage();
    for (size_t i = 0; i < sizeof(dnsq_types) / sizeof(dnsq_types[0]); i++) {
        if (strcasecmp(argv[1], dnsq_types[i].name) == 0) {
            type = dnsq_types[i].type;
            tname = dnsq_types[i].name;
        }
    }
    if (type < 0)
        return dnsq_usage();
    if (zone != NULL) {
        if (dns_reverse_name(argv[2], zone, &qname) < 0) {
            fprintf(stderr, "dnsq: cannot make a reverse name of %s under %s\n", argv[2], zone);
            return DNS_INVAL;
        }
    } else {
        buf_set(&qname, argv[2]);
    }
    st = dns_lookup(buf_cstr(&qname), type, &list, &why);
    for (struct dns_rr *rr = list; rr; rr = rr->next)
        printf("%s %s %u %s\n", rr->name, tname, rr->pref, rr->data);
    if (st != DNS_OK)
        fprintf(stderr, "dnsq: %s %s: %s\n", buf_cstr(&qname), tname, buf_cstr(&why));
    dns_rr_free(list);
    buf_free(&why);
    buf_free(&qname);
    return fflush(stdout) == 0 ? (int)st : DNS_RETRY;
}
