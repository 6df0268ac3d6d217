/* smtpd_sasl - SMTP AUTH (RFC 4954) through the auth service. smtpd only
 * relays the base64 exchange; mechanisms and passwords are handled in auth,
 * the one process that reads password data (auth_client.h).
 *
 * AUTH is announced when smtpd_sasl_auth_enable is on, the client is not in
 * smtpd_sasl_exceptions_networks, and TLS is active unless
 * smtpd_tls_auth_only = no. A failure is answered 535 after the auth
 * service's failure delay and logged in Postfix's words, which fail2ban's
 * postfix-sasl filter reads: "warning: host[addr]: SASL LOGIN
 * authentication failed: ...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/mail_conf.h"
#include "mail/anvil_client.h"
#include "mail/auth_client.h"
#include "mail/mail_proto.h"
#include "maps/match_list.h"
#include "smtpd.h"
#include "util/alloc.h"
#include "util/msg.h"

static struct match_list *sasl_exceptions;
static int sasl_exceptions_read;

static int in_exceptions(struct smtpd_state *st)
{
    struct buf why = BUF_INIT;
    if (!sasl_exceptions_read) {
        sasl_exceptions_read = 1;
        const char *list = conf_str("smtpd_sasl_exceptions_networks");
        if (*list) {
            sasl_exceptions =
                match_list_create("smtpd_sasl_exceptions_networks", list, MATCH_FLAG_PARENT, &why);
            if (sasl_exceptions == NULL)
                msg_warn("%s", buf_cstr(&why));
        }
    }
    int r = sasl_exceptions ? match_list_host(sasl_exceptions, st->name, st->addr, &why) : 0;
    if (r < 0)
        msg_warn("smtpd_sasl_exceptions_networks: %s", buf_cstr(&why));
    buf_free(&why);
    return r > 0;
}

int smtpd_sasl_offer(struct smtpd_state *st)
{
    if (!smtpd_settings.sasl_enable || st->sasl_username)
        return 0;
    if (smtpd_settings.tls_auth_only && !st->tls_active)
        return 0;
    return !in_exceptions(st);
}

static const char *sasl_path(void)
{
    const char *p = conf_str("smtpd_sasl_path");
    return *p ? p : MAIL_SOCK_AUTH;
}

const char *smtpd_sasl_mechanisms(struct smtpd_state *st)
{
    if (st->auth_mechs.len == 0) {
        struct buf why = BUF_INIT;
        struct auth_client *a = auth_client_open(sasl_path(), (int)conf_time("ipc_timeout"), &why);
        if (a == NULL) {
            msg_warn("SASL: cannot reach the auth service: %s", buf_cstr(&why));
            buf_free(&why);
            return NULL;
        }
        buf_set(&st->auth_mechs, auth_client_mechanisms(a));
        auth_client_close(a);
        buf_free(&why);
    }
    return st->auth_mechs.len ? buf_cstr(&st->auth_mechs) : NULL;
}

void smtpd_sasl_reset(struct smtpd_state *st)
{
    free(st->sasl_username);
    st->sasl_username = NULL;
    free(st->sasl_method);
    st->sasl_method = NULL;
    buf_reset(&st->auth_mechs);
}

/* Read the client's answer to a 334 challenge: one CRLF line. */
static void read_response(struct smtpd_state *st, struct buf *line)
{
    enum stream_line r = stream_get_line(st->client, line, AUTH_LINE_MAX + 1);
    if (r == STREAM_LINE_EOF || r == STREAM_LINE_ERR || (st->client->flags & STREAM_F_EOF))
        smtpd_lost(st, "AUTH");
    if (r == STREAM_LINE_LONG) {
        if (stream_skip_line(st->client) < 0)
            smtpd_lost(st, "AUTH");
        buf_set(line, "*"); /* too long: treated as a cancel (501 5.7.0) */
        return;
    }
    if (line->len == 0 || line->data[line->len - 1] != '\r')
        smtpd_bare_newline(st, "LF", "AUTH");
    buf_truncate(line, line->len - 1);
    if (memchr(line->data, '\r', line->len))
        smtpd_bare_newline(st, "CR", "AUTH");
}

void smtpd_cmd_auth(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    if (!smtpd_settings.sasl_enable || (!st->sasl_username && !smtpd_sasl_offer(st))) {
        smtpd_out(st, 503, "5.5.1", "Error: authentication not enabled");
        return;
    }
    if (st->sasl_username) {
        smtpd_out(st, 503, "5.5.1", "Error: already authenticated");
        return;
    }
    if (st->sender) {
        smtpd_out(st, 503, "5.5.1", "Error: MAIL transaction in progress");
        return;
    }
    if (!st->esmtp) {
        smtpd_out(st, 503, "5.5.1", "Error: send EHLO first");
        return;
    }
    /* "AUTH mechanism [initial-response]" */
    char mech[32];
    const char *a = cmd->args, *end = cmd->args + cmd->args_len;
    size_t ml = strcspn(a, " ");
    if (ml == 0 || ml >= sizeof(mech)) {
        smtpd_out(st, 501, "5.5.4", "Syntax: AUTH mechanism");
        return;
    }
    memcpy(mech, a, ml);
    mech[ml] = 0;
    for (char *p = mech; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    a += ml;
    while (a < end && *a == ' ')
        a++;
    struct buf initial = BUF_INIT;
    buf_append(&initial, a, (size_t)(end - a));

    if (smtpd_anvil && smtpd_settings.auth_rate_limit > 0 && !smtpd_limit_exempt(st)) {
        int rate = 0;
        struct buf why = BUF_INIT;
        if (anvil_client_auth(smtpd_anvil, smtpd_anvil_ident(st), &rate, &why) < 0) {
            msg_warn("anvil: %s", buf_cstr(&why));
        } else if (rate > smtpd_settings.auth_rate_limit) {
            msg_warn("AUTH command rate limit exceeded: %d from %s for service %s", rate,
                     st->namaddr, st->service);
            smtpd_out(st, 450, "4.7.1", "Error: too many AUTH commands from %s", st->addr);
            buf_free(&why);
            buf_free(&initial);
            return;
        }
        buf_free(&why);
    }

    struct buf why = BUF_INIT, line = BUF_INIT;
    struct auth_reply reply;
    auth_reply_init(&reply);
    struct auth_client *ac = auth_client_open(sasl_path(), (int)conf_time("ipc_timeout"), &why);
    int r = AUTH_ERROR;
    if (ac != NULL) {
        struct auth_request req = {
            .service = "smtp",
            .mechanism = mech,
            .client_addr = st->addr,
            .client_name = st->name,
            .secured = st->tls_active,
            .response = buf_cstr(&initial),
        };
        r = auth_client_start(ac, &req, &reply, &why);
        int rounds = 0;
        while (r == AUTH_CONTINUE && rounds++ < 8) {
            smtpd_out(st, 334, NULL, "%s", buf_cstr(&reply.challenge));
            if (smtpd_flush(st) < 0) {
                auth_client_close(ac);
                smtpd_lost(st, "AUTH");
            }
            read_response(st, &line);
            if (strcmp(buf_cstr(&line), "*") == 0) {
                auth_client_close(ac);
                ac = NULL;
                smtpd_out(st, 501, "5.7.0", "Authentication aborted");
                goto out;
            }
            r = auth_client_continue(ac, buf_cstr(&line), &reply, &why);
        }
        if (r == AUTH_CONTINUE)
            r = AUTH_FAIL;
    }
    switch (r) {
    case AUTH_OK:
        st->sasl_username = xstrdup(buf_cstr(&reply.user));
        st->sasl_method = xstrdup(mech);
        st->protocol = st->tls_active ? "ESMTPSA" : "ESMTPA";
        smtpd_out(st, 235, "2.7.0", "Authentication successful");
        break;
    case AUTH_FAIL:
        msg_warn("%s: SASL %s authentication failed: %s", st->namaddr, mech,
                 reply.reason.len ? buf_cstr(&reply.reason) : "authentication failure");
        smtpd_out(st, 535, "5.7.8", "Error: authentication failed: %s",
                  reply.reason.len ? buf_cstr(&reply.reason) : "authentication failure");
        break;
    default:
        msg_warn("%s: SASL %s authentication failed: %s", st->namaddr, mech, buf_cstr(&why));
        smtpd_out(st, 454, "4.7.0", "Temporary authentication failure");
        break;
    }
out:
    if (ac)
        auth_client_close(ac);
    auth_reply_free(&reply);
    buf_free(&why);
    buf_free(&line);
    buf_free(&initial);
}
