/* cleanup_client - submit a message to cleanup(8); see cleanup_client.h. */
#include "mail/cleanup_client.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/attr.h"
#include "mail/mail_proto.h"
#include "mail/queue_file.h"
#include "util/alloc.h"
#include "util/sock.h"
#include "util/stream.h"

struct cleanup_client {
    struct stream *s;
    int failed; /* a record could not be sent: the first reason sticks */
    struct buf why;
};

static const struct attr_spec open_reply[] = {
    {"status", ATTR_INT, 1}, {"queue_id", ATTR_STR, 1}, ATTR_SPEC_END};
static const struct attr_spec final_reply[] = {
    {"status", ATTR_INT, 1}, {"reason", ATTR_STR, 1}, ATTR_SPEC_END};

/* read_reply - one reply checked against spec, with its status. */
static int read_reply(struct stream *s, const struct attr_spec *spec, struct attr_list *l,
                      int64_t *status, struct buf *why)
{
    if (attr_read(s, 0, l, why) < 0 || attr_check(l, spec, 0, why) < 0 ||
        attr_get_int(l, "status", status) < 0)
        return -1;
    return 0;
}

struct cleanup_client *cleanup_client_open(int flags, int timeout, char *id, struct buf *why)
{
    int fd = unix_connect(MAIL_SOCK_CLEANUP, timeout);
    if (fd < 0) {
        buf_setf(why, "connect to %s: %m", MAIL_SOCK_CLEANUP);
        return NULL;
    }
    struct stream *s = stream_open(fd, timeout);
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "flags", flags);
    int64_t status = -1;
    if (attr_write(s, &l) < 0) {
        buf_setf(why, "write to %s: %m", MAIL_SOCK_CLEANUP);
        goto fail;
    }
    attr_list_free(&l);
    if (read_reply(s, open_reply, &l, &status, why) < 0)
        goto fail;
    const char *qid = attr_get_str(&l, "queue_id");
    if (status != CLEANUP_STAT_OK || !queue_id_valid(qid)) {
        buf_setf(why, "%s refused the message (status %lld)", MAIL_SOCK_CLEANUP, (long long)status);
        goto fail;
    }
    memcpy(id, qid, QUEUE_ID_LEN + 1);
    attr_list_free(&l);

    struct cleanup_client *c = xmalloc(sizeof(*c));
    c->s = s;
    c->failed = 0;
    buf_init(&c->why);
    return c;

fail:
    attr_list_free(&l);
    stream_close(s);
    return NULL;
}

void cleanup_client_record(struct cleanup_client *c, int type, const void *p, size_t n)
{
    if (c->failed)
        return;
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "type", type);
    attr_add_data(&l, "data", p, n);
    if (attr_write(c->s, &l) < 0) {
        buf_setf(&c->why, "write to %s: %m", MAIL_SOCK_CLEANUP);
        c->failed = 1;
    }
    attr_list_free(&l);
}

void cleanup_client_str(struct cleanup_client *c, int type, const char *s)
{
    cleanup_client_record(c, type, s, strlen(s));
}

void cleanup_client_content(struct cleanup_client *c, const void *p, size_t n)
{
    const char *cp = p;
    while (n > 0 && !c->failed) {
        size_t k = n > QF_CONTENT_CHUNK ? QF_CONTENT_CHUNK : n;
        cleanup_client_record(c, QF_CONTENT, cp, k);
        cp += k;
        n -= k;
    }
}

int cleanup_client_close(struct cleanup_client *c, struct buf *why)
{
    int result = CLEANUP_STAT_WRITE;
    struct attr_list l;
    attr_list_init(&l);
    cleanup_client_record(c, QF_END, "", 0);
    if (c->failed) {
        buf_setf(why, "%s", buf_cstr(&c->why));
    } else {
        int64_t status;
        if (read_reply(c->s, final_reply, &l, &status, why) == 0) {
            if (status < 0 || status > INT32_MAX) {
                buf_setf(why, "%s: bad status %lld", MAIL_SOCK_CLEANUP, (long long)status);
            } else {
                result = (int)status;
                if (result != CLEANUP_STAT_OK)
                    buf_setf(why, "%s", attr_get_str(&l, "reason"));
            }
        }
    }
    attr_list_free(&l);
    stream_close(c->s);
    buf_free(&c->why);
    free(c);
    return result;
}

void cleanup_client_abort(struct cleanup_client *c)
{
    stream_close(c->s);
    buf_free(&c->why);
    free(c);
}
