/* test_maildir - Maildir delivery: one durable file in new/, nothing left in
 * tmp/, unique names, no symlinks followed, and every failure cleaned up. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mail/maildir.h"
#include "util/buf.h"

static char top[64];
static char md[128];

static int setup(void **state)
{
    snprintf(top, sizeof(top), "/tmp/test_maildir.XXXXXX");
    if (mkdtemp(top) == NULL)
        return -1;
    snprintf(md, sizeof(md), "%s/Maildir", top);
    return 0;
}

static int teardown(void **state)
{
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

/* Number of entries in md/sub (-1: cannot read); the last name into last. */
static int count_entries(const char *sub, char *last, size_t lastsz)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/%s", md, sub);
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (last)
            snprintf(last, lastsz, "%s", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static void read_file(const char *path, struct buf *out)
{
    char tmp[4096];
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    buf_reset(out);
    ssize_t r;
    while ((r = read(fd, tmp, sizeof(tmp))) > 0)
        buf_append(out, tmp, (size_t)r);
    assert_int_equal(r, 0);
    close(fd);
}

static void test_delivery_puts_exactly_one_file_in_new_with_the_content(void **state)
{
    struct buf why = BUF_INIT, name = BUF_INIT, got = BUF_INIT;
    const char msg[] = "Subject: hi\n\nbody\n";
    char last[256], path[512];

    assert_int_equal(maildir_deliver(md, msg, strlen(msg), &name, &why), 0);
    assert_int_equal(count_entries("new", last, sizeof(last)), 1);
    assert_string_equal(last, buf_cstr(&name));
    assert_int_equal(count_entries("tmp", NULL, 0), 0);
    assert_int_equal(count_entries("cur", NULL, 0), 0);
    snprintf(path, sizeof(path), "%s/new/%s", md, last);
    read_file(path, &got);
    assert_int_equal(got.len, strlen(msg));
    assert_memory_equal(got.data, msg, got.len);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    snprintf(path, sizeof(path), "%s/tmp", md);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    buf_free(&why);
    buf_free(&name);
    buf_free(&got);
}

static void test_missing_parents_are_created(void **state)
{
    struct buf why = BUF_INIT;
    snprintf(md, sizeof(md), "%s/a/b/Maildir/", top);
    assert_int_equal(maildir_deliver(md, "x\n", 2, NULL, &why), 0);
    assert_int_equal(count_entries("new", NULL, 0), 1);
    buf_free(&why);
}

static void test_streamed_pieces_are_concatenated(void **state)
{
    struct buf why = BUF_INIT, name = BUF_INIT, got = BUF_INIT, want = BUF_INIT;
    char path[512];
    int status = 0;

    struct maildir_delivery *d = maildir_open(md, &why, &status);
    assert_non_null(d);
    /* Small pieces go through the buffer, a large one straight to the file. */
    buf_puts(&want, "Return-Path: <a@example.com>\n");
    buf_puts(&want, "Delivered-To: b@example.com\n");
    assert_int_equal(maildir_write(d, want.data, want.len, &why), 0);
    size_t big = 200000;
    char *blob = malloc(big);
    assert_non_null(blob);
    for (size_t i = 0; i < big; i++)
        blob[i] = (char)('a' + i % 26);
    assert_int_equal(maildir_write(d, blob, big, &why), 0);
    assert_int_equal(maildir_write(d, "\nend\n", 5, &why), 0);
    buf_append(&want, blob, big);
    buf_puts(&want, "\nend\n");
    assert_int_equal(maildir_commit(d, &name, &why), 0);

    snprintf(path, sizeof(path), "%s/new/%s", md, buf_cstr(&name));
    read_file(path, &got);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);
    assert_int_equal(count_entries("tmp", NULL, 0), 0);
    free(blob);
    buf_free(&why);
    buf_free(&name);
    buf_free(&got);
    buf_free(&want);
}

static void test_unique_names_differ_across_1000_deliveries(void **state)
{
    struct buf why = BUF_INIT, name = BUF_INIT;
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+\\.[^/:]+$", REG_EXTENDED), 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(maildir_deliver(md, "m\n", 2, &name, &why), 0);
        if (i == 0 && regexec(&re, buf_cstr(&name), 0, NULL, 0) != 0)
            fail_msg("unexpected unique name format: %s", buf_cstr(&name));
    }
    regfree(&re);
    /* A collision would have failed the no-replace move into new/. */
    assert_int_equal(count_entries("new", NULL, 0), 1000);
    assert_int_equal(count_entries("tmp", NULL, 0), 0);
    buf_free(&why);
    buf_free(&name);
}

/* The host name is escaped as Dovecot does; needs a private UTS namespace
 * (root), so the check runs in a child and is skipped without one. */
static void test_slash_and_colon_in_hostname_are_escaped(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (unshare(CLONE_NEWUTS) < 0 || sethostname("mx/1:a", 6) < 0)
            _exit(77);
        struct buf out = BUF_INIT;
        maildir_unique(&out);
        const char *dot = strchr(buf_cstr(&out), '.');
        dot = dot ? strchr(dot + 1, '.') : NULL;
        _exit(dot && strcmp(dot + 1, "mx\\0571\\072a") == 0 ? 0 : 1);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    if (WEXITSTATUS(ws) == 77) {
        print_message("skipped: cannot set a host name in a new UTS namespace (needs root)\n");
        skip();
    }
    assert_int_equal(WEXITSTATUS(ws), 0);
}

static void test_abort_leaves_nothing(void **state)
{
    struct buf why = BUF_INIT;
    struct maildir_delivery *d = maildir_open(md, &why, NULL);
    assert_non_null(d);
    assert_int_equal(maildir_write(d, "partial", 7, &why), 0);
    assert_int_equal(count_entries("tmp", NULL, 0), 1);
    maildir_abort(d);
    assert_int_equal(count_entries("tmp", NULL, 0), 0);
    assert_int_equal(count_entries("new", NULL, 0), 0);
    buf_free(&why);
}

static void test_symlink_at_tmp_is_refused_not_followed(void **state)
{
    struct buf why = BUF_INIT;
    char target[256], link[256];
    int status = 0;

    snprintf(target, sizeof(target), "%s/elsewhere", top);
    assert_int_equal(mkdir(target, 0700), 0);
    assert_int_equal(mkdir(md, 0700), 0);
    snprintf(link, sizeof(link), "%s/tmp", md);
    assert_int_equal(symlink(target, link), 0);

    assert_null(maildir_open(md, &why, &status));
    assert_int_equal(status, MAILDIR_DEFER);
    assert_non_null(strstr(buf_cstr(&why), "/Maildir/tmp is a symbolic link"));
    DIR *dir = opendir(target);
    assert_non_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        n += e->d_name[0] != '.';
    closedir(dir);
    assert_int_equal(n, 0);
    buf_free(&why);
}

static void test_file_where_new_should_be_is_an_error(void **state)
{
    struct buf why = BUF_INIT;
    char path[256];

    assert_int_equal(mkdir(md, 0700), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);

    assert_int_equal(maildir_deliver(md, "m\n", 2, NULL, &why), MAILDIR_DEFER);
    assert_non_null(strstr(buf_cstr(&why), "/Maildir/new is not a directory"));
    assert_int_equal(count_entries("tmp", NULL, 0), 0);
    buf_free(&why);
}

static void test_existing_name_in_new_is_not_replaced(void **state)
{
    struct buf why = BUF_INIT, got = BUF_INIT;
    char path[512];

    struct maildir_delivery *d = maildir_open(md, &why, NULL);
    assert_non_null(d);
    assert_int_equal(maildir_write(d, "new\n", 4, &why), 0);
    snprintf(path, sizeof(path), "%s/new/%s", md, maildir_tmp_name(d));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "old\n", 4), 4);
    close(fd);

    assert_int_equal(maildir_commit(d, NULL, &why), MAILDIR_DEFER);
    assert_non_null(strstr(buf_cstr(&why), "cannot rename"));
    assert_non_null(strstr(buf_cstr(&why), "File exists"));
    read_file(path, &got);
    assert_string_equal(buf_cstr(&got), "old\n");
    assert_int_equal(count_entries("tmp", NULL, 0), 0);
    buf_free(&why);
    buf_free(&got);
}

static void test_new_removed_before_commit_is_reported_and_cleaned_up(void **state)
{
    struct buf why = BUF_INIT;
    char path[256];

    struct maildir_delivery *d = maildir_open(md, &why, NULL);
    assert_non_null(d);
    assert_int_equal(maildir_write(d, "m\n", 2, &why), 0);
    snprintf(path, sizeof(path), "%s/new", md);
    assert_int_equal(rmdir(path), 0);

    assert_int_equal(maildir_commit(d, NULL, &why), MAILDIR_DEFER);
    assert_non_null(strstr(buf_cstr(&why), "/Maildir/new/"));
    assert_non_null(strstr(buf_cstr(&why), "No such file or directory"));
    assert_int_equal(count_entries("tmp", NULL, 0), 0);
    buf_free(&why);
}

/* A write refused for the file size limit (EFBIG) stands for a full
 * mailbox: a permanent error, and the partial file is removed. */
static void test_write_over_size_limit_bounces_and_removes_tmp(void **state)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct buf why = BUF_INIT;
        struct rlimit rl = {1000, 1000};
        static char big[100000];
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            _exit(2);
        struct maildir_delivery *d = maildir_open(md, &why, NULL);
        if (d == NULL)
            _exit(3);
        memset(big, 'x', sizeof(big));
        int rc = maildir_write(d, big, sizeof(big), &why);
        if (rc != MAILDIR_BOUNCE || strstr(buf_cstr(&why), "cannot write file") == NULL)
            _exit(4);
        _exit(count_entries("tmp", NULL, 0) == 0 && count_entries("new", NULL, 0) == 0 ? 0 : 5);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 0);
}

static void test_maildir_path_that_is_a_file_is_an_error(void **state)
{
    struct buf why = BUF_INIT;
    int status = 0;
    int fd = open(md, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_null(maildir_open(md, &why, &status));
    assert_int_equal(status, MAILDIR_DEFER);
    assert_non_null(strstr(buf_cstr(&why), md));
    buf_free(&why);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_delivery_puts_exactly_one_file_in_new_with_the_content),
        T(test_missing_parents_are_created),
        T(test_streamed_pieces_are_concatenated),
        T(test_unique_names_differ_across_1000_deliveries),
        T(test_slash_and_colon_in_hostname_are_escaped),
        T(test_abort_leaves_nothing),
        T(test_symlink_at_tmp_is_refused_not_followed),
        T(test_file_where_new_should_be_is_an_error),
        T(test_existing_name_in_new_is_not_replaced),
        T(test_new_removed_before_commit_is_reported_and_cleaned_up),
        T(test_write_over_size_limit_bounces_and_removes_tmp),
        T(test_maildir_path_that_is_a_file_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
