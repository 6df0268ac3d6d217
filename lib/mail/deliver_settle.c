/* deliver_settle - one recipient's bookkeeping after delivery (see the
 * header): mark done, record bounces and delays, defer on any trouble, and
 * note NOTIFY=SUCCESS deliveries in trace/ID for the success notice. */
#include "mail/deliver_settle.h"

#include "mail/bounce_client.h"
#include "mail/mail_proto.h"
#include "mail/smtp_cmd.h"
#include "util/buf.h"
#include "util/msg.h"

static void to_defer(struct deliver_result *res, const char *what, const char *detail)
{
    deliver_result_set(res, DELIVER_DEFER, "4.3.0", "%s: %s", what, detail);
}

static int mark_done(const struct deliver_request *req, const struct deliver_rcpt *rc,
                     struct qf_reader *qf, struct deliver_result *res, struct buf *why)
{
    if (qf == NULL) {
        to_defer(res, "cannot update queue file", "not open");
        return -1;
    }
    if (qf_mark_done(qf, (off_t)rc->offset, why) < 0) {
        /* A bounce is recorded twice at worst, if it is bounced again. */
        msg_warn("%s: %s", req->queue_id, buf_cstr(why));
        to_defer(res, "cannot update queue file", buf_cstr(why));
        return -1;
    }
    return 0;
}

/* record_success - RFC 3461 4.1 NOTIFY=SUCCESS: a delivery into a mailbox,
 * or a relay to an MTA that cannot report it itself, goes into trace/ID
 * before the recipient is marked done (a crash in between at worst lists
 * it twice). When NOTIFY was passed on, the next MTA reports (RFC 3461
 * 6.2.1). A failed append loses a success notice, never the mail: turning
 * the delivery into a deferral would deliver it again. */
static void record_success(const struct deliver_request *req, const struct deliver_rcpt *rc,
                           const struct qf_reader *qf, const struct deliver_result *res,
                           struct bounce_rcpt *br)
{
    struct buf why = BUF_INIT;

    if (!(rc->notify & SMTP_NOTIFY_SUCCESS) || res->action == DELIVER_ACT_PASSED_ON || qf == NULL)
        return;
    br->action = res->action == DELIVER_ACT_RELAYED ? "relayed" : "delivered";
    br->dsn = res->dsn[0] == '2' ? res->dsn : "2.0.0";
    if (bounce_append(MAIL_SOCK_TRACE, req->queue_id, br, &why) < 0)
        msg_warn("%s: cannot record the delivery to %s for a success notice: %s", req->queue_id,
                 rc->address, buf_cstr(&why));
    buf_free(&why);
}

int deliver_settle(const struct deliver_request *req, const struct deliver_rcpt *rc,
                   struct qf_reader *qf, struct deliver_result *res)
{
    struct buf why = BUF_INIT;
    int before = res->status;
    struct bounce_rcpt br = {.address = rc->address,
                             .orcpt = rc->orcpt,
                             .dsn = res->dsn,
                             .action = "failed",
                             .reason = res->reason ? res->reason : "",
                             .offset = rc->offset,
                             .mta = res->mta,
                             .diag = res->diag,
                             .notify = rc->notify};

    if (res->status == DELIVER_BOUNCE) {
        if (qf == NULL) {
            to_defer(res, "cannot record delivery failure", "queue file not open");
        } else if (bounce_append(MAIL_SOCK_BOUNCE, req->queue_id, &br, &why) < 0) {
            msg_warn("%s: cannot record the bounce of %s: %s", req->queue_id, rc->address,
                     buf_cstr(&why));
            to_defer(res, "cannot record delivery failure", buf_cstr(&why));
        } else {
            (void)mark_done(req, rc, qf, res, &why);
        }
    } else if (res->status == DELIVER_OK) {
        record_success(req, rc, qf, res, &br);
        (void)mark_done(req, rc, qf, res, &why);
    }
    if (res->status == DELIVER_DEFER) {
        br.dsn = res->dsn;
        br.action = "delayed";
        br.reason = res->reason ? res->reason : "";
        buf_reset(&why);
        if (bounce_append(MAIL_SOCK_DEFER, req->queue_id, &br, &why) < 0)
            msg_warn("%s: cannot record the delay of %s: %s", req->queue_id, rc->address,
                     buf_cstr(&why));
    }
    buf_free(&why);
    return res->status != before;
}
