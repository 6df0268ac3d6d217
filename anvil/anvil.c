/* anvil - per-client connection and rate counters for smtpd's limits
 * (Postfix anvil(8)); the protocol is in lib/mail/anvil_client.h, the
 * counting rules in lib/mail/anvil_table.h.
 *
 * One process (master.cf "anvil unix - - y - 1 anvil") serves every client
 * from one event loop: input is read without blocking and decoded only when
 * a whole attribute message is there, so a slow or stuck client never holds
 * up the others; a client that does not read its replies is not read from
 * until it does. Each client connection remembers its connects, and when it
 * closes (smtpd exited, crashed, or was killed) they are undone.
 *
 * Bad requests (unknown request, missing or bad ident, unexpected
 * attributes) get status 1; bytes that are not an attribute message end
 * that client's connection. Peaks are logged every anvil_status_update_time
 * and at exit, in Postfix's words. Like Postfix's anvil, it serves any
 * number of requests and leaves only after max_idle (at least one rate
 * window) without clients.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/anvil_table.h"
#include "mail/attr.h"
#include "mail/mail_server.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/events.h"
#include "util/iostuff.h"
#include "util/msg.h"

/* A request is two short attributes; this leaves room for an over-long
 * ident to be answered with status 1 instead of a disconnect. */
#define ANVIL_REQUEST_MAX 8192
#define ANVIL_READ_CHUNK  4096
/* Stop reading from a client whose unread replies pass this. */
#define ANVIL_OUTPUT_MAX 65536

struct anvil_conn {
    struct stream *stream; /* owned; closed by multi_server_disconnect */
    int fd;
    struct buf in;  /* bytes of requests not yet decoded */
    struct buf out; /* replies not yet written, from out_off on */
    size_t out_off;
    struct anvil_local *local;
};

static struct anvil_table *anvil_table;
static long anvil_status_time;
static int anvil_idle_limit;
static size_t anvil_clients;
static int anvil_term_pipe[2] = {-1, -1};

/* ---- statistics and timers -------------------------------------------------- */

static void anvil_status_dump(void)
{
    struct argv *lines = argv_alloc();
    anvil_table_stats(anvil_table, lines);
    for (size_t i = 0; i < lines->argc; i++)
        msg_info("%s", lines->argv[i]);
    argv_free(lines);
    anvil_table_peaks_reset(anvil_table);
}

static void anvil_status_update(void *unused)
{
    (void)unused;
    anvil_status_dump();
    event_timer(anvil_status_update, NULL, (int)anvil_status_time);
}

static void anvil_expire(void *unused)
{
    (void)unused;
    size_t n = anvil_table_expire(anvil_table, event_time());
    if (msg_verbose && n)
        msg_info("expired %zu idle idents, %zu left", n, anvil_table_size(anvil_table));
    event_timer(anvil_expire, NULL, (int)anvil_table_time_unit(anvil_table));
}

__attribute__((noreturn)) static void anvil_exit(void)
{
    anvil_status_dump();
    exit(0);
}

static void anvil_idle(void *unused)
{
    (void)unused;
    if (msg_verbose)
        msg_info("idle timeout -- exiting");
    anvil_exit();
}

/* The skeleton leaves at once on SIGTERM when no client is being served,
 * and waits for the clients otherwise; anvil's clients are whole smtpd
 * sessions, and its counters are worth nothing after a stop, so it leaves
 * at once either way, but through the event loop, to log its peaks. */
static void anvil_sigterm(int sig)
{
    (void)sig;
    int saved = errno;
    if (write(anvil_term_pipe[1], "T", 1) < 0) {
        /* the pipe is full: a byte is already waiting */
    }
    errno = saved;
}

static void anvil_term_event(int fd, void *unused)
{
    (void)fd;
    (void)unused;
    anvil_exit();
}

static void anvil_pre_exit(const struct server_ctx *ctx)
{
    (void)ctx;
    anvil_status_dump();
}

/* ---- clients -------------------------------------------------------------- */

static void anvil_conn_read(int fd, void *ctx);
static void anvil_conn_write(int fd, void *ctx);
static void anvil_conn_process(struct anvil_conn *c);

static void anvil_conn_done(struct anvil_conn *c)
{
    size_t open = anvil_local_open(c->local);
    if (open && msg_verbose)
        msg_info("client closed with %zu open connects: undone", open);
    anvil_local_free(anvil_table, c->local, event_time());
    buf_free(&c->in);
    buf_free(&c->out);
    multi_server_disconnect(c->stream);
    free(c);
    if (--anvil_clients == 0)
        event_timer(anvil_idle, NULL, anvil_idle_limit);
}

/* anvil_conn_flush - write what the socket takes now; switch to waiting
 * for writability while output is left. -1 when the client is gone. */
static int anvil_conn_flush(struct anvil_conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            if (msg_verbose)
                msg_info("client write: %m");
            return -1;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out.len) {
        buf_reset(&c->out);
        c->out_off = 0;
        event_disable(c->fd);
        event_read(c->fd, anvil_conn_read, c);
    } else {
        event_disable(c->fd);
        event_write(c->fd, anvil_conn_write, c);
    }
    return 0;
}

static void anvil_conn_write(int fd, void *ctx)
{
    struct anvil_conn *c = ctx;
    (void)fd;
    if (anvil_conn_flush(c) < 0)
        anvil_conn_done(c);
    else if (c->out.len == 0 && c->in.len > 0)
        anvil_conn_process(c); /* requests that waited for the replies to go */
}

/* ---- requests ------------------------------------------------------------- */

typedef void (*anvil_req_fn)(struct anvil_conn *c, const char *ident, long now,
                             struct attr_list *reply);

static void anvil_fail(struct attr_list *reply, const char *req, const char *ident,
                       const struct buf *why)
{
    msg_warn("%s request for %.100s: %s", req, ident, buf_cstr(why));
    attr_add_int(reply, "status", 1);
}

static void anvil_req_connect(struct anvil_conn *c, const char *ident, long now,
                              struct attr_list *reply)
{
    struct buf why = BUF_INIT;
    int count, rate;
    if (anvil_local_connect(anvil_table, c->local, ident, now, &count, &rate, &why) < 0) {
        anvil_fail(reply, "connect", ident, &why);
    } else {
        attr_add_int(reply, "status", 0);
        attr_add_int(reply, "count", count);
        attr_add_int(reply, "rate", rate);
    }
    buf_free(&why);
}

static void anvil_req_disconnect(struct anvil_conn *c, const char *ident, long now,
                                 struct attr_list *reply)
{
    /* A disconnect without a matching connect of this client changes
     * nothing: it must not take away another client's count. */
    if (anvil_local_disconnect(anvil_table, c->local, ident, now) == 0 && msg_verbose)
        msg_info("disconnect for %s without an open connect of this client", ident);
    attr_add_int(reply, "status", 0);
}

static void anvil_req_event(enum anvil_event ev, const char *req, const char *ident, long now,
                            struct attr_list *reply)
{
    struct buf why = BUF_INIT;
    int rate;
    if (anvil_table_event(anvil_table, ident, ev, now, &rate, &why) < 0) {
        anvil_fail(reply, req, ident, &why);
    } else {
        attr_add_int(reply, "status", 0);
        attr_add_int(reply, "rate", rate);
    }
    buf_free(&why);
}

static void anvil_req_message(struct anvil_conn *c, const char *ident, long now,
                              struct attr_list *reply)
{
    (void)c;
    anvil_req_event(ANVIL_EV_MESSAGE, "message", ident, now, reply);
}

static void anvil_req_recipient(struct anvil_conn *c, const char *ident, long now,
                                struct attr_list *reply)
{
    (void)c;
    anvil_req_event(ANVIL_EV_RECIPIENT, "recipient", ident, now, reply);
}

static void anvil_req_auth(struct anvil_conn *c, const char *ident, long now,
                           struct attr_list *reply)
{
    (void)c;
    anvil_req_event(ANVIL_EV_AUTH, "auth", ident, now, reply);
}

static void anvil_req_lookup(struct anvil_conn *c, const char *ident, long now,
                             struct attr_list *reply)
{
    struct anvil_counts n;
    (void)c;
    anvil_table_lookup(anvil_table, ident, now, &n);
    attr_add_int(reply, "status", 0);
    attr_add_int(reply, "count", n.count);
    attr_add_int(reply, "rate", n.rate[ANVIL_EV_CONNECT]);
    attr_add_int(reply, "message", n.rate[ANVIL_EV_MESSAGE]);
    attr_add_int(reply, "recipient", n.rate[ANVIL_EV_RECIPIENT]);
    attr_add_int(reply, "auth", n.rate[ANVIL_EV_AUTH]);
}

static const struct {
    const char *name;
    anvil_req_fn fn;
} anvil_requests[] = {
    {"connect", anvil_req_connect}, {"disconnect", anvil_req_disconnect},
    {"message", anvil_req_message}, {"recipient", anvil_req_recipient},
    {"auth", anvil_req_auth},       {"lookup", anvil_req_lookup},
};

static const struct attr_spec anvil_request_spec[] = {
    {"request", ATTR_STR, 1}, {"ident", ATTR_STR, 1}, ATTR_SPEC_END};

/* anvil_request - answer one decoded request into reply */
static void anvil_request(struct anvil_conn *c, const struct attr_list *req,
                          struct attr_list *reply)
{
    struct buf why = BUF_INIT;
    if (attr_check(req, anvil_request_spec, 0, &why) < 0) {
        msg_warn("bad request: %s", buf_cstr(&why));
        attr_add_int(reply, "status", 1);
        buf_free(&why);
        return;
    }
    buf_free(&why);
    const char *name = attr_get_str(req, "request");
    const struct attr *id = attr_get(req, "ident");
    if (!anvil_ident_ok(id->val, id->len)) {
        msg_warn("%.20s request: bad ident (%zu bytes; 1 to %d printable characters)", name,
                 id->len, ANVIL_IDENT_MAX);
        attr_add_int(reply, "status", 1);
        return;
    }
    for (size_t i = 0; i < sizeof(anvil_requests) / sizeof(anvil_requests[0]); i++) {
        if (strcmp(name, anvil_requests[i].name) == 0) {
            if (msg_verbose)
                msg_info("%s %s", name, id->val);
            anvil_requests[i].fn(c, id->val, event_time(), reply);
            return;
        }
    }
    msg_warn("unknown request: %.40s", name);
    attr_add_int(reply, "status", 1);
}

/* anvil_conn_process - answer the whole requests buffered so far, then
 * send the replies. While replies pile up past ANVIL_OUTPUT_MAX, the rest
 * waits until the client has read them. */
static void anvil_conn_process(struct anvil_conn *c)
{
    struct attr_list req, reply;
    struct buf why = BUF_INIT;
    int more;

    attr_list_init(&req);
    attr_list_init(&reply);
    do {
        size_t off = 0;
        more = 0;
        while (off < c->in.len) {
            if (c->out.len >= ANVIL_OUTPUT_MAX) {
                more = 1;
                break;
            }
            size_t used = 0;
            int rc = attr_decode(c->in.data + off, c->in.len - off, ANVIL_REQUEST_MAX, &req, &used,
                                 &why);
            if (rc == 0)
                break;
            if (rc < 0) {
                msg_warn("malformed request: %s -- dropping the client", buf_cstr(&why));
                goto drop;
            }
            off += used;
            attr_list_free(&reply);
            anvil_request(c, &req, &reply);
            attr_encode(&reply, &c->out);
        }
        if (off > 0) {
            memmove(c->in.data, c->in.data + off, c->in.len - off);
            buf_truncate(&c->in, c->in.len - off);
        }
        if (anvil_conn_flush(c) < 0)
            goto drop;
    } while (more && c->out.len == 0);
    attr_list_free(&req);
    attr_list_free(&reply);
    buf_free(&why);
    return;

drop:
    attr_list_free(&req);
    attr_list_free(&reply);
    buf_free(&why);
    anvil_conn_done(c);
}

static void anvil_conn_read(int fd, void *ctx)
{
    struct anvil_conn *c = ctx;
    char chunk[ANVIL_READ_CHUNK];
    ssize_t n = read(fd, chunk, sizeof(chunk));

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        if (n < 0 && msg_verbose)
            msg_info("client read: %m");
        if (c->in.len > 0)
            msg_warn("client closed inside a request (%zu bytes)", c->in.len);
        anvil_conn_done(c);
        return;
    }
    buf_append(&c->in, chunk, (size_t)n);
    anvil_conn_process(c);
}

static void anvil_connect(struct stream *s, const struct server_ctx *ctx)
{
    (void)ctx;
    event_timer_cancel(anvil_idle, NULL);
    anvil_clients++;
    struct anvil_conn *c = xcalloc(1, sizeof(*c));
    c->stream = s;
    c->fd = s->fd;
    buf_init(&c->in);
    buf_init(&c->out);
    c->local = anvil_local_create();
    if (set_nonblock(c->fd, 1) < 0) {
        msg_warn("client socket: %m");
        anvil_conn_done(c);
        return;
    }
    event_read(c->fd, anvil_conn_read, c);
}

/* ---- start-up --------------------------------------------------------------- */

static void anvil_post_init(const struct server_ctx *ctx)
{
    (void)ctx;
    long unit = conf_time("anvil_rate_time_unit");
    if (unit < 1)
        unit = 1;
    if (unit > 86400 * 365)
        unit = 86400 * 365;
    anvil_status_time = conf_time("anvil_status_update_time");
    if (anvil_status_time < 1)
        anvil_status_time = 1;
    if (anvil_status_time > 86400 * 365)
        anvil_status_time = 86400 * 365;
    /* As Postfix: never forget a rate window early by leaving when idle. */
    long idle = conf_time("max_idle");
    if (idle < unit)
        idle = unit;
    anvil_idle_limit = idle > 86400 * 365 ? 86400 * 365 : (int)idle;
    anvil_table = anvil_table_create(ANVIL_TABLE_MAX, unit);

    if (pipe2(anvil_term_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        msg_fatal("pipe: %m");
    struct sigaction sa = {0};
    sa.sa_handler = anvil_sigterm;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) < 0)
        msg_fatal("sigaction(SIGTERM): %m");
    event_read(anvil_term_pipe[0], anvil_term_event, NULL);

    event_timer(anvil_status_update, NULL, (int)anvil_status_time);
    event_timer(anvil_expire, NULL, (int)unit);
    event_timer(anvil_idle, NULL, anvil_idle_limit);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .post_init = anvil_post_init,
        .connect = anvil_connect,
        .pre_exit = anvil_pre_exit,
        /* anvil keeps its counters for as long as it can: its own idle rule
         * (anvil_idle) replaces the skeleton's, and it never leaves after a
         * number of clients. */
        .flags = SERVER_FLAG_IGNORE_IDLE | SERVER_FLAG_UNLIMITED_USE,
    };
    return multi_server_main(argc, argv, &ops);
}
