/* fuzz_dns_answer - libFuzzer target for the DNS answer parser. The first
 * byte picks the record type asked for, the rest is the response. Every
 * input must parse or fail cleanly: a list only with DNS_OK, a reason with
 * DNS_RETRY, records of the asked type with terminated, control-free names
 * and data, and MX records in preference order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns.h"

static const int fuzz_types[] = {DNS_T_A, DNS_T_NS, DNS_T_PTR, DNS_T_MX, DNS_T_TXT, DNS_T_AAAA};

static void check_text(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    if (n == size)
        abort(); /* unterminated */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_rr *list = (struct dns_rr *)1;
    struct buf why = BUF_INIT;

    if (size < 1)
        return 0;
    int type = fuzz_types[data[0] % (sizeof(fuzz_types) / sizeof(fuzz_types[0]))];
    enum dns_status st = dns_parse_answer(data + 1, size - 1, type, &list, &why);
    switch (st) {
    case DNS_OK:
        if (list == NULL)
            abort();
        break;
    case DNS_RETRY:
        if (list != NULL || why.len == 0)
            abort();
        break;
    case DNS_NOTFOUND:
        if (list != NULL)
            abort();
        break;
    default:
        abort(); /* the parser never says INVAL */
    }
    unsigned prev_pref = 0;
    for (struct dns_rr *rr = list; rr; rr = rr->next) {
        if (rr->type != type)
            abort();
        check_text(rr->name, sizeof(rr->name));
        check_text(rr->data, sizeof(rr->data));
        if (type == DNS_T_MX) {
            if (rr->pref > 65535 || rr->pref < prev_pref)
                abort();
            prev_pref = rr->pref;
        }
        if ((type == DNS_T_A && rr->addr_len != 4) || (type == DNS_T_AAAA && rr->addr_len != 16))
            abort();
    }
    dns_rr_free(list);
    buf_free(&why);
    return 0;
}
