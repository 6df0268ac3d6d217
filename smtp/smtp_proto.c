/* smtp_proto - the conversation with one server (RFC 5321, RFC 2033 for
 * LMTP): connect, greeting, EHLO/LHLO with HELO fallback, STARTTLS per the
 * TLS policy (RFC 3207), AUTH (RFC 4954), then MAIL/RCPT/DATA, pipelined
 * when the server offers PIPELINING (RFC 2920), with SIZE (RFC 1870),
 * BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and DSN (RFC 3461)
 * parameters. Every reply is read with smtp_reply_read (bounded, timed).
 *
 * Failures of the server as a whole (lost connection, timeout, garbage, a
 * 4xx greeting) leave the undecided recipients for the next server;
 * per-recipient replies decide recipients for good (2xx sent, 4xx
 * deferred, 5xx bounced). The reasons follow Postfix's wording: "host
 * H[A] said: 550 5.1.1 ... (in reply to RCPT TO command)", "lost
 * connection with H[A] while sending RCPT TO", "conversation with H[A]
 * timed out while receiving the initial server greeting".
 */
#include "smtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/sasl_client.h"
#include "mail/smtp_cmd.h"
#include "util/alloc.h"
#include "util/iostuff.h"
#include "util/msg.h"
#include "util/sock.h"

/* ---- connecting ----------------------------------------------------------- */

static int bind_local(int fd, int family, struct buf *why)
{
    const char *addr = family == AF_INET ? smtp_conf.bind4 : smtp_conf.bind6;
    struct sockaddr_storage ss;
    socklen_t len;

    if (addr == NULL || *addr == 0)
        return 0;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        len = sizeof(*sin);
        if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
            buf_setf(why, "bad smtp_bind_address: %s", addr);
            return -1;
        }
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        len = sizeof(*sin6);
        if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1) {
            buf_setf(why, "bad smtp_bind_address6: %s", addr);
            return -1;
        }
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
        buf_setf(why, "bind %s: %m", addr);
        return -1;
    }
    return 0;
}

struct stream *smtp_connect(const struct smtp_addr *a, struct buf *why)
{
    int fd;

    if (a->sa.ss_family == AF_UNSPEC) {
        fd = unix_connect(a->path, smtp_conf.connect_timeout);
        if (fd < 0) {
            buf_setf(why, "connect to %s[%s]: %m", a->host, a->path);
            return NULL;
        }
        return stream_open(fd, smtp_conf.helo_timeout);
    }
    int family = a->sa.ss_family;
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        buf_setf(why, "connect to %s[%s]:%u: socket: %m", a->host, a->text, a->port);
        return NULL;
    }
    struct buf bwhy = BUF_INIT;
    if (bind_local(fd, family, &bwhy) < 0) {
        buf_setf(why, "connect to %s[%s]:%u: %s", a->host, a->text, a->port, buf_cstr(&bwhy));
        buf_free(&bwhy);
        close(fd);
        return NULL;
    }
    buf_free(&bwhy);
    if (connect(fd, (const struct sockaddr *)&a->sa, len) < 0) {
        int err = errno;
        if (err == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int n;
            do
                n = poll(&p, 1, smtp_conf.connect_timeout * 1000);
            while (n < 0 && errno == EINTR);
            socklen_t el = sizeof(err);
            if (n == 0)
                err = ETIMEDOUT;
            else if (n < 0)
                err = errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                err = errno;
        }
        if (err != 0) {
            errno = err;
            buf_setf(why, "connect to %s[%s]:%u: %m", a->host, a->text, a->port);
            close(fd);
            return NULL;
        }
    }
    return stream_open(fd, smtp_conf.helo_timeout);
}

/* ---- commands and replies ------------------------------------------------- */

static int flush_cmd(struct smtp_sess *ss, int timeout)
{
    stream_set_timeout(ss->s, timeout);
    return stream_flush(ss->s);
}

/* io_fail - the server failed while "stage": a failure for the next server. */
static enum smtp_fail io_fail(struct smtp_state *st, struct smtp_sess *ss, int rc, const char *why,
                              const char *stage)
{
    if (rc == SMTP_REPLY_TIMEOUT || (ss->s->flags & STREAM_F_TIMEOUT))
        smtp_fail_set(st, DELIVER_DEFER, "4.4.2", NULL, NULL,
                      "conversation with %s timed out while %s", ss->name, stage);
    else if (rc == SMTP_REPLY_PROTO)
        smtp_fail_set(st, DELIVER_DEFER, "4.5.0", ss->host, NULL,
                      "protocol error with %s (%s) while %s", ss->name, why, stage);
    else
        smtp_fail_set(st, DELIVER_DEFER, "4.4.2", NULL, NULL, "lost connection with %s while %s",
                      ss->name, stage);
    ss->broken = 1;
    return SMTP_SITE_TEMP;
}

/* reply - read one reply; SMTP_REPLY_OK or the failure already set. */
static int reply(struct smtp_state *st, struct smtp_sess *ss, struct smtp_resp *r, int timeout,
                 const char *stage, enum smtp_fail *fail)
{
    struct buf why = BUF_INIT;
    int rc = smtp_reply_read(ss->s, r, timeout, &why);
    if (rc != SMTP_REPLY_OK)
        *fail = io_fail(st, ss, rc, buf_cstr(&why), stage);
    buf_free(&why);
    return rc;
}

/* server_fail - the server as a whole answered no to cmd. */
static enum smtp_fail server_said(struct smtp_state *st, struct smtp_sess *ss,
                                  const struct smtp_resp *r, const char *cmd, int bounce_5xx)
{
    struct buf diag = BUF_INIT;
    char dsn[16];
    int hard = r->code >= 500 && bounce_5xx;

    snprintf(dsn, sizeof(dsn), "%s", r->dsn);
    if (!hard)
        dsn[0] = '4';
    buf_printf(&diag, "smtp; %s", buf_cstr(&r->text));
    smtp_fail_set(st, hard ? DELIVER_BOUNCE : DELIVER_DEFER, dsn, ss->host, diag.data,
                  "host %s said: %s (in reply to %s command)", ss->name, buf_cstr(&r->text), cmd);
    buf_free(&diag);
    return hard ? SMTP_ALL_BOUNCE : SMTP_SITE_TEMP;
}

static int is_myhostname(const char *name)
{
    return strcasecmp(name, smtp_conf.myhostname) == 0;
}

/* loop_check - a server that calls itself by our name is ourselves. */
static enum smtp_fail loop_check(struct smtp_state *st, struct smtp_sess *ss, const char *name)
{
    if (smtp_conf.lmtp || !is_myhostname(name))
        return SMTP_OK;
    msg_warn("host %s greeted me with my own hostname %s", ss->relay, smtp_conf.myhostname);
    smtp_fail_set(st, DELIVER_BOUNCE, "5.4.6", NULL, NULL, "mail for %s loops back to myself",
                  st->req->nexthop);
    return SMTP_ALL_BOUNCE;
}

/* ehlo - EHLO (LHLO) with HELO fallback; fills ss->ehlo. */
static enum smtp_fail ehlo(struct smtp_state *st, struct smtp_sess *ss)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    enum smtp_fail fail = SMTP_OK;
    const char *verb = smtp_conf.lmtp ? "LHLO" : "EHLO";
    char stage[64];

    memset(&ss->ehlo, 0, sizeof(ss->ehlo));
    ss->esmtp = 0;
    if (smtp_conf.lmtp || !smtp_conf.never_send_ehlo) {
        snprintf(stage, sizeof(stage), "performing the %s handshake", verb);
        stream_printf(ss->s, "%s %s\r\n", verb, smtp_conf.helo_name);
        if (flush_cmd(ss, smtp_conf.helo_timeout) < 0) {
            fail = io_fail(st, ss, SMTP_REPLY_LOST, "", stage);
            goto out;
        }
        if (reply(st, ss, &r, smtp_conf.helo_timeout, stage, &fail) != SMTP_REPLY_OK)
            goto out;
        if (r.code / 100 == 2) {
            smtp_ehlo_parse(&r, &ss->ehlo);
            ss->esmtp = 1;
            fail = loop_check(st, ss, ss->ehlo.server_name);
            goto out;
        }
        if (smtp_conf.lmtp || r.code / 100 == 4) {
            fail = server_said(st, ss, &r, verb, 1);
            goto out;
        }
    }
    /* RFC 5321 4.1.1.1: a server that does not know EHLO gets HELO */
    stream_printf(ss->s, "HELO %s\r\n", smtp_conf.helo_name);
    if (flush_cmd(ss, smtp_conf.helo_timeout) < 0) {
        fail = io_fail(st, ss, SMTP_REPLY_LOST, "", "performing the HELO handshake");
        goto out;
    }
    if (reply(st, ss, &r, smtp_conf.helo_timeout, "performing the HELO handshake", &fail) !=
        SMTP_REPLY_OK)
        goto out;
    if (r.code / 100 != 2) {
        fail = server_said(st, ss, &r, "HELO", 1);
        goto out;
    }
    char name[256];
    smtp_reply_first_word(&r, name, sizeof(name));
    fail = loop_check(st, ss, name);
out:
    smtp_resp_free(&r);
    return fail;
}

/* ---- STARTTLS and AUTH ---------------------------------------------------- */

/* tls_fail - level may: try this server again in plaintext; else defer
 * (next server) with reason. */
static enum smtp_fail tls_fail(struct smtp_state *st, const char *reason)
{
    if (st->tls.level == SMTP_TLS_MAY)
        return SMTP_TLS_RETRY;
    smtp_fail_set(st, DELIVER_DEFER, "4.7.5", NULL, NULL, "%s", reason);
    return SMTP_SITE_TEMP;
}

static enum smtp_fail starttls(struct smtp_state *st, struct smtp_sess *ss)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    enum smtp_fail fail = SMTP_OK;
    struct buf why = BUF_INIT;
    int level = st->tls.level;
    int mandatory = level >= SMTP_TLS_ENCRYPT;
    int verify = level >= SMTP_TLS_VERIFY;
    struct tls_client_ctx *ctx = mandatory ? smtp_conf.tls_ctx_mandatory : smtp_conf.tls_ctx;

    if (!(ss->ehlo.features & SMTP_EXT_STARTTLS)) {
        if (!mandatory)
            return SMTP_OK;
        smtp_fail_set(st, DELIVER_DEFER, "4.7.4", NULL, NULL,
                      "TLS is required, but was not offered by host %s", ss->name);
        return SMTP_SITE_TEMP;
    }
    if (ctx == NULL) {
        if (!mandatory)
            return SMTP_OK;
        smtp_fail_set(st, DELIVER_DEFER, "4.7.5", NULL, NULL,
                      "TLS is required, but our TLS engine is unavailable");
        return SMTP_ALL_TEMP;
    }
    stream_puts(ss->s, "STARTTLS\r\n");
    if (flush_cmd(ss, smtp_conf.helo_timeout) < 0)
        return io_fail(st, ss, SMTP_REPLY_LOST, "", "performing the STARTTLS handshake");
    if (reply(st, ss, &r, smtp_conf.helo_timeout, "performing the STARTTLS handshake", &fail) !=
        SMTP_REPLY_OK)
        goto out;
    if (r.code != 220) {
        if (!mandatory) {
            /* Postfix: at level may, carry on in plaintext */
            fail = SMTP_OK;
            goto out;
        }
        fail = server_said(st, ss, &r, "STARTTLS", 0);
        goto out;
    }
    /* RFC 3207 4.2: nothing the server sent before the handshake counts */
    stream_purge_input(ss->s);
    const char *names[SMTP_TLS_MATCH_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; st->tls.match[i] != NULL && n < SMTP_TLS_MATCH_MAX; i++)
        names[n++] = strcasecmp(st->tls.match[i], "hostname") == 0 ? ss->host : st->tls.match[i];
    names[n] = NULL;
    const char *sni = st->tls.servername && *st->tls.servername ? st->tls.servername : ss->host;
    ss->tls = tls_client_start(ctx, ss->s, sni, verify, names, smtp_conf.starttls_timeout, &why);
    if (ss->tls == NULL) {
        struct buf reason = BUF_INIT;
        ss->broken = 1;
        if (verify)
            buf_printf(&reason, "Server certificate not verified (%s: %s)", ss->name,
                       buf_cstr(&why));
        else
            buf_printf(&reason, "Cannot start TLS: handshake failure with %s: %s", ss->name,
                       buf_cstr(&why));
        fail = tls_fail(st, buf_cstr(&reason));
        buf_free(&reason);
        goto out;
    }
    const struct tls_info *in = tls_session_info(ss->tls);
    msg_info("%s TLS connection established to %s: %s with cipher %s (%d/%d bits)",
             verify              ? "Verified"
             : in->peer_verified ? "Trusted"
                                 : "Untrusted",
             ss->relay, in->protocol, in->cipher, in->cipher_bits, in->cipher_alg_bits);
    fail = ehlo(st, ss);
out:
    smtp_resp_free(&r);
    buf_free(&why);
    return fail;
}

static enum smtp_fail sasl_auth(struct smtp_state *st, struct smtp_sess *ss)
{
    struct sasl_client_cred cred = {0};
    struct buf why = BUF_INIT, line = BUF_INIT;
    struct smtp_resp r = SMTP_RESP_INIT;
    enum smtp_fail fail = SMTP_OK;
    const char *mech;
    int found;

    if (!smtp_conf.sasl_enable || !(ss->ehlo.features & SMTP_EXT_AUTH))
        return SMTP_OK;
    found = sasl_client_find_cred(smtp_conf.sasl_maps, st->req->nexthop, ss->host, &cred, &why);
    if (found < 0) {
        msg_warn("%s: %s", st->req->queue_id, buf_cstr(&why));
        smtp_fail_set(st, DELIVER_DEFER, "4.7.0", NULL, NULL,
                      "SASL authentication failed: password lookup failed");
        buf_free(&why);
        return SMTP_ALL_TEMP;
    }
    if (found == 0) {
        buf_free(&why);
        return SMTP_OK; /* no credentials for this server: go on without */
    }
    mech = sasl_client_choose(ss->ehlo.auth,
                              ss->tls ? smtp_conf.sasl_tls_opts : smtp_conf.sasl_opts, &why);
    if (mech == NULL) {
        smtp_fail_set(st, DELIVER_DEFER, "4.7.0", NULL, NULL,
                      "SASL authentication failed; cannot authenticate to server %s: %s", ss->name,
                      buf_cstr(&why));
        fail = SMTP_SITE_TEMP;
        goto out;
    }
    if (sasl_client_initial(mech, &cred, &line, &why) < 0) {
        smtp_fail_set(st, DELIVER_DEFER, "4.7.0", NULL, NULL, "SASL authentication failed: %s",
                      buf_cstr(&why));
        fail = SMTP_ALL_TEMP;
        goto out;
    }
    for (int steps = 0;; steps++) {
        stream_printf(ss->s, "%s\r\n", buf_cstr(&line));
        if (flush_cmd(ss, smtp_conf.helo_timeout) < 0) {
            fail = io_fail(st, ss, SMTP_REPLY_LOST, "", "performing the AUTH handshake");
            goto out;
        }
        if (reply(st, ss, &r, smtp_conf.helo_timeout, "performing the AUTH handshake", &fail) !=
            SMTP_REPLY_OK)
            goto out;
        if (r.code != 334 || steps >= 8)
            break;
        if (sasl_client_step(mech, &cred, buf_cstr(&r.body), &line, &why) < 0) {
            buf_set(&line, "*"); /* RFC 4954 4: cancel */
            stream_puts(ss->s, "*\r\n");
            (void)flush_cmd(ss, smtp_conf.helo_timeout);
            smtp_fail_set(st, DELIVER_DEFER, "4.7.0", NULL, NULL,
                          "SASL authentication failed; server %s sent a bad challenge: %s",
                          ss->name, buf_cstr(&why));
            ss->broken = 1;
            fail = SMTP_SITE_TEMP;
            goto out;
        }
    }
    if (r.code != 235) {
        smtp_fail_set(st, DELIVER_DEFER, "4.7.0", ss->host, NULL,
                      "SASL authentication failed; server %s said: %s", ss->name,
                      buf_cstr(&r.text));
        fail = SMTP_SITE_TEMP;
    }
out:
    sasl_client_cred_free(&cred);
    smtp_resp_free(&r);
    buf_free(&why);
    buf_free(&line);
    return fail;
}

enum smtp_fail smtp_session_open(struct smtp_state *st, struct smtp_sess *ss, int tls_plain)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    enum smtp_fail fail = SMTP_OK;

    if (reply(st, ss, &r, smtp_conf.helo_timeout, "receiving the initial server greeting", &fail) !=
        SMTP_REPLY_OK)
        goto out;
    if (r.code / 100 != 2) {
        /* smtp_skip_5xx_greeting: a 5xx greeting is a reason to try the
         * next server, like a 4xx one (Postfix). */
        int hard = r.code >= 500 && !smtp_conf.skip_5xx_greeting;
        struct buf diag = BUF_INIT;
        char dsn[16];
        snprintf(dsn, sizeof(dsn), "%s", r.dsn);
        if (!hard)
            dsn[0] = '4';
        buf_printf(&diag, "smtp; %s", buf_cstr(&r.text));
        smtp_fail_set(st, hard ? DELIVER_BOUNCE : DELIVER_DEFER, dsn, ss->host, diag.data,
                      "host %s refused to talk to me: %s", ss->name, buf_cstr(&r.text));
        buf_free(&diag);
        ss->broken = 1;
        fail = hard ? SMTP_ALL_BOUNCE : SMTP_SITE_TEMP;
        goto out;
    }
    char name[256];
    smtp_reply_first_word(&r, name, sizeof(name));
    if ((fail = loop_check(st, ss, name)) != SMTP_OK)
        goto out;
    if ((fail = ehlo(st, ss)) != SMTP_OK)
        goto out;
    if (!tls_plain && st->tls.level != SMTP_TLS_NONE && ss->esmtp &&
        (fail = starttls(st, ss)) != SMTP_OK)
        goto out;
    if (st->tls.level >= SMTP_TLS_ENCRYPT && !ss->esmtp) {
        smtp_fail_set(st, DELIVER_DEFER, "4.7.4", NULL, NULL,
                      "TLS is required, but was not offered by host %s", ss->name);
        fail = SMTP_SITE_TEMP;
        goto out;
    }
    fail = sasl_auth(st, ss);
out:
    smtp_resp_free(&r);
    return fail;
}

/* ---- the mail transaction ------------------------------------------------- */

static void decide_reply(struct smtp_state *st, struct smtp_sess *ss, size_t i,
                         const struct smtp_resp *r, const char *cmd)
{
    int cls = r->code / 100;
    char dsn[16];

    snprintf(dsn, sizeof(dsn), "%s", r->dsn);
    if (cls == 2)
        smtp_rcpt_decide(st, i, DELIVER_OK, dsn, ss, r, "%s", buf_cstr(&r->text));
    else
        smtp_rcpt_decide(st, i, cls == 5 ? DELIVER_BOUNCE : DELIVER_DEFER, dsn, ss, r,
                         "host %s said: %s (in reply to %s command)", ss->name, buf_cstr(&r->text),
                         cmd);
}

/* send_content - the message through the DATA encoder; 0, -1 write
 * error, -2 queue file error (why). */
static int send_content(struct smtp_state *st, struct smtp_sess *ss, struct buf *why)
{
    struct buf data = BUF_INIT, out = BUF_INIT;
    struct smtp_data_enc enc;
    int type, rc;
    off_t off;

    smtp_data_enc_init(&enc, smtp_conf.line_length_limit);
    stream_set_timeout(ss->s, smtp_conf.data_xfer_timeout);
    if (qf_rewind(st->qf) < 0) {
        buf_setf(why, "cannot rewind queue file: %m");
        return -2;
    }
    while ((rc = qf_read(st->qf, &type, &data, &off, why)) > 0) {
        if (type != QF_CONTENT)
            continue;
        buf_reset(&out);
        smtp_data_enc_put(&enc, data.data, data.len, &out);
        stream_write(ss->s, out.data, out.len);
        if (stream_error(ss->s))
            break;
    }
    if (rc < 0) {
        buf_free(&data);
        buf_free(&out);
        return -2;
    }
    buf_reset(&out);
    smtp_data_enc_end(&enc, &out);
    stream_write(ss->s, out.data, out.len);
    buf_free(&data);
    buf_free(&out);
    return stream_flush(ss->s) < 0 ? -1 : 0;
}

static void mail_from(struct smtp_state *st, struct smtp_sess *ss, struct buf *cmd)
{
    const struct deliver_request *req = st->req;
    struct buf q = BUF_INIT;

    smtp_quote_addr(req->sender, &q);
    buf_printf(cmd, "MAIL FROM:<%s>", buf_cstr(&q));
    if (ss->esmtp) {
        if (ss->ehlo.features & SMTP_EXT_SIZE)
            buf_printf(cmd, " SIZE=%lld", st->size);
        if (st->eightbit && (ss->ehlo.features & SMTP_EXT_8BITMIME))
            buf_puts(cmd, " BODY=8BITMIME");
        if (st->smtputf8 && (ss->ehlo.features & SMTP_EXT_SMTPUTF8))
            buf_puts(cmd, " SMTPUTF8");
        if (ss->ehlo.features & SMTP_EXT_DSN) {
            if (req->ret == DELIVER_RET_FULL)
                buf_puts(cmd, " RET=FULL");
            else if (req->ret == DELIVER_RET_HDRS)
                buf_puts(cmd, " RET=HDRS");
            if (req->envid && *req->envid) {
                buf_reset(&q);
                smtp_xtext_encode(req->envid, &q);
                buf_printf(cmd, " ENVID=%s", buf_cstr(&q));
            }
        }
    }
    buf_free(&q);
}

static void rcpt_to(struct smtp_state *st, struct smtp_sess *ss, size_t i, struct buf *cmd)
{
    const struct deliver_rcpt *rc = &st->req->rcpt[i];
    struct buf q = BUF_INIT;

    smtp_quote_addr(rc->address, &q);
    buf_printf(cmd, "RCPT TO:<%s>", buf_cstr(&q));
    if (ss->esmtp && (ss->ehlo.features & SMTP_EXT_DSN)) {
        smtp_notify_param(rc->notify, cmd);
        smtp_orcpt_param(rc->orcpt, cmd);
    }
    buf_free(&q);
}

/* precheck - what this server cannot take at all (Postfix decides these
 * before MAIL FROM). 1 when the pending recipients were decided. */
static int precheck(struct smtp_state *st, struct smtp_sess *ss)
{
    if (st->smtputf8 && !(ss->ehlo.features & SMTP_EXT_SMTPUTF8)) {
        for (size_t i = 0; i < st->req->rcpt_count; i++)
            smtp_rcpt_decide(st, i, DELIVER_BOUNCE, "5.6.7", ss, NULL,
                             "SMTPUTF8 is required, but was not offered by host %s", ss->name);
        return 1;
    }
    if ((ss->ehlo.features & SMTP_EXT_SIZE) && ss->ehlo.size_limit > 0 &&
        (unsigned long long)st->size > ss->ehlo.size_limit) {
        for (size_t i = 0; i < st->req->rcpt_count; i++)
            smtp_rcpt_decide(st, i, DELIVER_BOUNCE, "5.3.4", ss, NULL,
                             "message size %lld exceeds size limit %llu of server %s", st->size,
                             ss->ehlo.size_limit, ss->name);
        return 1;
    }
    return 0;
}

enum smtp_fail smtp_transaction(struct smtp_state *st, struct smtp_sess *ss)
{
    const struct deliver_request *req = st->req;
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf cmd = BUF_INIT, why = BUF_INIT;
    enum smtp_fail fail = SMTP_OK;
    size_t *idx = xcalloc(req->rcpt_count, sizeof(*idx));
    int *accepted = xcalloc(req->rcpt_count, sizeof(*accepted));
    size_t n = 0, n_ok = 0;
    int pipe = (ss->ehlo.features & SMTP_EXT_PIPELINING) != 0;

    if (precheck(st, ss))
        goto out;
    for (size_t i = 0; i < req->rcpt_count; i++)
        if (!st->final[i])
            idx[n++] = i;
    if (n == 0)
        goto out;

    /* MAIL FROM (and with PIPELINING, every RCPT TO and DATA with it) */
    mail_from(st, ss, &cmd);
    stream_printf(ss->s, "%s\r\n", buf_cstr(&cmd));
    if (pipe) {
        for (size_t k = 0; k < n; k++) {
            buf_reset(&cmd);
            rcpt_to(st, ss, idx[k], &cmd);
            stream_printf(ss->s, "%s\r\n", buf_cstr(&cmd));
        }
        stream_puts(ss->s, "DATA\r\n");
    }
    if (flush_cmd(ss, smtp_conf.mail_timeout) < 0) {
        fail = io_fail(st, ss, SMTP_REPLY_LOST, "", "sending MAIL FROM");
        goto out;
    }
    if (reply(st, ss, &r, smtp_conf.mail_timeout, "sending MAIL FROM", &fail) != SMTP_REPLY_OK)
        goto out;
    st->any_reply = 1;
    st->mail_replies++;
    if (r.code / 100 != 2) {
        for (size_t k = 0; k < n; k++)
            decide_reply(st, ss, idx[k], &r, "MAIL FROM");
        /* pipelined RCPT and DATA replies would follow: do not reuse */
        ss->broken = pipe;
        goto out;
    }

    for (size_t k = 0; k < n; k++) {
        if (!pipe) {
            buf_reset(&cmd);
            rcpt_to(st, ss, idx[k], &cmd);
            stream_printf(ss->s, "%s\r\n", buf_cstr(&cmd));
            if (flush_cmd(ss, smtp_conf.rcpt_timeout) < 0) {
                fail = io_fail(st, ss, SMTP_REPLY_LOST, "", "sending RCPT TO");
                goto out;
            }
        }
        if (reply(st, ss, &r, smtp_conf.rcpt_timeout, "sending RCPT TO", &fail) != SMTP_REPLY_OK)
            goto out;
        if (r.code / 100 == 2) {
            accepted[k] = 1;
            n_ok++;
        } else {
            decide_reply(st, ss, idx[k], &r, "RCPT TO");
        }
    }

    if (!pipe && n_ok == 0)
        goto out;
    if (!pipe) {
        stream_puts(ss->s, "DATA\r\n");
        if (flush_cmd(ss, smtp_conf.data_init_timeout) < 0) {
            fail = io_fail(st, ss, SMTP_REPLY_LOST, "", "sending DATA command");
            goto out;
        }
    }
    if (reply(st, ss, &r, smtp_conf.data_init_timeout, "sending DATA command", &fail) !=
        SMTP_REPLY_OK)
        goto out;
    if (r.code != 354) {
        for (size_t k = 0; k < n; k++)
            if (accepted[k])
                decide_reply(st, ss, idx[k], &r, "DATA");
        goto out;
    }
    if (n_ok == 0) {
        /* RFC 2920 3.1: DATA accepted with no recipient: send an empty
         * message end and ignore the reply */
        stream_puts(ss->s, ".\r\n");
        if (flush_cmd(ss, smtp_conf.data_done_timeout) < 0 ||
            reply(st, ss, &r, smtp_conf.data_done_timeout, "sending end of data", &fail) !=
                SMTP_REPLY_OK)
            ss->broken = 1;
        fail = SMTP_OK;
        goto out;
    }

    int sc = send_content(st, ss, &why);
    if (sc == -2) {
        msg_warn("%s: %s", req->queue_id, buf_cstr(&why));
        smtp_fail_set(st, DELIVER_DEFER, "4.3.0", NULL, NULL, "queue file read error");
        st->local_fail = 1;
        ss->broken = 1;
        fail = SMTP_ALL_TEMP;
        goto out;
    }
    if (sc < 0) {
        fail = io_fail(st, ss, SMTP_REPLY_LOST, "", "sending message body");
        goto out;
    }
    /* SMTP: one reply for everyone; LMTP (RFC 2033 4.2): one per accepted
     * recipient, in RCPT order */
    for (size_t k = 0; k < n; k++) {
        if (!accepted[k])
            continue;
        if (reply(st, ss, &r, smtp_conf.data_done_timeout,
                  "sending end of data -- message may be sent more than once",
                  &fail) != SMTP_REPLY_OK)
            goto out;
        if (!smtp_conf.lmtp) {
            for (size_t j = k; j < n; j++)
                if (accepted[j])
                    decide_reply(st, ss, idx[j], &r, "end of DATA");
            break;
        }
        decide_reply(st, ss, idx[k], &r, "end of DATA");
    }
out:
    smtp_resp_free(&r);
    buf_free(&cmd);
    buf_free(&why);
    free(idx);
    free(accepted);
    return fail;
}

int smtp_session_rset(struct smtp_sess *ss)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf why = BUF_INIT;
    int rc = -1;

    if (ss->broken)
        return -1;
    stream_puts(ss->s, "RSET\r\n");
    if (flush_cmd(ss, 20) == 0 && smtp_reply_read(ss->s, &r, 20, &why) == SMTP_REPLY_OK &&
        r.code / 100 == 2)
        rc = 0;
    smtp_resp_free(&r);
    buf_free(&why);
    return rc;
}

void smtp_session_end(struct smtp_sess *ss, int quit)
{
    if (ss == NULL)
        return;
    if (quit && !ss->broken && !stream_error(ss->s)) {
        struct smtp_resp r = SMTP_RESP_INIT;
        struct buf why = BUF_INIT;
        int t = smtp_conf.quit_timeout < 10 ? smtp_conf.quit_timeout : 10;
        stream_puts(ss->s, "QUIT\r\n");
        if (flush_cmd(ss, t) == 0)
            (void)smtp_reply_read(ss->s, &r, t, &why);
        smtp_resp_free(&r);
        buf_free(&why);
        if (ss->tls)
            tls_session_shutdown(ss->tls);
    }
    /* nothing more is written to a broken peer: close without flushing */
    stream_set_timeout(ss->s, 1);
    (void)stream_close(ss->s);
    tls_session_free(ss->tls);
    free(ss);
}
