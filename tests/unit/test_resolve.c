/* test_resolve - the recipient resolver: mydestination matching (case,
 * trailing dot, subdomain patterns, tables, negation), the address classes
 * (local, virtual alias, virtual mailbox, relay, default) with their next
 * hops, relayhost, transport_maps (key order, parent domains, wildcard,
 * value forms, pattern tables, failures, unusable values), and bad
 * settings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/resolve.h"

static struct resolver *make(const char *mydest, const char *local, const char *def,
                             const char *relayhost)
{
    struct resolve_params p = {mydest, local, def, relayhost, "host.example"};
    struct buf why = BUF_INIT;
    struct resolver *r = resolver_create(&p, &why);
    if (r == NULL)
        fail_msg("resolver_create: %s", buf_cstr(&why));
    buf_free(&why);
    return r;
}

/* resolve one address; returns "transport|nexthop|L" or "...|D" */
static const char *res(struct resolver *r, const char *addr)
{
    static char out[512];
    struct resolve_result rr;
    struct buf why = BUF_INIT;
    resolve_result_init(&rr);
    if (resolve_addr(r, addr, &rr, &why) < 0)
        snprintf(out, sizeof(out), "ERROR %s", buf_cstr(&why));
    else
        snprintf(out, sizeof(out), "%s|%s|%c", rr.transport.data, rr.nexthop.data,
                 "LDAVR"[rr.class]);
    resolve_result_free(&rr);
    buf_free(&why);
    return out;
}

static void test_listed_domain_goes_to_local_transport(void **state)
{
    struct resolver *r = make("host.example, localhost", "local:host.example", "smtp", "");
    assert_string_equal(res(r, "bob@host.example"), "local|host.example|L");
    assert_string_equal(res(r, "bob@localhost"), "local|host.example|L");
    assert_string_equal(res(r, "bob@other.example"), "smtp|other.example|D");
    resolver_free(r);
}

static void test_domain_match_ignores_case(void **state)
{
    struct resolver *r = make("Host.Example", "local:h", "smtp", "");
    assert_string_equal(res(r, "bob@HOST.example"), "local|h|L");
    assert_string_equal(res(r, "bob@host.EXAMPLE"), "local|h|L");
    resolver_free(r);
}

static void test_trailing_dot_names_the_same_domain(void **state)
{
    struct resolver *r = make("host.example, other.example.", "local:h", "smtp", "");
    assert_string_equal(res(r, "bob@host.example."), "local|h|L");
    assert_string_equal(res(r, "bob@other.example"), "local|h|L");
    /* the next hop of a remote domain has no trailing dot either */
    assert_string_equal(res(r, "bob@remote.example."), "smtp|remote.example|D");
    resolver_free(r);
}

static void test_address_without_domain_is_local(void **state)
{
    struct resolver *r = make("host.example", "local", "smtp", "");
    assert_string_equal(res(r, "bob"), "local|host.example|L");
    assert_string_equal(res(r, "bob@"), "local|host.example|L");
    assert_string_equal(res(r, ""), "local|host.example|L");
    resolver_free(r);
}

static void test_local_nexthop_defaults_to_recipient_domain(void **state)
{
    struct resolver *r = make("host.example", "local", "smtp", "");
    assert_string_equal(res(r, "bob@host.example"), "local|host.example|L");
    resolver_free(r);
    r = make("a.example", "local:", "smtp", "");
    assert_string_equal(res(r, "bob@A.example"), "local|A.example|L");
    resolver_free(r);
}

static void test_domain_is_after_the_last_at_sign(void **state)
{
    struct resolver *r = make("host.example", "local:h", "smtp", "");
    assert_string_equal(res(r, "a@b@host.example"), "local|h|L");
    assert_string_equal(res(r, "a@host.example@remote.example"), "smtp|remote.example|D");
    resolver_free(r);
}

static void test_ip_literal_goes_to_default_transport(void **state)
{
    struct resolver *r = make("host.example, [127.0.0.1]", "local:h", "smtp", "");
    assert_string_equal(res(r, "bob@[127.0.0.1]"), "smtp|[127.0.0.1]|D");
    resolver_free(r);
}

static void test_subdomain_pattern_matches_only_subdomains(void **state)
{
    struct resolver *r = make(".example.org", "local:h", "smtp", "");
    assert_string_equal(res(r, "bob@mail.example.org"), "local|h|L");
    assert_string_equal(res(r, "bob@a.b.EXAMPLE.org"), "local|h|L");
    assert_string_equal(res(r, "bob@example.org"), "smtp|example.org|D");
    assert_string_equal(res(r, "bob@badexample.org"), "smtp|badexample.org|D");
    resolver_free(r);
}

static void test_plain_domain_does_not_match_subdomains(void **state)
{
    struct resolver *r = make("example.org", "local:h", "smtp", "");
    assert_string_equal(res(r, "bob@sub.example.org"), "smtp|sub.example.org|D");
    resolver_free(r);
}

static void test_negated_entry_wins_when_first(void **state)
{
    struct resolver *r = make("!skip.example.org .example.org", "local:h", "smtp", "");
    assert_string_equal(res(r, "bob@skip.example.org"), "smtp|skip.example.org|D");
    assert_string_equal(res(r, "bob@mail.example.org"), "local|h|L");
    resolver_free(r);
}

static void test_table_entry_is_looked_up(void **state)
{
    struct resolver *r =
        make("localhost inline:{ tab.example=ok, .parent.example=ok }", "local:h", "smtp", "");
    assert_string_equal(res(r, "bob@TAB.example"), "local|h|L");
    assert_string_equal(res(r, "bob@x.y.parent.example"), "local|h|L");
    assert_string_equal(res(r, "bob@parent.example"), "smtp|parent.example|D");
    assert_string_equal(res(r, "bob@none.example"), "smtp|none.example|D");
    resolver_free(r);
}

static void test_table_failure_is_a_temporary_error(void **state)
{
    struct resolver *r = make("fail:broken", "local:h", "smtp", "");
    const char *out = res(r, "bob@x.example");
    assert_true(strncmp(out, "ERROR ", 6) == 0);
    /* no domain: the table is not consulted */
    assert_string_equal(res(r, "bob"), "local|h|L");
    resolver_free(r);
}

static void test_relayhost_is_the_default_nexthop(void **state)
{
    struct resolver *r = make("host.example", "local:h", "smtp", "[relay.example]:587");
    assert_string_equal(res(r, "bob@remote.example"), "smtp|[relay.example]:587|D");
    assert_string_equal(res(r, "bob@host.example"), "local|h|L");
    resolver_free(r);
}

static void test_default_transport_nexthop_beats_relayhost(void **state)
{
    struct resolver *r = make("host.example", "local:h", "relay:[gw.example]", "other.example");
    assert_string_equal(res(r, "bob@remote.example"), "relay|[gw.example]|D");
    resolver_free(r);
}

static void test_transport_value_splits_at_first_colon(void **state)
{
    struct buf t = BUF_INIT, n = BUF_INIT, why = BUF_INIT;
    assert_int_equal(resolve_split_transport("smtp:[h.example]:25", &t, &n, &why), 0);
    assert_string_equal(t.data, "smtp");
    assert_string_equal(n.data, "[h.example]:25");
    assert_int_equal(resolve_split_transport("local", &t, &n, &why), 0);
    assert_string_equal(t.data, "local");
    assert_string_equal(n.data, "");
    assert_int_equal(resolve_split_transport("local:", &t, &n, &why), 0);
    assert_string_equal(n.data, "");
    buf_free(&t);
    buf_free(&n);
    buf_free(&why);
}

static void test_bad_transport_names_are_rejected(void **state)
{
    struct buf t = BUF_INIT, n = BUF_INIT, why = BUF_INIT;
    assert_int_equal(resolve_split_transport(":nexthop", &t, &n, &why), -1);
    assert_int_equal(resolve_split_transport("../etc:x", &t, &n, &why), -1);
    assert_int_equal(resolve_split_transport("a/b", &t, &n, &why), -1);
    assert_int_equal(resolve_split_transport("..", &t, &n, &why), -1);
    assert_int_equal(resolve_split_transport("", &t, &n, &why), -1);
    assert_int_equal(resolve_transport_name_ok("smtp-out_2.x"), 1);
    char longname[RESOLVE_TRANSPORT_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_int_equal(resolve_transport_name_ok(longname), 0);
    longname[RESOLVE_TRANSPORT_MAX] = 0;
    assert_int_equal(resolve_transport_name_ok(longname), 1);
    buf_free(&t);
    buf_free(&n);
    buf_free(&why);
}

static void test_bad_settings_fail_creation(void **state)
{
    struct buf why = BUF_INIT;
    struct resolve_params p = {"localhost", "lo/cal", "smtp", "", "h"};
    assert_null(resolver_create(&p, &why));
    assert_non_null(strstr(why.data, "local_transport"));
    struct resolve_params p2 = {"localhost", "local", ":x", "", "h"};
    assert_null(resolver_create(&p2, &why));
    assert_non_null(strstr(why.data, "default_transport"));
    struct resolve_params p3 = {"/etc/domains", "local", "smtp", "", "h"};
    assert_null(resolver_create(&p3, &why));
    assert_non_null(strstr(why.data, "not supported"));
    struct resolve_params p4 = {"nosuchtype:x", "local", "smtp", "", "h"};
    assert_null(resolver_create(&p4, &why));
    assert_non_null(strstr(why.data, "mydestination"));
    struct resolve_params p5 = {"inline:{ a=1, b=2", "local", "smtp", "", "h"};
    assert_null(resolver_create(&p5, &why));
    assert_non_null(strstr(why.data, "unbalanced"));
    struct resolve_params p6 = {"a.example }", "local", "smtp", "", "h"};
    assert_null(resolver_create(&p6, &why));
    assert_non_null(strstr(why.data, "unbalanced"));
    buf_free(&why);
}

static void test_empty_mydestination_makes_only_bare_addresses_local(void **state)
{
    struct resolver *r = make("", "local:h", "smtp", "");
    assert_string_equal(res(r, "bob@host.example"), "smtp|host.example|D");
    assert_string_equal(res(r, "bob"), "local|h|L");
    resolver_free(r);
}

/* ---- routing: classes and transport_maps --------------------------------- */

static char tmpdir[] = "/tmp/test_resolve.XXXXXX";
static int tmpseq;

/* table_file - write text to a new file in tmpdir; its path (static). */
static const char *table_file(const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/t%d", tmpdir, ++tmpseq);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        fail_msg("cannot write %s", path);
    return path;
}

static char spec_buf[8][300];
static int spec_next;

/* texthash - "texthash:PATH" of a new table with text. */
static const char *texthash(const char *text)
{
    char *s = spec_buf[spec_next++ % 8];
    snprintf(s, sizeof(spec_buf[0]), "texthash:%s", table_file(text));
    return s;
}

static struct resolver *make_rt(const char *mydest, const char *relayhost,
                                const struct resolve_routing *rt)
{
    struct resolve_params p = {mydest, "local", "smtp", relayhost, "host.example"};
    struct buf why = BUF_INIT;
    struct resolver *r = resolver_create_routing(&p, rt, &why);
    if (r == NULL)
        fail_msg("resolver_create_routing: %s", buf_cstr(&why));
    buf_free(&why);
    return r;
}

/* with_maps - a resolver whose only routing is transport_maps = maps. */
static struct resolver *with_maps(const char *maps)
{
    struct resolve_routing rt = {.transport_maps = maps, .recipient_delimiter = "+"};
    return make_rt("host.example", "", &rt);
}

static void test_virtual_alias_domain_address_is_unknown(void **state)
{
    struct resolve_routing rt = {.virtual_alias_domains = "alias.example"};
    struct resolver *r = make_rt("host.example", "[gw.example]", &rt);
    assert_string_equal(res(r, "bob@alias.example"),
                        "error|5.1.1 User unknown in virtual alias table|A");
    assert_string_equal(res(r, "bob@ALIAS.example."),
                        "error|5.1.1 User unknown in virtual alias table|A");
    assert_string_equal(res(r, "bob@sub.alias.example"), "smtp|[gw.example]|D");
    resolver_free(r);

    struct resolve_routing hide = {
        .virtual_alias_domains = "alias.example", .hide_unknown_table = 1, .error_service = "err2"};
    r = make_rt("host.example", "", &hide);
    assert_string_equal(res(r, "bob@alias.example"), "err2|5.1.1 User unknown|A");
    resolver_free(r);
}

static void test_classes_are_tried_in_postfix_order(void **state)
{
    /* every list names every domain: the first class wins */
    const char *all = "host.example, a.example, v.example, r.example";
    struct resolve_routing rt = {
        .virtual_alias_domains = all, .virtual_mailbox_domains = all, .relay_domains = all};
    struct resolver *r = make_rt("host.example", "", &rt);
    assert_string_equal(res(r, "u@host.example"), "local|host.example|L");
    assert_string_equal(res(r, "u@a.example"), "error|5.1.1 User unknown in virtual alias table|A");
    resolver_free(r);
    struct resolve_routing rt2 = {.virtual_mailbox_domains = "v.example, r.example",
                                  .relay_domains = "r.example"};
    r = make_rt("host.example", "", &rt2);
    assert_string_equal(res(r, "u@v.example"), "virtual|v.example|V");
    assert_string_equal(res(r, "u@r.example"), "virtual|r.example|V");
    assert_string_equal(res(r, "u@other.example"), "smtp|other.example|D");
    resolver_free(r);
}

static void test_virtual_mailbox_nexthop_ignores_relayhost(void **state)
{
    struct resolve_routing rt = {.virtual_mailbox_domains = "v.example"};
    struct resolver *r = make_rt("host.example", "[gw.example]", &rt);
    assert_string_equal(res(r, "u@V.example"), "virtual|V.example|V");
    resolver_free(r);
    struct resolve_routing rt2 = {.virtual_mailbox_domains = "v.example",
                                  .virtual_transport = "lmtp:unix:private/dovecot"};
    r = make_rt("host.example", "[gw.example]", &rt2);
    assert_string_equal(res(r, "u@v.example"), "lmtp|unix:private/dovecot|V");
    resolver_free(r);
}

static void test_relay_nexthop_precedence(void **state)
{
    struct resolve_routing rt = {.relay_domains = "r.example"};
    struct resolver *r = make_rt("host.example", "", &rt);
    assert_string_equal(res(r, "u@r.example"), "relay|r.example|R");
    resolver_free(r);
    r = make_rt("host.example", "[gw.example]:25", &rt);
    assert_string_equal(res(r, "u@r.example"), "relay|[gw.example]:25|R");
    resolver_free(r);
    struct resolve_routing rt2 = {.relay_domains = "r.example",
                                  .relay_transport = "relay2:[inner.example]"};
    r = make_rt("host.example", "[gw.example]:25", &rt2);
    assert_string_equal(res(r, "u@r.example"), "relay2|[inner.example]|R");
    assert_string_equal(res(r, "u@x.example"), "smtp|[gw.example]:25|D");
    resolver_free(r);
}

static void test_relay_domains_parent_matching_follows_the_setting(void **state)
{
    struct resolve_routing rt = {.relay_domains = "r.example",
                                 .parent_domain_matches_subdomains = "mynetworks, relay_domains"};
    struct resolver *r = make_rt("host.example", "", &rt);
    assert_string_equal(res(r, "u@deep.sub.r.example"), "relay|deep.sub.r.example|R");
    resolver_free(r);
    struct resolve_routing rt2 = {.relay_domains = "r.example",
                                  .parent_domain_matches_subdomains = "mynetworks"};
    r = make_rt("host.example", "", &rt2);
    assert_string_equal(res(r, "u@sub.r.example"), "smtp|sub.r.example|D");
    assert_string_equal(res(r, "u@r.example"), "relay|r.example|R");
    resolver_free(r);
}

static void test_domain_lists_may_name_tables(void **state)
{
    struct resolve_routing rt = {.virtual_alias_domains = "inline:{ a.example=x }",
                                 .virtual_mailbox_domains = texthash("v.example ok\n")};
    struct resolver *r = make_rt("host.example", "", &rt);
    assert_string_equal(res(r, "u@A.EXAMPLE"), "error|5.1.1 User unknown in virtual alias table|A");
    assert_string_equal(res(r, "u@v.example"), "virtual|v.example|V");
    resolver_free(r);
}

static void test_domain_list_failure_is_temporary(void **state)
{
    struct resolve_routing rt = {.relay_domains = "fail:down"};
    struct resolver *r = make_rt("host.example", "", &rt);
    assert_true(strncmp(res(r, "u@x.example"), "ERROR ", 6) == 0);
    /* local domains are decided before the list is consulted */
    assert_string_equal(res(r, "u@host.example"), "local|host.example|L");
    resolver_free(r);
}

static void test_transport_maps_key_order(void **state)
{
    const char *full = "bob+ext@example.net full:1\n";
    const char *user = "bob@example.net user:2\n";
    const char *dom = "example.net dom:3\n";
    const char *dot = ".net dot:4\n";
    const char *star = "* star:5\n";
    char text[512];

    snprintf(text, sizeof(text), "%s%s%s%s%s", star, dot, dom, user, full);
    struct resolver *r = with_maps(texthash(text));
    assert_string_equal(res(r, "bob+ext@example.net"), "full|1|D");
    assert_string_equal(res(r, "bob+other@example.net"), "user|2|D");
    assert_string_equal(res(r, "amy@example.net"), "dom|3|D");
    assert_string_equal(res(r, "amy@sub.example.net"), "dot|4|D");
    assert_string_equal(res(r, "amy@example.org"), "star|5|D");
    resolver_free(r);
    /* without recipient_delimiter there is no user@domain step */
    snprintf(text, sizeof(text), "%s%s", user, dom);
    struct resolve_routing rt = {.transport_maps = texthash(text)};
    r = make_rt("host.example", "", &rt);
    assert_string_equal(res(r, "bob+ext@example.net"), "dom|3|D");
    assert_string_equal(res(r, "bob@example.net"), "user|2|D");
    resolver_free(r);
}

static void test_transport_maps_each_key_is_asked_of_every_table(void **state)
{
    /* the first table's wildcard loses against the second table's domain */
    const char *t1 = texthash("* star:1\nexample.net one:1\n");
    const char *t2 = texthash("example.net two:2\nexample.org two:2\n");
    char maps[700];
    snprintf(maps, sizeof(maps), "%s, %s", t1, t2);
    struct resolver *r = with_maps(maps);
    assert_string_equal(res(r, "u@example.net"), "one|1|D");
    assert_string_equal(res(r, "u@example.org"), "two|2|D");
    assert_string_equal(res(r, "u@example.com"), "star|1|D");
    resolver_free(r);
}

static void test_dot_domain_matches_only_subdomains_without_parent_style(void **state)
{
    const char *maps = texthash("example.net plain:p\n.example.org dotted:d\n");
    struct resolver *r = with_maps(maps);
    assert_string_equal(res(r, "u@example.net"), "plain|p|D");
    assert_string_equal(res(r, "u@sub.example.net"), "smtp|sub.example.net|D");
    assert_string_equal(res(r, "u@a.b.example.org"), "dotted|d|D");
    assert_string_equal(res(r, "u@example.org"), "smtp|example.org|D");
    resolver_free(r);

    struct resolve_routing rt = {
        .transport_maps = maps, .parent_domain_matches_subdomains = "relay_domains transport_maps"};
    r = make_rt("host.example", "", &rt);
    assert_string_equal(res(r, "u@example.net"), "plain|p|D");
    assert_string_equal(res(r, "u@a.sub.example.net"), "plain|p|D");
    /* parent style asks "example.org", never ".example.org" */
    assert_string_equal(res(r, "u@a.b.example.org"), "smtp|a.b.example.org|D");
    resolver_free(r);
}

static void test_value_forms(void **state)
{
    struct resolver *r = with_maps(texthash("keep.example :\n"
                                            "hop.example :[gw.example]:587\n"
                                            "tonly.example relay2\n"
                                            "tcolon.example relay2:\n"
                                            "err.example error\n"
                                            "errtext.example error:5.7.1 no mail here\n"
                                            "retry.example retry:\n"
                                            "port.example smtp:[127.0.0.1]:2526\n"));
    assert_string_equal(res(r, "u@keep.example"), "smtp|keep.example|D");
    assert_string_equal(res(r, "u@hop.example"), "smtp|[gw.example]:587|D");
    assert_string_equal(res(r, "u@tonly.example"), "relay2|tonly.example|D");
    assert_string_equal(res(r, "u@tcolon.example"), "relay2|tcolon.example|D");
    assert_string_equal(res(r, "u@err.example"), "error|Address is undeliverable|D");
    assert_string_equal(res(r, "u@errtext.example"), "error|5.7.1 no mail here|D");
    assert_string_equal(res(r, "u@retry.example"), "retry|Address is undeliverable|D");
    assert_string_equal(res(r, "u@port.example"), "smtp|[127.0.0.1]:2526|D");
    /* the recipient domain as given, without its trailing dot */
    assert_string_equal(res(r, "u@TOnly.example."), "relay2|TOnly.example|D");
    resolver_free(r);
}

static void test_map_overrides_local_class_but_colon_keeps_it(void **state)
{
    struct resolver *r = with_maps(texthash("host.example :\n"
                                            "bob@remote.example local:\n"
                                            "* error:5.7.1 no mail here\n"));
    assert_string_equal(res(r, "amy@host.example"), "local|host.example|L");
    assert_string_equal(res(r, "bob@remote.example"), "local|remote.example|D");
    assert_string_equal(res(r, "amy@remote.example"), "error|5.7.1 no mail here|D");
    /* no domain: looked up as amy@host.example */
    assert_string_equal(res(r, "amy"), "local|host.example|L");
    resolver_free(r);
    r = with_maps(texthash("amy@host.example relay2:x\n"));
    assert_string_equal(res(r, "amy"), "relay2|x|L");
    resolver_free(r);
}

static void test_map_does_not_override_virtual_alias_class(void **state)
{
    struct resolve_routing rt = {.virtual_alias_domains = "a.example",
                                 .transport_maps = texthash("* smtp:[gw.example]\n")};
    struct resolver *r = make_rt("host.example", "", &rt);
    assert_string_equal(res(r, "u@a.example"), "error|5.1.1 User unknown in virtual alias table|A");
    assert_string_equal(res(r, "u@b.example"), "smtp|[gw.example]|D");
    resolver_free(r);
}

static void test_map_keys_ignore_case_and_trailing_dot(void **state)
{
    struct resolver *r = with_maps(texthash("bob@example.net a:1\nexample.org b:2\n"));
    assert_string_equal(res(r, "BOB@Example.NET"), "a|1|D");
    assert_string_equal(res(r, "x@example.org."), "b|2|D");
    resolver_free(r);
}

static void test_domain_literal_has_no_parents(void **state)
{
    struct resolver *r = with_maps(texthash("[192.0.2.1] lit:1\n.1] bad:1\n"));
    assert_string_equal(res(r, "u@[192.0.2.1]"), "lit|1|D");
    assert_string_equal(res(r, "u@[192.0.2.2]"), "smtp|[192.0.2.2]|D");
    resolver_free(r);
}

static void test_pattern_tables_see_only_the_full_address(void **state)
{
    char maps[600];
    snprintf(maps, sizeof(maps), "regexp:%s",
             table_file("/^bob@example\\.net$/ re:full\n"
                        "/^example\\.org$/ re:domain\n"
                        "/^\\*$/ re:star\n"
                        "/^amy@example\\.com$/ re:user\n"));
    struct resolve_routing rt = {.transport_maps = maps, .recipient_delimiter = "+"};
    struct resolver *r = make_rt("host.example", "", &rt);
    assert_string_equal(res(r, "BOB@example.net"), "re|full|D");
    assert_string_equal(res(r, "u@example.org"), "smtp|example.org|D");
    assert_string_equal(res(r, "amy+x@example.com"), "smtp|example.com|D");
    resolver_free(r);
}

static void test_lookup_failure_is_temporary_and_names_the_table(void **state)
{
    struct resolver *r = with_maps("fail:down");
    const char *out = res(r, "u@example.net");
    assert_true(strncmp(out, "ERROR ", 6) == 0);
    assert_non_null(strstr(out, "fail:down"));
    resolver_free(r);
    /* a hit in an earlier table for an earlier key wins; a miss reaches the failure */
    char maps[400];
    snprintf(maps, sizeof(maps), "%s fail:down", texthash("u@example.net a:1\n"));
    r = with_maps(maps);
    assert_string_equal(res(r, "u@example.net"), "a|1|D");
    assert_true(strncmp(res(r, "v@example.net"), "ERROR ", 6) == 0);
    resolver_free(r);
}

static void test_bad_transport_name_in_table_is_an_error(void **state)
{
    const char *spec = texthash("example.net ../etc:x\nexample.org a/b\nexample.com bad\ttab\n");
    struct resolver *r = with_maps(spec);
    const char *out = res(r, "u@example.net");
    assert_true(strncmp(out, "ERROR ", 6) == 0);
    assert_non_null(strstr(out, spec));
    assert_non_null(strstr(out, "\"example.net\""));
    assert_non_null(strstr(out, "bad transport name"));
    assert_true(strncmp(res(r, "u@example.org"), "ERROR ", 6) == 0);
    assert_non_null(strstr(res(r, "u@example.com"), "control character"));
    resolver_free(r);
}

static void test_overlong_nexthop_in_table_is_an_error(void **state)
{
    char text[RESOLVE_NEXTHOP_MAX + 100];
    int n = snprintf(text, sizeof(text), "example.net smtp:");
    memset(text + n, 'h', RESOLVE_NEXTHOP_MAX + 1);
    strcpy(text + n + RESOLVE_NEXTHOP_MAX + 1, "\n");
    struct resolver *r = with_maps(texthash(text));
    assert_non_null(strstr(res(r, "u@example.net"), "too long"));
    resolver_free(r);
}

static void test_unavailable_table_fails_lookups_until_it_opens(void **state)
{
    char path[300], spec[320];
    snprintf(path, sizeof(path), "%s/later", tmpdir);
    snprintf(spec, sizeof(spec), "texthash:%s", path);
    struct resolver *r = with_maps(spec);
    assert_string_equal(resolve_unavailable_table(r), spec);
    const char *out = res(r, "u@example.net");
    assert_true(strncmp(out, "ERROR ", 6) == 0);
    assert_non_null(strstr(out, spec));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("example.net later:1\n", f);
    assert_int_equal(fclose(f), 0);
    sleep(1); /* opening is retried at most once a second */
    assert_string_equal(res(r, "u@example.net"), "later|1|D");
    assert_null(resolve_unavailable_table(r));
    resolver_free(r);
}

static void test_bad_routing_settings_fail_creation(void **state)
{
    struct resolve_params p = {"host.example", "local", "smtp", "", "h"};
    struct buf why = BUF_INIT;
    struct resolve_routing bad_type = {.transport_maps = "nosuchtype:/x"};
    assert_null(resolver_create_routing(&p, &bad_type, &why));
    assert_non_null(strstr(why.data, "transport_maps"));
    struct resolve_routing no_type = {.transport_maps = "/etc/transport"};
    assert_null(resolver_create_routing(&p, &no_type, &why));
    assert_non_null(strstr(why.data, "transport_maps"));
    struct resolve_routing braces = {.transport_maps = "inline:{ a=b"};
    assert_null(resolver_create_routing(&p, &braces, &why));
    assert_non_null(strstr(why.data, "unbalanced"));
    struct resolve_routing relay = {.relay_domains = "r.example", .relay_transport = "a/b"};
    assert_null(resolver_create_routing(&p, &relay, &why));
    assert_non_null(strstr(why.data, "relay_transport"));
    struct resolve_routing virt = {.virtual_mailbox_domains = "v.example", .virtual_transport = ""};
    assert_null(resolver_create_routing(&p, &virt, &why));
    assert_non_null(strstr(why.data, "virtual_transport"));
    struct resolve_routing err = {.error_service = "e/r"};
    assert_null(resolver_create_routing(&p, &err, &why));
    assert_non_null(strstr(why.data, "error_service_name"));
    struct resolve_routing list = {.relay_domains = "10.0.0.1/8"};
    assert_null(resolver_create_routing(&p, &list, &why));
    /* transports of classes without domains are not used, so not checked */
    struct resolve_routing unused = {.relay_transport = "a/b", .virtual_transport = " "};
    struct resolver *r = resolver_create_routing(&p, &unused, &why);
    assert_non_null(r);
    resolver_free(r);
    buf_free(&why);
}

static void test_zeroed_routing_behaves_like_resolver_create(void **state)
{
    struct resolve_routing rt = {0};
    struct resolver *r = make_rt("host.example", "[gw.example]", &rt);
    assert_string_equal(res(r, "u@host.example"), "local|host.example|L");
    assert_string_equal(res(r, "u@x.example"), "smtp|[gw.example]|D");
    assert_null(resolve_unavailable_table(r));
    resolver_free(r);
}

static int setup_tmp(void **state)
{
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_tmp(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listed_domain_goes_to_local_transport),
        cmocka_unit_test(test_domain_match_ignores_case),
        cmocka_unit_test(test_trailing_dot_names_the_same_domain),
        cmocka_unit_test(test_address_without_domain_is_local),
        cmocka_unit_test(test_local_nexthop_defaults_to_recipient_domain),
        cmocka_unit_test(test_domain_is_after_the_last_at_sign),
        cmocka_unit_test(test_ip_literal_goes_to_default_transport),
        cmocka_unit_test(test_subdomain_pattern_matches_only_subdomains),
        cmocka_unit_test(test_plain_domain_does_not_match_subdomains),
        cmocka_unit_test(test_negated_entry_wins_when_first),
        cmocka_unit_test(test_table_entry_is_looked_up),
        cmocka_unit_test(test_table_failure_is_a_temporary_error),
        cmocka_unit_test(test_relayhost_is_the_default_nexthop),
        cmocka_unit_test(test_default_transport_nexthop_beats_relayhost),
        cmocka_unit_test(test_transport_value_splits_at_first_colon),
        cmocka_unit_test(test_bad_transport_names_are_rejected),
        cmocka_unit_test(test_bad_settings_fail_creation),
        cmocka_unit_test(test_empty_mydestination_makes_only_bare_addresses_local),
        cmocka_unit_test(test_virtual_alias_domain_address_is_unknown),
        cmocka_unit_test(test_classes_are_tried_in_postfix_order),
        cmocka_unit_test(test_virtual_mailbox_nexthop_ignores_relayhost),
        cmocka_unit_test(test_relay_nexthop_precedence),
        cmocka_unit_test(test_relay_domains_parent_matching_follows_the_setting),
        cmocka_unit_test(test_domain_lists_may_name_tables),
        cmocka_unit_test(test_domain_list_failure_is_temporary),
        cmocka_unit_test(test_transport_maps_key_order),
        cmocka_unit_test(test_transport_maps_each_key_is_asked_of_every_table),
        cmocka_unit_test(test_dot_domain_matches_only_subdomains_without_parent_style),
        cmocka_unit_test(test_value_forms),
        cmocka_unit_test(test_map_overrides_local_class_but_colon_keeps_it),
        cmocka_unit_test(test_map_does_not_override_virtual_alias_class),
        cmocka_unit_test(test_map_keys_ignore_case_and_trailing_dot),
        cmocka_unit_test(test_domain_literal_has_no_parents),
        cmocka_unit_test(test_pattern_tables_see_only_the_full_address),
        cmocka_unit_test(test_lookup_failure_is_temporary_and_names_the_table),
        cmocka_unit_test(test_bad_transport_name_in_table_is_an_error),
        cmocka_unit_test(test_overlong_nexthop_in_table_is_an_error),
        cmocka_unit_test(test_unavailable_table_fails_lookups_until_it_opens),
        cmocka_unit_test(test_bad_routing_settings_fail_creation),
        cmocka_unit_test(test_zeroed_routing_behaves_like_resolver_create),
    };
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
