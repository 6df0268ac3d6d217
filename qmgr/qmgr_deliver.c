/* qmgr_deliver - scheduling and the conversations with delivery agents.
 *
 * Recipients wait in destination queues, one per (transport, next hop) --
 * or per (transport, next hop, recipient) when the transport takes one
 * recipient per delivery, where Postfix applies the concurrency limit per
 * recipient. A delivery request carries up to
 * <transport>_destination_recipient_limit recipients of one message; at
 * most default_process_limit requests in all are in flight.
 *
 * Each queue has a concurrency window (qmgr_conc.h, Postfix's concurrency
 * scheduling): it starts at <transport>_initial_destination_concurrency,
 * grows with every delivery that was not a site failure and shrinks with
 * site failures (the agent's reply says site_fail), within 1 and
 * <transport>_destination_concurrency_limit (0: no limit). After
 * <transport>_destination_concurrency_failed_cohort_limit failed cohorts
 * the destination is dead: its waiting and new recipients are deferred
 * here, "delivery temporarily suspended: <the agent's reason>", for
 * minimal_backoff_time; then one delivery probes it. postqueue -f revives
 * every dead destination, postqueue -s those it names.
 *
 * A request is one connection to private/<transport>. The request is
 * encoded into memory first and written as the socket accepts it; the
 * reply is collected as it arrives and parsed only when complete, so a
 * slow or stuck agent never stops the event loop; ipc_timeout bounds a
 * whole delivery. When private/<transport> cannot be reached the
 * transport is marked unavailable for transport_retry_time and its
 * recipients are deferred ("mail transport unavailable", Postfix's words).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/attr.h"
#include "mail/deliver_request.h"
#include "mail/mail_proto.h"
#include "mail/qmgr_conc.h"
#include "mail/qmgr_param.h"
#include "qmgr.h"
#include "util/alloc.h"
#include "util/events.h"
#include "util/iostuff.h"
#include "util/msg.h"
#include "util/sock.h"
#include "util/stream.h"

/* An attribute message holds at most ATTR_COUNT_MAX attributes:
 * deliver_request.h's fixed ones and some per recipient in a request,
 * 2 + 3 per recipient in a reply. */
#define RCPT_PER_REQUEST_MAX DELIVER_RCPT_MAX
#define REPLY_MAX            (ATTR_SIZE_MAX + 4096)
#define READ_CHUNK           65536
#define QUEUE_HASH           4096
#define DSN_AGENT            "4.3.0"
#define WHY_GONE             "unknown mail transport error"
#define WHY_NO_AGENT         "mail transport unavailable"

struct qmgr_transport {
    char *name;
    long rcpt_limit; /* recipients per request */
    struct qmgr_conc_params cp;
    time_t dead_until; /* private/<name> could not be reached */
    struct qmgr_transport *next;
};

struct qmgr_entry {
    struct qmgr_message *m;
    struct qmgr_rcpt *rc;
    struct qmgr_entry *next;
};

struct qmgr_queue {
    struct qmgr_transport *tp;
    char *key; /* nexthop, or nexthop "\n" recipient */
    char *nexthop;
    long busy; /* requests in flight */
    struct qmgr_conc conc;
    char dead_dsn[16]; /* while dead: the agent's status */
    char *dead_reason; /* while dead: "delivery temporarily suspended: ..." */
    struct qmgr_entry *head, *tail;
    struct qmgr_queue *hnext;         /* hash chain */
    struct qmgr_queue *rprev, *rnext; /* ready list: queues with waiting recipients */
    int ready;
};

struct qmgr_request {
    struct qmgr_queue *q;
    struct qmgr_message *m;
    struct qmgr_rcpt **rc;
    size_t n;
    char path[sizeof("private/") + RESOLVE_TRANSPORT_MAX];
    int fd;
    struct buf out; /* encoded request */
    size_t out_off;
    struct buf in; /* reply so far */
    int site_fail; /* the agent said the destination as a whole failed */
};

static struct qmgr_transport *transports;
static struct qmgr_queue *queue_hash[QUEUE_HASH];
static struct qmgr_queue *ready_head, *ready_tail;
static size_t inflight;
static int feedback_debug; /* destination_concurrency_feedback_debug */

size_t qmgr_inflight(void)
{
    return inflight;
}

/* ---- transports and queues ---------------------------------------------- */

static long transport_limit(const char *name, const char *suffix, long min, long max, long dflt)
{
    struct buf why = BUF_INIT;
    long v;
    if (qmgr_param_long(mail_conf, name, suffix, min, max, &v, &why) < 0) {
        msg_warn("transport %s: %s; using %ld", name, buf_cstr(&why), dflt);
        v = dflt;
    }
    buf_free(&why);
    return v;
}

static long transport_limit_or(const char *name, const char *suffix, const char *fallback, long min,
                               long max, long dflt)
{
    struct buf why = BUF_INIT;
    long v;
    if (qmgr_param_long_or(mail_conf, name, suffix, fallback, min, max, &v, &why) < 0) {
        msg_warn("transport %s: %s; using %ld", name, buf_cstr(&why), dflt);
        v = dflt;
    }
    buf_free(&why);
    return v;
}

/* transport_feedback - a feedback setting; a bad one warns and is 1
 * (Postfix's default). */
static void transport_feedback(const char *name, const char *suffix, struct qmgr_feedback *fb)
{
    struct buf why = BUF_INIT, text = BUF_INIT;
    if (qmgr_param_str(mail_conf, name, suffix, NULL, &text, &why) < 0 ||
        qmgr_feedback_parse(text.data, fb, &why) < 0) {
        msg_warn("transport %s: %s_%s: %s; using 1", name, name, suffix, buf_cstr(&why));
        fb->value = 1;
        fb->per_window = 0;
    }
    buf_free(&why);
    buf_free(&text);
}

static struct qmgr_transport *get_transport(const char *name)
{
    struct qmgr_transport *tp;
    for (tp = transports; tp; tp = tp->next)
        if (strcmp(tp->name, name) == 0)
            return tp;
    tp = xcalloc(1, sizeof(*tp));
    tp->name = xstrdup(name);
    tp->rcpt_limit =
        transport_limit(name, "destination_recipient_limit", 0, LONG_MAX, RCPT_PER_REQUEST_MAX);
    /* 0 would mean "no limit"; a request still has to fit one message */
    if (tp->rcpt_limit <= 0 || tp->rcpt_limit > RCPT_PER_REQUEST_MAX)
        tp->rcpt_limit = RCPT_PER_REQUEST_MAX;
    tp->cp.limit = (int)transport_limit(name, "destination_concurrency_limit", 0, 100000, 1);
    tp->cp.initial = (int)transport_limit_or(name, "initial_destination_concurrency",
                                             "initial_destination_concurrency", 1, 100000, 5);
    tp->cp.cohort_limit =
        (int)transport_limit(name, "destination_concurrency_failed_cohort_limit", 0, 100000, 1);
    transport_feedback(name, "destination_concurrency_positive_feedback", &tp->cp.pos);
    transport_feedback(name, "destination_concurrency_negative_feedback", &tp->cp.neg);
    if (feedback_debug) {
        struct buf pos = BUF_INIT, neg = BUF_INIT;
        qmgr_feedback_format(&tp->cp.pos, &pos);
        qmgr_feedback_format(&tp->cp.neg, &neg);
        msg_info("transport %s: initial concurrency %d limit %d failed cohort limit %d "
                 "positive feedback %s negative feedback %s",
                 name, tp->cp.initial, tp->cp.limit, tp->cp.cohort_limit, pos.data, neg.data);
        buf_free(&pos);
        buf_free(&neg);
    }
    tp->next = transports;
    transports = tp;
    return tp;
}

static int transport_dead(const struct qmgr_transport *tp)
{
    return tp->dead_until != 0 && time(NULL) < tp->dead_until;
}

static size_t hash_of(const char *transport, const char *key)
{
    size_t h = 5381;
    for (const unsigned char *p = (const unsigned char *)transport; *p; p++)
        h = h * 33 + *p;
    h = h * 33 + '\n';
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = h * 33 + *p;
    return h % QUEUE_HASH;
}

static struct qmgr_queue *get_queue(struct qmgr_transport *tp, const char *key, const char *nexthop)
{
    size_t h = hash_of(tp->name, key);
    struct qmgr_queue *q;
    for (q = queue_hash[h]; q; q = q->hnext)
        if (q->tp == tp && strcmp(q->key, key) == 0)
            return q;
    q = xcalloc(1, sizeof(*q));
    q->tp = tp;
    q->key = xstrdup(key);
    q->nexthop = xstrdup(nexthop);
    qmgr_conc_init(&q->conc, &tp->cp);
    q->hnext = queue_hash[h];
    queue_hash[h] = q;
    return q;
}

static void ready_add(struct qmgr_queue *q)
{
    if (q->ready)
        return;
    q->ready = 1;
    q->rnext = NULL;
    q->rprev = ready_tail;
    if (ready_tail)
        ready_tail->rnext = q;
    else
        ready_head = q;
    ready_tail = q;
}

static void ready_remove(struct qmgr_queue *q)
{
    if (!q->ready)
        return;
    q->ready = 0;
    if (q->rprev)
        q->rprev->rnext = q->rnext;
    else
        ready_head = q->rnext;
    if (q->rnext)
        q->rnext->rprev = q->rprev;
    else
        ready_tail = q->rprev;
    q->rprev = q->rnext = NULL;
}

static void dead_timer(void *ctx);

/* queue_release - forget a queue that has nothing waiting and nothing in
 * flight, so memory follows the work, not every destination ever seen. A
 * dead or probing destination is kept: dead_timer lets it go. */
static void queue_release(struct qmgr_queue *q)
{
    if (q->head != NULL || q->busy > 0 || q->conc.state != QMGR_CONC_READY)
        return;
    event_timer_cancel(dead_timer, q);
    ready_remove(q);
    struct qmgr_queue **pp = &queue_hash[hash_of(q->tp->name, q->key)];
    while (*pp != q)
        pp = &(*pp)->hnext;
    *pp = q->hnext;
    free(q->key);
    free(q->nexthop);
    free(q->dead_reason);
    free(q);
}

/* queue_debug - Postfix's destination_concurrency_feedback_debug line. */
static void queue_debug(const struct qmgr_queue *q, const char *what)
{
    if (!feedback_debug)
        return;
    struct buf b = BUF_INIT;
    qmgr_conc_format(&q->conc, &b);
    msg_info("%s: queue %s:%s: limit %d busy %ld %s", what, q->tp->name, q->nexthop,
             q->tp->cp.limit, q->busy, b.data);
    buf_free(&b);
}

static long dead_wait(void)
{
    return qmgr_set.min_backoff < 1         ? 1
           : qmgr_set.min_backoff > INT_MAX ? INT_MAX
                                            : qmgr_set.min_backoff;
}

/* queue_alive - q is READY again: forget why it was dead. */
static void queue_alive(struct qmgr_queue *q, const char *why)
{
    event_timer_cancel(dead_timer, q);
    free(q->dead_reason);
    q->dead_reason = NULL;
    msg_info("destination %s:%s: delivery resumed (%s)", q->tp->name, q->nexthop, why);
    queue_debug(q, "alive");
}

/* dead_timer - a dead destination's wait is over: one delivery may probe
 * it. A probing destination that got no mail within maximal_backoff_time
 * is forgotten (the next mail starts a new queue). */
static void dead_timer(void *ctx)
{
    struct qmgr_queue *q = ctx;
    if (q->conc.state == QMGR_CONC_DEAD) {
        qmgr_conc_probe(&q->conc);
        queue_debug(q, "probe");
        /* deferred mail for it comes back within maximal_backoff_time */
        long linger = qmgr_set.max_backoff > dead_wait() ? qmgr_set.max_backoff : dead_wait();
        event_timer(dead_timer, q, linger > INT_MAX ? INT_MAX : (int)linger);
        qmgr_kick();
    } else if (q->conc.state == QMGR_CONC_PROBE && q->head == NULL && q->busy == 0) {
        qmgr_conc_revive(&q->conc, &q->tp->cp, 0);
        free(q->dead_reason);
        q->dead_reason = NULL;
        queue_release(q);
    }
}

/* defer_waiting - qmgr defers every recipient waiting in dead queue q. */
static void defer_waiting(struct qmgr_queue *q)
{
    struct qmgr_entry *e;
    while ((e = q->head) != NULL) {
        q->head = e->next;
        if (q->head == NULL) {
            q->tail = NULL;
            ready_remove(q);
        }
        qmgr_rcpt_defer(e->m, e->rc, q->dead_dsn, q->dead_reason);
        free(e);
    }
}

/* queue_dead - q just died of a site failure (dsn, reason: the agent's). */
static void queue_dead(struct qmgr_queue *q, const char *dsn, const char *reason)
{
    struct buf text = BUF_INIT;
    snprintf(q->dead_dsn, sizeof(q->dead_dsn), "%s", dsn[0] == '4' ? dsn : DSN_AGENT);
    buf_printf(&text, "delivery temporarily suspended: %s", reason[0] ? reason : WHY_GONE);
    free(q->dead_reason);
    q->dead_reason = xstrdup(text.data);
    buf_free(&text);
    msg_info("destination %s:%s is not responding: %s for %lds", q->tp->name, q->nexthop,
             q->dead_reason, dead_wait());
    queue_debug(q, "dead");
    event_timer_cancel(dead_timer, q);
    event_timer(dead_timer, q, (int)dead_wait());
    defer_waiting(q);
}

/* queue_revive - an administrator's flush: q may be tried at once. May
 * free q. */
static void queue_revive(struct qmgr_queue *q)
{
    if (q->conc.state == QMGR_CONC_READY)
        return;
    qmgr_conc_revive(&q->conc, &q->tp->cp, q->busy);
    queue_alive(q, "flush");
    queue_release(q);
}

/* revive_matching - revive the queues of transport (NULL: any) whose next
 * hop is nexthop (NULL: any; compared without case). */
static void revive_matching(const char *transport, const char *nexthop)
{
    for (size_t h = 0; h < QUEUE_HASH; h++) {
        for (struct qmgr_queue *q = queue_hash[h], *next; q != NULL; q = next) {
            next = q->hnext; /* q may be freed */
            if ((transport == NULL || strcmp(q->tp->name, transport) == 0) &&
                (nexthop == NULL || strcasecmp(q->nexthop, nexthop) == 0))
                queue_revive(q);
        }
    }
    qmgr_kick();
}

void qmgr_revive_transports(void)
{
    for (struct qmgr_transport *tp = transports; tp; tp = tp->next)
        tp->dead_until = 0;
    revive_matching(NULL, NULL);
}

void qmgr_revive_dest(const char *transport, const char *nexthop)
{
    revive_matching(transport, nexthop);
}

void qmgr_enqueue(struct qmgr_message *m, struct qmgr_rcpt *rc, const char *transport,
                  const char *nexthop)
{
    struct qmgr_transport *tp = get_transport(transport);
    struct buf key = BUF_INIT;

    buf_set(&key, nexthop);
    if (tp->rcpt_limit == 1) {
        buf_putc(&key, '\n');
        buf_puts(&key, rc->address);
    }
    struct qmgr_queue *q = get_queue(tp, key.data, nexthop);
    buf_free(&key);
    if (q->conc.state == QMGR_CONC_DEAD) {
        qmgr_rcpt_defer(m, rc, q->dead_dsn, q->dead_reason);
        return;
    }

    struct qmgr_entry *e = xmalloc(sizeof(*e));
    e->m = m;
    e->rc = rc;
    e->next = NULL;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    ready_add(q);
}

/* pop - the next entry of q (NULL when none). */
static struct qmgr_entry *pop(struct qmgr_queue *q)
{
    struct qmgr_entry *e = q->head;
    if (e == NULL)
        return NULL;
    q->head = e->next;
    if (q->head == NULL) {
        q->tail = NULL;
        ready_remove(q);
    }
    return e;
}

/* ---- requests ----------------------------------------------------------- */

static void request_timeout(void *ctx);

/* request_end - the connection part of a request is over; returns the
 * recipients to the caller's care (they must still be finished). */
static void request_end(struct qmgr_request *req)
{
    if (req->fd >= 0) {
        event_disable(req->fd);
        close(req->fd);
        req->fd = -1;
    }
    event_timer_cancel(request_timeout, req);
    req->q->busy--;
    inflight--;
    queue_release(req->q);
    req->q = NULL;
    buf_free(&req->out);
    buf_free(&req->in);
    qmgr_kick();
}

static void request_free(struct qmgr_request *req)
{
    free(req->rc);
    free(req);
}

/* defer_all - qmgr's own deferral for every recipient of a request. */
static void defer_all(struct qmgr_request *req, const char *reason)
{
    struct qmgr_message *m = req->m;
    request_end(req);
    for (size_t i = 0; i < req->n; i++)
        qmgr_rcpt_defer(m, req->rc[i], DSN_AGENT, reason);
    request_free(req);
}

static int off_cmp(const void *a, const void *b)
{
    off_t x = *(const off_t *)a, y = *(const off_t *)b;
    return x < y ? -1 : x > y;
}

/* agent_lost - no usable reply: what the queue file shows done is done
 * (the agent recorded it before it went away); the rest is deferred. */
static void agent_lost(struct qmgr_request *req, const char *what)
{
    struct qmgr_message *m = req->m;
    off_t *done;
    size_t ndone;

    msg_warn("%s: %s: %s", m->id, req->path, what);
    request_end(req);
    (void)qmgr_done_offsets(m, &done, &ndone);
    for (size_t i = 0; i < req->n; i++) {
        struct qmgr_rcpt *rc = req->rc[i];
        if (ndone > 0 && bsearch(&rc->offset, done, ndone, sizeof(*done), off_cmp) != NULL)
            qmgr_rcpt_finish(m, rc);
        else
            qmgr_rcpt_defer(m, rc, DSN_AGENT, WHY_GONE);
    }
    free(done);
    request_free(req);
}

static void request_timeout(void *ctx)
{
    struct qmgr_request *req = ctx;
    struct buf what = BUF_INIT;
    buf_printf(&what, "no reply within %d seconds (ipc_timeout)", qmgr_set.agent_timeout);
    agent_lost(req, what.data);
    buf_free(&what);
}

/* A memory stream: deliver_request.c reads and writes streams, and qmgr
 * must not wait on the socket, so encoding and decoding happen in memory. */
struct memsrc {
    const char *p;
    size_t len, off;
    int ran_out; /* the parser wanted more than there is */
};

static ssize_t mem_read(int fd, void *p, size_t len, int timeout, void *ctx)
{
    struct memsrc *src = ctx;
    size_t n = src->len - src->off;
    (void)fd;
    (void)timeout;
    if (n == 0) {
        src->ran_out = 1;
        return 0;
    }
    if (n > len)
        n = len;
    memcpy(p, src->p + src->off, n);
    src->off += n;
    return (ssize_t)n;
}

static ssize_t mem_write(int fd, const void *p, size_t len, int timeout, void *ctx)
{
    (void)fd;
    (void)timeout;
    buf_append(ctx, p, len);
    return (ssize_t)len;
}

/* try_reply - parse the reply collected so far: 1 complete (res filled),
 * 0 incomplete, -1 malformed (why). */
static int try_reply(struct qmgr_request *req, struct deliver_result *res, struct buf *why)
{
    struct memsrc src = {req->in.data, req->in.len, 0, 0};
    struct stream *s = stream_open(-1, 0);
    stream_set_io(s, mem_read, mem_write, &src);
    int rc = deliver_reply_read(s, req->n, res, &req->site_fail, why);
    (void)stream_close(s);
    if (rc == 0)
        return 1;
    deliver_result_free(res, req->n);
    memset(res, 0, req->n * sizeof(*res));
    return src.ran_out ? 0 : -1;
}

/* feedback - what this reply says about the destination (before the
 * request ends: q may be released then). */
static void feedback(struct qmgr_request *req, const struct deliver_result *res)
{
    struct qmgr_queue *q = req->q;
    if (!req->site_fail) {
        enum qmgr_conc_state was = q->conc.state;
        qmgr_conc_success(&q->conc, &q->tp->cp, q->busy);
        if (was != QMGR_CONC_READY)
            queue_alive(q, was == QMGR_CONC_PROBE ? "probe delivered" : "delivered");
        else
            queue_debug(q, "positive feedback");
        return;
    }
    if (!qmgr_conc_failure(&q->conc, &q->tp->cp)) {
        queue_debug(q, "negative feedback");
        return;
    }
    const struct deliver_result *why = &res[0];
    for (size_t i = 0; i < req->n; i++) {
        if (res[i].status == DELIVER_DEFER) {
            why = &res[i];
            break;
        }
    }
    queue_dead(q, why->dsn, why->reason ? why->reason : "");
}

static void reply_done(struct qmgr_request *req, struct deliver_result *res)
{
    struct qmgr_message *m = req->m;
    feedback(req, res);
    request_end(req);
    for (size_t i = 0; i < req->n; i++) {
        struct qmgr_rcpt *rc = req->rc[i];
        /* OK and BOUNCE: the agent marked the recipient done and logged */
        if (res[i].status == DELIVER_DEFER)
            qmgr_rcpt_agent_deferred(m, rc, res[i].dsn, res[i].reason ? res[i].reason : "");
        else
            qmgr_rcpt_finish(m, rc);
    }
    request_free(req);
}

static void request_readable(int fd, void *ctx)
{
    struct qmgr_request *req = ctx;
    struct buf why = BUF_INIT;
    int eof = 0;

    buf_reserve(&req->in, READ_CHUNK);
    ssize_t n = read(fd, req->in.data + req->in.len, READ_CHUNK);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        eof = 1;
    } else if (n == 0) {
        eof = 1;
    } else {
        req->in.len += (size_t)n;
        req->in.data[req->in.len] = 0;
    }
    if (req->in.len > REPLY_MAX) {
        agent_lost(req, "reply too large");
        return;
    }
    if (req->in.len == 0 && eof) {
        agent_lost(req, "lost connection without a reply");
        return;
    }
    size_t nres = req->n; /* req is gone once the reply is handled */
    struct deliver_result *res = xcalloc(nres, sizeof(*res));
    int got = try_reply(req, res, &why);
    if (got > 0) {
        reply_done(req, res);
    } else if (got < 0 || eof) {
        struct buf what = BUF_INIT;
        buf_printf(&what, "%s", got < 0 ? buf_cstr(&why) : "lost connection mid-reply");
        agent_lost(req, what.data);
        buf_free(&what);
    }
    deliver_result_free(res, nres);
    free(res);
    buf_free(&why);
}

static void request_writable(int fd, void *ctx)
{
    struct qmgr_request *req = ctx;
    ssize_t n = write(fd, req->out.data + req->out_off, req->out.len - req->out_off);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        struct buf what = BUF_INIT;
        buf_printf(&what, "write: %s", strerror(errno));
        agent_lost(req, what.data);
        buf_free(&what);
        return;
    }
    req->out_off += (size_t)n;
    if (req->out_off < req->out.len)
        return;
    event_disable(fd);
    event_read(fd, request_readable, req);
}

/* encode - the request for req into req->out. */
static void encode(struct qmgr_request *req)
{
    struct deliver_request dr;
    struct qmgr_message *m = req->m;

    deliver_request_init(&dr);
    snprintf(dr.queue_id, sizeof(dr.queue_id), "%s", m->id);
    dr.queue_dir = xstrdup("active");
    dr.size = m->size;
    dr.sender = xstrdup(m->sender);
    dr.nexthop = xstrdup(req->q->nexthop);
    dr.arrival = m->arrival;
    dr.flags = 0;
    dr.envid = xstrdup(m->envid ? m->envid : "");
    dr.ret = m->dsn_ret;
    for (size_t i = 0; i < req->n; i++) {
        deliver_request_add_rcpt(&dr, req->rc[i]->address, req->rc[i]->orcpt,
                                 (int64_t)req->rc[i]->offset);
        dr.rcpt[i].notify = req->rc[i]->notify;
    }
    struct stream *s = stream_open(-1, 0);
    stream_set_io(s, NULL, mem_write, &req->out);
    if (deliver_request_write(s, &dr) < 0 || stream_close(s) < 0)
        msg_panic("%s: encoding a delivery request in memory failed", m->id);
    deliver_request_free(&dr);
}

/* dispatch - one request from the head of q. */
static void dispatch(struct qmgr_queue *q)
{
    struct qmgr_request *req = xcalloc(1, sizeof(*req));
    struct qmgr_entry *e;

    req->q = q;
    req->fd = -1;
    req->m = q->head->m;
    req->rc = xcalloc((size_t)q->tp->rcpt_limit, sizeof(*req->rc));
    while (req->n < (size_t)q->tp->rcpt_limit && q->head != NULL && q->head->m == req->m) {
        e = pop(q);
        req->rc[req->n++] = e->rc;
        free(e);
    }
    q->busy++;
    inflight++;
    snprintf(req->path, sizeof(req->path), MAIL_SOCK_TRANSPORT_FMT, q->tp->name);

    if (transport_dead(q->tp)) {
        defer_all(req, WHY_NO_AGENT);
        return;
    }
    int fd = unix_connect(req->path, qmgr_set.connect_timeout);
    if (fd < 0) {
        msg_warn("connect to transport %s: %m", req->path);
        q->tp->dead_until = time(NULL) + qmgr_set.transport_retry;
        defer_all(req, WHY_NO_AGENT);
        return;
    }
    if (set_nonblock(fd, 1) < 0) {
        msg_warn("%s: %s: set non-blocking: %m", req->m->id, req->path);
        close(fd);
        defer_all(req, WHY_GONE);
        return;
    }
    req->fd = fd;
    encode(req);
    event_write(fd, request_writable, req);
    event_timer(request_timeout, req, qmgr_set.agent_timeout);
}

/* ---- the scheduler ------------------------------------------------------ */

static void schedule(void *unused)
{
    int progress;
    (void)unused;
    do {
        progress = 0;
        for (struct qmgr_queue *q = ready_head, *next; q != NULL; q = next) {
            next = q->rnext;
            if (q->conc.state == QMGR_CONC_DEAD) {
                defer_waiting(q);
                continue;
            }
            int dead = transport_dead(q->tp);
            /* an unavailable transport takes no slot: its mail is deferred */
            if (!dead && inflight >= (size_t)qmgr_set.inflight_limit)
                return;
            if (!dead && q->busy >= qmgr_conc_allowed(&q->conc))
                continue;
            dispatch(q);
            progress = 1;
        }
    } while (progress);
}

void qmgr_deliver_init(void)
{
    feedback_debug = conf_bool("destination_concurrency_feedback_debug");
}

void qmgr_kick(void)
{
    event_timer(schedule, NULL, 0);
}
