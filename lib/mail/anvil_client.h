/* anvil_client - talk to anvil(8) (private/anvil), the per-client counter
 * service behind smtpd's connection, rate and auth limits.
 *
 * The ident names a client of one service: "smtp:192.0.2.1". Counts are of
 * simultaneous connections; rates are events in the current
 * anvil_rate_time_unit window (a fixed window that starts with the first
 * event and is reset after a full unit without renewal, as Postfix's).
 *
 * Protocol (attr.h messages; one connection per smtpd process, kept open
 * for the whole session, so anvil sees a dropped connection as the end of
 * its connections):
 *   client -> { request:S, ident:S }
 *     request "connect"    -> { status:I, count:I, rate:I }  count after it
 *     request "disconnect" -> { status:I }
 *     request "message"    -> { status:I, rate:I }            MAIL FROM
 *     request "recipient"  -> { status:I, rate:I }            RCPT TO
 *     request "auth"       -> { status:I, rate:I }            AUTH command
 *     request "lookup"     -> { status:I, count:I, rate:I, message:I,
 *                               recipient:I, auth:I }
 *   status 0 ok, 1 bad request. A connection that closes counts as a
 *   disconnect for every "connect" it made that has not been undone.
 * anvil logs, every anvil_status_update_time, the peak values, in
 * Postfix's format: "statistics: max connection count 3 for (smtp:1.2.3.4)
 * at Nov 21 10:00:00".
 */
#ifndef MAIL_ANVIL_CLIENT_H
#define MAIL_ANVIL_CLIENT_H

#include "util/buf.h"

struct anvil_client;

struct anvil_lookup {
    int count, rate, message, recipient, auth;
};

/* anvil_client_open - connect to path (MAIL_SOCK_ANVIL). NULL + why. */
struct anvil_client *anvil_client_open(const char *path, int timeout, struct buf *why);
void anvil_client_close(struct anvil_client *a);

/* Each returns 0 and fills the counters, or -1 + why (anvil unreachable:
 * the caller then does not enforce limits, and logs a warning, as Postfix). */
int anvil_client_connect(struct anvil_client *a, const char *ident, int *count, int *rate,
                         struct buf *why);
int anvil_client_disconnect(struct anvil_client *a, const char *ident, struct buf *why);
int anvil_client_message(struct anvil_client *a, const char *ident, int *rate, struct buf *why);
int anvil_client_recipient(struct anvil_client *a, const char *ident, int *rate, struct buf *why);
int anvil_client_auth(struct anvil_client *a, const char *ident, int *rate, struct buf *why);
int anvil_client_lookup(struct anvil_client *a, const char *ident, struct anvil_lookup *out,
                        struct buf *why);

#endif
