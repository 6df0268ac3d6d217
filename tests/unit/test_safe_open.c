/* test_safe_open - links, non-regular files, ownership, exclusive creation
 * and open-or-create, each refused or accepted with a reason naming the path. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/safe_open.h"

static char dir[64], path[128], other[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/test_safe_open.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/file", dir);
    snprintf(other, sizeof(other), "%s/other", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    rmdir(path);
    unlink(other);
    rmdir(dir);
    return 0;
}

static void make_file(const char *p, const char *content)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
}

static void assert_reason(const struct buf *why, const char *words)
{
    if (strstr(buf_cstr(why), words) == NULL || strstr(buf_cstr(why), path) == NULL)
        fail_msg("reason \"%s\" should name %s and say \"%s\"", buf_cstr(why), path, words);
}

static void test_existing_regular_file_is_opened(void **state)
{
    struct buf why = BUF_INIT;
    struct stat st;
    char got[8];

    make_file(path, "hello");
    int fd = safe_open(path, O_RDONLY, 0, &st, SAFE_OPEN_ANY_USER, SAFE_OPEN_ANY_GROUP, &why);
    assert_true(fd >= 0);
    assert_int_equal(st.st_size, 5);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(read(fd, got, sizeof(got)), 5);
    assert_memory_equal(got, "hello", 5);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
    close(fd);
    buf_free(&why);
}

static void test_symlink_is_refused(void **state)
{
    struct buf why = BUF_INIT;

    make_file(other, "target");
    assert_int_equal(symlink(other, path), 0);
    assert_int_equal(
        safe_open(path, O_RDWR, 0, NULL, SAFE_OPEN_ANY_USER, SAFE_OPEN_ANY_GROUP, &why), -1);
    assert_reason(&why, "symbolic link");
    /* Open-or-create must not follow it either, nor create the target. */
    assert_int_equal(safe_open(path, O_RDWR | O_CREAT, 0600, NULL, SAFE_OPEN_ANY_USER,
                               SAFE_OPEN_ANY_GROUP, &why),
                     -1);
    assert_reason(&why, "symbolic link");
    buf_free(&why);
}

static void test_dangling_symlink_is_not_followed_on_create(void **state)
{
    struct buf why = BUF_INIT;

    assert_int_equal(symlink(other, path), 0); /* other does not exist */
    assert_int_equal(safe_open(path, O_WRONLY | O_CREAT, 0600, NULL, SAFE_OPEN_ANY_USER,
                               SAFE_OPEN_ANY_GROUP, &why),
                     -1);
    assert_int_equal(access(other, F_OK), -1);
    assert_int_equal(safe_open(path, O_WRONLY | O_CREAT | O_EXCL, 0600, NULL, SAFE_OPEN_ANY_USER,
                               SAFE_OPEN_ANY_GROUP, &why),
                     -1);
    assert_int_equal(access(other, F_OK), -1);
    buf_free(&why);
}

static void test_hard_linked_file_is_refused(void **state)
{
    struct buf why = BUF_INIT;
    struct stat st;

    make_file(other, "secret");
    assert_int_equal(link(other, path), 0);
    assert_int_equal(
        safe_open(path, O_WRONLY | O_TRUNC, 0, NULL, SAFE_OPEN_ANY_USER, SAFE_OPEN_ANY_GROUP, &why),
        -1);
    assert_reason(&why, "2 hard links");
    /* O_TRUNC must not have touched the file before the check refused it. */
    assert_int_equal(stat(other, &st), 0);
    assert_int_equal(st.st_size, 6);
    buf_free(&why);
}

static void test_directory_is_refused(void **state)
{
    struct buf why = BUF_INIT;

    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(
        safe_open(path, O_RDONLY, 0, NULL, SAFE_OPEN_ANY_USER, SAFE_OPEN_ANY_GROUP, &why), -1);
    assert_reason(&why, "not a regular file");
    assert_int_equal(safe_open(path, O_RDONLY | O_CREAT, 0600, NULL, SAFE_OPEN_ANY_USER,
                               SAFE_OPEN_ANY_GROUP, &why),
                     -1);
    buf_free(&why);
}

static void test_fifo_is_refused_without_blocking(void **state)
{
    struct buf why = BUF_INIT;

    assert_int_equal(mkfifo(path, 0600), 0);
    /* A blocking open of a FIFO with no writer would hang here. */
    assert_int_equal(
        safe_open(path, O_RDONLY, 0, NULL, SAFE_OPEN_ANY_USER, SAFE_OPEN_ANY_GROUP, &why), -1);
    assert_reason(&why, "not a regular file");
    buf_free(&why);
}

static void test_create_exclusive_makes_new_file_and_fails_on_existing(void **state)
{
    struct buf why = BUF_INIT;
    struct stat st;

    int fd = safe_open(path, O_WRONLY | O_CREAT | O_EXCL, 0640, &st, SAFE_OPEN_ANY_USER,
                       SAFE_OPEN_ANY_GROUP, &why);
    assert_true(fd >= 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 0);
    close(fd);
    assert_int_equal(safe_open(path, O_WRONLY | O_CREAT | O_EXCL, 0640, NULL, SAFE_OPEN_ANY_USER,
                               SAFE_OPEN_ANY_GROUP, &why),
                     -1);
    assert_int_equal(errno, EEXIST);
    assert_reason(&why, "create");
    buf_free(&why);
}

static void test_open_or_create_creates_then_reopens(void **state)
{
    struct buf why = BUF_INIT;
    struct stat st1, st2;

    int fd = safe_open(path, O_WRONLY | O_CREAT | O_APPEND, 0600, &st1, SAFE_OPEN_ANY_USER,
                       SAFE_OPEN_ANY_GROUP, &why);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    fd = safe_open(path, O_WRONLY | O_CREAT | O_APPEND, 0600, &st2, SAFE_OPEN_ANY_USER,
                   SAFE_OPEN_ANY_GROUP, &why);
    assert_true(fd >= 0);
    assert_int_equal(st1.st_ino, st2.st_ino);
    assert_int_equal(st2.st_size, 3);
    close(fd);
    buf_free(&why);
}

static void test_trunc_empties_file_after_checks(void **state)
{
    struct buf why = BUF_INIT;
    struct stat st;

    make_file(path, "old content");
    int fd =
        safe_open(path, O_WRONLY | O_TRUNC, 0, &st, SAFE_OPEN_ANY_USER, SAFE_OPEN_ANY_GROUP, &why);
    assert_true(fd >= 0);
    assert_int_equal(st.st_size, 0);
    close(fd);
    buf_free(&why);
}

static void test_missing_file_without_create_fails(void **state)
{
    struct buf why = BUF_INIT;

    assert_int_equal(
        safe_open(path, O_RDONLY, 0, NULL, SAFE_OPEN_ANY_USER, SAFE_OPEN_ANY_GROUP, &why), -1);
    assert_int_equal(errno, ENOENT);
    assert_reason(&why, "cannot open");
    buf_free(&why);
}

static void test_owner_and_group_are_checked(void **state)
{
    struct buf why = BUF_INIT;

    make_file(path, "x");
    int fd = safe_open(path, O_RDONLY, 0, NULL, getuid(), getgid(), &why);
    assert_true(fd >= 0);
    close(fd);
    if (getuid() != 0) {
        print_message("skipped: changing a file's owner needs root (running as uid %lu)\n",
                      (unsigned long)getuid());
        buf_free(&why);
        skip();
    }
    assert_int_equal(chown(path, 12345, 23456), 0);
    assert_int_equal(safe_open(path, O_RDONLY, 0, NULL, 0, SAFE_OPEN_ANY_GROUP, &why), -1);
    assert_reason(&why, "wrong owner");
    assert_int_equal(safe_open(path, O_RDONLY, 0, NULL, 12345, 0, &why), -1);
    assert_reason(&why, "wrong group");
    fd = safe_open(path, O_RDONLY, 0, NULL, 12345, 23456, &why);
    assert_true(fd >= 0);
    close(fd);
    buf_free(&why);
}

static void test_create_sets_requested_owner(void **state)
{
    struct buf why = BUF_INIT;
    struct stat st;

    if (getuid() != 0) {
        print_message("skipped: giving a file away needs root (running as uid %lu)\n",
                      (unsigned long)getuid());
        skip();
    }
    int fd = safe_open(path, O_WRONLY | O_CREAT, 0600, &st, 12345, 23456, &why);
    assert_true(fd >= 0);
    assert_int_equal(st.st_uid, 12345);
    assert_int_equal(st.st_gid, 23456);
    close(fd);
    /* Reopening with the same owner succeeds; with another, it does not. */
    fd = safe_open(path, O_WRONLY | O_CREAT, 0600, NULL, 12345, 23456, &why);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(safe_open(path, O_WRONLY | O_CREAT, 0600, NULL, 0, 0, &why), -1);
    assert_reason(&why, "wrong owner");
    buf_free(&why);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_existing_regular_file_is_opened),
        T(test_symlink_is_refused),
        T(test_dangling_symlink_is_not_followed_on_create),
        T(test_hard_linked_file_is_refused),
        T(test_directory_is_refused),
        T(test_fifo_is_refused_without_blocking),
        T(test_create_exclusive_makes_new_file_and_fails_on_existing),
        T(test_open_or_create_creates_then_reopens),
        T(test_trunc_empties_file_after_checks),
        T(test_missing_file_without_create_fails),
        T(test_owner_and_group_are_checked),
        T(test_create_sets_requested_owner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
