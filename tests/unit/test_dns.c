/* test_dns - the DNS answer parser on hand-built response packets (MX with
 * compression, pointer loops, truncation, wrong section counts, rcodes,
 * CNAME chains, TXT joining and sanitizing, A/AAAA/PTR), MX shuffling, the
 * DNSBL / reverse names, and domain name validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "dns/dns.h"

/* ---- a tiny DNS message builder ----------------------------------------- */

#define T_CNAME 5

struct pkt {
    unsigned char b[8192];
    size_t n;
};

static void put8(struct pkt *p, unsigned v)
{
    assert_true(p->n < sizeof(p->b));
    p->b[p->n++] = (unsigned char)v;
}

static void put16(struct pkt *p, unsigned v)
{
    put8(p, v >> 8);
    put8(p, v & 0xff);
}

static void put32(struct pkt *p, unsigned long v)
{
    put16(p, (unsigned)(v >> 16));
    put16(p, (unsigned)(v & 0xffff));
}

static void put_bytes(struct pkt *p, const void *d, size_t n)
{
    assert_true(n <= sizeof(p->b) - p->n);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

/* labels of a dotted name, ending with the root label */
static void put_name(struct pkt *p, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        put8(p, (unsigned)l);
        put_bytes(p, name, l);
        name += l + (dot != NULL);
    }
    put8(p, 0);
}

/* labels without the root label: the caller ends with a pointer */
static void put_labels(struct pkt *p, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);
        put8(p, (unsigned)l);
        put_bytes(p, name, l);
        name += l + (dot != NULL);
    }
}

static void put_ptr(struct pkt *p, unsigned off)
{
    put16(p, 0xc000 | off);
}

enum { RC_NOERROR = 0, RC_SERVFAIL = 2, RC_NXDOMAIN = 3, RC_REFUSED = 5 };
#define F_QR 0x8000
#define F_TC 0x0200
#define F_RD 0x0100
#define F_RA 0x0080

/* header and one question; the question name is at offset 12 */
static void start(struct pkt *p, unsigned flags, unsigned an, const char *qname, int qtype)
{
    p->n = 0;
    put16(p, 0x1234);
    put16(p, flags);
    put16(p, 1);
    put16(p, an);
    put16(p, 0);
    put16(p, 0);
    put_name(p, qname);
    put16(p, (unsigned)qtype);
    put16(p, 1);
}

static void set_count(struct pkt *p, int which, unsigned v)
{
    p->b[4 + 2 * which] = (unsigned char)(v >> 8);
    p->b[5 + 2 * which] = (unsigned char)v;
}

/* type, class IN, ttl, and a placeholder rdlength; returns its offset */
static size_t rr_head(struct pkt *p, int type)
{
    put16(p, (unsigned)type);
    put16(p, 1);
    put32(p, 3600);
    put16(p, 0);
    return p->n - 2;
}

static void rr_end(struct pkt *p, size_t lenpos)
{
    size_t rdlen = p->n - lenpos - 2;
    p->b[lenpos] = (unsigned char)(rdlen >> 8);
    p->b[lenpos + 1] = (unsigned char)rdlen;
}

/* an MX record owned by the question name, exchange = label + question name */
static void mx_rr(struct pkt *p, unsigned pref, const char *label)
{
    put_ptr(p, 12);
    size_t lp = rr_head(p, DNS_T_MX);
    put16(p, pref);
    put_labels(p, label);
    put_ptr(p, 12);
    rr_end(p, lp);
}

static void a_rr(struct pkt *p, const char *owner, unsigned a, unsigned b, unsigned c, unsigned d)
{
    put_name(p, owner);
    size_t lp = rr_head(p, DNS_T_A);
    put8(p, a);
    put8(p, b);
    put8(p, c);
    put8(p, d);
    rr_end(p, lp);
}

static void cname_rr(struct pkt *p, const char *owner, const char *target)
{
    put_name(p, owner);
    size_t lp = rr_head(p, T_CNAME);
    put_name(p, target);
    rr_end(p, lp);
}

static enum dns_status parse(const struct pkt *p, int type, struct dns_rr **out, struct buf *why)
{
    buf_reset(why);
    enum dns_status st = dns_parse_answer(p->b, p->n, type, out, why);
    if (st == DNS_OK)
        assert_non_null(*out);
    else
        assert_null(*out);
    if (st == DNS_RETRY)
        assert_true(why->len > 0);
    return st;
}

static size_t count(const struct dns_rr *rr)
{
    size_t n = 0;
    for (; rr; rr = rr->next)
        n++;
    return n;
}

/* ---- MX ------------------------------------------------------------------ */

static void test_mx_with_compression_sorted_by_preference(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR | F_RD | F_RA, 3, "example.com", DNS_T_MX);
    mx_rr(&p, 20, "mx3");
    mx_rr(&p, 10, "mx1");
    mx_rr(&p, 15, "mx2");
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_OK);
    assert_int_equal(count(list), 3);
    assert_int_equal(list->pref, 10);
    assert_string_equal(list->data, "mx1.example.com");
    assert_string_equal(list->name, "example.com");
    assert_int_equal(list->type, DNS_T_MX);
    assert_int_equal(list->ttl, 3600);
    assert_int_equal(list->next->pref, 15);
    assert_string_equal(list->next->data, "mx2.example.com");
    assert_int_equal(list->next->next->pref, 20);
    assert_string_equal(list->next->next->data, "mx3.example.com");
    dns_rr_free(list);
    buf_free(&why);
}

static void test_mx_equal_preferences_are_shuffled(void **state)
{
    struct pkt p;
    struct buf why = BUF_INIT;
    int seen[2] = {0, 0};

    start(&p, F_QR, 3, "example.com", DNS_T_MX);
    mx_rr(&p, 10, "a");
    mx_rr(&p, 10, "b");
    mx_rr(&p, 5, "first");
    for (int i = 0; i < 200; i++) {
        struct dns_rr *list;
        assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_OK);
        assert_int_equal(count(list), 3);
        assert_string_equal(list->data, "first.example.com");
        seen[strcmp(list->next->data, "a.example.com") == 0]++;
        assert_int_equal(list->next->next->pref, 10);
        dns_rr_free(list);
    }
    /* each order has probability 1/2; missing one in 200 tries is 2^-199 */
    assert_true(seen[0] > 0 && seen[1] > 0);
    buf_free(&why);
}

static void test_null_mx_is_the_root_name(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR, 1, "example.com", DNS_T_MX);
    put_ptr(&p, 12);
    size_t lp = rr_head(&p, DNS_T_MX);
    put16(&p, 0);
    put8(&p, 0);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_OK);
    assert_int_equal(list->pref, 0);
    assert_string_equal(list->data, ".");
    dns_rr_free(list);
    buf_free(&why);
}

static void test_mx_exchange_running_past_rdata_is_retry(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    /* rdlength covers the preference and the label "mx"; the name goes on
     * into the next record, which is itself well formed ("example.com" A) */
    start(&p, F_QR, 2, "example.com", DNS_T_MX);
    put_ptr(&p, 12);
    size_t lp = rr_head(&p, DNS_T_MX);
    put16(&p, 10);
    put_labels(&p, "mx");
    rr_end(&p, lp);
    a_rr(&p, "example.com", 192, 0, 2, 1);
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    assert_non_null(strstr(why.data, "exchange"));

    /* rdlength too short for even a preference */
    start(&p, F_QR, 1, "example.com", DNS_T_MX);
    put_ptr(&p, 12);
    lp = rr_head(&p, DNS_T_MX);
    put16(&p, 10);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    buf_free(&why);
}

/* ---- hostile framing ------------------------------------------------------ */

static void test_compression_pointer_loops_are_retry(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    /* owner name is a pointer to itself */
    start(&p, F_QR, 1, "example.com", DNS_T_MX);
    put_ptr(&p, (unsigned)p.n);
    size_t lp = rr_head(&p, DNS_T_MX);
    put16(&p, 10);
    put_ptr(&p, 12);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);

    /* exchange: two labels pointing at each other */
    start(&p, F_QR, 1, "example.com", DNS_T_MX);
    put_ptr(&p, 12);
    lp = rr_head(&p, DNS_T_MX);
    put16(&p, 10);
    size_t here = p.n;
    put8(&p, 1);
    put8(&p, 'x');
    put_ptr(&p, (unsigned)here);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);

    /* pointer past the end of the message */
    start(&p, F_QR, 1, "example.com", DNS_T_MX);
    put_ptr(&p, 12);
    lp = rr_head(&p, DNS_T_MX);
    put16(&p, 10);
    put_ptr(&p, 0x3ff);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    buf_free(&why);
}

static void test_every_truncation_is_retry(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR, 2, "example.com", DNS_T_MX);
    mx_rr(&p, 10, "mx1");
    mx_rr(&p, 20, "mx2");
    size_t full = p.n;
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_OK);
    dns_rr_free(list);
    for (p.n = 0; p.n < full; p.n++) {
        buf_reset(&why);
        list = NULL;
        assert_int_equal(dns_parse_answer(p.b, p.n, DNS_T_MX, &list, &why), DNS_RETRY);
        assert_null(list);
        assert_true(why.len > 0);
    }
    assert_int_equal(dns_parse_answer(NULL, 0, DNS_T_MX, &list, &why), DNS_RETRY);
    buf_free(&why);
}

static void test_tc_flag_is_retry(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR | F_TC, 1, "example.com", DNS_T_MX);
    mx_rr(&p, 10, "mx1");
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    assert_non_null(strstr(why.data, "truncated"));
    buf_free(&why);
}

static void test_wrong_section_counts_are_retry(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR, 2, "example.com", DNS_T_MX);
    mx_rr(&p, 10, "mx1");
    mx_rr(&p, 20, "mx2");
    set_count(&p, 1, 3); /* more answers than present */
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    set_count(&p, 1, 1); /* fewer: the rest is trailing junk */
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    set_count(&p, 1, 2);
    set_count(&p, 3, 1); /* an additional record that is not there */
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    set_count(&p, 3, 0);
    set_count(&p, 0, 0); /* no question */
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    set_count(&p, 0, 1);
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_OK);
    dns_rr_free(list);
    buf_free(&why);
}

static void test_query_or_other_question_is_retry(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR, 1, "example.com", DNS_T_MX); /* two questions */
    put_ptr(&p, 12);
    put16(&p, DNS_T_MX);
    put16(&p, 1);
    mx_rr(&p, 10, "mx1");
    set_count(&p, 0, 2);
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    start(&p, F_RD, 1, "example.com", DNS_T_MX); /* QR clear: a query */
    mx_rr(&p, 10, "mx1");
    assert_int_equal(parse(&p, DNS_T_MX, &list, &why), DNS_RETRY);
    start(&p, F_QR, 1, "example.com", DNS_T_MX);
    mx_rr(&p, 10, "mx1");
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_RETRY); /* asked A, got MX */
    buf_free(&why);
}

/* ---- rcodes and empty answers --------------------------------------------- */

static void test_rcodes(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR | RC_NXDOMAIN, 0, "nowhere.example", DNS_T_A);
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_NOTFOUND);
    start(&p, F_QR | RC_SERVFAIL, 0, "nowhere.example", DNS_T_A);
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_RETRY);
    start(&p, F_QR | RC_REFUSED, 0, "nowhere.example", DNS_T_A);
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_RETRY);
    start(&p, F_QR, 0, "nowhere.example", DNS_T_A); /* NODATA */
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_NOTFOUND);
    buf_free(&why);
}

static void test_records_of_other_types_or_owners_are_not_found(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR, 2, "host.example", DNS_T_A);
    a_rr(&p, "other.example", 192, 0, 2, 1); /* not the queried name */
    put_ptr(&p, 12);
    size_t lp = rr_head(&p, DNS_T_TXT); /* the name, but another type */
    put8(&p, 2);
    put_bytes(&p, "hi", 2);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_NOTFOUND);
    buf_free(&why);
}

/* ---- CNAME ---------------------------------------------------------------- */

static void test_cname_chain_is_followed_in_any_order(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR, 5, "a.example", DNS_T_A);
    a_rr(&p, "c.example", 192, 0, 2, 3);        /* the end of the chain first */
    a_rr(&p, "unrelated.example", 10, 0, 0, 1); /* not reachable: ignored */
    cname_rr(&p, "b.example", "c.example");
    cname_rr(&p, "A.Example", "b.example"); /* names compare without case */
    a_rr(&p, "c.example", 192, 0, 2, 4);
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_OK);
    assert_int_equal(count(list), 2);
    assert_string_equal(list->name, "c.example");
    assert_string_equal(list->data, "192.0.2.3");
    assert_string_equal(list->next->data, "192.0.2.4");
    assert_int_equal(list->addr_len, 4);
    assert_memory_equal(list->addr, "\xc0\x00\x02\x03", 4);
    dns_rr_free(list);
    buf_free(&why);
}

static void test_cname_loop_or_long_chain(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;
    char a[32], b[32];

    start(&p, F_QR, 2, "a.example", DNS_T_A);
    cname_rr(&p, "a.example", "b.example");
    cname_rr(&p, "b.example", "a.example");
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_NOTFOUND);

    start(&p, F_QR, 41, "n0.example", DNS_T_A);
    for (int i = 0; i < 40; i++) {
        snprintf(a, sizeof(a), "n%d.example", i);
        snprintf(b, sizeof(b), "n%d.example", i + 1);
        cname_rr(&p, a, b);
    }
    a_rr(&p, "n40.example", 192, 0, 2, 1);
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_RETRY);
    assert_non_null(strstr(why.data, "CNAME"));
    buf_free(&why);
}

/* ---- TXT ------------------------------------------------------------------ */

static void test_txt_many_strings_joined_and_bounded(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;
    char s[200];

    start(&p, F_QR, 1, "txt.example", DNS_T_TXT);
    put_ptr(&p, 12);
    size_t lp = rr_head(&p, DNS_T_TXT);
    for (int i = 0; i < 10; i++) {
        memset(s, 'a' + i, sizeof(s));
        put8(&p, sizeof(s));
        put_bytes(&p, s, sizeof(s));
    }
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_TXT, &list, &why), DNS_OK);
    assert_int_equal(strlen(list->data), sizeof(list->data) - 1);
    for (size_t i = 0; i < sizeof(list->data) - 1; i++)
        assert_int_equal(list->data[i], 'a' + (int)(i / 200));
    dns_rr_free(list);

    /* two short strings, one empty: plain concatenation */
    start(&p, F_QR, 1, "txt.example", DNS_T_TXT);
    put_ptr(&p, 12);
    lp = rr_head(&p, DNS_T_TXT);
    put8(&p, 7);
    put_bytes(&p, "v=spf1 ", 7);
    put8(&p, 0);
    put8(&p, 4);
    put_bytes(&p, "-all", 4);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_TXT, &list, &why), DNS_OK);
    assert_string_equal(list->data, "v=spf1 -all");
    dns_rr_free(list);
    buf_free(&why);
}

static void test_txt_control_bytes_become_question_marks(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR, 1, "txt.example", DNS_T_TXT);
    put_ptr(&p, 12);
    size_t lp = rr_head(&p, DNS_T_TXT);
    put8(&p, 9);
    put_bytes(&p, "a\0b\r\nc\x7f\x01z", 9);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_TXT, &list, &why), DNS_OK);
    assert_string_equal(list->data, "a?b??c??z");
    dns_rr_free(list);
    buf_free(&why);
}

static void test_txt_string_past_rdata_or_empty_is_retry(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    /* a length byte of 10 with 3 bytes in the rdata, then another record */
    start(&p, F_QR, 2, "txt.example", DNS_T_TXT);
    put_ptr(&p, 12);
    size_t lp = rr_head(&p, DNS_T_TXT);
    put8(&p, 10);
    put_bytes(&p, "abc", 3);
    rr_end(&p, lp);
    a_rr(&p, "txt.example", 1, 2, 3, 4);
    assert_int_equal(parse(&p, DNS_T_TXT, &list, &why), DNS_RETRY);

    start(&p, F_QR, 1, "txt.example", DNS_T_TXT);
    put_ptr(&p, 12);
    lp = rr_head(&p, DNS_T_TXT);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_TXT, &list, &why), DNS_RETRY);
    buf_free(&why);
}

/* ---- A, AAAA, PTR ----------------------------------------------------------- */

static void test_aaaa_and_bad_address_lengths(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;
    static const unsigned char v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                         0,    0,    0,    0,    0, 0, 0, 1};

    start(&p, F_QR, 1, "v6.example", DNS_T_AAAA);
    put_ptr(&p, 12);
    size_t lp = rr_head(&p, DNS_T_AAAA);
    put_bytes(&p, v6, 16);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_AAAA, &list, &why), DNS_OK);
    assert_string_equal(list->data, "2001:db8::1");
    assert_int_equal(list->addr_len, 16);
    assert_memory_equal(list->addr, v6, 16);
    dns_rr_free(list);

    start(&p, F_QR, 1, "v6.example", DNS_T_AAAA);
    put_ptr(&p, 12);
    lp = rr_head(&p, DNS_T_AAAA);
    put_bytes(&p, v6, 4); /* an A-sized AAAA */
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_AAAA, &list, &why), DNS_RETRY);

    start(&p, F_QR, 1, "v4.example", DNS_T_A);
    put_ptr(&p, 12);
    lp = rr_head(&p, DNS_T_A);
    put_bytes(&p, v6, 5);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_RETRY);
    buf_free(&why);
}

static void test_ptr_and_escaped_owner_names(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    start(&p, F_QR, 1, "1.2.0.192.in-addr.arpa", DNS_T_PTR);
    put_ptr(&p, 12);
    size_t lp = rr_head(&p, DNS_T_PTR);
    /* a target label with a NUL, a newline and a dot in it */
    put8(&p, 5);
    put_bytes(&p, "a\0\n.b", 5);
    put_name(&p, "example");
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_PTR, &list, &why), DNS_OK);
    assert_string_equal(list->name, "1.2.0.192.in-addr.arpa");
    assert_string_equal(list->data, "a\\000\\010\\.b.example");
    dns_rr_free(list);
    buf_free(&why);
}

static void test_root_names_are_copied_safely(void **state)
{
    struct pkt p;
    struct dns_rr *list;
    struct buf why = BUF_INIT;

    /* found by fuzz_dns_answer: ns_rr_name() of the root is a 2-byte literal */
    p.n = 0;
    put16(&p, 1);
    put16(&p, F_QR);
    put16(&p, 1);
    put16(&p, 1);
    put16(&p, 0);
    put16(&p, 0);
    put8(&p, 0);
    put16(&p, DNS_T_A);
    put16(&p, 1);
    put8(&p, 0);
    size_t lp = rr_head(&p, DNS_T_A);
    put_bytes(&p, "\x7f\0\0\x01", 4);
    rr_end(&p, lp);
    assert_int_equal(parse(&p, DNS_T_A, &list, &why), DNS_OK);
    assert_string_equal(list->name, ".");
    assert_string_equal(list->data, "127.0.0.1");
    dns_rr_free(list);
    buf_free(&why);
}

/* ---- names ------------------------------------------------------------------ */

static const char *rev(const char *addr, const char *zone)
{
    static struct buf out = BUF_INIT;
    buf_set(&out, "unchanged");
    if (dns_reverse_name(addr, zone, &out) < 0)
        return "ERROR";
    return buf_cstr(&out);
}

static void test_reverse_names(void **state)
{
    char zone[300];

    assert_string_equal(rev("192.0.2.1", "zen.example"), "1.2.0.192.zen.example");
    assert_string_equal(rev("192.0.2.1", "in-addr.arpa."), "1.2.0.192.in-addr.arpa");
    assert_string_equal(rev("127.0.0.2", ""), "2.0.0.127");
    assert_string_equal(rev("127.0.0.2", NULL), "2.0.0.127");
    assert_string_equal(rev("2001:db8::1", "ip6.arpa"),
                        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    assert_string_equal(
        rev("::ffff:192.0.2.1", "bl.example"),
        "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example");
    assert_string_equal(rev("192.0.2", "bl.example"), "ERROR");
    assert_string_equal(rev("192.0.2.256", "bl.example"), "ERROR");
    assert_string_equal(rev("fe80::1%eth0", "bl.example"), "ERROR");
    assert_string_equal(rev("host.example", "bl.example"), "ERROR");
    assert_string_equal(rev("", "bl.example"), "ERROR");
    assert_string_equal(rev("192.0.2.1", "bad..zone"), "ERROR");
    assert_string_equal(rev("192.0.2.1", "bl.example\n"), "ERROR");
    /* 64 bytes of IPv6 nibbles + a zone of 189 = 253: the longest allowed */
    memset(zone, 0, sizeof(zone));
    for (size_t i = 0; i < 189; i++)
        zone[i] = (i % 2) ? '.' : 'z';
    zone[188] = 'z';
    assert_int_equal(strlen(zone), 189);
    assert_int_equal(strlen(rev("2001:db8::1", zone)), 253);
    zone[189] = '.';
    zone[190] = 'z';
    assert_string_equal(rev("2001:db8::1", zone), "ERROR");
}

static void test_domain_valid(void **state)
{
    char name[300];

    assert_true(dns_domain_valid("example.com"));
    assert_true(dns_domain_valid("example.com."));
    assert_true(dns_domain_valid("localhost"));
    assert_true(dns_domain_valid("_dmarc.Example.COM"));
    assert_true(dns_domain_valid("2.0.0.127.zen.spamhaus.org"));
    assert_true(dns_domain_valid("xn--bcher-kva.example"));
    assert_true(dns_domain_valid("a-b.c"));
    assert_false(dns_domain_valid(NULL));
    assert_false(dns_domain_valid(""));
    assert_false(dns_domain_valid("."));
    assert_false(dns_domain_valid("a..b"));
    assert_false(dns_domain_valid(".a.b"));
    assert_false(dns_domain_valid("a.b.."));
    assert_false(dns_domain_valid("-a.b"));
    assert_false(dns_domain_valid("a-.b"));
    assert_false(dns_domain_valid("a.b-"));
    assert_false(dns_domain_valid("a b.c"));
    assert_false(dns_domain_valid("a\nb.c"));
    assert_false(dns_domain_valid("a@b.c"));
    assert_false(dns_domain_valid("b\xc3\xbc"
                                  "cher.example"));

    memset(name, 0, sizeof(name));
    memset(name, 'x', 63);
    strcat(name, ".example");
    assert_true(dns_domain_valid(name));
    name[0] = 0;
    memset(name, 'x', 64);
    strcat(name, ".example");
    assert_false(dns_domain_valid(name));

    /* 253 bytes is the limit (254 with the trailing dot) */
    memset(name, 0, sizeof(name));
    for (size_t i = 0; i < 253; i++)
        name[i] = (i % 2) ? '.' : 'a';
    assert_true(dns_domain_valid(name));
    name[253] = '.';
    assert_true(dns_domain_valid(name));
    name[253] = 'a';
    name[252] = '.';
    assert_false(dns_domain_valid(name));
}

static void test_lookup_rejects_bad_names_before_querying(void **state)
{
    struct dns_rr *list = (struct dns_rr *)1;
    struct buf why = BUF_INIT;

    assert_int_equal(dns_lookup("a..example", DNS_T_MX, &list, &why), DNS_INVAL);
    assert_null(list);
    assert_true(why.len > 0);
    assert_int_equal(dns_lookup("", DNS_T_A, &list, &why), DNS_INVAL);
    assert_int_equal(dns_lookup("example.com", 99, &list, &why), DNS_INVAL);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mx_with_compression_sorted_by_preference),
        cmocka_unit_test(test_mx_equal_preferences_are_shuffled),
        cmocka_unit_test(test_null_mx_is_the_root_name),
        cmocka_unit_test(test_mx_exchange_running_past_rdata_is_retry),
        cmocka_unit_test(test_compression_pointer_loops_are_retry),
        cmocka_unit_test(test_every_truncation_is_retry),
        cmocka_unit_test(test_tc_flag_is_retry),
        cmocka_unit_test(test_wrong_section_counts_are_retry),
        cmocka_unit_test(test_query_or_other_question_is_retry),
        cmocka_unit_test(test_rcodes),
        cmocka_unit_test(test_records_of_other_types_or_owners_are_not_found),
        cmocka_unit_test(test_cname_chain_is_followed_in_any_order),
        cmocka_unit_test(test_cname_loop_or_long_chain),
        cmocka_unit_test(test_txt_many_strings_joined_and_bounded),
        cmocka_unit_test(test_txt_control_bytes_become_question_marks),
        cmocka_unit_test(test_txt_string_past_rdata_or_empty_is_retry),
        cmocka_unit_test(test_aaaa_and_bad_address_lengths),
        cmocka_unit_test(test_ptr_and_escaped_owner_names),
        cmocka_unit_test(test_root_names_are_copied_safely),
        cmocka_unit_test(test_reverse_names),
        cmocka_unit_test(test_domain_valid),
        cmocka_unit_test(test_lookup_rejects_bad_names_before_querying),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
