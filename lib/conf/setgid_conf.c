/* setgid_conf - which configuration a set-gid program may use, and the
 * environment and descriptors it must not inherit (see setgid_conf.h for
 * the threat). Shared by postdrop(1) and postqueue(1).
 */
#include "conf/setgid_conf.h"
#include "conf/mail_conf.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/msg.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#ifndef DEF_CONFIG_DIR
#define DEF_CONFIG_DIR "/etc/postern"
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SETGID_CONF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SETGID_CONF_ASAN 1
#endif
#endif
#ifdef SETGID_CONF_ASAN
/* Sanitizer builds only: a set-gid process is not dumpable, so
 * LeakSanitizer cannot inspect it and would fail every run; ASan proper
 * stays on. Linked into exactly the programs that use this module. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
#endif

int setgid_conf_privileged_ids(uid_t ruid, uid_t euid, gid_t rgid, gid_t egid)
{
    return ruid != 0 && (ruid != euid || rgid != egid);
}

int setgid_conf_privileged(void)
{
    return setgid_conf_privileged_ids(getuid(), geteuid(), getgid(), getegid());
}

int setgid_conf_dir_listed(const char *list, const char *dir)
{
    struct argv *dirs = argv_split(list, ", \t\r\n");
    int ok = 0;

    for (size_t i = 0; i < dirs->argc && !ok; i++)
        ok = strcmp(dirs->argv[i], dir) == 0;
    argv_free(dirs);
    return ok;
}

/* dir_ok - root's, and nobody else can change its entries. lstat: realpath
 * left no links, and one appearing since must not be followed. */
static int dir_ok(const char *path, int last)
{
    struct stat st;

    if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0)
        return 0;
    return (st.st_mode & 022) == 0 || (!last && (st.st_mode & S_ISVTX));
}

int setgid_conf_dir_trusted(const char *dir, char resolved[static PATH_MAX])
{
    char path[PATH_MAX];
    struct stat st;

    if (realpath(dir, resolved) == NULL)
        return 0;
    size_t len = strlen(resolved);
    if (len + sizeof("/main.cf") > PATH_MAX || !dir_ok("/", len == 1))
        return 0;
    for (size_t i = 1; i <= len; i++) {
        if (resolved[i] != '/' && resolved[i] != 0)
            continue;
        memcpy(path, resolved, i);
        path[i] = 0;
        if (!dir_ok(path, resolved[i] == 0))
            return 0;
    }
    snprintf(path, sizeof(path), "%s/main.cf", resolved);
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022))
        return 0;
    return 1;
}

/* listed_alternate - 1 if dir is in alternate_config_directories of the
 * default main.cf (which only root can have written). */
static int listed_alternate(const char *dir)
{
    struct buf why = BUF_INIT;
    int ok = 0;

    if (mail_conf_load(DEF_CONFIG_DIR, &why) == 0)
        ok = setgid_conf_dir_listed(conf_str("alternate_config_directories"), dir);
    buf_free(&why);
    return ok;
}

void setgid_conf_read(const char *arg)
{
    static char resolved[PATH_MAX];
    const char *dir = arg;
    struct buf why = BUF_INIT;
    int privileged = setgid_conf_privileged();

    if (dir == NULL || *dir == 0)
        dir = getenv("MAIL_CONFIG");
    if (dir == NULL || *dir == 0)
        dir = DEF_CONFIG_DIR;
    if (strlen(dir) > PATH_MAX - 16)
        msg_fatal_status(EX_USAGE, "configuration directory name too long");
    if (privileged && strcmp(dir, DEF_CONFIG_DIR) != 0 && !listed_alternate(dir)) {
        if (!setgid_conf_dir_trusted(dir, resolved))
            msg_fatal_status(EX_NOPERM,
                             "%s: permission denied: configuration directory is not listed in "
                             "alternate_config_directories of %s/main.cf",
                             dir, DEF_CONFIG_DIR);
        /* The path just checked, not one a link swapped since could name. */
        dir = resolved;
    }
    if (mail_conf_load(dir, &why) < 0)
        msg_fatal_status(EX_CONFIG, "%s", buf_cstr(&why));
    buf_free(&why);
    if (privileged)
        setgid_conf_env_clean();
}

void setgid_conf_log(const char *name)
{
    const char *logfile = conf_str("maillog_file");
    struct buf ident = BUF_INIT;

    buf_printf(&ident, "%s/%s", conf_str("syslog_name"), name);
    msg_set_ident(buf_cstr(&ident));
    buf_free(&ident);
    msg_set_hostname(conf_str("myhostname"));
    if (*logfile)
        (void)msg_logfile_open(logfile);
    else
        (void)msg_syslog_open(conf_str("syslog_facility"));
    msg_set_stderr(1);
}

void setgid_conf_env_clean(void)
{
    const char *tz = getenv("TZ");
    char *tz_copy = tz ? xstrdup(tz) : NULL;

    clearenv();
    if (tz_copy) {
        (void)setenv("TZ", tz_copy, 1);
        free(tz_copy);
    }
}

void setgid_conf_stdio(void)
{
    struct stat st;

    for (int fd = 0; fd < 3; fd++)
        if (fstat(fd, &st) < 0 && open("/dev/null", O_RDWR) != fd)
            msg_fatal_status(EX_UNAVAILABLE, "open /dev/null: %m");
}
