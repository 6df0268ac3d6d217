/* test_msg - log-file lines in Postfix's format, one line per call with
 * control characters replaced, levels, ident, and the fatal exit path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/msg.h"

static char dir[64], logpath[128], marker[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/test_msg.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(logpath, sizeof(logpath), "%s/maillog", dir);
    snprintf(marker, sizeof(marker), "%s/cleaned", dir);
    msg_init("/usr/libexec/postern/testprog");
    msg_set_stderr(0);
    msg_set_hostname("mx1");
    return msg_logfile_open(logpath);
}

static int teardown(void **state)
{
    msg_logfile_close();
    msg_set_stderr(1);
    unlink(logpath);
    unlink(marker);
    rmdir(dir);
    return 0;
}

/* The whole log file (small in these tests). */
static char *slurp(void)
{
    static char text[16384];
    int fd = open(logpath, O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, text, sizeof(text) - 1);
    assert_true(n >= 0);
    text[n] = 0;
    close(fd);
    return text;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    int r = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (r != 0)
        fail_msg("log text \"%s\" does not match /%s/", text, pattern);
}

static void test_logfile_line_has_postfix_format(void **state)
{
    char pattern[256];

    msg_warn("disk %s is %d%% full", "/var", 93);
    snprintf(pattern, sizeof(pattern),
             "^[A-Z][a-z]{2} [ 1-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] mx1 "
             "postern/testprog\\[%ld\\]: warning: disk /var is 93%% full\n$",
             (long)getpid());
    assert_matches(slurp(), pattern);
    assert_string_equal(msg_progname(), "testprog");
    assert_string_equal(msg_ident(), "postern/testprog");
}

static void test_levels_have_postfix_prefixes(void **state)
{
    msg_info("plain");
    msg_warn("w");
    msg_error("e");
    char *text = slurp();
    assert_int_equal(count_lines(text), 3);
    assert_matches(text, "\\]: plain$");
    assert_matches(text, "\\]: warning: w$");
    assert_matches(text, "\\]: error: e$");
}

static void test_control_characters_are_replaced_one_line_per_call(void **state)
{
    msg_info("RCPT TO:<a@b>\r\nMAIL FROM:<forged>\ttab\x1b[31m\x7f");
    msg_info("second");
    char *text = slurp();
    assert_int_equal(count_lines(text), 2);
    assert_matches(text, "\\]: RCPT TO:<a@b>\\?\\?MAIL FROM:<forged>\\?tab\\?\\[31m\\?$");
    assert_null(strchr(text, '\r'));
    assert_null(strchr(text, '\t'));
}

static void test_overlong_message_is_one_truncated_line(void **state)
{
    static char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    msg_info("%s", big);
    msg_info("after");
    char *text = slurp();
    assert_int_equal(count_lines(text), 2);
    assert_matches(text, "\\]: after$");
    assert_true(strlen(text) < 3000);
}

static void test_ident_change_shows_in_lines(void **state)
{
    msg_set_ident("postern/submission");
    msg_info("hello");
    msg_set_ident("postern/testprog");
    char pattern[128];
    snprintf(pattern, sizeof(pattern), " postern/submission\\[%ld\\]: hello$", (long)getpid());
    assert_matches(slurp(), pattern);
}

static void test_logging_preserves_errno(void **state)
{
    errno = EACCES;
    msg_info("x");
    assert_int_equal(errno, EACCES);
}

static void test_percent_m_prints_errno_text(void **state)
{
    errno = ENOENT;
    msg_warn("open: %m");
    assert_matches(slurp(), "warning: open: No such file or directory$");
}

static void cleanup_marker(void)
{
    int fd = open(marker, O_WRONLY | O_CREAT, 0600);
    if (fd >= 0)
        close(fd);
}

static void test_fatal_logs_runs_cleanup_and_exits_1(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        msg_set_cleanup(cleanup_marker);
        msg_fatal("cannot go on: %s", "reason");
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "testprog\\[%ld\\]: fatal: cannot go on: reason$",
             (long)pid);
    assert_matches(slurp(), pattern);
    assert_int_equal(access(marker, F_OK), 0);
}

static void test_fatal_status_exits_with_that_status_after_cleanup(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        msg_set_cleanup(cleanup_marker);
        msg_fatal_status(75, "try later: %s", "disk full"); /* EX_TEMPFAIL */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 75);
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "testprog\\[%ld\\]: fatal: try later: disk full$",
             (long)pid);
    assert_matches(slurp(), pattern);
    assert_int_equal(access(marker, F_OK), 0);
}

static void test_stderr_line_names_program_and_level(void **state)
{
    int p[2];
    char got[256];

    assert_int_equal(pipe(p), 0);
    fflush(stderr);
    int saved = dup(2);
    assert_int_equal(dup2(p[1], 2), 2);
    msg_set_stderr(1);
    msg_warn("on stderr");
    fflush(stderr);
    msg_set_stderr(0);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    close(p[1]);
    ssize_t n = read(p[0], got, sizeof(got) - 1);
    assert_true(n > 0);
    got[n] = 0;
    close(p[0]);
    assert_string_equal(got, "testprog: warning: on stderr\n");
}

static void test_init_with_own_progname_keeps_it(void **state)
{
    (void)state;
    msg_init("/usr/libexec/postern/smtpd");
    msg_init(msg_progname()); /* the skeleton does this via mail_log_setup */
    assert_string_equal(msg_progname(), "smtpd");
    assert_string_equal(msg_ident(), "postern/smtpd");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_logfile_line_has_postfix_format),
        T(test_levels_have_postfix_prefixes),
        T(test_control_characters_are_replaced_one_line_per_call),
        T(test_overlong_message_is_one_truncated_line),
        T(test_ident_change_shows_in_lines),
        T(test_logging_preserves_errno),
        T(test_percent_m_prints_errno_text),
        T(test_fatal_logs_runs_cleanup_and_exits_1),
        T(test_fatal_status_exits_with_that_status_after_cleanup),
        T(test_stderr_line_names_program_and_level),
        T(test_init_with_own_progname_keeps_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
