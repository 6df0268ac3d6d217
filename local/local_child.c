/* local_child - settings, privileges, child processes and the message
 * stream under local(8)'s user-side deliveries. See local_child.h.
 *
 * The root parent never touches a user's file. Each job runs in a child
 * that drops to the user (setgroups, setgid, setuid; checked: it cannot
 * get root back) and tells the parent the outcome through a pipe in one
 * bounded line. The parent treats that child as hostile: the line is
 * parsed strictly, the amount read is bounded, and a child that outlives
 * its time is killed with its process group. A child that dies without a
 * valid line means "try again later" (4.3.0).
 */
#include "local_child.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/dsn.h"
#include "mail/local_env.h"
#include "mail/mail_proto.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/iostuff.h"
#include "util/msg.h"

#define GROUPS_MAX 1024 /* supplementary groups we pass on */

/* ---------------------------------------------------------------- config */

static int settings_locks(const char *value, int *mask, struct buf *why)
{
    struct argv *words = argv_split(value, ", \t\r\n");
    *mask = 0;
    for (size_t i = 0; i < words->argc; i++) {
        if (strcasecmp(words->argv[i], "fcntl") == 0) {
            *mask |= MBOX_LOCK_FCNTL;
        } else if (strcasecmp(words->argv[i], "dotlock") == 0) {
            *mask |= MBOX_LOCK_DOTLOCK;
        } else {
            /* flock(2) locks are a separate namespace on Linux; taking an
             * fcntl lock instead would let flock users in. */
            buf_setf(why, "unsupported mailbox_delivery_lock method: %s", words->argv[i]);
            argv_free(words);
            return -1;
        }
    }
    argv_free(words);
    return 0;
}

int local_settings_get(struct local_settings *c, struct buf *why)
{
    c->home_mailbox = conf_str("home_mailbox");
    c->spool_dir = conf_str("mail_spool_directory");
    c->mailbox_command = conf_str("mailbox_command");
    c->cmd_shell = conf_str("local_command_shell");
    c->exec_dir = conf_str("command_execution_directory");
    c->export_env = conf_str("export_environment");
    c->filter = conf_str("command_expansion_filter");
    c->delimiter = conf_str("recipient_delimiter");
    c->default_privs = conf_str("default_privs");
    c->strict_owner = conf_bool("strict_mailbox_ownership");
    c->size_limit = conf_int("mailbox_size_limit");
    c->command_time_limit = conf_time("command_time_limit");
    c->ipc_timeout = conf_time("ipc_timeout");
    if ((c->delivered_mask = local_env_delivered_mask(conf_str("prepend_delivered_header"), why)) <
        0)
        return -1;
    mbox_params_init(&c->mbox);
    if (settings_locks(conf_str("mailbox_delivery_lock"), &c->mbox.locks, why) < 0)
        return -1;
    long attempts = conf_int("deliver_lock_attempts");
    long delay = conf_time("deliver_lock_delay");
    long stale = conf_time("stale_lock_time");
    c->mbox.lock_attempts = attempts < 1 ? 1 : attempts > 10000 ? 10000 : (int)attempts;
    c->mbox.lock_delay_ms = delay < 0 ? 0 : delay > 3600 ? 3600000 : (int)(delay * 1000);
    c->mbox.stale_lock_time = stale < 0 ? 0 : stale > INT_MAX ? INT_MAX : (int)stale;
    if (c->size_limit < 0)
        c->size_limit = 0;
    if (c->command_time_limit <= 0)
        c->command_time_limit = 1;
    if (c->ipc_timeout <= 0)
        c->ipc_timeout = 1;
    return 0;
}

/* ---------------------------------------------------------------- privileges */

void local_privs_free(struct local_privs *pv)
{
    free(pv->groups);
    pv->groups = NULL;
}

static void add_group(struct local_privs *pv, gid_t g)
{
    /* Group 0 opens root's group-readable files: never passed on. */
    if (g == 0 || pv->ngroups >= GROUPS_MAX)
        return;
    for (int i = 0; i < pv->ngroups; i++)
        if (pv->groups[i] == g)
            return;
    pv->groups[pv->ngroups++] = g;
}

/* The IDs the child takes, decided by the parent (NSS lookups happen here,
 * not after fork). Root becomes default_privs, as Postfix does for
 * commands and files; if that is root too, nothing is delivered. */
int local_privs_make(const struct local_settings *c, const struct local_priv *p, gid_t extra,
                     struct local_privs *pv, struct buf *why)
{
    const char *user = p->user;

    pv->uid = p->uid;
    pv->gid = p->gid;
    pv->groups = xcalloc(GROUPS_MAX, sizeof(gid_t));
    pv->ngroups = 0;
    if (pv->uid == 0 || pv->gid == 0) {
        struct passwd *pw = getpwnam(c->default_privs);
        if (pw == NULL || pw->pw_uid == 0 || pw->pw_gid == 0) {
            buf_setf(why, "refusing to deliver as root: default_privs account \"%s\" %s",
                     c->default_privs, pw == NULL ? "does not exist" : "is privileged");
            local_privs_free(pv);
            return -1;
        }
        if (pv->uid == 0) {
            pv->uid = pw->pw_uid;
            user = NULL; /* not root's groups */
        }
        if (pv->gid == 0)
            pv->gid = pw->pw_gid;
    }
    if (user && *user) {
        int n = GROUPS_MAX;
        gid_t *list = xcalloc((size_t)n, sizeof(gid_t));
        if (getgrouplist(user, pv->gid, list, &n) < 0)
            n = GROUPS_MAX; /* more than we pass on: the first GROUPS_MAX */
        for (int i = 0; i < n && i < GROUPS_MAX; i++)
            add_group(pv, list[i]);
        free(list);
    }
    add_group(pv, pv->gid);
    if (extra != (gid_t)-1)
        add_group(pv, extra);
    return 0;
}

/* ---------------------------------------------------------------- the child side */

static void child_fatal_exit(void)
{
    /* A fatal error in a child must not run the parent's cleanup or flush
     * the parent's buffers: leave at once; the parent defers. */
    _exit(EX_TEMPFAIL);
}

/* Become the user for good. Everything is checked: a child that could
 * still act as root must not go on. */
int local_child_become(const struct local_privs *pv, long fsize, int for_exec, struct buf *why)
{
    struct sigaction sa;
    sigset_t all;

    msg_set_cleanup(child_fatal_exit);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &sa, NULL);
    if (!for_exec) {
        /* Our own writer wants EPIPE and EFBIG, not death. */
        sa.sa_handler = SIG_IGN;
        (void)sigaction(SIGPIPE, &sa, NULL);
        (void)sigaction(SIGXFSZ, &sa, NULL);
    }
    sigemptyset(&all);
    (void)sigprocmask(SIG_SETMASK, &all, NULL);
    /* Own process group, so the parent can kill us with all offspring. */
    if (setsid() < 0) {
        buf_setf(why, "setsid: %s", strerror(errno));
        return -1;
    }
    if (pv->uid == 0 || pv->gid == 0) {
        buf_setf(why, "refusing to deliver as root");
        return -1;
    }
    if (setgroups((size_t)pv->ngroups, pv->groups) < 0) {
        buf_setf(why, "setgroups: %s", strerror(errno));
        return -1;
    }
    if (setresgid(pv->gid, pv->gid, pv->gid) < 0) {
        buf_setf(why, "setgid(%lu): %s", (unsigned long)pv->gid, strerror(errno));
        return -1;
    }
    if (setresuid(pv->uid, pv->uid, pv->uid) < 0) {
        buf_setf(why, "setuid(%lu): %s", (unsigned long)pv->uid, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || setgid(0) == 0 || getuid() == 0 || geteuid() == 0 || getgid() == 0 ||
        getegid() == 0) {
        buf_setf(why, "privileges could be regained after dropping them");
        return -1;
    }
    /* Not dumpable: the user may not ptrace the process that still holds
     * the queue file (the uid change already did this; be explicit). */
    if (!for_exec && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
        buf_setf(why, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
        return -1;
    }
    umask(077);
    /* mailbox_size_limit caps every file a local delivery writes,
     * commands included (Postfix does the same); EFBIG bounces 5.2.2. */
    if (fsize > 0) {
        struct rlimit rl = {(rlim_t)fsize, (rlim_t)fsize};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0) {
            buf_setf(why, "setrlimit(RLIMIT_FSIZE): %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

void local_child_write(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the parent is gone or gave up: nothing to tell */
        p += w;
        n -= (size_t)w;
    }
}

void local_child_report(int fd, int status, const char *dsn, const char *fmt, ...)
{
    struct buf text = BUF_INIT, line = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    buf_printf(&line, "R%d %s ", status, dsn);
    for (size_t i = 0; i < text.len && line.len < LOCAL_REPORT_MAX - 2; i++) {
        unsigned char c = (unsigned char)text.data[i];
        buf_putc(&line, c < 0x20 || c == 0x7f ? ' ' : c);
    }
    buf_putc(&line, '\n');
    local_child_write(fd, line.data, line.len);
    buf_free(&text);
    buf_free(&line);
}

/* ---------------------------------------------------------------- child processes */

long local_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

long local_deadline(long seconds)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds > 100L * 365 * 86400) /* a century is forever enough */
        seconds = 100L * 365 * 86400;
    return local_now_ms() + seconds * 1000L;
}

int local_ms_left(long deadline, int cap)
{
    long left = deadline - local_now_ms();
    if (left < 0)
        return 0;
    return left > cap ? cap : (int)left;
}

void local_child_started(struct local_child *c, pid_t pid)
{
    c->pid = pid;
    c->reaped = 0;
    c->wstatus = 0;
    c->pidfd = pidfd_open(pid, 0);
    if (c->pidfd >= 0 && set_cloexec(c->pidfd, 1) < 0) {
        (void)close(c->pidfd);
        c->pidfd = -1;
    }
}

int local_child_reap(struct local_child *c, int block)
{
    while (!c->reaped) {
        pid_t r = waitpid(c->pid, &c->wstatus, block ? 0 : WNOHANG);
        if (r == c->pid) {
            c->reaped = 1;
        } else if (r == 0) {
            return 0;
        } else if (errno != EINTR) {
            msg_warn("waitpid(%ld): %s", (long)c->pid, strerror(errno));
            c->reaped = 1;
            c->wstatus = W_EXITCODE(EX_TEMPFAIL, 0);
        }
    }
    return 1;
}

/* Kill the child and everything it started; only while it is unreaped,
 * so the pid (and group id) cannot belong to anyone else. */
void local_child_kill(struct local_child *c)
{
    if (c->reaped)
        return;
    (void)kill(-c->pid, SIGKILL); /* the child made its own group... */
    (void)kill(c->pid, SIGKILL);  /* ...unless it had not yet got there */
}

static void child_close(struct local_child *c)
{
    if (c->pidfd >= 0)
        (void)close(c->pidfd);
    c->pidfd = -1;
}

/* Wait for the exit until deadline; then kill. 1 when it had to be killed. */
int local_child_finish(struct local_child *c, long deadline)
{
    int killed = 0;
    while (!local_child_reap(c, 0)) {
        int ms = local_ms_left(deadline, LOCAL_POLL_TICK_MS);
        if (ms == 0) {
            local_child_kill(c);
            killed = 1;
            (void)local_child_reap(c, 1);
            break;
        }
        if (c->pidfd >= 0) {
            struct pollfd pf = {.fd = c->pidfd, .events = POLLIN};
            (void)poll(&pf, 1, local_ms_left(deadline, INT_MAX));
        } else {
            (void)poll(NULL, 0, ms < 5 ? ms : 5);
        }
    }
    child_close(c);
    return killed;
}

/* Run fn as pv in a child; collect at most bound bytes it writes to its
 * report descriptor, within timeout seconds. */
enum local_run_status local_run_writer(const struct local_privs *pv, long fsize, long timeout,
                                       local_writer_fn fn, void *ctx, size_t bound,
                                       struct buf *data, int *wstatus, struct buf *why)
{
    struct local_child c;
    int fds[2];
    long deadline = local_deadline(timeout);
    enum local_run_status st = LOCAL_RUN_DONE;

    buf_reset(data);
    if (pipe2(fds, O_CLOEXEC) < 0) {
        buf_setf(why, "pipe: %s", strerror(errno));
        return LOCAL_RUN_FAILED;
    }
    pid_t pid = fork();
    if (pid < 0) {
        buf_setf(why, "fork: %s", strerror(errno));
        (void)close(fds[0]);
        (void)close(fds[1]);
        return LOCAL_RUN_FAILED;
    }
    if (pid == 0) {
        struct buf err = BUF_INIT;
        (void)close(fds[0]);
        if (local_child_become(pv, fsize, 0, &err) < 0)
            local_child_report(fds[1], DELIVER_DEFER, "4.3.0", "cannot change to the user: %s",
                               buf_cstr(&err));
        else
            fn(ctx, fds[1]);
        _exit(0);
    }
    local_child_started(&c, pid);
    (void)close(fds[1]);
    for (;;) {
        char tmp[8192];
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        int ms = local_ms_left(deadline, INT_MAX);
        if (ms == 0) {
            st = LOCAL_RUN_TIMEOUT;
            break;
        }
        int n = poll(&pf, 1, ms);
        if (n < 0 && errno != EINTR) {
            buf_setf(why, "poll: %s", strerror(errno));
            st = LOCAL_RUN_FAILED;
            break;
        }
        if (n <= 0)
            continue;
        ssize_t r = read(fds[0], tmp, sizeof(tmp));
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            break;
        if (data->len + (size_t)r > bound) {
            buf_setf(why, "delivery process sent more than %zu bytes", bound);
            st = LOCAL_RUN_FAILED;
            break;
        }
        buf_append(data, tmp, (size_t)r);
    }
    (void)close(fds[0]);
    if (st != LOCAL_RUN_DONE)
        local_child_kill(&c);
    if (local_child_finish(&c, deadline) && st == LOCAL_RUN_DONE)
        st = LOCAL_RUN_TIMEOUT;
    *wstatus = c.wstatus;
    return st;
}

/* A child's report line, parsed strictly: the status must be one of ours
 * and the DSN a valid code of the matching class. */
int local_parse_report(const char *p, size_t n, int *status, char *dsn, struct buf *reason)
{
    if (n < 4 || p[0] != 'R' || p[2] != ' ' || p[n - 1] != '\n')
        return -1;
    int st = p[1] - '0';
    if (st != DELIVER_OK && st != DELIVER_DEFER && st != DELIVER_BOUNCE)
        return -1;
    const char *d = p + 3;
    const char *sp = memchr(d, ' ', n - 3);
    if (sp == NULL || sp - d < 5 || sp - d > 15)
        return -1;
    char code[16];
    memcpy(code, d, (size_t)(sp - d));
    code[sp - d] = 0;
    static const char class_of[] = {'2', '4', '5'};
    if (!dsn_status_valid(code) || code[0] != class_of[st])
        return -1;
    const char *text = sp + 1;
    const char *end = p + n - 1;
    for (const char *q = text; q < end; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            return -1;
    *status = st;
    memcpy(dsn, code, (size_t)(sp - d) + 1);
    buf_reset(reason);
    buf_append(reason, text, (size_t)(end - text));
    return 0;
}

void local_describe_wait(int ws, struct buf *out)
{
    if (WIFSIGNALED(ws))
        buf_printf(out, "killed by signal %d", WTERMSIG(ws));
    else if (WIFEXITED(ws))
        buf_printf(out, "exit status %d", WEXITSTATUS(ws));
    else
        buf_printf(out, "wait status 0x%x", (unsigned)ws);
}

/* Run a delivery writer and turn what it said into res. */
int local_deliver_in_child(const struct local_settings *c, const struct local_msg *m,
                           const struct local_priv *p, gid_t extra, local_writer_fn fn, void *ctx,
                           struct deliver_result *res)
{
    struct local_privs pv;
    struct buf why = BUF_INIT, data = BUF_INIT, reason = BUF_INIT;
    int ws = 0, status;
    char dsn[16];

    if (local_privs_make(c, p, extra, &pv, &why) < 0) {
        msg_warn("%s: %s", m->queue_id, buf_cstr(&why));
        deliver_result_set(res, DELIVER_DEFER, "4.3.0", "%s", buf_cstr(&why));
        buf_free(&why);
        return DELIVER_DEFER;
    }
    enum local_run_status rs = local_run_writer(&pv, c->size_limit, c->ipc_timeout, fn, ctx,
                                                LOCAL_REPORT_MAX, &data, &ws, &why);
    local_privs_free(&pv);
    if (qf_rewind(m->qf) < 0) /* the child moved the shared file offset */
        msg_warn("%s: cannot rewind queue file: %s", m->queue_id, strerror(errno));
    if (rs == LOCAL_RUN_FAILED) {
        msg_warn("%s: delivery process: %s", m->queue_id, buf_cstr(&why));
        deliver_result_set(res, DELIVER_DEFER, "4.3.0", "delivery process failed: %s",
                           buf_cstr(&why));
        status = DELIVER_DEFER;
    } else if (rs == LOCAL_RUN_TIMEOUT) {
        msg_warn("%s: delivery process time limit of %lds exceeded", m->queue_id, c->ipc_timeout);
        deliver_result_set(res, DELIVER_DEFER, "4.3.0", "delivery time limit exceeded");
        status = DELIVER_DEFER;
    } else if (local_parse_report(data.data, data.len, &status, dsn, &reason) < 0) {
        buf_reset(&why);
        local_describe_wait(ws, &why);
        msg_warn("%s: delivery process ended without a valid result (%s)", m->queue_id,
                 buf_cstr(&why));
        deliver_result_set(res, DELIVER_DEFER, "4.3.0",
                           "delivery process ended without a result (%s)", buf_cstr(&why));
        status = DELIVER_DEFER;
    } else {
        deliver_result_set(res, status, dsn, "%s", buf_cstr(&reason));
    }
    buf_free(&why);
    buf_free(&data);
    buf_free(&reason);
    return status;
}

/* ---------------------------------------------------------------- the message */

void local_msg_iter_init(struct local_msg_iter *it, struct qf_reader *qf, const struct buf *head,
                         int add_newline)
{
    it->qf = qf;
    it->head = head->data;
    it->head_len = head->len;
    it->state = 0;
    it->last = '\n';
    it->add_newline = add_newline;
}

/* The next piece into chunk: 1, 0 at the end, -1 + why on a queue file
 * error. */
int local_msg_next(struct local_msg_iter *it, struct buf *chunk, struct buf *why)
{
    int type;
    off_t off;

    buf_reset(chunk);
    if (it->state == 0) {
        it->state = 1;
        if (qf_rewind(it->qf) < 0) {
            buf_setf(why, "cannot rewind queue file: %s", strerror(errno));
            return -1;
        }
        if (it->head_len > 0) {
            buf_append(chunk, it->head, it->head_len);
            it->last = it->head[it->head_len - 1];
            return 1;
        }
    }
    while (it->state == 1) {
        int r = qf_read(it->qf, &type, chunk, &off, why);
        if (r < 0)
            return -1;
        if (r == 0) {
            it->state = 2;
            buf_reset(chunk);
            if (it->add_newline && it->last != '\n') {
                buf_putc(chunk, '\n');
                return 1;
            }
            return 0;
        }
        if (type == QF_CONTENT && chunk->len > 0) {
            it->last = (unsigned char)chunk->data[chunk->len - 1];
            return 1;
        }
    }
    return 0;
}

/* The header block (and for commands the From_ line) before the content. */
void local_make_head(const struct local_msg *m, const struct local_rcpt *r, int delivered,
                     int from_line, struct buf *head)
{
    struct buf hdr = BUF_INIT;
    int mask = LOCAL_HDR_RETURN_PATH | LOCAL_HDR_ORIG_RCPT | (delivered ? LOCAL_HDR_DELIVERED : 0);

    buf_reset(head);
    if (from_line)
        mbox_from_line(head, m->sender, time(NULL));
    local_env_headers(mask, m->sender, r->orig, r->recipient, &hdr);
    buf_append(head, buf_cstr(&hdr), hdr.len);
    buf_free(&hdr);
}
