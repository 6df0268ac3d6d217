/* dsn - compose a delivery status notification: an RFC 3464 report
 * inside an RFC 6522 multipart/report, laid out like Postfix's
 * (human-readable text, message/delivery-status, and the returned message
 * as message/rfc822 or its header as text/rfc822-headers) for the three
 * kinds: non-delivery, delay warning, success. Pure: everything comes
 * in through struct dsn_notice, the message text goes out in a buffer, so
 * it is unit-tested without a queue.
 *
 * All input is treated as hostile (it comes from bounce logs and the
 * original message): the generated parts hold printable US-ASCII only
 * (anything else becomes '?'), values are cut at fixed bounds, no line
 * ends in CR, and no line is longer than DSN_LINE_MAX (longer lines are
 * folded at white space, or cut and continued after a space). Lines end
 * in LF, as in the queue.
 *
 * The MIME boundary is "QUEUEID.NOW/HOSTNAME" (NOW in decimal seconds;
 * characters of the host name that are not letters, digits, '.' or '-'
 * become '-'; cut to fit RFC 2046's 70 characters). If that string occurs
 * anywhere in a part, ".N" is appended with the smallest N that does not
 * occur, so no part can contain its own boundary (RFC 2046 5.1.1).
 */
#ifndef MAIL_DSN_H
#define MAIL_DSN_H

#include <stddef.h>
#include <time.h>

#include "util/buf.h"

#define DSN_LINE_MAX   990  /* RFC 5322 2.1.1 allows 998 plus CRLF */
#define DSN_ADDR_MAX   1024 /* bytes of one address used in the notice */
#define DSN_REASON_MAX 1000 /* bytes of one reason used in the notice */
#define DSN_MTA_MAX    255  /* bytes of a Remote-MTA host name */
#define DSN_ENVID_MAX  100  /* RFC 3461 4.4: ENVID is at most 100 characters */

/* What a notice reports (RFC 3464 2.3.3 Action). */
enum dsn_kind {
    DSN_FAILURE, /* "Undelivered Mail Returned to Sender": failed */
    DSN_DELAY,   /* "Delayed Mail (still being retried)": delayed */
    DSN_SUCCESS, /* "Successful Mail Delivery Report": delivered, relayed, expanded */
};

/* dsn_notify_wants - whether a recipient whose DSN NOTIFY is notify
 * (SMTP_NOTIFY_* bits, 0 = not given) is listed in a notice of kind: RFC
 * 3461 4.1 and 5.2.1 (without NOTIFY, failures and delays are reported,
 * successes are not; NEVER means none). */
int dsn_notify_wants(enum dsn_kind kind, int notify);

struct dsn_rcpt {
    const char *address; /* final recipient */
    const char *orcpt;   /* original recipient: "addr", or "type;addr" as from DSN ORCPT
                          * (e.g. "utf-8;..."); "" or NULL when unknown */
    const char *status;  /* "5.1.1"; an invalid code (or one of the wrong class for the
                          * kind) is reported as 5.0.0, 4.0.0 or 2.0.0 */
    const char *reason;  /* human text; "" or NULL: a generic one */
    const char *action;  /* SUCCESS only: "delivered" (default), "relayed", "expanded" */
    const char *mta;     /* Remote-MTA host, "" or NULL: not known (no field) */
    const char *diag;    /* Diagnostic-Code "type; text" ("smtp; 550 5.1.1 ..."); "" or
                          * NULL: "X-Postern; reason" when there is a reason */
};

/* How much of the original goes back (RFC 3461 4.3 RET). */
enum dsn_return {
    DSN_RETURN_HEADERS, /* text/rfc822-headers */
    DSN_RETURN_FULL,    /* message/rfc822, when it fits size_limit (see dsn_compose) */
};

struct dsn_notice {
    enum dsn_kind kind;
    const char *myhostname;
    const char *queue_id;  /* the original message */
    const char *notice_id; /* the notice's own queue ID (Message-Id) */
    const char *sender;    /* the original envelope sender ("" = null sender) */
    const char *to;        /* who gets the notice (header To:) */
    int postmaster_copy;   /* a double bounce: the postmaster's copy */
    const char *envid;     /* DSN ENVID (decoded), "" or NULL when none */
    time_t arrival;        /* of the original; 0 = unknown (no Arrival-Date) */
    time_t now;            /* Date: and the boundary */
    time_t retry_until;    /* DELAY: Will-Retry-Until (arrival + maximal_queue_lifetime);
                            * 0 = not known */
    const struct dsn_rcpt *rcpts;
    size_t rcpt_count;
    size_t rcpt_omitted;   /* recipients not listed (a bound was reached) */
    enum dsn_return ret;   /* FULL is honoured for DSN_FAILURE only */
    const char *message;   /* original message (header and body), NULL = unavailable */
    size_t message_len;    /* bytes at message; may be a prefix of a longer message */
    int message_truncated; /* message holds only the first message_len bytes */
    size_t size_limit;     /* bounce_size_limit: bytes of the original returned */
};

/* dsn_compose - the whole notice (header and body) into out (reset
 * first). What of the original is returned:
 *   - message/rfc822 with the whole message, for DSN_RETURN_FULL of a
 *     failure, when all of it is at message (not message_truncated), is at
 *     most size_limit bytes, and every body line can go as it is (no NUL,
 *     no CR, none longer than DSN_LINE_MAX);
 *   - else text/rfc822-headers: the header up to its first empty line,
 *     the whole lines of it that fit into size_limit bytes (counted in the
 *     original, LF included). When FULL was asked for but not possible, the
 *     human-readable part says that only the header is returned and why.
 *     This keeps every returned part a valid MIME entity (a message cut in
 *     its body could end inside a MIME part of its own).
 * 0, or -1 + why when the notice cannot be formed (no valid Message-Id
 * from notice_id and myhostname). */
int dsn_compose(const struct dsn_notice *n, struct buf *out, struct buf *why);

/* dsn_status_valid - 1 if s is an RFC 3463 status code: class 2, 4 or 5,
 * then ".subject.detail", each 1 to 3 digits without leading zeros. */
int dsn_status_valid(const char *s);

#endif
