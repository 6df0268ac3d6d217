/* master_spawn - starting, watching and reaping the children of master.
 *
 * Postfix's model: a service's listening sockets are watched only while the
 * service has no free child, is below its process limit and is not
 * throttled; a readable socket starts one child, which accepts the client
 * itself. Children report "taken" and "free" over the service's status
 * pipe. A child that exits abnormally before it ever took a client points
 * at a broken program or configuration, so the service is throttled for
 * service_throttle_time instead of being restarted in a tight loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mail/master_proto.h"
#include "master.h"
#include "util/alloc.h"
#include "util/events.h"
#include "util/msg.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Descriptors are parked at or above this number while they are moved to
 * their final places, so a source never collides with a target. */
#define SPAWN_PARK_FD 100

struct master_proc *master_procs;
int master_child_count;

static struct argv *child_env;

static void master_spawn(struct master_serv *serv);

static int serv_limit_reached(const struct master_serv *serv)
{
    int max = serv->ent ? serv->ent->maxproc : 0;
    return max > 0 && serv->total_proc >= max;
}

/* A client (or a wakeup) is waiting and nobody is free to take it. */
static void master_listen_event(int fd, void *ctx)
{
    struct master_serv *serv = ctx;
    (void)fd;
    if (msg_verbose)
        msg_info("%s: connection pending, starting a process", serv->label);
    master_spawn(serv);
}

void master_listen_start(struct master_serv *serv)
{
    if (serv->listening)
        return;
    for (int i = 0; i < serv->listen_count; i++)
        event_read(serv->listen_fd[i], master_listen_event, serv);
    serv->listening = 1;
}

void master_listen_stop(struct master_serv *serv)
{
    if (!serv->listening)
        return;
    for (int i = 0; i < serv->listen_count; i++)
        event_disable(serv->listen_fd[i]);
    serv->listening = 0;
}

void master_avail_listen(struct master_serv *serv)
{
    int want = !serv->dead && serv->listen_count > 0 && !serv->throttled && serv->avail_proc == 0 &&
               !serv_limit_reached(serv);
    if (want)
        master_listen_start(serv);
    else
        master_listen_stop(serv);
}

/* ---- throttle ------------------------------------------------------------ */

static void master_throttle(struct master_serv *serv)
{
    if (serv->throttled || serv->dead)
        return;
    serv->throttled = 1;
    event_timer(master_unthrottle, serv, (int)master_params.throttle_time);
    master_avail_listen(serv);
}

void master_unthrottle(void *ctx)
{
    struct master_serv *serv = ctx;
    if (!serv->throttled)
        return;
    serv->throttled = 0;
    if (msg_verbose)
        msg_info("%s: throttle released", serv->label);
    master_avail_listen(serv);
}

/* ---- environment --------------------------------------------------------- */

/* Replace NAME=... or append it, so each name appears once. */
static void env_put(struct argv *env, const char *name, size_t nlen, const char *entry)
{
    for (size_t i = 0; i < env->argc; i++) {
        if (strncmp(env->argv[i], name, nlen) == 0 && env->argv[i][nlen] == '=') {
            free(env->argv[i]);
            env->argv[i] = xstrdup(entry);
            return;
        }
    }
    argv_add(env, entry);
}

struct argv *master_env_build(const struct master_params *p)
{
    struct argv *env = argv_alloc();
    struct argv *names = argv_split(p->import_environment, ", \t\r\n");
    struct buf entry = BUF_INIT;

    /* import_environment (Postfix): NAME copies our value, NAME=value sets one. */
    for (size_t i = 0; i < names->argc; i++) {
        const char *item = names->argv[i];
        const char *eq = strchr(item, '=');
        if (eq) {
            if (eq > item)
                env_put(env, item, (size_t)(eq - item), item);
            continue;
        }
        const char *value = getenv(item);
        if (value == NULL)
            continue;
        buf_reset(&entry);
        buf_printf(&entry, "%s=%s", item, value);
        env_put(env, item, strlen(item), buf_cstr(&entry));
    }
    buf_reset(&entry);
    buf_printf(&entry, "MAIL_CONFIG=%s", p->config_dir);
    env_put(env, "MAIL_CONFIG", strlen("MAIL_CONFIG"), buf_cstr(&entry));
    buf_free(&entry);
    argv_free(names);
    return env;
}

void master_env_set(struct argv *env)
{
    if (child_env)
        argv_free(child_env);
    child_env = env;
}

/* ---- spawn --------------------------------------------------------------- */

static struct argv *child_args(const struct master_serv *serv)
{
    const struct master_ent *e = serv->ent;
    struct argv *args = argv_alloc();
    struct buf nsock = BUF_INIT;

    buf_printf(&nsock, "%d", serv->listen_count);
    argv_add(args, e->command);
    argv_add(args, "-c");
    argv_add(args, master_params.config_dir);
    argv_add(args, "-n");
    argv_add(args, e->name);
    argv_add(args, "-t");
    argv_add(args, master_type_name(e->type));
    argv_add(args, "-s");
    argv_add(args, buf_cstr(&nsock));
    if (e->unpriv)
        argv_add(args, "-u");
    if (e->chroot)
        argv_add(args, "-C");
    for (int i = 0; i < msg_verbose && i < 5; i++)
        argv_add(args, "-v");
    for (size_t i = 0; i < e->opts->argc; i++) {
        argv_add(args, "-o");
        argv_add(args, e->opts->argv[i]);
    }
    for (size_t i = 0; i < e->args->argc; i++)
        argv_add(args, e->args->argv[i]);
    buf_free(&nsock);
    return args;
}

/* Mark every descriptor from first up as close-on-exec. */
static void cloexec_from(int first)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = first; fd < max; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0)
            (void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

/* In the child, between fork and exec: only async-signal-safe calls, no
 * logging (the log descriptor may be overwritten by now). An exec failure
 * goes back to master through err_fd. */
__attribute__((noreturn)) static void child_exec(struct master_serv *serv, char **argv, int err_fd,
                                                 const sigset_t *mask)
{
    int src[1 + MASTER_LISTEN_MAX];
    int n = 0, err;

    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)signal(sig, SIG_DFL);

    /* No child may outlive master. The skeleton does the same after its
     * privilege change (which clears this); here it covers the time until. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0 || getppid() != master_pid)
        _exit(1);

    if ((err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, SPAWN_PARK_FD)) < 0)
        _exit(127);
    src[n++] = serv->status_fd[1];
    for (int i = 0; i < serv->listen_count; i++)
        src[n++] = serv->listen_fd[i];
    for (int i = 0; i < n; i++) {
        if ((src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, SPAWN_PARK_FD)) < 0)
            goto fail;
    }
    /* dup2 leaves the copy without close-on-exec: exactly these survive. */
    for (int i = 0; i < n; i++) {
        if (dup2(src[i], MASTER_STATUS_FD + i) < 0)
            goto fail;
    }
    cloexec_from(MASTER_STATUS_FD + n);
    (void)sigprocmask(SIG_SETMASK, mask, NULL);
    execve(serv->path, argv, child_env->argv);

fail:
    err = errno;
    if (write(err_fd, &err, sizeof(err)) < 0) {
        /* master sees the exit status anyway */
    }
    _exit(127);
}

static void master_spawn(struct master_serv *serv)
{
    sigset_t all, old;
    int errpipe[2], err;
    ssize_t n;

    if (serv->dead || serv->throttled)
        return;
    if (pipe2(errpipe, O_CLOEXEC) < 0) {
        msg_warn("%s: pipe: %m", serv->label);
        master_throttle(serv);
        return;
    }
    struct argv *args = child_args(serv);

    /* A signal caught between fork and the handler reset would run master's
     * handler in the child and post into master's signal pipe. */
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    sigset_t empty;
    sigemptyset(&empty);
    pid_t pid = fork();
    if (pid == 0) {
        close(errpipe[0]);
        child_exec(serv, args->argv, errpipe[1], &empty);
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    argv_free(args);
    close(errpipe[1]);
    if (pid < 0) {
        errno = fork_errno;
        msg_warn("%s: fork: %m", serv->label);
        close(errpipe[0]);
        master_throttle(serv);
        return;
    }
    /* EOF: the exec succeeded (the pipe was close-on-exec). */
    do
        n = read(errpipe[0], &err, sizeof(err));
    while (n < 0 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof(err)) {
        errno = err;
        msg_warn("%s: cannot execute %s: %m", serv->label, serv->path);
    }

    struct master_proc *proc = xcalloc(1, sizeof(*proc));
    proc->pid = pid;
    proc->serv = serv;
    proc->gen = master_generation;
    proc->avail = 1;
    proc->next = master_procs;
    master_procs = proc;
    master_child_count++;
    serv->total_proc++;
    serv->avail_proc++;
    serv->used = 1;
    if (msg_verbose)
        msg_info("%s: started %s pid %ld", serv->label, serv->path, (long)pid);
    master_avail_listen(serv);
}

/* ---- status pipe --------------------------------------------------------- */

static struct master_proc *proc_find(pid_t pid, struct master_proc ***link)
{
    struct master_proc **pp;
    for (pp = &master_procs; *pp; pp = &(*pp)->next) {
        if ((*pp)->pid == pid) {
            if (link)
                *link = pp;
            return *pp;
        }
    }
    return NULL;
}

static void proc_set_avail(struct master_proc *proc, int avail)
{
    if (proc->avail == avail)
        return;
    proc->avail = avail;
    proc->serv->avail_proc += avail ? 1 : -1;
}

static void status_update(struct master_serv *serv, const struct master_status *st)
{
    struct master_proc *proc = st->pid > 0 ? proc_find(st->pid, NULL) : NULL;

    if (proc == NULL) {
        msg_warn("%s: status message from unknown process %ld", serv->label, (long)st->pid);
        return;
    }
    if (proc->serv != serv) {
        msg_warn("%s: status message for pid %ld, a process of %s", serv->label, (long)st->pid,
                 proc->serv->label);
        return;
    }
    switch (st->status) {
    case MASTER_STAT_TAKEN:
        proc->use_count++;
        proc_set_avail(proc, 0);
        break;
    case MASTER_STAT_AVAIL:
        /* A child told to stop finishes its client but takes no new one. */
        if (!proc->signalled)
            proc_set_avail(proc, 1);
        break;
    default:
        msg_warn("%s: pid %ld: unknown status %d", serv->label, (long)st->pid, st->status);
        return;
    }
    master_avail_listen(serv);
}

void master_status_event(int fd, void *ctx)
{
    struct master_serv *serv = ctx;
    struct master_status st[32];

    for (;;) {
        ssize_t n = read(fd, st, sizeof(st));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                msg_warn("%s: read status pipe: %m", serv->label);
            return;
        }
        if (n == 0)
            return;
        /* Children write whole records, and a pipe write that small is
         * atomic; anything else is a broken child and is dropped. */
        size_t count = (size_t)n / sizeof(st[0]);
        if ((size_t)n % sizeof(st[0]) != 0)
            msg_warn("%s: status pipe: dropping a %zu-byte fragment", serv->label,
                     (size_t)n % sizeof(st[0]));
        for (size_t i = 0; i < count; i++)
            status_update(serv, &st[i]);
        if ((size_t)n < sizeof(st))
            return;
    }
}

/* ---- reaping ------------------------------------------------------------- */

static void proc_exited(struct master_proc *proc, int status)
{
    struct master_serv *serv = proc->serv;
    long pid = (long)proc->pid;
    int abnormal = 0;

    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        msg_warn("process %s pid %ld exit status %d", serv->path, pid, WEXITSTATUS(status));
        abnormal = 1;
    } else if (WIFSIGNALED(status)) {
        /* The signal master sent to stop it is no news. */
        int sig = WTERMSIG(status);
        if (proc->signalled && (sig == proc->signalled || sig == SIGTERM || sig == SIGKILL)) {
            if (msg_verbose)
                msg_info("process %s pid %ld stopped by signal %d", serv->path, pid,
                         WTERMSIG(status));
        } else {
            msg_warn("process %s pid %ld killed by signal %d", serv->path, pid, WTERMSIG(status));
            abnormal = 1;
        }
    } else if (msg_verbose) {
        msg_info("process %s pid %ld exited", serv->path, pid);
    }

    proc_set_avail(proc, 0);
    serv->total_proc--;
    master_child_count--;
    if (abnormal && proc->use_count == 0 && !proc->signalled && !serv->dead && !serv->throttled) {
        msg_warn("%s: bad command startup -- throttling", serv->path);
        master_throttle(serv);
    }
    free(proc);
    if (serv->dead) {
        if (serv->total_proc == 0)
            master_service_release(serv);
    } else {
        master_avail_listen(serv);
    }
}

void master_reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) != 0) {
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            if (errno != ECHILD)
                msg_warn("waitpid: %m");
            return;
        }
        struct master_proc **link;
        struct master_proc *proc = proc_find(pid, &link);
        if (proc == NULL) {
            msg_warn("master_reap_child: unknown pid: %ld", (long)pid);
            continue;
        }
        *link = proc->next;
        proc_exited(proc, status);
    }
}

void master_signal_children(struct master_serv *serv, int sig)
{
    for (struct master_proc *proc = master_procs; proc; proc = proc->next) {
        if (serv && proc->serv != serv)
            continue;
        if (kill(proc->pid, sig) < 0 && errno != ESRCH)
            msg_warn("kill process %ld: %m", (long)proc->pid);
        proc->signalled = sig;
        proc_set_avail(proc, 0);
    }
    for (struct master_serv *s = master_services; s; s = s->next)
        if ((serv == NULL || s == serv) && !s->dead)
            master_avail_listen(s);
}
