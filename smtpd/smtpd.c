/* smtpd - the SMTP server: one session per process (single_server), the
 * command table, replies, limits and the Postfix-format session log.
 *
 * RFC 5321 with the ESMTP extensions of EHLO: PIPELINING (RFC 2920), SIZE
 * (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), DSN (RFC 3461),
 * CHUNKING (RFC 3030), ENHANCEDSTATUSCODES (RFC 2034), STARTTLS (RFC 3207)
 * and AUTH (RFC 4954). Input is strict: every command line must end in CRLF
 * and may hold no other CR or LF (bare newlines end the session with 521,
 * the SMTP smuggling class); a client that talks before the greeting or
 * sends ahead without PIPELINING is disconnected. A message is accepted
 * (250) only after cleanup reports its queue file safe.
 *
 * DATA and BDAT live in smtpd_data.c, STARTTLS in smtpd_tls.c, AUTH in
 * smtpd_sasl.c, the client's name in smtpd_peer.c and the restrictions in
 * smtpd_check.c.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "dns/dns.h"
#include "mail/anvil_client.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/smtp_cmd.h"
#include "maps/match_list.h"
#include "smtpd.h"
#include "smtpd_check.h"
#include "tls/tls.h"
#include "util/alloc.h"
#include "util/msg.h"

struct smtpd_settings smtpd_settings;
struct anvil_client *smtpd_anvil;
static struct match_list *limit_exceptions;

/* The longest command line we take (RFC 5321 4.5.3.1.4 says 512 with CRLF;
 * ESMTP parameters make real ones longer, Postfix allows line_length_limit). */
#define SMTPD_CMD_MAX_DEFAULT 2048

/* Command table flags. */
#define CF_LAST    0x01 /* must be the last command of a pipelined group (RFC 2920 3.1) */
#define CF_PRE_TLS 0x02 /* allowed before STARTTLS when TLS is required */
#define CF_JUNK    0x04 /* counts toward smtpd_junk_command_limit */
#define CF_DATA    0x08 /* message bytes follow the command at once (BDAT, RFC 3030) */

struct smtpd_cmd {
    const char *name;
    void (*fn)(struct smtpd_state *st, const struct smtp_cmd *cmd);
    int flags;
};

static void cmd_helo(struct smtpd_state *st, const struct smtp_cmd *cmd);
static void cmd_ehlo(struct smtpd_state *st, const struct smtp_cmd *cmd);
static void cmd_mail(struct smtpd_state *st, const struct smtp_cmd *cmd);
static void cmd_rcpt(struct smtpd_state *st, const struct smtp_cmd *cmd);
static void cmd_rset(struct smtpd_state *st, const struct smtp_cmd *cmd);
static void cmd_noop(struct smtpd_state *st, const struct smtp_cmd *cmd);
static void cmd_vrfy(struct smtpd_state *st, const struct smtp_cmd *cmd);
static void cmd_quit(struct smtpd_state *st, const struct smtp_cmd *cmd);

/* The order is the order of the disconnect statistics (Postfix's). Index
 * must stay below 16 (struct smtpd_state cmd_ok). */
static const struct smtpd_cmd smtpd_cmds[] = {
    {"HELO", cmd_helo, CF_LAST | CF_PRE_TLS},
    {"EHLO", cmd_ehlo, CF_LAST | CF_PRE_TLS},
    {"STARTTLS", smtpd_cmd_starttls, CF_LAST | CF_PRE_TLS},
    {"AUTH", smtpd_cmd_auth, CF_LAST},
    {"MAIL", cmd_mail, 0},
    {"RCPT", cmd_rcpt, 0},
    {"DATA", smtpd_cmd_data, CF_LAST},
    {"BDAT", smtpd_cmd_bdat, CF_DATA},
    {"RSET", cmd_rset, CF_PRE_TLS | CF_JUNK},
    {"NOOP", cmd_noop, CF_LAST | CF_PRE_TLS | CF_JUNK},
    {"VRFY", cmd_vrfy, CF_LAST | CF_JUNK},
    {"QUIT", cmd_quit, CF_LAST | CF_PRE_TLS},
    {NULL, NULL, 0},
};
#define CMD_UNKNOWN 12 /* statistics slot of "unknown" */

/* Postfix's smtpd_forbidden_commands: a web proxy or browser talking to us. */
static const char *const forbidden_cmds[] = {"CONNECT", "GET", "POST", NULL};

static int session_done; /* QUIT or a fatal reply: leave the command loop */

/* -- replies ------------------------------------------------------------------ */

void smtpd_reply_init(struct smtpd_reply *r)
{
    r->code = 0;
    r->dsn[0] = 0;
    buf_init(&r->text);
}

void smtpd_reply_free(struct smtpd_reply *r)
{
    buf_free(&r->text);
}

void smtpd_reply_set(struct smtpd_reply *r, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    r->code = code;
    snprintf(r->dsn, sizeof(r->dsn), "%s", dsn ? dsn : "");
    buf_reset(&r->text);
    va_start(ap, fmt);
    buf_vprintf(&r->text, fmt, ap);
    va_end(ap);
}

int smtpd_flush(struct smtpd_state *st)
{
    return stream_flush(st->client);
}

void smtpd_flush_last(struct smtpd_state *st)
{
    if (stream_flush(st->client) < 0 && msg_verbose)
        msg_info("cannot send the last reply to %s", st->namaddr);
}

static void out_lines(struct smtpd_state *st, int code, const char *dsn, const char *text)
{
    /* Multi-line text: "code-dsn line" ... "code dsn last" (RFC 5321 4.2.1).
     * Control characters never reach the client. */
    const char *p = text;
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        stream_printf(st->client, "%d%c", code, nl ? '-' : ' ');
        if (dsn && *dsn)
            stream_printf(st->client, "%s ", dsn);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            char ch = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
            stream_write(st->client, &ch, 1);
        }
        stream_write(st->client, "\r\n", 2);
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}

static void out_common(struct smtpd_state *st, int code, const char *dsn, const char *text)
{
    if (code >= 400) {
        st->error_count++;
        if (st->error_count >= smtpd_settings.soft_error_limit &&
            smtpd_settings.error_sleep_time > 0) {
            if (smtpd_flush(st) < 0)
                smtpd_lost(st, st->last_cmd);
            sleep((unsigned)smtpd_settings.error_sleep_time);
        }
    }
    out_lines(st, code, dsn, text);
    /* RFC 2920 3.2: replies to pipelined commands may be held until the
     * client waits; flush only when no more input is buffered. */
    if (stream_pending(st->client) == 0 && smtpd_flush(st) < 0)
        smtpd_lost(st, st->last_cmd);
}

void smtpd_out(struct smtpd_state *st, int code, const char *dsn, const char *fmt, ...)
{
    struct buf text = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    out_common(st, code, dsn, buf_cstr(&text));
    buf_free(&text);
}

void smtpd_out_reply(struct smtpd_state *st, const struct smtpd_reply *r)
{
    out_common(st, r->code, r->dsn, buf_cstr(&r->text));
}

/* -- logging ------------------------------------------------------------------ */

void smtpd_log_reject(const struct smtpd_state *st, const char *action, const char *stage,
                      const struct smtpd_reply *r)
{
    struct buf line = BUF_INIT;
    buf_printf(&line, "%s: %s: %s from %s: ", st->queue_id[0] ? st->queue_id : "NOQUEUE", action,
               stage, st->namaddr);
    /* hold, discard, warn: no reply code, only the text (Postfix). */
    if (r->code)
        buf_printf(&line, "%d %s%s", r->code, r->dsn, r->dsn[0] ? " " : "");
    buf_printf(&line, "%s;", buf_cstr(&r->text));
    if (st->sender)
        buf_printf(&line, " from=<%s>", st->sender);
    if (st->recipient)
        buf_printf(&line, " to=<%s>", st->recipient);
    buf_printf(&line, " proto=%s", st->protocol);
    if (st->helo_name)
        buf_printf(&line, " helo=<%s>", st->helo_name);
    msg_info("%s", buf_cstr(&line));
    buf_free(&line);
}

static void log_disconnect(struct smtpd_state *st)
{
    struct buf line = BUF_INIT;
    int ok = 0, total = 0;
    buf_printf(&line, "disconnect from %s", st->namaddr);
    for (int i = 0; i <= CMD_UNKNOWN; i++) {
        if (st->cmd_total[i] == 0)
            continue;
        const char *name = i == CMD_UNKNOWN ? "unknown" : smtpd_cmds[i].name;
        char lower[16];
        size_t k = 0;
        for (; name[k] && k < sizeof(lower) - 1; k++)
            lower[k] = (char)(name[k] | 0x20);
        lower[k] = 0;
        if (st->cmd_ok[i] == st->cmd_total[i])
            buf_printf(&line, " %s=%d", lower, st->cmd_ok[i]);
        else
            buf_printf(&line, " %s=%d/%d", lower, st->cmd_ok[i], st->cmd_total[i]);
        ok += st->cmd_ok[i];
        total += st->cmd_total[i];
    }
    if (ok == total)
        buf_printf(&line, " commands=%d", ok);
    else
        buf_printf(&line, " commands=%d/%d", ok, total);
    msg_info("%s", buf_cstr(&line));
    buf_free(&line);
}

void smtpd_lost(struct smtpd_state *st, const char *after)
{
    if (st->client->flags & STREAM_F_TIMEOUT) {
        msg_info("timeout after %s from %s", after ? after : "CONNECT", st->namaddr);
        /* Best effort: the client may still read (RFC 5321 4.5.3.2). */
        st->client->flags &= ~(STREAM_F_ERR | STREAM_F_TIMEOUT);
        st->client->err = 0;
        stream_set_timeout(st->client, 2);
        stream_printf(st->client, "421 4.4.2 %s Error: timeout exceeded\r\n",
                      smtpd_settings.myhostname);
        smtpd_flush_last(st);
    } else {
        msg_info("lost connection after %s from %s", after ? after : "CONNECT", st->namaddr);
    }
    longjmp(*(jmp_buf *)st->jmp, 1);
}

void smtpd_bare_newline(struct smtpd_state *st, const char *what, const char *after)
{
    msg_warn("%s: bare <%s> received after %s", st->namaddr, what, after);
    stream_printf(st->client, "521 5.5.2 %s Error: bare <%s> received\r\n",
                  smtpd_settings.myhostname, what);
    smtpd_flush_last(st);
    longjmp(*(jmp_buf *)st->jmp, 1);
}

/* -- transaction state --------------------------------------------------------- */

void smtpd_reset(struct smtpd_state *st)
{
    if (st->cleanup) {
        cleanup_client_abort(st->cleanup);
        st->cleanup = NULL;
    }
    free(st->sender);
    st->sender = NULL;
    free(st->recipient);
    st->recipient = NULL;
    smtp_path_free(&st->mail_path);
    smtp_path_init(&st->mail_path);
    st->rcpt_count = 0;
    st->queue_id[0] = 0;
    st->hold = 0;
    free(st->hold_reason);
    st->hold_reason = NULL;
    st->discard = 0;
    free(st->discard_reason);
    st->discard_reason = NULL;
    st->msg_size = 0;
    st->bdat_active = 0;
    st->bdat_failed = 0;
    buf_reset(&st->first_rcpt);
    argv_free(st->rcpts);
    argv_free(st->orcpts);
    argv_free(st->notifies);
    st->rcpts = argv_alloc();
    st->orcpts = argv_alloc();
    st->notifies = argv_alloc();
}

const char *smtpd_anvil_ident(const struct smtpd_state *st)
{
    static char ident[128];
    snprintf(ident, sizeof(ident), "%s:%s", st->service, st->addr);
    return ident;
}

int smtpd_limit_exempt(struct smtpd_state *st)
{
    if (st->limit_exempt < 0) {
        struct buf why = BUF_INIT;
        int r = limit_exceptions ? match_list_host(limit_exceptions, st->name, st->addr, &why) : 0;
        if (r < 0)
            msg_warn("smtpd_client_event_limit_exceptions: %s", buf_cstr(&why));
        st->limit_exempt = r > 0;
        buf_free(&why);
    }
    return st->limit_exempt;
}

/* -- commands -------------------------------------------------------------- */

static int helo_common(struct smtpd_state *st, const struct smtp_cmd *cmd, const char *verb)
{
    if (cmd->args_len == 0) {
        smtpd_out(st, 501, "5.5.4", "Syntax: %s hostname", verb);
        return -1;
    }
    /* The argument is one word; Postfix takes the first. */
    size_t n = strcspn(cmd->args, " ");
    if (n > 255) {
        smtpd_out(st, 501, "5.5.4", "Syntax: %s hostname", verb);
        return -1;
    }
    char *helo = xstrndup(cmd->args, n);
    struct smtpd_reply r;
    smtpd_reply_init(&r);
    smtpd_reset(st);
    free(st->helo_name);
    st->helo_name = helo;
    if (smtpd_check_helo(st, helo, &r) == SMTPD_CHECK_REJECT) {
        smtpd_out_reply(st, &r);
        smtpd_reply_free(&r);
        free(st->helo_name);
        st->helo_name = NULL;
        return -1;
    }
    smtpd_reply_free(&r);
    return 0;
}

static void cmd_helo(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    if (helo_common(st, cmd, "HELO") < 0)
        return;
    st->esmtp = 0;
    st->protocol = st->tls_active ? "SMTPS" : "SMTP";
    if (st->sasl_username)
        st->protocol = st->tls_active ? "ESMTPSA" : "ESMTPA";
    smtpd_out(st, 250, NULL, "%s", smtpd_settings.myhostname);
}

static int keyword_discarded(const char *kw)
{
    const char *list = conf_str("smtpd_discard_ehlo_keywords");
    size_t n = strlen(kw);
    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t m = strcspn(p, ", \t");
        if (m == n && strncasecmp(p, kw, n) == 0)
            return 1;
        p += m;
    }
    return 0;
}

static void cmd_ehlo(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    if (helo_common(st, cmd, "EHLO") < 0)
        return;
    st->esmtp = 1;
    st->protocol = st->sasl_username ? (st->tls_active ? "ESMTPSA" : "ESMTPA")
                                     : (st->tls_active ? "ESMTPS" : "ESMTP");
    struct buf text = BUF_INIT;
    buf_puts(&text, smtpd_settings.myhostname);
#define KW(k, ...)                                                                                 \
    do {                                                                                           \
        if (!keyword_discarded(k)) {                                                               \
            buf_putc(&text, '\n');                                                                 \
            buf_printf(&text, __VA_ARGS__);                                                        \
        }                                                                                          \
    } while (0)
    KW("PIPELINING", "PIPELINING");
    if (smtpd_settings.message_size_limit > 0)
        KW("SIZE", "SIZE %ld", smtpd_settings.message_size_limit);
    else
        KW("SIZE", "SIZE");
    if (!smtpd_settings.disable_vrfy)
        KW("VRFY", "VRFY");
    if (!st->tls_active && smtpd_tls_available())
        KW("STARTTLS", "STARTTLS");
    const char *mechs = smtpd_sasl_offer(st) ? smtpd_sasl_mechanisms(st) : NULL;
    if (mechs) {
        KW("AUTH", "AUTH %s", mechs);
        if (conf_bool("broken_sasl_auth_clients"))
            KW("AUTH", "AUTH=%s", mechs);
    }
    KW("ENHANCEDSTATUSCODES", "ENHANCEDSTATUSCODES");
    KW("8BITMIME", "8BITMIME");
    KW("DSN", "DSN");
    KW("SMTPUTF8", "SMTPUTF8");
    KW("CHUNKING", "CHUNKING");
#undef KW
    smtpd_out(st, 250, NULL, "%s", buf_cstr(&text));
    buf_free(&text);
}

static void cmd_mail(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    struct smtp_reply err;
    struct smtpd_reply r;

    if (smtpd_settings.helo_required && st->helo_name == NULL) {
        smtpd_out(st, 503, "5.5.1", "Error: send HELO/EHLO first");
        return;
    }
    if (st->sender) {
        smtpd_out(st, 503, "5.5.1", "Error: nested MAIL command");
        return;
    }
    int flags = SMTP_PATH_MAIL | (smtpd_settings.strict_rfc821 ? SMTP_PATH_STRICT : 0);
    smtp_path_free(&st->mail_path);
    smtp_path_init(&st->mail_path);
    if (smtp_path_parse(cmd->args, cmd->args_len, flags, &st->mail_path, &err) < 0) {
        smtpd_out(st, err.code, err.dsn, "%s", err.text);
        return;
    }
    struct smtp_path *p = &st->mail_path;
    if (!st->esmtp &&
        (p->size_given || p->body || p->smtputf8 || p->ret || p->envid.len || p->auth_given)) {
        smtpd_out(st, 555, "5.5.4", "Unsupported option: parameters need EHLO");
        return;
    }
    if (p->body == SMTP_BODY_BINARYMIME) {
        /* Not announced (RFC 3030 3: BINARYMIME needs its own keyword). */
        smtpd_out(st, 555, "5.5.4", "Unsupported option: BODY=BINARYMIME");
        return;
    }
    if (p->utf8 && !p->smtputf8) {
        smtpd_out(st, 553, "5.6.7", "Must declare SMTPUTF8 to send unicode address");
        return;
    }
    smtpd_reply_init(&r);
    if (smtpd_check_size(st, p->size_given ? p->size : 0, &r) == SMTPD_CHECK_REJECT) {
        smtpd_out_reply(st, &r);
        smtpd_reply_free(&r);
        return;
    }
    if (smtpd_anvil && smtpd_settings.message_rate_limit > 0 && !smtpd_limit_exempt(st)) {
        int rate = 0;
        struct buf why = BUF_INIT;
        if (anvil_client_message(smtpd_anvil, smtpd_anvil_ident(st), &rate, &why) < 0) {
            msg_warn("anvil: %s", buf_cstr(&why));
        } else if (rate > smtpd_settings.message_rate_limit) {
            msg_warn("Message delivery request rate limit exceeded: %d from %s for service %s",
                     rate, st->namaddr, st->service);
            smtpd_out(st, 450, "4.7.1", "Error: too much mail from %s", st->addr);
            buf_free(&why);
            smtpd_reply_free(&r);
            return;
        }
        buf_free(&why);
    }
    st->sender = xstrdup(buf_cstr(&p->addr));
    if (smtpd_check_mail(st, &r) == SMTPD_CHECK_REJECT) {
        smtpd_out_reply(st, &r);
        free(st->sender);
        st->sender = NULL;
        smtpd_reply_free(&r);
        return;
    }
    smtpd_reply_free(&r);
    smtpd_out(st, 250, "2.1.0", "Ok");
}

static void cmd_rcpt(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    struct smtp_reply err;
    struct smtpd_reply r;

    if (st->sender == NULL) {
        smtpd_out(st, 503, "5.5.1", "Error: need MAIL command");
        return;
    }
    if (st->bdat_active) {
        smtpd_out(st, 503, "5.5.1", "Error: RCPT after BDAT");
        return;
    }
    if (smtpd_settings.recipient_limit > 0 && st->rcpt_count >= smtpd_settings.recipient_limit) {
        smtpd_out(st, 452, "4.5.3", "Error: too many recipients");
        return;
    }
    int flags = (smtpd_settings.strict_rfc821 ? SMTP_PATH_STRICT : 0);
    smtp_path_free(&st->rcpt_path);
    smtp_path_init(&st->rcpt_path);
    if (smtp_path_parse(cmd->args, cmd->args_len, flags, &st->rcpt_path, &err) < 0) {
        smtpd_out(st, err.code, err.dsn, "%s", err.text);
        return;
    }
    if (st->rcpt_path.utf8 && !st->mail_path.smtputf8) {
        smtpd_out(st, 553, "5.6.7", "Must declare SMTPUTF8 to send unicode address");
        return;
    }
    if (!st->esmtp && (st->rcpt_path.notify || st->rcpt_path.orcpt.len)) {
        smtpd_out(st, 555, "5.5.4", "Unsupported option: parameters need EHLO");
        return;
    }
    if (smtpd_anvil && smtpd_settings.rcpt_rate_limit > 0 && !smtpd_limit_exempt(st)) {
        int rate = 0;
        struct buf why = BUF_INIT;
        if (anvil_client_recipient(smtpd_anvil, smtpd_anvil_ident(st), &rate, &why) < 0) {
            msg_warn("anvil: %s", buf_cstr(&why));
        } else if (rate > smtpd_settings.rcpt_rate_limit) {
            msg_warn("Recipient address rate limit exceeded: %d from %s for service %s", rate,
                     st->namaddr, st->service);
            smtpd_out(st, 450, "4.7.1", "Error: too many recipients from %s", st->addr);
            buf_free(&why);
            return;
        }
        buf_free(&why);
    }
    free(st->recipient);
    st->recipient = xstrdup(buf_cstr(&st->rcpt_path.addr));
    smtpd_reply_init(&r);
    int verdict = smtpd_check_rcpt(st, &r);
    if (verdict == SMTPD_CHECK_REJECT) {
        smtpd_out_reply(st, &r);
        smtpd_reply_free(&r);
        free(st->recipient);
        st->recipient = NULL;
        return;
    }
    smtpd_reply_free(&r);
    /* The queue file is opened at DATA/BDAT (smtpd_data.c), when an access
     * table's HOLD is known and a session of only RCPTs costs nothing. */
    const char *o = buf_cstr(&st->rcpt_path.orcpt);
    if (strncasecmp(o, "rfc822;", 7) == 0) /* RFC 3461 4.2: keep the address */
        o += 7;
    argv_add(st->rcpts, st->recipient);
    argv_add(st->orcpts, o);
    char notify[8] = "";
    if (st->rcpt_path.notify) /* RFC 3461 4.1, kept as QF_NOTIFY */
        snprintf(notify, sizeof(notify), "%d", st->rcpt_path.notify);
    argv_add(st->notifies, notify);
    if (st->rcpt_count == 0) {
        /* Kept for the Received: header's "for <rcpt>" (one recipient only). */
        buf_set(&st->first_rcpt, st->recipient);
    }
    st->rcpt_count++;
    smtpd_out(st, 250, "2.1.5", "Ok");
}

static void cmd_rset(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    if (cmd->args_len) {
        smtpd_out(st, 501, "5.5.4", "Syntax: RSET");
        return;
    }
    smtpd_reset(st);
    smtpd_out(st, 250, "2.0.0", "Ok");
}

static void cmd_noop(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_out(st, 250, "2.0.0", "Ok");
}

static void cmd_vrfy(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    if (smtpd_settings.disable_vrfy) {
        smtpd_out(st, 502, "5.5.1", "VRFY command is disabled");
        return;
    }
    if (cmd->args_len == 0) {
        smtpd_out(st, 501, "5.5.4", "Syntax: VRFY address");
        return;
    }
    /* RFC 5321 3.5.3: 252 when we will accept but not verify. */
    struct buf q = BUF_INIT;
    buf_append(&q, cmd->args, cmd->args_len);
    smtpd_out(st, 252, "2.0.0", "%s", buf_cstr(&q));
    buf_free(&q);
}

static void cmd_quit(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtpd_out(st, 221, "2.0.0", "Bye");
    session_done = 1;
}

/* -- the session ---------------------------------------------------------------- */

/* A bare CR or LF anywhere in a command line ends the session; a line
 * longer than the limit gets 500 and its rest is skipped. Returns the line
 * length without CRLF, or -1 when the line was refused (and answered). */
static long read_command(struct smtpd_state *st, struct buf *line)
{
    size_t max = (size_t)smtpd_settings.line_length_limit;
    enum stream_line r = stream_get_line(st->client, line, max + 1);
    if (r == STREAM_LINE_EOF || r == STREAM_LINE_ERR)
        smtpd_lost(st, st->last_cmd);
    if (r == STREAM_LINE_LONG) {
        if (stream_skip_line(st->client) < 0)
            smtpd_lost(st, st->last_cmd);
        smtpd_out(st, 500, "5.5.0", "Error: line too long");
        return -1;
    }
    if (st->client->flags & STREAM_F_EOF) /* a last line without LF */
        smtpd_lost(st, st->last_cmd);
    if (line->len == 0 || line->data[line->len - 1] != '\r')
        smtpd_bare_newline(st, "LF", st->last_cmd);
    buf_truncate(line, line->len - 1);
    if (memchr(line->data, '\r', line->len))
        smtpd_bare_newline(st, "CR", st->last_cmd);
    if (line->len > max - 1) {
        smtpd_out(st, 500, "5.5.0", "Error: line too long");
        return -1;
    }
    return (long)line->len;
}

static void pipelining_violation(struct smtpd_state *st, const char *after)
{
    /* Show a little of what came early, as Postfix does. */
    char peek[101];
    size_t n = stream_pending(st->client);
    if (n > 100)
        n = 100;
    memcpy(peek, st->client->rbuf + st->client->rpos, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)peek[i] < 0x20 || peek[i] == 0x7f)
            peek[i] = peek[i] == '\r' || peek[i] == '\n' ? ' ' : '?';
    peek[n] = 0;
    msg_info("improper command pipelining after %s from %s: %s", after, st->namaddr, peek);
}

static void session(struct smtpd_state *st)
{
    struct buf line = BUF_INIT;
    struct smtp_cmd cmd;
    struct smtp_reply err;

    while (!session_done) {
        long n = read_command(st, &line);
        if (n < 0)
            goto check_errors;
        if (smtp_cmd_split(line.data, line.len, &cmd, &err) < 0) {
            st->cmd_total[CMD_UNKNOWN]++;
            smtpd_out(st, err.code, err.dsn, "%s", err.text);
            goto check_errors;
        }
        for (int i = 0; forbidden_cmds[i]; i++) {
            if (strcmp(cmd.verb, forbidden_cmds[i]) == 0) {
                msg_warn("non-SMTP command from %s: %.100s", st->namaddr, line.data);
                stream_puts(st->client, "221 2.7.0 Error: I can break rules, too. Goodbye.\r\n");
                smtpd_flush_last(st);
                st->cmd_total[CMD_UNKNOWN]++;
                goto done;
            }
        }
        int idx = -1;
        for (int i = 0; smtpd_cmds[i].name; i++)
            if (strcmp(cmd.verb, smtpd_cmds[i].name) == 0) {
                idx = i;
                break;
            }
        if (idx < 0) {
            st->cmd_total[CMD_UNKNOWN]++;
            st->last_cmd = "UNKNOWN";
            smtpd_out(st, 502, "5.5.2", "Error: command not recognized");
            goto check_errors;
        }
        const struct smtpd_cmd *c = &smtpd_cmds[idx];
        st->last_cmd = c->name;
        st->cmd_total[idx]++;
        /* RFC 2920 3.1: without PIPELINING every command waits for its reply;
         * with it, the commands flagged CF_LAST end a group. BDAT's data
         * follows its command by design (RFC 3030). */
        if (stream_pending(st->client) > 0 && !(c->flags & CF_DATA) &&
            (!st->esmtp || (c->flags & CF_LAST))) {
            st->pipelining_seen = 1;
            if (smtpd_settings.forbid_unauth_pipelining) {
                pipelining_violation(st, c->name);
                stream_puts(st->client, "554 5.5.0 Error: SMTP protocol synchronization\r\n");
                smtpd_flush_last(st);
                goto done;
            }
        }
        if (smtpd_tls_required() && !st->tls_active && !(c->flags & CF_PRE_TLS)) {
            smtpd_out(st, 530, "5.7.0", "Must issue a STARTTLS command first");
            goto check_errors;
        }
        if ((c->flags & CF_JUNK) && ++st->junk_count > smtpd_settings.junk_command_limit)
            st->error_count++;
        int errors_before = st->error_count;
        c->fn(st, &cmd);
        if (st->error_count == errors_before)
            st->cmd_ok[idx]++;
    check_errors:
        if (st->error_count >= smtpd_settings.hard_error_limit) {
            msg_info("too many errors after %s from %s", st->last_cmd ? st->last_cmd : "CONNECT",
                     st->namaddr);
            stream_printf(st->client, "421 4.7.0 %s Error: too many errors\r\n",
                          smtpd_settings.myhostname);
            smtpd_flush_last(st);
            break;
        }
    }
done:
    buf_free(&line);
}

static int anvil_connect(struct smtpd_state *st)
{
    if (smtpd_limit_exempt(st))
        return 0;
    if (smtpd_settings.conn_count_limit <= 0 && smtpd_settings.conn_rate_limit <= 0 &&
        smtpd_settings.message_rate_limit <= 0 && smtpd_settings.rcpt_rate_limit <= 0 &&
        smtpd_settings.auth_rate_limit <= 0)
        return 0;
    int count = 0, rate = 0;
    struct buf why = BUF_INIT;
    /* One anvil connection per session: should this process die, anvil
     * sees the connection close and undoes the count. */
    smtpd_anvil = anvil_client_open(MAIL_SOCK_ANVIL, (int)conf_time("ipc_timeout"), &why);
    if (smtpd_anvil == NULL) {
        msg_warn("cannot reach anvil: %s; no client limits are enforced", buf_cstr(&why));
        buf_free(&why);
        return 0;
    }
    if (anvil_client_connect(smtpd_anvil, smtpd_anvil_ident(st), &count, &rate, &why) < 0) {
        msg_warn("anvil: %s", buf_cstr(&why));
        buf_free(&why);
        return 0;
    }
    buf_free(&why);
    if (smtpd_settings.conn_count_limit > 0 && count > smtpd_settings.conn_count_limit) {
        msg_warn("Connection concurrency limit exceeded: %d from %s for service %s", count,
                 st->namaddr, st->service);
        stream_printf(st->client, "421 4.7.0 %s Error: too many connections from %s\r\n",
                      smtpd_settings.myhostname, st->addr);
        return -1;
    }
    if (smtpd_settings.conn_rate_limit > 0 && rate > smtpd_settings.conn_rate_limit) {
        msg_warn("Connection rate limit exceeded: %d from %s for service %s", rate, st->namaddr,
                 st->service);
        stream_printf(st->client, "421 4.7.0 %s Error: too many connections from %s\r\n",
                      smtpd_settings.myhostname, st->addr);
        return -1;
    }
    return 0;
}

/* A client that sends before our greeting does not wait for replies: it
 * is a spambot or a smuggler (RFC 5321 4.3.1, 3.1). */
static int talks_first(struct smtpd_state *st)
{
    struct pollfd p = {.fd = st->client->fd, .events = POLLIN};
    if (stream_pending(st->client) > 0)
        return 1;
    /* smtpd_greet_pause: a legitimate client waits for the greeting as
     * long as it takes; a bot that does not is caught for sure. With no
     * pause only bytes already here are seen. */
    long ms = smtpd_settings.greet_pause * 1000L;
    return poll(&p, 1, (int)ms) > 0 && (p.revents & POLLIN);
}

static void service(struct stream *client, const struct server_ctx *ctx)
{
    struct smtpd_state st;
    jmp_buf jb;

    memset(&st, 0, sizeof(st));
    st.client = client;
    st.service = ctx->service;
    st.protocol = "SMTP";
    st.limit_exempt = -1;
    st.jmp = &jb;
    buf_init(&st.first_rcpt);
    buf_init(&st.auth_mechs);
    st.rcpts = argv_alloc();
    st.orcpts = argv_alloc();
    st.notifies = argv_alloc();
    smtp_path_init(&st.mail_path);
    smtp_path_init(&st.rcpt_path);
    session_done = 0;
    stream_set_timeout(client, smtpd_settings.timeout);
    smtpd_peer_init(&st);
    msg_info("connect from %s", st.namaddr);

    if (setjmp(jb) == 0) {
        struct smtpd_reply r;
        if (anvil_connect(&st) < 0) {
            smtpd_flush_last(&st);
            goto out;
        }
        if (smtpd_settings.wrappermode && smtpd_tls_wrapper(&st) < 0)
            goto out;
        if (!smtpd_settings.wrappermode && talks_first(&st)) {
            st.pipelining_seen = 1;
            if (smtpd_settings.forbid_unauth_pipelining) {
                pipelining_violation(&st, "CONNECT");
                stream_puts(client, "554 5.5.0 Error: SMTP protocol synchronization\r\n");
                smtpd_flush_last(&st);
                goto out;
            }
        }
        smtpd_reply_init(&r);
        if (smtpd_check_client(&st, &r) == SMTPD_CHECK_REJECT) {
            /* Postfix answers every command with the rejection; a plain
             * 554 at the greeting is the RFC 5321 3.1 way. */
            out_lines(&st, r.code ? r.code : 554, r.dsn, buf_cstr(&r.text));
            smtpd_flush_last(&st);
            smtpd_reply_free(&r);
            goto out;
        }
        smtpd_reply_free(&r);
        smtpd_out(&st, 220, NULL, "%s", conf_str("smtpd_banner"));
        session(&st);
    }
out:
    log_disconnect(&st);
    if (st.cleanup)
        cleanup_client_abort(st.cleanup);
    st.cleanup = NULL;
    if (smtpd_anvil) {
        struct buf why = BUF_INIT;
        if (anvil_client_disconnect(smtpd_anvil, smtpd_anvil_ident(&st), &why) < 0 && msg_verbose)
            msg_info("anvil: %s", buf_cstr(&why));
        buf_free(&why);
        anvil_client_close(smtpd_anvil);
        smtpd_anvil = NULL;
    }
    smtpd_reset(&st);
    smtpd_sasl_reset(&st);
    free(st.helo_name);
    smtp_path_free(&st.mail_path);
    smtp_path_free(&st.rcpt_path);
    buf_free(&st.first_rcpt);
    buf_free(&st.auth_mechs);
    argv_free(st.rcpts);
    argv_free(st.orcpts);
    argv_free(st.notifies);
    if (st.tls) {
        /* close_notify, then hand the stream back to plain I/O with nothing
         * left to write, so the skeleton's close never writes plaintext on
         * a TLS connection and the session can go now. */
        tls_session_shutdown(st.tls);
        buf_reset(&client->wbuf);
        stream_set_io(client, NULL, NULL, NULL);
        tls_session_free(st.tls);
        st.tls = NULL;
    }
}

static void pre_init(const struct server_ctx *ctx)
{
    struct buf why = BUF_INIT;
    struct smtpd_settings *s = &smtpd_settings;

    s->myhostname = conf_str("myhostname");
    s->message_size_limit = conf_int("message_size_limit");
    s->recipient_limit = conf_int("smtpd_recipient_limit");
    s->soft_error_limit = (int)conf_int("smtpd_soft_error_limit");
    s->hard_error_limit = (int)conf_int("smtpd_hard_error_limit");
    s->error_sleep_time = (int)conf_time("smtpd_error_sleep_time");
    s->junk_command_limit = (int)conf_int("smtpd_junk_command_limit");
    s->timeout = (int)conf_time("smtpd_timeout");
    s->line_length_limit = conf_int("line_length_limit");
    if (s->line_length_limit < 512)
        s->line_length_limit = SMTPD_CMD_MAX_DEFAULT;
    s->forbid_unauth_pipelining = conf_bool("smtpd_forbid_unauth_pipelining");
    s->disable_vrfy = conf_bool("disable_vrfy_command");
    s->helo_required = conf_bool("smtpd_helo_required");
    s->strict_rfc821 = conf_bool("strict_rfc821_envelopes");
    s->sasl_enable = conf_bool("smtpd_sasl_auth_enable");
    s->tls_auth_only = conf_bool("smtpd_tls_auth_only");
    s->received_tls = conf_bool("smtpd_tls_received_header");
    s->client_port_logging = conf_bool("smtpd_client_port_logging");
    s->peername_lookup = conf_bool("smtpd_peername_lookup");
    s->wrappermode = conf_bool("smtpd_tls_wrappermode");
    s->greet_pause = (int)conf_time("smtpd_greet_pause");
    s->conn_count_limit = conf_int("smtpd_client_connection_count_limit");
    s->conn_rate_limit = conf_int("smtpd_client_connection_rate_limit");
    s->message_rate_limit = conf_int("smtpd_client_message_rate_limit");
    s->rcpt_rate_limit = conf_int("smtpd_client_recipient_rate_limit");
    s->auth_rate_limit = conf_int("smtpd_client_auth_rate_limit");
    if (s->soft_error_limit < 1)
        s->soft_error_limit = 1;
    if (s->hard_error_limit < 1)
        s->hard_error_limit = 1;

    if (dns_init(&why) < 0) /* resolv.conf, before the chroot hides it */
        msg_warn("%s", buf_cstr(&why));
    if (smtpd_check_init(&why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    if (smtpd_tls_init(&why) < 0)
        msg_fatal("%s", buf_cstr(&why));
    limit_exceptions =
        match_list_create("smtpd_client_event_limit_exceptions",
                          conf_str("smtpd_client_event_limit_exceptions"), MATCH_FLAG_PARENT, &why);
    if (limit_exceptions == NULL)
        msg_fatal("%s", buf_cstr(&why));
    (void)ctx;
    buf_free(&why);
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.pre_init = pre_init;
    ops.service = service;
    return single_server_main(argc, argv, &ops);
}
