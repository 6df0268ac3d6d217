/* master_pid - the master's pid file and lock, $queue_directory/pid/master.pid.
 *
 * The running master holds an exclusive flock on the file for its whole
 * life, so "is Postern running" is answered by the lock, never by a stale
 * PID number, and a second master refuses to start.
 */
#ifndef MAIL_MASTER_PID_H
#define MAIL_MASTER_PID_H

#include <sys/types.h>

#include "util/buf.h"

#define MASTER_PID_FILE "pid/master.pid" /* relative to queue_directory */

/* master_pid_lock - open (creating 0644) queue_dir/pid/master.pid, take the
 * lock without waiting and write our PID. Returns the descriptor (keep it
 * open, close-on-exec) or -1 + why; when another master holds the lock, errno
 * is EWOULDBLOCK and why says "already running (PID n)". */
int master_pid_lock(const char *queue_dir, struct buf *why);
/* master_pid_running - the PID of the master that holds the lock, 0 when no
 * master runs (no file, or nobody holds the lock), -1 + why on error. */
pid_t master_pid_running(const char *queue_dir, struct buf *why);

#endif
