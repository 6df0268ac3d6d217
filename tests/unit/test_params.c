/* test_params - the parameter table and type checks (lib/conf/params.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "conf/params.h"
#include "util/buf.h"

static const struct param_def *must_find(const char *name)
{
    const struct param_def *p = param_find(name);
    if (p == NULL)
        fail_msg("%s is not in the table", name);
    return p;
}

static void test_table_is_sorted_and_unique(void **state)
{
    for (size_t i = 1; i < param_count; i++)
        if (strcmp(param_table[i - 1].name, param_table[i].name) >= 0)
            fail_msg("param_table.def out of order: %s before %s", param_table[i - 1].name,
                     param_table[i].name);
}

static void test_every_entry_is_found_by_name(void **state)
{
    for (size_t i = 0; i < param_count; i++)
        assert_ptr_equal(param_find(param_table[i].name), &param_table[i]);
    assert_null(param_find("no_such_parameter"));
    assert_null(param_find(""));
}

static void test_every_entry_is_well_formed(void **state)
{
    for (size_t i = 0; i < param_count; i++) {
        const struct param_def *p = &param_table[i];
        if (!config_valid_name(p->name, strlen(p->name)))
            fail_msg("bad name in table: %s", p->name);
        if (p->desc == NULL || p->desc[0] == 0 || strchr(p->desc, '\n'))
            fail_msg("%s: description must be one non-empty line", p->name);
        if ((p->def == NULL) == (p->def_fn == NULL))
            fail_msg("%s: needs exactly one of a default or a default function", p->name);
    }
}

/* Catches typos in the table: each default, expanded, must be valid for its
 * own type. */
static void test_every_default_passes_its_type_check(void **state)
{
    struct config *empty = config_alloc();
    struct buf val = BUF_INIT, why = BUF_INIT;
    for (size_t i = 0; i < param_count; i++) {
        const struct param_def *p = &param_table[i];
        if (config_lookup(empty, p->name, &val, &why) != 0)
            fail_msg("%s: default does not expand: %s", p->name, buf_cstr(&why));
        if (param_check(p, buf_cstr(&val), &why) != 0)
            fail_msg("%s: default fails its type: %s", p->name, buf_cstr(&why));
    }
    buf_free(&val);
    buf_free(&why);
    config_free(empty);
}

static void test_time_defaults_carry_a_unit(void **state)
{
    for (size_t i = 0; i < param_count; i++) {
        const struct param_def *p = &param_table[i];
        if (p->type != PT_TIME || p->def == NULL || p->def[0] == '$')
            continue;
        size_t n = strlen(p->def);
        if (n == 0 || strchr("smhdw", p->def[n - 1]) == NULL)
            fail_msg("%s: time default \"%s\" has no unit", p->name, p->def);
    }
}

static void test_postfix_defaults(void **state)
{
    assert_string_equal(param_default(must_find("myorigin")), "$myhostname");
    assert_string_equal(param_default(must_find("mydestination")),
                        "$myhostname, localhost.$mydomain, localhost");
    assert_string_equal(param_default(must_find("mynetworks")), "127.0.0.0/8 [::1]/128");
    assert_string_equal(param_default(must_find("smtpd_banner")), "$myhostname ESMTP $mail_name");
    assert_string_equal(param_default(must_find("message_size_limit")), "10240000");
    assert_string_equal(param_default(must_find("maximal_queue_lifetime")), "5d");
    assert_string_equal(param_default(must_find("alias_maps")), "hash:/etc/aliases");
    assert_string_equal(param_default(must_find("mail_owner")), "postern");
    assert_string_equal(param_default(must_find("syslog_name")), "postern");
    assert_string_equal(param_default(must_find("config_directory")), DEF_CONFIG_DIR);
    assert_string_equal(param_default(must_find("queue_directory")), DEF_QUEUE_DIR);
    assert_string_equal(param_default(must_find("mail_version")), POSTERN_VERSION);
    assert_int_equal(must_find("master_stop_timeout")->type, PT_TIME);
    assert_non_null(strstr(must_find("master_stop_timeout")->desc, "Postern-specific"));
}

static void test_delivery_time_templates_are_raw(void **state)
{
    assert_true(must_find("forward_path")->raw);
    assert_true(must_find("mailbox_command")->raw);
    assert_true(must_find("default_rbl_reply")->raw);
    assert_false(must_find("myorigin")->raw);
}

static void test_myhostname_default_is_the_system_name(void **state)
{
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    const char *d = param_default(must_find("myhostname"));
    assert_string_equal(d, host);
    const char *dot = strchr(host, '.');
    assert_string_equal(param_default(must_find("mydomain")),
                        dot && dot[1] ? dot + 1 : "localdomain");
}

static void test_mydomain_derives_from_myhostname(void **state)
{
    const struct param_def *p = must_find("mydomain");
    assert_string_equal(param_derived_from(p), "myhostname");
    assert_null(param_derived_from(must_find("myorigin")));
    struct buf out = BUF_INIT;
    param_derive(p, "mail.example.com", &out);
    assert_string_equal(buf_cstr(&out), "example.com");
    param_derive(p, "host", &out);
    assert_string_equal(buf_cstr(&out), "localdomain");
    param_derive(p, "host.", &out);
    assert_string_equal(buf_cstr(&out), "localdomain");
    buf_free(&out);
}

static void assert_check(const char *name, const char *value, int want)
{
    struct buf why = BUF_INIT;
    int r = param_check(must_find(name), value, &why);
    if (r != want)
        fail_msg("param_check(%s, \"%s\") = %d, want %d (%s)", name, value, r, want,
                 buf_cstr(&why));
    buf_free(&why);
}

static void test_integer_values(void **state)
{
    assert_check("hopcount_limit", "0", 0);
    assert_check("hopcount_limit", "123", 0);
    assert_check("hopcount_limit", "-1", -1);
    assert_check("hopcount_limit", "12a", -1);
    assert_check("hopcount_limit", "", -1);
    assert_check("hopcount_limit", "99999999999999999999999", -1);
}

static void test_boolean_values(void **state)
{
    assert_check("soft_bounce", "yes", 0);
    assert_check("soft_bounce", "NO", 0);
    assert_check("soft_bounce", "maybe", -1);
    assert_check("soft_bounce", "", -1);
}

static void test_time_values_and_units(void **state)
{
    assert_check("queue_run_delay", "300s", 0);
    assert_check("queue_run_delay", "5m", 0);
    assert_check("queue_run_delay", "2h", 0);
    assert_check("queue_run_delay", "1d", 0);
    assert_check("queue_run_delay", "1w", 0);
    assert_check("queue_run_delay", "10", 0);
    assert_check("queue_run_delay", "10x", -1);
    assert_check("queue_run_delay", "s", -1);
    assert_check("queue_run_delay", "-5s", -1);
}

static void test_bare_number_uses_the_default_unit(void **state)
{
    assert_int_equal(param_time_unit(must_find("maximal_queue_lifetime")), 'd');
    assert_int_equal(param_time_unit(must_find("delay_warning_time")), 'h');
    assert_int_equal(param_time_unit(must_find("queue_run_delay")), 's');
}

static void test_check_error_names_type_and_value(void **state)
{
    struct buf why = BUF_INIT;
    assert_int_equal(param_check(must_find("smtpd_timeout"), "soon", &why), -1);
    assert_string_equal(buf_cstr(&why), "bad time parameter value: smtpd_timeout = soon");
    assert_int_equal(param_check(must_find("biff"), "perhaps", &why), -1);
    assert_string_equal(buf_cstr(&why), "bad boolean parameter value: biff = perhaps");
    assert_int_equal(param_check(must_find("max_use"), "many", &why), -1);
    assert_string_equal(buf_cstr(&why), "bad integer parameter value: max_use = many");
    buf_free(&why);
}

static void test_strings_accept_anything(void **state)
{
    assert_check("relayhost", "", 0);
    assert_check("relayhost", "[mail.example.com]:587", 0);
}

static void test_type_names(void **state)
{
    assert_string_equal(param_type_name(PT_STR), "string");
    assert_string_equal(param_type_name(PT_INT), "integer");
    assert_string_equal(param_type_name(PT_BOOL), "boolean");
    assert_string_equal(param_type_name(PT_TIME), "time");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_sorted_and_unique),
        cmocka_unit_test(test_every_entry_is_found_by_name),
        cmocka_unit_test(test_every_entry_is_well_formed),
        cmocka_unit_test(test_every_default_passes_its_type_check),
        cmocka_unit_test(test_time_defaults_carry_a_unit),
        cmocka_unit_test(test_postfix_defaults),
        cmocka_unit_test(test_delivery_time_templates_are_raw),
        cmocka_unit_test(test_myhostname_default_is_the_system_name),
        cmocka_unit_test(test_mydomain_derives_from_myhostname),
        cmocka_unit_test(test_integer_values),
        cmocka_unit_test(test_boolean_values),
        cmocka_unit_test(test_time_values_and_units),
        cmocka_unit_test(test_bare_number_uses_the_default_unit),
        cmocka_unit_test(test_check_error_names_type_and_value),
        cmocka_unit_test(test_strings_accept_anything),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
