/* test_mail_conf - configuration directory choice, loading with type checks,
 * typed getters, overrides, unused-parameter reports and log setup
 * (lib/conf/mail_conf.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "conf/params.h"
#include "util/buf.h"
#include "util/msg.h"

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_mail_conf_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void load_ok(const char *main_cf)
{
    struct buf why = BUF_INIT;
    write_file("main.cf", main_cf);
    if (mail_conf_load(dir, &why) != 0)
        fail_msg("load failed: %s", buf_cstr(&why));
    buf_free(&why);
}

static void assert_load_error(const char *main_cf, const char *want_after_dir)
{
    struct buf why = BUF_INIT, want = BUF_INIT;
    write_file("main.cf", main_cf);
    assert_int_equal(mail_conf_load(dir, &why), -1);
    buf_printf(&want, "%s/main.cf%s", dir, want_after_dir);
    assert_string_equal(buf_cstr(&why), buf_cstr(&want));
    buf_free(&why);
    buf_free(&want);
}

/* run_child - run fn in a child with stderr captured; its exit status. */
static int run_child(void (*fn)(void), struct buf *err)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    char chunk[1024];
    ssize_t n;
    buf_reset(err);
    while ((n = read(fds[0], chunk, sizeof(chunk))) > 0)
        buf_append(err, chunk, (size_t)n);
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_c_argument_wins_over_mail_config(void **state)
{
    setenv("MAIL_CONFIG", "/from/env", 1);
    assert_string_equal(mail_conf_dir("/from/arg"), "/from/arg");
    assert_string_equal(mail_conf_dir(NULL), "/from/arg"); /* remembered */
}

static void test_mail_config_is_honoured(void **state)
{
    setenv("MAIL_CONFIG", "/from/env", 1);
    assert_string_equal(mail_conf_dir(""), "/from/env");
}

static void test_default_directory_without_either(void **state)
{
    unsetenv("MAIL_CONFIG");
    assert_string_equal(mail_conf_dir(""), DEF_CONFIG_DIR);
}

static void read_from_env_dir(void)
{
    mail_conf_read();
    printf("%s\n", conf_str("myorigin"));
    fflush(stdout);
}

static void test_mail_conf_read_uses_mail_config(void **state)
{
    write_file("main.cf", "myorigin = from-env.example\n");
    setenv("MAIL_CONFIG", dir, 1);
    mail_conf_dir("");
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        read_from_env_dir();
        _exit(0);
    }
    close(fds[1]);
    char out[256] = "";
    ssize_t n = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(n > 0);
    assert_string_equal(out, "from-env.example\n");
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_typed_getters(void **state)
{
    load_ok("hopcount_limit = 7\n"
            "soft_bounce = yes\n"
            "smtpd_timeout = 2m\n"
            "maximal_queue_lifetime = 2\n"
            "myhostname = mx.example.net\n");
    assert_int_equal(conf_int("hopcount_limit"), 7);
    assert_int_equal(conf_bool("soft_bounce"), 1);
    assert_int_equal(conf_bool("biff"), 0);
    assert_int_equal(conf_time("smtpd_timeout"), 120);
    assert_int_equal(conf_time("maximal_queue_lifetime"), 2 * 86400); /* bare: days */
    assert_int_equal(conf_time("queue_run_delay"), 300);
    assert_string_equal(conf_str("smtpd_banner"), "mx.example.net ESMTP Postern");
    assert_string_equal(conf_str("mydomain"), "example.net");
    assert_string_equal(conf_str("hopcount_limit"), "7");
}

static void test_config_directory_is_the_directory_in_use(void **state)
{
    load_ok("a_user_thing = 1\n");
    assert_string_equal(conf_str("config_directory"), dir);
    assert_string_equal(mail_conf_dir(NULL), dir);
}

static void test_getter_results_are_cached_until_override(void **state)
{
    load_ok("smtpd_timeout = 100s\n");
    const char *first = conf_str("smtpd_timeout");
    assert_ptr_equal(conf_str("smtpd_timeout"), first);
    mail_conf_override("smtpd_timeout", "10s", "master.cf -o");
    assert_int_equal(conf_time("smtpd_timeout"), 10);
    assert_string_equal(conf_str("smtpd_timeout"), "10s");
    assert_string_equal(config_find(mail_conf, "smtpd_timeout")->file, "master.cf -o");
}

static void test_override_reaches_dependent_values(void **state)
{
    load_ok("myhostname = a.example\n");
    assert_string_equal(conf_str("myorigin"), "a.example");
    mail_conf_override("myhostname", "b.example", NULL);
    assert_string_equal(conf_str("myorigin"), "b.example");
}

static void test_bad_typed_value_names_file_and_line(void **state)
{
    assert_load_error("# c\nhopcount_limit = 5\nsmtpd_timeout = soon\n",
                      ":3: bad time parameter value: smtpd_timeout = soon");
    assert_load_error("soft_bounce = maybe\n",
                      ":1: bad boolean parameter value: soft_bounce = maybe");
}

static void test_value_is_checked_after_expansion(void **state)
{
    assert_load_error("limit_text = lots\nhopcount_limit = $limit_text\n",
                      ":2: bad integer parameter value: hopcount_limit = lots");
    load_ok("limit_text = 12\nhopcount_limit = $limit_text\n");
    assert_int_equal(conf_int("hopcount_limit"), 12);
}

static void test_expansion_loop_is_a_load_error(void **state)
{
    assert_load_error("myorigin = $myorigin\n",
                      ":1: parameter myorigin: expansion loop: myorigin -> myorigin");
}

static void test_syntax_error_is_a_load_error(void **state)
{
    assert_load_error("a = 1\nnot a setting\n", ":2: missing '=' after parameter name");
}

static void test_failed_load_keeps_previous_configuration(void **state)
{
    load_ok("hopcount_limit = 9\n");
    struct buf why = BUF_INIT;
    write_file("main.cf", "hopcount_limit = x\n");
    assert_int_equal(mail_conf_load(dir, &why), -1);
    assert_int_equal(conf_int("hopcount_limit"), 9);
    buf_free(&why);
}

static void read_bad_conf(void)
{
    mail_conf_dir(dir);
    mail_conf_read();
}

static void test_mail_conf_read_is_fatal_with_file_and_line(void **state)
{
    struct buf err = BUF_INIT, want = BUF_INIT;
    write_file("main.cf", "\nsmtpd_timeout = forever\n");
    msg_init("test");
    assert_int_equal(run_child(read_bad_conf, &err), 1);
    buf_printf(&want,
               "test: fatal: %s/main.cf:2: bad time parameter value: smtpd_timeout = forever\n",
               dir);
    assert_string_equal(buf_cstr(&err), buf_cstr(&want));
    buf_free(&err);
    buf_free(&want);
}

static void bad_override(void)
{
    struct buf why = BUF_INIT;
    if (mail_conf_load(dir, &why) != 0)
        _exit(3);
    mail_conf_override("max_use", "plenty", "master.cf -o");
    (void)conf_int("max_use");
}

static void test_bad_override_is_fatal_on_use(void **state)
{
    struct buf err = BUF_INIT;
    write_file("main.cf", "\n");
    msg_init("test");
    assert_int_equal(run_child(bad_override, &err), 1);
    assert_string_equal(
        buf_cstr(&err),
        "test: fatal: master.cf -o: bad integer parameter value: max_use = plenty\n");
    buf_free(&err);
}

static void ask_unknown(void)
{
    (void)conf_str("not_in_the_table");
}

static void test_unknown_name_in_getter_panics(void **state)
{
    struct buf err = BUF_INIT;
    msg_init("test");
    int st = run_child(ask_unknown, &err);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(buf_cstr(&err), "panic: configuration parameter not in the table"));
    buf_free(&err);
}

static void test_unknown_parameters_are_reported(void **state)
{
    load_ok("foo = bar\n"
            "used_by_value = y\n"
            "myorigin = $used_by_value\n"
            "mua_restrictions = permit\n"
            "smtpd_restriction_classes = class_a\n"
            "class_a = reject\n"
            "smtp_destination_rate_delay = 1s\n"
            "relay_time_limit = 100s\n"
            "zzz_other = 1\n");
    struct buf out = BUF_INIT, want = BUF_INIT;
    int n = mail_conf_unknown(mail_conf,
                              "submission inet n - n - - smtpd\n"
                              "  -o smtpd_client_restrictions=$mua_restrictions\n",
                              &out);
    assert_int_equal(n, 2);
    buf_printf(&want,
               "%s/main.cf: unused parameter: foo=bar\n"
               "%s/main.cf: unused parameter: zzz_other=1\n",
               dir, dir);
    assert_string_equal(buf_cstr(&out), buf_cstr(&want));
    buf_reset(&out);
    assert_int_equal(mail_conf_unknown(mail_conf, NULL, &out), 3); /* mua_restrictions too */
    buf_free(&out);
    buf_free(&want);
}

static void test_log_setup_uses_maillog_file_and_syslog_name(void **state)
{
    char log[128], cf[256];
    snprintf(log, sizeof(log), "%s/maillog", dir);
    snprintf(cf, sizeof(cf), "maillog_file = %s\nmyhostname = logs.example\n", log);
    load_ok(cf);
    mail_conf_override("syslog_name", "postern/submission", "master.cf -o");
    mail_log_setup("/usr/lib/postern/smtpd", 0);
    assert_string_equal(msg_ident(), "postern/submission/smtpd");
    msg_info("hello from the test");
    msg_logfile_close();
    msg_set_stderr(1);
    char text[512] = "";
    int fd = open(log, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    assert_true(n > 0);
    char want[128];
    snprintf(want, sizeof(want),
             " logs.example postern/submission/smtpd[%ld]: hello from the test\n", (long)getpid());
    assert_non_null(strstr(text, want));
}

static void test_log_setup_default_ident(void **state)
{
    char cf[256];
    snprintf(cf, sizeof(cf), "maillog_file = %s/maillog2\n", dir);
    load_ok(cf);
    mail_log_setup("qmgr", 1);
    assert_string_equal(msg_ident(), "postern/qmgr");
    msg_logfile_close();
}

static void log_to_bad_file(void)
{
    struct buf why = BUF_INIT;
    char cf[256];
    snprintf(cf, sizeof(cf), "maillog_file = %s/no/such/dir/log\n", dir);
    write_file("main.cf", cf);
    if (mail_conf_load(dir, &why) != 0)
        _exit(3);
    mail_log_setup("test", 1);
}

static void test_unopenable_maillog_file_is_fatal(void **state)
{
    struct buf err = BUF_INIT, want = BUF_INIT;
    assert_int_equal(run_child(log_to_bad_file, &err), 1);
    buf_printf(&want,
               "test: fatal: open maillog_file %s/no/such/dir/log: No such file or directory\n",
               dir);
    assert_string_equal(buf_cstr(&err), buf_cstr(&want));
    buf_free(&err);
    buf_free(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c_argument_wins_over_mail_config),
        cmocka_unit_test(test_mail_config_is_honoured),
        cmocka_unit_test(test_default_directory_without_either),
        cmocka_unit_test(test_mail_conf_read_uses_mail_config),
        cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_config_directory_is_the_directory_in_use),
        cmocka_unit_test(test_getter_results_are_cached_until_override),
        cmocka_unit_test(test_override_reaches_dependent_values),
        cmocka_unit_test(test_bad_typed_value_names_file_and_line),
        cmocka_unit_test(test_value_is_checked_after_expansion),
        cmocka_unit_test(test_expansion_loop_is_a_load_error),
        cmocka_unit_test(test_syntax_error_is_a_load_error),
        cmocka_unit_test(test_failed_load_keeps_previous_configuration),
        cmocka_unit_test(test_mail_conf_read_is_fatal_with_file_and_line),
        cmocka_unit_test(test_bad_override_is_fatal_on_use),
        cmocka_unit_test(test_unknown_name_in_getter_panics),
        cmocka_unit_test(test_unknown_parameters_are_reported),
        cmocka_unit_test(test_log_setup_uses_maillog_file_and_syslog_name),
        cmocka_unit_test(test_log_setup_default_ident),
        cmocka_unit_test(test_unopenable_maillog_file_is_fatal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
