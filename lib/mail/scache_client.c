/* scache_client - the scache(8) record and the client's put and get
 * requests (scache_client.h). One short connection per request: the
 * delivery agent is a single server that asks at most a few times per
 * delivery, and a new connection never carries stale state.
 */
#include "mail/scache_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/sock.h"
#include "util/stream.h"

static const struct attr_spec rec_spec[] = {{"request", ATTR_STR, 0},
                                            {"status", ATTR_INT, 0},
                                            {"dest", ATTR_STR, 1},
                                            {"endp", ATTR_STR, 1},
                                            {"host", ATTR_STR, 1},
                                            {"addr", ATTR_STR, 1},
                                            {"relay", ATTR_STR, 1},
                                            {"name", ATTR_STR, 1},
                                            {"esmtp", ATTR_INT, 1},
                                            {"features", ATTR_INT, 1},
                                            {"size_limit", ATTR_INT, 1},
                                            {"auth", ATTR_STR, 1},
                                            {"server_name", ATTR_STR, 1},
                                            {"born", ATTR_INT, 1},
                                            {"uses", ATTR_INT, 1},
                                            {"ttl", ATTR_INT, 1},
                                            ATTR_SPEC_END};

static const struct attr_spec reply_spec[] = {{"status", ATTR_INT, 1}, ATTR_SPEC_END};

void scache_rec_encode(const struct scache_rec *r, struct attr_list *l)
{
    attr_add_str(l, "dest", r->dest);
    attr_add_str(l, "endp", r->endp);
    attr_add_str(l, "host", r->host);
    attr_add_str(l, "addr", r->addr);
    attr_add_str(l, "relay", r->relay);
    attr_add_str(l, "name", r->name);
    attr_add_int(l, "esmtp", r->esmtp);
    attr_add_int(l, "features", r->ehlo.features);
    attr_add_int(l, "size_limit", (int64_t)r->ehlo.size_limit);
    attr_add_str(l, "auth", r->ehlo.auth);
    attr_add_str(l, "server_name", r->ehlo.server_name);
    attr_add_int(l, "born", r->born);
    attr_add_int(l, "uses", r->uses);
    attr_add_int(l, "ttl", r->ttl);
}

/* copy_text - name's value into out[size]: it must fit and hold no
 * control bytes (it ends up in log lines). */
static int copy_text(const struct attr_list *l, const char *name, char *out, size_t size,
                     struct buf *why)
{
    const struct attr *a = attr_get(l, name);
    if (a == NULL || a->len >= size) {
        buf_setf(why, "scache record: %s missing or too long", name);
        return -1;
    }
    for (size_t i = 0; i < a->len; i++) {
        if ((unsigned char)a->val[i] < 0x20 || a->val[i] == 0x7f) {
            buf_setf(why, "scache record: control character in %s", name);
            return -1;
        }
    }
    memcpy(out, a->val, a->len);
    out[a->len] = 0;
    return 0;
}

int scache_rec_decode(const struct attr_list *l, struct scache_rec *r, struct buf *why)
{
    int64_t esmtp, features, size, born, uses, ttl;

    memset(r, 0, sizeof(*r));
    if (attr_check(l, rec_spec, 0, why) < 0)
        return -1;
    if (copy_text(l, "dest", r->dest, sizeof(r->dest), why) < 0 ||
        copy_text(l, "endp", r->endp, sizeof(r->endp), why) < 0 ||
        copy_text(l, "host", r->host, sizeof(r->host), why) < 0 ||
        copy_text(l, "addr", r->addr, sizeof(r->addr), why) < 0 ||
        copy_text(l, "relay", r->relay, sizeof(r->relay), why) < 0 ||
        copy_text(l, "name", r->name, sizeof(r->name), why) < 0 ||
        copy_text(l, "auth", r->ehlo.auth, sizeof(r->ehlo.auth), why) < 0 ||
        copy_text(l, "server_name", r->ehlo.server_name, sizeof(r->ehlo.server_name), why) < 0)
        return -1;
    (void)attr_get_int(l, "esmtp", &esmtp);
    (void)attr_get_int(l, "features", &features);
    (void)attr_get_int(l, "size_limit", &size);
    (void)attr_get_int(l, "born", &born);
    (void)attr_get_int(l, "uses", &uses);
    (void)attr_get_int(l, "ttl", &ttl);
    if (features < 0 || features > 0x7fffffff || size < 0 || born < 0 || uses < 0 || ttl < 0 ||
        ttl > 86400) {
        buf_setf(why, "scache record: number out of range");
        return -1;
    }
    r->esmtp = esmtp != 0;
    r->ehlo.features = (int)features;
    r->ehlo.size_limit = (unsigned long long)size;
    r->born = born;
    r->uses = uses;
    r->ttl = ttl;
    return 0;
}

static struct stream *scache_connect(const char *path, int timeout, struct buf *why)
{
    int fd = unix_connect(path, timeout);
    if (fd < 0) {
        buf_setf(why, "connect to %s: %m", path);
        return NULL;
    }
    return stream_open(fd, timeout);
}

int scache_put(const char *path, int fd, const struct scache_rec *r, int timeout, struct buf *why)
{
    struct attr_list l;
    int64_t status = 1;
    int rc = -1;
    struct stream *s = scache_connect(path, timeout, why);

    if (s == NULL)
        return -1;
    attr_list_init(&l);
    attr_add_str(&l, "request", "put");
    scache_rec_encode(r, &l);
    if (unix_send_fd(s->fd, fd) < 0 || attr_write(s, &l) < 0) {
        buf_setf(why, "send to %s: %m", path);
    } else {
        attr_list_free(&l);
        if (unix_recv_fd(s->fd) >= 0) /* the server never sends one here */
            buf_setf(why, "%s: unexpected descriptor", path);
        else if (errno != ENOMSG)
            buf_setf(why, "read from %s: %m", path);
        else if (attr_read(s, 0, &l, why) < 0 || attr_check(&l, reply_spec, 0, why) < 0)
            ;
        else if (attr_get_int(&l, "status", &status), status != 0)
            buf_setf(why, "%s: not cached", path);
        else
            rc = 0;
    }
    attr_list_free(&l);
    (void)stream_close(s);
    return rc;
}

int scache_get(const char *path, const char *label, struct scache_rec *r, int timeout,
               struct buf *why)
{
    struct attr_list l;
    int64_t status = 1;
    int fd = -1;
    struct stream *s = scache_connect(path, timeout, why);

    buf_reset(why);
    if (s == NULL)
        return -1;
    attr_list_init(&l);
    attr_add_str(&l, "request", "get");
    attr_add_str(&l, "label", label);
    if (unix_send_fd(s->fd, -1) < 0 || attr_write(s, &l) < 0) {
        buf_setf(why, "send to %s: %m", path);
        goto out;
    }
    attr_list_free(&l);
    fd = unix_recv_fd(s->fd);
    if (fd < 0 && errno != ENOMSG) {
        buf_setf(why, "read from %s: %m", path);
        goto out;
    }
    if (attr_read(s, 0, &l, why) < 0)
        goto fail;
    if (attr_get_int(&l, "status", &status) < 0 || status != 0) {
        if (attr_check(&l, reply_spec, 0, why) < 0)
            goto fail;
        goto fail; /* a miss: why stays empty */
    }
    if (fd < 0) {
        buf_setf(why, "%s: no descriptor with the record", path);
        goto out;
    }
    if (scache_rec_decode(&l, r, why) < 0)
        goto fail;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    fd = -1;
out:
    attr_list_free(&l);
    (void)stream_close(s);
    return fd;
}
