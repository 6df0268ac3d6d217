/* test_resolve - the recipient resolver: mydestination matching (case,
 * trailing dot, subdomain patterns, tables, negation), the local and
 * default transports with their next hops, relayhost, and bad settings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

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
                 rr.class == RESOLVE_CLASS_LOCAL ? 'L' : 'D');
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
