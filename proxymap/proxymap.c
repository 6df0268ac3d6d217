/* proxymap - table lookups for processes that cannot do them themselves
 * (Postfix proxymap(8)): a chrooted smtpd cannot call getpwnam or read a
 * table outside its root, so it opens "proxy:unix:passwd.byname" and asks
 * here.
 *
 * A multi-client server on private/proxymap (master.cf "proxymap unix - - n
 * - - proxymap": as mail_owner, not chrooted). Clients keep their connection
 * for many requests (map_proxy.h has the protocol). Only tables listed in
 * proxy_read_maps are served; anything else is refused with Postfix's
 * warning. Each table is opened on first use, with the client's flags, and
 * then stays open, shared by every client; the map library reopens a file
 * table that was rebuilt. A request that cannot be parsed gets a "bad
 * request" reply; a message that cannot even be read ends that client's
 * connection, never the server.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/attr.h"
#include "mail/mail_server.h"
#include "maps/map.h"
#include "maps/map_proxy.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/events.h"
#include "util/msg.h"

/* An open table: the same name with other flags (case folding) is another. */
struct table {
    char *name;
    int flags;
    struct map *map;
};

static struct table *tables;
static size_t table_count;
static struct argv *approved;

/* table_get - the open table, opened now if it is not yet; NULL + why. */
static struct map *table_get(const char *name, int flags, struct buf *why)
{
    for (size_t i = 0; i < table_count; i++)
        if (tables[i].flags == flags && strcmp(tables[i].name, name) == 0)
            return tables[i].map;
    struct map *m = map_open(name, flags, why);
    if (m == NULL)
        return NULL; /* not remembered: the next request tries again */
    tables = xreallocarray(tables, table_count + 1, sizeof(*tables));
    tables[table_count++] = (struct table){xstrdup(name), flags, m};
    if (msg_verbose)
        msg_info("opened table %s (flags %d)", name, flags);
    return m;
}

/* serve - the reply to one request. */
static void serve(const struct attr_list *in, struct attr_list *out)
{
    struct map_proxy_request r;
    struct buf why = BUF_INIT, value = BUF_INIT;
    const char *name;
    struct map *m;

    if (map_proxy_request_decode(in, &r, &why) < 0) {
        msg_warn("bad request: %s", buf_cstr(&why));
        /* answer in the form the client waits for, if it said */
        const char *req = attr_get_str(in, "request");
        enum map_proxy_op op = req && strcmp(req, "open") == 0 ? PROXY_OP_OPEN : PROXY_OP_LOOKUP;
        buf_printf(&value, "bad request: %s", buf_cstr(&why));
        map_proxy_reply_encode(op, PROXY_STAT_BAD, buf_cstr(&value), out);
        goto done;
    }
    if ((name = map_proxy_table_name(r.table, &why)) == NULL) {
        msg_warn("bad request: %s", buf_cstr(&why));
        buf_printf(&value, "bad request: %s", buf_cstr(&why));
        map_proxy_reply_encode(r.op, PROXY_STAT_BAD, buf_cstr(&value), out);
        goto done;
    }
    if (!map_proxy_is_approved(approved, name)) {
        msg_warn("request for unapproved table: \"%s\"", name);
        msg_warn("to approve this table for read-only access, list proxy:%s in "
                 "main.cf:proxy_read_maps",
                 name);
        map_proxy_reply_encode(r.op, PROXY_STAT_BAD,
                               "unapproved table (not listed in proxy_read_maps)", out);
        goto done;
    }
    if ((m = table_get(name, r.flags, &why)) == NULL) {
        msg_warn("%s", buf_cstr(&why));
        map_proxy_reply_encode(r.op, PROXY_STAT_RETRY, buf_cstr(&why), out);
        goto done;
    }
    if (r.op == PROXY_OP_OPEN) {
        map_proxy_reply_encode(r.op, PROXY_STAT_OK, NULL, out);
        goto done;
    }
    switch (map_lookup(m, r.key, &value)) {
    case 1:
        map_proxy_reply_encode(r.op, PROXY_STAT_OK, buf_cstr(&value), out);
        break;
    case 0:
        map_proxy_reply_encode(r.op, PROXY_STAT_NOKEY, NULL, out);
        break;
    default:
        msg_warn("%s", map_error(m));
        map_proxy_reply_encode(r.op, PROXY_STAT_RETRY, map_error(m), out);
        break;
    }
done:
    buf_free(&why);
    buf_free(&value);
}

/* Requests answered per turn before other clients get theirs. */
#define REQUESTS_PER_TURN 32

static void client_resume(void *ctx);

/* client_input - the requests the client has sent, each answered at once,
 * at most REQUESTS_PER_TURN before the event loop runs again (input already
 * buffered is picked up by a timer: poll() would not report it). A message
 * that cannot be read (EOF, timeout, garbage) ends the client. */
static void client_input(int fd, void *ctx)
{
    struct stream *s = ctx;
    struct attr_list in, out;
    struct buf why = BUF_INIT;
    int gone = 0, served = 0;

    (void)fd;
    attr_list_init(&in);
    attr_list_init(&out);
    do {
        if (attr_read(s, PROXY_REQUEST_MAX, &in, &why) < 0) {
            /* "end of file" between messages is a client that is done */
            if (strcmp(buf_cstr(&why), "end of file") != 0)
                msg_warn("client request: %s -- disconnecting", buf_cstr(&why));
            gone = 1;
            break;
        }
        serve(&in, &out);
        if (attr_write(s, &out) < 0) {
            if (msg_verbose)
                msg_info("client went away before the reply");
            gone = 1;
            break;
        }
    } while (stream_pending(s) > 0 && ++served < REQUESTS_PER_TURN);
    if (gone) {
        (void)event_timer_cancel(client_resume, s);
        multi_server_disconnect(s);
    } else if (stream_pending(s) > 0) {
        event_timer(client_resume, s, 0);
    }
    attr_list_free(&in);
    attr_list_free(&out);
    buf_free(&why);
}

static void client_resume(void *ctx)
{
    struct stream *s = ctx;
    client_input(s->fd, s);
}

static void client_connect(struct stream *s, const struct server_ctx *ctx)
{
    (void)ctx;
    event_read(s->fd, client_input, s);
}

static void post_init(const struct server_ctx *ctx)
{
    /* Postfix's proxymap takes no arguments; neither does this one. */
    if (ctx->argc > 0)
        msg_fatal("unexpected command-line argument: %s", ctx->argv[0]);
    /* The skeleton left us in the queue directory, or in "/" of a chroot
     * there. Chrooted, getpwnam and tables outside the root fail or, worse,
     * find nothing: valid users would be rejected. */
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, "/") == 0 &&
        strcmp(conf_str("queue_directory"), "/") != 0)
        msg_warn("running chrooted: unix:passwd.byname and tables outside %s will not work; "
                 "set the chroot column of the %s service in master.cf to n",
                 conf_str("queue_directory"), ctx->service);
    approved = map_proxy_approved(conf_str("proxy_read_maps"));
    if (msg_verbose)
        for (size_t i = 0; i < approved->argc; i++)
            msg_info("approved table: %s", approved->argv[i]);
}

static void pre_exit(const struct server_ctx *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < table_count; i++) {
        map_close(tables[i].map);
        free(tables[i].name);
    }
    free(tables);
    tables = NULL;
    table_count = 0;
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.post_init = post_init;
    ops.connect = client_connect;
    ops.pre_exit = pre_exit;
    return multi_server_main(argc, argv, &ops);
}
