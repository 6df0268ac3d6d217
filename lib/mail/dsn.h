/* dsn - compose a non-delivery notice: an RFC 3464 delivery status
 * notification inside an RFC 6522 multipart/report, laid out like
 * Postfix's (human-readable text, message/delivery-status, and the
 * returned message header as text/rfc822-headers). Pure: everything comes
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

struct dsn_rcpt {
    const char *address; /* final recipient */
    const char *orcpt;   /* original recipient, "" or NULL when unknown */
    const char *status;  /* "5.1.1"; an invalid code is reported as 5.0.0 */
    const char *reason;  /* "" or NULL: no Diagnostic-Code */
};

struct dsn_notice {
    const char *myhostname;
    const char *queue_id;  /* the original message */
    const char *notice_id; /* the notice's own queue ID (Message-Id) */
    const char *sender;    /* the original envelope sender ("" = null sender) */
    const char *to;        /* who gets the notice (header To:) */
    int postmaster_copy;   /* a double bounce: the postmaster's copy */
    time_t arrival;        /* of the original; 0 = unknown (no Arrival-Date) */
    time_t now;            /* Date: and the boundary */
    const struct dsn_rcpt *rcpts;
    size_t rcpt_count;
    size_t rcpt_omitted; /* recipients not listed (a bound was reached) */
    const char *header;  /* original message header, NULL = unavailable */
    size_t header_len;   /* bytes at header (may run into the body) */
    size_t header_limit; /* bounce_size_limit: bytes of header returned */
};

/* dsn_compose - the whole notice (header and body) into out (reset
 * first). The returned header stops at its first empty line and holds the
 * whole lines of the original that fit into header_limit bytes (counted
 * in the original, LF included). 0, or -1 + why when the notice cannot be
 * formed (no valid Message-Id from notice_id and myhostname). */
int dsn_compose(const struct dsn_notice *n, struct buf *out, struct buf *why);

/* dsn_status_valid - 1 if s is an RFC 3463 status code: class 2, 4 or 5,
 * then ".subject.detail", each 1 to 3 digits without leading zeros. */
int dsn_status_valid(const char *s);

#endif
