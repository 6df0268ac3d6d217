/* scache_client - the protocol of scache(8), the shared cache of idle SMTP
 * and LMTP sessions (Postfix's scache), and the client side of it.
 *
 * A request or reply is one marker byte (util/sock.h unix_send_fd, with
 * the session's descriptor attached when there is one) followed by one
 * attribute message (mail/attr.h):
 *
 *   put  request=put + the record (below), descriptor attached;
 *        reply: marker, status (0 cached, 1 not)
 *   get  request=get, label (a destination or an endpoint label);
 *        reply: marker with the descriptor and status 0 + the record,
 *        or a bare marker and status 1 (nothing cached)
 *
 * A session handed out is removed from the cache: two clients never share
 * one. The record carries what a client needs to go on with the session
 * without its greeting and EHLO: the server's EHLO features, its names for
 * logging, when the connection was made and how often it was used.
 */
#ifndef MAIL_SCACHE_CLIENT_H
#define MAIL_SCACHE_CLIENT_H

#include <stdint.h>

#include "mail/attr.h"
#include "mail/smtp_reply.h"
#include "util/buf.h"

#define SCACHE_LABEL_MAX 1100
#define SCACHE_NAME_MAX  400

struct scache_rec {
    char dest[SCACHE_LABEL_MAX]; /* service, next hop, TLS level */
    char endp[SCACHE_LABEL_MAX]; /* service, server address and port, TLS level */
    char host[SCACHE_NAME_MAX];  /* server host name */
    char addr[SCACHE_NAME_MAX];  /* its address (or socket path) */
    char relay[SCACHE_NAME_MAX]; /* "host[addr]:port" for relay= */
    char name[SCACHE_NAME_MAX];  /* "host[addr]" for reply texts */
    int esmtp;                   /* EHLO (LHLO) was accepted */
    struct smtp_ehlo ehlo;       /* the server's extensions */
    int64_t born;                /* when the connection was made (time(2)) */
    int64_t uses;                /* transactions done on it */
    int64_t ttl;                 /* seconds scache keeps it idle */
};

/* scache_rec_encode - append the record's attributes to l. Pure. */
void scache_rec_encode(const struct scache_rec *r, struct attr_list *l);
/* scache_rec_decode - the record from l (extra attributes are an error,
 * except "request" and "status"); bounded copies, text with CR, LF or
 * other control bytes refused. 0, or -1 + why. Pure. */
int scache_rec_decode(const struct attr_list *l, struct scache_rec *r, struct buf *why);

/* scache_put - hand fd (an idle session) to the scache at path; the caller
 * closes its copy either way. 0 when cached, -1 + why. */
int scache_put(const char *path, int fd, const struct scache_rec *r, int timeout, struct buf *why);
/* scache_get - the session cached under label: its descriptor and *r, or
 * -1 (nothing cached: why empty; or a failure: why says). */
int scache_get(const char *path, const char *label, struct scache_rec *r, int timeout,
               struct buf *why);

#endif
