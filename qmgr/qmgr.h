/* qmgr.h - the queue manager's shared state, split over qmgr.c (daemon,
 * triggers, timers), qmgr_scan.c (queue directories), qmgr_message.c
 * (activating and finishing messages, per-recipient outcomes) and
 * qmgr_deliver.c (scheduling and the asynchronous agent conversations).
 *
 * Ownership: every open recipient of an active message is, at any time,
 * in exactly one place: waiting in a destination queue, inside a delivery
 * request in flight, or finished for this pass. A message is finished (and
 * freed) only when all its recipients are; only then is its queue file
 * looked at again. Nothing about delivery state lives only in memory: the
 * queue file (done marks) and the queue directories are the truth.
 */
#ifndef QMGR_QMGR_H
#define QMGR_QMGR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "mail/queue_id.h"
#include "mail/resolve.h"
#include "util/buf.h"

#define QMGR_DSN_UNAVAILABLE "4.3.0"

/* Settings read once at start (qmgr.c). */
struct qmgr_settings {
    long active_limit;    /* qmgr_message_active_limit */
    long rcpt_limit;      /* qmgr_message_recipient_limit (in memory, total) */
    long inflight_limit;  /* requests in flight, all transports */
    int connect_timeout;  /* qmgr_ipc_timeout: connect and write */
    int agent_timeout;    /* ipc_timeout: a whole delivery */
    long min_backoff;     /* minimal_backoff_time */
    long max_backoff;     /* maximal_backoff_time */
    long max_lifetime;    /* maximal_queue_lifetime */
    long bounce_lifetime; /* bounce_queue_lifetime (null sender) */
    long transport_retry; /* transport_retry_time */
    long queue_run_delay; /* queue_run_delay */
    long delay_warning;   /* delay_warning_time; 0 = no delay warnings */
    struct resolver *resolver;
};
extern struct qmgr_settings qmgr_set;

struct qmgr_rcpt {
    char *address;
    char *orcpt;  /* "" when none */
    off_t offset; /* of its QF_RCPT record */
    int notify;   /* DSN NOTIFY (SMTP_NOTIFY_* bits, 0 = not given) from QF_NOTIFY */
    int finished; /* this pass is over for this recipient */
};

struct qmgr_message {
    char id[QUEUE_ID_LEN + 1];
    char *sender;
    time_t arrival;
    int64_t size;
    char *envid; /* QF_ATTR dsn_envid, NULL when none */
    int dsn_ret; /* QF_ATTR dsn_ret: DELIVER_RET_* */
    struct qmgr_rcpt *rcpt;
    size_t nrcpt;
    size_t unfinished;   /* recipients not finished in this pass */
    int expired_bounced; /* qmgr returned at least one recipient as expired */
    int retry_pending;   /* finishing failed; a timer tries again */
    struct qmgr_message *prev, *next;
};

/* qmgr_message.c */
extern size_t qmgr_message_count;  /* messages in memory (in active/) */
extern size_t qmgr_rcpt_in_memory; /* their recipients */
/* qmgr_message_activate - take queue file id from path (in queue
 * "incoming" or "deferred"): read it, move it to active/, and hand its
 * open recipients to the scheduler. 0, or -1 when the scan should stop
 * (no more room). */
int qmgr_message_activate(const char *queue, const char *path, const char *id);
/* qmgr_rcpt_finish - a recipient's pass is over; finishes the message
 * (re-read, bounce notice, remove or defer) when it was the last one. */
void qmgr_rcpt_finish(struct qmgr_message *m, struct qmgr_rcpt *rc);
/* qmgr_rcpt_defer - qmgr's own temporary failure for one recipient
 * (transport unavailable, resolver failure, agent died): recorded in the
 * defer log and logged as status=deferred, or returned to the sender when
 * the message has expired. Then finished. */
void qmgr_rcpt_defer(struct qmgr_message *m, struct qmgr_rcpt *rc, const char *dsn,
                     const char *reason);
/* qmgr_rcpt_agent_deferred - the agent deferred rc (it logged and recorded
 * that): return it as expired when the message is too old. Then finished. */
void qmgr_rcpt_agent_deferred(struct qmgr_message *m, struct qmgr_rcpt *rc, const char *dsn,
                              const char *reason);
/* qmgr_done_offsets - the offsets of QF_DONE records in m's queue file,
 * sorted, into *out (malloc'ed) and *n. 0 or -1 (unreadable). */
int qmgr_done_offsets(const struct qmgr_message *m, off_t **out, size_t *n);
/* qmgr_active_path - "active/ID" (as queue_path says) into out. */
int qmgr_active_path(const char *id, struct buf *out);

/* qmgr_scan.c */
/* qmgr_scan_incoming / qmgr_scan_deferred - activate what is there (for
 * deferred: files whose retry time has come, or all with ignore_time). */
void qmgr_scan_incoming(void);
void qmgr_scan_deferred(int ignore_time);
/* qmgr_scan_site - postqueue -s: activate now every deferred message with
 * an open recipient in domain site (no case), reviving its destination. */
void qmgr_scan_site(const char *site);
/* qmgr_scan_room - a message left memory: rerun scans that stopped at
 * the active limit. */
void qmgr_scan_room(void);
/* qmgr_recover_active - crash recovery: everything in active/ goes back to
 * incoming/ (only at start, before anything is activated). */
void qmgr_recover_active(void);
/* qmgr_move - queue_move, and also success when the rename happened but
 * a later step (directory fsync) failed. 0 or -1 + why (errno kept). */
int qmgr_move(const char *from, const char *to_queue, const char *id, struct buf *why);

/* qmgr_deliver.c */
/* qmgr_enqueue - schedule recipient rc of m for transport:nexthop. */
void qmgr_enqueue(struct qmgr_message *m, struct qmgr_rcpt *rc, const char *transport,
                  const char *nexthop);
/* qmgr_kick - run the scheduler at the next event loop pass. */
void qmgr_kick(void);
/* qmgr_revive_transports - forget "transport unavailable" and revive
 * every dead destination (postqueue -f). */
void qmgr_revive_transports(void);
/* qmgr_revive_dest - revive the dead destinations of transport (NULL:
 * any) whose next hop is nexthop (compared without case). */
void qmgr_revive_dest(const char *transport, const char *nexthop);
/* qmgr_deliver_init - read the scheduler's own settings (post_init). */
void qmgr_deliver_init(void);
/* qmgr_inflight - delivery requests in flight. */
size_t qmgr_inflight(void);

#endif
