/* auth_client - ask the auth service (private/auth) to run one SASL
 * authentication. smtpd uses it now, pop3d and imapd later. The client
 * relays the SASL exchange; it never sees or checks password data, and the
 * mechanisms (PLAIN, LOGIN) are decoded only inside auth.
 *
 *     struct auth_client *a = auth_client_open(MAIL_SOCK_AUTH, timeout, why);
 *     auth_client_mechanisms(a)              "PLAIN LOGIN"
 *     r = auth_client_start(a, &req, &reply, why);    // initial response or none
 *     while (r == AUTH_CONTINUE) {
 *         send "334 " reply.challenge to the client, read its answer line;
 *         r = auth_client_continue(a, answer, &reply, why);   // "*" cancels
 *     }
 *     AUTH_OK: reply.user is the authenticated name.
 *     AUTH_FAIL: reply.reason is for the log ("authentication failure");
 *                the reply already waited auth_failure_delay.
 *     AUTH_ERROR (-1): the service failed (temporary: 454 4.7.0).
 *     auth_client_close(a);
 *
 * Protocol (attr.h messages on one connection per authentication):
 *   server -> { mechanisms:S "PLAIN LOGIN" }              on connect
 *   client -> { request:S "start", service:S "smtp", mechanism:S,
 *               client_addr:S, client_name:S, secured:I (1 after TLS),
 *               response:S (base64 initial response; "" none; "=" empty) }
 *   server -> { status:I (AUTH_OK 0, AUTH_FAIL 1, AUTH_CONTINUE 2),
 *               challenge:S (base64, for CONTINUE), user:S (for OK),
 *               reason:S }
 *   client -> { request:S "continue", response:S (base64, or "*") }
 *   server -> { status ... } as above, until OK or FAIL.
 *   status AUTH_ERROR (-1) with a reason: the service cannot decide now
 *   (a password backend is unreadable); the client returns AUTH_ERROR.
 * A failure reply is sent only after auth_failure_delay (longer for a
 * client with recent failures), so password guessing is slow even through
 * many connections.
 */
#ifndef MAIL_AUTH_CLIENT_H
#define MAIL_AUTH_CLIENT_H

#include "util/buf.h"

#define AUTH_OK       0
#define AUTH_FAIL     1
#define AUTH_CONTINUE 2
#define AUTH_ERROR    (-1)

/* Longest base64 line either side sends (a PLAIN response holds three
 * names and a password of at most 1024 bytes each). */
#define AUTH_LINE_MAX 12288

struct auth_request {
    const char *service;     /* "smtp", "pop3", "imap" */
    const char *mechanism;   /* as the client named it; auth checks it */
    const char *client_addr; /* printable IP */
    const char *client_name; /* verified host name or "unknown" */
    int secured;             /* TLS is active */
    const char *response;    /* initial response: base64, "" none, "=" empty */
};

struct auth_reply {
    struct buf challenge; /* base64 */
    struct buf user;
    struct buf reason;
};

struct auth_client;

void auth_reply_init(struct auth_reply *r);
void auth_reply_free(struct auth_reply *r);

/* auth_client_open - connect, read the mechanism list. NULL + why. */
struct auth_client *auth_client_open(const char *path, int timeout, struct buf *why);
/* auth_client_mechanisms - the service's list, e.g. "PLAIN LOGIN". */
const char *auth_client_mechanisms(const struct auth_client *a);
int auth_client_start(struct auth_client *a, const struct auth_request *req,
                      struct auth_reply *reply, struct buf *why);
int auth_client_continue(struct auth_client *a, const char *response, struct auth_reply *reply,
                         struct buf *why);
void auth_client_close(struct auth_client *a);

#endif
