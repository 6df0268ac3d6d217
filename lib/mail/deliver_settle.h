/* deliver_settle - what a delivery agent does for one recipient once it
 * knows the outcome, in the order mail_proto.h requires:
 *   delivered: for a NOTIFY=SUCCESS recipient (unless the result says
 *              NOTIFY was passed on) recorded with private/trace, then
 *              marked done in the queue file; a failed trace append is
 *              only a warning (a deferral would deliver again);
 *   bounced:   recorded with private/bounce, then marked done;
 *   deferred:  recorded with private/defer (the file is left alone).
 * When recording or marking fails, the result becomes a 4.3.0 deferral
 * (and is recorded as such), so a recipient is never dropped (DESIGN.md
 * invariant 1). Shared by local(8), error(8) and the other agents.
 */
#ifndef MAIL_DELIVER_SETTLE_H
#define MAIL_DELIVER_SETTLE_H

#include "mail/deliver_request.h"
#include "mail/queue_file.h"

/* deliver_settle - qf may be NULL (the queue file could not be opened):
 * delivered or bounced recipients are then deferred. Returns 1 when the
 * status was changed to a deferral, else 0; the caller logs (deliver_log). */
int deliver_settle(const struct deliver_request *req, const struct deliver_rcpt *rc,
                   struct qf_reader *qf, struct deliver_result *res);

#endif
