/* bounce_notify - the notice side of the bounce service: read the
 * message's status log (bounce/ID for a non-delivery notice, defer/ID for
 * a delay warning, trace/ID for a success notice), keep the recipients
 * whose DSN NOTIFY asks for that kind, read the original message (arrival
 * time, RET, ENVID, content), compose the notice (dsn.c), hand it to
 * cleanup, and only when cleanup has it safe in incoming/ remove the log
 * (never defer/ID: qmgr and mailq still need the reasons).
 *
 * Who gets what (Postfix's rules): a message with a sender gets a notice
 * from the null sender to that sender; a failed message with the null
 * sender (a notice itself) gets a postmaster copy to
 * 2bounce_notice_recipient from double_bounce_sender@$myorigin; a message
 * from that address is a double bounce that failed, and nothing more is
 * sent, which ends any loop. Delay warnings and success notices are never
 * sent for a message from the null sender or the double-bounce address.
 * Like Postfix, a notice goes out even when the original message cannot
 * be read any more: it then returns nothing of it.
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
    size_t omitted;  /* past BOUNCE_NOTICE_RCPT_MAX */
    size_t unwanted; /* their NOTIFY does not ask for this notice */
};

/* the log each kind of notice is made from */
static const char *log_queue(enum dsn_kind kind)
{
    return kind == DSN_DELAY ? "defer" : kind == DSN_SUCCESS ? "trace" : "bounce";
}

const char *bounce_notice_name(enum dsn_kind kind)
{
    /* Postfix's names, so log tools count them the same way */
    return kind == DSN_DELAY     ? "delay notification"
           : kind == DSN_SUCCESS ? "delivery status notification"
                                 : "non-delivery notification";
}

static void entries_free(struct log_entries *le)
{
    for (size_t i = 0; i < le->count; i++)
        bounce_log_entry_free(&le->v[i]);
    free(le->v);
    memset(le, 0, sizeof(*le));
}

/* read_log - every complete entry of the log at path that a notice of
 * kind lists (RFC 3461 NOTIFY). 1 when read, 0 when there is no log, -1 +
 * why on a read error. */
static int read_log(const char *path, enum dsn_kind kind, struct log_entries *le, struct buf *why)
{
    struct bounce_log_reader *r = bounce_log_open(path, why);
    struct bounce_log_entry e;
    int got;

    memset(le, 0, sizeof(*le));
    if (r == NULL)
        return errno == ENOENT ? 0 : -1;
    while ((got = bounce_log_read(r, &e, why)) == 1) {
        if (!dsn_notify_wants(kind, e.notify)) {
            bounce_log_entry_free(&e);
            le->unwanted++;
            continue;
        }
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

/* what the notice needs of the original message */
struct original {
    time_t arrival;      /* 0: unknown */
    enum dsn_return ret; /* dsn_ret=HDRS: headers; FULL or not given: full */
    struct buf envid;    /* dsn_envid=, "" when none */
    struct buf content;  /* at most limit + 1 bytes of it */
    int truncated;       /* the content went on past what was kept */
    int ok;              /* 0: the file is gone or damaged before any content */
};

static void original_free(struct original *o)
{
    buf_free(&o->envid);
    buf_free(&o->content);
}

/* take_attr - the QF_ATTR records the notice honours (RFC 3461 4.3, 4.4). */
static void take_attr(struct original *o, const struct buf *data)
{
    const char *a = buf_cstr(data);
    if (strcmp(a, "dsn_ret=HDRS") == 0)
        o->ret = DSN_RETURN_HEADERS;
    else if (strcmp(a, "dsn_ret=FULL") == 0)
        o->ret = DSN_RETURN_FULL;
    else if (strncmp(a, "dsn_envid=", 10) == 0 && data->len - 10 <= DSN_ENVID_MAX)
        buf_set(&o->envid, a + 10);
}

/* read_original - what the notice needs of queue file path: arrival time,
 * RET, ENVID, and the content: the header only (with_body 0) or all, in
 * both cases at most limit + 1 bytes (dsn.c cuts at limit; one byte more
 * tells it that the message went on). o->ok is 0 when the file is gone or
 * damaged (the notice then goes without). -1 + why for an error worth a
 * retry. */
static int read_original(const char *id, const char *path, size_t limit, int with_body,
                         struct original *o, struct buf *why)
{
    struct buf data = BUF_INIT, err = BUF_INIT;
    struct qf_reader *r = qf_open(path, 0, &err);
    int type, got, rc = 0;
    off_t off;

    if (r == NULL) {
        if (errno != ENOENT && errno != EBADMSG) {
            buf_setf(why, "%s", buf_cstr(&err));
            rc = -1;
        } else {
            msg_warn("%s: %s; the notice goes without the message", id, buf_cstr(&err));
        }
        goto out;
    }
    o->ok = 1;
    while ((got = qf_read(r, &type, &data, &off, &err)) == 1) {
        if (type == QF_TIME) {
            char *copy = xstrdup(buf_cstr(&data));
            char *dot = strchr(copy, '.');
            long sec;
            if (dot)
                *dot = '\0';
            if (str_to_long(copy, 1, LONG_MAX, &sec) == 0)
                o->arrival = (time_t)sec;
            free(copy);
        } else if (type == QF_ATTR) {
            take_attr(o, &data);
        } else if (type == QF_CONTENT) {
            struct buf *c = &o->content;
            size_t before = c->len;
            size_t room = limit + 1 - c->len;
            buf_append(c, data.data, data.len < room ? data.len : room);
            if (c->len > limit) {
                o->truncated = 1;
                break;
            }
            /* the header ends at the empty line (RFC 5322 2.1) */
            size_t from = before > 0 ? before - 1 : 0;
            if (!with_body && c->len > 0 &&
                (c->data[0] == '\n' || memmem(c->data + from, c->len - from, "\n\n", 2)))
                break;
        }
    }
    if (got < 0) {
        if (errno == EBADMSG) {
            /* what was read before the damage is still the start of it */
            msg_warn("%s: %s: %s", id, path, buf_cstr(&err));
            o->truncated = 1;
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
static int submit(const struct bounce_conf *conf, enum dsn_kind kind, const char *id,
                  const char *sender, const struct log_entries *le, const struct original *o,
                  char *notice_id, int *postmaster, struct buf *why)
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
        rcpts[i].action = le->v[i].action;
        rcpts[i].mta = le->v[i].mta;
        rcpts[i].diag = le->v[i].diag;
    }

    struct cleanup_client *c = cleanup_client_open(0, conf->timeout, notice_id, why);
    if (c == NULL)
        goto out;
    struct dsn_notice n = {0};
    n.kind = kind;
    n.myhostname = conf->myhostname;
    n.queue_id = id;
    n.notice_id = notice_id;
    n.sender = sender;
    n.to = to.data;
    n.postmaster_copy = *postmaster;
    n.envid = buf_cstr(&o->envid);
    n.arrival = o->arrival;
    n.now = time(NULL);
    if (kind == DSN_DELAY && o->arrival > 0 && conf->queue_lifetime > 0)
        n.retry_until = o->arrival + conf->queue_lifetime;
    n.rcpts = rcpts;
    n.rcpt_count = le->count;
    n.rcpt_omitted = le->omitted;
    n.ret = o->ret;
    n.message = o->ok ? buf_cstr(&o->content) : NULL;
    n.message_len = o->ok ? o->content.len : 0;
    n.message_truncated = o->truncated;
    n.size_limit = conf->size_limit;
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

/* finish_log - the log after its notice went out, or when none is to go:
 * bounce/ID and trace/ID are done with; defer/ID stays (it still holds
 * why the message waits). */
static void finish_log(enum dsn_kind kind, const char *id, const char *path)
{
    if (kind != DSN_DELAY)
        remove_log(id, path);
}

int bounce_notify(const struct bounce_conf *conf, enum dsn_kind kind, const char *queue_id,
                  const char *queue_dir, const char *sender, struct buf *why)
{
    struct buf log_path = BUF_INIT, msg_path = BUF_INIT;
    struct log_entries le = {0};
    struct original o = {0, DSN_RETURN_FULL, BUF_INIT, BUF_INIT, 0, 0};
    char notice_id[QUEUE_ID_LEN + 1];
    int postmaster, rc = -1;

    if (queue_path(log_queue(kind), queue_id, 0, &log_path, why) < 0)
        goto out;
    int got = read_log(log_path.data, kind, &le, why);
    if (got <= 0) {
        rc = got; /* no log: nothing to report, nothing to send */
        goto out;
    }
    rc = 0;
    if (le.count == 0) {
        /* An append that crashed left no complete entry; its client was
         * not told "recorded" and retries, so there is nothing to report. */
        if (le.unwanted == 0)
            msg_warn("%s: %s holds no complete entry", queue_id, log_path.data);
        /* else RFC 3461 4.1: no recipient asked for this notice */
        else if (msg_verbose)
            msg_info("%s: no %s: NOTIFY", queue_id, bounce_notice_name(kind));
        finish_log(kind, queue_id, log_path.data);
        goto out;
    }
    if (sender[0] && same_addr(sender, conf->double_bounce)) {
        if (kind == DSN_FAILURE)
            msg_warn("%s: undeliverable postmaster notification discarded", queue_id);
        finish_log(kind, queue_id, log_path.data);
        goto out;
    }
    if (sender[0] == '\0' && kind != DSN_FAILURE) {
        /* only a failure of a notice is worth the postmaster's time */
        finish_log(kind, queue_id, log_path.data);
        goto out;
    }
    rc = -1;
    /* RET (RFC 3461 4.3) applies to failures; the others return headers */
    if (queue_path(queue_dir, queue_id, 0, &msg_path, why) < 0 ||
        read_original(queue_id, msg_path.data, conf->size_limit, kind == DSN_FAILURE, &o, why) < 0)
        goto out;
    if (kind != DSN_FAILURE)
        o.ret = DSN_RETURN_HEADERS;
    if (submit(conf, kind, queue_id, sender, &le, &o, notice_id, &postmaster, why) < 0)
        goto out;
    /* Only now: the notice is safe in incoming/ (DESIGN.md invariant 1). */
    finish_log(kind, queue_id, log_path.data);
    msg_info("%s: %s %s: %s", queue_id, postmaster ? "postmaster" : "sender",
             bounce_notice_name(kind), notice_id);
    rc = 0;
out:
    entries_free(&le);
    original_free(&o);
    buf_free(&log_path);
    buf_free(&msg_path);
    return rc;
}
