/* queue_dirs - the layout of the queue directory: which subdirectories
 * exist, who owns them and with what mode (DESIGN.md "The queue").
 *
 * `postern check` creates what is missing and reports wrong owners or
 * modes; programs use the names. The setgid group (setgid_group, default
 * postdrop) lets the setgid postdrop command write maildrop/ and reach the
 * public/ sockets without being mail_owner.
 */
#ifndef MAIL_QUEUE_DIRS_H
#define MAIL_QUEUE_DIRS_H

#include <stddef.h>
#include <sys/types.h>

#include "util/buf.h"

enum queue_dir_owner { QD_ROOT, QD_MAIL_OWNER };
enum queue_dir_group { QD_GROUP_OWNER, QD_GROUP_SETGID };

struct queue_dir_spec {
    const char *name; /* relative to queue_directory */
    enum queue_dir_owner owner;
    enum queue_dir_group group;
    mode_t mode;
};

extern const struct queue_dir_spec queue_dirs[];
extern const size_t queue_dir_count;

/* queue_dirs_check - for each subdirectory of queue_dir: create it when
 * missing (when create is set), and report wrong ownership or mode as one
 * line per problem in problems. When not running as root every directory is
 * owned by the current user and groups are not checked. Returns the number
 * of problems, or -1 + problems on an error that stops the check. */
int queue_dirs_check(const char *queue_dir, const char *mail_owner, const char *setgid_group,
                     int create, struct buf *problems);

/* queue_dirs_sync_etc - copy the files name lookups read (resolv.conf,
 * hosts, nsswitch.conf, host.conf, services, localtime) into queue_dir/etc,
 * for chrooted daemons; a file missing on the system is removed there.
 * Returns the number of failures, each described in problems. */
int queue_dirs_sync_etc(const char *queue_dir, struct buf *problems);

/* queue_path - the path of queue file id in queue (relative to the queue
 * directory) into out, hashed per hash_queue_names / hash_queue_depth
 * ("deferred/G/ID"). With mkdir set, missing hash subdirectories are
 * created (mode 0700). 0, or -1 + why. */
int queue_path(const char *queue, const char *id, int mkdir_hash, struct buf *out, struct buf *why);

/* queue_find - look for id in the message queues (incoming, active,
 * deferred, hold, corrupt), hashed at the configured depth and flat. The
 * queue name goes into queue (may be NULL), the path into path. 0 or -1
 * (not found). */
int queue_find(const char *id, const char **queue, struct buf *path);

/* queue_move - rename a queue file from one queue to another (hashed as
 * configured), never replacing a file. Not synced: a rename within the
 * queue file system is atomic, and the file is found in either queue.
 * 0, or -1 + why. */
int queue_move(const char *from_path, const char *to_queue, const char *id, struct buf *why);

#endif
