/* test_local_env - the exact environment a local(8) command gets, the
 * header lines prepended to deliveries, prepend_delivered_header parsing
 * and command_execution_directory expansion. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "mail/local_env.h"
#include "util/argv.h"
#include "util/buf.h"

#define FILTER                                                                                     \
    "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" /* the default */

static struct local_env_attr attr(void)
{
    struct local_env_attr a = {
        .home = "/home/bob",
        .shell = "/bin/bash",
        .user = "bob",
        .sender = "alice@example.org",
        .recipient = "bob+lists@example.com",
        .local = "bob+lists",
        .extension = "lists",
        .domain = "example.com",
        .orig = "Bob@Example.COM",
        .delimiter = "+",
    };
    return a;
}

static void assert_env(const struct argv *env, const char *const *want, size_t n)
{
    for (size_t i = 0; i < n && i < env->argc; i++)
        assert_string_equal(env->argv[i], want[i]);
    assert_int_equal(env->argc, n);
    assert_null(env->argv[env->argc]);
}

static void test_command_environment_is_exactly_postfix_set(void **state)
{
    struct local_env_attr a = attr();
    char *parent[] = {"TZ=Europe/Berlin", "LANG=de_DE.UTF-8", "SECRET=x", "MAIL_CONFIG=/etc/p",
                      NULL};
    struct argv *env = local_env_build(&a, "TZ MAIL_CONFIG LANG", parent, FILTER);
    static const char *const want[] = {
        "TZ=Europe/Berlin",
        "MAIL_CONFIG=/etc/p",
        "LANG=de_DE.UTF-8",
        "PATH=/usr/bin:/bin",
        "HOME=/home/bob",
        "LOGNAME=bob",
        "USER=bob",
        "SENDER=alice@example.org",
        "RECIPIENT=bob+lists@example.com",
        "LOCAL=bob+lists",
        "SHELL=/bin/bash",
        "DOMAIN=example.com",
        "EXTENSION=lists",
        "ORIGINAL_RECIPIENT=Bob@Example.COM",
    };
    assert_env(env, want, sizeof(want) / sizeof(want[0]));
    assert_null(local_env_get(env, "SECRET"));
    argv_free(env);
}

static void test_empty_extension_domain_orig_and_unknown_home_are_left_out(void **state)
{
    struct local_env_attr a = attr();
    a.extension = "";
    a.orig = "";
    a.domain = NULL;
    a.home = NULL;
    a.shell = NULL;
    a.sender = "";
    a.local = "bob";
    a.recipient = "bob";
    struct argv *env = local_env_build(&a, "", NULL, FILTER);
    static const char *const want[] = {
        "PATH=/usr/bin:/bin", "LOGNAME=bob", "USER=bob", "SENDER=", "RECIPIENT=bob", "LOCAL=bob",
    };
    assert_env(env, want, sizeof(want) / sizeof(want[0]));
    assert_null(local_env_get(env, "EXTENSION"));
    argv_free(env);
}

static void test_newlines_and_shell_syntax_in_mail_data_become_underscores(void **state)
{
    struct local_env_attr a = attr();
    a.sender = "evil\n`rm -rf ~`$(id);@x";
    a.extension = "a\rb\001c d";
    a.local = "\xc3\xa9t\xc3\xa9";
    struct argv *env = local_env_build(&a, NULL, NULL, FILTER);
    assert_string_equal(local_env_get(env, "SENDER"), "evil__rm_-rf_____id__@x");
    assert_string_equal(local_env_get(env, "EXTENSION"), "a_b_c_d");
    assert_string_equal(local_env_get(env, "LOCAL"), "__t__");
    for (size_t i = 0; i < env->argc; i++)
        assert_null(strpbrk(env->argv[i], "\n\r"));
    argv_free(env);
}

static void test_export_environment_name_value_and_override(void **state)
{
    struct local_env_attr a = attr();
    char *parent[] = {"TZ=UTC\nX", "PATH=/evil", "HOME=/tmp", NULL};
    /* "PATH" and "HOME" from the parent lose to ours; NAME=value is set
     * as written; bad names and missing variables are skipped. */
    struct argv *env =
        local_env_build(&a, "TZ, FOO=bar baz=1 9BAD=x =y PATH HOME NOTSET", parent, FILTER);
    assert_string_equal(env->argv[0], "TZ=UTC_X");
    assert_string_equal(env->argv[1], "FOO=bar");
    assert_string_equal(env->argv[2], "baz=1");
    assert_string_equal(local_env_get(env, "PATH"), "/usr/bin:/bin");
    assert_string_equal(local_env_get(env, "HOME"), "/home/bob");
    assert_null(local_env_get(env, "9BAD"));
    assert_null(local_env_get(env, "NOTSET"));
    size_t paths = 0;
    for (size_t i = 0; i < env->argc; i++)
        paths += strncmp(env->argv[i], "PATH=", 5) == 0;
    assert_int_equal(paths, 1);
    argv_free(env);
}

static void test_censor_cuts_long_values(void **state)
{
    struct buf out = BUF_INIT;
    char big[LOCAL_ENV_VALUE_MAX + 50];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    local_env_censor(big, FILTER, &out);
    assert_int_equal(out.len, LOCAL_ENV_VALUE_MAX);
    local_env_censor("a b", "ab", &out);
    assert_string_equal(buf_cstr(&out), "a_b");
    /* A control byte in the filter itself still does not pass. */
    local_env_censor("a\nb", "ab\n", &out);
    assert_string_equal(buf_cstr(&out), "a_b");
    buf_free(&out);
}

static void test_headers_in_postfix_order(void **state)
{
    struct buf out = BUF_INIT;
    local_env_headers(LOCAL_HDR_RETURN_PATH | LOCAL_HDR_ORIG_RCPT | LOCAL_HDR_DELIVERED,
                      "alice@example.org", "Bob@Example.COM", "bob@example.com", &out);
    assert_string_equal(buf_cstr(&out), "Return-Path: <alice@example.org>\n"
                                        "X-Original-To: Bob@Example.COM\n"
                                        "Delivered-To: bob@example.com\n");
    buf_free(&out);
}

static void test_null_sender_and_no_orig(void **state)
{
    struct buf out = BUF_INIT;
    local_env_headers(LOCAL_HDR_RETURN_PATH | LOCAL_HDR_ORIG_RCPT | LOCAL_HDR_DELIVERED, "", "",
                      "bob@example.com", &out);
    assert_string_equal(buf_cstr(&out), "Return-Path: <>\nDelivered-To: bob@example.com\n");
    local_env_headers(LOCAL_HDR_RETURN_PATH | LOCAL_HDR_ORIG_RCPT, "a@b", "c@d", "e@f", &out);
    assert_string_equal(buf_cstr(&out), "Return-Path: <a@b>\nX-Original-To: c@d\n");
    buf_free(&out);
}

static void test_header_addresses_are_quoted_and_cannot_break_lines(void **state)
{
    struct buf out = BUF_INIT;
    local_env_headers(LOCAL_HDR_RETURN_PATH | LOCAL_HDR_DELIVERED, "john smith@example.org", NULL,
                      "x\ny@z", &out);
    assert_string_equal(buf_cstr(&out), "Return-Path: <\"john smith\"@example.org>\n"
                                        "Delivered-To: x?y@z\n");
    buf_free(&out);
}

static void test_prepend_delivered_header_words(void **state)
{
    struct buf why = BUF_INIT;
    assert_int_equal(local_env_delivered_mask("command, file, forward", &why),
                     LOCAL_DELIVERED_COMMAND | LOCAL_DELIVERED_FILE | LOCAL_DELIVERED_FORWARD);
    assert_int_equal(local_env_delivered_mask("forward", &why), LOCAL_DELIVERED_FORWARD);
    assert_int_equal(local_env_delivered_mask("", &why), 0);
    assert_int_equal(local_env_delivered_mask("file,mailbox", &why), -1);
    assert_string_equal(buf_cstr(&why), "unknown prepend_delivered_header value: \"mailbox\"");
    buf_free(&why);
}

static void test_execution_directory_expansion(void **state)
{
    struct local_env_attr a = attr();
    struct buf out = BUF_INIT, why = BUF_INIT;
    assert_int_equal(local_env_expand("$home/x/${user}/$$", &a, FILTER, &out, &why), 0);
    assert_string_equal(buf_cstr(&out), "/home/bob/x/bob/$");
    assert_int_equal(
        local_env_expand("/m/${extension?ext}${extension:none}", &a, FILTER, &out, &why), 0);
    assert_string_equal(buf_cstr(&out), "/m/ext");
    a.extension = "";
    assert_int_equal(
        local_env_expand("/m/${extension?ext}${extension:none}", &a, FILTER, &out, &why), 0);
    assert_string_equal(buf_cstr(&out), "/m/none");
    a.user = "b o b";
    assert_int_equal(local_env_expand("/h/$user", &a, FILTER, &out, &why), 0);
    assert_string_equal(buf_cstr(&out), "/h/b_o_b");
    assert_int_equal(local_env_expand("/h/$nosuch", &a, FILTER, &out, &why), -1);
    assert_int_equal(local_env_expand("/h/${home", &a, FILTER, &out, &why), -1);
    assert_int_equal(local_env_expand("/h/$", &a, FILTER, &out, &why), -1);
    buf_free(&out);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_environment_is_exactly_postfix_set),
        cmocka_unit_test(test_empty_extension_domain_orig_and_unknown_home_are_left_out),
        cmocka_unit_test(test_newlines_and_shell_syntax_in_mail_data_become_underscores),
        cmocka_unit_test(test_export_environment_name_value_and_override),
        cmocka_unit_test(test_censor_cuts_long_values),
        cmocka_unit_test(test_headers_in_postfix_order),
        cmocka_unit_test(test_null_sender_and_no_orig),
        cmocka_unit_test(test_header_addresses_are_quoted_and_cannot_break_lines),
        cmocka_unit_test(test_prepend_delivered_header_words),
        cmocka_unit_test(test_execution_directory_expansion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
