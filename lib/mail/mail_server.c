/* mail_server - the skeleton every Postern daemon runs in: options from
 * master, configuration, logging, the privilege drop, and the accept loop of
 * the single-client, multi-client and trigger variants (mail_server.h). */
#include "mail/mail_server.h"
#include "conf/mail_conf.h"
#include "mail/master_proto.h"
#include "maps/map.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/events.h"
#include "util/iostuff.h"
#include "util/msg.h"
#include "util/strutil.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTEN 64

enum variant { SINGLE, MULTI, TRIGGER };

static struct server_ctx ctx;
static const struct server_ops *ops;
static enum variant variant;
static int listen_fds[MAX_LISTEN];
static int listen_count;
static long use_count;
static long max_use;
static int max_idle;
static int client_count;
static int client_timeout;
static int unpriv, do_chroot;
static volatile sig_atomic_t in_service;
static volatile sig_atomic_t term_pending;

int master_notify(int status)
{
    struct master_status st = {.pid = getpid(), .gen = 0, .status = status};
    /* A pipe write this small is atomic; master reads whole records. */
    if (write(MASTER_STATUS_FD, &st, sizeof(st)) != (ssize_t)sizeof(st))
        return -1;
    return 0;
}

__attribute__((noreturn)) static void server_exit(void)
{
    if (ops->pre_exit)
        ops->pre_exit(&ctx);
    exit(0);
}

/* SIGTERM from master (stop or reload): leave at once when idle, otherwise
 * after the client being served. */
static void term_handler(int sig)
{
    (void)sig;
    if (!in_service)
        _exit(0);
    term_pending = 1;
}

void server_exit_after_client(void)
{
    term_pending = 1;
}

static void master_gone(int fd, void *unused)
{
    (void)fd;
    (void)unused;
    /* The write end of the status pipe polls as an error once master has
     * closed the read end: master is gone, and so are we. */
    msg_info("master went away -- exiting");
    server_exit();
}

/* drop_to - the privilege step for server_drop_privileges and its variant
 * with extra groups; param names the main.cf setting in messages. */
static void drop_to(const char *param, const char *user, const char *chroot_dir, const gid_t *extra,
                    int n_extra)
{
    struct passwd *pw = getpwnam(user);
    if (pw == NULL)
        msg_fatal("unknown %s account: %s", param, user);
    if (pw->pw_uid == 0)
        msg_fatal("%s %s must not have user ID 0", param, user);
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (n_extra < 0 || n_extra > 64)
        msg_panic("server_drop_privileges_groups: bad group count %d", n_extra);
    gid_t groups[65];
    int ngroups = 0;
    groups[ngroups++] = gid;
    for (int i = 0; i < n_extra; i++) {
        int dup = 0;
        for (int k = 0; k < ngroups; k++)
            dup |= groups[k] == extra[i];
        if (extra[i] == 0)
            msg_fatal("%s %s: refusing to keep group ID 0", param, user);
        if (!dup)
            groups[ngroups++] = extra[i];
    }

    /* Drop every capability from the bounding set while we still may, so
     * nothing exec'ed later can regain one. */
    for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
        if (CAP_IS_SUPPORTED(c) && cap_drop_bound(c) < 0)
            msg_fatal("cannot drop capability %d from the bounding set: %m", (int)c);
    }
    if (setgroups((size_t)ngroups, groups) < 0)
        msg_fatal("setgroups(%ld, ...): %m", (long)gid);
    if (chroot_dir) {
        if (chroot(chroot_dir) < 0)
            msg_fatal("chroot(%s): %m", chroot_dir);
        if (chdir("/") < 0)
            msg_fatal("chdir(/) in chroot %s: %m", chroot_dir);
    }
    if (setresgid(gid, gid, gid) < 0)
        msg_fatal("setresgid(%ld): %m", (long)gid);
    if (setresuid(uid, uid, uid) < 0)
        msg_fatal("setresuid(%ld): %m", (long)uid);
    if (setuid(0) == 0)
        msg_fatal("privileges could be regained after dropping them");

    cap_t none = cap_init();
    if (none == NULL || cap_set_proc(none) < 0)
        msg_fatal("cannot clear capabilities: %m");
    cap_free(none);
    if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() < 0)
        msg_fatal("cannot clear ambient capabilities: %m");
}

void server_drop_privileges(const char *user, const char *chroot_dir)
{
    drop_to("mail_owner", user, chroot_dir, NULL, 0);
}

void server_drop_privileges_groups(const char *user, const char *chroot_dir, const gid_t *extra,
                                   int n_extra)
{
    drop_to("user", user, chroot_dir, extra, n_extra);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        msg_fatal("prctl(PR_SET_NO_NEW_PRIVS): %m");
}

static void usage(void)
{
    msg_fatal("usage: %s -c DIR -n SERVICE -t TYPE -s COUNT [-u] [-C] [-v] [-o name=value] [args]",
              msg_progname());
}

static void parse_args(int argc, char **argv)
{
    const char *confdir = NULL;
    struct argv *overrides = argv_alloc();
    long nsock = -1;
    int c;

    ctx.service = msg_progname();
    ctx.type = "unix";
    opterr = 0;
    while ((c = getopt(argc, argv, "+c:n:t:s:uCvo:")) != -1) {
        switch (c) {
        case 'c':
            confdir = optarg;
            break;
        case 'n':
            ctx.service = optarg;
            break;
        case 't':
            ctx.type = optarg;
            break;
        case 's':
            if (str_to_long(optarg, 0, MAX_LISTEN, &nsock) < 0)
                msg_fatal("bad socket count: %s", optarg);
            break;
        case 'u':
            unpriv = 1;
            break;
        case 'C':
            do_chroot = 1;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'o':
            if (strchr(optarg, '=') == NULL)
                msg_fatal("bad -o option (expected name=value): %s", optarg);
            argv_add(overrides, optarg);
            break;
        default:
            usage();
        }
    }
    if (nsock < 0)
        usage();
    ctx.argv = argv + optind;
    ctx.argc = argc - optind;

    mail_conf_dir(confdir);
    mail_conf_read();
    for (size_t i = 0; i < overrides->argc; i++) {
        char *eq = strchr(overrides->argv[i], '=');
        *eq = 0;
        mail_conf_override(overrides->argv[i], eq + 1, "master.cf -o");
        *eq = '=';
    }
    argv_free(overrides);
    listen_count = (int)nsock;
}

static void check_descriptors(void)
{
    struct stat st;
    if (fstat(MASTER_STATUS_FD, &st) < 0 || !S_ISFIFO(st.st_mode))
        msg_fatal("descriptor %d is not the status pipe from master (run me from master)",
                  MASTER_STATUS_FD);
    for (int i = 0; i < listen_count; i++) {
        int fd = MASTER_LISTEN_FD + i;
        if (fstat(fd, &st) < 0)
            msg_fatal("listen descriptor %d: %m", fd);
        /* Children share the listen socket: another may accept first. */
        if (set_nonblock(fd, 1) < 0 || set_cloexec(fd, 1) < 0)
            msg_fatal("listen descriptor %d: %m", fd);
        listen_fds[i] = fd;
    }
    if (set_cloexec(MASTER_STATUS_FD, 1) < 0)
        msg_fatal("status descriptor: %m");
}

static void drop_privileges(void)
{
    const char *qdir = conf_str("queue_directory");
    if (chdir(qdir) < 0)
        msg_fatal("chdir(%s): %m", qdir);
    if (getuid() == 0) {
        if (unpriv)
            server_drop_privileges(conf_str("mail_owner"), do_chroot ? qdir : NULL);
        else if (do_chroot && (chroot(qdir) < 0 || chdir("/") < 0))
            msg_fatal("chroot(%s): %m", qdir);
    } else if (msg_verbose) {
        msg_info("not running as root: no chroot, no change of user");
    }
    /* Root-run delivery agents keep the right to exec setgid helpers such as
     * procmail; everyone else can never gain privileges again. */
    if ((unpriv || getuid() != 0) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        msg_fatal("prctl(PR_SET_NO_NEW_PRIVS): %m");
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0)
        msg_fatal("prctl(PR_SET_PDEATHSIG): %m");
    if (getppid() != parent || parent == 1)
        msg_fatal("master went away during start-up");
}

static void idle_timeout(void *unused)
{
    (void)unused;
    if (msg_verbose)
        msg_info("idle timeout -- exiting");
    server_exit();
}

static void arm_idle_timer(void)
{
    if (max_idle > 0 && !(ops->flags & SERVER_FLAG_IGNORE_IDLE))
        event_timer(idle_timeout, NULL, max_idle);
}

/* check_stale_tables - a table this process opened was rebuilt where it
 * cannot reopen it (chroot): exit after the client, so that master starts
 * a process that opens the new one, as Postfix does. A multi server first
 * finishes the clients it still has and takes no new ones. */
static void check_stale_tables(void)
{
    static int logged;
    const char *t = map_stale();
    if (t == NULL)
        return;
    if (!logged)
        msg_info("table %s has changed -- restarting", t);
    logged = 1;
    if (client_count == 0)
        server_exit();
    term_pending = 1;
}

static void after_client(void)
{
    use_count++;
    if (term_pending || (max_use > 0 && use_count >= max_use && client_count == 0))
        server_exit();
    if (master_notify(MASTER_STAT_AVAIL) < 0)
        server_exit();
    if (client_count == 0)
        arm_idle_timer();
}

/* accept a client; -1 when another process was faster (EAGAIN). */
static int accept_client(int lfd)
{
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
        errno != EINTR)
        msg_warn("accept: %m");
    return fd;
}

static void single_event(int lfd, void *unused)
{
    (void)unused;
    /* Accept first, then say "taken" (as Postfix does): said earlier, master
     * would see the connection still queued and start a spare process. */
    int fd = accept_client(lfd);
    if (fd < 0)
        return;
    if (master_notify(MASTER_STAT_TAKEN) < 0)
        server_exit();
    event_timer_cancel(idle_timeout, NULL);
    struct stream *s = stream_open(fd, client_timeout);
    in_service = 1;
    ops->service(s, &ctx);
    if (stream_close(s) < 0 && msg_verbose)
        msg_info("client stream: flush failed on close");
    in_service = 0;
    check_stale_tables();
    after_client();
}

static void multi_event(int lfd, void *unused)
{
    (void)unused;
    int fd = accept_client(lfd);
    if (fd < 0)
        return;
    /* A multi-client server takes more clients: it is available again at once. */
    if (master_notify(MASTER_STAT_TAKEN) < 0 || master_notify(MASTER_STAT_AVAIL) < 0)
        server_exit();
    event_timer_cancel(idle_timeout, NULL);
    client_count++;
    in_service = 1;
    ops->connect(stream_open(fd, client_timeout), &ctx);
}

void multi_server_disconnect(struct stream *client)
{
    event_disable(client->fd);
    if (stream_close(client) < 0 && msg_verbose)
        msg_info("client stream: flush failed on close");
    client_count--;
    in_service = client_count > 0;
    use_count++;
    check_stale_tables();
    if (client_count == 0 && (term_pending || (max_use > 0 && use_count >= max_use)))
        server_exit();
    if (client_count == 0)
        arm_idle_timer();
}

static void trigger_event(int lfd, void *unused)
{
    (void)unused;
    char bytes[1024];
    ssize_t n;

    if (strcmp(ctx.type, "fifo") == 0) {
        n = read(lfd, bytes, sizeof(bytes));
    } else {
        int fd = accept_client(lfd);
        if (fd < 0)
            return;
        /* A trigger client writes a few bytes and closes: bounded wait. */
        n = timed_read(fd, bytes, sizeof(bytes), (int)conf_time("ipc_idle"));
        close(fd);
    }
    if (n <= 0)
        return;
    if (master_notify(MASTER_STAT_TAKEN) < 0)
        server_exit();
    event_timer_cancel(idle_timeout, NULL);
    in_service = 1;
    ops->trigger(bytes, (size_t)n, &ctx);
    in_service = 0;
    after_client();
}

__attribute__((noreturn)) static void server_main(int argc, char **argv, const struct server_ops *o,
                                                  enum variant v)
{
    ops = o;
    variant = v;
    msg_init(argv[0]);
    parse_args(argc, argv);
    mail_log_setup(msg_progname(), 0);
    check_descriptors();
    /* Long-running services (qmgr) hold state across triggers: exiting
     * after max_use would abandon deliveries in flight. Postfix's qmgr
     * ignores max_use as well. */
    max_use = (ops->flags & SERVER_FLAG_UNLIMITED_USE) ? 0 : conf_int("max_use");
    max_idle = (int)conf_time("max_idle");
    client_timeout = ops->client_timeout ? ops->client_timeout : (int)conf_time("ipc_timeout");

    struct sigaction sa = {0};
    sa.sa_handler = term_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    tzset();

    if (ops->pre_init)
        ops->pre_init(&ctx);
    drop_privileges();
    if (ops->post_init)
        ops->post_init(&ctx);

    event_fn fn = v == SINGLE ? single_event : v == MULTI ? multi_event : trigger_event;
    for (int i = 0; i < listen_count; i++)
        event_read(listen_fds[i], fn, NULL);
    event_read(MASTER_STATUS_FD, master_gone, NULL);
    arm_idle_timer();
    for (;;) {
        event_loop(-1);
        if (term_pending) {
            if (client_count == 0)
                server_exit();
            /* Finish the clients we have; take no new ones. */
            for (int i = 0; i < listen_count; i++)
                event_disable(listen_fds[i]);
        }
    }
}

int single_server_main(int argc, char **argv, const struct server_ops *o)
{
    if (o->service == NULL)
        msg_panic("single_server_main: no service callback");
    server_main(argc, argv, o, SINGLE);
}

int multi_server_main(int argc, char **argv, const struct server_ops *o)
{
    if (o->connect == NULL)
        msg_panic("multi_server_main: no connect callback");
    server_main(argc, argv, o, MULTI);
}

int trigger_server_main(int argc, char **argv, const struct server_ops *o)
{
    if (o->trigger == NULL)
        msg_panic("trigger_server_main: no trigger callback");
    server_main(argc, argv, o, TRIGGER);
}
