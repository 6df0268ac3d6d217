/* test_sys_exits - <sysexits.h> codes map to Postfix's DSN codes and
 * texts, and a finished command is judged as Postfix's local(8) judges
 * it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>

#include "mail/mail_proto.h"
#include "mail/sys_exits.h"
#include "util/buf.h"

static void test_every_sysexits_code_has_postfix_dsn_and_text(void **state)
{
    static const struct {
        int code;
        const char *dsn;
        const char *text;
    } want[] = {
        {EX_USAGE, "5.3.0", "command line usage error"},
        {EX_DATAERR, "5.6.0", "data format error"},
        {EX_NOINPUT, "5.3.0", "cannot open input"},
        {EX_NOUSER, "5.1.1", "user unknown"},
        {EX_NOHOST, "5.1.2", "host name unknown"},
        {EX_UNAVAILABLE, "5.3.0", "service unavailable"},
        {EX_SOFTWARE, "5.3.0", "internal software error"},
        {EX_OSERR, "4.3.0", "system resource problem"},
        {EX_OSFILE, "5.3.0", "critical OS file missing"},
        {EX_CANTCREAT, "5.2.0", "can't create user output file"},
        {EX_IOERR, "5.3.0", "input/output error"},
        {EX_TEMPFAIL, "4.3.0", "temporary failure"},
        {EX_PROTOCOL, "5.5.0", "remote error in protocol"},
        {EX_NOPERM, "5.7.0", "permission denied"},
        {EX_CONFIG, "5.3.5", "local configuration error"},
    };
    struct buf text = BUF_INIT;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct sys_exits_detail *d = sys_exits_find(want[i].code);
        assert_non_null(d);
        assert_int_equal(d->status, want[i].code);
        assert_string_equal(d->dsn, want[i].dsn);
        assert_string_equal(d->text, want[i].text);
        assert_string_equal(sys_exits_dsn(want[i].code), want[i].dsn);
        sys_exits_text(want[i].code, &text);
        assert_string_equal(buf_cstr(&text), want[i].text);
        assert_true(sys_exits_is_code(want[i].code));
    }
    buf_free(&text);
}

static void test_only_tempfail_and_oserr_are_soft(void **state)
{
    for (int code = 0; code < 300; code++) {
        int soft = code == EX_TEMPFAIL || code == EX_OSERR;
        assert_int_equal(sys_exits_softerror(code), soft);
        assert_int_equal(sys_exits_status(code), soft ? DELIVER_DEFER : DELIVER_BOUNCE);
    }
}

static void test_unknown_code_is_permanent_unknown_mail_system_error(void **state)
{
    struct buf text = BUF_INIT;
    assert_false(sys_exits_is_code(63));
    assert_false(sys_exits_is_code(79));
    assert_null(sys_exits_find(1));
    assert_string_equal(sys_exits_dsn(1), "5.3.0");
    sys_exits_text(1, &text);
    assert_string_equal(buf_cstr(&text), "unknown mail system error 1");
    sys_exits_text(79, &text);
    assert_string_equal(buf_cstr(&text), "unknown mail system error 79");
    sys_exits_text(-3, &text);
    assert_string_equal(buf_cstr(&text), "unknown mail system error -3");
    buf_free(&text);
}

/* The command verdicts, with waitpid()-style statuses. */
static int run(int ws, int timed_out, const char *out, char *dsn, struct buf *reason)
{
    return sys_exits_command(ws, timed_out, "procmail -a x", out, out ? strlen(out) : 0, dsn,
                             reason);
}

static void test_exit_zero_is_delivered_to_command(void **state)
{
    struct buf r = BUF_INIT;
    char dsn[16];
    assert_int_equal(run(W_EXITCODE(0, 0), 0, "ignored output\n", dsn, &r), DELIVER_OK);
    assert_string_equal(dsn, "2.0.0");
    assert_string_equal(buf_cstr(&r), "delivered to command: procmail -a x");
    buf_free(&r);
}

static void test_exit_75_defers_with_temporary_failure(void **state)
{
    struct buf r = BUF_INIT;
    char dsn[16];
    assert_int_equal(run(W_EXITCODE(75, 0), 0, NULL, dsn, &r), DELIVER_DEFER);
    assert_string_equal(dsn, "4.3.0");
    assert_string_equal(buf_cstr(&r), "temporary failure");
    buf_free(&r);
}

static void test_exit_67_bounces_user_unknown_with_output(void **state)
{
    struct buf r = BUF_INIT;
    char dsn[16];
    assert_int_equal(run(W_EXITCODE(67, 0), 0, "no such user\tbob\n", dsn, &r), DELIVER_BOUNCE);
    assert_string_equal(dsn, "5.1.1");
    assert_string_equal(buf_cstr(&r), "user unknown. Command output: no such user bob");
    buf_free(&r);
}

static void test_exit_1_bounces_command_died_with_status(void **state)
{
    struct buf r = BUF_INIT;
    char dsn[16];
    assert_int_equal(run(W_EXITCODE(1, 0), 0, "line one\nline two\n\n", dsn, &r), DELIVER_BOUNCE);
    assert_string_equal(dsn, "5.3.0");
    assert_string_equal(buf_cstr(&r), "Command died with status 1: \"procmail -a x\". "
                                      "Command output: line one line two");
    assert_int_equal(run(W_EXITCODE(1, 0), 0, "", dsn, &r), DELIVER_BOUNCE);
    assert_string_equal(buf_cstr(&r), "Command died with status 1: \"procmail -a x\"");
    buf_free(&r);
}

static void test_signal_defers_command_died_with_signal(void **state)
{
    struct buf r = BUF_INIT;
    char dsn[16];
    assert_int_equal(run(9, 0, NULL, dsn, &r), DELIVER_DEFER); /* WTERMSIG 9 */
    assert_string_equal(dsn, "4.3.0");
    assert_string_equal(buf_cstr(&r), "Command died with signal 9: \"procmail -a x\"");
    buf_free(&r);
}

static void test_time_limit_bounces_like_postfix(void **state)
{
    struct buf r = BUF_INIT;
    char dsn[16];
    assert_int_equal(run(9, 1, "started\n", dsn, &r), DELIVER_BOUNCE);
    assert_string_equal(dsn, "5.3.0");
    assert_string_equal(buf_cstr(&r),
                        "Command time limit exceeded: \"procmail -a x\". Command output: started");
    buf_free(&r);
}

static void test_dsn_at_start_of_output_decides(void **state)
{
    struct buf r = BUF_INIT;
    char dsn[16];
    assert_int_equal(run(W_EXITCODE(1, 0), 0, "4.2.2 mailbox full\n", dsn, &r), DELIVER_DEFER);
    assert_string_equal(dsn, "4.2.2");
    assert_string_equal(buf_cstr(&r), "mailbox full");
    assert_int_equal(run(W_EXITCODE(75, 0), 0, "5.1.1 no such user", dsn, &r), DELIVER_BOUNCE);
    assert_string_equal(dsn, "5.1.1");
    assert_string_equal(buf_cstr(&r), "no such user");
    /* Not a code: "2.x" on failure, four digits, no space after it. */
    assert_int_equal(run(W_EXITCODE(75, 0), 0, "2.0.0 fine", dsn, &r), DELIVER_DEFER);
    assert_string_equal(dsn, "4.3.0");
    assert_int_equal(run(W_EXITCODE(1, 0), 0, "4.1234.1 x", dsn, &r), DELIVER_BOUNCE);
    assert_string_equal(dsn, "5.3.0");
    assert_int_equal(run(W_EXITCODE(1, 0), 0, "4.2.2x", dsn, &r), DELIVER_BOUNCE);
    assert_string_equal(dsn, "5.3.0");
    buf_free(&r);
}

static void test_output_is_cleaned_and_bounded(void **state)
{
    struct buf out = BUF_INIT;
    sys_exits_output("a\tb\nc\r\x01\xff"
                     "d  \n",
                     11, &out);
    assert_string_equal(buf_cstr(&out), "a b c___d");
    char big[SYS_EXITS_OUTPUT_MAX + 100];
    memset(big, 'x', sizeof(big));
    sys_exits_output(big, sizeof(big), &out);
    assert_int_equal(out.len, SYS_EXITS_OUTPUT_MAX);
    /* A NUL in the output is data, not the end. */
    sys_exits_output("a\0b", 3, &out);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "a_b", 3);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_sysexits_code_has_postfix_dsn_and_text),
        cmocka_unit_test(test_only_tempfail_and_oserr_are_soft),
        cmocka_unit_test(test_unknown_code_is_permanent_unknown_mail_system_error),
        cmocka_unit_test(test_exit_zero_is_delivered_to_command),
        cmocka_unit_test(test_exit_75_defers_with_temporary_failure),
        cmocka_unit_test(test_exit_67_bounces_user_unknown_with_output),
        cmocka_unit_test(test_exit_1_bounces_command_died_with_status),
        cmocka_unit_test(test_signal_defers_command_died_with_signal),
        cmocka_unit_test(test_time_limit_bounces_like_postfix),
        cmocka_unit_test(test_dsn_at_start_of_output_decides),
        cmocka_unit_test(test_output_is_cleaned_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
