/* test_master_pid - the master lock: one holder, its PID readable by others,
 * and nothing running once the lock is gone. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mail/master_pid.h"

static char qdir[64];
static char piddir[PATH_MAX];
static char pidfile[PATH_MAX];

static int setup(void **state)
{
    snprintf(qdir, sizeof(qdir), "/tmp/test_master_pid.XXXXXX");
    if (mkdtemp(qdir) == NULL)
        return -1;
    snprintf(piddir, sizeof(piddir), "%s/pid", qdir);
    snprintf(pidfile, sizeof(pidfile), "%s/%s", qdir, MASTER_PID_FILE);
    return mkdir(piddir, 0755);
}

static int teardown(void **state)
{
    unlink(pidfile);
    rmdir(piddir);
    rmdir(qdir);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static void test_lock_writes_our_pid_and_is_reported_as_running(void **state)
{
    struct buf why = BUF_INIT;
    char text[64] = "", want[64];

    mode_t old_umask = umask(077);
    int fd = master_pid_lock(qdir, &why);
    umask(old_umask);
    assert_true(fd >= 0);
    assert_int_equal(why.len, 0);

    FILE *fp = fopen(pidfile, "r");
    assert_non_null(fp);
    assert_non_null(fgets(text, sizeof(text), fp));
    fclose(fp);
    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    assert_string_equal(text, want);

    struct stat st;
    assert_int_equal(stat(pidfile, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    assert_int_equal(master_pid_running(qdir, &why), getpid());

    close(fd);
    assert_int_equal(master_pid_running(qdir, &why), 0);
    assert_int_equal(why.len, 0);
    buf_free(&why);
}

static void test_stale_pid_from_a_dead_master_is_not_running(void **state)
{
    struct buf why = BUF_INIT;

    write_file(pidfile, "12345\n");
    assert_int_equal(master_pid_running(qdir, &why), 0);
    assert_int_equal(why.len, 0);
    buf_free(&why);
}

static void test_second_lock_in_another_process_fails_with_holder_pid(void **state)
{
    struct buf why = BUF_INIT;
    int fd = master_pid_lock(qdir, &why);
    int pipefd[2];

    assert_true(fd >= 0);
    assert_int_equal(pipe(pipefd), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct buf cwhy = BUF_INIT;
        char expect[64], report[256];
        close(fd); /* the child must not count as the holder through a shared descriptor */
        int cfd = master_pid_lock(qdir, &cwhy);
        int err = errno;
        snprintf(expect, sizeof(expect), "already running (PID %ld)", (long)getppid());
        int n = snprintf(report, sizeof(report), "%d %d %s|%s", cfd, err == EWOULDBLOCK,
                         buf_cstr(&cwhy), expect);
        if (write(pipefd[1], report, (size_t)n) != n)
            _exit(2);
        _exit(cfd < 0 && err == EWOULDBLOCK && strcmp(buf_cstr(&cwhy), expect) == 0 ? 0 : 1);
    }
    close(pipefd[1]);
    char report[256] = "";
    ssize_t n = read(pipefd[0], report, sizeof(report) - 1);
    assert_true(n > 0);
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("second lock did not fail as expected: %s", report);

    /* The file still names the holder: the loser must not have truncated it. */
    assert_int_equal(master_pid_running(qdir, &why), getpid());
    close(fd);
    buf_free(&why);
}

static void test_lock_held_by_child_process_reports_child_pid(void **state)
{
    struct buf why = BUF_INIT;
    int ready[2], done[2];

    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(done), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct buf cwhy = BUF_INIT;
        char c = 'x';
        close(done[1]); /* else the read below never sees end of file */
        close(ready[0]);
        int cfd = master_pid_lock(qdir, &cwhy);
        if (cfd < 0)
            c = 'f';
        if (write(ready[1], &c, 1) != 1)
            _exit(2);
        if (read(done[0], &c, 1) < 0)
            _exit(2);
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    char c = 0;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    assert_int_equal(master_pid_running(qdir, &why), child);

    /* The lock goes with the process: no stop file to clean up. */
    close(done[1]);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(master_pid_running(qdir, &why), 0);
    close(ready[0]);
    buf_free(&why);
}

static void test_missing_pid_file_is_not_running(void **state)
{
    struct buf why = BUF_INIT;

    assert_int_equal(master_pid_running(qdir, &why), 0);
    assert_int_equal(why.len, 0);
    buf_free(&why);
}

static void test_missing_pid_directory_is_not_running_but_cannot_lock(void **state)
{
    struct buf why = BUF_INIT;

    assert_int_equal(rmdir(piddir), 0);
    assert_int_equal(master_pid_running(qdir, &why), 0);
    assert_int_equal(master_pid_lock(qdir, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), pidfile));
    assert_int_equal(mkdir(piddir, 0755), 0);
    buf_free(&why);
}

static void test_garbage_in_locked_pid_file_is_an_error(void **state)
{
    struct buf why = BUF_INIT;
    int fd = open(pidfile, O_RDWR | O_CREAT | O_TRUNC, 0644);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "12x4\n", 5), 5);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    /* flock is per open file description, so this process's own second
     * open conflicts just like another process would. */
    assert_int_equal(master_pid_running(qdir, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "does not hold a PID"));

    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "-5\n", 3, 0), 3);
    assert_int_equal(master_pid_running(qdir, &why), -1);

    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, "99999999999999999999\n", 21, 0), 21);
    assert_int_equal(master_pid_running(qdir, &why), -1);

    char big[200];
    memset(big, '1', sizeof(big));
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, big, sizeof(big), 0), (ssize_t)sizeof(big));
    assert_int_equal(master_pid_running(qdir, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "too long"));

    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(master_pid_running(qdir, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "empty"));
    close(fd);
    buf_free(&why);
}

static void test_symlink_pid_file_is_refused(void **state)
{
    struct buf why = BUF_INIT;
    char target[PATH_MAX];

    snprintf(target, sizeof(target), "%s/elsewhere", qdir);
    write_file(target, "");
    assert_int_equal(symlink(target, pidfile), 0);
    assert_int_equal(master_pid_lock(qdir, &why), -1);
    assert_int_equal(master_pid_running(qdir, &why), -1);

    struct stat st;
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_size, 0);
    unlink(target);
    buf_free(&why);
}

static void test_fifo_pid_file_is_refused_without_hanging(void **state)
{
    struct buf why = BUF_INIT;

    assert_int_equal(mkfifo(pidfile, 0644), 0);
    assert_int_equal(master_pid_running(qdir, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "not a regular file"));
    assert_int_equal(master_pid_lock(qdir, &why), -1);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lock_writes_our_pid_and_is_reported_as_running, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stale_pid_from_a_dead_master_is_not_running, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_second_lock_in_another_process_fails_with_holder_pid,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_held_by_child_process_reports_child_pid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_pid_file_is_not_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_pid_directory_is_not_running_but_cannot_lock,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_in_locked_pid_file_is_an_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_symlink_pid_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_pid_file_is_refused_without_hanging, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
