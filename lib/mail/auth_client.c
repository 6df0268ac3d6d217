/* auth_client - one SASL authentication through the auth service
 * (auth_client.h; the protocol is described there). The client relays
 * base64 text only; every reply is checked strictly, and anything the
 * protocol does not allow is AUTH_ERROR, never a success.
 */
#include "mail/auth_client.h"

#include <stdlib.h>
#include <string.h>

#include "mail/attr.h"
#include "util/alloc.h"
#include "util/sock.h"
#include "util/stream.h"

/* names, addresses and the mechanism list are short; the challenge is one
 * AUTH_LINE_MAX line */
#define TEXT_MAX  1024
#define REPLY_MAX (AUTH_LINE_MAX + 4 * TEXT_MAX)

enum { ST_NEW, ST_STARTED, ST_DONE };

struct auth_client {
    struct stream *s;
    char *mechanisms;
    int state;
};

void auth_reply_init(struct auth_reply *r)
{
    buf_init(&r->challenge);
    buf_init(&r->user);
    buf_init(&r->reason);
}

void auth_reply_free(struct auth_reply *r)
{
    buf_free(&r->challenge);
    buf_free(&r->user);
    buf_free(&r->reason);
}

/* add_text - s without control characters (as spaces), cut at max bytes */
static void add_text(struct attr_list *l, const char *name, const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max) : 0;
    char *copy = xmemdup(s ? s : "", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)copy[i] < 0x20 || copy[i] == 0x7f)
            copy[i] = ' ';
    attr_add_str(l, name, copy);
    free(copy);
}

static const struct attr_spec hello_spec[] = {{"mechanisms", ATTR_STR, 1}, ATTR_SPEC_END};

struct auth_client *auth_client_open(const char *path, int timeout, struct buf *why)
{
    int fd = unix_connect(path, timeout);
    if (fd < 0) {
        buf_setf(why, "connect to %s: %m", path);
        return NULL;
    }
    struct auth_client *a = xcalloc(1, sizeof(*a));
    a->s = stream_open(fd, timeout);
    struct attr_list l;
    attr_list_init(&l);
    struct buf reason = BUF_INIT;
    if (attr_read(a->s, REPLY_MAX, &l, &reason) < 0 || attr_check(&l, hello_spec, 0, &reason) < 0) {
        buf_setf(why, "%s: bad greeting: %s", path, buf_cstr(&reason));
        goto fail;
    }
    const char *mechs = attr_get_str(&l, "mechanisms");
    if (strlen(mechs) > TEXT_MAX) {
        buf_setf(why, "%s: bad greeting: mechanism list too long", path);
        goto fail;
    }
    for (const char *p = mechs; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
              *p == ' ')) {
            buf_setf(why, "%s: bad greeting: bad mechanism list", path);
            goto fail;
        }
    }
    a->mechanisms = xstrdup(mechs);
    attr_list_free(&l);
    buf_free(&reason);
    return a;
fail:
    attr_list_free(&l);
    buf_free(&reason);
    auth_client_close(a);
    return NULL;
}

const char *auth_client_mechanisms(const struct auth_client *a)
{
    return a->mechanisms;
}

static const struct attr_spec reply_spec[] = {{"status", ATTR_INT, 1},
                                              {"challenge", ATTR_STR, 0},
                                              {"user", ATTR_STR, 0},
                                              {"reason", ATTR_STR, 0},
                                              ATTR_SPEC_END};

/* exchange - send l, read and check the verdict */
static int exchange(struct auth_client *a, const struct attr_list *req, struct auth_reply *reply,
                    struct buf *why)
{
    struct attr_list l;
    struct buf reason = BUF_INIT;
    int64_t status;
    int rc = AUTH_ERROR;

    buf_reset(&reply->challenge);
    buf_reset(&reply->user);
    buf_reset(&reply->reason);
    attr_list_init(&l);
    if (attr_write(a->s, req) < 0) {
        buf_setf(why, "write to auth service: %m");
        goto out;
    }
    if (attr_read(a->s, REPLY_MAX, &l, &reason) < 0 || attr_check(&l, reply_spec, 0, &reason) < 0 ||
        attr_get_int(&l, "status", &status) < 0) {
        buf_setf(why, "auth service: %s", buf_cstr(&reason));
        goto out;
    }
    const char *challenge = attr_get_str(&l, "challenge");
    const char *user = attr_get_str(&l, "user");
    const char *text = attr_get_str(&l, "reason");
    if (text && strlen(text) <= TEXT_MAX)
        buf_set(&reply->reason, text);
    switch (status) {
    case AUTH_OK:
        if (user == NULL || *user == 0 || strlen(user) > TEXT_MAX) {
            buf_setf(why, "auth service: success without a valid user name");
            goto out;
        }
        buf_set(&reply->user, user);
        rc = AUTH_OK;
        break;
    case AUTH_FAIL:
        if (reply->reason.len == 0)
            buf_set(&reply->reason, "authentication failure");
        rc = AUTH_FAIL;
        break;
    case AUTH_CONTINUE:
        if (challenge == NULL || strlen(challenge) > AUTH_LINE_MAX) {
            buf_setf(why, "auth service: continue without a valid challenge");
            goto out;
        }
        buf_set(&reply->challenge, challenge);
        rc = AUTH_CONTINUE;
        break;
    case AUTH_ERROR:
        buf_setf(why, "auth service: %s",
                 reply->reason.len ? buf_cstr(&reply->reason) : "temporary failure");
        goto out;
    default:
        buf_setf(why, "auth service: unknown status %lld", (long long)status);
        goto out;
    }
out:
    a->state = rc == AUTH_CONTINUE ? ST_STARTED : ST_DONE;
    attr_list_free(&l);
    buf_free(&reason);
    return rc;
}

int auth_client_start(struct auth_client *a, const struct auth_request *req,
                      struct auth_reply *reply, struct buf *why)
{
    if (a->state != ST_NEW) {
        buf_setf(why, "auth_client_start: authentication already started");
        return AUTH_ERROR;
    }
    struct attr_list l;
    attr_list_init(&l);
    attr_add_str(&l, "request", "start");
    add_text(&l, "service", req->service, 32);
    add_text(&l, "mechanism", req->mechanism, 64);
    add_text(&l, "client_addr", req->client_addr, 64);
    add_text(&l, "client_name", req->client_name, 255);
    attr_add_int(&l, "secured", req->secured != 0);
    /* base64 or "=" or "": the service checks it strictly; a longer
     * response is sent whole so that the service can refuse it */
    add_text(&l, "response", req->response, AUTH_LINE_MAX + 1);
    int rc = exchange(a, &l, reply, why);
    attr_list_free(&l);
    return rc;
}

int auth_client_continue(struct auth_client *a, const char *response, struct auth_reply *reply,
                         struct buf *why)
{
    if (a->state != ST_STARTED) {
        buf_setf(why, "auth_client_continue: no authentication in progress");
        return AUTH_ERROR;
    }
    struct attr_list l;
    attr_list_init(&l);
    attr_add_str(&l, "request", "continue");
    add_text(&l, "response", response, AUTH_LINE_MAX + 1);
    int rc = exchange(a, &l, reply, why);
    attr_list_free(&l);
    return rc;
}

void auth_client_close(struct auth_client *a)
{
    if (a == NULL)
        return;
    (void)stream_close(a->s);
    free(a->mechanisms);
    free(a);
}
