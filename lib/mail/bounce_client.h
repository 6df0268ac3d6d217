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
    const char *action;  /* "failed" (bounce log), "delayed" (defer log), or
                          * "delivered" / "relayed" (trace log) */
    const char *reason;  /* human text (CR/LF become spaces on the wire side) */
    int64_t offset;      /* QF_RCPT record offset, for the record */
    /* DSN details (RFC 3464 2.3); NULL or "" when not known: */
    const char *mta;  /* Remote-MTA host name ("mx1.example.com"); "dns; " is added */
    const char *diag; /* Diagnostic-Code with its type ("smtp; 550 5.1.1 no such user");
                       * without one the notice says "X-Postern; <reason>" */
    int notify;       /* the recipient's DSN NOTIFY (SMTP_NOTIFY_* bits, 0 = not given):
                       * the notices below include only those that asked for them */
};

/* bounce_append - append one recipient to the log kept by service
 * (MAIL_SOCK_BOUNCE, MAIL_SOCK_DEFER or MAIL_SOCK_TRACE) for queue_id. 0
 * when the record is safe on disk, -1 + why. */
int bounce_append(const char *service, const char *queue_id, const struct bounce_rcpt *r,
                  struct buf *why);

/* bounce_flush - have the notice for queue_id sent to sender (the message
 * is in queue_dir, "active"). 0 when the notice is queued (or nothing was
 * to be sent) and bounce/ID is gone; -1 + why: try again later. */
int bounce_flush(const char *queue_id, const char *queue_dir, const char *sender, struct buf *why);

/* bounce_warn - have a delay warning for queue_id sent to sender, listing
 * the recipients in defer/ID whose NOTIFY allows it (not given, or DELAY);
 * defer/ID stays. 0 when the warning is queued or there was nothing to
 * send; -1 + why: try again later. */
int bounce_warn(const char *queue_id, const char *queue_dir, const char *sender, struct buf *why);

/* bounce_trace - have the success notice (NOTIFY=SUCCESS recipients in
 * trace/ID: "delivered" or "relayed") sent to sender, then remove
 * trace/ID. 0 when queued or nothing was to be sent; -1 + why. */
int bounce_trace(const char *queue_id, const char *queue_dir, const char *sender, struct buf *why);

#endif
