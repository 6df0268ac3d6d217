/* bounce_client - requests to the bounce service (see bounce_client.h and
 * mail_proto.h "bounce"): appends to bounce/ID, defer/ID and trace/ID, and
 * the three notices (flush, warn, trace). One request per connection; text is made safe
 * and bounded here, so that a strange address or a multi-line reason from
 * a delivery attempt is recorded instead of refused (the service refuses
 * control characters and over-long values).
 */
#include "mail/bounce_client.h"

#include <stdlib.h>
#include <string.h>

#include "conf/mail_conf.h"
#include "mail/addr.h"
#include "mail/attr.h"
#include "mail/bounce_log.h"
#include "mail/dsn.h"
#include "mail/mail_proto.h"
#include "util/alloc.h"
#include "util/sock.h"
#include "util/stream.h"

/* the longest reason the service accepts: it must fit one log line */
#define REASON_MAX (BOUNCE_LOG_LINE_MAX - 16)
#define ID_MAX     64  /* the service checks the exact syntax */
#define MTA_MAX    255 /* a host name (RFC 1035 2.3.4) */

/* add_text - s with control characters (CR and LF among them) as spaces,
 * cut at max bytes. */
static void add_text(struct attr_list *l, const char *name, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max)
        n = max;
    char *copy = xmemdup(s ? s : "", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)copy[i] < 0x20 || copy[i] == 0x7f)
            copy[i] = ' ';
    attr_add_str(l, name, copy);
    free(copy);
}

static const struct attr_spec reply_spec[] = {
    {"status", ATTR_INT, 1}, {"reason", ATTR_STR, 1}, ATTR_SPEC_END};

/* request - send req to the service at path, wait for its verdict. */
static int request(const char *path, const struct attr_list *req, struct buf *why)
{
    int timeout = (int)conf_time("ipc_timeout");
    struct attr_list rep;
    int64_t status = -1;
    int rc = -1;

    attr_list_init(&rep);
    int fd = unix_connect(path, timeout);
    if (fd < 0) {
        buf_setf(why, "connect to %s: %m", path);
        return -1;
    }
    struct stream *s = stream_open(fd, timeout);
    if (attr_write(s, req) < 0) {
        buf_setf(why, "write to %s: %m", path);
        goto out;
    }
    if (attr_read(s, 0, &rep, why) < 0 || attr_check(&rep, reply_spec, 0, why) < 0 ||
        attr_get_int(&rep, "status", &status) < 0)
        goto out;
    if (status != 0) {
        const char *reason = attr_get_str(&rep, "reason");
        buf_setf(why, "%s: %s", path, reason && *reason ? reason : "request failed");
        goto out;
    }
    rc = 0;
out:
    (void)stream_close(s);
    attr_list_free(&rep);
    return rc;
}

int bounce_append(const char *service, const char *queue_id, const struct bounce_rcpt *r,
                  struct buf *why)
{
    struct attr_list l;
    attr_list_init(&l);
    attr_add_str(&l, "request", "append");
    add_text(&l, "queue_id", queue_id, ID_MAX);
    add_text(&l, "rcpt", r->address, ADDR_MAX_BYTES);
    add_text(&l, "orcpt", r->orcpt, ADDR_MAX_BYTES);
    /* a code garbled on the way from a delivery attempt must not keep the
     * recipient from being recorded: the class follows the action */
    const char *dsn = r->dsn, *action = r->action ? r->action : "";
    if (strcmp(action, "delayed") == 0) {
        if (!dsn_status_valid(dsn) || dsn[0] == '2')
            dsn = "4.0.0";
    } else if (strcmp(action, "failed") == 0) {
        if (!dsn_status_valid(dsn) || dsn[0] == '2')
            dsn = "5.0.0";
    } else if (!dsn_status_valid(dsn) || dsn[0] != '2') { /* delivered, relayed, expanded */
        dsn = "2.0.0";
    }
    attr_add_str(&l, "dsn", dsn);
    add_text(&l, "action", action, 16);
    add_text(&l, "reason", r->reason, REASON_MAX);
    attr_add_int(&l, "offset", r->offset);
    add_text(&l, "mta", r->mta, MTA_MAX);
    add_text(&l, "diag", r->diag, REASON_MAX);
    attr_add_int(&l, "notify", r->notify & 0x0f);
    int rc = request(service, &l, why);
    attr_list_free(&l);
    return rc;
}

/* notice - one of the three notice requests (same attributes). */
static int notice(const char *service, const char *req, const char *queue_id, const char *queue_dir,
                  const char *sender, struct buf *why)
{
    struct attr_list l;
    attr_list_init(&l);
    attr_add_str(&l, "request", req);
    add_text(&l, "queue_id", queue_id, ID_MAX);
    add_text(&l, "queue_dir", queue_dir, 64);
    add_text(&l, "sender", sender, ADDR_MAX_BYTES);
    int rc = request(service, &l, why);
    attr_list_free(&l);
    return rc;
}

int bounce_flush(const char *queue_id, const char *queue_dir, const char *sender, struct buf *why)
{
    return notice(MAIL_SOCK_BOUNCE, "flush", queue_id, queue_dir, sender, why);
}

int bounce_warn(const char *queue_id, const char *queue_dir, const char *sender, struct buf *why)
{
    return notice(MAIL_SOCK_DEFER, "warn", queue_id, queue_dir, sender, why);
}

int bounce_trace(const char *queue_id, const char *queue_dir, const char *sender, struct buf *why)
{
    return notice(MAIL_SOCK_TRACE, "trace", queue_id, queue_dir, sender, why);
}
