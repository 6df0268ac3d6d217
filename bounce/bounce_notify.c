/* bounce_notify - the flush side of the bounce service: read bounce/ID and
 * the original message's header, compose the notice (dsn.c), hand it to
 * cleanup, and only when cleanup has it safe in incoming/ remove the log.
 *
 * Who gets what (Postfix's rules): a message with a sender gets a notice
 * from the null sender to that sender; a message with the null sender (a
 * notice itself) gets a postmaster copy to 2bounce_notice_recipient from
 * double_bounce_sender@$myorigin; a message from that address is a
 * double bounce that failed, and nothing more is sent, which ends any loop.
 * Like Postfix, a notice goes out even when the original message cannot be
 * read any more: it then has no returned header.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "mail/addr.h"
#include "mail/bounce_log.h"
#include "mail/cleanup_client.h"
#include "mail/dsn.h"
#include "mail/queue_dirs.h"
#include "mail/queue_file.h"
#include "util/alloc.h"
#include "util/msg.h"
#include "util/strutil.h"

struct log_entries {
    struct bounce_log_entry *v;
    size_t count;
    size_t omitted; /* past BOUNCE_NOTICE_RCPT_MAX */
};

static void entries_free(struct log_entries *le)
{
    for (size_t i = 0; i < le->count; i++)
        bounce_log_entry_free(&le->v[i]);
    free(le->v);
    memset(le, 0, sizeof(*le));
}

/* read_log - every complete entry of the log at path. 1 when read, 0 when
 * there is no log, -1 + why on a read error. */
static int read_log(const char *path, struct log_entries *le, struct buf *why)
{
    struct bounce_log_reader *r = bounce_log_open(path, why);
    struct bounce_log_entry e;
    int got;

    memset(le, 0, sizeof(*le));
    if (r == NULL)
        return errno == ENOENT ? 0 : -1;
    while ((got = bounce_log_read(r, &e, why)) == 1) {
        if (le->count == BOUNCE_NOTICE_RCPT_MAX) {
            bounce_log_entry_free(&e);
            le->omitted++;
            continue;
        }
        le->v = xreallocarray(le->v, le->count + 1, sizeof(*le->v));
        le->v[le->count++] = e;
    }
    bounce_log_close(r);
    if (got < 0) {
        entries_free(le);
        return -1;
    }
    return 1;
}

/* read_original - the arrival time and the header of queue file path:
 * content up to its first empty line, at most limit + 1 bytes (dsn.c cuts
 * at limit; one byte more tells it that the header went on). *header_ok
 * is 0 when the file is gone or damaged (the notice then goes without).
 * -1 + why for an error worth a retry. */
static int read_original(const char *id, const char *path, size_t limit, time_t *arrival,
                         struct buf *header, int *header_ok, struct buf *why)
{
    struct buf data = BUF_INIT, err = BUF_INIT;
    struct qf_reader *r = qf_open(path, 0, &err);
    int type, got, rc = 0;
    off_t off;

    *arrival = 0;
    *header_ok = 0;
    buf_reset(header);
    if (r == NULL) {
        if (errno != ENOENT && errno != EBADMSG) {
            buf_setf(why, "%s", buf_cstr(&err));
            rc = -1;
        } else {
            msg_warn("%s: %s; the notice goes without the message header", id, buf_cstr(&err));
        }
        goto out;
    }
    *header_ok = 1;
    while ((got = qf_read(r, &type, &data, &off, &err)) == 1) {
        if (type == QF_TIME) {
            char *copy = xstrdup(buf_cstr(&data));
            char *dot = strchr(copy, '.');
            long sec;
            if (dot)
                *dot = '\0';
            if (str_to_long(copy, 1, LONG_MAX, &sec) == 0)
                *arrival = (time_t)sec;
            free(copy);
        } else if (type == QF_CONTENT) {
            size_t before = header->len;
            size_t room = limit + 1 - header->len;
            buf_append(header, data.data, data.len < room ? data.len : room);
            /* done at the empty line (RFC 5322 2.1) or at the limit */
            size_t from = before > 0 ? before - 1 : 0;
            if (header->len > limit || (header->len > 0 && header->data[0] == '\n') ||
                memmem(header->data + from, header->len - from, "\n\n", 2) != NULL)
                break;
        }
    }
    if (got < 0) {
        if (errno == EBADMSG) {
            /* what was read before the damage is still the header */
            msg_warn("%s: %s: %s", id, path, buf_cstr(&err));
        } else {
            buf_setf(why, "%s", buf_cstr(&err));
            rc = -1;
        }
    }
    qf_close(r);
out:
    buf_free(&data);
    buf_free(&err);
    return rc;
}

/* same_addr - local part exact, domain ASCII case-insensitive (RFC 5321
 * 2.4). */
static int same_addr(const char *a, const char *b)
{
    const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');
    if (at_a == NULL || at_b == NULL)
        return at_a == at_b && strcmp(a, b) == 0;
    return at_a - a == at_b - b && strncmp(a, b, (size_t)(at_a - a)) == 0 &&
           strcasecmp(at_a, at_b) == 0;
}

/* remove_log - the log is done with: its recipients are reported. */
static void remove_log(const char *id, const char *path)
{
    if (unlink(path) < 0 && errno != ENOENT)
        msg_warn("%s: remove %s: %m; the notice may be sent twice", id, path);
}

/* submit - the notice into the queue through cleanup. */
static int submit(const struct bounce_conf *conf, const char *id, const char *sender,
                  const struct log_entries *le, time_t arrival, const struct buf *header,
                  int header_ok, char *notice_id, int *postmaster, struct buf *why)
{
    struct buf to = BUF_INIT, text = BUF_INIT;
    const char *env_sender;
    struct dsn_rcpt *rcpts = xcalloc(le->count ? le->count : 1, sizeof(*rcpts));
    int rc = -1;

    *postmaster = sender[0] == '\0';
    if (*postmaster) {
        addr_qualify(conf->notice_rcpt_2bounce, conf->myorigin, &to);
        env_sender = conf->double_bounce;
    } else {
        buf_set(&to, sender);
        env_sender = ""; /* RFC 3464 2: a notice must not cause another */
    }
    for (size_t i = 0; i < le->count; i++) {
        rcpts[i].address = le->v[i].recipient;
        rcpts[i].orcpt = le->v[i].orcpt;
        rcpts[i].status = le->v[i].status;
        rcpts[i].reason = le->v[i].reason;
    }

    struct cleanup_client *c = cleanup_client_open(0, conf->timeout, notice_id, why);
    if (c == NULL)
        goto out;
    struct dsn_notice n = {0};
    n.myhostname = conf->myhostname;
    n.queue_id = id;
    n.notice_id = notice_id;
    n.sender = sender;
    n.to = to.data;
    n.postmaster_copy = *postmaster;
    n.arrival = arrival;
    n.now = time(NULL);
    n.rcpts = rcpts;
    n.rcpt_count = le->count;
    n.rcpt_omitted = le->omitted;
    n.header = header_ok ? buf_cstr(header) : NULL;
    n.header_len = header_ok ? header->len : 0;
    n.header_limit = conf->size_limit;
    if (dsn_compose(&n, &text, why) < 0) {
        cleanup_client_abort(c);
        goto out;
    }
    cleanup_client_str(c, QF_SENDER, env_sender);
    cleanup_client_str(c, QF_RCPT, to.data);
    cleanup_client_content(c, text.data, text.len);
    int status = cleanup_client_close(c, why);
    if (status != 0) {
        char *reason = xstrdup(buf_cstr(why));
        buf_setf(why, "cleanup status %d: %s", status, reason);
        free(reason);
        goto out;
    }
    rc = 0;
out:
    free(rcpts);
    buf_free(&to);
    buf_free(&text);
    return rc;
}

int bounce_notify(const struct bounce_conf *conf, const char *queue_id, const char *queue_dir,
                  const char *sender, struct buf *why)
{
    struct buf log_path = BUF_INIT, msg_path = BUF_INIT, header = BUF_INIT;
    struct log_entries le = {0};
    char notice_id[QUEUE_ID_LEN + 1];
    time_t arrival;
    int header_ok, postmaster, rc = -1;

    if (queue_path("bounce", queue_id, 0, &log_path, why) < 0)
        goto out;
    int got = read_log(log_path.data, &le, why);
    if (got <= 0) {
        rc = got; /* no log: nothing bounced, nothing to send */
        goto out;
    }
    /* An append that crashed left no complete entry; its client was not
     * told "recorded" and retries, so there is nothing to report. */
    if (le.count == 0) {
        msg_warn("%s: %s holds no complete entry; removed", queue_id, log_path.data);
        remove_log(queue_id, log_path.data);
        rc = 0;
        goto out;
    }
    if (sender[0] && same_addr(sender, conf->double_bounce)) {
        msg_warn("%s: undeliverable postmaster notification discarded", queue_id);
        remove_log(queue_id, log_path.data);
        rc = 0;
        goto out;
    }
    if (queue_path(queue_dir, queue_id, 0, &msg_path, why) < 0 ||
        read_original(queue_id, msg_path.data, conf->size_limit, &arrival, &header, &header_ok,
                      why) < 0)
        goto out;
    if (submit(conf, queue_id, sender, &le, arrival, &header, header_ok, notice_id, &postmaster,
               why) < 0)
        goto out;
    /* Only now: the notice is safe in incoming/ (DESIGN.md invariant 1). */
    remove_log(queue_id, log_path.data);
    msg_info("%s: %s non-delivery notification: %s", queue_id, postmaster ? "postmaster" : "sender",
             notice_id);
    rc = 0;
out:
    entries_free(&le);
    buf_free(&log_path);
    buf_free(&msg_path);
    buf_free(&header);
    return rc;
}
