/* mbox - append messages to a UNIX mailbox file the way Postfix's local(8)
 * does, so that a failed delivery never leaves half a message behind.
 *
 * mbox_open() opens or creates the file with safe_open() (no symlinks, a
 * regular file with one link, the expected owner), then takes the locks
 * Postfix takes on Debian (mailbox_delivery_lock = fcntl, dotlock): first
 * the dotlock PATH.lock (O_EXCL; removed when older than the stale time),
 * then an fcntl write lock on the file. Both are retried a bounded number of
 * times; a lock that stays busy is a temporary error. The size at open is
 * remembered: any failure, and mbox_abort(), truncates back to it.
 *
 * Each message gets the From_ line Postfix writes ("From SENDER  DATE",
 * two spaces, the date as asctime(3) prints local time; MAILER-DAEMON for
 * the null sender). Every content line that begins with "From " is written
 * as ">From " -- Postfix quotes all lines, headers included, and does not
 * add a second '>' to lines already quoted ("mboxo"), and so do we. A
 * missing final newline is supplied and an empty line ends the message.
 * Content is expected with LF line ends, as it is kept in the queue file.
 *
 *     mbox_open(&mb, path, &params, why);
 *     mbox_begin(mb, sender, time(NULL), why);
 *     mbox_write(mb, piece, n, why) ...;
 *     mbox_end(mb, why);               (more messages may follow)
 *     mbox_commit(mb, why)             (or mbox_abort(mb))
 *
 * Every call returns 0, or MBOX_DEFER (-1: try again later) or MBOX_BOUNCE
 * (-2: retrying will not help) with a reason in why. After a failure the
 * mailbox has already been rolled back and unlocked; mb is freed and must
 * not be used again. mbox_commit() and mbox_abort() free mb as well.
 */
#ifndef MAIL_MBOX_H
#define MAIL_MBOX_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util/buf.h"

#define MBOX_DEFER  (-1)
#define MBOX_BOUNCE (-2)

#define MBOX_LOCK_FCNTL   (1 << 0)
#define MBOX_LOCK_DOTLOCK (1 << 1)

struct mbox_params {
    uid_t owner;         /* required owner of an existing file, SAFE_OPEN_ANY_USER: any */
    gid_t group;         /* required group, SAFE_OPEN_ANY_GROUP: any */
    mode_t mode;         /* mode of a new mailbox */
    int locks;           /* MBOX_LOCK_* (Postfix: mailbox_delivery_lock) */
    int lock_attempts;   /* tries per lock (Postfix: deliver_lock_attempts, 20) */
    int lock_delay_ms;   /* pause between tries (Postfix: deliver_lock_delay, 1s) */
    int stale_lock_time; /* seconds after which a dotlock is removed (stale_lock_time, 500) */
};

struct mbox;

/* mbox_params_init - Postfix's defaults: any owner, mode 0600, fcntl and
 * dotlock, 20 attempts 1 s apart, stale dotlocks after 500 s. */
void mbox_params_init(struct mbox_params *p);

int mbox_open(struct mbox **mbp, const char *path, const struct mbox_params *p, struct buf *why);
/* mbox_begin - start a message: the From_ line for sender ("" is the null
 * sender) at time when. */
int mbox_begin(struct mbox *mb, const char *sender, time_t when, struct buf *why);
/* mbox_write - message content, in pieces of any size. */
int mbox_write(struct mbox *mb, const void *p, size_t n, struct buf *why);
/* mbox_end - finish the message: final newline, then the empty line. */
int mbox_end(struct mbox *mb, struct buf *why);
/* mbox_write_message - begin + write + end for a message held in memory. */
int mbox_write_message(struct mbox *mb, const char *sender, time_t when, const void *p, size_t n,
                       struct buf *why);
/* mbox_commit - fsync, unlock, remove the dotlock; the delivery counts
 * only when this returns 0. On failure the mailbox is rolled back. */
int mbox_commit(struct mbox *mb, struct buf *why);
/* mbox_abort - truncate to the size at open, fsync, unlock. */
void mbox_abort(struct mbox *mb);

/* mbox_from_line - the From_ line (with its newline) into out. */
void mbox_from_line(struct buf *out, const char *sender, time_t when);

#endif
