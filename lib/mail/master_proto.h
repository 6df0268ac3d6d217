/* master_proto - how master and its children talk.
 *
 * A child is started with its configuration directory, service name and
 * listening sockets:
 *
 *   COMMAND -c CONFDIR -n SERVICE -t TYPE -s NSOCK [-u] [-C] [-v]
 *           [-o name=value ...] [ARGS from master.cf]
 *
 *   -u   drop privileges to mail_owner (master.cf unpriv column)
 *   -C   chroot to queue_directory (master.cf chroot column)
 *
 * File descriptors: MASTER_STATUS_FD is the write end of the service's
 * status pipe; the NSOCK listening sockets start at MASTER_LISTEN_FD.
 * A child writes a struct master_status whenever it takes a client
 * (MASTER_STAT_TAKEN) and when it is free again (MASTER_STAT_AVAIL); the
 * master uses these to decide when to start another process (maxproc) and to
 * tell a child that dies before serving anyone (throttle) from one that dies
 * later (restart).
 */
#ifndef MAIL_MASTER_PROTO_H
#define MAIL_MASTER_PROTO_H

#include <sys/types.h>

#define MASTER_STATUS_FD 3
#define MASTER_LISTEN_FD 4

#define MASTER_STAT_TAKEN 0
#define MASTER_STAT_AVAIL 1

struct master_status {
    pid_t pid;
    int gen;    /* the master's configuration generation the child was started in */
    int status; /* MASTER_STAT_* */
};

/* The byte master writes to a service's socket or fifo at each wakeup. */
#define MASTER_TRIGGER_WAKEUP 'W'

/* master_notify - tell the master about this process. 0 or -1. */
int master_notify(int status);

#endif
