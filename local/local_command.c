/* local_command - local(8)'s delivery to a |command (and mailbox_command):
 * /bin/sh -c COMMAND (or local_command_shell) as the user, the message on
 * stdin with the From_ line and headers Postfix prepends, a clean
 * environment (local_env.h), output captured for the reason, and a hard
 * time limit (command_time_limit) after which the command's whole process
 * group is killed. The verdict follows Postfix (sys_exits.h).
 *
 * The parent, which holds the queue file, feeds the message through a
 * pipe; nothing from the mail reaches the shell except as environment
 * values (censored) and message data.
 */
#include "local_deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "local_child.h"
#include "mail/local_env.h"
#include "mail/mail_proto.h"
#include "mail/sys_exits.h"
#include "util/argv.h"
#include "util/iostuff.h"
#include "util/msg.h"

extern char **environ;

static int set_cloexec_from(int lowfd)
{
    if (close_range((unsigned)lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    /* Older kernels: walk the open descriptors. */
    int max = (int)sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = lowfd; fd < max; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
            return -1;
    }
    return 0;
}

/* What the command child needs, all prepared by the parent. */
struct cmd_setup {
    const struct local_privs *pv;
    long fsize;
    const char *path; /* program to execve */
    char **argv;      /* its arguments */
    char **env;       /* the whole environment */
    const char *cwd;  /* NULL: home or / */
    const char *home;
    int in_fd, out_fd, st_fd;
};

static void cmd_child(const struct cmd_setup *s) __attribute__((noreturn));

static void cmd_child(const struct cmd_setup *s)
{
    struct buf why = BUF_INIT;
    int st_fd = fcntl(s->st_fd, F_DUPFD_CLOEXEC, 3);

    if (st_fd < 0)
        st_fd = s->st_fd;

    if (local_child_become(s->pv, s->fsize, 1, &why) < 0) {
        local_child_report(st_fd, DELIVER_DEFER, "4.3.0", "cannot change to the user: %s",
                           buf_cstr(&why));
        _exit(EX_TEMPFAIL);
    }
    /* Move the pipes above 2 first, so no dup2() below overwrites one
     * that is still needed (a daemon started without stdio). */
    int in_fd = fcntl(s->in_fd, F_DUPFD_CLOEXEC, 3);
    int out_fd = fcntl(s->out_fd, F_DUPFD_CLOEXEC, 3);
    if (in_fd < 0 || out_fd < 0 || dup2(in_fd, STDIN_FILENO) < 0 ||
        dup2(out_fd, STDOUT_FILENO) < 0 || dup2(out_fd, STDERR_FILENO) < 0) {
        local_child_report(st_fd, DELIVER_DEFER, "4.3.0", "dup2: %s", strerror(errno));
        _exit(EX_TEMPFAIL);
    }
    /* Nothing but stdin, stdout and stderr survives the exec: not the
     * queue file, not the log, not master's sockets. */
    if (set_cloexec_from(3) < 0) {
        local_child_report(st_fd, DELIVER_DEFER, "4.3.0", "cannot close descriptors: %s",
                           strerror(errno));
        _exit(EX_TEMPFAIL);
    }
    if (s->cwd) {
        if (chdir(s->cwd) < 0) {
            local_child_report(st_fd, DELIVER_DEFER, "4.3.0",
                               "cannot change directory to \"%s\" for uid=%lu gid=%lu: %s", s->cwd,
                               (unsigned long)s->pv->uid, (unsigned long)s->pv->gid,
                               strerror(errno));
            _exit(EX_TEMPFAIL);
        }
    } else if (s->home == NULL || chdir(s->home) < 0) {
        if (chdir("/") < 0) {
            local_child_report(st_fd, DELIVER_DEFER, "4.3.0", "cannot change directory to /: %s",
                               strerror(errno));
            _exit(EX_TEMPFAIL);
        }
    }
    execve(s->path, s->argv, s->env);
    local_child_report(st_fd, DELIVER_DEFER, "4.3.0", "cannot execute %s: %s", s->path,
                       strerror(errno));
    _exit(EX_OSERR);
}

/* The program and arguments: local_command_shell split at blanks, plus
 * the command; else /bin/sh -c command. Nothing from the mail is parsed
 * here: the command text is one argument. */
static struct argv *cmd_argv(const struct local_settings *c, const char *command, struct buf *path)
{
    struct argv *av;
    buf_reset(path);
    if (*c->cmd_shell) {
        av = argv_split(c->cmd_shell, " \t\r\n");
        argv_add(av, command);
        const char *prog = av->argv[0];
        if (strchr(prog, '/')) {
            buf_puts(path, prog);
        } else {
            buf_printf(path, "/usr/bin/%s", prog);
            if (access(buf_cstr(path), X_OK) < 0)
                buf_setf(path, "/bin/%s", prog);
        }
    } else {
        av = argv_alloc();
        argv_add(av, "sh");
        argv_add(av, "-c");
        argv_add(av, command);
        buf_puts(path, "/bin/sh");
    }
    return av;
}

/* Feed the message and collect output until the command is done or the
 * time is up. The queue file is read here, by the parent. */
struct cmd_io {
    int in_fd, out_fd;
    struct buf output; /* the first SYS_EXITS_OUTPUT_MAX bytes */
    int read_error;
    struct buf why;
};

static void cmd_io_drain(struct cmd_io *io)
{
    char tmp[4096];
    while (io->out_fd >= 0) {
        ssize_t r = read(io->out_fd, tmp, sizeof(tmp));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0 || errno != EAGAIN) {
                (void)close(io->out_fd);
                io->out_fd = -1;
            }
            return;
        }
        if (io->output.len < SYS_EXITS_OUTPUT_MAX) {
            size_t room = SYS_EXITS_OUTPUT_MAX - io->output.len;
            buf_append(&io->output, tmp, (size_t)r < room ? (size_t)r : room);
        }
    }
}

static void close_in(struct cmd_io *io)
{
    if (io->in_fd >= 0)
        (void)close(io->in_fd);
    io->in_fd = -1;
}

/* 1 when the time limit was hit. */
static int cmd_run(struct local_child *c, struct cmd_io *io, struct local_msg_iter *it,
                   long deadline)
{
    struct buf chunk = BUF_INIT;
    size_t off = 0;

    for (;;) {
        if (local_child_reap(c, 0)) {
            /* Done; whatever it left running keeps no pipe open for us. */
            close_in(io);
            cmd_io_drain(io);
            break;
        }
        if (local_ms_left(deadline, 1) == 0) {
            buf_free(&chunk);
            return 1;
        }
        if (io->in_fd >= 0 && off == chunk.len) {
            off = 0;
            int r = local_msg_next(it, &chunk, &io->why);
            if (r < 0) {
                /* A damaged queue file must not look like a delivery. */
                io->read_error = 1;
                close_in(io);
                local_child_kill(c);
                (void)local_child_reap(c, 1);
                cmd_io_drain(io);
                break;
            }
            if (r == 0)
                close_in(io);
        }
        struct pollfd pf[3];
        int n = 0, in_i = -1, out_i = -1;
        if (io->in_fd >= 0) {
            pf[n] = (struct pollfd){.fd = io->in_fd, .events = POLLOUT};
            in_i = n++;
        }
        if (io->out_fd >= 0) {
            pf[n] = (struct pollfd){.fd = io->out_fd, .events = POLLIN};
            out_i = n++;
        }
        if (c->pidfd >= 0)
            pf[n++] = (struct pollfd){.fd = c->pidfd, .events = POLLIN};
        int ms = local_ms_left(deadline, c->pidfd >= 0 ? INT_MAX : LOCAL_POLL_TICK_MS);
        if (poll(pf, (nfds_t)n, ms) < 0 && errno != EINTR) {
            msg_warn("poll: %s", strerror(errno));
            (void)poll(NULL, 0, 10);
            continue;
        }
        if (in_i >= 0 && pf[in_i].revents) {
            ssize_t w = write(io->in_fd, chunk.data + off, chunk.len - off);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EINTR && errno != EAGAIN)
                close_in(io); /* EPIPE: the command read what it wanted */
        }
        if (out_i >= 0 && pf[out_i].revents)
            cmd_io_drain(io);
    }
    buf_free(&chunk);
    return 0;
}

int local_deliver_command(const struct local_msg *m, const struct local_priv *p,
                          const struct local_rcpt *r, const char *command,
                          struct deliver_result *res)
{
    struct local_settings c;
    struct local_privs pv;
    struct buf why = BUF_INIT, path = BUF_INIT, head = BUF_INIT, cwd = BUF_INIT, reason = BUF_INIT;
    struct argv *env = NULL, *av = NULL;
    struct local_env_attr ea;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, st[2] = {-1, -1};
    int status;
    char dsn[16];

    if (local_settings_get(&c, &why) < 0) {
        msg_warn("%s", buf_cstr(&why));
        deliver_result_set(res, DELIVER_DEFER, "4.3.5", "mail system configuration error");
        buf_free(&why);
        return DELIVER_DEFER;
    }
    if (local_privs_make(&c, p, (gid_t)-1, &pv, &why) < 0) {
        msg_warn("%s: %s", m->queue_id, buf_cstr(&why));
        deliver_result_set(res, DELIVER_DEFER, "4.3.0", "%s", buf_cstr(&why));
        buf_free(&why);
        return DELIVER_DEFER;
    }
    memset(&ea, 0, sizeof(ea));
    ea.home = p->home;
    ea.shell = p->shell;
    ea.user = r->user;
    ea.sender = m->sender;
    ea.recipient = r->recipient;
    ea.local = r->local;
    ea.extension = r->extension;
    ea.domain = r->domain;
    ea.orig = r->orig;
    ea.delimiter = c.delimiter;
    if (*c.exec_dir && local_env_expand(c.exec_dir, &ea, c.filter, &cwd, &why) < 0) {
        msg_warn("bad parameter value syntax for command_execution_directory: %s", buf_cstr(&why));
        deliver_result_set(res, DELIVER_DEFER, "4.3.5", "mail system configuration error");
        status = DELIVER_DEFER;
        goto out;
    }
    env = local_env_build(&ea, c.export_env, environ, c.filter);
    av = cmd_argv(&c, command, &path);
    local_make_head(m, r, (c.delivered_mask & LOCAL_DELIVERED_COMMAND) != 0, 1, &head);

    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
        pipe2(st, O_CLOEXEC | O_NONBLOCK) < 0) {
        deliver_result_set(res, DELIVER_DEFER, "4.3.0", "Delivery failed: pipe: %s",
                           strerror(errno));
        status = DELIVER_DEFER;
        goto out;
    }
    struct cmd_setup s = {&pv,      c.size_limit, buf_cstr(&path),
                          av->argv, env->argv,    *c.exec_dir ? buf_cstr(&cwd) : NULL,
                          p->home,  in[0],        out[1],
                          st[1]};
    pid_t pid = fork();
    if (pid < 0) {
        deliver_result_set(res, DELIVER_DEFER, "4.3.0", "Delivery failed: fork: %s",
                           strerror(errno));
        status = DELIVER_DEFER;
        goto out;
    }
    if (pid == 0)
        cmd_child(&s);

    struct local_child ch;
    struct cmd_io io;
    struct local_msg_iter it;
    struct sigaction ign, old_pipe;
    long deadline = local_deadline(c.command_time_limit);

    local_child_started(&ch, pid);
    (void)close(in[0]);
    (void)close(out[1]);
    (void)close(st[1]);
    in[0] = out[1] = st[1] = -1;
    io.in_fd = in[1];
    io.out_fd = out[0];
    in[1] = out[0] = -1;
    buf_init(&io.output);
    buf_init(&io.why);
    io.read_error = 0;
    if (set_nonblock(io.in_fd, 1) < 0 || set_nonblock(io.out_fd, 1) < 0)
        msg_warn("cannot make command pipes non-blocking: %s", strerror(errno));
    /* A command that stops reading is no reason for us to die. */
    memset(&ign, 0, sizeof(ign));
    ign.sa_handler = SIG_IGN;
    (void)sigaction(SIGPIPE, &ign, &old_pipe);

    local_msg_iter_init(&it, m->qf, &head, 1);
    int timed_out = cmd_run(&ch, &io, &it, deadline);
    if (timed_out) {
        msg_warn("%s: command \"%s\" (process %ld): time limit exceeded", m->queue_id, command,
                 (long)pid);
        local_child_kill(&ch);
        close_in(&io);
    }
    (void)local_child_finish(&ch, local_now_ms() + 1000L * 60);
    cmd_io_drain(&io);
    (void)sigaction(SIGPIPE, &old_pipe, NULL);
    if (qf_rewind(m->qf) < 0)
        msg_warn("%s: cannot rewind queue file: %s", m->queue_id, strerror(errno));

    /* The child's own report (it never got to run the command) wins. */
    struct buf rep = BUF_INIT;
    char tmp[LOCAL_REPORT_MAX];
    ssize_t got;
    while ((got = read(st[0], tmp, sizeof(tmp))) > 0 && rep.len < LOCAL_REPORT_MAX)
        buf_append(&rep, tmp, (size_t)got);
    if (rep.len > 0 && !timed_out) {
        if (local_parse_report(rep.data, rep.len, &status, dsn, &reason) < 0) {
            status = DELIVER_DEFER;
            deliver_result_set(res, status, "4.3.0", "command setup failed");
        } else {
            deliver_result_set(res, status, dsn, "%s", buf_cstr(&reason));
        }
    } else if (io.read_error) {
        deliver_result_set(res, DELIVER_DEFER, "4.3.0", "error reading message: %s",
                           buf_cstr(&io.why));
        status = DELIVER_DEFER;
    } else {
        status = sys_exits_command(ch.wstatus, timed_out, command, io.output.data, io.output.len,
                                   dsn, &reason);
        deliver_result_set(res, status, dsn, "%s", buf_cstr(&reason));
    }
    buf_free(&rep);
    close_in(&io);
    if (io.out_fd >= 0)
        (void)close(io.out_fd);
    buf_free(&io.output);
    buf_free(&io.why);

out:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            (void)close(in[i]);
        if (out[i] >= 0)
            (void)close(out[i]);
        if (st[i] >= 0)
            (void)close(st[i]);
    }
    local_privs_free(&pv);
    if (env)
        argv_free(env);
    if (av)
        argv_free(av);
    buf_free(&why);
    buf_free(&path);
    buf_free(&head);
    buf_free(&cwd);
    buf_free(&reason);
    return status;
}
