/* test_qmgr_param - <transport>_<suffix> settings: table defaults, main.cf
 * values for transports the table does not know, the default_<suffix>
 * fallback, and bad values and names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "conf/config.h"
#include "mail/qmgr_param.h"

static struct config *conf(const char *text)
{
    struct config *c = config_alloc();
    struct buf why = BUF_INIT;
    if (config_parse(c, text, strlen(text), "main.cf", &why) < 0)
        fail_msg("config_parse: %s", buf_cstr(&why));
    buf_free(&why);
    return c;
}

static long get(struct config *c, const char *transport, const char *suffix)
{
    long v = -99;
    struct buf why = BUF_INIT;
    if (qmgr_param_long(c, transport, suffix, 0, LONG_MAX, &v, &why) < 0)
        v = -1;
    buf_free(&why);
    return v;
}

static void test_table_defaults_apply_to_known_transports(void **state)
{
    struct config *c = conf("");
    assert_int_equal(get(c, "local", "destination_recipient_limit"), 1);
    assert_int_equal(get(c, "local", "destination_concurrency_limit"), 2);
    /* smtp's default is $default_destination_recipient_limit */
    assert_int_equal(get(c, "smtp", "destination_recipient_limit"), 50);
    config_free(c);
}

static void test_known_transport_follows_changed_default(void **state)
{
    struct config *c = conf("default_destination_recipient_limit = 7\n");
    assert_int_equal(get(c, "smtp", "destination_recipient_limit"), 7);
    assert_int_equal(get(c, "local", "destination_recipient_limit"), 1);
    config_free(c);
}

static void test_unknown_transport_falls_back_to_default_parameter(void **state)
{
    struct config *c = conf("default_destination_concurrency_limit = 9\n");
    assert_int_equal(get(c, "mytrans", "destination_concurrency_limit"), 9);
    assert_int_equal(get(c, "mytrans", "destination_recipient_limit"), 50);
    config_free(c);
}

static void test_unknown_transport_uses_its_main_cf_setting(void **state)
{
    struct config *c = conf("limit_base = 3\n"
                            "mytrans_destination_recipient_limit = $limit_base\n"
                            "relay_destination_concurrency_limit = 4\n");
    assert_int_equal(get(c, "mytrans", "destination_recipient_limit"), 3);
    assert_int_equal(get(c, "relay", "destination_concurrency_limit"), 4);
    config_free(c);
}

static void test_bad_value_is_an_error(void **state)
{
    struct config *c = conf("mytrans_destination_recipient_limit = lots\n"
                            "other_destination_recipient_limit = -1\n");
    struct buf why = BUF_INIT;
    long v = 5;
    assert_int_equal(
        qmgr_param_long(c, "mytrans", "destination_recipient_limit", 1, 1000, &v, &why), -1);
    assert_non_null(strstr(why.data, "mytrans_destination_recipient_limit"));
    assert_int_equal(qmgr_param_long(c, "other", "destination_recipient_limit", 1, 1000, &v, &why),
                     -1);
    assert_int_equal(v, 5);
    buf_free(&why);
    config_free(c);
}

static void test_transport_name_that_is_no_parameter_name_gets_the_default(void **state)
{
    struct config *c = conf("default_destination_recipient_limit = 12\n");
    assert_int_equal(get(c, "smtp-out", "destination_recipient_limit"), 12);
    config_free(c);
}

static void test_named_fallback_and_text_values(void **state)
{
    struct config *c = conf("initial_destination_concurrency = 3\n"
                            "relay_initial_destination_concurrency = 7\n"
                            "default_destination_concurrency_positive_feedback = 1/concurrency\n"
                            "smtp_destination_concurrency_negative_feedback = 0.5\n");
    struct buf why = BUF_INIT, out = BUF_INIT;
    long v = 0;
    (void)state;
    assert_int_equal(qmgr_param_long_or(c, "smtp", "initial_destination_concurrency",
                                        "initial_destination_concurrency", 1, 100, &v, &why),
                     0);
    assert_int_equal(v, 3);
    assert_int_equal(qmgr_param_long_or(c, "relay", "initial_destination_concurrency",
                                        "initial_destination_concurrency", 1, 100, &v, &why),
                     0);
    assert_int_equal(v, 7);
    assert_int_equal(
        qmgr_param_str(c, "smtp", "destination_concurrency_positive_feedback", NULL, &out, &why),
        0);
    assert_string_equal(out.data, "1/concurrency");
    assert_int_equal(
        qmgr_param_str(c, "smtp", "destination_concurrency_negative_feedback", NULL, &out, &why),
        0);
    assert_string_equal(out.data, "0.5");
    assert_int_equal(qmgr_param_str(c, "smtp-out", "destination_concurrency_negative_feedback",
                                    NULL, &out, &why),
                     0);
    assert_string_equal(out.data, "1");
    buf_free(&why);
    buf_free(&out);
    config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_defaults_apply_to_known_transports),
        cmocka_unit_test(test_known_transport_follows_changed_default),
        cmocka_unit_test(test_unknown_transport_falls_back_to_default_parameter),
        cmocka_unit_test(test_unknown_transport_uses_its_main_cf_setting),
        cmocka_unit_test(test_bad_value_is_an_error),
        cmocka_unit_test(test_named_fallback_and_text_values),
        cmocka_unit_test(test_transport_name_that_is_no_parameter_name_gets_the_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
