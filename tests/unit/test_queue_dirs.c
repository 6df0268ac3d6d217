/* test_queue_dirs - the queue layout check: creates exactly the table,
 * whatever the umask, is quiet when all is right, and reports (never
 * repairs, never follows) what is wrong.
 *
 * Runs as root or not: as root the "accounts" are root/root (they exist
 * everywhere), otherwise the current user, which is what the check compares
 * with when not root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/queue_dirs.h"
#include "mail/queue_id.h"

static char top[64];
static char qdir[128];
static char owner[64];
static char group[64];

static int setup(void **state)
{
    struct passwd *pw = getpwuid(geteuid());
    struct group *gr = getgrgid(getegid());

    if (pw == NULL || gr == NULL)
        return -1;
    snprintf(owner, sizeof(owner), "%s", pw->pw_name);
    snprintf(group, sizeof(group), "%s", gr->gr_name);
    snprintf(top, sizeof(top), "/tmp/test_queue_dirs.XXXXXX");
    if (mkdtemp(top) == NULL)
        return -1;
    snprintf(qdir, sizeof(qdir), "%s/queue", top);
    return 0;
}

static int teardown(void **state)
{
    char cmd[256];

    if (chdir("/") < 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

static mode_t mode_of(const char *name)
{
    char path[256];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", qdir, name);
    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_table_has_the_documented_layout(void **state)
{
    static const struct {
        const char *name;
        mode_t mode;
    } want[] = {
        {"maildrop", 01730}, {"incoming", 0700}, {"active", 0700}, {"deferred", 0700},
        {"hold", 0700},      {"corrupt", 0700},  {"bounce", 0700}, {"defer", 0700},
        {"trace", 0700},     {"flush", 0700},    {"saved", 0700},  {"private", 0700},
        {"public", 0710},    {"pid", 0755},      {"etc", 0755},
    };

    assert_int_equal(queue_dir_count, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < queue_dir_count; i++) {
        assert_string_equal(queue_dirs[i].name, want[i].name);
        assert_int_equal(queue_dirs[i].mode, want[i].mode);
    }
    assert_int_equal(queue_dirs[0].group, QD_GROUP_SETGID);
    assert_int_equal(queue_dirs[12].group, QD_GROUP_SETGID);
    assert_int_equal(queue_dirs[13].owner, QD_ROOT);
    assert_int_equal(queue_dirs[1].owner, QD_MAIL_OWNER);
}

static void test_creates_every_directory_with_exact_mode_despite_umask(void **state)
{
    struct buf problems = BUF_INIT;
    mode_t old = umask(0777);

    int n = queue_dirs_check(qdir, owner, group, 1, &problems);
    umask(old);
    if (n != 0)
        fail_msg("expected no problems, got %d:\n%s", n, buf_cstr(&problems));
    for (size_t i = 0; i < queue_dir_count; i++) {
        struct stat st;
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", qdir, queue_dirs[i].name);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, queue_dirs[i].mode);
        assert_int_equal(st.st_uid, geteuid());
    }
    struct stat st;
    assert_int_equal(stat(qdir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    buf_free(&problems);
}

static void test_second_run_reports_no_problems(void **state)
{
    struct buf problems = BUF_INIT;

    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 0);
    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 0);
    assert_int_equal(queue_dirs_check(qdir, owner, group, 0, &problems), 0);
    assert_string_equal(buf_cstr(&problems), "");
    buf_free(&problems);
}

static void test_without_create_missing_directories_are_reported(void **state)
{
    struct buf problems = BUF_INIT;
    char path[256];

    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 0);
    snprintf(path, sizeof(path), "%s/hold", qdir);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(queue_dirs_check(qdir, owner, group, 0, &problems), 1);
    snprintf(path, sizeof(path), "%s/hold: missing\n", qdir);
    assert_string_equal(buf_cstr(&problems), path);
    buf_free(&problems);
}

static void test_wrong_mode_is_reported_and_not_changed(void **state)
{
    struct buf problems = BUF_INIT;
    char path[256], want[512];

    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 0);
    snprintf(path, sizeof(path), "%s/incoming", qdir);
    assert_int_equal(chmod(path, 0755), 0);

    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 1);
    snprintf(want, sizeof(want), "%s: mode is 0755, should be 0700\n", path);
    assert_string_equal(buf_cstr(&problems), want);
    assert_int_equal(mode_of("incoming"), 0755);
    buf_free(&problems);
}

static void test_symlink_in_place_of_a_directory_is_reported_not_followed(void **state)
{
    struct buf problems = BUF_INIT;
    char path[256], target[256], want[512];
    struct stat st;

    snprintf(target, sizeof(target), "%s/elsewhere", top);
    assert_int_equal(mkdir(target, 0777), 0);
    assert_int_equal(chmod(target, 0777), 0);
    assert_int_equal(mkdir(qdir, 0755), 0);
    snprintf(path, sizeof(path), "%s/active", qdir);
    assert_int_equal(symlink(target, path), 0);

    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 1);
    snprintf(want, sizeof(want), "%s: is a symbolic link, should be a directory\n", path);
    assert_string_equal(buf_cstr(&problems), want);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0777);
    buf_free(&problems);
}

static void test_file_in_place_of_a_directory_is_reported(void **state)
{
    struct buf problems = BUF_INIT;
    char path[256], want[512];

    assert_int_equal(mkdir(qdir, 0755), 0);
    snprintf(path, sizeof(path), "%s/public", qdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 1);
    snprintf(want, sizeof(want), "%s: not a directory\n", path);
    assert_string_equal(buf_cstr(&problems), want);
    buf_free(&problems);
}

static void test_writable_queue_directory_is_reported_not_chmodded(void **state)
{
    struct buf problems = BUF_INIT;
    char want[512];
    struct stat st;

    assert_int_equal(mkdir(qdir, 0755), 0);
    assert_int_equal(chmod(qdir, 0775), 0);
    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 1);
    snprintf(want, sizeof(want), "%s: writable by group or other (mode 0775)\n", qdir);
    assert_string_equal(buf_cstr(&problems), want);
    assert_int_equal(stat(qdir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0775);
    buf_free(&problems);
}

static void test_queue_directory_that_is_a_file_stops_the_check(void **state)
{
    struct buf problems = BUF_INIT;
    FILE *fp = fopen(qdir, "w");

    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), -1);
    assert_non_null(strstr(buf_cstr(&problems), "not a directory"));
    buf_free(&problems);
}

static void test_missing_accounts_are_named_with_the_command_to_create_them(void **state)
{
    struct buf problems = BUF_INIT;

    if (geteuid() != 0) {
        print_message("skipped: accounts are only looked up when running as root\n");
        skip();
    }
    int n = queue_dirs_check(qdir, "no-such-user-pt", "no-such-group-pt", 1, &problems);
    assert_int_equal(n, 2);
    assert_non_null(strstr(buf_cstr(&problems),
                           "mail_owner account no-such-user-pt does not exist; create it with: "
                           "useradd --system --no-create-home --home-dir /nonexistent --shell "
                           "/usr/sbin/nologin no-such-user-pt\n"));
    assert_non_null(strstr(buf_cstr(&problems), "setgid_group no-such-group-pt does not exist; "
                                                "create it with: groupadd --system "
                                                "no-such-group-pt\n"));
    /* What does not depend on the accounts is still set up. */
    assert_int_equal(mode_of("pid"), 0755);
    buf_free(&problems);
}

static void test_wrong_owner_is_reported_as_root(void **state)
{
    struct buf problems = BUF_INIT;
    char path[256], want[512];

    if (geteuid() != 0) {
        print_message("skipped: giving a directory away needs root\n");
        skip();
    }
    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 0);
    snprintf(path, sizeof(path), "%s/deferred", qdir);
    assert_int_equal(chown(path, 65534, (gid_t)-1), 0);
    assert_int_equal(queue_dirs_check(qdir, owner, group, 1, &problems), 1);
    struct passwd *pw = getpwuid(65534);
    snprintf(want, sizeof(want), "%s: owned by %s, should be owned by %s\n", path,
             pw ? pw->pw_name : "UID 65534", owner);
    assert_string_equal(buf_cstr(&problems), want);
    buf_free(&problems);
}

/* ---- queue_path / queue_find / queue_move ------------------------------- */

static const char *QID = "0123456789BCDFGH";

/* in_qdir - make the queue directory the current directory (as daemons do)
 * with the default hashing: "deferred, defer" at depth 1. */
static void in_qdir(void)
{
    struct buf problems = BUF_INIT;
    assert_true(queue_dirs_check(qdir, owner, group, 1, &problems) >= 0);
    assert_int_equal(chdir(qdir), 0);
    mail_conf_override("hash_queue_names", "deferred, defer", "test");
    mail_conf_override("hash_queue_depth", "1", "test");
    buf_free(&problems);
}

static void put(const char *path)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
}

static void test_queue_path_hashes_only_the_hashed_queues(void **state)
{
    struct buf path = BUF_INIT, why = BUF_INIT;
    char hash[3];
    char want[64];
    in_qdir();
    queue_id_hash(QID, 1, hash, sizeof(hash));
    assert_int_equal(queue_path("active", QID, 1, &path, &why), 0);
    assert_string_equal(buf_cstr(&path), "active/0123456789BCDFGH");
    assert_int_equal(queue_path("deferred", QID, 1, &path, &why), 0);
    snprintf(want, sizeof(want), "deferred/%s/%s", hash, QID);
    assert_string_equal(buf_cstr(&path), want);
    /* mkdir_hash made the subdirectory, private to the owner */
    struct stat st;
    snprintf(want, sizeof(want), "deferred/%s", hash);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(queue_path("defer", "../../etc", 1, &path, &why), -1);
    assert_string_equal(buf_cstr(&why), "bad queue ID");
    mail_conf_override("hash_queue_depth", "0", "test");
    assert_int_equal(queue_path("deferred", QID, 1, &path, &why), 0);
    assert_string_equal(buf_cstr(&path), "deferred/0123456789BCDFGH");
    buf_free(&path);
    buf_free(&why);
}

static void test_queue_move_and_find_follow_the_file(void **state)
{
    struct buf path = BUF_INIT, why = BUF_INIT;
    const char *queue = NULL;
    in_qdir();
    assert_int_equal(queue_find(QID, &queue, &path), -1);
    put("incoming/0123456789BCDFGH");
    assert_int_equal(queue_find(QID, &queue, &path), 0);
    assert_string_equal(queue, "incoming");
    assert_int_equal(queue_move("incoming/0123456789BCDFGH", "deferred", QID, &why), 0);
    assert_int_equal(queue_find(QID, &queue, &path), 0);
    assert_string_equal(queue, "deferred");
    assert_int_equal(access("incoming/0123456789BCDFGH", F_OK), -1);
    /* a file of the same name at the target is never replaced */
    put("incoming/0123456789BCDFGH");
    assert_int_equal(queue_move("incoming/0123456789BCDFGH", "deferred", QID, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "File exists"));
    assert_int_equal(access("incoming/0123456789BCDFGH", F_OK), 0);
    /* a file left flat in a hashed queue (the depth changed) is still found */
    assert_int_equal(unlink("incoming/0123456789BCDFGH"), 0);
    assert_int_equal(unlink(buf_cstr(&path)), 0);
    put("deferred/0123456789BCDFGH");
    assert_int_equal(queue_find(QID, &queue, &path), 0);
    assert_string_equal(buf_cstr(&path), "deferred/0123456789BCDFGH");
    buf_free(&path);
    buf_free(&why);
}

/* queue_dirs_sync_etc copies the lookup files into queue/etc and leaves
 * an up-to-date copy alone. */
static void test_sync_etc_copies_lookup_files(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/test_qd_etcXXXXXX";
    char *qdir = mkdtemp(tmpl);
    assert_non_null(qdir);
    char etc[512], hosts[512];
    snprintf(etc, sizeof(etc), "%s/etc", qdir);
    assert_int_equal(mkdir(etc, 0755), 0);
    struct buf problems = BUF_INIT;
    assert_int_equal(queue_dirs_sync_etc(qdir, &problems), 0);
    snprintf(hosts, sizeof(hosts), "%s/etc/hosts", qdir);
    struct stat a, b;
    if (stat("/etc/hosts", &a) == 0) {
        assert_int_equal(stat(hosts, &b), 0);
        assert_int_equal(a.st_size, b.st_size);
        assert_int_equal(b.st_mode & 07777, 0644);
        /* A second run keeps the same file (no rewrite). */
        ino_t ino = b.st_ino;
        assert_int_equal(queue_dirs_sync_etc(qdir, &problems), 0);
        assert_int_equal(stat(hosts, &b), 0);
        assert_int_equal(b.st_ino, ino);
    }
    /* A queue without etc/ cannot take the copies: reported, not fatal. */
    char none[512];
    snprintf(none, sizeof(none), "%s/none", qdir);
    assert_true(queue_dirs_sync_etc(none, &problems) > 0);
    assert_non_null(strstr(buf_cstr(&problems), "cannot copy"));
    buf_free(&problems);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", qdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_table_has_the_documented_layout),
        cmocka_unit_test(test_sync_etc_copies_lookup_files),
        T(test_creates_every_directory_with_exact_mode_despite_umask),
        T(test_second_run_reports_no_problems),
        T(test_without_create_missing_directories_are_reported),
        T(test_wrong_mode_is_reported_and_not_changed),
        T(test_symlink_in_place_of_a_directory_is_reported_not_followed),
        T(test_file_in_place_of_a_directory_is_reported),
        T(test_writable_queue_directory_is_reported_not_chmodded),
        T(test_queue_directory_that_is_a_file_stops_the_check),
        T(test_missing_accounts_are_named_with_the_command_to_create_them),
        T(test_wrong_owner_is_reported_as_root),
        T(test_queue_path_hashes_only_the_hashed_queues),
        T(test_queue_move_and_find_follow_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
