/* master_service - the services of master.cf: checking the entries,
 * opening and closing their listening sockets, and switching to a new
 * master.cf on reload.
 *
 * Sockets: inet "port" listens on every inet_interfaces address (for the
 * inet_protocols in use), inet "host:port" on that address only; unix
 * services bind private/NAME or public/NAME and fifo services create a fifo
 * there, both relative to the queue directory master runs in. master opens
 * a fifo read-write so it never reads end-of-file when the last writer
 * leaves.
 *
 * A reload opens what the new configuration needs before it lets go of
 * anything the old one still uses; when something cannot be opened, what was
 * given up is opened again and the old configuration stays in force.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "master.h"
#include "util/alloc.h"
#include "util/events.h"
#include "util/iostuff.h"
#include "util/msg.h"
#include "util/sock.h"

#define FIFO_MODE 0622

struct master_serv *master_services;

/* ---- names and checks ---------------------------------------------------- */

static char *command_path(const struct master_ent *e, const struct master_params *p)
{
    struct buf path = BUF_INIT;
    if (e->command[0] == '/')
        buf_puts(&path, e->command);
    else
        buf_printf(&path, "%s/%s", p->daemon_dir, e->command);
    return buf_steal(&path);
}

/* NULL for inet services: they have no file. */
static char *sock_path(const struct master_ent *e)
{
    struct buf path = BUF_INIT;
    if (e->type != MASTER_UNIX && e->type != MASTER_FIFO)
        return NULL;
    buf_printf(&path, "%s/%s", e->private_ ? "private" : "public", e->name);
    return buf_steal(&path);
}

static int check_command(const struct master_ent *e, const char *path, struct buf *why)
{
    struct stat st;
    const char *problem = NULL;

    if (stat(path, &st) < 0)
        problem = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        problem = "not a regular file";
    else if (access(path, X_OK) < 0)
        problem = "not executable";
    if (problem == NULL)
        return 0;
    buf_reset(why);
    buf_printf(why, "%s:%d: service %s: command %s: %s", e->file, e->line, e->name, path, problem);
    return -1;
}

int master_config_check(const struct master_cf *cf, const struct master_params *p, struct buf *why)
{
    int rc = 0;
    char **paths = xcalloc(cf->count + 1, sizeof(*paths));

    for (size_t i = 0; i < cf->count && rc == 0; i++) {
        const struct master_ent *e = cf->ents[i];
        if (e->type == MASTER_PASS || e->type == MASTER_UNIX_DGRAM) {
            buf_reset(why);
            buf_printf(why, "%s:%d: service type %s is not supported", e->file, e->line,
                       master_type_name(e->type));
            rc = -1;
            break;
        }
        char *cmd = command_path(e, p);
        rc = check_command(e, cmd, why);
        free(cmd);
        /* A unix and a fifo service of one name would share one file. */
        paths[i] = sock_path(e);
        for (size_t j = 0; j < i && rc == 0 && paths[i]; j++) {
            if (paths[j] && strcmp(paths[i], paths[j]) == 0) {
                buf_reset(why);
                buf_printf(why, "%s:%d: service %s/%s uses %s, as does %s/%s at line %d", e->file,
                           e->line, e->name, master_type_name(e->type), paths[i], cf->ents[j]->name,
                           master_type_name(cf->ents[j]->type), cf->ents[j]->line);
                rc = -1;
            }
        }
    }
    for (size_t i = 0; i < cf->count; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

/* ---- listeners ----------------------------------------------------------- */

/* inet "port": one endpoint per inet_interfaces address (Postfix). */
static void inet_endpoints(const char *port, const struct master_params *p, struct argv *eps)
{
    struct buf ep = BUF_INIT;
    const char *ifs = p->inet_interfaces;

    if (strcasecmp(ifs, "all") == 0) {
        if (p->proto4 && p->proto6)
            argv_add(eps, port); /* every family the host has, v6 sockets V6ONLY */
        else {
            buf_printf(&ep, "%s:%s", p->proto4 ? "0.0.0.0" : "[::]", port);
            argv_add(eps, buf_cstr(&ep));
        }
    } else if (strcasecmp(ifs, "loopback-only") == 0) {
        if (p->proto4) {
            buf_printf(&ep, "127.0.0.1:%s", port);
            argv_add(eps, buf_cstr(&ep));
        }
        if (p->proto6) {
            buf_reset(&ep);
            buf_printf(&ep, "[::1]:%s", port);
            argv_add(eps, buf_cstr(&ep));
        }
    } else {
        struct argv *addrs = argv_split(ifs, ", \t\r\n");
        for (size_t i = 0; i < addrs->argc; i++) {
            char *a = addrs->argv[i];
            size_t len = strlen(a);
            if (len > 2 && a[0] == '[' && a[len - 1] == ']') {
                a[len - 1] = 0;
                a++;
            }
            buf_reset(&ep);
            if (strchr(a, ':'))
                buf_printf(&ep, "[%s]:%s", a, port);
            else
                buf_printf(&ep, "%s:%s", a, port);
            argv_add(eps, buf_cstr(&ep));
        }
        argv_free(addrs);
    }
    buf_free(&ep);
}

static int fifo_listen(const char *path, struct buf *why)
{
    struct stat st;

    buf_reset(why);
    if (lstat(path, &st) == 0) {
        /* A stale fifo is replaced; anything else is never removed. */
        if (!S_ISFIFO(st.st_mode)) {
            buf_printf(why, "%s exists and is not a fifo; not removing it", path);
            return -1;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            buf_printf(why, "remove stale fifo %s: %s", path, strerror(errno));
            return -1;
        }
    } else if (errno != ENOENT) {
        buf_printf(why, "lstat %s: %s", path, strerror(errno));
        return -1;
    }
    if (mkfifo(path, FIFO_MODE) < 0) {
        buf_printf(why, "mkfifo %s: %s", path, strerror(errno));
        return -1;
    }
    /* Read-write: the fifo always has a writer (us), so no EOF, no spin. */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        buf_printf(why, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
        buf_printf(why, "%s: not a fifo after mkfifo", path);
        close(fd);
        return -1;
    }
    if (fchmod(fd, FIFO_MODE) < 0) {
        buf_printf(why, "chmod %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Open e's sockets into fds[MASTER_LISTEN_MAX]: the count, or -1 + why. */
static int listen_open(const struct master_ent *e, const struct master_params *p, int *fds,
                       struct buf *why)
{
    struct buf reason = BUF_INIT;
    int count = 0, fd;
    char *path = sock_path(e);

    switch (e->type) {
    case MASTER_INET: {
        struct argv *eps = argv_alloc();
        if (strchr(e->name, ':'))
            argv_add(eps, e->name);
        else
            inet_endpoints(e->name, p, eps);
        if (eps->argc == 0)
            buf_set(&reason, "inet_interfaces names no address");
        for (size_t i = 0; i < eps->argc; i++) {
            int n = inet_listen(eps->argv[i], MASTER_BACKLOG, fds + count,
                                MASTER_LISTEN_MAX - count, &reason);
            if (n < 0) {
                while (count > 0)
                    close(fds[--count]);
                break;
            }
            count += n;
        }
        argv_free(eps);
        break;
    }
    case MASTER_UNIX:
        if ((fd = unix_listen(path, MASTER_BACKLOG, &reason)) >= 0)
            fds[count++] = fd;
        break;
    case MASTER_FIFO:
        if ((fd = fifo_listen(path, &reason)) >= 0)
            fds[count++] = fd;
        break;
    default:
        buf_printf(&reason, "service type %s is not supported", master_type_name(e->type));
        break;
    }
    /* inet_listen hands back blocking sockets; master never accepts on them,
     * and the children switch them to non-blocking themselves. */
    if (count == 0) {
        buf_reset(why);
        buf_printf(why, "%s:%d: service %s/%s: %s", e->file, e->line, e->name,
                   master_type_name(e->type), buf_cstr(&reason));
    }
    buf_free(&reason);
    free(path);
    return count > 0 ? count : -1;
}

/* Close fds; remove the socket or fifo file at path unless keep_path. Only
 * the kind of file we made is removed, never anything else. */
static void listen_close(int *fds, int *count, const char *path, int keep_path)
{
    struct stat st;

    for (int i = 0; i < *count; i++) {
        event_disable(fds[i]);
        close(fds[i]);
    }
    *count = 0;
    if (path == NULL || keep_path)
        return;
    if (lstat(path, &st) == 0 && (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)) &&
        unlink(path) < 0 && errno != ENOENT)
        msg_warn("remove %s: %m", path);
}

/* ---- services ------------------------------------------------------------ */

static char *serv_label(const struct master_ent *e)
{
    struct buf label = BUF_INIT;
    buf_printf(&label, "%s/%s", e->name, master_type_name(e->type));
    return buf_steal(&label);
}

static struct master_serv *serv_create(const struct master_ent *e, const struct master_params *p,
                                       struct buf *why)
{
    struct master_serv *serv = xcalloc(1, sizeof(*serv));

    if (pipe2(serv->status_fd, O_CLOEXEC) < 0) {
        buf_reset(why);
        buf_printf(why, "%s:%d: service %s: status pipe: %s", e->file, e->line, e->name,
                   strerror(errno));
        free(serv);
        return NULL;
    }
    if (set_nonblock(serv->status_fd[0], 1) < 0)
        msg_fatal("status pipe: set non-blocking: %m");
    serv->ent = e;
    serv->label = serv_label(e);
    serv->path = command_path(e, p);
    serv->sock_path = sock_path(e);
    event_read(serv->status_fd[0], master_status_event, serv);
    return serv;
}

static void serv_append(struct master_serv *serv)
{
    struct master_serv **sp = &master_services;
    while (*sp)
        sp = &(*sp)->next;
    *sp = serv;
}

void master_service_release(struct master_serv *serv)
{
    struct master_serv **sp;

    for (sp = &master_services; *sp && *sp != serv; sp = &(*sp)->next)
        ;
    if (*sp)
        *sp = serv->next;
    master_wakeup_stop(serv);
    (void)event_timer_cancel(master_unthrottle, serv);
    master_listen_stop(serv);
    for (int i = 0; i < serv->listen_count; i++)
        close(serv->listen_fd[i]);
    event_disable(serv->status_fd[0]);
    close(serv->status_fd[0]);
    close(serv->status_fd[1]);
    free(serv->label);
    free(serv->path);
    free(serv->sock_path);
    free(serv);
}

int master_services_start(struct buf *why)
{
    for (size_t i = 0; i < master_config->count; i++) {
        const struct master_ent *e = master_config->ents[i];
        struct master_serv *serv = serv_create(e, &master_params, why);
        if (serv == NULL)
            return -1;
        serv_append(serv);
        int n = listen_open(e, &master_params, serv->listen_fd, why);
        if (n < 0)
            return -1;
        serv->listen_count = n;
    }
    for (struct master_serv *serv = master_services; serv; serv = serv->next) {
        master_avail_listen(serv);
        master_wakeup_start(serv);
    }
    return 0;
}

void master_services_close(void)
{
    for (struct master_serv *serv = master_services; serv; serv = serv->next) {
        master_wakeup_stop(serv);
        (void)event_timer_cancel(master_unthrottle, serv);
        master_listen_stop(serv);
        listen_close(serv->listen_fd, &serv->listen_count, serv->sock_path, serv->dead);
        serv->throttled = 1; /* nothing is started any more */
    }
}

/* ---- reload -------------------------------------------------------------- */

static int argv_same(const struct argv *a, const struct argv *b)
{
    if (a->argc != b->argc)
        return 0;
    for (size_t i = 0; i < a->argc; i++)
        if (strcmp(a->argv[i], b->argv[i]) != 0)
            return 0;
    return 1;
}

/* Every column, argument and -o counts; where the line is does not. */
static int ent_same(const struct master_ent *a, const struct master_ent *b)
{
    return strcmp(a->name, b->name) == 0 && a->type == b->type && a->private_ == b->private_ &&
           a->unpriv == b->unpriv && a->chroot == b->chroot && a->wakeup == b->wakeup &&
           a->wakeup_if_used == b->wakeup_if_used && a->maxproc == b->maxproc &&
           strcmp(a->command, b->command) == 0 && argv_same(a->args, b->args) &&
           argv_same(a->opts, b->opts);
}

/* Same sockets: same name and type, and for unix and fifo the same directory.
 * inet_interfaces and inet_protocols never change without a restart. */
static int endpoint_same(const struct master_ent *a, const struct master_ent *b)
{
    return strcmp(a->name, b->name) == 0 && a->type == b->type &&
           (a->type == MASTER_INET || a->private_ == b->private_);
}

/* What a reload does with one entry of the new master.cf. */
struct reload_step {
    const struct master_ent *ent;
    struct master_serv *old;     /* same name and type in the running set, or NULL */
    int reopen;                  /* needs sockets of its own: new, or moved */
    struct master_serv *created; /* for a new service */
    int fds[MASTER_LISTEN_MAX];
    int count;
};

static struct master_serv *find_live(const struct master_ent *e)
{
    for (struct master_serv *s = master_services; s; s = s->next)
        if (!s->dead && s->ent->type == e->type && strcmp(s->ent->name, e->name) == 0)
            return s;
    return NULL;
}

/* The old service's sockets must go before the new configuration opens its
 * own: it is removed, or its sockets moved. */
static int old_goes(struct master_serv *serv, const struct reload_step *steps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (steps[i].old == serv)
            return steps[i].reopen;
    return 1;
}

int master_services_reload(struct master_cf *cf, struct master_params *p, struct buf *why)
{
    size_t n = cf->count;
    struct reload_step *steps = xcalloc(n ? n : 1, sizeof(*steps));
    int failed = 0;

    for (size_t i = 0; i < n; i++) {
        steps[i].ent = cf->ents[i];
        steps[i].old = find_live(cf->ents[i]);
        steps[i].reopen = steps[i].old == NULL || !endpoint_same(steps[i].old->ent, cf->ents[i]);
    }

    /* 1. Let go of the sockets the new configuration does not keep, so a port
     * or a file can pass from one service to another. */
    for (struct master_serv *s = master_services; s; s = s->next) {
        if (s->dead || !old_goes(s, steps, n))
            continue;
        master_listen_stop(s);
        listen_close(s->listen_fd, &s->listen_count, s->sock_path, 0);
    }

    /* 2. Open the new sockets and status pipes. */
    for (size_t i = 0; i < n && !failed; i++) {
        if (steps[i].old == NULL &&
            (steps[i].created = serv_create(steps[i].ent, p, why)) == NULL) {
            failed = 1;
            break;
        }
        if (!steps[i].reopen)
            continue;
        int count = listen_open(steps[i].ent, p, steps[i].fds, why);
        if (count < 0)
            failed = 1;
        else
            steps[i].count = count;
    }

    /* 3. On failure, put the old sockets back and leave everything else. */
    if (failed) {
        for (size_t i = 0; i < n; i++) {
            if (steps[i].created)
                master_service_release(steps[i].created);
            if (steps[i].count == 0)
                continue;
            char *path = sock_path(steps[i].ent);
            listen_close(steps[i].fds, &steps[i].count, path, 0);
            free(path);
        }
        for (struct master_serv *s = master_services; s; s = s->next) {
            if (s->dead || !old_goes(s, steps, n))
                continue;
            struct buf again = BUF_INIT;
            int count = listen_open(s->ent, &master_params, s->listen_fd, &again);
            if (count < 0) {
                /* Nothing left to fall back on: say so, and stop starting it. */
                msg_error("%s; %s stays closed until the next reload", buf_cstr(&again), s->label);
                s->throttled = 1;
                count = 0;
            }
            s->listen_count = count;
            master_avail_listen(s);
            buf_free(&again);
        }
        free(steps);
        master_cf_free(cf);
        return -1;
    }

    /* 4. Commit. Removed services wait, dead, for their last child. */
    for (struct master_serv *s = master_services, *next; s; s = next) {
        next = s->next;
        if (s->dead)
            continue;
        int kept = 0;
        for (size_t i = 0; i < n && !kept; i++)
            kept = steps[i].old == s;
        if (kept)
            continue;
        master_wakeup_stop(s);
        (void)event_timer_cancel(master_unthrottle, s);
        s->throttled = 0;
        s->dead = 1;
        s->ent = NULL;
        master_signal_children(s, SIGTERM);
        if (s->total_proc == 0)
            master_service_release(s);
    }
    for (size_t i = 0; i < n; i++) {
        struct reload_step *st = &steps[i];
        struct master_serv *s = st->old;
        int wake_changed = 1;
        if (s == NULL) {
            s = st->created;
            serv_append(s);
        } else {
            wake_changed = s->ent->wakeup != st->ent->wakeup ||
                           s->ent->wakeup_if_used != st->ent->wakeup_if_used;
            if (msg_verbose && !ent_same(s->ent, st->ent))
                msg_info("%s: entry changed", s->label);
            s->ent = st->ent;
            free(s->path);
            s->path = command_path(st->ent, p);
            free(s->sock_path);
            s->sock_path = sock_path(st->ent);
            /* A reload is how an admin fixes what got a service throttled. */
            (void)event_timer_cancel(master_unthrottle, s);
            s->throttled = 0;
            /* Old-generation children finish their client and leave; new
             * ones read the new main.cf. */
            master_signal_children(s, SIGTERM);
        }
        if (st->reopen) {
            memcpy(s->listen_fd, st->fds, sizeof(st->fds[0]) * (size_t)st->count);
            s->listen_count = st->count;
            st->count = 0;
        }
        master_avail_listen(s);
        if (wake_changed)
            master_wakeup_start(s);
    }
    free(steps);
    master_cf_free(master_config);
    master_config = cf;
    return 0;
}
