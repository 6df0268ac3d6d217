/* bounce_client - talk to the bounce service (mail_proto.h "bounce"):
 * record a recipient's permanent failure (private/bounce) or delay
 * (private/defer) in the message's log, and ask for the non-delivery notice
 * once a message is finished. Paths are relative to the current directory,
 * which for every daemon is the queue directory.
 */
#ifndef MAIL_BOUNCE_CLIENT_H
#define MAIL_BOUNCE_CLIENT_H

#include <stdint.h>

#include "util/buf.h"

struct bounce_rcpt {
    const char *address; /* recipient */
    const char *orcpt;   /* original recipient, "" when none */
    const char *dsn;     /* "5.1.1", "4.2.2" ... */
    const char *action;  /* "failed" (bounce log) or "delayed" (defer log) */
    const char *reason;  /* human text (CR/LF become spaces on the wire side) */
    int64_t offset;      /* QF_RCPT record offset, for the record */
};

/* bounce_append - append one recipient to the log kept by service
 * (MAIL_SOCK_BOUNCE or MAIL_SOCK_DEFER) for queue_id. 0 when the record
 * is safe on disk, -1 + why. */
int bounce_append(const char *service, const char *queue_id, const struct bounce_rcpt *r,
                  struct buf *why);

/* bounce_flush - have the notice for queue_id sent to sender (the message
 * is in queue_dir, "active"). 0 when the notice is queued (or nothing was
 * to be sent) and bounce/ID is gone; -1 + why: try again later. */
int bounce_flush(const char *queue_id, const char *queue_dir, const char *sender, struct buf *why);

#endif
