/* bounce - the bounce, defer and trace services (mail_proto.h "bounce").
 *
 * One program behind three master.cf entries: the service name ("bounce",
 * "defer" or "trace") says which per-message log an append goes to,
 * bounce/ID, defer/ID or trace/ID (bounce_log.h), and which actions it
 * may hold (failed; delayed; delivered, relayed, expanded). The notices
 * (bounce_notify.c) can be asked for at any of them: "flush" (failures
 * from bounce/ID), "warn" (delay warning from defer/ID), "trace" (success
 * notice from trace/ID). Requests come from qmgr and the delivery
 * agents, but are checked as if hostile: strict attribute sets, a valid
 * queue ID, no control characters, bounded lengths, known queue names, so
 * no request can name a file outside the logs and queues it belongs to.
 * The log is fsynced before the reply, since the caller marks the
 * recipient done on our word (DESIGN.md invariant 1).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bounce.h"
#include "conf/mail_conf.h"
#include "mail/addr.h"
#include "mail/attr.h"
#include "mail/bounce_log.h"
#include "mail/dsn.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/queue_dirs.h"
#include "mail/queue_id.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/msg.h"
#include "util/stream.h"

#define REQUEST_SIZE_MAX 32768                      /* one request, all attributes */
#define REASON_MAX       (BOUNCE_LOG_LINE_MAX - 16) /* fits one log line */
#define MTA_MAX          255                        /* a host name */

static struct bounce_conf conf;
static const char *log_queue; /* "bounce", "defer" or "trace": this service's logs */

static const struct attr_spec append_spec[] = {
    {"request", ATTR_STR, 1}, {"queue_id", ATTR_STR, 1}, {"rcpt", ATTR_STR, 1},
    {"orcpt", ATTR_STR, 1},   {"dsn", ATTR_STR, 1},      {"action", ATTR_STR, 1},
    {"reason", ATTR_STR, 1},  {"offset", ATTR_INT, 1},   {"mta", ATTR_STR, 1},
    {"diag", ATTR_STR, 1},    {"notify", ATTR_INT, 1},   ATTR_SPEC_END};

static const struct attr_spec flush_spec[] = {{"request", ATTR_STR, 1},
                                              {"queue_id", ATTR_STR, 1},
                                              {"queue_dir", ATTR_STR, 1},
                                              {"sender", ATTR_STR, 1},
                                              ATTR_SPEC_END};

/* text - the value of a checked string attribute: at most max bytes,
 * at least one unless may_be_empty, no control character (CR and LF could
 * forge log lines or notice headers). NULL + why otherwise. */
static const char *text(const struct attr_list *l, const char *name, size_t max, int may_be_empty,
                        struct buf *why)
{
    const struct attr *a = attr_get(l, name);
    if (a == NULL || a->type != ATTR_STR) {
        buf_setf(why, "attribute %s missing", name);
        return NULL;
    }
    if (a->len > max) {
        buf_setf(why, "%s longer than %zu bytes", name, max);
        return NULL;
    }
    if (a->len == 0 && !may_be_empty) {
        buf_setf(why, "%s is empty", name);
        return NULL;
    }
    for (size_t i = 0; i < a->len; i++) {
        unsigned char c = (unsigned char)a->val[i];
        if (c < 0x20 || c == 0x7f) {
            buf_setf(why, "control character in %s", name);
            return NULL;
        }
    }
    return a->val;
}

/* queue_id - the queue_id attribute, when it is a well-formed ID: only
 * then may it become part of a path. */
static const char *queue_id(const struct attr_list *l, struct buf *why)
{
    const char *id = text(l, "queue_id", QUEUE_ID_LEN, 0, why);
    if (id && !queue_id_valid(id)) {
        buf_setf(why, "bad queue ID");
        return NULL;
    }
    return id;
}

static int reply(struct stream *client, int status, const char *reason)
{
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "status", status);
    attr_add_str(&l, "reason", reason);
    int rc = attr_write(client, &l);
    attr_list_free(&l);
    return rc;
}

/* Results of a request handler. */
#define DONE    0
#define FAILED  (-1) /* could not be done now (logged); the client retries */
#define REFUSED (-2) /* the request itself is bad */

/* action_fits - RFC 3464 2.3.3: the actions each log holds, and the
 * status class that goes with them (a failure may be 4.x.x: mail that
 * expired while deferred; a delay may not be 2.x.x; a success is 2.x.x). */
static int action_fits(const char *action, const char *dsn)
{
    if (strcmp(log_queue, "bounce") == 0)
        return strcmp(action, "failed") == 0 && dsn[0] != '2';
    if (strcmp(log_queue, "defer") == 0)
        return strcmp(action, "delayed") == 0 && dsn[0] != '2';
    return (strcmp(action, "delivered") == 0 || strcmp(action, "relayed") == 0 ||
            strcmp(action, "expanded") == 0) &&
           dsn[0] == '2';
}

/* do_append - one recipient into this service's log for the message. */
static int do_append(const struct attr_list *l, struct buf *why)
{
    const char *id, *rcpt, *orcpt, *dsn, *action, *reason, *mta, *diag;
    int64_t offset, notify;
    struct buf path = BUF_INIT;
    int rc = FAILED;

    if ((id = queue_id(l, why)) == NULL ||
        (rcpt = text(l, "rcpt", ADDR_MAX_BYTES, 0, why)) == NULL ||
        (orcpt = text(l, "orcpt", ADDR_MAX_BYTES, 1, why)) == NULL ||
        (dsn = text(l, "dsn", 16, 0, why)) == NULL ||
        (action = text(l, "action", 16, 0, why)) == NULL ||
        (reason = text(l, "reason", REASON_MAX, 1, why)) == NULL ||
        (mta = text(l, "mta", MTA_MAX, 1, why)) == NULL ||
        (diag = text(l, "diag", REASON_MAX, 1, why)) == NULL)
        return REFUSED;
    if (!dsn_status_valid(dsn)) {
        buf_setf(why, "bad status code");
        return REFUSED;
    }
    if (!action_fits(action, dsn)) {
        buf_setf(why, "bad action");
        return REFUSED;
    }
    if (attr_get_int(l, "offset", &offset) < 0 || offset < 0) {
        buf_setf(why, "bad offset");
        return REFUSED;
    }
    /* SMTP_NOTIFY_* bits: NEVER, SUCCESS, FAILURE, DELAY */
    if (attr_get_int(l, "notify", &notify) < 0 || notify < 0 || notify > 0x0f) {
        buf_setf(why, "bad notify");
        return REFUSED;
    }
    struct bounce_log_entry e = {0};
    e.recipient = (char *)rcpt;
    e.orcpt = (char *)orcpt;
    e.offset = offset;
    e.status = (char *)dsn;
    e.action = (char *)action;
    e.when = time(NULL);
    e.reason = (char *)reason;
    e.mta = (char *)mta;
    e.diag = (char *)diag;
    e.notify = (int)notify;
    if (queue_path(log_queue, id, 1, &path, why) < 0 || bounce_log_append(path.data, &e, why) < 0) {
        msg_warn("%s: cannot record status for <%s>: %s", id, rcpt, buf_cstr(why));
        goto out;
    }
    if (msg_verbose)
        msg_info("%s: %s: recorded <%s> %s", id, path.data, rcpt, dsn);
    rc = DONE;
out:
    buf_free(&path);
    return rc;
}

/* do_notice - a notice for the message (flush, warn, trace). Only the
 * queues qmgr delivers from are accepted, so the name cannot lead
 * anywhere else; a delay warning may be asked for a deferred message. */
static int do_notice(enum dsn_kind kind, const struct attr_list *l, struct buf *why)
{
    const char *id, *dir, *sender;

    if ((id = queue_id(l, why)) == NULL || (dir = text(l, "queue_dir", 16, 0, why)) == NULL ||
        (sender = text(l, "sender", ADDR_MAX_BYTES, 1, why)) == NULL)
        return REFUSED;
    if (strcmp(dir, "active") != 0 && strcmp(dir, "incoming") != 0 &&
        (kind != DSN_DELAY || strcmp(dir, "deferred") != 0)) {
        buf_setf(why, "bad queue name");
        return REFUSED;
    }
    if (bounce_notify(&conf, kind, id, dir, sender, why) < 0) {
        msg_warn("%s: cannot send the %s: %s", id, bounce_notice_name(kind), buf_cstr(why));
        return FAILED;
    }
    return DONE;
}

static void service(struct stream *client, const struct server_ctx *ctx)
{
    struct attr_list l;
    struct buf why = BUF_INIT;
    int rc = REFUSED;

    (void)ctx;
    attr_list_init(&l);
    if (attr_read(client, REQUEST_SIZE_MAX, &l, &why) < 0) {
        msg_warn("%s request: %s", log_queue, buf_cstr(&why));
        goto out; /* nobody to answer */
    }
    const char *req = attr_get_str(&l, "request");
    if (req == NULL)
        buf_setf(&why, "no request attribute");
    else if (strcmp(req, "append") == 0)
        rc = attr_check(&l, append_spec, 0, &why) == 0 ? do_append(&l, &why) : REFUSED;
    else if (strcmp(req, "flush") == 0)
        rc = attr_check(&l, flush_spec, 0, &why) == 0 ? do_notice(DSN_FAILURE, &l, &why) : REFUSED;
    else if (strcmp(req, "warn") == 0)
        rc = attr_check(&l, flush_spec, 0, &why) == 0 ? do_notice(DSN_DELAY, &l, &why) : REFUSED;
    else if (strcmp(req, "trace") == 0)
        rc = attr_check(&l, flush_spec, 0, &why) == 0 ? do_notice(DSN_SUCCESS, &l, &why) : REFUSED;
    else
        buf_setf(&why, "unknown request");
    if (rc == REFUSED)
        msg_warn("%s: refused request: %s", log_queue, buf_cstr(&why));
    if (reply(client, rc == DONE ? 0 : 1, rc == DONE ? "" : buf_cstr(&why)) < 0)
        msg_warn("%s: cannot send the reply", log_queue);
out:
    attr_list_free(&l);
    buf_free(&why);
}

static void post_init(const struct server_ctx *ctx)
{
    static struct buf double_bounce = BUF_INIT;

    /* The service name becomes a directory name: only our three. */
    if (strcmp(ctx->service, "bounce") == 0)
        log_queue = "bounce";
    else if (strcmp(ctx->service, "defer") == 0)
        log_queue = "defer";
    else if (strcmp(ctx->service, "trace") == 0)
        log_queue = "trace";
    else
        msg_fatal("service name \"%s\": must be \"bounce\", \"defer\" or \"trace\"", ctx->service);
    conf.myhostname = xstrdup(conf_str("myhostname"));
    conf.myorigin = xstrdup(conf_str("myorigin"));
    conf.notice_rcpt_2bounce = xstrdup(conf_str("2bounce_notice_recipient"));
    addr_qualify(conf_str("double_bounce_sender"), conf.myorigin, &double_bounce);
    conf.double_bounce = double_bounce.data;
    long limit = conf_int("bounce_size_limit");
    conf.size_limit = limit > 0 ? (size_t)limit : 0;
    long life = conf_time("maximal_queue_lifetime");
    conf.queue_lifetime = life > 0 ? (time_t)life : 0;
    long t = conf_time("ipc_timeout");
    conf.timeout = t > 0 && t < INT32_MAX ? (int)t : 3600;
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.post_init = post_init;
    ops.service = service;
    return single_server_main(argc, argv, &ops);
}
