/* test_mbox - mbox appends: From_ line and quoting as Postfix writes them,
 * dotlock and fcntl locking under concurrency, and rollback on failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mail/mbox.h"
#include "util/buf.h"

#define T_NOV21 ((time_t)1795266903) /* Sat Nov 21 13:15:03 2026 UTC */
#define T_NOV1  ((time_t)1793502245) /* Sun Nov  1 03:04:05 2026 UTC */

static char dir[64], mbox_path[128], lock_path[140];
static struct mbox_params params;

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/test_mbox.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(mbox_path, sizeof(mbox_path), "%s/user", dir);
    snprintf(lock_path, sizeof(lock_path), "%s.lock", mbox_path);
    mbox_params_init(&params);
    params.lock_attempts = 5;
    params.lock_delay_ms = 10;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void read_file(const char *path, struct buf *out)
{
    char tmp[65536];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    buf_reset(out);
    ssize_t r;
    while ((r = read(fd, tmp, sizeof(tmp))) > 0)
        buf_append(out, tmp, (size_t)r);
    assert_int_equal(r, 0);
    close(fd);
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void deliver(const char *sender, time_t when, const char *msg)
{
    struct buf why = BUF_INIT;
    struct mbox *mb;
    int rc = mbox_open(&mb, mbox_path, &params, &why);
    if (rc != 0)
        fail_msg("mbox_open: %s", buf_cstr(&why));
    assert_int_equal(mbox_write_message(mb, sender, when, msg, strlen(msg), &why), 0);
    assert_int_equal(mbox_commit(mb, &why), 0);
    buf_free(&why);
}

static void test_from_line_has_postfix_asctime_format(void **state)
{
    struct buf line = BUF_INIT;
    mbox_from_line(&line, "alice@example.com", T_NOV21);
    assert_string_equal(buf_cstr(&line), "From alice@example.com  Sat Nov 21 13:15:03 2026\n");
    mbox_from_line(&line, "bob@example.com", T_NOV1);
    assert_string_equal(buf_cstr(&line), "From bob@example.com  Sun Nov  1 03:04:05 2026\n");
    buf_free(&line);
}

static void test_null_sender_is_mailer_daemon(void **state)
{
    struct buf line = BUF_INIT;
    mbox_from_line(&line, "", T_NOV21);
    assert_string_equal(buf_cstr(&line), "From MAILER-DAEMON  Sat Nov 21 13:15:03 2026\n");
    buf_free(&line);
}

static void test_control_characters_in_sender_cannot_break_the_from_line(void **state)
{
    struct buf line = BUF_INIT;
    mbox_from_line(&line, "a\nFrom b\r@x", T_NOV21);
    assert_string_equal(buf_cstr(&line), "From a?From b?@x  Sat Nov 21 13:15:03 2026\n");
    buf_free(&line);
}

static void test_message_is_quoted_terminated_and_separated(void **state)
{
    struct buf got = BUF_INIT;
    deliver("a@example.com", T_NOV21,
            "From: a@example.com\nSubject: x\n\nFrom here on\nnot From here\n>From old\n"
            "Fromage\nFrom");
    read_file(mbox_path, &got);
    assert_string_equal(buf_cstr(&got), "From a@example.com  Sat Nov 21 13:15:03 2026\n"
                                        "From: a@example.com\nSubject: x\n\n>From here on\n"
                                        "not From here\n>From old\nFromage\nFrom\n\n");
    buf_free(&got);
}

static void test_quoting_works_across_piece_boundaries(void **state)
{
    struct buf why = BUF_INIT, got = BUF_INIT;
    const char msg[] = "Subject: y\n\nFrom a\nFrox\nFrom b";
    struct mbox *mb;

    assert_int_equal(mbox_open(&mb, mbox_path, &params, &why), 0);
    assert_int_equal(mbox_begin(mb, "s@example.com", T_NOV21, &why), 0);
    for (size_t i = 0; i < strlen(msg); i++)
        assert_int_equal(mbox_write(mb, msg + i, 1, &why), 0);
    assert_int_equal(mbox_end(mb, &why), 0);
    assert_int_equal(mbox_commit(mb, &why), 0);
    read_file(mbox_path, &got);
    assert_string_equal(buf_cstr(&got), "From s@example.com  Sat Nov 21 13:15:03 2026\n"
                                        "Subject: y\n\n>From a\nFrox\n>From b\n\n");
    buf_free(&why);
    buf_free(&got);
}

static void test_two_messages_are_appended(void **state)
{
    struct buf got = BUF_INIT;
    deliver("", T_NOV21, "Subject: one\n\n1\n");
    deliver("b@example.com", T_NOV1, "Subject: two\n\n2\n");
    read_file(mbox_path, &got);
    assert_string_equal(buf_cstr(&got), "From MAILER-DAEMON  Sat Nov 21 13:15:03 2026\n"
                                        "Subject: one\n\n1\n\n"
                                        "From b@example.com  Sun Nov  1 03:04:05 2026\n"
                                        "Subject: two\n\n2\n\n");
    struct stat st;
    assert_int_equal(lstat(lock_path, &st), -1);
    assert_int_equal(errno, ENOENT);
    buf_free(&got);
}

static void test_new_mailbox_is_created_with_mode(void **state)
{
    struct stat st;
    deliver("a@b", T_NOV21, "x\n");
    assert_int_equal(stat(mbox_path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_abort_truncates_to_original_size(void **state)
{
    struct buf why = BUF_INIT, got = BUF_INIT;
    const char orig[] = "From x  Sat Nov 21 13:15:03 2026\nold\n\n";
    struct mbox *mb;

    write_file(mbox_path, orig);
    assert_int_equal(mbox_open(&mb, mbox_path, &params, &why), 0);
    assert_int_equal(mbox_begin(mb, "a@b", T_NOV21, &why), 0);
    /* Enough to have been flushed to the file before the abort. */
    char *blob = malloc(300000);
    assert_non_null(blob);
    memset(blob, 'z', 300000);
    assert_int_equal(mbox_write(mb, blob, 300000, &why), 0);
    struct stat st;
    assert_int_equal(stat(mbox_path, &st), 0);
    assert_true(st.st_size > (off_t)strlen(orig));
    mbox_abort(mb);

    read_file(mbox_path, &got);
    assert_string_equal(buf_cstr(&got), orig);
    assert_int_equal(lstat(lock_path, &st), -1);
    free(blob);
    buf_free(&why);
    buf_free(&got);
}

/* A write that fails half-way (here: the file size limit) must leave the
 * mailbox exactly as it was, and is a permanent "mailbox full" error. */
static void test_failed_write_rolls_back_to_original_size(void **state)
{
    const char orig[] = "From x  Sat Nov 21 13:15:03 2026\nold\n\n";
    write_file(mbox_path, orig);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct buf why = BUF_INIT;
        struct rlimit rl = {5000, 5000};
        static char big[200000];
        struct mbox *mb;
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(2);
        if (mbox_open(&mb, mbox_path, &params, &why) != 0)
            _exit(3);
        memset(big, 'q', sizeof(big));
        if (mbox_begin(mb, "a@b", T_NOV21, &why) != 0)
            _exit(4);
        int rc = mbox_write(mb, big, sizeof(big), &why);
        _exit(rc == MBOX_BOUNCE && strstr(buf_cstr(&why), "cannot write mailbox") ? 0 : 5);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
    struct buf got = BUF_INIT;
    read_file(mbox_path, &got);
    assert_string_equal(buf_cstr(&got), orig);
    struct stat st;
    assert_int_equal(lstat(lock_path, &st), -1);
    buf_free(&got);
}

#define CHILDREN   4
#define PER_CHILD  50
#define BODY_LINES 6000 /* about 175 KB: several writes per message */

static void child_deliveries(int c)
{
    struct buf why = BUF_INIT, line = BUF_INIT;
    params.lock_attempts = 5000;
    params.lock_delay_ms = 2;
    for (int m = 0; m < PER_CHILD; m++) {
        struct mbox *mb;
        if (mbox_open(&mb, mbox_path, &params, &why) != 0)
            _exit(10);
        if (mbox_begin(mb, "c@example.com", T_NOV21, &why) != 0)
            _exit(11);
        for (int k = 0; k < BODY_LINES; k++) {
            buf_reset(&line);
            buf_printf(&line, "child %d message %d line %d\n", c, m, k);
            if (mbox_write(mb, line.data, line.len, &why) != 0)
                _exit(12);
        }
        if (mbox_end(mb, &why) != 0 || mbox_commit(mb, &why) != 0)
            _exit(13);
    }
    _exit(0);
}

static void test_concurrent_deliveries_are_never_interleaved(void **state)
{
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0)
            child_deliveries(c);
    }
    for (int c = 0; c < CHILDREN; c++) {
        int ws;
        assert_int_equal(waitpid(pids[c], &ws, 0), pids[c]);
        assert_true(WIFEXITED(ws));
        assert_int_equal(WEXITSTATUS(ws), 0);
    }

    struct buf got = BUF_INIT;
    read_file(mbox_path, &got);
    const char *from_line = "From c@example.com  Sat Nov 21 13:15:03 2026\n";
    int next[CHILDREN] = {0};
    int messages = 0;
    char *cp = got.data, *end = got.data + got.len;
    char want[80];
    while (cp < end) {
        if (strncmp(cp, from_line, strlen(from_line)) != 0)
            fail_msg("message %d does not start with the From_ line", messages);
        cp += strlen(from_line);
        int c, m;
        if (sscanf(cp, "child %d message %d line 0\n", &c, &m) != 2 || c < 0 || c >= CHILDREN)
            fail_msg("message %d has no first body line", messages);
        /* Each child's messages arrive in its own order, each one whole. */
        assert_int_equal(m, next[c]);
        next[c]++;
        for (int k = 0; k < BODY_LINES; k++) {
            int n = snprintf(want, sizeof(want), "child %d message %d line %d\n", c, m, k);
            if (end - cp < n || memcmp(cp, want, (size_t)n) != 0)
                fail_msg("message %d of child %d broken at line %d", m, c, k);
            cp += n;
        }
        if (cp >= end || *cp != '\n')
            fail_msg("message %d of child %d lacks the empty separator line", m, c);
        cp++;
        messages++;
    }
    assert_int_equal(messages, CHILDREN * PER_CHILD);
    for (int c = 0; c < CHILDREN; c++)
        assert_int_equal(next[c], PER_CHILD);
    buf_free(&got);
}

static void test_stale_dotlock_is_removed(void **state)
{
    struct buf got = BUF_INIT;
    write_file(lock_path, "");
    struct timeval tv[2];
    gettimeofday(&tv[0], NULL);
    tv[0].tv_sec -= params.stale_lock_time + 100;
    tv[1] = tv[0];
    assert_int_equal(utimes(lock_path, tv), 0);

    deliver("a@b", T_NOV21, "x\n");
    read_file(mbox_path, &got);
    assert_string_equal(buf_cstr(&got), "From a@b  Sat Nov 21 13:15:03 2026\nx\n\n");
    struct stat st;
    assert_int_equal(lstat(lock_path, &st), -1);
    buf_free(&got);
}

static void test_fresh_dotlock_makes_open_fail_temporarily(void **state)
{
    struct buf why = BUF_INIT;
    struct mbox *mb = (struct mbox *)1;
    struct timespec t0, t1;

    write_file(lock_path, "");
    params.lock_attempts = 4;
    params.lock_delay_ms = 20;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(mbox_open(&mb, mbox_path, &params, &why), MBOX_DEFER);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_null(mb);
    assert_non_null(strstr(buf_cstr(&why), lock_path));
    assert_non_null(strstr(buf_cstr(&why), "mailbox is locked"));
    /* Three pauses of 20 ms between four attempts, and not much more. */
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_in_range(ms, 55, 2000);
    /* Someone else's lock stays; no mailbox was created under it. */
    struct stat st;
    assert_int_equal(lstat(lock_path, &st), 0);
    assert_int_equal(lstat(mbox_path, &st), -1);
    buf_free(&why);
}

static void test_fcntl_lock_held_elsewhere_makes_open_fail_temporarily(void **state)
{
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    write_file(mbox_path, "");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(mbox_path, O_WRONLY);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);

    struct buf why = BUF_INIT;
    struct mbox *mb;
    params.locks = MBOX_LOCK_FCNTL | MBOX_LOCK_DOTLOCK;
    assert_int_equal(mbox_open(&mb, mbox_path, &params, &why), MBOX_DEFER);
    assert_non_null(strstr(buf_cstr(&why), "cannot lock mailbox"));
    /* The dotlock we took is given back when the fcntl lock is not had. */
    struct stat st;
    assert_int_equal(lstat(lock_path, &st), -1);

    kill(pid, SIGTERM);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    close(ready[0]);
    close(ready[1]);
    buf_free(&why);
}

static void test_symlinked_mailbox_is_refused(void **state)
{
    struct buf why = BUF_INIT, got = BUF_INIT;
    char target[160];
    struct mbox *mb;

    snprintf(target, sizeof(target), "%s/target", dir);
    write_file(target, "keep\n");
    assert_int_equal(symlink(target, mbox_path), 0);
    assert_int_equal(mbox_open(&mb, mbox_path, &params, &why), MBOX_BOUNCE);
    assert_non_null(strstr(buf_cstr(&why), "is a symbolic link"));
    read_file(target, &got);
    assert_string_equal(buf_cstr(&got), "keep\n");
    struct stat st;
    assert_int_equal(lstat(lock_path, &st), -1);
    buf_free(&why);
    buf_free(&got);
}

static void test_hard_linked_mailbox_is_refused(void **state)
{
    struct buf why = BUF_INIT;
    char other[160];
    struct mbox *mb;

    snprintf(other, sizeof(other), "%s/other", dir);
    write_file(mbox_path, "");
    assert_int_equal(link(mbox_path, other), 0);
    assert_int_equal(mbox_open(&mb, mbox_path, &params, &why), MBOX_BOUNCE);
    assert_non_null(strstr(buf_cstr(&why), "hard links"));
    buf_free(&why);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_from_line_has_postfix_asctime_format),
        T(test_null_sender_is_mailer_daemon),
        T(test_control_characters_in_sender_cannot_break_the_from_line),
        T(test_message_is_quoted_terminated_and_separated),
        T(test_quoting_works_across_piece_boundaries),
        T(test_two_messages_are_appended),
        T(test_new_mailbox_is_created_with_mode),
        T(test_abort_truncates_to_original_size),
        T(test_failed_write_rolls_back_to_original_size),
        T(test_concurrent_deliveries_are_never_interleaved),
        T(test_stale_dotlock_is_removed),
        T(test_fresh_dotlock_makes_open_fail_temporarily),
        T(test_fcntl_lock_held_elsewhere_makes_open_fail_temporarily),
        T(test_symlinked_mailbox_is_refused),
        T(test_hard_linked_mailbox_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
