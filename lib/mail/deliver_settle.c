/* deliver_settle - one recipient's bookkeeping after delivery (see the
 * header): mark done, record bounces and delays, defer on any trouble. */
#include "mail/deliver_settle.h"

#include "mail/bounce_client.h"
#include "mail/mail_proto.h"
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

int deliver_settle(const struct deliver_request *req, const struct deliver_rcpt *rc,
                   struct qf_reader *qf, struct deliver_result *res)
{
    struct buf why = BUF_INIT;
    int before = res->status;
    struct bounce_rcpt br = {
        rc->address, rc->orcpt, res->dsn, "failed", res->reason ? res->reason : "", rc->offset};

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
