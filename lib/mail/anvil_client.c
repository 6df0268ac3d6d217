/* anvil_client - smtpd's side of anvil(8) (anvil_client.h): one connection,
 * kept open for the session, one request and one reply at a time.
 *
 * When the connection breaks (anvil restarted), a request is sent once more
 * on a new connection: the new anvil knows nothing of our earlier connects,
 * which is what a lost connection means to it anyway. Idents are checked
 * here with anvil's own rule, so a bad one costs no round trip; replies are
 * checked strictly, and counters outside 0..INT_MAX are refused.
 */
#include "mail/anvil_client.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/anvil_table.h"
#include "mail/attr.h"
#include "util/alloc.h"
#include "util/sock.h"
#include "util/stream.h"

#define ANVIL_REPLY_MAX 1024

struct anvil_client {
    char *path;
    int timeout;
    struct stream *s; /* NULL while not connected */
};

static const struct attr_spec reply_spec[] = {{"status", ATTR_INT, 1},
                                              {"count", ATTR_INT, 0},
                                              {"rate", ATTR_INT, 0},
                                              {"message", ATTR_INT, 0},
                                              {"recipient", ATTR_INT, 0},
                                              {"auth", ATTR_INT, 0},
                                              ATTR_SPEC_END};

static int anvil_client_reconnect(struct anvil_client *a, struct buf *why)
{
    if (a->s) {
        (void)stream_close(a->s);
        a->s = NULL;
    }
    int fd = unix_connect(a->path, a->timeout);
    if (fd < 0) {
        buf_setf(why, "connect to %s: %m", a->path);
        return -1;
    }
    a->s = stream_open(fd, a->timeout);
    return 0;
}

struct anvil_client *anvil_client_open(const char *path, int timeout, struct buf *why)
{
    struct anvil_client *a = xcalloc(1, sizeof(*a));
    a->path = xstrdup(path);
    a->timeout = timeout;
    if (anvil_client_reconnect(a, why) < 0) {
        anvil_client_close(a);
        return NULL;
    }
    return a;
}

void anvil_client_close(struct anvil_client *a)
{
    if (a == NULL)
        return;
    if (a->s)
        (void)stream_close(a->s);
    free(a->path);
    free(a);
}

/* exchange - one request and its reply on the open connection. 0, or -1 +
 * why; *io is set when the connection itself failed (worth a retry). */
static int exchange(struct anvil_client *a, const struct attr_list *req, struct attr_list *rep,
                    int *io, struct buf *why)
{
    *io = 1;
    if (attr_write(a->s, req) < 0) {
        buf_setf(why, "write to %s: %m", a->path);
        return -1;
    }
    struct buf err = BUF_INIT;
    if (attr_read(a->s, ANVIL_REPLY_MAX, rep, &err) < 0) {
        /* a malformed reply leaves the stream somewhere inside it: io too */
        buf_setf(why, "read from %s: %s", a->path, buf_cstr(&err));
        buf_free(&err);
        return -1;
    }
    buf_free(&err);
    *io = 0;
    return 0;
}

/* request - send { request, ident }, check the reply, fill the counters
 * named in want[] (NULL-terminated) into out[]. */
static int request(struct anvil_client *a, const char *name, const char *ident,
                   const char *const want[], int out[], struct buf *why)
{
    struct attr_list req, rep;
    int rc = -1, io = 0;

    if (a == NULL) {
        buf_setf(why, "anvil: no connection");
        return -1;
    }
    if (ident == NULL || !anvil_ident_ok(ident, strlen(ident))) {
        buf_setf(why, "anvil %s: bad ident (1 to %d printable characters)", name, ANVIL_IDENT_MAX);
        return -1;
    }
    attr_list_init(&req);
    attr_list_init(&rep);
    attr_add_str(&req, "request", name);
    attr_add_str(&req, "ident", ident);

    if (a->s == NULL && anvil_client_reconnect(a, why) < 0)
        goto out;
    if (exchange(a, &req, &rep, &io, why) < 0) {
        if (!io)
            goto out;
        /* anvil went away (restart): once more on a new connection */
        if (anvil_client_reconnect(a, why) < 0 || exchange(a, &req, &rep, &io, why) < 0) {
            if (a->s) {
                (void)stream_close(a->s);
                a->s = NULL;
            }
            goto out;
        }
    }
    int64_t status, v;
    struct buf err = BUF_INIT;
    if (attr_check(&rep, reply_spec, 0, &err) < 0 || attr_get_int(&rep, "status", &status) < 0) {
        buf_setf(why, "%s: bad reply: %s", a->path, buf_cstr(&err));
        buf_free(&err);
        goto drop;
    }
    buf_free(&err);
    if (status != 0) {
        buf_setf(why, "%s: %s request for %s refused (status %lld)", a->path, name, ident,
                 (long long)status);
        goto out;
    }
    for (size_t i = 0; want[i]; i++) {
        if (attr_get_int(&rep, want[i], &v) < 0) {
            buf_setf(why, "%s: bad reply: no %s", a->path, want[i]);
            goto drop;
        }
        if (v < 0 || v > INT_MAX) {
            buf_setf(why, "%s: bad reply: %s %lld out of range", a->path, want[i], (long long)v);
            goto drop;
        }
        out[i] = (int)v;
    }
    rc = 0;
    goto out;
drop:
    /* a peer that does not speak the protocol: start over next time */
    (void)stream_close(a->s);
    a->s = NULL;
out:
    attr_list_free(&req);
    attr_list_free(&rep);
    return rc;
}

int anvil_client_connect(struct anvil_client *a, const char *ident, int *count, int *rate,
                         struct buf *why)
{
    static const char *const want[] = {"count", "rate", NULL};
    int v[2];
    if (request(a, "connect", ident, want, v, why) < 0)
        return -1;
    if (count)
        *count = v[0];
    if (rate)
        *rate = v[1];
    return 0;
}

int anvil_client_disconnect(struct anvil_client *a, const char *ident, struct buf *why)
{
    static const char *const want[] = {NULL};
    return request(a, "disconnect", ident, want, NULL, why);
}

static int one_rate(struct anvil_client *a, const char *name, const char *ident, int *rate,
                    struct buf *why)
{
    static const char *const want[] = {"rate", NULL};
    int v[1];
    if (request(a, name, ident, want, v, why) < 0)
        return -1;
    if (rate)
        *rate = v[0];
    return 0;
}

int anvil_client_message(struct anvil_client *a, const char *ident, int *rate, struct buf *why)
{
    return one_rate(a, "message", ident, rate, why);
}

int anvil_client_recipient(struct anvil_client *a, const char *ident, int *rate, struct buf *why)
{
    return one_rate(a, "recipient", ident, rate, why);
}

int anvil_client_auth(struct anvil_client *a, const char *ident, int *rate, struct buf *why)
{
    return one_rate(a, "auth", ident, rate, why);
}

int anvil_client_lookup(struct anvil_client *a, const char *ident, struct anvil_lookup *out,
                        struct buf *why)
{
    static const char *const want[] = {"count", "rate", "message", "recipient", "auth", NULL};
    int v[5];
    if (request(a, "lookup", ident, want, v, why) < 0)
        return -1;
    if (out) {
        out->count = v[0];
        out->rate = v[1];
        out->message = v[2];
        out->recipient = v[3];
        out->auth = v[4];
    }
    return 0;
}
