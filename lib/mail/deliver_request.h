/* deliver_request - the request qmgr sends a delivery agent and the
 * agent's reply (mail_proto.h "delivery agents"), encoded and checked in
 * one place. Both sides treat the other as hostile: every text is checked
 * for NUL/CR/LF, the queue ID and queue directory are validated, the
 * recipient count is bounded, attributes are checked strictly.
 */
#ifndef MAIL_DELIVER_REQUEST_H
#define MAIL_DELIVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "mail/queue_id.h"
#include "util/buf.h"
#include "util/stream.h"

/* recipients per request (qmgr splits more); 10 + 4 per recipient
 * attributes must stay within ATTR_COUNT_MAX */
#define DELIVER_RCPT_MAX   250
#define DELIVER_FIXED_ATTR 10 /* request attributes besides the recipients */
#define DELIVER_RCPT_ATTR  4  /* request attributes per recipient */

/* DSN RET of the message (RFC 3461 4.3), as smtp_cmd.h's enum smtp_ret:
 * 0 not given, 1 FULL, 2 HDRS. Per-recipient NOTIFY is the SMTP_NOTIFY_*
 * bit set of smtp_cmd.h (0 = not given: failures and delays are reported,
 * success is not). */
#define DELIVER_RET_NONE 0
#define DELIVER_RET_FULL 1
#define DELIVER_RET_HDRS 2

struct deliver_rcpt {
    char *address;  /* recipient as qmgr resolved it */
    char *orcpt;    /* original recipient, "" when none */
    int64_t offset; /* file offset of its QF_RCPT record (qf_mark_done) */
    int notify;     /* DSN NOTIFY: SMTP_NOTIFY_* bits, 0 = not given */
};

struct deliver_request {
    char queue_id[QUEUE_ID_LEN + 1];
    char *queue_dir; /* queue the file is in, relative to queue_directory */
    int64_t size;    /* content size, informational */
    char *sender;    /* "" is the null sender */
    char *nexthop;   /* transport next hop (local: $myhostname) */
    int64_t arrival; /* seconds since the epoch */
    int64_t flags;
    char *envid; /* DSN ENVID (decoded, printable), "" when none */
    int ret;     /* DELIVER_RET_* */
    struct deliver_rcpt *rcpt;
    size_t rcpt_count;
};

/* What a success means for a NOTIFY=SUCCESS recipient (RFC 3464 2.3.3):
 * delivered into a mailbox, relayed to an MTA that does not speak DSN (we
 * report), or handed to one that does, with NOTIFY passed on (it reports;
 * we send nothing). */
#define DELIVER_ACT_DELIVERED 0
#define DELIVER_ACT_RELAYED   1
#define DELIVER_ACT_PASSED_ON 2

struct deliver_result {
    int status;   /* DELIVER_OK, DELIVER_DEFER, DELIVER_BOUNCE */
    char dsn[16]; /* RFC 3463 code "x.y.z" */
    char *reason; /* malloc'ed; human text, no CR/LF */
    /* Agent-side only (for deliver_settle and the status logs; never sent
     * to qmgr). NULL when not known. */
    char *mta;  /* Remote-MTA: the host that answered, "mx1.example.com" */
    char *diag; /* Diagnostic-Code with its type: "smtp; 550 5.1.1 ..." */
    int action; /* DELIVER_ACT_*, for OK results */
};

/* deliver_request_init / _free - an empty request; free its contents. */
void deliver_request_init(struct deliver_request *r);
void deliver_request_free(struct deliver_request *r);
/* deliver_request_add_rcpt - append a recipient (strings are copied). */
void deliver_request_add_rcpt(struct deliver_request *r, const char *address, const char *orcpt,
                              int64_t offset);

/* deliver_request_write (qmgr) / deliver_request_read (agent): 0 or -1 +
 * why. read fills r (init'ed by the caller) and rejects anything out of
 * bounds: bad queue ID, queue_dir other than active, text with NUL/CR/LF,
 * zero or more than DELIVER_RCPT_MAX recipients, negative numbers. */
int deliver_request_write(struct stream *s, const struct deliver_request *r);
int deliver_request_read(struct stream *s, struct deliver_request *r, struct buf *why);

/* deliver_result_set - fill one result (reason printf-style; CR/LF and
 * other control characters in the text become spaces). mta, diag and
 * action are left as they are. */
void deliver_result_set(struct deliver_result *res, int status, const char *dsn, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
/* deliver_result_remote - set mta and diag (copied; control characters
 * become spaces, each cut at 4096 bytes; NULL leaves one as it is). */
void deliver_result_remote(struct deliver_result *res, const char *mta, const char *diag);
/* deliver_result_free - free the strings of res[0..n-1] (the array stays). */
void deliver_result_free(struct deliver_result *res, size_t n);

/* deliver_reply_write (agent): one result per recipient of r. site_fail 1
 * says the destination as a whole failed (no server reachable, every
 * server greeted with 4xx or timed out: Postfix's "hop status"), so qmgr
 * throttles it; 0 otherwise. Sent as the optional attribute site_fail.
 * deliver_reply_read (qmgr): n results into res[n] (zeroed by the caller)
 * and *site_fail (0 when the attribute is absent; NULL: not wanted); a
 * status other than DELIVER_OK/DEFER/BOUNCE, a DSN that is not x.y.z
 * with x 2, 4 or 5 matching the status, or a missing result is an error.
 * 0 or -1 + why. */
int deliver_reply_write(struct stream *s, const struct deliver_request *r,
                        const struct deliver_result *res, int site_fail);
int deliver_reply_read(struct stream *s, size_t n, struct deliver_result *res, int *site_fail,
                       struct buf *why);

/* deliver_log - the Postfix log line for one recipient's outcome:
 * "ID: to=<rcpt>, orig_to=<orcpt>, relay=RELAY, delay=D, dsn=X.Y.Z,
 * status=sent|deferred|bounced (reason)"; orig_to only when it differs. */
void deliver_log(const struct deliver_request *r, const struct deliver_rcpt *rc, const char *relay,
                 const struct deliver_result *res);

#endif
