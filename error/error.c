/* error - the error(8) delivery agent: fails every recipient it is given,
 * with the next hop as the reason. The resolver sends it what must not be
 * delivered: unknown addresses in virtual alias domains and transport_maps
 * entries such as "error:5.7.1 no mail here" or "retry:".
 *
 * A single server on private/error (master.cf: "error unix - - y - -
 * error"), chrooted as mail_owner like the other mail_server daemons. The
 * next hop "X.Y.Z text" gives the status and reason; any other text is the
 * reason with the default status. Under the service name "retry" (master.cf:
 * "retry unix - - y - - error") it defers instead of bouncing; the class of
 * the status is forced to the outcome (5 bounce, 4 defer), as Postfix does.
 *
 * Bookkeeping as mail_proto.h orders: bounced -> recorded with
 * private/bounce, marked done, then BOUNCE; deferred -> recorded with
 * private/defer, left open, DEFER. When recording or marking fails the
 * recipient is deferred, so nothing is lost (DESIGN.md invariant 1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/deliver_request.h"
#include "mail/deliver_settle.h"
#include "mail/dsn.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/queue_dirs.h"
#include "mail/queue_file.h"
#include "util/alloc.h"
#include "util/msg.h"

#define ERROR_DEFAULT_TEXT "Address is undeliverable" /* an empty next hop */

static int error_defer; /* the "retry" service: defer instead of bounce */

/* error_reason - the status and text from a next hop: "X.Y.Z text" gives
 * both (the class forced to cls), anything else is all text with the
 * default status cls.0.0. Pure. */
static void error_reason(const char *nexthop, char cls, char dsn[16], const char **text)
{
    size_t n = strcspn(nexthop, " \t");
    char code[16];

    snprintf(dsn, 16, "%c.0.0", cls);
    *text = nexthop;
    if (n > 0 && n < sizeof(code)) {
        memcpy(code, nexthop, n);
        code[n] = 0;
        /* any valid class is taken; the outcome decides which one is sent */
        if (dsn_status_valid(code)) {
            code[0] = cls;
            memcpy(dsn, code, n + 1);
            *text = nexthop + n + strspn(nexthop + n, " \t");
        }
    }
    if (**text == 0)
        *text = ERROR_DEFAULT_TEXT;
}

/* settle - record one recipient's failure; on trouble it is deferred. */
static void settle(const struct deliver_request *req, const struct deliver_rcpt *rc,
                   struct qf_reader *qf, struct deliver_result *res)
{
    (void)deliver_settle(req, rc, qf, res);
    deliver_log(req, rc, "none", res);
}

static void error_service(struct stream *client, const struct server_ctx *ctx)
{
    struct deliver_request req;
    struct deliver_result *res = NULL;
    struct buf why = BUF_INIT, path = BUF_INIT;
    struct qf_reader *qf = NULL;
    char dsn[16];
    const char *text;
    (void)ctx;

    deliver_request_init(&req);
    if (deliver_request_read(client, &req, &why) < 0) {
        msg_warn("bad delivery request: %s", buf_cstr(&why));
        goto out;
    }
    res = xcalloc(req.rcpt_count, sizeof(*res));
    error_reason(req.nexthop, error_defer ? '4' : '5', dsn, &text);
    /* Only a bounce marks recipients done; a deferral leaves the file alone. */
    if (!error_defer && (queue_path(req.queue_dir, req.queue_id, 0, &path, &why) < 0 ||
                         (qf = qf_open(path.data, 1, &why)) == NULL))
        msg_warn("%s: %s", req.queue_id, buf_cstr(&why));
    for (size_t i = 0; i < req.rcpt_count; i++) {
        deliver_result_set(&res[i], error_defer ? DELIVER_DEFER : DELIVER_BOUNCE, dsn, "%s", text);
        settle(&req, &req.rcpt[i], qf, &res[i]);
    }
    if (deliver_reply_write(client, &req, res, 0) < 0)
        msg_warn("%s: cannot send the delivery reply: %s", req.queue_id, strerror(errno));
out:
    if (qf)
        qf_close(qf);
    if (res)
        deliver_result_free(res, req.rcpt_count);
    free(res);
    deliver_request_free(&req);
    buf_free(&why);
    buf_free(&path);
}

static void error_post_init(const struct server_ctx *ctx)
{
    /* Postfix: the retry service is this program under another name. */
    error_defer = ctx->service != NULL && strcmp(ctx->service, "retry") == 0;
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.post_init = error_post_init;
    ops.service = error_service;
    return single_server_main(argc, argv, &ops);
}
