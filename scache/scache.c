/* scache - the shared cache of idle SMTP/LMTP sessions (Postfix's
 * scache(8)); the protocol and record are in lib/mail/scache_client.h.
 *
 * One process (master.cf "scache unix - - y - 1 scache") keeps the
 * descriptors of plaintext sessions that smtp(8) and lmtp(8) processes hand
 * it after a delivery, each with its record, under two labels: the
 * destination (service, next hop, TLS level) and the endpoint (service,
 * server address and port, TLS level). The next delivery agent that asks
 * for either label gets the descriptor and the entry is gone, so a cached
 * connection is only ever used by one process, and the number of
 * connections to a destination never passes the number of agents qmgr
 * runs for it plus the idle ones nobody has taken, which are at most the
 * ones whose agents have finished.
 *
 * An entry is closed (without QUIT: the server sees a plain close, as with
 * Postfix) when its time to live has passed (the client's
 * smtp_connection_cache_time_limit), when the server closed it or spoke
 * unasked, or when the cache is full (SCACHE_MAX entries; the oldest goes).
 * Requests are tiny and come from our own agents, so one client is served
 * at a time (single server, no max_use).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/attr.h"
#include "mail/mail_server.h"
#include "mail/scache_client.h"
#include "util/alloc.h"
#include "util/events.h"
#include "util/msg.h"
#include "util/sock.h"

#define SCACHE_MAX         1000
#define SCACHE_REQUEST_MAX 16384

struct scache_entry {
    int fd;
    time_t expires;
    time_t stored;
    struct scache_rec rec;
};

static struct scache_entry *cache[SCACHE_MAX];
static size_t cache_count, cache_limit = SCACHE_MAX;

static void entry_drop(size_t i, const char *why)
{
    struct scache_entry *e = cache[i];
    if (msg_verbose)
        msg_info("close %s (%s): %s", e->rec.relay, e->rec.dest, why);
    close(e->fd);
    free(e);
    cache[i] = cache[--cache_count];
}

/* alive - an idle SMTP server says nothing: readable means it closed the
 * connection (its own idle timeout) or broke the protocol. */
static int alive(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}

static void expire(void *unused)
{
    time_t now = time(NULL);
    (void)unused;
    for (size_t i = 0; i < cache_count;) {
        if (cache[i]->expires <= now)
            entry_drop(i, "time limit");
        else if (!alive(cache[i]->fd))
            entry_drop(i, "closed by the server");
        else
            i++;
    }
    if (cache_count > 0)
        event_timer(expire, NULL, 1);
}

static void store(int fd, const struct scache_rec *rec)
{
    if (cache_count >= cache_limit) {
        size_t oldest = 0;
        for (size_t i = 1; i < cache_count; i++)
            if (cache[i]->stored < cache[oldest]->stored)
                oldest = i;
        entry_drop(oldest, "cache full");
    }
    struct scache_entry *e = xcalloc(1, sizeof(*e));
    e->fd = fd;
    e->stored = time(NULL);
    e->expires = e->stored + (rec->ttl > 0 ? rec->ttl : 1);
    e->rec = *rec;
    if (cache_count == 0) {
        (void)event_timer_cancel(expire, NULL);
        event_timer(expire, NULL, 1);
    }
    cache[cache_count++] = e;
    if (msg_verbose)
        msg_info("store %s for %s, %zu cached", rec->relay, rec->dest, cache_count);
}

/* take - the most recently stored live entry under label, removed. */
static struct scache_entry *take(const char *label)
{
    time_t now = time(NULL);
    for (size_t i = cache_count; i-- > 0;) {
        struct scache_entry *e = cache[i];
        if (strcmp(e->rec.dest, label) != 0 && strcmp(e->rec.endp, label) != 0)
            continue;
        if (e->expires <= now || !alive(e->fd)) {
            entry_drop(i, "expired or closed");
            continue;
        }
        cache[i] = cache[--cache_count];
        return e;
    }
    return NULL;
}

static int reply(struct stream *client, int fd, int status, const struct scache_rec *rec)
{
    struct attr_list l;
    int rc;

    attr_list_init(&l);
    attr_add_int(&l, "status", status);
    if (rec != NULL)
        scache_rec_encode(rec, &l);
    rc = unix_send_fd(client->fd, fd) < 0 || attr_write(client, &l) < 0 ? -1 : 0;
    attr_list_free(&l);
    return rc;
}

static void scache_service(struct stream *client, const struct server_ctx *ctx)
{
    static const struct attr_spec get_spec[] = {
        {"request", ATTR_STR, 1}, {"label", ATTR_STR, 1}, ATTR_SPEC_END};
    struct attr_list l;
    struct buf why = BUF_INIT;
    struct scache_rec rec;
    const char *req;
    int fd;

    (void)ctx;
    attr_list_init(&l);
    /* the marker byte comes first, before anything is read buffered */
    fd = unix_recv_fd(client->fd);
    if (fd < 0 && errno != ENOMSG)
        goto out;
    if (attr_read(client, SCACHE_REQUEST_MAX, &l, &why) < 0) {
        msg_warn("bad request: %s", buf_cstr(&why));
        goto out;
    }
    req = attr_get_str(&l, "request");
    if (req != NULL && strcmp(req, "put") == 0) {
        if (fd < 0 || scache_rec_decode(&l, &rec, &why) < 0) {
            msg_warn("bad put request: %s", fd < 0 ? "no descriptor" : buf_cstr(&why));
            (void)reply(client, -1, 1, NULL);
            goto out;
        }
        store(fd, &rec);
        fd = -1;
        (void)reply(client, -1, 0, NULL);
    } else if (req != NULL && strcmp(req, "get") == 0 && fd < 0 &&
               attr_check(&l, get_spec, 0, &why) == 0) {
        struct scache_entry *e = take(attr_get_str(&l, "label"));
        if (e == NULL) {
            (void)reply(client, -1, 1, NULL);
        } else {
            if (msg_verbose)
                msg_info("hand out %s for %s", e->rec.relay, e->rec.dest);
            /* the entry is gone either way: a client that did not get it
             * opens a connection of its own */
            (void)reply(client, e->fd, 0, &e->rec);
            close(e->fd);
            free(e);
        }
    } else {
        msg_warn("bad request: %s", why.len ? buf_cstr(&why) : "unknown request");
        (void)reply(client, -1, 1, NULL);
    }
out:
    if (fd >= 0)
        close(fd);
    attr_list_free(&l);
    buf_free(&why);
}

static void scache_post_init(const struct server_ctx *ctx)
{
    struct rlimit rl;
    (void)ctx;
    /* room for the cache within the descriptor limit */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < SCACHE_MAX + 64)
        cache_limit = rl.rlim_cur > 96 ? (size_t)rl.rlim_cur - 64 : 32;
}

static void scache_pre_exit(const struct server_ctx *ctx)
{
    (void)ctx;
    while (cache_count > 0)
        entry_drop(cache_count - 1, "exit");
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.post_init = scache_post_init;
    ops.pre_exit = scache_pre_exit;
    ops.service = scache_service;
    ops.flags = SERVER_FLAG_UNLIMITED_USE;
    ops.client_timeout = 10;
    return single_server_main(argc, argv, &ops);
}
