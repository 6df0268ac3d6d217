/* test_iostuff - descriptor flags, full reads and writes over a socketpair,
 * timeouts, EOF reporting and fsync_dir. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/iostuff.h"

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void test_flags_are_set_and_cleared(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(set_nonblock(p[0], 1), 0);
    assert_true(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(set_nonblock(p[0], 0), 0);
    assert_false(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    assert_int_equal(set_cloexec(p[0], 1), 0);
    assert_true(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(set_cloexec(p[0], 0), 0);
    assert_false(fcntl(p[0], F_GETFD) & FD_CLOEXEC);
    close(p[0]);
    close(p[1]);
    assert_int_equal(set_nonblock(p[0], 1), -1);
    assert_int_equal(errno, EBADF);
}

static void test_write_full_and_read_full_move_all_bytes(void **state)
{
    int sv[2];
    static char out[300000], in[300000];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (char)(i * 7);
    /* More than the socket buffer holds: the writer must wait for the reader. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        _exit(write_full(sv[1], out, sizeof(out), 5) == 0 ? 0 : 1);
    }
    close(sv[1]);
    int eof = -1;
    assert_int_equal(read_full(sv[0], in, sizeof(in), 5, &eof), 0);
    assert_int_equal(eof, 0);
    assert_memory_equal(in, out, sizeof(out));
    /* The writer is done and gone: the next read sees EOF. */
    char c;
    assert_int_equal(read_full(sv[0], &c, 1, 5, &eof), -1);
    assert_int_equal(eof, 1);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(sv[0]);
}

static void test_read_from_silent_peer_times_out(void **state)
{
    int sv[2];
    char c;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    long start = mono_ms();
    assert_int_equal(timed_read(sv[0], &c, 1, 1), -1);
    assert_int_equal(errno, ETIMEDOUT);
    long took = mono_ms() - start;
    assert_in_range(took, 900, 2000);

    start = mono_ms();
    assert_int_equal(read_full(sv[0], &c, 1, 1, NULL), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_in_range(mono_ms() - start, 900, 2000);
    assert_int_equal(read_wait(sv[0], 0), -1);
    assert_int_equal(errno, ETIMEDOUT);
    close(sv[0]);
    close(sv[1]);
}

static void test_write_to_full_peer_times_out(void **state)
{
    int sv[2];
    static char big[4 * 1024 * 1024];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    long start = mono_ms();
    assert_int_equal(write_full(sv[0], big, sizeof(big), 1), -1);
    assert_int_equal(errno, ETIMEDOUT);
    assert_in_range(mono_ms() - start, 900, 2000);
    close(sv[0]);
    close(sv[1]);
}

static void test_waits_report_ready_descriptors(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(write_wait(sv[0], 0), 0);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(read_wait(sv[0], 0), 0);
    char c;
    assert_int_equal(timed_read(sv[0], &c, 1, 1), 1);
    assert_int_equal(c, 'x');
    close(sv[1]);
    assert_int_equal(timed_read(sv[0], &c, 1, 1), 0); /* EOF */
    close(sv[0]);
}

static void test_fsync_dir_syncs_parent_directory(void **state)
{
    char dir[64], path[128];
    snprintf(dir, sizeof(dir), "/tmp/test_iostuff.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/file", dir);
    assert_int_equal(fsync_dir(path), 0);
    assert_int_equal(fsync_dir("relative-name"), 0); /* the current directory */
    assert_int_equal(fsync_dir("/vmlinuz-no-such-dir-xyz/file"), -1);
    assert_int_equal(errno, ENOENT);
    snprintf(path, sizeof(path), "%s/missing/file", dir);
    assert_int_equal(fsync_dir(path), -1);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_are_set_and_cleared),
        cmocka_unit_test(test_write_full_and_read_full_move_all_bytes),
        cmocka_unit_test(test_read_from_silent_peer_times_out),
        cmocka_unit_test(test_write_to_full_peer_times_out),
        cmocka_unit_test(test_waits_report_ready_descriptors),
        cmocka_unit_test(test_fsync_dir_syncs_parent_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
