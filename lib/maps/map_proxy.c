/* map_proxy - the proxy: table type: lookups through the proxymap service
 * over one connection per process, and the request/reply encoding and
 * proxy_read_maps parsing that proxymap shares (map_proxy.h). */
#include "maps/map_proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "util/alloc.h"
#include "util/events.h"
#include "util/sock.h"
#include "util/stream.h"

#define PROXY_PREFIX     "proxy:"
#define PROXY_PREFIX_LEN (sizeof(PROXY_PREFIX) - 1)
#define LIST_SEPARATORS  ", \t\r\n"

/* ---- protocol: requests and replies ---------------------------------------------------- */

static const char *op_name(enum map_proxy_op op)
{
    return op == PROXY_OP_OPEN ? "open" : "lookup";
}

void map_proxy_request_encode(const struct map_proxy_request *r, struct attr_list *l)
{
    attr_list_free(l);
    attr_add_str(l, "request", op_name(r->op));
    attr_add_str(l, "table", r->table);
    attr_add_int(l, "flags", r->flags);
    if (r->op == PROXY_OP_LOOKUP)
        attr_add_str(l, "key", r->key);
}

static const struct attr_spec request_spec[] = {
    {"request", ATTR_STR, 1}, {"table", ATTR_STR, 1}, {"flags", ATTR_INT, 1},
    {"key", ATTR_STR, 0},     ATTR_SPEC_END,
};

int map_proxy_request_decode(const struct attr_list *l, struct map_proxy_request *r,
                             struct buf *why)
{
    int64_t flags;

    if (attr_check(l, request_spec, 0, why) < 0)
        return -1;
    const char *req = attr_get_str(l, "request");
    if (strcmp(req, "open") == 0) {
        r->op = PROXY_OP_OPEN;
    } else if (strcmp(req, "lookup") == 0) {
        r->op = PROXY_OP_LOOKUP;
    } else {
        buf_setf(why, "unknown request");
        return -1;
    }
    const struct attr *table = attr_get(l, "table");
    if (table->len > PROXY_TABLE_MAX) {
        buf_setf(why, "table name longer than %d bytes", PROXY_TABLE_MAX);
        return -1;
    }
    r->table = table->val;
    (void)attr_get_int(l, "flags", &flags); /* present: attr_check said so */
    if (flags < 0 || (flags & ~(int64_t)PROXY_FLAGS_ALLOWED) != 0) {
        buf_setf(why, "bad flags %lld", (long long)flags);
        return -1;
    }
    r->flags = (int)flags;
    const struct attr *key = attr_get(l, "key");
    if (r->op == PROXY_OP_OPEN) {
        if (key != NULL) {
            buf_setf(why, "attribute key: not expected in an open request");
            return -1;
        }
        r->key = NULL;
    } else {
        if (key == NULL) {
            buf_setf(why, "attribute key: missing");
            return -1;
        }
        if (key->len > PROXY_KEY_MAX) {
            buf_setf(why, "key longer than %d bytes", PROXY_KEY_MAX);
            return -1;
        }
        r->key = key->val;
    }
    return 0;
}

void map_proxy_reply_encode(enum map_proxy_op op, int status, const char *text, struct attr_list *l)
{
    attr_list_free(l);
    attr_add_int(l, "status", status);
    if (op == PROXY_OP_OPEN) {
        attr_add_str(l, "reason", status == PROXY_STAT_OK || text == NULL ? "" : text);
        return;
    }
    attr_add_str(l, "value", status == PROXY_STAT_OK && text != NULL ? text : "");
    if (status == PROXY_STAT_RETRY || status == PROXY_STAT_BAD)
        attr_add_str(l, "reason", text != NULL ? text : "");
}

static const struct attr_spec open_reply_spec[] = {
    {"status", ATTR_INT, 1}, {"reason", ATTR_STR, 1}, ATTR_SPEC_END};
static const struct attr_spec lookup_reply_spec[] = {
    {"status", ATTR_INT, 1}, {"value", ATTR_STR, 1}, {"reason", ATTR_STR, 0}, ATTR_SPEC_END};

int map_proxy_reply_decode(enum map_proxy_op op, const struct attr_list *l, int *status,
                           const char **text, struct buf *why)
{
    int64_t st;

    if (attr_check(l, op == PROXY_OP_OPEN ? open_reply_spec : lookup_reply_spec, 0, why) < 0)
        return -1;
    (void)attr_get_int(l, "status", &st);
    if (st < PROXY_STAT_OK || st > PROXY_STAT_BAD ||
        (op == PROXY_OP_OPEN && st == PROXY_STAT_NOKEY)) {
        buf_setf(why, "bad status %lld in reply to %s", (long long)st, op_name(op));
        return -1;
    }
    *status = (int)st;
    const char *reason = attr_get_str(l, "reason");
    if (op == PROXY_OP_LOOKUP && st == PROXY_STAT_OK)
        *text = attr_get_str(l, "value");
    else
        *text = reason != NULL ? reason : "";
    return 0;
}

/* ---- table names and proxy_read_maps --------------------------------------------------- */

/* table_syntax_ok - "type:name": a type of [a-z0-9_], no control characters,
 * not proxy: again. */
static int table_syntax_ok(const char *s, struct buf *why)
{
    const char *colon = strchr(s, ':');
    if (colon == NULL || colon == s) {
        buf_setf(why, "table name is not type:name");
        return 0;
    }
    for (const char *p = s; p < colon; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            buf_setf(why, "bad table type");
            return 0;
        }
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            buf_setf(why, "control character in table name");
            return 0;
        }
    }
    if ((size_t)(colon - s) == PROXY_PREFIX_LEN - 1 && strncmp(s, PROXY_PREFIX, colon - s) == 0) {
        buf_setf(why, "a proxy: table cannot be proxied again");
        return 0;
    }
    return 1;
}

const char *map_proxy_table_name(const char *table, struct buf *why)
{
    if (strlen(table) > PROXY_TABLE_MAX) {
        buf_setf(why, "table name longer than %d bytes", PROXY_TABLE_MAX);
        return NULL;
    }
    if (strncmp(table, PROXY_PREFIX, PROXY_PREFIX_LEN) == 0)
        table += PROXY_PREFIX_LEN;
    return table_syntax_ok(table, why) ? table : NULL;
}

struct argv *map_proxy_approved(const char *value)
{
    struct argv *out = argv_alloc();
    struct buf why = BUF_INIT;
    const char *p = value;

    for (;;) {
        p += strspn(p, LIST_SEPARATORS);
        if (*p == 0)
            break;
        const char *start = p;
        int depth = 0;
        /* a separator inside "{...}" belongs to the word (inline:{ a=b, c=d }) */
        for (; *p != 0; p++) {
            if (*p == '{')
                depth++;
            else if (*p == '}' && depth > 0)
                depth--;
            else if (depth == 0 && strchr(LIST_SEPARATORS, *p) != NULL)
                break;
        }
        char *word = xstrndup(start, (size_t)(p - start));
        const char *name = word;
        if (strncmp(name, PROXY_PREFIX, PROXY_PREFIX_LEN) == 0)
            name += PROXY_PREFIX_LEN;
        if (strlen(name) <= PROXY_TABLE_MAX && table_syntax_ok(name, &why) &&
            !map_proxy_is_approved(out, name))
            argv_add(out, name);
        free(word);
    }
    buf_free(&why);
    return out;
}

int map_proxy_is_approved(const struct argv *approved, const char *name)
{
    for (size_t i = 0; i < approved->argc; i++)
        if (strcmp(approved->argv[i], name) == 0)
            return 1;
    return 0;
}

/* ---- the client connection --------------------------------------------------------------- */

/* One connection per process, shared by every proxy: table. */
static struct {
    struct stream *s;
    pid_t pid;        /* who connected: a forked child must not share the stream */
    time_t last_used; /* for the ipc_idle check at the next request */
    int tables;       /* open proxy: tables; the last to close closes the connection */
} conn;

static void idle_close(void *unused);

void map_proxy_disconnect(void)
{
    if (conn.s == NULL)
        return;
    (void)event_timer_cancel(idle_close, NULL);
    (void)stream_close(conn.s);
    conn.s = NULL;
}

static void idle_close(void *unused)
{
    (void)unused;
    map_proxy_disconnect();
}

/* transact - send req and read the reply into rep. A connection that turns
 * out to be gone (EOF, reset: proxymap restarted, or it closed an idle
 * connection) is replaced once; a timeout is not retried. 0, or -1 + why. */
static int transact(const struct attr_list *req, struct attr_list *rep, struct buf *why)
{
    int timeout = (int)conf_time("ipc_timeout");
    long idle = conf_time("ipc_idle");
    struct buf err = BUF_INIT;

    if (conn.s != NULL && (conn.pid != getpid() || time(NULL) - conn.last_used > idle)) {
        if (conn.pid != getpid()) {
            /* the parent's stream: close our copy of the descriptor only */
            (void)close(stream_release(conn.s));
            conn.s = NULL;
        } else {
            map_proxy_disconnect();
        }
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (conn.s == NULL) {
            int fd = unix_connect(MAIL_SOCK_PROXYMAP, timeout);
            if (fd < 0 && errno == ENOENT) {
                /* Daemons run in the queue directory (or chroot into it);
                 * commands such as postmap run anywhere. */
                struct buf path = BUF_INIT;
                buf_setf(&path, "%s/%s", conf_str("queue_directory"), MAIL_SOCK_PROXYMAP);
                fd = unix_connect(path.data, timeout);
                buf_free(&path);
            }
            if (fd < 0) {
                buf_setf(why, "connect to %s: %s", MAIL_SOCK_PROXYMAP, strerror(errno));
                break;
            }
            conn.s = stream_open(fd, timeout);
            conn.pid = getpid();
            conn.last_used = time(NULL);
        }
        if (attr_write(conn.s, req) < 0) {
            buf_setf(why, "write to %s: %s", MAIL_SOCK_PROXYMAP,
                     strerror(conn.s->err ? conn.s->err : EIO));
        } else if (attr_read(conn.s, 0, rep, &err) == 0) {
            conn.last_used = time(NULL);
            /* processes that run the event loop drop the idle connection */
            event_timer(idle_close, NULL, (int)idle);
            buf_free(&err);
            return 0;
        } else {
            buf_setf(why, "read from %s: %s", MAIL_SOCK_PROXYMAP, buf_cstr(&err));
        }
        int timed_out = (conn.s->flags & STREAM_F_TIMEOUT) != 0;
        map_proxy_disconnect();
        if (timed_out) {
            buf_setf(why, "timeout after %ds waiting for %s", timeout, MAIL_SOCK_PROXYMAP);
            break;
        }
    }
    buf_free(&err);
    return -1;
}

/* add_reason - text from the server, made safe for a log line. */
static void add_reason(struct buf *out, const char *text)
{
    size_t n = strlen(text);
    if (n > PROXY_REASON_MAX)
        n = PROXY_REASON_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        buf_putc(out, c < 0x20 || c == 0x7f ? ' ' : c);
    }
    if (n == 0)
        buf_puts(out, "no reason given");
}

/* request - one round trip; the status, and the text (value or reason)
 * into text. -1 + why when there was no usable answer. */
static int request(struct map *m, enum map_proxy_op op, const char *key, struct buf *text,
                   struct buf *why)
{
    struct map_proxy_request r = {op, m->name, m->flags & PROXY_FLAGS_ALLOWED, key};
    struct attr_list req, rep;
    const char *t;
    int status = -1;

    attr_list_init(&req);
    attr_list_init(&rep);
    map_proxy_request_encode(&r, &req);
    if (transact(&req, &rep, why) < 0) {
        buf_reset(text);
    } else if (map_proxy_reply_decode(op, &rep, &status, &t, why) < 0) {
        map_proxy_disconnect(); /* a confused server: start afresh next time */
        status = -1;
    } else if (status == PROXY_STAT_OK && op == PROXY_OP_LOOKUP) {
        buf_set(text, t);
    } else {
        buf_reset(text);
        add_reason(text, t);
    }
    attr_list_free(&req);
    attr_list_free(&rep);
    return status;
}

/* ---- the proxy: table type -------------------------------------------------------------- */

static int proxy_open(struct map *m, struct buf *why)
{
    struct buf err = BUF_INIT, text = BUF_INIT;
    int rc = -1;

    if (strncmp(m->name, PROXY_PREFIX, PROXY_PREFIX_LEN) == 0) {
        buf_printf(why, "table %s: a proxy: table cannot be proxied again", m->spec);
        goto out;
    }
    if (map_proxy_table_name(m->name, &err) == NULL) {
        buf_printf(why, "table %s: %s", m->spec, buf_cstr(&err));
        goto out;
    }
    switch (request(m, PROXY_OP_OPEN, NULL, &text, &err)) {
    case PROXY_STAT_OK:
        conn.tables++;
        rc = 0;
        break;
    case PROXY_STAT_RETRY:
        buf_printf(why, "table %s: proxymap cannot open it: %s", m->spec, buf_cstr(&text));
        break;
    case PROXY_STAT_BAD:
        buf_printf(why, "table %s: refused by proxymap: %s", m->spec, buf_cstr(&text));
        break;
    default:
        buf_printf(why, "table %s: proxymap service unavailable: %s", m->spec, buf_cstr(&err));
        break;
    }
out:
    buf_free(&err);
    buf_free(&text);
    return rc;
}

static int proxy_lookup(struct map *m, const char *key, struct buf *value)
{
    struct buf err = BUF_INIT;
    int rc;

    if (strlen(key) > PROXY_KEY_MAX)
        return map_set_error(m, "table %s: key longer than %d bytes", m->spec, PROXY_KEY_MAX);
    switch (request(m, PROXY_OP_LOOKUP, key, value, &err)) {
    case PROXY_STAT_OK:
        rc = 1;
        break;
    case PROXY_STAT_NOKEY:
        rc = 0;
        break;
    case PROXY_STAT_RETRY:
        rc = map_set_error(m, "table %s: lookup failed in proxymap: %s", m->spec, buf_cstr(value));
        break;
    case PROXY_STAT_BAD:
        rc = map_set_error(m, "table %s: refused by proxymap: %s", m->spec, buf_cstr(value));
        break;
    default:
        rc =
            map_set_error(m, "table %s: proxymap service unavailable: %s", m->spec, buf_cstr(&err));
        break;
    }
    buf_free(&err);
    return rc;
}

static void proxy_close(struct map *m)
{
    (void)m;
    if (conn.tables > 0 && --conn.tables == 0)
        map_proxy_disconnect();
}

const struct map_ops map_proxy_ops = {
    .type = "proxy",
    .flags = MAP_OPS_NO_FOLD, /* proxymap folds, with the flags the client gave */
    .open = proxy_open,
    .lookup = proxy_lookup,
    .close = proxy_close,
};
