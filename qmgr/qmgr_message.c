/* qmgr_message - one message's pass through active/: reading the queue
 * file, handing its open recipients to the scheduler, qmgr's own
 * per-recipient outcomes (deferred, returned as expired), and finishing:
 * the queue file is read again (its done marks are the truth, whatever
 * the agents said), then the message is removed (after the bounce notice,
 * if any, is queued) or moved to deferred/ with its next retry time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "mail/bounce_client.h"
#include "mail/deliver_request.h"
#include "mail/mail_proto.h"
#include "mail/qmgr_backoff.h"
#include "mail/queue_dirs.h"
#include "mail/queue_file.h"
#include "mail/smtp_cmd.h"
#include "qmgr.h"
#include "util/alloc.h"
#include "util/events.h"
#include "util/msg.h"
#include "util/strutil.h"

#define QMGR_RETRY_DELAY 60   /* seconds before finishing is tried again */
#define QMGR_TEXT_MAX    4000 /* deliver_request.c refuses longer envelope text */
#define QMGR_ENVID_MAX   100  /* RFC 3461 4.4 */

size_t qmgr_message_count;
size_t qmgr_rcpt_in_memory;
static struct qmgr_message *messages; /* in memory, newest first */

int qmgr_active_path(const char *id, struct buf *out)
{
    struct buf why = BUF_INIT;
    int rc = queue_path("active", id, 0, out, &why);
    if (rc < 0)
        msg_warn("%s: %s", id, buf_cstr(&why));
    buf_free(&why);
    return rc;
}

static void message_free(struct qmgr_message *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else if (messages == m)
        messages = m->next;
    if (m->next)
        m->next->prev = m->prev;
    for (size_t i = 0; i < m->nrcpt; i++) {
        free(m->rcpt[i].address);
        free(m->rcpt[i].orcpt);
    }
    qmgr_rcpt_in_memory -= m->nrcpt;
    qmgr_message_count--;
    free(m->rcpt);
    free(m->sender);
    free(m->envid);
    free(m);
}

/* ---- reading ------------------------------------------------------------ */

/* text_ok - envelope text a delivery agent accepts (deliver_request.c):
 * bounded, no control characters. The queue file format only rules out
 * NUL, CR and LF, and a request the agent refuses would fail forever. */
static int text_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f || n >= QMGR_TEXT_MAX)
            return 0;
    return 1;
}

enum read_result { READ_OK, READ_DAMAGED, READ_LATER, READ_GONE };

/* read_dsn_attr - the message's DSN ENVID and RET (RFC 3461 4.3, 4.4) from
 * a QF_ATTR "name=value". A value an agent could not pass on (control
 * characters, too long) is dropped: the mail still goes, without it. */
static void read_dsn_attr(struct qmgr_message *m, const char *attr)
{
    if (strncmp(attr, "dsn_envid=", 10) == 0) {
        const char *v = attr + 10;
        size_t n = strlen(v);
        int ok = n > 0 && n <= QMGR_ENVID_MAX;
        for (size_t i = 0; ok && i < n; i++)
            ok = (unsigned char)v[i] >= 0x20 && (unsigned char)v[i] <= 0x7e;
        if (ok && m->envid == NULL)
            m->envid = xstrdup(v);
        else if (!ok)
            msg_warn("%s: ignoring a bad DSN envelope ID", m->id);
    } else if (strncmp(attr, "dsn_ret=", 8) == 0) {
        if (strcasecmp(attr + 8, "FULL") == 0)
            m->dsn_ret = DELIVER_RET_FULL;
        else if (strcasecmp(attr + 8, "HDRS") == 0)
            m->dsn_ret = DELIVER_RET_HDRS;
    }
}

/* read_message - sender, arrival, size and the open recipients of path.
 * The file is hostile: one sender and one time record, well-formed. */
static enum read_result read_message(const char *path, struct qmgr_message *m, struct buf *why)
{
    struct buf data = BUF_INIT, orcpt = BUF_INIT;
    struct qf_reader *r = qf_open(path, 0, why);
    enum read_result res = READ_OK;
    int have_time = 0, have_orcpt = 0, notify = 0;
    int64_t content = 0;
    size_t cap = 0;

    m->size = -1;
    if (r == NULL)
        return errno == ENOENT ? READ_GONE : errno == EBADMSG ? READ_DAMAGED : READ_LATER;
    for (;;) {
        int type;
        off_t off;
        int got = qf_read(r, &type, &data, &off, why);
        if (got < 0) {
            res = errno == EBADMSG ? READ_DAMAGED : READ_LATER;
            break;
        }
        if (got == 0)
            break;
        switch (type) {
        case QF_TIME:
            if (have_time || qmgr_backoff_parse_arrival(data.data, &m->arrival) < 0) {
                buf_setf(why, "bad or repeated arrival time record");
                res = READ_DAMAGED;
            }
            have_time = 1;
            break;
        case QF_SIZE: {
            long v;
            if (str_to_long(data.data, 0, LONG_MAX, &v) == 0)
                m->size = v;
            break;
        }
        case QF_SENDER:
            if (m->sender != NULL) {
                buf_setf(why, "more than one sender record");
                res = READ_DAMAGED;
                break;
            }
            m->sender = xstrdup(data.data);
            break;
        case QF_ORCPT:
            buf_set(&orcpt, data.data);
            have_orcpt = 1;
            continue; /* applies to the next record */
        case QF_NOTIFY:
            /* the reader checked the order and the number; NEVER wins over
             * anything it was (wrongly) combined with */
            if (qf_notify_parse(data.data, data.len, &notify) < 0)
                notify = 0;
            if (notify & SMTP_NOTIFY_NEVER)
                notify = SMTP_NOTIFY_NEVER;
            continue; /* applies to the next record */
        case QF_ATTR:
            read_dsn_attr(m, data.data);
            break;
        case QF_RCPT:
            if (m->nrcpt == cap) {
                cap = cap ? 2 * cap : 8;
                m->rcpt = xreallocarray(m->rcpt, cap, sizeof(*m->rcpt));
            }
            m->rcpt[m->nrcpt].address = xstrdup(data.data);
            /* an unusable original recipient is dropped, not the recipient */
            m->rcpt[m->nrcpt].orcpt = xstrdup(have_orcpt && text_ok(orcpt.data) ? orcpt.data : "");
            m->rcpt[m->nrcpt].offset = off;
            m->rcpt[m->nrcpt].notify = notify;
            m->rcpt[m->nrcpt].finished = 0;
            m->nrcpt++;
            qmgr_rcpt_in_memory++;
            break;
        case QF_CONTENT:
            content += (int64_t)data.len;
            break;
        default:
            break;
        }
        have_orcpt = 0;
        notify = 0;
        if (res != READ_OK)
            break;
    }
    qf_close(r);
    if (res == READ_OK && (!have_time || m->sender == NULL)) {
        buf_setf(why, "no %s record", have_time ? "sender" : "arrival time");
        res = READ_DAMAGED;
    }
    /* cleanup never writes such a sender; no agent would take the mail */
    if (res == READ_OK && !text_ok(m->sender)) {
        buf_setf(why, "sender address too long or with control characters");
        res = READ_DAMAGED;
    }
    if (m->size < 0)
        m->size = content;
    buf_free(&data);
    buf_free(&orcpt);
    return res;
}

/* save_corrupt - keep a damaged file for the administrator (Postfix's
 * wording); corrupt/ is never cleaned up by qmgr. */
static void save_corrupt(const char *queue, const char *path, const char *id, const char *reason)
{
    struct buf why = BUF_INIT;
    msg_warn("%s: %s", id, reason);
    if (qmgr_move(path, "corrupt", id, &why) < 0)
        msg_warn("%s: cannot save corrupt file %s: %s", id, path, buf_cstr(&why));
    else
        msg_warn("saving corrupt file \"%s\" from queue \"%s\" to queue \"corrupt\"", id, queue);
    buf_free(&why);
}

/* ---- per-recipient outcomes --------------------------------------------- */

static int expired(const struct qmgr_message *m)
{
    long lifetime = m->sender[0] ? qmgr_set.max_lifetime : qmgr_set.bounce_lifetime;
    return qmgr_backoff_expired(time(NULL), m->arrival, lifetime);
}

/* log_request - a one-recipient request for deliver_log. */
static void log_outcome(const struct qmgr_message *m, const struct qmgr_rcpt *rc, int status,
                        const char *dsn, const char *reason)
{
    struct deliver_request r;
    struct deliver_rcpt drc = {rc->address, rc->orcpt, rc->offset, rc->notify};
    struct deliver_result res;

    deliver_request_init(&r);
    snprintf(r.queue_id, sizeof(r.queue_id), "%s", m->id);
    r.arrival = m->arrival;
    memset(&res, 0, sizeof(res));
    res.status = status;
    snprintf(res.dsn, sizeof(res.dsn), "%s", dsn);
    res.reason = (char *)reason;
    deliver_log(&r, &drc, "none", &res);
}

static void log_expired(const struct qmgr_message *m, const struct qmgr_rcpt *rc, const char *dsn,
                        const char *reason)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    double delay = (double)now.tv_sec + now.tv_usec / 1e6 - (double)m->arrival;
    if (delay < 0)
        delay = 0;
    int orig = rc->orcpt[0] && strcasecmp(rc->orcpt, rc->address) != 0;
    msg_info("%s: to=<%s>%s%s%s, relay=none, delay=%.*f, dsn=%s, status=expired, returned to "
             "sender (%s)",
             m->id, rc->address, orig ? ", orig_to=<" : "", orig ? rc->orcpt : "", orig ? ">" : "",
             delay < 10 ? 2 : 0, delay, dsn, reason);
}

/* return_rcpt - give up on rc: record it in the bounce log, then mark it
 * done (in that order: a crash in between returns it twice at worst, never
 * not at all). 0, or -1 when the bounce service did not take it. */
static int return_rcpt(struct qmgr_message *m, struct qmgr_rcpt *rc, const char *dsn,
                       const char *reason, int is_expiry)
{
    struct bounce_rcpt br = {.address = rc->address,
                             .orcpt = rc->orcpt,
                             .dsn = dsn,
                             .action = "failed",
                             .reason = reason,
                             .offset = (int64_t)rc->offset,
                             .notify = rc->notify};
    struct buf why = BUF_INIT, path = BUF_INIT;
    struct qf_reader *r;

    if (bounce_append(MAIL_SOCK_BOUNCE, m->id, &br, &why) < 0) {
        msg_warn("%s: cannot return <%s> to the sender: %s; it stays queued", m->id, rc->address,
                 buf_cstr(&why));
        buf_free(&why);
        return -1;
    }
    if (qmgr_active_path(m->id, &path) < 0 || (r = qf_open(path.data, 1, &why)) == NULL) {
        msg_warn("%s: cannot mark <%s> done: %s; it may be returned again", m->id, rc->address,
                 buf_cstr(&why));
    } else {
        if (qf_mark_done(r, rc->offset, &why) < 0)
            msg_warn("%s: cannot mark <%s> done: %s; it may be returned again", m->id, rc->address,
                     buf_cstr(&why));
        qf_close(r);
    }
    if (is_expiry) {
        m->expired_bounced = 1;
        log_expired(m, rc, dsn, reason);
    } else {
        log_outcome(m, rc, DELIVER_BOUNCE, dsn, reason);
    }
    buf_free(&why);
    buf_free(&path);
    return 0;
}

void qmgr_rcpt_defer(struct qmgr_message *m, struct qmgr_rcpt *rc, const char *dsn,
                     const char *reason)
{
    if (!expired(m) || return_rcpt(m, rc, dsn, reason, 1) < 0) {
        struct bounce_rcpt br = {.address = rc->address,
                                 .orcpt = rc->orcpt,
                                 .dsn = dsn,
                                 .action = "delayed",
                                 .reason = reason,
                                 .offset = (int64_t)rc->offset,
                                 .notify = rc->notify};
        struct buf why = BUF_INIT;
        if (bounce_append(MAIL_SOCK_DEFER, m->id, &br, &why) < 0)
            msg_warn("%s: cannot record the delay of <%s>: %s", m->id, rc->address, buf_cstr(&why));
        buf_free(&why);
        log_outcome(m, rc, DELIVER_DEFER, dsn, reason);
    }
    qmgr_rcpt_finish(m, rc);
}

void qmgr_rcpt_agent_deferred(struct qmgr_message *m, struct qmgr_rcpt *rc, const char *dsn,
                              const char *reason)
{
    if (expired(m))
        (void)return_rcpt(m, rc, dsn, reason, 1);
    qmgr_rcpt_finish(m, rc);
}

int qmgr_done_offsets(const struct qmgr_message *m, off_t **out, size_t *n)
{
    struct buf path = BUF_INIT, why = BUF_INIT, data = BUF_INIT;
    struct qf_reader *r = NULL;
    size_t cap = 0;
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (qmgr_active_path(m->id, &path) < 0 || (r = qf_open(path.data, 0, &why)) == NULL)
        goto out;
    for (;;) {
        int type;
        off_t off;
        int got = qf_read(r, &type, &data, &off, &why);
        if (got < 0)
            goto out;
        if (got == 0)
            break;
        if (type != QF_DONE)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            *out = xreallocarray(*out, cap, sizeof(**out));
        }
        (*out)[(*n)++] = off; /* file order: ascending */
    }
    rc = 0;
out:
    if (rc < 0) {
        msg_warn("%s: cannot read the queue file again: %s", m->id, buf_cstr(&why));
        free(*out);
        *out = NULL;
        *n = 0;
    }
    if (r)
        qf_close(r);
    buf_free(&path);
    buf_free(&why);
    buf_free(&data);
    return rc;
}

/* ---- finishing ------------------------------------------------------------ */

static void finish_message(struct qmgr_message *m);

static void retry_finish(void *ctx)
{
    struct qmgr_message *m = ctx;
    m->retry_pending = 0;
    finish_message(m);
}

static void finish_later(struct qmgr_message *m)
{
    m->retry_pending = 1;
    event_timer(retry_finish, m, QMGR_RETRY_DELAY);
}

/* defer_file - active/ID to deferred/, its mtime the next retry time
 * (Postfix). The mtime is set before the move, so a crash between the two
 * cannot leave a file in deferred/ that looks due at once; if setting it
 * fails, the only harm is an early retry. */
static int defer_file(struct qmgr_message *m, const char *path)
{
    struct buf why = BUF_INIT;
    time_t now = time(NULL);
    time_t next = qmgr_backoff_next(now, m->arrival, qmgr_set.min_backoff, qmgr_set.max_backoff);
    struct timespec ts[2] = {{now, 0}, {next, 0}};
    int rc = 0;

    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
        msg_warn("%s: cannot set the retry time of %s: %m", m->id, path);
    if (qmgr_move(path, "deferred", m->id, &why) < 0) {
        msg_warn("%s: cannot move %s to deferred: %s; will try again", m->id, path, buf_cstr(&why));
        rc = -1;
    }
    buf_free(&why);
    return rc;
}

static void unlink_log(const char *queue, const char *id)
{
    struct buf path = BUF_INIT, why = BUF_INIT;
    if (queue_path(queue, id, 0, &path, &why) == 0 && unlink(path.data) < 0 && errno != ENOENT)
        msg_warn("%s: remove %s: %m", id, path.data);
    buf_free(&path);
    buf_free(&why);
}

static int log_exists(const char *queue, const char *id)
{
    struct buf path = BUF_INIT, why = BUF_INIT;
    struct stat st;
    int rc = queue_path(queue, id, 0, &path, &why) == 0 && lstat(path.data, &st) == 0;
    buf_free(&path);
    buf_free(&why);
    return rc;
}

/* count_open - the recipients still open in the queue file at path, and
 * its QF_WARN record (*warn_off -1 when there is none). */
static enum read_result count_open(const char *path, size_t *n, off_t *warn_off,
                                   long long *warn_time, struct buf *why)
{
    struct buf data = BUF_INIT;
    struct qf_reader *r = qf_open(path, 0, why);
    enum read_result res = READ_OK;

    *n = 0;
    *warn_off = -1;
    *warn_time = 0;
    if (r == NULL)
        return errno == ENOENT ? READ_GONE : errno == EBADMSG ? READ_DAMAGED : READ_LATER;
    for (;;) {
        int type;
        off_t off;
        int got = qf_read(r, &type, &data, &off, why);
        if (got < 0)
            res = errno == EBADMSG ? READ_DAMAGED : READ_LATER;
        if (got <= 0)
            break;
        if (type == QF_RCPT)
            (*n)++;
        else if (type == QF_WARN && qf_warn_parse(data.data, data.len, warn_time) == 0)
            *warn_off = off;
    }
    qf_close(r);
    buf_free(&data);
    return res;
}

/* send_delay_warning - the delay warning is due: have it sent for the
 * recipients in defer/ID, then clear the QF_WARN time so it goes once. A
 * failure leaves the time as it is: the next pass tries again. */
static void send_delay_warning(struct qmgr_message *m, const char *path, off_t warn_off)
{
    struct buf why = BUF_INIT;
    struct qf_reader *r;

    if (bounce_warn(m->id, "active", m->sender, &why) < 0) {
        msg_warn("%s: delay warning not sent: %s; will try again later", m->id, buf_cstr(&why));
    } else if ((r = qf_open(path, 1, &why)) == NULL) {
        msg_warn("%s: cannot clear the delay warning time: %s; the warning may be repeated", m->id,
                 buf_cstr(&why));
    } else {
        if (qf_update_warn(r, warn_off, 0, &why) < 0)
            msg_warn("%s: cannot clear the delay warning time: %s; the warning may be repeated",
                     m->id, buf_cstr(&why));
        qf_close(r);
    }
    buf_free(&why);
}

/* finish_message - every recipient has had its pass. Notices go out while
 * the file is still in active/ (they quote it): the bounce for returned
 * recipients, the success notice (trace/ID, NOTIFY=SUCCESS), and a delay
 * warning when QF_WARN says it is due and recipients are still deferred.
 * A message with no open recipient is removed only after its bounce and
 * success notices are queued; until then it waits in deferred/. */
static void finish_message(struct qmgr_message *m)
{
    struct buf path = BUF_INIT, why = BUF_INIT;
    size_t open_rcpt = 0;
    off_t warn_off = -1;
    long long warn_time = 0;
    int notice_pending = 0;

    if (qmgr_active_path(m->id, &path) < 0) {
        finish_later(m);
        goto out;
    }
    switch (count_open(path.data, &open_rcpt, &warn_off, &warn_time, &why)) {
    case READ_OK:
        break;
    case READ_GONE:
        /* postsuper -d, or an administrator: nothing left to do */
        msg_info("%s: queue file vanished from active", m->id);
        message_free(m);
        qmgr_scan_room();
        goto out;
    case READ_DAMAGED:
        save_corrupt("active", path.data, m->id, buf_cstr(&why));
        message_free(m);
        qmgr_scan_room();
        goto out;
    case READ_LATER:
        msg_warn("%s: cannot read %s again: %s; will try again", m->id, path.data, buf_cstr(&why));
        finish_later(m);
        goto out;
    }
    /* Postfix sends the bounce for returned recipients at once, whatever
     * the others are waiting for. */
    if (log_exists("bounce", m->id) && bounce_flush(m->id, "active", m->sender, &why) < 0) {
        msg_warn("%s: bounce notice not sent: %s; will try again later", m->id, buf_cstr(&why));
        notice_pending = 1;
    }
    if (log_exists("trace", m->id) && bounce_trace(m->id, "active", m->sender, &why) < 0) {
        msg_warn("%s: success notice not sent: %s; will try again later", m->id, buf_cstr(&why));
        notice_pending = 1;
    }
    if (open_rcpt > 0 && warn_off >= 0 && warn_time > 0 && warn_time <= (long long)time(NULL) &&
        log_exists("defer", m->id))
        send_delay_warning(m, path.data, warn_off);

    if (open_rcpt == 0 && !notice_pending) {
        if (m->expired_bounced)
            msg_info("%s: from=<%s>, status=expired, returned to sender", m->id, m->sender);
        unlink_log("defer", m->id);
        if (unlink(path.data) < 0 && errno != ENOENT) {
            msg_warn("%s: remove %s: %m; will try again", m->id, path.data);
            finish_later(m);
            goto out;
        }
        msg_info("%s: removed", m->id);
    } else if (defer_file(m, path.data) < 0) {
        finish_later(m);
        goto out;
    }
    message_free(m);
    qmgr_scan_room();
out:
    buf_free(&path);
    buf_free(&why);
}

void qmgr_rcpt_finish(struct qmgr_message *m, struct qmgr_rcpt *rc)
{
    if (rc != NULL) {
        if (rc->finished)
            msg_panic("%s: recipient <%s> finished twice", m->id, rc->address);
        rc->finished = 1;
    }
    if (m->unfinished == 0)
        msg_panic("%s: more recipients finished than were open", m->id);
    if (--m->unfinished == 0)
        finish_message(m);
}

/* ---- activating --------------------------------------------------------- */

int qmgr_message_activate(const char *queue, const char *path, const char *id)
{
    struct buf why = BUF_INIT;
    struct resolve_result rr;
    struct qmgr_message *m;

    if (qmgr_message_count >= (size_t)qmgr_set.active_limit ||
        (qmgr_message_count > 0 && qmgr_rcpt_in_memory >= (size_t)qmgr_set.rcpt_limit))
        return -1;
    m = xcalloc(1, sizeof(*m));
    snprintf(m->id, sizeof(m->id), "%s", id);
    qmgr_message_count++;
    switch (read_message(path, m, &why)) {
    case READ_OK:
        break;
    case READ_DAMAGED:
        save_corrupt(queue, path, id, buf_cstr(&why));
        message_free(m);
        buf_free(&why);
        return 0;
    case READ_LATER:
        msg_warn("%s: cannot read %s: %s; will try again later", id, path, buf_cstr(&why));
        message_free(m);
        buf_free(&why);
        return 0;
    case READ_GONE:
        message_free(m);
        buf_free(&why);
        return 0;
    }
    if (qmgr_move(path, "active", id, &why) < 0) {
        if (errno != ENOENT)
            msg_warn("%s: cannot move %s to active: %s", id, path, buf_cstr(&why));
        message_free(m);
        buf_free(&why);
        return 0;
    }
    /* A new delivery attempt: the old delay reasons no longer apply. */
    if (strcmp(queue, "deferred") == 0)
        unlink_log("defer", id);
    m->next = messages;
    if (messages)
        messages->prev = m;
    messages = m;
    msg_info("%s: from=<%s>, size=%lld, nrcpt=%zu (queue active)", id, m->sender,
             (long long)m->size, m->nrcpt);

    /* One extra count keeps the message alive while its recipients are
     * handed out: some may be finished at once (resolver failure). */
    m->unfinished = m->nrcpt + 1;
    resolve_result_init(&rr);
    for (size_t i = 0; i < m->nrcpt; i++) {
        struct qmgr_rcpt *rc = &m->rcpt[i];
        if (!text_ok(rc->address)) {
            /* no agent would take it: return it now rather than at expiry */
            const char *why_bad = "bad address syntax: too long or control characters";
            if (return_rcpt(m, rc, "5.1.3", why_bad, 0) == 0)
                qmgr_rcpt_finish(m, rc);
            else
                qmgr_rcpt_defer(m, rc, "4.1.3", why_bad);
            continue;
        }
        if (resolve_addr(qmgr_set.resolver, rc->address, &rr, &why) < 0) {
            msg_warn("%s: resolving <%s>: %s", id, rc->address, buf_cstr(&why));
            qmgr_rcpt_defer(m, rc, "4.3.0", "address resolver failure");
            continue;
        }
        qmgr_enqueue(m, rc, rr.transport.data, rr.nexthop.data);
    }
    resolve_result_free(&rr);
    buf_free(&why);
    qmgr_rcpt_finish(m, NULL);
    qmgr_kick();
    return 0;
}
