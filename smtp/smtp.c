/* smtp - the smtp(8) delivery agent, and lmtp(8) under its other name: a
 * single server on private/smtp (master.cf "smtp unix - - y - - smtp"),
 * chrooted as mail_owner in the queue directory.
 *
 * One delivery request per client (deliver_request.h): the next hop is
 * turned into addresses (smtp_addr.c: MX, A/AAAA, literals, UNIX sockets
 * for LMTP), servers are tried in order within smtp_mx_address_limit and
 * smtp_mx_session_limit, and the conversation (smtp_proto.c) decides each
 * recipient: 2xx delivered, 4xx deferred, 5xx bounced. Whoever is left
 * when every server failed is deferred with the last reason, and qmgr is
 * told the site failed (site_fail) so it throttles the destination. A
 * session that ended well goes to scache(8) for the next request to the
 * same next hop or server, in any smtp process (smtp_session.c). Recipients are settled as
 * mail_proto.h orders (deliver_settle): a recipient is marked done only after the server took it or
 * it was bounced, so nothing undelivered is ever dropped.
 */
#include "smtp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "conf/params.h"
#include "dns/dns.h"
#include "mail/deliver_settle.h"
#include "mail/mail_server.h"
#include "mail/queue_dirs.h"
#include "mail/smtp_cmd.h"
#include "util/alloc.h"
#include "util/msg.h"

struct smtp_conf smtp_conf;

/* The lmtp_ form of a parameter when the agent runs as lmtp and the table
 * has it, else the smtp_ form (Postfix keeps a full lmtp_ set; we add
 * them as they are needed). */
static const char *pname(const char *suffix)
{
    static char name[128];
    snprintf(name, sizeof(name), "%s_%s", smtp_conf.lmtp ? "lmtp" : "smtp", suffix);
    if (smtp_conf.lmtp && param_find(name) == NULL)
        snprintf(name, sizeof(name), "smtp_%s", suffix);
    return name;
}

static int ptime(const char *suffix, int dflt)
{
    long t = conf_time(pname(suffix));
    if (t <= 0)
        t = dflt;
    return t > 86400 ? 86400 : (int)t;
}

static struct tls_client_ctx *tls_ctx(const char *protocols, const char *ciphers)
{
    struct buf why = BUF_INIT;
    struct tls_client_params p = {
        .cert_file = conf_str(pname("tls_cert_file")),
        .key_file = conf_str(pname("tls_key_file")),
        .protocols = protocols,
        .ciphers = ciphers,
        .ca_file = conf_str(pname("tls_CAfile")),
        .ca_path = conf_str(pname("tls_CApath")),
    };
    struct tls_client_ctx *ctx = tls_client_ctx_create(&p, &why);
    if (ctx == NULL)
        msg_warn("TLS is unavailable to the %s client: %s", smtp_conf.proto, buf_cstr(&why));
    buf_free(&why);
    return ctx;
}

static void smtp_pre_init(const struct server_ctx *ctx)
{
    struct smtp_conf *c = &smtp_conf;
    struct buf why = BUF_INIT;
    const char *prog = strrchr(msg_progname(), '/');

    prog = prog ? prog + 1 : msg_progname();
    c->lmtp = strcmp(prog, "lmtp") == 0; /* the program's name decides, as in Postfix */
    (void)ctx;
    c->proto = c->lmtp ? "LMTP" : "SMTP";
    c->myhostname = conf_str("myhostname");
    c->helo_name = conf_str(c->lmtp ? "lmtp_lhlo_name" : "smtp_helo_name");
    c->connect_timeout = ptime("connect_timeout", 30);
    c->helo_timeout = ptime("helo_timeout", 300);
    c->mail_timeout = ptime("mail_timeout", 300);
    c->rcpt_timeout = ptime("rcpt_timeout", 300);
    c->data_init_timeout = ptime("data_init_timeout", 120);
    c->data_xfer_timeout = ptime("data_xfer_timeout", 180);
    c->data_done_timeout = ptime("data_done_timeout", 600);
    c->quit_timeout = ptime("quit_timeout", 300);
    c->starttls_timeout = ptime("starttls_timeout", 300);
    c->mx_address_limit = conf_int(pname("mx_address_limit"));
    c->mx_session_limit = conf_int(pname("mx_session_limit"));
    long ll = conf_int(pname("line_length_limit"));
    c->line_length_limit = ll > 0 ? (size_t)ll : 0;
    c->skip_5xx_greeting = conf_bool(pname("skip_5xx_greeting"));
    c->never_send_ehlo = conf_bool(pname("never_send_ehlo"));
    const char *inet = conf_str("inet_protocols");
    c->use_ipv4 = strcasestr(inet, "all") || strcasestr(inet, "ipv4");
    c->use_ipv6 = strcasestr(inet, "all") || strcasestr(inet, "ipv6");
    if (!c->use_ipv4 && !c->use_ipv6)
        c->use_ipv4 = 1;
    c->prefer_ipv6 = strcasecmp(conf_str(pname("address_preference")), "ipv6") == 0;
    c->host_lookup_native = strcasestr(conf_str(pname("host_lookup")), "native") != NULL;
    c->bind4 = conf_str(pname("bind_address"));
    c->bind6 = conf_str(pname("bind_address6"));
    c->cache_time_limit = (int)conf_time(pname("connection_cache_time_limit"));
    c->reuse_time_limit = (int)conf_time(pname("connection_reuse_time_limit"));
    c->reuse_count_limit = conf_int(pname("connection_reuse_count_limit"));

    /* Before the chroot: the tables, the CA files, and resolv.conf. */
    c->tls_level = conf_str(pname("tls_security_level"));
    if (*c->tls_level == 0 && !c->lmtp)
        c->tls_level = "may"; /* opportunistic by default (issue 6) */
    c->tls_policy_maps = xcalloc(1, sizeof(*c->tls_policy_maps));
    if (maps_open(c->tls_policy_maps, pname("tls_policy_maps"), conf_str(pname("tls_policy_maps")),
                  MAP_FOLD_CASE, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    c->tls_ctx = tls_ctx(conf_str(pname("tls_protocols")), conf_str(pname("tls_ciphers")));
    c->tls_ctx_mandatory = tls_ctx(conf_str(pname("tls_mandatory_protocols")),
                                   conf_str(pname("tls_mandatory_ciphers")));
    c->sasl_enable = conf_bool(pname("sasl_auth_enable"));
    c->sasl_opts = conf_str(pname("sasl_security_options"));
    c->sasl_tls_opts = conf_str(pname("sasl_tls_security_options"));
    c->sasl_maps = xcalloc(1, sizeof(*c->sasl_maps));
    if (maps_open(c->sasl_maps, pname("sasl_password_maps"), conf_str(pname("sasl_password_maps")),
                  MAP_FOLD_CASE, &why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    if (dns_init(&why) < 0)
        msg_warn("%s", buf_cstr(&why));
    smtp_own_addrs_init();
    buf_free(&why);
}

void smtp_fail_set(struct smtp_state *st, int status, const char *dsn, const char *mta,
                   const char *diag, const char *fmt, ...)
{
    va_list ap;
    st->fail_status = status;
    snprintf(st->fail_dsn, sizeof(st->fail_dsn), "%s", dsn);
    va_start(ap, fmt);
    buf_reset(&st->fail_reason);
    buf_vprintf(&st->fail_reason, fmt, ap);
    va_end(ap);
    snprintf(st->fail_mta, sizeof(st->fail_mta), "%s", mta ? mta : "");
    buf_set(&st->fail_diag, diag ? diag : "");
    /* Postfix: a failure after the connection was made names the server */
    snprintf(st->fail_relay, sizeof(st->fail_relay), "%s", st->cur ? st->cur->relay : "");
}

void smtp_rcpt_decide(struct smtp_state *st, size_t i, int status, const char *dsn,
                      const struct smtp_sess *ss, const struct smtp_resp *r, const char *fmt, ...)
{
    struct buf text = BUF_INIT, diag = BUF_INIT;
    struct deliver_result *res = &st->res[i];
    va_list ap;

    if (st->final[i])
        return;
    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    deliver_result_set(res, status, dsn, "%s", buf_cstr(&text));
    if (r != NULL && r->code > 0)
        buf_printf(&diag, "smtp; %s", buf_cstr(&r->text));
    deliver_result_remote(res, ss ? ss->host : NULL, diag.len ? diag.data : NULL);
    if (status == DELIVER_OK) {
        if (ss && (ss->ehlo.features & SMTP_EXT_DSN) &&
            (st->req->rcpt[i].notify & SMTP_NOTIFY_SUCCESS))
            res->action = DELIVER_ACT_PASSED_ON;
        else
            res->action = smtp_conf.lmtp ? DELIVER_ACT_DELIVERED : DELIVER_ACT_RELAYED;
    }
    snprintf(st->relay[i], sizeof(st->relay[i]), "%s", ss ? ss->relay : "none");
    st->final[i] = 1;
    buf_free(&text);
    buf_free(&diag);
}

static size_t pending(const struct smtp_state *st)
{
    size_t n = 0;
    for (size_t i = 0; i < st->req->rcpt_count; i++)
        n += !st->final[i];
    return n;
}

/* decide_rest - every undecided recipient gets the last failure. */
static void decide_rest(struct smtp_state *st)
{
    for (size_t i = 0; i < st->req->rcpt_count; i++) {
        if (st->final[i])
            continue;
        deliver_result_set(&st->res[i], st->fail_status, st->fail_dsn, "%s",
                           buf_cstr(&st->fail_reason));
        if (st->fail_mta[0] || st->fail_diag.len)
            deliver_result_remote(&st->res[i], st->fail_mta[0] ? st->fail_mta : NULL,
                                  st->fail_diag.len ? st->fail_diag.data : NULL);
        snprintf(st->relay[i], sizeof(st->relay[i]), "%s",
                 st->fail_relay[0] ? st->fail_relay : "none");
        st->final[i] = 1;
    }
}

/* scan_content - size and 8-bit content of the message (one pass over
 * the queue file; the conversation reads it again). */
static int scan_content(struct smtp_state *st, struct buf *why)
{
    struct buf data = BUF_INIT;
    int type, rc;
    off_t off;

    st->size = 0;
    st->eightbit = 0;
    while ((rc = qf_read(st->qf, &type, &data, &off, why)) > 0) {
        if (type != QF_CONTENT)
            continue;
        st->size += (long long)data.len;
        if (!st->eightbit)
            st->eightbit = smtp_content_8bit(data.data, data.len);
    }
    buf_free(&data);
    if (rc == 0 && qf_rewind(st->qf) < 0) {
        buf_setf(why, "cannot rewind queue file: %m");
        rc = -1;
    }
    return rc;
}

/* session_done - after a transaction: a session that is fit for another
 * one goes to scache (before qmgr hears from us: smtp_service answers
 * qmgr after deliver returns), anything else ends. */
static void session_done(struct smtp_state *st, struct smtp_sess *ss, enum smtp_fail rc)
{
    st->cur = NULL;
    if (rc == SMTP_OK && pending(st) == 0 && smtp_conf.cache_time_limit > 0 && ss->tls == NULL &&
        smtp_session_rset(ss) == 0) {
        smtp_cache_put(ss);
        return;
    }
    smtp_session_end(ss, 1);
}

/* use_cached - one transaction on a session from scache. -1 when the
 * session turned out dead before the server answered anything (its idle
 * timeout raced us): nothing was decided, and the caller goes on as if
 * there had been no cached session; else the outcome. */
static int use_cached(struct smtp_state *st, struct smtp_sess *ss, enum smtp_fail *rc)
{
    long before = st->mail_replies;

    st->cur = ss;
    ss->uses++;
    *rc = smtp_transaction(st, ss);
    if (*rc == SMTP_SITE_TEMP && st->mail_replies == before) {
        if (msg_verbose)
            msg_info("%s: cached connection to %s was dead; using a new one", st->req->queue_id,
                     ss->relay);
        st->cur = NULL;
        smtp_session_end(ss, 0);
        return -1;
    }
    session_done(st, ss, *rc);
    return 0;
}

static void endp_label(const struct smtp_addr *a, const char *service, struct smtp_state *st,
                       char *out, size_t size)
{
    if (a->sa.ss_family == AF_UNSPEC)
        snprintf(out, size, "%s:unix:%s:%d", service, a->path, (int)st->tls.level);
    else
        snprintf(out, size, "%s:[%s]:%u:%d", service, a->text, a->port, (int)st->tls.level);
}

/* try_server - one server: a cached session to its address, or connect
 * and open the session (again in plaintext when TLS at level may failed),
 * then run the transaction. Returns the outcome; *greeted says whether a
 * server answered (counts against the session limit). */
static enum smtp_fail try_server(struct smtp_state *st, const struct smtp_addr *a,
                                 const char *service, const char *key, int *greeted)
{
    struct buf why = BUF_INIT;
    enum smtp_fail rc = SMTP_SITE_TEMP;
    char endp[1100];

    endp_label(a, service, st, endp, sizeof(endp));
    struct smtp_sess *cached = smtp_cache_take(endp);
    if (cached != NULL && use_cached(st, cached, &rc) == 0) {
        *greeted = 1;
        buf_free(&why);
        return rc;
    }
    for (int plain = 0; plain < 2; plain++) {
        struct smtp_sess *ss = xcalloc(1, sizeof(*ss));
        ss->s = smtp_connect(a, &why);
        if (ss->s == NULL) {
            /* Postfix logs every failed attempt, without a queue ID */
            msg_info("%s", buf_cstr(&why));
            smtp_fail_set(st, DELIVER_DEFER, "4.4.1", NULL, NULL, "%s", buf_cstr(&why));
            free(ss);
            rc = SMTP_SITE_TEMP;
            break;
        }
        snprintf(ss->host, sizeof(ss->host), "%s", a->host);
        snprintf(ss->addr, sizeof(ss->addr), "%s", a->text);
        if (a->sa.ss_family == AF_UNSPEC) {
            snprintf(ss->relay, sizeof(ss->relay), "%.200s[%.120s]", a->host, a->path);
            snprintf(ss->name, sizeof(ss->name), "%.200s[%.120s]", a->host, a->path);
        } else {
            snprintf(ss->relay, sizeof(ss->relay), "%.255s[%.63s]:%u", a->host, a->text, a->port);
            snprintf(ss->name, sizeof(ss->name), "%.255s[%.63s]", a->host, a->text);
        }
        snprintf(ss->key, sizeof(ss->key), "%s", key);
        snprintf(ss->endp, sizeof(ss->endp), "%s", endp);
        ss->born = time(NULL);
        *greeted = 1;
        st->cur = ss;
        rc = smtp_session_open(st, ss, plain);
        if (rc == SMTP_TLS_RETRY) {
            msg_info("%s: TLS with %s failed; trying again without TLS", st->req->queue_id,
                     ss->relay);
            st->cur = NULL;
            smtp_session_end(ss, 0);
            continue;
        }
        if (rc == SMTP_OK) {
            ss->uses++;
            rc = smtp_transaction(st, ss);
        }
        session_done(st, ss, rc);
        break;
    }
    buf_free(&why);
    return rc;
}

static void deliver(struct smtp_state *st, const char *service)
{
    char key[1100];
    struct smtp_addr *list = NULL;
    enum smtp_fail rc;
    long addrs = 0, sessions = 0;

    snprintf(key, sizeof(key), "%s:%s:%d", service, st->req->nexthop,
             st->tls_policy_ok ? (int)st->tls.level : -1);

    /* A cached session to the same next hop first, before any DNS. */
    struct smtp_sess *ss = smtp_cache_take(key);
    if (ss != NULL && use_cached(st, ss, &rc) == 0) {
        if (rc == SMTP_ALL_TEMP || rc == SMTP_ALL_BOUNCE || pending(st) == 0) {
            decide_rest(st);
            return;
        }
    }

    if ((rc = smtp_addr_list(st, &list)) != SMTP_OK) {
        decide_rest(st);
        return;
    }
    for (struct smtp_addr *a = list; a != NULL && pending(st) > 0; a = a->next) {
        int greeted = 0;
        if (smtp_conf.mx_address_limit > 0 && addrs >= smtp_conf.mx_address_limit)
            break;
        if (smtp_conf.mx_session_limit > 0 && sessions >= smtp_conf.mx_session_limit)
            break;
        addrs++;
        rc = try_server(st, a, service, key, &greeted);
        sessions += greeted;
        if (rc == SMTP_ALL_TEMP || rc == SMTP_ALL_BOUNCE)
            break;
    }
    smtp_addr_free(list);
    decide_rest(st);
}

static void smtp_service(struct stream *client, const struct server_ctx *ctx)
{
    struct deliver_request req;
    struct smtp_state st;
    struct buf why = BUF_INIT, path = BUF_INIT;
    int site_fail = 0;

    memset(&st, 0, sizeof(st));
    deliver_request_init(&req);
    if (deliver_request_read(client, &req, &why) < 0) {
        msg_warn("bad delivery request: %s", buf_cstr(&why));
        goto out;
    }
    st.req = &req;
    st.res = xcalloc(req.rcpt_count, sizeof(*st.res));
    st.final = xcalloc(req.rcpt_count, sizeof(*st.final));
    st.relay = xcalloc(req.rcpt_count, sizeof(*st.relay));
    smtp_fail_set(&st, DELIVER_DEFER, "4.4.1", NULL, NULL, "no server was reachable");

    if (queue_path(req.queue_dir, req.queue_id, 0, &path, &why) < 0 ||
        (st.qf = qf_open(path.data, 1, &why)) == NULL) {
        msg_warn("%s: %s", req.queue_id, buf_cstr(&why));
        smtp_fail_set(&st, DELIVER_DEFER, "4.3.0", NULL, NULL, "cannot open queue file");
        st.local_fail = 1;
    } else if (scan_content(&st, &why) < 0) {
        msg_warn("%s: %s", req.queue_id, buf_cstr(&why));
        smtp_fail_set(&st, DELIVER_DEFER, "4.3.0", NULL, NULL, "queue file read error");
        st.local_fail = 1;
    } else if (smtp_nexthop_parse(req.nexthop, smtp_conf.lmtp, &st.nh, &why) < 0) {
        msg_warn("%s: %s", req.queue_id, buf_cstr(&why));
        smtp_fail_set(&st, DELIVER_DEFER, "4.3.5", NULL, NULL, "%s", buf_cstr(&why));
    } else {
        st.smtputf8 = smtp_needs_utf8(req.sender);
        for (size_t i = 0; i < req.rcpt_count; i++)
            st.smtputf8 |= smtp_needs_utf8(req.rcpt[i].address);
        if (st.nh.path[0]) {
            st.tls.level = SMTP_TLS_NONE; /* a local socket */
            st.tls_policy_ok = 1;
        } else if (smtp_tls_policy_find(smtp_conf.tls_policy_maps, req.nexthop, st.nh.host,
                                        smtp_conf.tls_level, &st.tls, &why) < 0) {
            msg_warn("%s: %s", req.queue_id, buf_cstr(&why));
            smtp_fail_set(&st, DELIVER_DEFER, "4.7.5", NULL, NULL,
                          "mail for %s deferred: invalid TLS policy", req.nexthop);
        } else {
            st.tls_policy_ok = 1;
        }
        if (st.tls_policy_ok)
            deliver(&st, ctx->service ? ctx->service : "smtp");
    }
    decide_rest(&st);

    /* Postfix's hop status: the site failed when no server took part in a
     * transaction and everyone is deferred. */
    site_fail = !st.any_reply && !st.local_fail;
    for (size_t i = 0; i < req.rcpt_count; i++)
        if (st.res[i].status != DELIVER_DEFER)
            site_fail = 0;
    for (size_t i = 0; i < req.rcpt_count; i++) {
        (void)deliver_settle(&req, &req.rcpt[i], st.qf, &st.res[i]);
        deliver_log(&req, &req.rcpt[i], st.relay[i], &st.res[i]);
    }
    if (deliver_reply_write(client, &req, st.res, site_fail) < 0)
        msg_warn("%s: cannot send the delivery reply: %s", req.queue_id, strerror(errno));
out:
    if (st.qf)
        qf_close(st.qf);
    if (st.res)
        deliver_result_free(st.res, req.rcpt_count);
    free(st.res);
    free(st.final);
    free(st.relay);
    if (st.tls_policy_ok && !st.nh.path[0])
        smtp_tls_policy_free(&st.tls);
    buf_free(&st.fail_reason);
    buf_free(&st.fail_diag);
    deliver_request_free(&req);
    buf_free(&why);
    buf_free(&path);
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.pre_init = smtp_pre_init;
    ops.service = smtp_service;
    return single_server_main(argc, argv, &ops);
}
