/* test_setgid_conf - which configuration directories a set-gid program
 * trusts, the environment it keeps, and its standard descriptors
 * (lib/conf/setgid_conf.c). Ownership cases need root to chown; they are
 * skipped otherwise. The set-gid cases run in a child that gives up root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "conf/setgid_conf.h"
#include "util/buf.h"
#include "util/msg.h"

#define NOBODY 65534

extern char **environ;

static char base[64];

static int setup(void **state)
{
    strcpy(base, "/tmp/test_setgid_conf_XXXXXX");
    if (mkdtemp(base) == NULL || chmod(base, 0755) < 0)
        return -1;
    return 0;
}

/* The environment tests replace PATH and more: each test gets back the
 * environment the run started with. */
static char **saved_env;

static void save_env(void)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    saved_env = calloc(n + 1, sizeof(*saved_env));
    for (size_t i = 0; saved_env && i < n; i++)
        saved_env[i] = strdup(environ[i]);
}

static int restore_env(void **state)
{
    clearenv();
    for (size_t i = 0; saved_env && saved_env[i]; i++)
        if (putenv(saved_env[i]) != 0)
            return -1;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    if (restore_env(state) < 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

/* join - dir/name into out (PATH_MAX bytes); the test's paths are short. */
static void join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
    assert_true(n > 0 && n < PATH_MAX);
}

static void need_root(void)
{
    if (geteuid() != 0)
        skip();
}

/* make_conf - base/name, mode dir_mode, with a main.cf of file_mode; the
 * path goes into out. */
static void make_conf(char *out, size_t size, const char *name, mode_t dir_mode, mode_t file_mode)
{
    char file[PATH_MAX];

    snprintf(out, size, "%s/%s", base, name);
    assert_int_equal(mkdir(out, 0700), 0);
    join(file, out, "main.cf");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("myhostname = trusted.example\n", f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(file, file_mode), 0);
    assert_int_equal(chmod(out, dir_mode), 0);
}

static void assert_trusted(const char *dir, const char *want_resolved)
{
    char resolved[PATH_MAX];

    if (setgid_conf_dir_trusted(dir, resolved) != 1)
        fail_msg("%s should be trusted", dir);
    assert_string_equal(resolved, want_resolved);
}

static void assert_untrusted(const char *dir)
{
    char resolved[PATH_MAX];

    if (setgid_conf_dir_trusted(dir, resolved) != 0)
        fail_msg("%s should not be trusted", dir);
}

static void test_only_a_non_root_set_id_run_is_privileged(void **state)
{
    assert_int_equal(setgid_conf_privileged_ids(1000, 1000, 1000, 1000), 0);
    assert_int_equal(setgid_conf_privileged_ids(1000, 1000, 1000, 90), 1); /* setgid */
    assert_int_equal(setgid_conf_privileged_ids(1000, 0, 1000, 1000), 1);  /* setuid */
    assert_int_equal(setgid_conf_privileged_ids(0, 0, 0, 90), 0);          /* root may */
    assert_int_equal(setgid_conf_privileged_ids(0, 1000, 0, 0), 0);
}

static void test_listed_directory_must_match_exactly(void **state)
{
    const char *list = "/etc/postern-a, /etc/postern-b\t/etc/postern-c\n,,/x";

    assert_int_equal(setgid_conf_dir_listed(list, "/etc/postern-a"), 1);
    assert_int_equal(setgid_conf_dir_listed(list, "/etc/postern-b"), 1);
    assert_int_equal(setgid_conf_dir_listed(list, "/etc/postern-c"), 1);
    assert_int_equal(setgid_conf_dir_listed(list, "/x"), 1);
    assert_int_equal(setgid_conf_dir_listed(list, "/etc/postern-b/"), 0);
    assert_int_equal(setgid_conf_dir_listed(list, "/etc/postern"), 0);
    assert_int_equal(setgid_conf_dir_listed(list, "/etc/postern-a,"), 0);
    assert_int_equal(setgid_conf_dir_listed(list, ""), 0);
    assert_int_equal(setgid_conf_dir_listed("", "/etc/postern-a"), 0);
}

static void test_root_only_directory_is_trusted_and_resolved(void **state)
{
    char dir[PATH_MAX], alias[PATH_MAX], dotted[PATH_MAX];

    need_root();
    make_conf(dir, sizeof(dir), "conf", 0755, 0644);
    assert_trusted(dir, dir);
    /* A link or dots are resolved: the checked path is the one used. */
    join(alias, base, "alias");
    assert_int_equal(symlink("conf", alias), 0);
    assert_trusted(alias, dir);
    join(dotted, base, "./conf/../conf");
    assert_trusted(dotted, dir);
}

static void test_main_cf_readable_only_by_root_is_trusted(void **state)
{
    char dir[PATH_MAX];

    need_root();
    make_conf(dir, sizeof(dir), "conf", 0700, 0600);
    assert_trusted(dir, dir);
}

/* conf_under - a root-only base/parent/conf with main.cf, parent having
 * parent_mode; the conf path goes into dir. */
static void conf_under(char *dir, mode_t parent_mode)
{
    char parent[PATH_MAX], file[PATH_MAX];

    join(parent, base, "parent");
    assert_int_equal(mkdir(parent, 0700), 0);
    assert_int_equal(chmod(parent, parent_mode), 0);
    join(dir, parent, "conf");
    assert_int_equal(mkdir(dir, 0755), 0);
    join(file, dir, "main.cf");
    assert_int_equal(close(open(file, O_WRONLY | O_CREAT | O_EXCL, 0644)), 0);
}

static void test_sticky_world_writable_parent_is_trusted(void **state)
{
    char dir[PATH_MAX];

    need_root();
    conf_under(dir, 01777);
    assert_trusted(dir, dir);
}

static void test_writable_by_others_is_untrusted(void **state)
{
    char dir[PATH_MAX];

    make_conf(dir, sizeof(dir), "group", 0775, 0644);
    assert_untrusted(dir);
    make_conf(dir, sizeof(dir), "world", 0757, 0644);
    assert_untrusted(dir);
    /* Sticky helps on the way, not for the directory itself. */
    make_conf(dir, sizeof(dir), "sticky", 01777, 0644);
    assert_untrusted(dir);
    make_conf(dir, sizeof(dir), "file-group", 0755, 0664);
    assert_untrusted(dir);
    make_conf(dir, sizeof(dir), "file-world", 0755, 0646);
    assert_untrusted(dir);
}

static void test_world_writable_parent_without_sticky_is_untrusted(void **state)
{
    char dir[PATH_MAX];

    need_root();
    conf_under(dir, 0777);
    assert_untrusted(dir);
}

static void test_owned_by_another_user_is_untrusted(void **state)
{
    char dir[PATH_MAX], file[PATH_MAX];

    need_root();
    make_conf(dir, sizeof(dir), "user-dir", 0755, 0644);
    assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
    assert_untrusted(dir);
    make_conf(dir, sizeof(dir), "user-file", 0755, 0644);
    join(file, dir, "main.cf");
    assert_int_equal(chown(file, NOBODY, NOBODY), 0);
    assert_untrusted(dir);
}

static void test_main_cf_that_is_no_regular_file_is_untrusted(void **state)
{
    char dir[PATH_MAX], file[PATH_MAX], target[PATH_MAX];

    need_root();
    make_conf(target, sizeof(target), "target", 0755, 0644);
    join(file, target, "main.cf");
    strcpy(target, file);
    join(dir, base, "link");
    assert_int_equal(mkdir(dir, 0755), 0);
    join(file, dir, "main.cf");
    assert_int_equal(symlink(target, file), 0);
    assert_untrusted(dir);

    join(dir, base, "subdir");
    assert_int_equal(mkdir(dir, 0755), 0);
    join(file, dir, "main.cf");
    assert_int_equal(mkdir(file, 0755), 0);
    assert_untrusted(dir);

    join(dir, base, "empty");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_untrusted(dir);
}

static void test_missing_directory_is_untrusted(void **state)
{
    char dir[PATH_MAX];

    join(dir, base, "none");
    assert_untrusted(dir);
    assert_untrusted("");
}

static void set_test_env(const char *tz)
{
    clearenv();
    assert_int_equal(setenv("MAIL_CONFIG", "/home/evil", 1), 0);
    assert_int_equal(setenv("LD_PRELOAD", "/home/evil/x.so", 1), 0);
    assert_int_equal(setenv("TZX", "1", 1), 0);
    assert_int_equal(setenv("PATH", "/home/evil/bin", 1), 0);
    if (tz)
        assert_int_equal(setenv("TZ", tz, 1), 0);
}

static size_t env_count(void)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    return n;
}

static void test_env_clean_keeps_only_tz(void **state)
{
    set_test_env("Europe/Berlin");
    setgid_conf_env_clean();
    assert_int_equal(env_count(), 1);
    assert_string_equal(environ[0], "TZ=Europe/Berlin");
}

static void test_env_clean_keeps_an_empty_tz(void **state)
{
    set_test_env("");
    setgid_conf_env_clean();
    assert_int_equal(env_count(), 1);
    assert_string_equal(environ[0], "TZ=");
}

static void test_env_clean_without_tz_leaves_nothing(void **state)
{
    set_test_env(NULL);
    setgid_conf_env_clean();
    assert_int_equal(env_count(), 0);
}

static void test_unprivileged_read_uses_arg_then_mail_config_and_keeps_env(void **state)
{
    char dir[PATH_MAX], other[PATH_MAX];

    if (setgid_conf_privileged())
        skip();
    /* Even an untrusted directory: an ordinary caller reads what it likes. */
    make_conf(dir, sizeof(dir), "any", 0777, 0666);
    set_test_env("UTC");
    setgid_conf_read(dir);
    assert_string_equal(conf_str("myhostname"), "trusted.example");
    assert_string_equal(getenv("LD_PRELOAD"), "/home/evil/x.so");

    make_conf(other, sizeof(other), "env", 0755, 0644);
    assert_int_equal(setenv("MAIL_CONFIG", other, 1), 0);
    assert_int_equal(unlink(strcat(strcpy(dir, other), "/main.cf")), 0);
    FILE *f = fopen(dir, "w");
    assert_non_null(f);
    fputs("myhostname = env.example\n", f);
    assert_int_equal(fclose(f), 0);
    setgid_conf_read(NULL);
    assert_string_equal(conf_str("myhostname"), "env.example");
    setgid_conf_read("");
    assert_string_equal(conf_str("myhostname"), "env.example");
}

/* load_main_cf - base/name/main.cf with text, loaded as the configuration. */
static void load_main_cf(const char *name, const char *text)
{
    char dir[PATH_MAX], file[PATH_MAX];
    struct buf why = BUF_INIT;

    join(dir, base, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    join(file, dir, "main.cf");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    if (mail_conf_load(dir, &why) < 0)
        fail_msg("load %s: %s", dir, buf_cstr(&why));
    buf_free(&why);
}

static void test_log_goes_to_maillog_file_under_syslog_name(void **state)
{
    char log[PATH_MAX], want[256], text[512] = "";
    struct buf cf = BUF_INIT;

    join(log, base, "maillog");
    buf_printf(&cf, "maillog_file = %s\nmyhostname = logs.example\nsyslog_name = pt\n", log);
    load_main_cf("log", buf_cstr(&cf));
    buf_free(&cf);
    setgid_conf_log("postdrop");
    assert_string_equal(msg_ident(), "pt/postdrop");
    msg_set_stderr(0); /* keep the test's output clean; stderr is checked below */
    msg_info("queued");
    msg_logfile_close();
    msg_set_stderr(1);
    int fd = open(log, O_RDONLY);
    assert_true(fd >= 0);
    assert_true(read(fd, text, sizeof(text) - 1) > 0);
    close(fd);
    snprintf(want, sizeof(want), " logs.example pt/postdrop[%ld]: queued\n", (long)getpid());
    if (strstr(text, want) == NULL)
        fail_msg("log \"%s\" lacks \"%s\"", text, want);
}

static void test_unwritable_maillog_file_still_tells_stderr(void **state)
{
    struct buf cf = BUF_INIT;
    int pipefd[2];
    char text[256] = "";

    buf_printf(&cf, "maillog_file = %s/no/such/dir/log\n", base);
    load_main_cf("badlog", buf_cstr(&cf));
    buf_free(&cf);
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(pipefd[1], 2) < 0)
            _exit(98);
        msg_init("postqueue");
        msg_set_stderr(0);
        setgid_conf_log("postqueue");
        msg_warn("still here");
        _exit(0);
    }
    close(pipefd[1]);
    assert_true(read(pipefd[0], text, sizeof(text) - 1) > 0);
    close(pipefd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_string_equal(text, "postqueue: warning: still here\n");
}

/* run_setgid_read - in a child that is nobody with effective gid 0 (a
 * set-gid run), setgid_conf_read(dir). Exit status: the read's own fatal
 * one, 0 when the configuration loaded from want_dir and the environment is
 * clean except TZ, 99 otherwise. */
static int run_setgid_read(const char *dir, const char *want_dir)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 2) < 0 || setgroups(0, NULL) < 0 ||
            setresgid(NOBODY, 0, 0) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
            _exit(98);
        set_test_env("UTC");
        setgid_conf_read(dir);
        const char *tz = getenv("TZ");
        int ok = strcmp(conf_str("myhostname"), "trusted.example") == 0 &&
                 strcmp(conf_str("config_directory"), want_dir) == 0 && env_count() == 1 && tz &&
                 strcmp(tz, "UTC") == 0;
        _exit(ok ? 0 : 99);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_setgid_read_of_trusted_dir_loads_and_cleans_env(void **state)
{
    char dir[PATH_MAX], alias[PATH_MAX];

    need_root();
    make_conf(dir, sizeof(dir), "conf", 0755, 0644);
    assert_int_equal(run_setgid_read(dir, dir), 0);
    /* Read from the path that was checked, not through a link that could
     * be pointed elsewhere in between. */
    join(alias, base, "alias");
    assert_int_equal(symlink("conf", alias), 0);
    assert_int_equal(run_setgid_read(alias, dir), 0);
}

static void test_setgid_read_of_untrusted_dir_is_refused(void **state)
{
    char dir[PATH_MAX];

    need_root();
    make_conf(dir, sizeof(dir), "group", 0775, 0644);
    assert_int_equal(run_setgid_read(dir, dir), EX_NOPERM);
    make_conf(dir, sizeof(dir), "user", 0755, 0644);
    assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
    assert_int_equal(run_setgid_read(dir, dir), EX_NOPERM);
}

static void test_setgid_read_of_overlong_name_is_a_usage_error(void **state)
{
    char dir[PATH_MAX];

    need_root();
    memset(dir, 'a', PATH_MAX - 15);
    dir[0] = '/';
    dir[PATH_MAX - 15] = 0;
    assert_int_equal(run_setgid_read(dir, dir), EX_USAGE);
}

static void test_closed_standard_descriptors_get_dev_null(void **state)
{
    struct stat null_st, out_before;

    assert_int_equal(stat("/dev/null", &null_st), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* fd 1 stays open on a file, 0 and 2 are closed. */
        char path[PATH_MAX];
        join(path, base, "out");
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || close(fd) < 0 || fstat(1, &out_before) < 0)
            _exit(98);
        (void)close(0);
        (void)close(2);
        setgid_conf_stdio();
        struct stat st[3];
        for (int i = 0; i < 3; i++)
            if (fstat(i, &st[i]) < 0)
                _exit(97);
        int ok = st[0].st_rdev == null_st.st_rdev && S_ISCHR(st[0].st_mode) &&
                 st[2].st_rdev == null_st.st_rdev && S_ISCHR(st[2].st_mode) &&
                 st[1].st_ino == out_before.st_ino && st[1].st_dev == out_before.st_dev &&
                 (fcntl(0, F_GETFL) & O_ACCMODE) == O_RDWR;
        _exit(ok ? 0 : 99);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_only_a_non_root_set_id_run_is_privileged),
        cmocka_unit_test(test_listed_directory_must_match_exactly),
        cmocka_unit_test_setup_teardown(test_root_only_directory_is_trusted_and_resolved, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_main_cf_readable_only_by_root_is_trusted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sticky_world_writable_parent_is_trusted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writable_by_others_is_untrusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_world_writable_parent_without_sticky_is_untrusted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_owned_by_another_user_is_untrusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_main_cf_that_is_no_regular_file_is_untrusted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory_is_untrusted, setup, teardown),
        cmocka_unit_test_teardown(test_env_clean_keeps_only_tz, restore_env),
        cmocka_unit_test_teardown(test_env_clean_keeps_an_empty_tz, restore_env),
        cmocka_unit_test_teardown(test_env_clean_without_tz_leaves_nothing, restore_env),
        cmocka_unit_test_setup_teardown(
            test_unprivileged_read_uses_arg_then_mail_config_and_keeps_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_goes_to_maillog_file_under_syslog_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_maillog_file_still_tells_stderr, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_setgid_read_of_trusted_dir_loads_and_cleans_env, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_setgid_read_of_untrusted_dir_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_setgid_read_of_overlong_name_is_a_usage_error, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_closed_standard_descriptors_get_dev_null, setup,
                                        teardown),
    };
    save_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
