/* master_wakeup - the wakeup column of master.cf: every N seconds master
 * writes MASTER_TRIGGER_WAKEUP to the service's own socket or fifo, as any
 * client would. Nothing more is needed when no child runs: the byte makes
 * the listener readable and master starts one (master_spawn.c). "N?" wakes
 * only a service that has had a process before (Postfix master(5)).
 *
 * Every step is non-blocking: a busy service with a full backlog or a full
 * fifo already has work to do, and master must never wait on a child.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "mail/master_proto.h"
#include "master.h"
#include "util/events.h"
#include "util/msg.h"
#include "util/sock.h"

static int wakeup_unix(const char *path)
{
    /* Timeout 0: a connect that would have to wait counts as busy. */
    int fd = unix_connect(path, 0);
    if (fd < 0)
        return (errno == ETIMEDOUT || errno == EAGAIN) ? 0 : -1;
    char c = MASTER_TRIGGER_WAKEUP;
    /* A new connection has an empty send buffer: this write cannot block. */
    ssize_t n = write(fd, &c, 1);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == 1 ? 0 : -1;
}

static int wakeup_fifo(const char *path)
{
    /* master holds the fifo open for reading, so this open cannot fail
     * with ENXIO while the service exists. */
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    char c = MASTER_TRIGGER_WAKEUP;
    ssize_t n = write(fd, &c, 1);
    int saved = errno;
    close(fd);
    errno = saved;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0; /* full of triggers already */
    return n == 1 ? 0 : -1;
}

static void master_wakeup_event(void *ctx)
{
    struct master_serv *serv = ctx;
    const struct master_ent *e = serv->ent;

    if (serv->dead || e == NULL || e->wakeup <= 0)
        return;
    if (!e->wakeup_if_used || serv->used) {
        int rc =
            e->type == MASTER_FIFO ? wakeup_fifo(serv->sock_path) : wakeup_unix(serv->sock_path);
        if (rc < 0)
            msg_warn("%s: wakeup %s: %m", serv->label, serv->sock_path);
        else if (msg_verbose)
            msg_info("%s: wakeup sent", serv->label);
    }
    event_timer(master_wakeup_event, serv, e->wakeup);
}

void master_wakeup_start(struct master_serv *serv)
{
    const struct master_ent *e = serv->ent;

    master_wakeup_stop(serv);
    if (e == NULL || e->wakeup <= 0)
        return;
    if (e->type != MASTER_UNIX && e->type != MASTER_FIFO) {
        msg_warn("%s:%d: %s: wakeup is supported for unix and fifo services only; ignored", e->file,
                 e->line, serv->label);
        return;
    }
    event_timer(master_wakeup_event, serv, 0);
}

void master_wakeup_stop(struct master_serv *serv)
{
    (void)event_timer_cancel(master_wakeup_event, serv);
}
