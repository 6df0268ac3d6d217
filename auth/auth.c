/* auth - the authentication service (Dovecot's auth, Postfix's SASL
 * back end): the one process that reads password data.
 *
 * A multi server on private/auth (master.cf "auth unix - n n - 1 auth").
 * It starts as root, and before it serves anyone it becomes auth_owner
 * with that account's group and the "shadow" group (when the system has
 * one, for /etc/shadow), all capabilities gone and no_new_privs set.
 *
 * Each connection carries one SASL authentication (mail/auth_client.h has
 * the protocol): the greeting lists the mechanisms, then "start" and at
 * most two "continue" requests run a PLAIN or LOGIN exchange
 * (lib/auth/sasl_mech.c), and the credentials go to the backends of
 * auth_passdb in order until one knows the user. A client that sends
 * anything else, or sends before it has its reply, is disconnected.
 *
 * Failures are answered late: auth_failure_delay, doubled for each recent
 * failure of the same client address (lib/auth/fail_table.c) up to 8
 * times, with an event timer so that other clients are served meanwhile.
 * The counts live in this process, which therefore neither exits when idle
 * nor after max_use clients.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "auth_backend.h"
#include "auth/fail_table.h"
#include "auth/pw_scheme.h"
#include "auth/sasl_mech.h"
#include "conf/mail_conf.h"
#include "mail/attr.h"
#include "mail/auth_client.h"
#include "mail/mail_server.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/events.h"
#include "util/msg.h"

_Static_assert(SASL_WIRE_MAX == AUTH_LINE_MAX, "SASL and auth_client line limits differ");

#define MAX_CLIENTS    1024                   /* connections at once */
#define MSG_MAX        (AUTH_LINE_MAX + 4096) /* one request, all attributes */
#define FAIL_MAX       4096                   /* client addresses with recent failures */
#define FAIL_FORGET    600                    /* seconds without failure until forgotten */
#define SERVICE_MAX    16
#define ADDR_MAX       64
#define NAME_MAX_LEN   255
#define WRITE_TIMEOUT  30
#define MAX_DELAY_BASE 3600

enum conn_state { C_START, C_CONTINUE, C_DELAY };

struct conn {
    struct stream *s;
    struct buf in; /* bytes of a request not yet complete */
    enum conn_state state;
    struct sasl_exchange x;
    char service[SERVICE_MAX + 1];
    char addr[ADDR_MAX + 1];
    struct buf fail_reason; /* the reply reason of a delayed failure */
};

static enum sasl_mech_id mechs[4];
static int mech_count;
static char *mech_list; /* "PLAIN LOGIN" */
static struct auth_backend **backends;
static size_t backend_count;
static long failure_delay;
static int step_timeout;
static struct fail_table *failures;
static int conn_count;

/* ---- configuration -------------------------------------------------- */

static void parse_mechanisms(void)
{
    struct argv *a = argv_split(conf_str("auth_mechanisms"), ", \t");
    struct buf list = BUF_INIT;
    for (size_t i = 0; i < a->argc; i++) {
        enum sasl_mech_id id = sasl_mech_by_name(a->argv[i]);
        if (id == SASL_MECH_NONE)
            msg_fatal("auth_mechanisms: unknown mechanism %s (known: plain, login)", a->argv[i]);
        int dup = 0;
        for (int k = 0; k < mech_count; k++)
            dup |= mechs[k] == id;
        if (dup)
            continue;
        mechs[mech_count++] = id;
        buf_printf(&list, "%s%s", list.len ? " " : "", sasl_mech_name(id));
    }
    argv_free(a);
    if (mech_count == 0)
        msg_fatal("auth_mechanisms: no mechanism configured");
    mech_list = buf_steal(&list);
}

static void parse_passdb(void)
{
    struct argv *a = argv_split(conf_str("auth_passdb"), ", \t");
    backends = xcalloc(a->argc ? a->argc : 1, sizeof(*backends));
    for (size_t i = 0; i < a->argc; i++) {
        const char *spec = a->argv[i];
        if (strcmp(spec, "system") == 0) {
            backends[backend_count++] = auth_system_create(conf_int("auth_minimum_uid"));
        } else if (strncmp(spec, "passwd-file:", 12) == 0) {
            if (spec[12] != '/')
                msg_fatal("auth_passdb: %s: the passwd-file path must be absolute", spec);
            backends[backend_count++] = auth_passwd_file_create(spec + 12);
        } else {
            msg_fatal("auth_passdb: unknown backend %s (known: system, passwd-file:/path)", spec);
        }
    }
    argv_free(a);
    if (backend_count == 0)
        msg_fatal("auth_passdb: no password backend configured");
}

/* become_owner - auth_owner, its group and the shadow group */
static void become_owner(void)
{
    const char *owner = conf_str("auth_owner");
    if (getuid() != 0) {
        msg_warn("not started as root: running as user ID %ld, not as auth_owner %s "
                 "(development only)",
                 (long)getuid(), owner);
        return;
    }
    struct passwd *pw = getpwnam(owner);
    if (pw == NULL)
        msg_fatal("auth_owner: unknown account %s (create it, or set auth_owner in main.cf)",
                  owner);
    if (pw->pw_uid == 0)
        msg_fatal("auth_owner: %s must not have user ID 0", owner);
    gid_t extra[1];
    int n = 0;
    struct group *gr = getgrnam("shadow");
    if (gr != NULL && gr->gr_gid != 0)
        extra[n++] = gr->gr_gid;
    pid_t parent = getppid();
    server_drop_privileges_groups(owner, NULL, extra, n);
    /* A change of user clears the parent-death signal the skeleton set. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) < 0)
        msg_fatal("prctl(PR_SET_PDEATHSIG): %m");
    if (getppid() != parent)
        msg_fatal("master went away during start-up");
}

static void auth_pre_init(const struct server_ctx *ctx)
{
    (void)ctx;
    parse_mechanisms();
    parse_passdb();
    failure_delay = conf_time("auth_failure_delay");
    if (failure_delay > MAX_DELAY_BASE)
        failure_delay = MAX_DELAY_BASE;
    long t = conf_time("ipc_timeout");
    step_timeout = t > 0 && t < 86400 ? (int)t : 3600;
}

/* The skeleton changes to queue_directory between pre_init and post_init,
 * as root; auth gives up root right after, before it serves anyone. */
static void auth_post_init(const struct server_ctx *ctx)
{
    (void)ctx;
    become_owner();
    failures = fail_table_create(FAIL_MAX, FAIL_FORGET);
    auth_dummy_init();
    for (size_t i = 0; i < backend_count; i++)
        if (backends[i]->refresh)
            backends[i]->refresh(backends[i]);
}

/* ---- connections ---------------------------------------------------- */

static long now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

static void conn_idle(void *ctx);
static void conn_send_fail(void *ctx);

static void conn_close(struct conn *c)
{
    event_timer_cancel(conn_idle, c);
    event_timer_cancel(conn_send_fail, c);
    sasl_exchange_free(&c->x);
    buf_free(&c->in);
    buf_free(&c->fail_reason);
    multi_server_disconnect(c->s);
    free(c);
    conn_count--;
}

static void conn_idle(void *ctx)
{
    struct conn *c = ctx;
    msg_warn("client timed out in the middle of an authentication");
    conn_close(c);
}

/* reply - send one verdict; -1 when the client is gone */
static int reply(struct conn *c, int status, const char *name, const char *value)
{
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "status", status);
    if (name)
        attr_add_str(&l, name, value);
    int rc = attr_write(c->s, &l);
    attr_list_free(&l);
    return rc;
}

static const char *user_of(const struct conn *c)
{
    return c->x.authcid.len ? c->x.authcid.data : "";
}

static void conn_send_fail(void *ctx)
{
    struct conn *c = ctx;
    (void)reply(c, AUTH_FAIL, "reason", buf_cstr(&c->fail_reason));
    conn_close(c);
}

/* failure - log now, answer after the delay this client has earned */
static void failure(struct conn *c, const char *log_reason, const char *reply_reason)
{
    unsigned n = fail_table_failure(failures, c->addr, now_mono());
    long delay = fail_table_delay(failure_delay, n);
    msg_warn("%s: authentication failed: user=<%s>, method=%s, rip=%s, reason=%s", c->service,
             user_of(c), sasl_mech_name(c->x.mech), c->addr, log_reason);
    buf_set(&c->fail_reason, reply_reason);
    sasl_exchange_free(&c->x); /* the password is of no use any more */
    c->state = C_DELAY;
    event_timer_cancel(conn_idle, c);
    event_timer(conn_send_fail, c, (int)delay);
}

static void success(struct conn *c)
{
    fail_table_success(failures, c->addr);
    msg_info("%s: user=<%s>, method=%s, rip=%s", c->service, user_of(c), sasl_mech_name(c->x.mech),
             c->addr);
    (void)reply(c, AUTH_OK, "user", user_of(c));
    conn_close(c);
}

/* check_credentials - the backends in order; the first that knows decides */
static void check_credentials(struct conn *c)
{
    const char *user = c->x.authcid.data;
    const char *password = c->x.passwd.data;
    struct buf reason = BUF_INIT;
    for (size_t i = 0; i < backend_count; i++) {
        buf_reset(&reason);
        switch (backends[i]->verify(backends[i], user, password, &reason)) {
        case AUTH_V_OK:
            buf_free(&reason);
            success(c);
            return;
        case AUTH_V_FAIL:
            failure(c, buf_cstr(&reason), "authentication failure");
            buf_free(&reason);
            return;
        case AUTH_V_TEMP:
            msg_warn("%s: authentication not possible: user=<%s>, method=%s, rip=%s, reason=%s",
                     c->service, user, sasl_mech_name(c->x.mech), c->addr, buf_cstr(&reason));
            (void)reply(c, AUTH_ERROR, "reason", "temporary authentication failure");
            buf_free(&reason);
            conn_close(c);
            return;
        case AUTH_V_UNKNOWN:
            break;
        }
    }
    buf_free(&reason);
    auth_dummy_verify(password);
    failure(c, "unknown user", "authentication failure");
}

/* proceed - act on what the exchange said */
static void proceed(struct conn *c, enum sasl_result r, const struct buf *challenge,
                    const struct buf *why)
{
    switch (r) {
    case SASL_CONTINUE:
        if (reply(c, AUTH_CONTINUE, "challenge", buf_cstr(challenge)) < 0) {
            conn_close(c);
            return;
        }
        c->state = C_CONTINUE;
        event_timer(conn_idle, c, step_timeout);
        return;
    case SASL_DONE:
        check_credentials(c);
        return;
    case SASL_FAIL:
        failure(c, buf_cstr(why), buf_cstr(why));
        return;
    }
}

/* text_ok - 1..max bytes of printable ASCII without spaces */
static int text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

static int service_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SERVICE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int mech_enabled(enum sasl_mech_id id)
{
    for (int i = 0; i < mech_count; i++)
        if (mechs[i] == id)
            return 1;
    return 0;
}

static const struct attr_spec start_spec[] = {
    {"request", ATTR_STR, 1},     {"service", ATTR_STR, 1},
    {"mechanism", ATTR_STR, 1},   {"client_addr", ATTR_STR, 1},
    {"client_name", ATTR_STR, 1}, {"secured", ATTR_INT, 1},
    {"response", ATTR_STR, 1},    ATTR_SPEC_END};

static const struct attr_spec continue_spec[] = {
    {"request", ATTR_STR, 1}, {"response", ATTR_STR, 1}, ATTR_SPEC_END};

/* handle - one complete request; -1 means: disconnect (logged) */
static int handle(struct conn *c, const struct attr_list *l)
{
    struct buf why = BUF_INIT, challenge = BUF_INIT;
    int rc = -1;
    const struct attr *resp;

    if (c->state == C_START) {
        if (attr_check(l, start_spec, 0, &why) < 0) {
            msg_warn("bad start request: %s", buf_cstr(&why));
            goto out;
        }
        const char *service = attr_get_str(l, "service");
        const char *addr = attr_get_str(l, "client_addr");
        const char *name = attr_get_str(l, "client_name");
        int64_t secured;
        if (strcmp(attr_get_str(l, "request"), "start") != 0 || !service_ok(service) ||
            !text_ok(addr, ADDR_MAX) || !text_ok(name, NAME_MAX_LEN) ||
            attr_get_int(l, "secured", &secured) < 0 || (secured != 0 && secured != 1)) {
            msg_warn("bad start request: malformed attribute values");
            goto out;
        }
        memcpy(c->service, service, strlen(service) + 1);
        memcpy(c->addr, addr, strlen(addr) + 1);
        const char *mech = attr_get_str(l, "mechanism");
        enum sasl_mech_id id = sasl_mech_by_name(mech);
        if (id == SASL_MECH_NONE || !mech_enabled(id)) {
            /* no password was tried: refuse at once */
            msg_warn("%s: unsupported mechanism from rip=%s", c->service, c->addr);
            (void)reply(c, AUTH_FAIL, "reason", "unsupported authentication mechanism");
            conn_close(c);
            rc = 0;
            goto out;
        }
        sasl_exchange_init(&c->x, id);
        resp = attr_get(l, "response");
        proceed(c, sasl_exchange_start(&c->x, resp->val, resp->len, &challenge, &why), &challenge,
                &why);
        rc = 0;
    } else if (c->state == C_CONTINUE) {
        if (attr_check(l, continue_spec, 0, &why) < 0 ||
            strcmp(attr_get_str(l, "request"), "continue") != 0) {
            msg_warn("%s: bad continue request from rip=%s: %s", c->service, c->addr,
                     why.len ? buf_cstr(&why) : "not a continue request");
            goto out;
        }
        event_timer_cancel(conn_idle, c);
        resp = attr_get(l, "response");
        proceed(c, sasl_exchange_step(&c->x, resp->val, resp->len, &challenge, &why), &challenge,
                &why);
        rc = 0;
    }
out:
    buf_free(&why);
    buf_free(&challenge);
    return rc;
}

static void conn_input(int fd, void *ctx)
{
    struct conn *c = ctx;
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        /* gone: during a delay that is normal (smtpd's client left) */
        if (c->state != C_DELAY && msg_verbose)
            msg_info("client disconnected in the middle of an authentication");
        conn_close(c);
        return;
    }
    if (c->state == C_DELAY) {
        msg_warn("%s: request from rip=%s before its reply: disconnected", c->service, c->addr);
        conn_close(c);
        return;
    }
    if (c->in.len + (size_t)n > MSG_MAX) {
        msg_warn("request longer than %d bytes: disconnected", MSG_MAX);
        conn_close(c);
        return;
    }
    buf_append(&c->in, chunk, (size_t)n);

    struct attr_list l;
    struct buf why = BUF_INIT;
    size_t used = 0;
    attr_list_init(&l);
    int r = attr_decode(c->in.data, c->in.len, MSG_MAX, &l, &used, &why);
    if (r < 0) {
        msg_warn("malformed request: %s: disconnected", buf_cstr(&why));
        conn_close(c);
    } else if (r > 0 && used != c->in.len) {
        /* one request, then wait for its reply: no pipelining */
        msg_warn("request sent before the reply to the previous one: disconnected");
        conn_close(c);
    } else if (r > 0) {
        buf_reset(&c->in);
        if (handle(c, &l) < 0)
            conn_close(c);
    }
    attr_list_free(&l);
    buf_free(&why);
}

static void auth_connect(struct stream *s, const struct server_ctx *ctx)
{
    (void)ctx;
    if (conn_count >= MAX_CLIENTS) {
        msg_warn("too many clients at once (%d): connection refused", MAX_CLIENTS);
        multi_server_disconnect(s);
        return;
    }
    struct conn *c = xcalloc(1, sizeof(*c));
    c->s = s;
    c->state = C_START;
    buf_init(&c->in);
    buf_init(&c->fail_reason);
    sasl_exchange_init(&c->x, SASL_MECH_NONE);
    memcpy(c->service, "unknown", 8);
    memcpy(c->addr, "unknown", 8);
    conn_count++;
    struct attr_list l;
    attr_list_init(&l);
    attr_add_str(&l, "mechanisms", mech_list);
    int rc = attr_write(s, &l);
    attr_list_free(&l);
    if (rc < 0) {
        conn_close(c);
        return;
    }
    event_read(s->fd, conn_input, c);
    event_timer(conn_idle, c, step_timeout);
}

int main(int argc, char **argv)
{
    static const struct server_ops ops = {
        .pre_init = auth_pre_init,
        .post_init = auth_post_init,
        .connect = auth_connect,
        .flags = SERVER_FLAG_IGNORE_IDLE | SERVER_FLAG_UNLIMITED_USE,
        .client_timeout = WRITE_TIMEOUT,
    };
    return multi_server_main(argc, argv, &ops);
}
