/* test_cleanup_rewrite - cleanup's address rewriting: canonical maps (and
 * their classes, nesting, self-maps), masquerading with exceptions,
 * virtual alias expansion (one-to-many, chains, self-reference, catch-all,
 * limits), extension propagation, failing and missing tables, header
 * address rewriting and the local_header_rewrite_clients decision. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/cleanup_rewrite.h"

#define QID "0123456789BCDFGH"

static char dir[] = "/tmp/test_cleanup_rewrite.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_cleanup_rewrite.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* texthash - a text table in the temp dir; returns its spec (static). */
static const char *texthash(const char *name, const char *text)
{
    static char spec[300];
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    snprintf(spec, sizeof(spec), "texthash:%s", path);
    return spec;
}

/* The Postfix defaults, with mydestination "local.example". */
static struct cleanup_rewrite_conf defaults(void)
{
    struct cleanup_rewrite_conf c = {
        .canonical_classes = "envelope_sender, envelope_recipient, header_sender, header_recipient",
        .sender_canonical_classes = "envelope_sender, header_sender",
        .recipient_canonical_classes = "envelope_recipient, header_recipient",
        .masquerade_classes = "envelope_sender, header_sender, header_recipient",
        .virtual_alias_recursion_limit = 1000,
        .virtual_alias_expansion_limit = 1000,
        .propagate_unmatched_extensions = "canonical, virtual",
        .recipient_delimiter = "+",
        .mydestination = "local.example, localhost",
        .myhostname = "host.local.example",
        .myorigin = "origin.example",
        .local_header_rewrite_clients = "permit_inet_interfaces",
        .inet_interfaces = "loopback-only",
        .mynetworks = "127.0.0.0/8",
    };
    return c;
}

static struct cleanup_rewrite *make(const struct cleanup_rewrite_conf *c)
{
    struct buf why = BUF_INIT;
    struct cleanup_rewrite *r = cleanup_rewrite_create(c, &why);
    if (r == NULL)
        fail_msg("cleanup_rewrite_create: %s", buf_cstr(&why));
    buf_free(&why);
    return r;
}

static void sender(struct cleanup_rewrite *r, const char *in, int cls, int want_rc,
                   const char *want)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    int rc = cleanup_rewrite_sender(r, QID, in, cls, &out, &why);
    if (rc != want_rc)
        fail_msg("sender %s: rc %d (%s), want %d", in, rc, buf_cstr(&why), want_rc);
    if (rc == CLEANUP_RW_OK && strcmp(buf_cstr(&out), want) != 0)
        fail_msg("sender %s: got %s, want %s", in, buf_cstr(&out), want);
    if (rc != CLEANUP_RW_OK && strstr(buf_cstr(&why), want) == NULL)
        fail_msg("sender %s: reason \"%s\" lacks \"%s\"", in, buf_cstr(&why), want);
    buf_free(&out);
    buf_free(&why);
}

static void rcpt(struct cleanup_rewrite *r, const char *in, int cls, int want_rc, const char *want)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    int rc = cleanup_rewrite_recipient(r, QID, in, cls, &out, &why);
    if (rc != want_rc)
        fail_msg("recipient %s: rc %d (%s), want %d", in, rc, buf_cstr(&why), want_rc);
    if (rc == CLEANUP_RW_OK && strcmp(buf_cstr(&out), want) != 0)
        fail_msg("recipient %s: got %s, want %s", in, buf_cstr(&out), want);
    buf_free(&out);
    buf_free(&why);
}

/* expand - the envelope recipient path; results joined with "|", or the
 * reason on failure. */
static void expand(struct cleanup_rewrite *r, const char *in, int want_rc, const char *want)
{
    struct argv *out = argv_alloc();
    struct buf why = BUF_INIT, j = BUF_INIT;
    int rc = cleanup_rewrite_envelope_recipient(r, QID, in, out, &why);
    for (size_t i = 0; i < out->argc; i++)
        buf_printf(&j, "%s%s", i ? "|" : "", out->argv[i]);
    if (rc != want_rc)
        fail_msg("expand %s: rc %d (%s) [%s], want %d", in, rc, buf_cstr(&why), buf_cstr(&j),
                 want_rc);
    if (rc == CLEANUP_RW_OK && strcmp(buf_cstr(&j), want) != 0)
        fail_msg("expand %s: got %s, want %s", in, buf_cstr(&j), want);
    if (rc != CLEANUP_RW_OK) {
        assert_int_equal(out->argc, 0);
        if (strstr(buf_cstr(&why), want) == NULL)
            fail_msg("expand %s: reason \"%s\" lacks \"%s\"", in, buf_cstr(&why), want);
    }
    argv_free(out);
    buf_free(&why);
    buf_free(&j);
}

static void header(struct cleanup_rewrite *r, int cls, const char *domain, const char *in,
                   int want_rc, const char *want)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    int rc = cleanup_rewrite_header(r, QID, cls, domain, in, strlen(in), &out, &why);
    if (rc != want_rc)
        fail_msg("header \"%s\": rc %d (%s), want %d", in, rc, buf_cstr(&why), want_rc);
    if (rc > 0 && strcmp(buf_cstr(&out), want) != 0)
        fail_msg("header \"%s\": got \"%s\", want \"%s\"", in, buf_cstr(&out), want);
    if (rc < 0 && strstr(buf_cstr(&why), want) == NULL)
        fail_msg("header \"%s\": reason \"%s\" lacks \"%s\"", in, buf_cstr(&why), want);
    buf_free(&out);
    buf_free(&why);
}

static void test_sender_canonical_then_canonical(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.sender_canonical_maps = "inline:{ amy@x.example=amy.s@x.example }";
    c.canonical_maps = "inline:{ amy.s@x.example=Amy.Smith@corp.example, "
                       "bob@x.example=robert@x.example }";
    struct cleanup_rewrite *r = make(&c);
    sender(r, "amy@x.example", CLEANUP_RW_ENV_SENDER, 0, "Amy.Smith@corp.example");
    sender(r, "amy@x.example", CLEANUP_RW_HDR_SENDER, 0, "Amy.Smith@corp.example");
    /* sender_canonical_maps is not for recipients; canonical_maps is */
    rcpt(r, "amy@x.example", CLEANUP_RW_ENV_RCPT, 0, "amy@x.example");
    rcpt(r, "bob@x.example", CLEANUP_RW_ENV_RCPT, 0, "robert@x.example");
    sender(r, "", CLEANUP_RW_ENV_SENDER, 0, "");
    cleanup_rewrite_free(r);
}

static void test_canonical_classes_limit_where_tables_apply(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.canonical_maps = "inline:{ a@x=b@x }";
    c.canonical_classes = "envelope_recipient";
    c.recipient_canonical_maps = "inline:{ r@x=s@x }";
    c.recipient_canonical_classes = "header_recipient";
    struct cleanup_rewrite *r = make(&c);
    sender(r, "a@x", CLEANUP_RW_ENV_SENDER, 0, "a@x");
    rcpt(r, "a@x", CLEANUP_RW_ENV_RCPT, 0, "b@x");
    rcpt(r, "a@x", CLEANUP_RW_HDR_RCPT, 0, "a@x");
    rcpt(r, "r@x", CLEANUP_RW_ENV_RCPT, 0, "r@x");
    rcpt(r, "r@x", CLEANUP_RW_HDR_RCPT, 0, "s@x");
    cleanup_rewrite_free(r);
}

static void test_canonical_repeats_until_stable_and_stops_at_self(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.canonical_maps = "inline:{ a@x=b@x, b@x=c@x, c@x=c@x, {m@x = first@x, second@x}, "
                       "l1@x=l2@x, l2@x=l3@x, l3@x=l4@x, l4@x=l5@x, l5@x=l6@x, l6@x=l7@x, "
                       "l7@x=l8@x, l8@x=l9@x, l9@x=l10@x, l10@x=l11@x, l11@x=l12@x, l12@x=l13@x }";
    struct cleanup_rewrite *r = make(&c);
    sender(r, "a@x", CLEANUP_RW_ENV_SENDER, 0, "c@x");
    /* several results: the first one, with a warning */
    sender(r, "m@x", CLEANUP_RW_ENV_SENDER, 0, "first@x");
    /* at most ten lookups: l1 -> ... -> l11, then a nesting warning */
    sender(r, "l1@x", CLEANUP_RW_ENV_SENDER, 0, "l11@x");
    cleanup_rewrite_free(r);
}

static void test_canonical_domain_rewrite_and_extensions(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.canonical_maps = "inline:{ @old.example=@new.example, joe@x=joseph@y }";
    struct cleanup_rewrite *r = make(&c);
    sender(r, "ann@old.example", CLEANUP_RW_ENV_SENDER, 0, "ann@new.example");
    sender(r, "ann+list@old.example", CLEANUP_RW_ENV_SENDER, 0, "ann+list@new.example");
    sender(r, "joe+tag@x", CLEANUP_RW_ENV_SENDER, 0, "joseph+tag@y");
    cleanup_rewrite_free(r);

    c.propagate_unmatched_extensions = "virtual";
    r = make(&c);
    sender(r, "joe+tag@x", CLEANUP_RW_ENV_SENDER, 0, "joseph@y");
    cleanup_rewrite_free(r);
}

static void test_local_part_lookups_only_in_mydestination(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.canonical_maps = "inline:{ root=admin@corp.example }";
    struct cleanup_rewrite *r = make(&c);
    sender(r, "root@local.example", CLEANUP_RW_ENV_SENDER, 0, "admin@corp.example");
    sender(r, "root@LOCALHOST.", CLEANUP_RW_ENV_SENDER, 0, "admin@corp.example");
    sender(r, "root@elsewhere.example", CLEANUP_RW_ENV_SENDER, 0, "root@elsewhere.example");
    cleanup_rewrite_free(r);
}

static void test_masquerade_domains_exceptions_and_classes(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.masquerade_domains = "!sub.example.com, Example.COM";
    c.masquerade_exceptions = "root, Mailer-Daemon";
    struct cleanup_rewrite *r = make(&c);
    sender(r, "user@host.example.com", CLEANUP_RW_ENV_SENDER, 0, "user@example.com");
    sender(r, "user@a.b.example.com", CLEANUP_RW_ENV_SENDER, 0, "user@example.com");
    sender(r, "user@example.com", CLEANUP_RW_ENV_SENDER, 0, "user@example.com");
    sender(r, "user@notexample.com", CLEANUP_RW_ENV_SENDER, 0, "user@notexample.com");
    /* "!sub.example.com" comes first: that domain and its hosts stay */
    sender(r, "user@sub.example.com", CLEANUP_RW_ENV_SENDER, 0, "user@sub.example.com");
    sender(r, "user@h.sub.example.com", CLEANUP_RW_ENV_SENDER, 0, "user@h.sub.example.com");
    sender(r, "root@host.example.com", CLEANUP_RW_ENV_SENDER, 0, "root@host.example.com");
    sender(r, "MAILER-DAEMON@host.example.com", CLEANUP_RW_ENV_SENDER, 0,
           "MAILER-DAEMON@host.example.com");
    /* envelope recipients are not masqueraded by default; headers are */
    rcpt(r, "user@host.example.com", CLEANUP_RW_ENV_RCPT, 0, "user@host.example.com");
    rcpt(r, "user@host.example.com", CLEANUP_RW_HDR_RCPT, 0, "user@example.com");
    cleanup_rewrite_free(r);

    c.masquerade_classes = "envelope_recipient";
    c.masquerade_exceptions = texthash("exc", "admin whatever\n");
    r = make(&c);
    sender(r, "user@host.example.com", CLEANUP_RW_ENV_SENDER, 0, "user@host.example.com");
    rcpt(r, "user@host.example.com", CLEANUP_RW_ENV_RCPT, 0, "user@example.com");
    rcpt(r, "admin@host.example.com", CLEANUP_RW_ENV_RCPT, 0, "admin@host.example.com");
    cleanup_rewrite_free(r);

    c.masquerade_exceptions = "fail:down";
    r = make(&c);
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(
        cleanup_rewrite_recipient(r, QID, "u@h.example.com", CLEANUP_RW_ENV_RCPT, &out, &why),
        CLEANUP_RW_TEMP);
    assert_string_equal(why.data, "masquerade_exceptions map lookup problem for u@h.example.com");
    buf_free(&out);
    buf_free(&why);
    cleanup_rewrite_free(r);
}

static void test_virtual_catch_all_one_to_many_chains_and_self(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.virtual_alias_maps = texthash("virtual", "@example.com bob@other-example.com\n"
                                               "team@v.example amy@v.example, cat@v.example, "
                                               "dan@elsewhere.example\n"
                                               "a@v.example b@v.example\n"
                                               "b@v.example c@v.example\n"
                                               "u@v.example u@v.example, other@v.example\n"
                                               "p@v.example q@v.example\n"
                                               "q@v.example p@v.example\n"
                                               "list@v.example team@v.example, a@v.example\n");
    struct cleanup_rewrite *r = make(&c);
    expand(r, "anyone@example.com", 0, "bob@other-example.com");
    expand(r, "anyone+x@example.com", 0, "bob@other-example.com");
    expand(r, "team@v.example", 0, "amy@v.example|cat@v.example|dan@elsewhere.example");
    expand(r, "a@v.example", 0, "c@v.example");
    expand(r, "u@v.example", 0, "u@v.example|other@v.example");
    /* a loop ends at the address that came back */
    expand(r, "p@v.example", 0, "p@v.example");
    expand(r, "list@v.example", 0, "amy@v.example|c@v.example|cat@v.example|dan@elsewhere.example");
    expand(r, "nobody@v.example", 0, "nobody@v.example");
    /* virtual aliasing is for envelope recipients only */
    rcpt(r, "a@v.example", CLEANUP_RW_HDR_RCPT, 0, "a@v.example");
    cleanup_rewrite_free(r);
}

static void test_virtual_extension_propagation(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.virtual_alias_maps = "inline:{ sales@v.example=joe@w.example }";
    struct cleanup_rewrite *r = make(&c);
    expand(r, "sales+eu@v.example", 0, "joe+eu@w.example");
    cleanup_rewrite_free(r);
    c.propagate_unmatched_extensions = "canonical";
    r = make(&c);
    expand(r, "sales+eu@v.example", 0, "joe@w.example");
    cleanup_rewrite_free(r);
}

static void test_virtual_limits_are_temporary_failures(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.virtual_alias_maps = "inline:{ a@x=b@x, b@x=c@x, c@x=d@x, d@x=e@x, "
                           "{ big@x = 1@x, 2@x, 3@x } }";
    c.virtual_alias_recursion_limit = 3;
    c.virtual_alias_expansion_limit = 2;
    struct cleanup_rewrite *r = make(&c);
    expand(r, "c@x", 0, "e@x");
    expand(r, "b@x", CLEANUP_RW_LIMIT, "map nesting for b@x");
    expand(r, "a@x", CLEANUP_RW_LIMIT, "unreasonable virtual_alias_maps map nesting for a@x");
    expand(r, "big@x", CLEANUP_RW_LIMIT,
           "unreasonable virtual_alias_maps map expansion size for big@x");
    cleanup_rewrite_free(r);
}

static void test_failing_table_is_a_lookup_problem(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.virtual_alias_maps = "inline:{ a@x=b@x }, fail:unavailable";
    struct cleanup_rewrite *r = make(&c);
    expand(r, "a@x", CLEANUP_RW_TEMP, "virtual_alias_maps map lookup problem for b@x");
    expand(r, "z@x", CLEANUP_RW_TEMP, "virtual_alias_maps map lookup problem for z@x");
    assert_non_null(strstr(cleanup_rewrite_last_error(r), "fail:unavailable"));
    cleanup_rewrite_free(r);

    c.virtual_alias_maps = "";
    c.canonical_maps = "fail:down";
    r = make(&c);
    sender(r, "u@x", CLEANUP_RW_ENV_SENDER, CLEANUP_RW_TEMP,
           "canonical_maps map lookup problem for u@x");
    cleanup_rewrite_free(r);
}

static void test_missing_table_fails_creation_unless_kept_broken(void **state)
{
    char spec[300];
    snprintf(spec, sizeof(spec), "hash:%s/nonexistent", dir);
    struct cleanup_rewrite_conf c = defaults();
    c.virtual_alias_maps = spec;
    struct buf why = BUF_INIT;
    assert_null(cleanup_rewrite_create(&c, &why));
    assert_true(strncmp(why.data, "virtual_alias_maps: ", 20) == 0);

    c.keep_broken = 1;
    struct cleanup_rewrite *r = make(&c);
    assert_non_null(cleanup_rewrite_broken(r));
    assert_true(strncmp(cleanup_rewrite_broken(r), "virtual_alias_maps: ", 20) == 0);
    expand(r, "u@example.com", CLEANUP_RW_TEMP,
           "virtual_alias_maps map lookup problem for u@example.com");
    /* the other steps still work */
    sender(r, "u@example.com", CLEANUP_RW_ENV_SENDER, 0, "u@example.com");
    cleanup_rewrite_free(r);
    buf_free(&why);
}

static void test_bad_settings_are_refused(void **state)
{
    struct buf why = BUF_INIT;
    struct cleanup_rewrite_conf c = defaults();
    c.canonical_classes = "envelope_sender, headers";
    assert_null(cleanup_rewrite_create(&c, &why));
    assert_non_null(strstr(why.data, "canonical_classes"));
    c = defaults();
    c.propagate_unmatched_extensions = "canonical, bogus";
    assert_null(cleanup_rewrite_create(&c, &why));
    assert_non_null(strstr(why.data, "propagate_unmatched_extensions"));
    c = defaults();
    c.local_header_rewrite_clients = "permit_everything";
    assert_null(cleanup_rewrite_create(&c, &why));
    assert_non_null(strstr(why.data, "local_header_rewrite_clients"));
    buf_free(&why);
}

static void test_header_addresses_are_qualified_and_rewritten(void **state)
{
    struct cleanup_rewrite_conf c = defaults();
    c.canonical_maps = "inline:{ amy@origin.example=Amy.Smith@corp.example }";
    c.masquerade_domains = "example.com";
    c.virtual_alias_maps = "inline:{ bob@origin.example=robert@elsewhere.example }";
    struct cleanup_rewrite *r = make(&c);
    header(r, CLEANUP_RW_HDR_SENDER, "origin.example", " Amy <amy>", 1,
           " Amy <Amy.Smith@corp.example>");
    header(r, CLEANUP_RW_HDR_SENDER, "origin.example", " \"Joe Q.\" <joe@h.example.com> (work)", 1,
           " \"Joe Q.\" <joe@example.com> (work)");
    /* qualification only; no virtual aliasing in headers */
    header(r, CLEANUP_RW_HDR_RCPT, "origin.example", " bob,\n\tcat@x.example", 1,
           " bob@origin.example,\n\tcat@x.example");
    /* remote client without remote_header_rewrite_domain: no domain added */
    header(r, CLEANUP_RW_HDR_RCPT, NULL, " bob", 0, "");
    header(r, CLEANUP_RW_HDR_RCPT, "origin.example", " cat@x.example, <>", 0, "");
    /* unparsable: kept as it is */
    header(r, CLEANUP_RW_HDR_RCPT, "origin.example", " <unterminated", 0, "");
    cleanup_rewrite_free(r);

    c.canonical_maps = "fail:gone";
    r = make(&c);
    header(r, CLEANUP_RW_HDR_SENDER, "origin.example", " amy@x", CLEANUP_RW_TEMP,
           "canonical_maps map lookup problem for amy@x");
    cleanup_rewrite_free(r);
}

static void test_header_classes(void **state)
{
    assert_int_equal(cleanup_rewrite_header_class("from"), CLEANUP_RW_HDR_SENDER);
    assert_int_equal(cleanup_rewrite_header_class("Reply-To"), CLEANUP_RW_HDR_SENDER);
    assert_int_equal(cleanup_rewrite_header_class("Errors-To"), CLEANUP_RW_HDR_SENDER);
    assert_int_equal(cleanup_rewrite_header_class("Return-Receipt-To"), CLEANUP_RW_HDR_SENDER);
    assert_int_equal(cleanup_rewrite_header_class("RESENT-REPLY-TO"), CLEANUP_RW_HDR_SENDER);
    assert_int_equal(cleanup_rewrite_header_class("Cc"), CLEANUP_RW_HDR_RCPT);
    assert_int_equal(cleanup_rewrite_header_class("Apparently-To"), CLEANUP_RW_HDR_RCPT);
    assert_int_equal(cleanup_rewrite_header_class("Resent-Bcc"), CLEANUP_RW_HDR_RCPT);
    assert_int_equal(cleanup_rewrite_header_class("Subject"), 0);
    assert_int_equal(cleanup_rewrite_header_class("Return-Path"), 0);
}

static void test_local_header_rewrite_clients(void **state)
{
    struct buf why = BUF_INIT;
    struct cleanup_rewrite_conf c = defaults();
    struct cleanup_rewrite *r = make(&c);
    assert_int_equal(cleanup_rewrite_local_client(r, NULL, &why), 1);
    assert_int_equal(cleanup_rewrite_local_client(r, "", &why), 1);
    assert_int_equal(cleanup_rewrite_local_client(r, "127.0.0.1", &why), 1);
    assert_int_equal(cleanup_rewrite_local_client(r, "::1", &why), 1);
    assert_int_equal(cleanup_rewrite_local_client(r, "127.0.0.2", &why), 0);
    assert_int_equal(cleanup_rewrite_local_client(r, "192.0.2.7", &why), 0);
    assert_string_equal(cleanup_rewrite_header_domain(r, 1), "origin.example");
    assert_null(cleanup_rewrite_header_domain(r, 0));
    cleanup_rewrite_free(r);

    c.local_header_rewrite_clients = "permit_mynetworks, check_address_map inline:{192.0.2.9=x}";
    c.mynetworks = "10.0.0.0/8";
    c.remote_header_rewrite_domain = "domain.invalid";
    r = make(&c);
    assert_int_equal(cleanup_rewrite_local_client(r, "10.1.2.3", &why), 1);
    assert_int_equal(cleanup_rewrite_local_client(r, "192.0.2.9", &why), 1);
    assert_int_equal(cleanup_rewrite_local_client(r, "127.0.0.1", &why), 0);
    assert_string_equal(cleanup_rewrite_header_domain(r, 0), "domain.invalid");
    cleanup_rewrite_free(r);

    c.local_header_rewrite_clients = "static:all";
    r = make(&c);
    assert_int_equal(cleanup_rewrite_local_client(r, "198.51.100.1", &why), 1);
    cleanup_rewrite_free(r);

    c.local_header_rewrite_clients = "fail:down";
    r = make(&c);
    assert_int_equal(cleanup_rewrite_local_client(r, "198.51.100.1", &why), CLEANUP_RW_TEMP);
    assert_non_null(strstr(why.data, "local_header_rewrite_clients"));
    cleanup_rewrite_free(r);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sender_canonical_then_canonical),
        cmocka_unit_test(test_canonical_classes_limit_where_tables_apply),
        cmocka_unit_test(test_canonical_repeats_until_stable_and_stops_at_self),
        cmocka_unit_test(test_canonical_domain_rewrite_and_extensions),
        cmocka_unit_test(test_local_part_lookups_only_in_mydestination),
        cmocka_unit_test(test_masquerade_domains_exceptions_and_classes),
        cmocka_unit_test(test_virtual_catch_all_one_to_many_chains_and_self),
        cmocka_unit_test(test_virtual_extension_propagation),
        cmocka_unit_test(test_virtual_limits_are_temporary_failures),
        cmocka_unit_test(test_failing_table_is_a_lookup_problem),
        cmocka_unit_test(test_missing_table_fails_creation_unless_kept_broken),
        cmocka_unit_test(test_bad_settings_are_refused),
        cmocka_unit_test(test_header_addresses_are_qualified_and_rewritten),
        cmocka_unit_test(test_header_classes),
        cmocka_unit_test(test_local_header_rewrite_clients),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
