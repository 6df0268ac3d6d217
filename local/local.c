/* local - the local(8) delivery agent: a single server on private/local
 * (master.cf: "local unix - n n - - local"), root and not chrooted, so it
 * can act as any user; it does so only through local_deliver's children.
 *
 * One delivery request per connection (deliver_request.h). The queue file
 * is opened for update; each recipient is expanded (local_expand.c) and
 * then settled as mail_proto.h orders: delivered -> marked done, then OK;
 * bounced -> recorded with private/bounce, marked done, then BOUNCE;
 * deferred -> recorded with private/defer, left open, DEFER. When the
 * bookkeeping itself fails the recipient is deferred, so a crash or a
 * missing service repeats a delivery at worst (DESIGN.md invariant 1).
 */
#include "local.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/deliver_settle.h"
#include "mail/local_addr.h"
#include "mail/local_env.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/queue_dirs.h"
#include "mail/queue_file.h"
#include "util/alloc.h"
#include "util/msg.h"

struct local_conf local_conf;

/* exp_mask - allow_mail_to_commands / allow_mail_to_files words. */
static int exp_mask(const char *name)
{
    struct argv *words = argv_split(conf_str(name), ", \t\r\n");
    int mask = 0;
    for (size_t i = 0; i < words->argc; i++) {
        if (strcasecmp(words->argv[i], "alias") == 0)
            mask |= LOCAL_EXP_ALIAS;
        else if (strcasecmp(words->argv[i], "forward") == 0)
            mask |= LOCAL_EXP_FORWARD;
        else if (strcasecmp(words->argv[i], "include") == 0)
            mask |= LOCAL_EXP_INCLUDE;
        else
            msg_fatal("%s: unknown word \"%s\" (expected alias, forward, include)", name,
                      words->argv[i]);
    }
    argv_free(words);
    return mask;
}

static void local_post_init(const struct server_ctx *ctx)
{
    long t = conf_time("ipc_timeout");
    local_conf.service = xstrdup(ctx->service);
    local_conf.alias_specs = argv_split(conf_str("alias_maps"), ", \t\r\n");
    local_conf.alias_maps =
        xcalloc(local_conf.alias_specs->argc + 1, sizeof(*local_conf.alias_maps));
    local_conf.delimiter = xstrdup(conf_str("recipient_delimiter"));
    local_conf.forward_path = xstrdup(conf_str("forward_path"));
    local_conf.myorigin = xstrdup(conf_str("myorigin"));
    local_conf.default_privs = xstrdup(conf_str("default_privs"));
    local_conf.cmd_mask = exp_mask("allow_mail_to_commands");
    local_conf.file_mask = exp_mask("allow_mail_to_files");
    local_conf.ipc_timeout = t <= 0 ? 1 : t > 3600 ? 3600 : (int)t;
    struct buf why = BUF_INIT;
    int mask = local_env_delivered_mask(conf_str("prepend_delivered_header"), &why);
    if (mask < 0)
        msg_fatal("prepend_delivered_header: %s", buf_cstr(&why));
    local_conf.forward_delivered_to = (mask & LOCAL_DELIVERED_FORWARD) != 0;
    buf_free(&why);
    if (getuid() != 0)
        msg_warn("not running as root: deliveries as other users will fail");
}

/* read_delivered - the Delivered-To: values of the message header, from
 * the QF_CONTENT records up to the first empty line (bounded). */
static int read_delivered(struct qf_reader *qf, struct argv *out, struct buf *why)
{
    struct buf head = BUF_INIT, data = BUF_INIT;
    int type, rc = 0;
    off_t off;

    if (qf_rewind(qf) < 0) {
        buf_setf(why, "cannot rewind queue file: %m");
        return -1;
    }
    while (head.len < LOCAL_HEADER_MAX && (rc = qf_read(qf, &type, &data, &off, why)) > 0) {
        if (type != QF_CONTENT)
            continue;
        size_t from = head.len > 0 ? head.len - 1 : 0;
        size_t n = data.len < LOCAL_HEADER_MAX - head.len ? data.len : LOCAL_HEADER_MAX - head.len;
        buf_append(&head, data.data, n);
        if (head.data[0] == '\n' || memmem(head.data + from, head.len - from, "\n\n", 2) != NULL)
            break;
    }
    if (rc >= 0) {
        local_addr_delivered_to(head.data ? head.data : "", head.len, out);
        if (qf_rewind(qf) < 0) {
            buf_setf(why, "cannot rewind queue file: %m");
            rc = -1;
        }
    }
    buf_free(&head);
    buf_free(&data);
    return rc < 0 ? -1 : 0;
}

/* settle - the bookkeeping for one recipient after its delivery; local
 * logged the outcome already, unless the bookkeeping changed it. */
static void settle(const struct deliver_request *req, const struct deliver_rcpt *rc,
                   struct qf_reader *qf, struct deliver_result *res)
{
    if (deliver_settle(req, rc, qf, res))
        deliver_log(req, rc, "local", res);
}

/* defer_all - every recipient deferred for one reason (queue file trouble). */
static void defer_all(const struct deliver_request *req, struct qf_reader *qf,
                      struct deliver_result *res, const char *reason)
{
    for (size_t i = 0; i < req->rcpt_count; i++) {
        deliver_result_set(&res[i], DELIVER_DEFER, "4.3.0", "%s", reason);
        deliver_log(req, &req->rcpt[i], "local", &res[i]);
        settle(req, &req->rcpt[i], qf, &res[i]);
    }
}

static void local_service(struct stream *client, const struct server_ctx *ctx)
{
    struct deliver_request req;
    struct deliver_result *res = NULL;
    struct buf why = BUF_INIT, path = BUF_INIT;
    struct argv *delivered = argv_alloc();
    struct qf_reader *qf = NULL;
    (void)ctx;

    deliver_request_init(&req);
    if (deliver_request_read(client, &req, &why) < 0) {
        msg_warn("bad delivery request: %s", buf_cstr(&why));
        goto out;
    }
    res = xcalloc(req.rcpt_count, sizeof(*res));
    if (queue_path(req.queue_dir, req.queue_id, 0, &path, &why) < 0 ||
        (qf = qf_open(path.data, 1, &why)) == NULL) {
        msg_warn("%s: %s", req.queue_id, buf_cstr(&why));
        defer_all(&req, NULL, res, "cannot open queue file");
    } else if (read_delivered(qf, delivered, &why) < 0) {
        msg_warn("%s: %s", req.queue_id, buf_cstr(&why));
        defer_all(&req, qf, res, "queue file read error");
    } else {
        struct local_msg m = {qf, req.queue_id, req.sender, (time_t)req.arrival};
        for (size_t i = 0; i < req.rcpt_count; i++) {
            struct local_state st;
            local_state_init(&st, &req, &req.rcpt[i], &m, delivered);
            local_expand(&st, &res[i]);
            local_state_free(&st);
            settle(&req, &req.rcpt[i], qf, &res[i]);
        }
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
    argv_free(delivered);
    buf_free(&why);
    buf_free(&path);
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.post_init = local_post_init;
    ops.service = local_service;
    return single_server_main(argc, argv, &ops);
}
