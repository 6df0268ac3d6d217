/* maildir - deliver one message into a Maildir, safely and durably.
 *
 * Follows D. J. Bernstein's Maildir specification as Postfix and Dovecot use
 * it: the message is written under tmp/ with a unique name, fsynced, then
 * moved into new/ (never replacing an existing file) and new/ is fsynced;
 * only then is the delivery a success (DESIGN.md, invariant 1). Unique names
 * read "SECONDS.MUSECSPPID.QCOUNTER.HOST" ("<sec>.M<usec>P<pid>Q<n>.<host>"),
 * the host name with '/' and ':' written as \057 and \072 as Dovecot does.
 *
 * The caller (the local or virtual delivery agent) already runs as the
 * mailbox owner; tmp/, new/ and cur/ are created (0700) when missing and are
 * never reached through a symbolic link. Streaming use:
 *
 *     struct maildir_delivery *d = maildir_open(path, why, &err);
 *     maildir_write(d, header, n, why) ... maildir_write(d, body, m, why);
 *     maildir_commit(d, &name, why)   (or maildir_abort(d))
 *
 * Every function that can fail returns 0, or MAILDIR_DEFER (-1: try again
 * later) or MAILDIR_BOUNCE (-2: retrying will not help, e.g. over quota),
 * with a reason naming the path and the system error in why.
 */
#ifndef MAIL_MAILDIR_H
#define MAIL_MAILDIR_H

#include <stddef.h>

#include "util/buf.h"

#define MAILDIR_DEFER  (-1)
#define MAILDIR_BOUNCE (-2)

struct maildir_delivery;

/* maildir_open - create the Maildir (and its missing parents) if needed and
 * an exclusive file in tmp/. NULL on failure, with *status set to
 * MAILDIR_DEFER or MAILDIR_BOUNCE (status may be NULL). */
struct maildir_delivery *maildir_open(const char *path, struct buf *why, int *status);
/* maildir_write - append n bytes of message content. On failure the
 * delivery is aborted (tmp file removed) and d must not be used again. */
int maildir_write(struct maildir_delivery *d, const void *p, size_t n, struct buf *why);
/* maildir_commit - fsync, move into new/, fsync new/; frees d either way.
 * On success the file's name (without directory) is put in name (if not
 * NULL); on failure the tmp file is removed and nothing is in new/. */
int maildir_commit(struct maildir_delivery *d, struct buf *name, struct buf *why);
/* maildir_abort - remove the tmp file and free d. */
void maildir_abort(struct maildir_delivery *d);
/* maildir_tmp_name - the unique name the message will have in new/. */
const char *maildir_tmp_name(const struct maildir_delivery *d);

/* maildir_deliver - open, write len bytes, commit in one call. */
int maildir_deliver(const char *path, const void *msg, size_t len, struct buf *name,
                    struct buf *why);

/* maildir_unique - a new unique base name (see above) into out. */
void maildir_unique(struct buf *out);

#endif
