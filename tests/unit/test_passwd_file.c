/* test_passwd_file - Dovecot passwd-file parsing: the fields, comments and
 * empty lines, CRLF, each kind of malformed line skipped with a warning
 * that names file and line, duplicates, and the reload of a changed,
 * removed or unreadable file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/passwd_file.h"
#include "util/alloc.h"

static const char *find_warning(const struct argv *w, const char *part)
{
    for (size_t i = 0; i < w->argc; i++)
        if (strstr(w->argv[i], part))
            return w->argv[i];
    return NULL;
}

static void expect_warning(const struct argv *w, const char *part)
{
    if (find_warning(w, part) == NULL) {
        for (size_t i = 0; i < w->argc; i++)
            print_message("warning: %s\n", w->argv[i]);
        fail_msg("no warning mentions [%s]", part);
    }
}

static void test_fields_comments_and_empty_lines(void **state)
{
    const char text[] =
        "# users of example.com\n"
        "\n"
        "amy:{SHA512-CRYPT}$6$abc$def:1001:1001::/home/amy::userdb_quota=1G\n"
        "bob:{PLAIN}pw\n"
        "cat@example.com:$2b$05$xyz:::\r\n"
        "dan:\n"
        "eve:{ARGON2ID}$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA:::gecos:/h:/bin/sh:"
        "a=b:c\n";
    struct passwd_file_table t = {0};
    struct argv *w = argv_alloc();
    assert_int_equal(passwd_file_parse("users", text, sizeof(text) - 1, &t, w), 5);
    assert_int_equal(w->argc, 0);
    const struct passwd_file_entry *e = passwd_file_table_lookup(&t, "amy");
    assert_non_null(e);
    assert_string_equal(e->password, "{SHA512-CRYPT}$6$abc$def");
    assert_int_equal(e->line, 3);
    e = passwd_file_table_lookup(&t, "cat@example.com");
    assert_non_null(e);
    assert_string_equal(e->password, "$2b$05$xyz"); /* CR dropped */
    assert_int_equal(e->line, 5);
    e = passwd_file_table_lookup(&t, "dan");
    assert_non_null(e);
    assert_string_equal(e->password, "");
    e = passwd_file_table_lookup(&t, "eve");
    assert_non_null(e);
    assert_string_equal(e->password, "{ARGON2ID}$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA");
    assert_null(passwd_file_table_lookup(&t, "Amy"));
    assert_null(passwd_file_table_lookup(&t, "am"));
    assert_null(passwd_file_table_lookup(&t, ""));
    passwd_file_table_free(&t);
    argv_free(w);
}

static void test_malformed_lines_are_skipped_with_file_and_line(void **state)
{
    const char text[] = "good1:{PLAIN}a\n"            /* 1 */
                        "nocolon\n"                   /* 2 */
                        ":{PLAIN}x\n"                 /* 3 */
                        "bad1:{PLAIN}x:abc:1\n"       /* 4 */
                        "bad2:{PLAIN}x:1:-5\n"        /* 5 */
                        "bad3:{PLAIN}x:99999999999\n" /* 6: above 32 bits */
                        "ba\td:{PLAIN}x\n"            /* 7 */
                        "bad4:{PLAIN}x\ty\n"          /* 8 */
                        "bad5\xff:{PLAIN}x\n"         /* 9 */
                        "good2:{PLAIN}b\n"            /* 10 */
                        "bad6:{PL\0AIN}x\n"           /* 11 */
                        "   \n"                       /* 12: blanks are not a user */
                        "good3:{PLAIN}c";             /* 13: no final newline */
    struct passwd_file_table t = {0};
    struct argv *w = argv_alloc();
    assert_int_equal(passwd_file_parse("/etc/u", text, sizeof(text) - 1, &t, w), 3);
    expect_warning(w, "/etc/u:2: missing password field");
    expect_warning(w, "/etc/u:3: empty user name");
    expect_warning(w, "/etc/u:4: bad uid field");
    expect_warning(w, "/etc/u:5: bad gid field");
    expect_warning(w, "/etc/u:6: bad uid field");
    expect_warning(w, "/etc/u:7: control character in user name");
    expect_warning(w, "/etc/u:8: control character in password field");
    expect_warning(w, "/etc/u:9: user name is not valid UTF-8");
    expect_warning(w, "/etc/u:11: NUL byte");
    expect_warning(w, "/etc/u:12: missing password field");
    assert_int_equal(w->argc, 10);
    assert_non_null(passwd_file_table_lookup(&t, "good1"));
    assert_non_null(passwd_file_table_lookup(&t, "good2"));
    assert_non_null(passwd_file_table_lookup(&t, "good3"));
    assert_null(passwd_file_table_lookup(&t, "bad1"));
    assert_null(passwd_file_table_lookup(&t, "bad6"));
    passwd_file_table_free(&t);
    argv_free(w);
}

static void test_overlong_line_is_skipped(void **state)
{
    size_t n = PASSWD_FILE_LINE_MAX + 40;
    char *text = xmalloc(n + 32);
    memcpy(text, "long:{PLAIN}", 12);
    memset(text + 12, 'x', n - 12);
    memcpy(text + n, "\nshort:{PLAIN}y\n", 16);
    struct passwd_file_table t = {0};
    struct argv *w = argv_alloc();
    assert_int_equal(passwd_file_parse("f", text, n + 16, &t, w), 1);
    expect_warning(w, "f:1: line longer than");
    assert_non_null(passwd_file_table_lookup(&t, "short"));
    passwd_file_table_free(&t);
    argv_free(w);
    free(text);
}

static void test_first_line_of_a_user_wins(void **state)
{
    const char text[] = "zed:{PLAIN}z\namy:{PLAIN}first\nbob:{PLAIN}b\namy:{PLAIN}second\n";
    struct passwd_file_table t = {0};
    struct argv *w = argv_alloc();
    assert_int_equal(passwd_file_parse("f", text, sizeof(text) - 1, &t, w), 3);
    assert_string_equal(passwd_file_table_lookup(&t, "amy")->password, "{PLAIN}first");
    expect_warning(w, "f:4: user amy already listed at line 2");
    assert_non_null(passwd_file_table_lookup(&t, "zed"));
    assert_non_null(passwd_file_table_lookup(&t, "bob"));
    passwd_file_table_free(&t);
    argv_free(w);
}

/* ---- files ----------------------------------------------------------- */

static char dir[64];
static char path[128];

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_passwd_file.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/users", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static void write_file(const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    /* a new inode, as editors and install(1) make */
    assert_int_equal(rename(tmp, path), 0);
}

static void test_file_is_reread_when_it_changes(void **state)
{
    struct passwd_file *pf = passwd_file_open(path);
    struct argv *w = argv_alloc();
    struct buf why = BUF_INIT;
    write_file("amy:{SHA512-CRYPT}$6$x$y\n");
    assert_int_equal(passwd_file_refresh(pf, w, &why), 1);
    assert_non_null(passwd_file_lookup(pf, "amy"));
    assert_int_equal(passwd_file_refresh(pf, w, &why), 0);
    write_file("bob:{SHA512-CRYPT}$6$x$y\n");
    assert_int_equal(passwd_file_refresh(pf, w, &why), 1);
    assert_null(passwd_file_lookup(pf, "amy"));
    assert_non_null(passwd_file_lookup(pf, "bob"));
    assert_int_equal(w->argc, 0);
    passwd_file_close(pf);
    argv_free(w);
    buf_free(&why);
}

static void test_unknown_scheme_and_plain_are_reported_on_load(void **state)
{
    struct passwd_file *pf = passwd_file_open(path);
    struct argv *w = argv_alloc();
    struct buf why = BUF_INIT;
    write_file("amy:{PLAIN}a\nbob:{NTLM}abcdef\ncat:{CLEARTEXT}c\n");
    assert_int_equal(passwd_file_refresh(pf, w, &why), 1);
    char want[200];
    snprintf(want, sizeof(want), "%s:2: unknown password scheme {NTLM} (user bob", path);
    expect_warning(w, want);
    expect_warning(w, "PLAIN passwords are in use");
    assert_int_equal(w->argc, 2);
    /* bob is known (so no later backend decides for him) */
    assert_non_null(passwd_file_lookup(pf, "bob"));
    /* the PLAIN warning comes once per file, not once per reload */
    argv_free(w);
    w = argv_alloc();
    write_file("amy:{PLAIN}b\n");
    assert_int_equal(passwd_file_refresh(pf, w, &why), 1);
    assert_int_equal(w->argc, 0);
    passwd_file_close(pf);
    argv_free(w);
    buf_free(&why);
}

static void test_missing_file_forgets_old_contents(void **state)
{
    struct passwd_file *pf = passwd_file_open(path);
    struct argv *w = argv_alloc();
    struct buf why = BUF_INIT;
    write_file("amy:{PLAIN}a\n");
    assert_int_equal(passwd_file_refresh(pf, w, &why), 1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(passwd_file_refresh(pf, w, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "No such file"));
    assert_null(passwd_file_lookup(pf, "amy"));
    write_file("amy:{PLAIN}a\n");
    assert_int_equal(passwd_file_refresh(pf, w, &why), 1);
    assert_non_null(passwd_file_lookup(pf, "amy"));
    passwd_file_close(pf);
    argv_free(w);
    buf_free(&why);
}

static void test_directory_is_not_a_passwd_file(void **state)
{
    struct passwd_file *pf = passwd_file_open(dir);
    struct argv *w = argv_alloc();
    struct buf why = BUF_INIT;
    assert_int_equal(passwd_file_refresh(pf, w, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "not a regular file"));
    passwd_file_close(pf);
    argv_free(w);
    buf_free(&why);
}

/* unreadable_check - in a process that cannot read the file (as root: a
 * child that became nobody), the refresh must fail; exit status 0 if so */
static int unreadable_check(void)
{
    struct passwd_file *pf = passwd_file_open(path);
    struct argv *w = argv_alloc();
    struct buf why = BUF_INIT;
    int ok = passwd_file_refresh(pf, w, &why) == -1 &&
             strstr(buf_cstr(&why), "Permission denied") != NULL &&
             passwd_file_lookup(pf, "amy") == NULL;
    passwd_file_close(pf);
    argv_free(w);
    buf_free(&why);
    return ok ? 0 : 1;
}

static void test_unreadable_file_is_an_error(void **state)
{
    write_file("amy:{PLAIN}a\n");
    assert_int_equal(chmod(path, 0), 0);
    assert_int_equal(chmod(dir, 0755), 0);
    if (geteuid() != 0) {
        assert_int_equal(unreadable_check(), 0);
        return;
    }
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        _exit(unreadable_check());
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_comments_and_empty_lines),
        cmocka_unit_test(test_malformed_lines_are_skipped_with_file_and_line),
        cmocka_unit_test(test_overlong_line_is_skipped),
        cmocka_unit_test(test_first_line_of_a_user_wins),
        cmocka_unit_test_setup_teardown(test_file_is_reread_when_it_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_scheme_and_plain_are_reported_on_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_file_forgets_old_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_is_not_a_passwd_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_file_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
