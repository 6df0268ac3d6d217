/* test_local_addr - the recipient_delimiter split (several delimiter
 * characters, Postfix's never-split names, empty extensions), forward_path
 * expansion (plain and conditional names, undefined names, the filter) and
 * Delivered-To: collection from a message header. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mail/local_addr.h"

static void expect_split(const char *addr, const char *delims, int split, const char *local,
                         const char *user, const char *ext, const char *domain, const char *delim)
{
    struct local_addr a;
    local_addr_init(&a);
    assert_int_equal(local_addr_split(addr, delims, &a), split);
    assert_int_equal(a.has_ext, split);
    assert_string_equal(buf_cstr(&a.local), local);
    assert_string_equal(buf_cstr(&a.user), user);
    assert_string_equal(buf_cstr(&a.extension), ext);
    assert_string_equal(buf_cstr(&a.domain), domain);
    assert_string_equal(a.delim, delim);
    local_addr_free(&a);
}

static void test_split_at_the_first_delimiter_and_fold_case(void **state)
{
    expect_split("Alice+Lists+X@Example.COM", "+", 1, "alice+lists+x", "alice", "lists+x",
                 "example.com", "+");
}

static void test_split_with_several_delimiter_characters_uses_the_first_found(void **state)
{
    expect_split("bob-foo+bar@x", "+-", 1, "bob-foo+bar", "bob", "foo+bar", "x", "-");
    expect_split("bob=foo@x", "+-=", 1, "bob=foo", "bob", "foo", "x", "=");
}

static void test_no_delimiter_configured_or_present_means_no_split(void **state)
{
    expect_split("bob+foo@x", "", 0, "bob+foo", "bob+foo", "", "x", "");
    expect_split("bob@x", "+", 0, "bob", "bob", "", "x", "");
}

static void test_empty_extension_still_splits(void **state)
{
    /* Postfix split_addr(): only an empty user part prevents the split */
    expect_split("bob+@x", "+", 1, "bob+", "bob", "", "x", "+");
}

static void test_leading_delimiter_does_not_split(void **state)
{
    expect_split("+bob@x", "+", 0, "+bob", "+bob", "", "x", "");
}

static void test_postmaster_and_mailer_daemon_never_split(void **state)
{
    expect_split("postmaster", "t", 0, "postmaster", "postmaster", "", "", "");
    expect_split("MAILER-DAEMON@x", "-", 0, "mailer-daemon", "mailer-daemon", "", "x", "");
    expect_split("double-bounce@x", "-", 0, "double-bounce", "double-bounce", "", "x", "");
}

static void test_owner_and_request_lists_do_not_split_when_dash_is_a_delimiter(void **state)
{
    expect_split("owner-staff@x", "-", 0, "owner-staff", "owner-staff", "", "x", "");
    expect_split("staff-request@x", "+-", 0, "staff-request", "staff-request", "", "x", "");
    /* with only '+' as delimiter the names are ordinary */
    expect_split("owner+x@y", "+", 1, "owner+x", "owner", "x", "y", "+");
    /* "-request" alone is not the suffix of a list name */
    expect_split("a-request@x", "-", 0, "a-request", "a-request", "", "x", "");
}

static void test_domain_is_after_the_last_at(void **state)
{
    expect_split("a@b+c@D", "+", 1, "a@b+c", "a@b", "c", "d", "+");
}

static const struct local_expand_attr attr_ext = {
    "alice", "/home/alice", "/bin/sh",     "alice+lists@example.com",
    "lists", "example.com", "alice+lists", "+"};
static const struct local_expand_attr attr_noext = {
    "alice", "/home/alice", "/bin/sh", "alice@example.com", NULL, "example.com", "alice", NULL};

static void expect_expand(const char *pattern, const struct local_expand_attr *a, int rc,
                          const char *want)
{
    struct buf out = BUF_INIT, why = BUF_INIT;
    int r = local_addr_expand(pattern, a, LOCAL_EXPAND_FILTER_DEFAULT, &out, &why);
    if (r != rc)
        fail_msg("expand [%s]: %d (%s), want %d", pattern, r, buf_cstr(&why), rc);
    if (rc == 0)
        assert_string_equal(buf_cstr(&out), want);
    else if (rc < 0 && strstr(buf_cstr(&why), want) == NULL)
        fail_msg("reason [%s] lacks [%s]", buf_cstr(&why), want);
    buf_free(&out);
    buf_free(&why);
}

static void test_default_forward_path_with_an_extension(void **state)
{
    expect_expand("$home/.forward${recipient_delimiter}${extension}", &attr_ext, 0,
                  "/home/alice/.forward+lists");
    expect_expand("$home/.forward", &attr_ext, 0, "/home/alice/.forward");
}

static void test_entry_naming_an_undefined_extension_is_skipped(void **state)
{
    expect_expand("$home/.forward${recipient_delimiter}${extension}", &attr_noext, 1, NULL);
    expect_expand("$home/.forward", &attr_noext, 0, "/home/alice/.forward");
}

static void test_conditional_text_when_defined_and_non_empty(void **state)
{
    expect_expand("$home/.forward${extension?+$extension}", &attr_ext, 0,
                  "/home/alice/.forward+lists");
    expect_expand("$home/.forward${extension?+$extension}", &attr_noext, 0, "/home/alice/.forward");
}

static void test_conditional_text_when_undefined_or_empty(void **state)
{
    expect_expand("/var/fwd/${extension:default}", &attr_noext, 0, "/var/fwd/default");
    expect_expand("/var/fwd/${extension:default}", &attr_ext, 0, "/var/fwd/");
    struct local_expand_attr empty = attr_ext;
    empty.extension = "";
    expect_expand("/var/fwd/${extension:none}${extension?some}", &empty, 0, "/var/fwd/none");
    /* defined but empty is not undefined: the entry stays */
    expect_expand("/var/fwd/$extension", &empty, 0, "/var/fwd/");
}

static void test_every_attribute_and_paren_form_expands(void **state)
{
    expect_expand("$user|$(home)|${shell}|$recipient|$domain|$local|$$", &attr_ext, 0,
                  "alice|/home/alice|/bin/sh|alice+lists@example.com|example.com|alice+lists|$");
}

static void test_unknown_name_is_undefined(void **state)
{
    expect_expand("$home/$nosuch", &attr_ext, 1, NULL);
}

static void test_values_outside_the_filter_become_underscores(void **state)
{
    struct local_expand_attr a = attr_ext;
    a.extension = "a b;`rm`$x";
    expect_expand("/f/$extension", &a, 0, "/f/a_b__rm__x");
    /* literal text is the administrator's and is kept */
    expect_expand("/f g/${extension?;}", &a, 0, "/f g/;");
}

static void test_syntax_errors_are_reported(void **state)
{
    expect_expand("$home/${extension", &attr_ext, -1, "missing \"}\"");
    expect_expand("$home/$", &attr_ext, -1, "not followed by a name");
    expect_expand("${}", &attr_ext, -1, "missing name");
    expect_expand("${home!x}", &attr_ext, -1, "bad character");
}

static void test_nesting_is_bounded(void **state)
{
    char p[512] = "";
    for (int i = 0; i < 12; i++)
        strcat(p, "${home?");
    strcat(p, "x");
    for (int i = 0; i < 12; i++)
        strcat(p, "}");
    expect_expand(p, &attr_ext, -1, "nested");
}

static void test_result_length_is_bounded(void **state)
{
    char p[LOCAL_EXPAND_MAX + 2];
    memset(p, 'a', sizeof(p) - 1);
    p[sizeof(p) - 1] = 0;
    expect_expand(p, &attr_ext, -1, "longer than 4096");
}

static void expect_delivered(const char *hdr, int n, const char *const *want)
{
    struct argv *out = argv_alloc();
    assert_int_equal(local_addr_delivered_to(hdr, strlen(hdr), out), n);
    assert_int_equal(out->argc, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(out->argv[i], want[i]);
    argv_free(out);
}

static void test_delivered_to_fields_are_collected_from_the_header_only(void **state)
{
    static const char *const want[] = {"alice@example.com", "bob@x", "carol@y", NULL};
    expect_delivered("Received: from x\nDelivered-To: Alice@Example.COM\n"
                     "delivered-to:<bob@x>\nDELIVERED-TO \t: carol@y \r\n"
                     "Subject: hi\n\nDelivered-To: body@z\n",
                     3, want);
}

static void test_folded_delivered_to_is_unfolded(void **state)
{
    static const char *const want[] = {"alice@example.com", NULL};
    expect_delivered("Delivered-To:\n alice@example.com\nSubject: x\n\n", 1, want);
}

static void test_similar_field_names_do_not_count(void **state)
{
    expect_delivered("Delivered-Tox: a@b\nX-Delivered-To: c@d\nDelivered-To:\n\n", 0, NULL);
}

static void test_delivered_to_as_last_header_line_without_body(void **state)
{
    static const char *const want[] = {"a@b", NULL};
    expect_delivered("Delivered-To: a@b", 1, want);
}

static void test_delivered_find_is_case_insensitive(void **state)
{
    struct argv *out = argv_alloc();
    const char *h = "Delivered-To: alice@example.com\n\n";
    local_addr_delivered_to(h, strlen(h), out);
    assert_int_equal(local_addr_delivered_find(out, "ALICE@example.com"), 1);
    assert_int_equal(local_addr_delivered_find(out, "alice@example.org"), 0);
    argv_free(out);
}

static void test_delivered_to_count_is_bounded(void **state)
{
    struct buf h = BUF_INIT;
    for (int i = 0; i < LOCAL_DELIVERED_TO_MAX + 5; i++)
        buf_printf(&h, "Delivered-To: u%d@x\n", i);
    struct argv *out = argv_alloc();
    assert_int_equal(local_addr_delivered_to(h.data, h.len, out), LOCAL_DELIVERED_TO_MAX);
    assert_int_equal(out->argc, LOCAL_DELIVERED_TO_MAX);
    argv_free(out);
    buf_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_at_the_first_delimiter_and_fold_case),
        cmocka_unit_test(test_split_with_several_delimiter_characters_uses_the_first_found),
        cmocka_unit_test(test_no_delimiter_configured_or_present_means_no_split),
        cmocka_unit_test(test_empty_extension_still_splits),
        cmocka_unit_test(test_leading_delimiter_does_not_split),
        cmocka_unit_test(test_postmaster_and_mailer_daemon_never_split),
        cmocka_unit_test(test_owner_and_request_lists_do_not_split_when_dash_is_a_delimiter),
        cmocka_unit_test(test_domain_is_after_the_last_at),
        cmocka_unit_test(test_default_forward_path_with_an_extension),
        cmocka_unit_test(test_entry_naming_an_undefined_extension_is_skipped),
        cmocka_unit_test(test_conditional_text_when_defined_and_non_empty),
        cmocka_unit_test(test_conditional_text_when_undefined_or_empty),
        cmocka_unit_test(test_every_attribute_and_paren_form_expands),
        cmocka_unit_test(test_unknown_name_is_undefined),
        cmocka_unit_test(test_values_outside_the_filter_become_underscores),
        cmocka_unit_test(test_syntax_errors_are_reported),
        cmocka_unit_test(test_nesting_is_bounded),
        cmocka_unit_test(test_result_length_is_bounded),
        cmocka_unit_test(test_delivered_to_fields_are_collected_from_the_header_only),
        cmocka_unit_test(test_folded_delivered_to_is_unfolded),
        cmocka_unit_test(test_similar_field_names_do_not_count),
        cmocka_unit_test(test_delivered_to_as_last_header_line_without_body),
        cmocka_unit_test(test_delivered_find_is_case_insensitive),
        cmocka_unit_test(test_delivered_to_count_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
