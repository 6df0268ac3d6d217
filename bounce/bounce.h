/* bounce.h - what the parts of the bounce program share: its settings and
 * the notice (flush) side, so bounce.c keeps only the request handling. */
#ifndef BOUNCE_BOUNCE_H
#define BOUNCE_BOUNCE_H

#include <stddef.h>

#include "util/buf.h"

/* Recipients listed in one notice; the rest are counted ("N more"), so a
 * notice stays far below message_size_limit whatever the log holds. */
#define BOUNCE_NOTICE_RCPT_MAX 1000

struct bounce_conf {
    const char *myhostname;
    const char *myorigin;
    const char *notice_rcpt_2bounce; /* 2bounce_notice_recipient */
    const char *double_bounce;       /* double_bounce_sender@myorigin */
    size_t size_limit;               /* bounce_size_limit */
    int timeout;                     /* ipc_timeout, for cleanup */
};

/* bounce_notify - send the notice for the recipients in bounce/ID (the
 * message is in queue_dir/ID, its envelope sender is sender) and remove
 * the log once the notice is safe in incoming/. 0 when done or when there
 * was nothing to send; -1 + why: nothing changed, try again later. */
int bounce_notify(const struct bounce_conf *conf, const char *queue_id, const char *queue_dir,
                  const char *sender, struct buf *why);

#endif
