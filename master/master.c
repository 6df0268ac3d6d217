/* master - the Postern master daemon (Postfix master(8)): reads main.cf and
 * master.cf, owns every listening socket, starts the service programs on
 * demand and restarts them, reloads on SIGHUP and stops on SIGTERM.
 *
 * Start-up checks everything it can (configuration, programs, queue
 * directories) while it can still say so on the terminal, and the
 * background process reports back before the foreground one exits, so
 * `postern start` returns a truthful status. Signals are turned into bytes
 * on a pipe that the event loop reads, so all real work happens outside
 * signal handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "conf/master_cf.h"
#include "mail/master_pid.h"
#include "master.h"
#include "util/alloc.h"
#include "util/events.h"
#include "util/iostuff.h"
#include "util/msg.h"

struct master_params master_params;
struct master_cf *master_config;
int master_generation = 1;
pid_t master_pid;

static int sig_pipe[2] = {-1, -1};
static char *pid_file;

/* ---- configuration ------------------------------------------------------- */

/* "FILE:LINE: " where name is set, for error messages. */
static void param_where(const char *name, struct buf *why)
{
    const struct config_entry *e = mail_conf ? config_find(mail_conf, name) : NULL;
    if (e && e->file && e->line > 0)
        buf_printf(why, "%s:%d: ", e->file, e->line);
    else if (e && e->file)
        buf_printf(why, "%s: ", e->file);
}

static int set_protocols(struct master_params *p, struct buf *why)
{
    struct argv *list = argv_split(p->inet_protocols, ", \t\r\n");
    int rc = 0;

    p->proto4 = p->proto6 = 0;
    for (size_t i = 0; i < list->argc && rc == 0; i++) {
        const char *w = list->argv[i];
        if (strcasecmp(w, "all") == 0)
            p->proto4 = p->proto6 = 1;
        else if (strcasecmp(w, "ipv4") == 0)
            p->proto4 = 1;
        else if (strcasecmp(w, "ipv6") == 0)
            p->proto6 = 1;
        else {
            param_where("inet_protocols", why);
            buf_printf(why, "bad inet_protocols value: %s (use all, ipv4 or ipv6)", w);
            rc = -1;
        }
    }
    if (rc == 0 && !p->proto4 && !p->proto6) {
        param_where("inet_protocols", why);
        buf_printf(why, "inet_protocols names no protocol");
        rc = -1;
    }
    argv_free(list);
    if (rc < 0)
        return -1;
    /* Postfix: a host without IPv6 gets IPv4 only, with a warning. */
    if (p->proto6 && p->proto4) {
        int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 && errno == EAFNOSUPPORT) {
            msg_warn("inet_protocols: IPv6 support is disabled: %m");
            msg_warn("inet_protocols: configuring for IPv4 support only");
            p->proto6 = 0;
        }
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

int master_params_load(struct master_params *p, const char *config_dir, struct buf *why)
{
    memset(p, 0, sizeof(*p));
    p->config_dir = xstrdup(config_dir);
    p->queue_dir = xstrdup(conf_str("queue_directory"));
    p->daemon_dir = xstrdup(conf_str("daemon_directory"));
    p->inet_interfaces = xstrdup(conf_str("inet_interfaces"));
    p->inet_protocols = xstrdup(conf_str("inet_protocols"));
    p->import_environment = xstrdup(conf_str("import_environment"));
    p->throttle_time = conf_time("service_throttle_time");
    p->stop_timeout = conf_time("master_stop_timeout");
    long limit = conf_int("default_process_limit");

    buf_reset(why);
    /* Children chdir to the queue directory before they look at anything. */
    if (p->queue_dir[0] != '/') {
        param_where("queue_directory", why);
        buf_printf(why, "queue_directory must be an absolute path: %s", p->queue_dir);
        return -1;
    }
    if (limit < 0 || limit > INT_MAX) {
        buf_printf(why, "bad default_process_limit: %ld", limit);
        return -1;
    }
    p->process_limit = (int)limit;
    if (p->throttle_time < 1 || p->throttle_time > INT_MAX)
        p->throttle_time = 1;
    if (p->stop_timeout < 0 || p->stop_timeout > INT_MAX)
        p->stop_timeout = INT_MAX;
    return set_protocols(p, why);
}

void master_params_free(struct master_params *p)
{
    free(p->config_dir);
    free(p->queue_dir);
    free(p->daemon_dir);
    free(p->inet_interfaces);
    free(p->inet_protocols);
    free(p->import_environment);
    memset(p, 0, sizeof(*p));
}

static char *master_cf_path(const char *config_dir)
{
    struct buf path = BUF_INIT;
    buf_printf(&path, "%s/master.cf", config_dir);
    return buf_steal(&path);
}

/* Read and check master.cf for p. 0, or -1 + "FILE:LINE: reason". */
static int master_cf_load(const struct master_params *p, struct master_cf **out, struct buf *why)
{
    char *path = master_cf_path(p->config_dir);
    int rc = master_cf_read(path, p->process_limit, out, why);
    free(path);
    if (rc == 0 && master_config_check(*out, p, why) < 0) {
        master_cf_free(*out);
        *out = NULL;
        rc = -1;
    }
    return rc;
}

/* ---- signals ------------------------------------------------------------- */

static void sig_catch(int sig)
{
    int saved = errno;
    unsigned char c = (unsigned char)sig;
    if (write(sig_pipe[1], &c, 1) < 0) {
        /* full: enough wakeups are pending already */
    }
    errno = saved;
}

static void sig_setup(void)
{
    struct sigaction sa;

    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        msg_fatal("signal pipe: %m");
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;
    /* A wakeup write to a service that just went away must not kill us. */
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = sig_catch;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
}

static void remove_pid_file(void)
{
    if (pid_file && unlink(pid_file) < 0 && errno != ENOENT)
        msg_warn("remove %s: %m", pid_file);
}

/* Wait for children for up to timeout seconds; 0 when all are gone. */
static int wait_children(long timeout)
{
    struct timespec now, end;

    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout;
    for (;;) {
        master_reap();
        if (master_child_count <= 0)
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long left =
            (long long)(end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
        if (left <= 0)
            return -1;
        /* SIGCHLD writes to the signal pipe: poll it instead of sleeping. */
        struct pollfd pfd = {.fd = sig_pipe[0], .events = POLLIN};
        if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) > 0) {
            unsigned char junk[64];
            while (read(sig_pipe[0], junk, sizeof(junk)) > 0)
                ;
        }
    }
}

/* Stop: no new clients, children finish theirs within master_stop_timeout,
 * then whatever is left is killed. Nothing of ours outlives master. */
__attribute__((noreturn)) static void master_stop(int sig)
{
    msg_info("terminating on signal %d", sig);
    master_services_close();
    if (sig == SIGINT) {
        master_signal_children(NULL, SIGKILL);
    } else {
        master_signal_children(NULL, SIGTERM);
        if (wait_children(master_params.stop_timeout) < 0) {
            msg_warn("%d process%s still running after %ld seconds: killing", master_child_count,
                     master_child_count == 1 ? "" : "es", master_params.stop_timeout);
            master_signal_children(NULL, SIGKILL);
        }
    }
    /* SIGKILL cannot be refused: wait for every one. */
    while (master_child_count > 0 && wait_children(1) < 0)
        ;
    remove_pid_file();
    msg_set_cleanup(NULL);
    exit(0);
}

static void master_reload(void)
{
    struct buf why = BUF_INIT;
    struct master_params p;
    struct master_cf *cf = NULL;
    const char *dir = master_params.config_dir;

    msg_info("reload -- version %s, configuration %s", POSTERN_VERSION, dir);
    if (mail_conf_load(dir, &why) < 0) {
        msg_warn("%s; configuration not reloaded", buf_cstr(&why));
        buf_free(&why);
        return;
    }
    if (master_params_load(&p, dir, &why) < 0) {
        msg_warn("%s; configuration not reloaded", buf_cstr(&why));
        master_params_free(&p);
        buf_free(&why);
        return;
    }
    /* As in Postfix: the listening addresses stay until a restart. */
    if (strcmp(p.inet_interfaces, master_params.inet_interfaces) != 0 ||
        strcmp(p.inet_protocols, master_params.inet_protocols) != 0) {
        msg_warn("ignoring inet_interfaces or inet_protocols change");
        msg_warn("to change inet_interfaces or inet_protocols, stop and start Postern");
        free(p.inet_interfaces);
        free(p.inet_protocols);
        p.inet_interfaces = xstrdup(master_params.inet_interfaces);
        p.inet_protocols = xstrdup(master_params.inet_protocols);
        p.proto4 = master_params.proto4;
        p.proto6 = master_params.proto6;
    }
    if (strcmp(p.queue_dir, master_params.queue_dir) != 0) {
        msg_warn("queue_directory changed from %s to %s: stop and start Postern to move it; "
                 "configuration not reloaded",
                 master_params.queue_dir, p.queue_dir);
        master_params_free(&p);
        buf_free(&why);
        return;
    }
    if (master_cf_load(&p, &cf, &why) < 0) {
        msg_warn("%s; configuration not reloaded", buf_cstr(&why));
        master_params_free(&p);
        buf_free(&why);
        return;
    }
    master_generation++;
    struct master_params old = master_params;
    master_params = p; /* listeners and spawns from here on use the new settings */
    if (master_services_reload(cf, &master_params, &why) < 0) {
        msg_warn("%s; configuration not reloaded", buf_cstr(&why));
        master_params = old;
        master_params_free(&p);
        master_generation--;
    } else {
        master_params_free(&old);
        master_env_set(master_env_build(&master_params));
    }
    buf_free(&why);
}

static void sig_event(int fd, void *ctx)
{
    unsigned char sigs[64];
    ssize_t n;
    int chld = 0, hup = 0, term = 0, intr = 0;

    (void)ctx;
    while ((n = read(fd, sigs, sizeof(sigs))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            switch (sigs[i]) {
            case SIGCHLD:
                chld = 1;
                break;
            case SIGHUP:
                hup = 1;
                break;
            case SIGTERM:
                term = 1;
                break;
            case SIGINT:
                intr = 1;
                break;
            }
        }
    }
    if (chld)
        master_reap();
    if (intr)
        master_stop(SIGINT);
    if (term)
        master_stop(SIGTERM);
    if (hup)
        master_reload();
}

/* On a fatal error (none is expected after start-up) the children go too. */
static void master_cleanup(void)
{
    if (getpid() != master_pid)
        return;
    master_services_close();
    master_signal_children(NULL, SIGTERM);
    remove_pid_file();
}

/* ---- start-up ------------------------------------------------------------ */

/* Descriptors 0-2 must be taken, or a listener could land there and be
 * mistaken for standard I/O. */
static void stdio_open(void)
{
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int nfd = open("/dev/null", O_RDWR);
        if (nfd < 0)
            exit(1);
        if (nfd != fd)
            exit(1);
    }
}

static char *absolute_dir(const char *dir)
{
    char *real = realpath(dir, NULL);
    if (real == NULL)
        msg_fatal("configuration directory %s: %m", dir);
    return real;
}

static void queue_layout_check(const char *queue_dir)
{
    static const char *const subdirs[] = {"pid", "private", "public"};
    struct stat st;

    if (chdir(queue_dir) < 0)
        msg_fatal("chdir %s: %m (run \"postern check\" to create the queue directory)", queue_dir);
    for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
        if (stat(subdirs[i], &st) < 0)
            msg_fatal("%s/%s: %m (run \"postern check\" to create the queue directories)",
                      queue_dir, subdirs[i]);
        if (!S_ISDIR(st.st_mode))
            msg_fatal("%s/%s is not a directory (run \"postern check\")", queue_dir, subdirs[i]);
    }
}

/* Fork; the foreground process exits when the background one says it is
 * ready (0) or dies (1). Returns the descriptor to report readiness on. */
static int detach(void)
{
    int ready[2];

    fflush(stdout);
    fflush(stderr);
    if (pipe2(ready, O_CLOEXEC) < 0)
        msg_fatal("pipe: %m");
    pid_t pid = fork();
    if (pid < 0)
        msg_fatal("fork: %m");
    if (pid > 0) {
        char c = 0;
        ssize_t n;
        close(ready[1]);
        do
            n = read(ready[0], &c, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 && c == 'R' ? 0 : 1);
    }
    close(ready[0]);
    if (setsid() < 0)
        msg_fatal("setsid: %m");
    return ready[1];
}

static void detach_done(int ready_fd)
{
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        msg_fatal("open /dev/null: %m");
    if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
        msg_fatal("dup2: %m");
    if (fd > 2)
        close(fd);
    msg_set_stderr(0);
    if (write(ready_fd, "R", 1) != 1)
        msg_warn("cannot tell the starting process that we are ready: %m");
    close(ready_fd);
}

static void not_root_warning(void)
{
    uid_t uid = getuid();
    if (uid == 0)
        return;
    struct passwd *pw = getpwuid(uid);
    msg_warn("not running as root: all services run as uid %ld (%s) without chroot", (long)uid,
             pw ? pw->pw_name : "unknown");
}

__attribute__((noreturn)) static void usage(void)
{
    msg_fatal("usage: master [-c config_dir] [-d] [-t] [-v]");
}

int main(int argc, char **argv)
{
    const char *conf_arg = NULL;
    int foreground = 0, test_mode = 0, c;
    struct buf why = BUF_INIT;

    stdio_open();
    umask(022);
    msg_init("master");
    opterr = 0;
    while ((c = getopt(argc, argv, "c:dtv")) != -1) {
        switch (c) {
        case 'c':
            conf_arg = optarg;
            break;
        case 'd':
            foreground = 1;
            break;
        case 't':
            test_mode = 1;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();

    /* Children run in the queue directory: they need an absolute path. */
    char *config_dir = absolute_dir(mail_conf_dir(conf_arg));
    mail_conf_dir(config_dir);
    mail_conf_read();
    if (master_params_load(&master_params, config_dir, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    free(config_dir);

    if (test_mode) {
        pid_t pid = master_pid_running(master_params.queue_dir, &why);
        if (pid < 0)
            msg_fatal("%s", buf_cstr(&why));
        exit(pid > 0 ? 1 : 0);
    }

    /* Everything that can be wrong with the configuration is found now,
     * before anything is opened. */
    if (master_cf_load(&master_params, &master_config, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));

    mail_log_setup("master", foreground);
    msg_set_stderr(1); /* until detached: `postern start` shows what went wrong */
    queue_layout_check(master_params.queue_dir);

    int ready_fd = foreground ? -1 : detach();
    master_pid = getpid();

    int lock_fd = master_pid_lock(master_params.queue_dir, &why);
    if (lock_fd < 0) {
        if (errno == EWOULDBLOCK)
            msg_fatal("the Postern mail system is %s", buf_cstr(&why));
        msg_fatal("%s", buf_cstr(&why));
    }
    buf_reset(&why);
    buf_printf(&why, "%s/%s", master_params.queue_dir, MASTER_PID_FILE);
    pid_file = buf_steal(&why);
    msg_set_cleanup(master_cleanup);

    sig_setup();
    event_read(sig_pipe[0], sig_event, NULL);
    master_env_set(master_env_build(&master_params));
    if (master_services_start(&why) < 0)
        msg_fatal("%s", buf_cstr(&why));

    if (!foreground)
        msg_set_stderr(0); /* from here on the log says it all */
    msg_info("daemon started -- version %s, configuration %s", POSTERN_VERSION,
             master_params.config_dir);
    not_root_warning();
    if (ready_fd >= 0)
        detach_done(ready_fd);

    for (;;)
        event_loop(-1);
}
