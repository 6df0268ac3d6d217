/* test_match_list - host/network/domain lists (mynetworks, relay_domains
 * style): addresses and networks (IPv4, IPv6, brackets, IPv4-mapped),
 * names and .subdomains, parent matching, tables, /file/name entries,
 * negation and first match, and the errors a bad list must produce. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "maps/match_list.h"
#include "util/buf.h"

static char dir[] = "/tmp/test_match_list.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_match_list.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name)
{
    static char p[4][256];
    static int next;
    char *r = p[next++ % 4];
    snprintf(r, sizeof(p[0]), "%s/%s", dir, name);
    return r;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static struct match_list *create(const char *param, const char *list, int flags)
{
    struct buf why = BUF_INIT;
    struct match_list *ml = match_list_create(param, list, flags, &why);
    if (ml == NULL)
        fail_msg("%s = %s: %s", param, list, buf_cstr(&why));
    buf_free(&why);
    return ml;
}

/* create_fails - the list is rejected with a reason containing want. */
static void create_fails(const char *list, const char *want)
{
    struct buf why = BUF_INIT;
    struct match_list *ml = match_list_create("mynetworks", list, 0, &why);
    if (ml != NULL)
        fail_msg("\"%s\" was accepted", list);
    if (strstr(buf_cstr(&why), want) == NULL)
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", list, buf_cstr(&why), want);
    if (strncmp(buf_cstr(&why), "mynetworks: ", 12) != 0)
        fail_msg("\"%s\": reason \"%s\" does not name the parameter", list, buf_cstr(&why));
    buf_free(&why);
}

static void host(struct match_list *ml, const char *name, const char *addr, int want)
{
    struct buf why = BUF_INIT;
    int r = match_list_host(ml, name, addr, &why);
    if (r != want)
        fail_msg("host %s[%s]: got %d (%s), want %d", name ? name : "(null)",
                 addr ? addr : "(null)", r, buf_cstr(&why), want);
    buf_free(&why);
}

static void domain(struct match_list *ml, const char *d, int want)
{
    struct buf why = BUF_INIT;
    int r = match_list_domain(ml, d, &why);
    if (r != want)
        fail_msg("domain %s: got %d (%s), want %d", d ? d : "(null)", r, buf_cstr(&why), want);
    buf_free(&why);
}

/* ---- match_cidr_parse / match_cidr_contains ---- */

static void parse_ok(const char *spec, int family, int len)
{
    struct match_cidr c;
    struct buf why = BUF_INIT;
    if (match_cidr_parse(spec, &c, &why) < 0)
        fail_msg("%s: %s", spec, buf_cstr(&why));
    assert_int_equal(c.family, family);
    assert_int_equal(c.len, len);
    buf_free(&why);
}

static void parse_bad(const char *spec, const char *want)
{
    struct match_cidr c;
    struct buf why = BUF_INIT;
    if (match_cidr_parse(spec, &c, &why) == 0)
        fail_msg("%s was accepted", spec);
    if (strstr(buf_cstr(&why), want) == NULL)
        fail_msg("%s: reason \"%s\" lacks \"%s\"", spec, buf_cstr(&why), want);
    buf_free(&why);
}

static void test_cidr_parse_accepts_postfix_forms(void **state)
{
    parse_ok("192.0.2.1", AF_INET, 32);
    parse_ok("192.0.2.0/24", AF_INET, 24);
    parse_ok("0.0.0.0/0", AF_INET, 0);
    parse_ok("192.0.2.1/32", AF_INET, 32);
    parse_ok("[192.0.2.1]", AF_INET, 32);
    parse_ok("[192.0.2.0]/24", AF_INET, 24);
    parse_ok("[192.0.2.0/24]", AF_INET, 24);
    parse_ok("2001:db8::1", AF_INET6, 128);
    parse_ok("2001:DB8::/32", AF_INET6, 32);
    parse_ok("[2001:db8::]/32", AF_INET6, 32);
    parse_ok("::/0", AF_INET6, 0);
    parse_ok("::1/128", AF_INET6, 128);
    parse_ok("::ffff:192.0.2.0/120", AF_INET6, 120);
    parse_ok("10.0.0.0/08", AF_INET, 8);
}

static void test_cidr_parse_rejects_bad_networks_with_reason(void **state)
{
    parse_bad("10.0.0.1/8", "host bits are set (the network is 10.0.0.0/8)");
    parse_bad("2001:db8::1/32", "host bits are set (the network is 2001:db8::/32)");
    parse_bad("192.0.2.0/33", "prefix length must be 0 to 32");
    parse_bad("::/129", "prefix length must be 0 to 128");
    parse_bad("10.0.0.0/-1", "prefix length");
    parse_bad("10.0.0.0/+8", "prefix length");
    parse_bad("10.0.0.0/", "prefix length");
    parse_bad("10.0.0.0/0008", "prefix length");
    parse_bad("10.0.0.0/8/8", "prefix length");
    parse_bad("1.2.3", "not an IPv4 address");
    parse_bad("256.1.1.1", "not an IPv4 address");
    parse_bad("1.2.3.4.5", "not an IPv4 address");
    parse_bad("2001:db8:::1", "not an IPv6 address");
    parse_bad("[192.0.2.1", "missing ']'");
    parse_bad("[192.0.2.1]x", "text after ']'");
    parse_bad("[192.0.2.0/24]/24", "two prefix lengths");
    parse_bad("", "empty");
    char big[200];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    parse_bad(big, "too long");
}

static void contains(const char *spec, const char *addr, int want)
{
    struct match_cidr c;
    struct buf why = BUF_INIT;
    if (match_cidr_parse(spec, &c, &why) < 0)
        fail_msg("%s: %s", spec, buf_cstr(&why));
    if (match_cidr_contains(&c, addr) != want)
        fail_msg("%s contains %s: want %d", spec, addr ? addr : "(null)", want);
    buf_free(&why);
}

static void test_cidr_contains_networks_edges_and_mapped_addresses(void **state)
{
    contains("192.0.2.0/24", "192.0.2.0", 1);
    contains("192.0.2.0/24", "192.0.2.255", 1);
    contains("192.0.2.0/24", "192.0.3.0", 0);
    contains("192.0.2.128/25", "192.0.2.127", 0);
    contains("192.0.2.128/25", "192.0.2.128", 1);
    contains("0.0.0.0/0", "203.0.113.9", 1);
    contains("0.0.0.0/0", "2001:db8::1", 0); /* an IPv4 network holds no IPv6 address */
    contains("::/0", "2001:db8::1", 1);
    contains("::/0", "192.0.2.1", 0);
    contains("192.0.2.1/32", "192.0.2.1", 1);
    contains("192.0.2.1", "192.0.2.2", 0);
    contains("2001:db8::1/128", "2001:DB8:0:0::1", 1);
    contains("2001:db8::1", "2001:db8::2", 0);
    contains("2001:db8::/32", "2001:db9::1", 0);
    contains("192.0.2.0/24", "::ffff:192.0.2.9", 1);
    contains("192.0.2.0/24", "::ffff:192.0.3.9", 0);
    contains("192.0.2.0/24", "::192.0.2.9", 0); /* IPv4-compatible is not mapped */
    contains("192.0.2.0/24", "192.0.2", 0);
    contains("192.0.2.0/24", "[192.0.2.1]", 0);
    contains("192.0.2.0/24", "example.com", 0);
    contains("192.0.2.0/24", "", 0);
    contains("192.0.2.0/24", NULL, 0);
}

/* ---- host lists ---- */

static void test_host_list_networks_and_first_match_with_negation(void **state)
{
    struct match_list *ml =
        create("mynetworks", "127.0.0.0/8, !192.0.2.7 192.0.2.0/24,[2001:db8::]/32\t::1", 0);
    host(ml, "localhost", "127.0.0.1", 1);
    host(ml, NULL, "192.0.2.6", 1);
    host(ml, NULL, "192.0.2.7", 0); /* the negation comes first */
    host(ml, NULL, "::ffff:192.0.2.8", 1);
    host(ml, NULL, "2001:db8:1::5", 1);
    host(ml, NULL, "::1", 1);
    host(ml, NULL, "::2", 0);
    host(ml, NULL, "198.51.100.1", 0);
    host(ml, "example.com", NULL, 0);
    match_list_free(ml);
    /* in the other order the network wins */
    ml = create("mynetworks", "192.0.2.0/24 !192.0.2.7", 0);
    host(ml, NULL, "192.0.2.7", 1);
    match_list_free(ml);
}

static void test_host_list_names_and_subdomains(void **state)
{
    struct match_list *ml =
        create("smtpd_client_event_limit_exceptions",
               "Mail.Example.COM. .trusted.example !bad.ok.example ok.example", 0);
    host(ml, "mail.example.com", "192.0.2.1", 1);
    host(ml, "MAIL.example.com.", "192.0.2.1", 1);
    host(ml, "x.mail.example.com", "192.0.2.1", 0); /* no parent matching */
    host(ml, "a.b.trusted.example", "192.0.2.1", 1);
    host(ml, "trusted.example", "192.0.2.1", 0); /* .domain is only below it */
    host(ml, "ok.example", "192.0.2.1", 1);
    host(ml, "bad.ok.example", "192.0.2.1", 0);
    host(ml, "unknown", "192.0.2.1", 0);
    host(ml, NULL, NULL, 0);
    match_list_free(ml);
    ml = create("mynetworks", "example.com", MATCH_FLAG_PARENT);
    host(ml, "x.y.example.com", NULL, 1);
    host(ml, "example.com", NULL, 1);
    host(ml, "badexample.com", NULL, 0);
    match_list_free(ml);
}

static void test_host_list_tables_match_name_parents_and_address(void **state)
{
    char list[600];
    write_file(path_of("clients"), "client.example.net OK\n.sub.example.org OK\n192.0.2.5 OK\n");
    write_file(path_of("nets.cidr"), "198.51.100.0/24 whatever\n");
    snprintf(list, sizeof(list), "texthash:%s, cidr:%s", path_of("clients"), path_of("nets.cidr"));
    struct match_list *ml = create("mynetworks", list, 0);
    host(ml, "CLIENT.example.net", "203.0.113.1", 1);
    host(ml, "a.b.sub.example.org", "203.0.113.1", 1); /* parent ".sub.example.org" */
    host(ml, "sub.example.org", "203.0.113.1", 0);
    host(ml, "unknown", "192.0.2.5", 1); /* address key */
    host(ml, "unknown", "198.51.100.77", 1);
    host(ml, "unknown", "198.51.101.77", 0);
    match_list_free(ml);
}

static void test_table_that_cannot_be_consulted_is_a_temporary_error(void **state)
{
    struct match_list *ml = create("mynetworks", "192.0.2.0/24, fail:broken, 10.0.0.0/8", 0);
    host(ml, NULL, "192.0.2.1", 1); /* decided before the table */
    struct buf why = BUF_INIT;
    assert_int_equal(match_list_host(ml, NULL, "10.1.1.1", &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "mynetworks"));
    assert_non_null(strstr(buf_cstr(&why), "fail:broken"));
    buf_reset(&why);
    assert_int_equal(match_list_domain(ml, "example.com", &why), -1);
    match_list_free(ml);
    buf_free(&why);
}

/* ---- domain lists ---- */

static void test_domain_list_exact_dot_and_parent_styles(void **state)
{
    struct match_list *ml = create("mydestination", "example.com, .hosted.example, !no.example", 0);
    domain(ml, "EXAMPLE.com", 1);
    domain(ml, "example.com.", 1);
    domain(ml, "www.example.com", 0);
    domain(ml, "a.hosted.example", 1);
    domain(ml, "hosted.example", 0);
    domain(ml, "no.example", 0);
    domain(ml, "", 0);
    domain(ml, NULL, 0);
    domain(ml, "[192.0.2.1]", 0);
    match_list_free(ml);
    ml = create("relay_domains", "example.com", MATCH_FLAG_PARENT);
    domain(ml, "www.example.com", 1);
    domain(ml, "wwwexample.com", 0);
    match_list_free(ml);
}

static void test_domain_list_table_parent_lookups_follow_postfix(void **state)
{
    char list[300];
    write_file(path_of("domains"), "example.com OK\n.dot.example OK\n");
    snprintf(list, sizeof(list), "texthash:%s", path_of("domains"));
    struct match_list *ml = create("relay_domains", list, 0);
    domain(ml, "example.com", 1);
    domain(ml, "sub.example.com", 0); /* looked up as ".example.com" */
    domain(ml, "a.b.dot.example", 1);
    match_list_free(ml);
    ml = create("relay_domains", list, MATCH_FLAG_PARENT);
    domain(ml, "sub.example.com", 1); /* looked up as "example.com" */
    domain(ml, "a.b.dot.example", 0);
    match_list_free(ml);
}

static void test_pattern_tables_get_only_the_full_name(void **state)
{
    char list[300];
    write_file(path_of("re"), "/^example\\.com$/ OK\n");
    snprintf(list, sizeof(list), "regexp:%s", path_of("re"));
    struct match_list *ml = create("relay_domains", list, MATCH_FLAG_PARENT);
    domain(ml, "example.com", 1);
    domain(ml, "sub.example.com", 0);
    match_list_free(ml);
}

static void test_inline_table_with_separators_inside_braces(void **state)
{
    struct match_list *ml =
        create("relay_domains", "inline:{ a.example=1, { b.example = x y } }, c.example", 0);
    domain(ml, "a.example", 1);
    domain(ml, "b.example", 1);
    domain(ml, "c.example", 1);
    domain(ml, "d.example", 0);
    match_list_free(ml);
}

/* ---- /file/name entries ---- */

static void test_file_entries_are_read_at_create_time(void **state)
{
    char list[600];
    write_file(path_of("nets"), "# our networks\n192.0.2.0/24, !198.51.100.9\n"
                                "198.51.100.0/24\n  203.0.113.0/24\n");
    snprintf(list, sizeof(list), "%s", path_of("nets"));
    struct match_list *ml = create("mynetworks", list, 0);
    host(ml, NULL, "192.0.2.1", 1);
    host(ml, NULL, "198.51.100.9", 0);
    host(ml, NULL, "198.51.100.10", 1);
    host(ml, NULL, "203.0.113.10", 1); /* continuation line */
    unlink(path_of("nets"));           /* already read */
    host(ml, NULL, "192.0.2.1", 1);
    match_list_free(ml);
    /* a negated file negates its entries; files may include files */
    write_file(path_of("inner"), "192.0.2.0/24\n");
    write_file(path_of("outer"), path_of("inner"));
    snprintf(list, sizeof(list), "!%s, 0.0.0.0/0", path_of("outer"));
    ml = create("mynetworks", list, 0);
    host(ml, NULL, "192.0.2.1", 0);
    host(ml, NULL, "10.0.0.1", 1);
    match_list_free(ml);
}

static void test_bad_file_entries_fail_with_file_and_line(void **state)
{
    char list[300], want[300];
    snprintf(list, sizeof(list), "%s", path_of("absent"));
    create_fails(list, "absent");
    write_file(path_of("badnets"), "192.0.2.0/24\n\n10.0.0.1/8\n");
    snprintf(list, sizeof(list), "%s", path_of("badnets"));
    snprintf(want, sizeof(want), "%s:3: bad network: \"10.0.0.1/8\": host bits are set",
             path_of("badnets"));
    create_fails(list, want);
    write_file(path_of("loop"), path_of("loop"));
    snprintf(list, sizeof(list), "%s", path_of("loop"));
    create_fails(list, "more than 8 deep");
}

static void test_bad_lists_are_rejected_naming_the_parameter(void **state)
{
    create_fails("10.0.0.1/8", "mynetworks: bad network: \"10.0.0.1/8\": host bits are set");
    create_fails("192.0.2.0/24 [::1", "missing ']'");
    create_fails("1.2.3.4.5", "not an IPv4 address");
    create_fails("192.0.2.0/40", "prefix length");
    create_fails("!", "missing pattern after '!'");
    create_fails("nosuch:table", "unsupported table type");
    create_fails("inline:{ a=1", "missing '}'");
    create_fails("a }", "unexpected '}'");
    create_fails("hash:/nonexistent/x", "/nonexistent/x.lmdb");
    /* empty lists are fine and match nothing */
    struct match_list *ml = create("mynetworks", " , ,", 0);
    host(ml, "x", "192.0.2.1", 0);
    match_list_free(ml);
}

static void test_huge_list_and_hostile_names(void **state)
{
    size_t n = 20000;
    char *list = malloc(n * 16 + 1), *p = list;
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "10.%zu.%zu.0/24 ", (i >> 8) & 255, i & 255);
    struct match_list *ml = create("mynetworks", list, 0);
    host(ml, NULL, "10.78.31.200", 1);
    host(ml, NULL, "11.0.0.1", 0);
    match_list_free(ml);
    free(list);
    ml = create("relay_domains", ".example.com", 0);
    char *big = malloc(100001);
    memset(big, 'a', 100000);
    big[100000] = 0;
    domain(ml, big, 0);
    memcpy(big + 100000 - 12, ".example.com", 12);
    domain(ml, big, 1);
    domain(ml, ".", 0);
    domain(ml, "..", 0);
    free(big);
    match_list_free(ml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse_accepts_postfix_forms),
        cmocka_unit_test(test_cidr_parse_rejects_bad_networks_with_reason),
        cmocka_unit_test(test_cidr_contains_networks_edges_and_mapped_addresses),
        cmocka_unit_test(test_host_list_networks_and_first_match_with_negation),
        cmocka_unit_test(test_host_list_names_and_subdomains),
        cmocka_unit_test(test_host_list_tables_match_name_parents_and_address),
        cmocka_unit_test(test_table_that_cannot_be_consulted_is_a_temporary_error),
        cmocka_unit_test(test_domain_list_exact_dot_and_parent_styles),
        cmocka_unit_test(test_domain_list_table_parent_lookups_follow_postfix),
        cmocka_unit_test(test_pattern_tables_get_only_the_full_name),
        cmocka_unit_test(test_inline_table_with_separators_inside_braces),
        cmocka_unit_test(test_file_entries_are_read_at_create_time),
        cmocka_unit_test(test_bad_file_entries_fail_with_file_and_line),
        cmocka_unit_test(test_bad_lists_are_rejected_naming_the_parameter),
        cmocka_unit_test(test_huge_list_and_hostile_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
