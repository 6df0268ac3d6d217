/* postern - start, stop, reload and check the Postern mail system
 * (Postfix postfix(1) and its postfix-script).
 *
 *   postern [-c config_dir] [-v] check|start|start-fg|stop|abort|reload|status
 *
 * "Is it running" is never decided from a PID number: the master's lock
 * (master_pid.h) answers it, so a stale pid file after a crash cannot make
 * this command signal an unrelated process. Messages go to the configured
 * log and to stderr as "postern/postern-script: ...", as Postfix's do.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "conf/mail_conf.h"
#include "conf/master_cf.h"
#include "mail/master_pid.h"
#include "mail/queue_dirs.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/msg.h"

#define COMMANDS        "check|start|start-fg|stop|abort|reload|status"
#define STOP_POLL_MS    100
#define STOP_TIMEOUT_MS (60 * 1000)

static char *config_dir; /* absolute: master chdirs, and reload reads it again */

static void log_only(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_only(int level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    msg_vlog(level, fmt, ap);
    va_end(ap);
}

/* say - one message to the log and to stderr. The library's stderr line
 * carries only the program name; admins expect the full ident there too
 * ("postfix/postfix-script: starting the Postfix mail system"). */
static void say(int level, const char *fmt, ...)
{
    static const char *const prefix[] = {"", "warning: ", "error: ", "fatal: ", "panic: "};
    char text[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    msg_set_stderr(0);
    log_only(level, "%s", text);
    msg_set_stderr(1);
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    fprintf(stderr, "%s: %s%s\n", msg_ident(), prefix[level], text);
}

__attribute__((noreturn)) static void usage(void)
{
    say(MSG_FATAL, "usage: postern [-c config_dir] [-v] %s", COMMANDS);
    exit(1);
}

/* say_lines - each line of text as its own message. */
static void say_lines(int level, const char *text)
{
    struct argv *lines = argv_split(text, "\n");

    for (size_t i = 0; i < lines->argc; i++)
        say(level, "%s", lines->argv[i]);
    argv_free(lines);
}

/* ---- check ---------------------------------------------------------------- */

/* check_program - the file master would execute for a master.cf command. */
static int check_program(const char *where, const char *command)
{
    struct buf path = BUF_INIT;
    struct stat st;
    int ret = 0;

    if (command[0] == '/')
        buf_puts(&path, command);
    else
        buf_printf(&path, "%s/%s", conf_str("daemon_directory"), command);
    if (stat(path.data, &st) < 0) {
        say(MSG_ERROR, "%scommand %s: %s: %s", where, command, path.data, strerror(errno));
        ret = -1;
    } else if (!S_ISREG(st.st_mode) || access(path.data, X_OK) < 0) {
        say(MSG_ERROR, "%scommand %s: %s: not an executable file", where, command, path.data);
        ret = -1;
    }
    buf_free(&path);
    return ret;
}

/* check_accounts - as root, the accounts the daemons run as must exist and
 * must not be privileged (Postfix refuses the same). 0 or -1. */
static int check_accounts(const char *owner, const char *group)
{
    struct passwd *pw = getpwnam(owner);
    uid_t owner_uid = 0;
    gid_t owner_gid = 0;
    int ret = 0;

    if (pw == NULL) {
        say(MSG_ERROR,
            "mail_owner account %s does not exist; create it with: useradd --system "
            "--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin %s",
            owner, owner);
        ret = -1;
    } else {
        owner_uid = pw->pw_uid;
        owner_gid = pw->pw_gid;
        if (owner_uid == 0) {
            say(MSG_ERROR, "mail_owner %s has privileged user ID 0; use an account of its own",
                owner);
            ret = -1;
        }
        if (owner_gid == 0) {
            say(MSG_ERROR, "mail_owner %s has privileged group ID 0", owner);
            ret = -1;
        }
    }
    struct group *gr = getgrnam(group);
    if (gr == NULL) {
        say(MSG_ERROR, "setgid_group %s does not exist; create it with: groupadd --system %s",
            group, group);
        ret = -1;
    } else if (gr->gr_gid == 0) {
        say(MSG_ERROR, "setgid_group %s has privileged group ID 0", group);
        ret = -1;
    } else if (pw != NULL && gr->gr_gid == owner_gid) {
        /* Then the setgid commands could read every queue file. */
        say(MSG_ERROR, "setgid_group %s has the same group ID as mail_owner %s", group, owner);
        ret = -1;
    }
    return ret;
}

/* check - the configuration and the queue layout, creating missing queue
 * directories. Warnings are printed and do not count; returns the number of
 * errors. */
static int check(void)
{
    struct buf path = BUF_INIT, text = BUF_INIT, why = BUF_INIT, out = BUF_INIT;
    struct master_cf *cf = NULL;
    int errors = 0;

    /* master.cf first: its -o settings may be the only users of a main.cf
     * parameter, which is then not "unused". */
    buf_printf(&path, "%s/master.cf", config_dir);
    if (config_read_text(path.data, &text, &why) < 0) {
        say(MSG_ERROR, "%s", buf_cstr(&why));
        errors++;
    } else if (master_cf_parse(text.data, text.len, path.data,
                               (int)conf_int("default_process_limit"), &cf, &why) < 0) {
        say(MSG_ERROR, "%s", buf_cstr(&why));
        errors++;
    }
    if (mail_conf_unknown(mail_conf, text.data ? text.data : "", &out) > 0)
        say_lines(MSG_WARN, out.data);

    static const char *const dirs[] = {"queue_directory", "daemon_directory", "command_directory"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (conf_str(dirs[i])[0] != '/') {
            say(MSG_ERROR, "%s must be an absolute path: %s", dirs[i], conf_str(dirs[i]));
            errors++;
        }
    }
    if (errors)
        goto done;

    if (check_program("", "master") < 0)
        errors++;
    for (size_t i = 0; cf != NULL && i < cf->count; i++) {
        const struct master_ent *e = cf->ents[i];
        struct buf where = BUF_INIT;

        buf_printf(&where, "%s:%d: service %s/%s: ", e->file, e->line, e->name,
                   master_type_name(e->type));
        if (check_program(where.data, e->command) < 0)
            errors++;
        buf_free(&where);
    }

    const char *owner = conf_str("mail_owner");
    const char *group = conf_str("setgid_group");
    if (geteuid() == 0 && check_accounts(owner, group) < 0) {
        /* The directories' owners cannot be judged without the accounts. */
        errors++;
        goto done;
    }
    buf_reset(&out);
    int n = queue_dirs_check(conf_str("queue_directory"), owner, group, 1, &out);
    if (n < 0) {
        say_lines(MSG_ERROR, out.data);
        errors++;
    } else if (n > 0) {
        say_lines(MSG_WARN, out.data);
    }
    buf_reset(&out);
    if (n >= 0 && queue_dirs_sync_etc(conf_str("queue_directory"), &out) > 0)
        say_lines(MSG_WARN, out.data);

done:
    if (cf)
        master_cf_free(cf);
    buf_free(&path);
    buf_free(&text);
    buf_free(&why);
    buf_free(&out);
    return errors;
}

/* ---- start and stop --------------------------------------------------------- */

static pid_t running(void)
{
    struct buf why = BUF_INIT;
    pid_t pid = master_pid_running(conf_str("queue_directory"), &why);

    if (pid < 0) {
        say(MSG_FATAL, "%s", buf_cstr(&why));
        exit(1);
    }
    buf_free(&why);
    return pid;
}

/* master_argv - how master is run: always with our (absolute) directory,
 * so it reads the configuration that was just checked. */
static struct argv *master_argv(int foreground)
{
    struct argv *args = argv_alloc();

    argv_add(args, "master");
    argv_add(args, "-c");
    argv_add(args, config_dir);
    if (foreground)
        argv_add(args, "-d");
    for (int i = 0; i < msg_verbose; i++)
        argv_add(args, "-v");
    return args;
}

static int start(int foreground)
{
    if (running() > 0) {
        say(MSG_FATAL, "the Postern mail system is already running");
        return 1;
    }
    int errors = check();
    if (errors) {
        say(MSG_FATAL, "not starting the Postern mail system: %d error%s in the configuration",
            errors, errors == 1 ? "" : "s");
        return 1;
    }
    say(MSG_INFO, "starting the Postern mail system");

    struct buf path = BUF_INIT;
    struct argv *args = master_argv(foreground);
    buf_printf(&path, "%s/master", conf_str("daemon_directory"));
    fflush(stdout);
    fflush(stderr);

    /* In the foreground master takes our place, so a supervisor (systemd,
     * a container runtime) watches the master itself. */
    if (foreground) {
        execv(path.data, args->argv);
        say(MSG_FATAL, "execute %s: %s", path.data, strerror(errno));
        return 1;
    }

    /* The master forks into the background and its first process exits 0
     * only once the daemon holds the lock and listens, so its status is the
     * truth about the start. */
    pid_t pid = fork();
    if (pid < 0) {
        say(MSG_FATAL, "fork: %s", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        execv(path.data, args->argv);
        say(MSG_FATAL, "execute %s: %s", path.data, strerror(errno));
        _exit(127);
    }
    argv_free(args);
    buf_free(&path);

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            say(MSG_FATAL, "wait for master: %s", strerror(errno));
            return 1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFSIGNALED(status))
        say(MSG_FATAL, "mail system startup failed: master killed by signal %d", WTERMSIG(status));
    else
        say(MSG_FATAL, "mail system startup failed");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* signal_master - send sig to the running master; for stop and abort, wait
 * until its lock is released, which happens only when it has exited. */
static int signal_master(int sig, const char *doing, int wait_for_exit)
{
    pid_t pid = running();

    if (pid == 0) {
        say(MSG_FATAL, "the Postern mail system is not running");
        return 1;
    }
    say(MSG_INFO, "%s the Postern mail system", doing);
    if (kill(pid, sig) < 0 && errno != ESRCH) {
        say(MSG_FATAL, "cannot signal the master (PID %ld): %s", (long)pid, strerror(errno));
        return 1;
    }
    if (!wait_for_exit)
        return 0;
    for (int waited = 0; waited < STOP_TIMEOUT_MS; waited += STOP_POLL_MS) {
        nanosleep(&(struct timespec){0, STOP_POLL_MS * 1000L * 1000L}, NULL);
        if (running() == 0)
            return 0;
    }
    say(MSG_FATAL, "the Postern mail system (PID %ld) did not stop within %d seconds", (long)pid,
        STOP_TIMEOUT_MS / 1000);
    return 1;
}

static int status(void)
{
    pid_t pid = running();

    if (pid > 0) {
        say(MSG_INFO, "the Postern mail system is running: PID: %ld", (long)pid);
        return 0;
    }
    say(MSG_INFO, "the Postern mail system is not running");
    return 1;
}

/* ---- main ---------------------------------------------------------------- */

/* absolute_dir - the configuration directory as an absolute path, or fatal:
 * a relative one would mean something else once master has changed
 * directory, and on every reload. */
static char *absolute_dir(const char *dir)
{
    char *abs = realpath(dir, NULL);
    struct stat st;

    if (abs == NULL) {
        say(MSG_FATAL, "configuration directory %s: %s", dir, strerror(errno));
        exit(1);
    }
    if (stat(abs, &st) < 0 || !S_ISDIR(st.st_mode)) {
        say(MSG_FATAL, "configuration directory %s: not a directory", dir);
        exit(1);
    }
    return abs;
}

int main(int argc, char **argv)
{
    const char *conf_arg = NULL;
    struct buf why = BUF_INIT;
    int c;

    msg_init("postern-script");
    /* A leading '+': stop at the command, as Postfix's postfix does. */
    while ((c = getopt(argc, argv, "+c:v")) != -1) {
        switch (c) {
        case 'c':
            conf_arg = optarg;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 1)
        usage();
    const char *cmd = argv[optind];

    static const char *const commands[] = {"check", "start",  "start-fg", "stop",
                                           "abort", "reload", "status"};
    size_t i;
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i]) == 0)
            break;
    if (i == sizeof(commands) / sizeof(commands[0])) {
        say(MSG_FATAL, "unknown command: '%s'. Usage: postern [-c config_dir] [-v] %s", cmd,
            COMMANDS);
        exit(1);
    }

    config_dir = absolute_dir(mail_conf_dir(conf_arg));
    mail_conf_dir(config_dir);
    if (mail_conf_load(config_dir, &why) < 0) {
        say(MSG_FATAL, "%s", buf_cstr(&why));
        exit(1);
    }
    buf_free(&why);
    mail_log_setup("postern-script", 1);

    if (strcmp(cmd, "check") == 0)
        return check() ? 1 : 0;
    if (strcmp(cmd, "start") == 0)
        return start(0);
    if (strcmp(cmd, "start-fg") == 0)
        return start(1);
    if (strcmp(cmd, "stop") == 0)
        return signal_master(SIGTERM, "stopping", 1);
    if (strcmp(cmd, "abort") == 0)
        return signal_master(SIGINT, "aborting", 1);
    if (strcmp(cmd, "reload") == 0) {
        /* A configuration master could not load is refused here, where the
         * admin sees why; master would keep its old one and only log it. */
        if (running() > 0 && check()) {
            say(MSG_FATAL, "not refreshing the Postern mail system: the configuration has "
                           "errors");
            return 1;
        }
        return signal_master(SIGHUP, "refreshing", 0);
    }
    return status();
}
