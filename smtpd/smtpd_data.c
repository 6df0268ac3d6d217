/* smtpd_data - message content: DATA (RFC 5321 4.1.1.4) and BDAT (RFC
 * 3030), handed to cleanup with LF line ends and our Received: header.
 *
 * DATA is read strictly: every line must end in CRLF, a bare CR or LF ends
 * the session with 521 (the SMTP smuggling class: "\n.\n", "\r.\r" and
 * friends never end the message and never start a second one), and only
 * CRLF "." CRLF ends the content. A leading dot is removed (RFC 5321
 * 4.5.2). Lines of any length are passed through in pieces.
 *
 * BDAT chunks are read to their exact byte count whatever the verdict
 * (RFC 3030 2: the server must consume the chunk), then answered; their
 * CRLFs become LFs, a bare CR or LF ends the session as in DATA.
 *
 * The queue file is opened (cleanup_client_open) at the first content, so
 * the HOLD verdict of an access table can go into the open flags; the
 * reply to the end of the message is 250 only when cleanup reports the
 * file fsync'd and renamed into place (DESIGN.md invariant 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "conf/mail_conf.h"
#include "mail/header.h"
#include "mail/mail_proto.h"
#include "mail/queue_file.h"
#include "smtpd.h"
#include "smtpd_check.h"
#include "util/alloc.h"
#include "util/msg.h"

#define DATA_CHUNK 8192

/* Content state of one message. */
struct content {
    int at_line_start;
    int pending_cr; /* the last byte seen was a CR whose LF may follow */
    int too_big;
    struct buf out; /* LF-terminated bytes waiting for cleanup */
};

static void content_init(struct content *c)
{
    c->at_line_start = 1;
    c->pending_cr = 0;
    c->too_big = 0;
    buf_init(&c->out);
}

static void content_flush(struct smtpd_state *st, struct content *c)
{
    if (c->out.len && st->cleanup && !c->too_big)
        cleanup_client_content(st->cleanup, c->out.data, c->out.len);
    buf_reset(&c->out);
}

/* Count and queue n content bytes (already LF-normalised). */
static void content_put(struct smtpd_state *st, struct content *c, const char *p, size_t n)
{
    if (c->too_big)
        return;
    st->msg_size += n;
    if (smtpd_settings.message_size_limit > 0 &&
        st->msg_size > (uint64_t)smtpd_settings.message_size_limit) {
        c->too_big = 1;
        buf_reset(&c->out);
        return;
    }
    buf_append(&c->out, p, n);
    if (c->out.len >= 65536)
        content_flush(st, c);
}

static void received_header(struct smtpd_state *st, struct buf *h)
{
    struct buf date = BUF_INIT;
    header_date_format(&date, time(NULL));
    buf_printf(h, "Received: from %s (%s [%s])\n", st->helo_name ? st->helo_name : st->name,
               st->name, st->addr);
    if (st->tls_active && smtpd_settings.received_tls) {
        struct buf t = BUF_INIT;
        smtpd_tls_received(st, &t);
        if (t.len)
            buf_printf(h, "\t%s\n", buf_cstr(&t));
        buf_free(&t);
    }
    if (st->sasl_username && conf_bool("smtpd_sasl_authenticated_header"))
        buf_printf(h, "\t(Authenticated sender: %s)\n", st->sasl_username);
    buf_printf(h, "\tby %s (%s) with %s id %s", smtpd_settings.myhostname, conf_str("mail_name"),
               st->protocol, st->queue_id);
    if (st->rcpt_count == 1)
        buf_printf(h, "\n\tfor <%s>", buf_cstr(&st->first_rcpt));
    buf_printf(h, "; %s\n", buf_cstr(&date));
    buf_free(&date);
}

/* open_queue_file - connect to cleanup and send the envelope and our
 * Received: header. 0, or -1 after a 451 reply. */
static int open_queue_file(struct smtpd_state *st)
{
    struct buf why = BUF_INIT;
    int flags = st->hold ? CLEANUP_FLAG_HOLD : 0;
    st->cleanup = cleanup_client_open(flags, (int)conf_time("ipc_timeout"), st->queue_id, &why);
    if (st->cleanup == NULL) {
        msg_warn("cannot connect to cleanup: %s", buf_cstr(&why));
        st->queue_id[0] = 0;
        buf_free(&why);
        return -1;
    }
    buf_free(&why);
    if (st->sasl_username)
        msg_info("%s: client=%s, sasl_method=%s, sasl_username=%s", st->queue_id, st->namaddr,
                 st->sasl_method, st->sasl_username);
    else
        msg_info("%s: client=%s", st->queue_id, st->namaddr);
    struct buf a = BUF_INIT;
#define ATTR(...)                                                                                  \
    do {                                                                                           \
        buf_setf(&a, __VA_ARGS__);                                                                 \
        cleanup_client_str(st->cleanup, QF_ATTR, buf_cstr(&a));                                    \
    } while (0)
    ATTR("client_name=%s", st->name);
    ATTR("client_address=%s", st->addr);
    if (st->helo_name)
        ATTR("helo_name=%s", st->helo_name);
    ATTR("protocol_name=%s", st->protocol);
    ATTR("rewrite_context=remote");
    if (st->mail_path.ret)
        ATTR("dsn_ret=%s", st->mail_path.ret == SMTP_RET_FULL ? "FULL" : "HDRS");
    if (st->mail_path.envid.len)
        ATTR("dsn_envid=%s", buf_cstr(&st->mail_path.envid));
#undef ATTR
    buf_free(&a);
    cleanup_client_str(st->cleanup, QF_SENDER, st->sender);
    for (size_t i = 0; i < st->rcpts->argc; i++) {
        if (st->orcpts->argv[i][0])
            cleanup_client_str(st->cleanup, QF_ORCPT, st->orcpts->argv[i]);
        if (st->notifies->argv[i][0])
            cleanup_client_str(st->cleanup, QF_NOTIFY, st->notifies->argv[i]);
        cleanup_client_str(st->cleanup, QF_RCPT, st->rcpts->argv[i]);
    }
    struct buf h = BUF_INIT;
    received_header(st, &h);
    cleanup_client_content(st->cleanup, h.data, h.len);
    buf_free(&h);
    return 0;
}

/* The verdict at the end of a message, and the reply. */
static void finish_message(struct smtpd_state *st, struct content *c, const char *stage)
{
    struct smtpd_reply r;
    smtpd_reply_init(&r);
    content_flush(st, c);
    if (c->too_big) {
        cleanup_client_abort(st->cleanup);
        st->cleanup = NULL;
        smtpd_reply_set(&r, 552, "5.3.4", "Error: message file too big");
        msg_info("%s: reject: %s from %s: 552 5.3.4 Error: message file too big; from=<%s> "
                 "proto=%s helo=<%s>",
                 st->queue_id[0] ? st->queue_id : "NOQUEUE", stage, st->namaddr, st->sender,
                 st->protocol, st->helo_name ? st->helo_name : "");
        smtpd_out_reply(st, &r);
    } else if (st->discard) {
        /* Accept and drop, as an access table's DISCARD asks (Postfix
         * answers as if the message was queued). */
        cleanup_client_abort(st->cleanup);
        st->cleanup = NULL;
        smtpd_reply_set(&r, 250, "2.0.0", "%s", st->discard_reason ? st->discard_reason : "");
        smtpd_log_reject(st, "discard", stage, &r);
        smtpd_out(st, 250, "2.0.0", "Ok: queued as %s", st->queue_id);
    } else {
        struct buf why = BUF_INIT;
        int status = cleanup_client_close(st->cleanup, &why);
        st->cleanup = NULL;
        if (status == CLEANUP_STAT_OK) {
            smtpd_out(st, 250, "2.0.0", "Ok: queued as %s", st->queue_id);
        } else {
            /* cleanup's reason starts with the enhanced status. */
            const char *text = buf_cstr(&why);
            char dsn[10] = "";
            size_t dl = strcspn(text, " ");
            if (dl > 0 && dl < sizeof(dsn) && (text[0] == '4' || text[0] == '5') &&
                text[1] == '.') {
                memcpy(dsn, text, dl);
                dsn[dl] = 0;
                text += dl + (text[dl] == ' ');
            }
            if (status & CLEANUP_STAT_WRITE)
                smtpd_reply_set(&r, 451, "4.3.0", "Error: queue file write error");
            else if (status & CLEANUP_STAT_DEFER)
                smtpd_reply_set(&r, 451, dsn[0] == '4' ? dsn : "4.3.0", "Error: %s",
                                *text ? text : "try again later");
            else if (status & (CLEANUP_STAT_SIZE | CLEANUP_STAT_HDR))
                smtpd_reply_set(&r, 552, dsn[0] ? dsn : "5.3.4", "Error: %s",
                                *text ? text : "message file too big");
            else if (status & CLEANUP_STAT_HOPS)
                smtpd_reply_set(&r, 554, "5.4.0", "Error: too many hops");
            else
                smtpd_reply_set(&r, dsn[0] == '4' ? 451 : 550, dsn[0] ? dsn : "5.6.0", "Error: %s",
                                *text ? text : "message content rejected");
            free(st->recipient);
            st->recipient = NULL;
            smtpd_log_reject(st, "reject", stage, &r);
            smtpd_out_reply(st, &r);
        }
        buf_free(&why);
    }
    smtpd_reply_free(&r);
    smtpd_reset(st);
}

void smtpd_cmd_data(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    struct smtpd_reply r;
    struct content c;
    struct buf line = BUF_INIT;

    if (cmd->args_len) {
        smtpd_out(st, 501, "5.5.4", "Syntax: DATA");
        return;
    }
    if (st->bdat_active) {
        smtpd_out(st, 503, "5.5.1", "Error: DATA after BDAT");
        return;
    }
    if (st->sender == NULL || st->rcpt_count == 0) {
        if (st->sender && st->rcpts->argc == 0)
            smtpd_out(st, 554, "5.5.1", "Error: no valid recipients");
        else
            smtpd_out(st, 503, "5.5.1", "Error: need RCPT command");
        return;
    }
    smtpd_reply_init(&r);
    if (smtpd_check_data(st, &r) == SMTPD_CHECK_REJECT) {
        smtpd_out_reply(st, &r);
        smtpd_reply_free(&r);
        return;
    }
    smtpd_reply_free(&r);
    content_init(&c);
    if (open_queue_file(st) < 0) {
        smtpd_out(st, 451, "4.3.0", "Error: queue file write error");
        buf_free(&c.out);
        return;
    }
    smtpd_out(st, 354, NULL, "End data with <CR><LF>.<CR><LF>");
    if (smtpd_flush(st) < 0)
        smtpd_lost(st, "DATA");

    for (;;) {
        enum stream_line rl = stream_get_line(st->client, &line, DATA_CHUNK);
        if (rl == STREAM_LINE_EOF || rl == STREAM_LINE_ERR ||
            (rl == STREAM_LINE_OK && (st->client->flags & STREAM_F_EOF))) {
            char after[64];
            snprintf(after, sizeof(after), "DATA (%llu bytes)", (unsigned long long)st->msg_size);
            buf_free(&c.out);
            buf_free(&line);
            smtpd_lost(st, after);
        }
        char *p = line.data;
        size_t n = line.len;
        if (rl == STREAM_LINE_LONG) {
            /* A piece of a long line: a CR carried over was bare. */
            if (c.pending_cr)
                smtpd_bare_newline(st, "CR", "DATA");
            c.pending_cr = n > 0 && p[n - 1] == '\r';
            if (c.pending_cr)
                n--;
            if (memchr(p, '\r', n))
                smtpd_bare_newline(st, "CR", "DATA");
            if (c.at_line_start && n > 0 && p[0] == '.') {
                p++;
                n--;
            }
            content_put(st, &c, p, n);
            c.at_line_start = 0;
            continue;
        }
        /* A whole line (its LF removed). */
        if (n > 0 && p[n - 1] == '\r') {
            if (c.pending_cr)
                smtpd_bare_newline(st, "CR", "DATA");
            n--;
        } else if (!(n == 0 && c.pending_cr)) {
            smtpd_bare_newline(st, "LF", "DATA");
        }
        c.pending_cr = 0;
        if (memchr(p, '\r', n))
            smtpd_bare_newline(st, "CR", "DATA");
        if (c.at_line_start && n == 1 && p[0] == '.')
            break; /* RFC 5321 4.1.1.4: CRLF . CRLF */
        if (c.at_line_start && n > 0 && p[0] == '.') {
            p++;
            n--;
        }
        content_put(st, &c, p, n);
        content_put(st, &c, "\n", 1);
        c.at_line_start = 1;
    }
    buf_free(&line);
    st->last_cmd = "END-OF-MESSAGE";
    finish_message(st, &c, "END-OF-MESSAGE");
    buf_free(&c.out);
}

/* -- BDAT ----------------------------------------------------------------------- */

/* The state of a BDAT transfer lives across commands. */
static struct content bdat_content;

static int parse_bdat(const struct smtp_cmd *cmd, uint64_t *size, int *last)
{
    const char *p = cmd->args, *end = cmd->args + cmd->args_len;
    uint64_t v = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10 || ++digits > 20)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (digits == 0)
        return -1;
    *last = 0;
    if (p < end) {
        while (p < end && *p == ' ')
            p++;
        if ((size_t)(end - p) != 4 || strncasecmp(p, "LAST", 4) != 0)
            return -1;
        *last = 1;
    }
    *size = v;
    return 0;
}

/* Read a BDAT chunk of size bytes; give them to the message unless
 * discard is set. CRLF -> LF; a bare CR or LF ends the session. */
static void bdat_read(struct smtpd_state *st, struct content *c, uint64_t size, int discard)
{
    char piece[DATA_CHUNK];
    while (size > 0) {
        size_t n = size > sizeof(piece) ? sizeof(piece) : (size_t)size;
        if (stream_read(st->client, piece, n) < 0) {
            char after[64];
            snprintf(after, sizeof(after), "BDAT (%llu bytes)", (unsigned long long)st->msg_size);
            smtpd_lost(st, after);
        }
        size -= n;
        if (discard)
            continue;
        size_t start = 0;
        for (size_t i = 0; i < n; i++) {
            if (c->pending_cr) {
                c->pending_cr = 0;
                if (piece[i] != '\n')
                    smtpd_bare_newline(st, "CR", "BDAT");
                content_put(st, c, "\n", 1);
                start = i + 1;
                continue;
            }
            if (piece[i] == '\r') {
                content_put(st, c, piece + start, i - start);
                c->pending_cr = 1;
                start = i + 1;
            } else if (piece[i] == '\n') {
                smtpd_bare_newline(st, "LF", "BDAT");
            }
        }
        if (start < n)
            content_put(st, c, piece + start, n - start);
    }
}

void smtpd_cmd_bdat(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    uint64_t size;
    int last;
    struct content *c = &bdat_content;

    if (parse_bdat(cmd, &size, &last) < 0) {
        /* The chunk's length is unknown, so its bytes cannot be told from
         * commands: end the session rather than read data as commands. */
        stream_printf(st->client, "501 5.5.4 Syntax: BDAT count [LAST]\r\n");
        smtpd_flush_last(st);
        msg_info("bad BDAT syntax from %s", st->namaddr);
        smtpd_lost(st, "BDAT");
    }
    if (st->sender == NULL || st->rcpt_count == 0 || st->bdat_failed) {
        bdat_read(st, c, size, 1);
        if (st->bdat_failed) {
            if (last)
                smtpd_reset(st);
            smtpd_out(st, 503, "5.5.1", "Error: BDAT after a refused chunk");
        } else if (st->sender && st->rcpts->argc == 0) {
            smtpd_out(st, 554, "5.5.1", "Error: no valid recipients");
        } else {
            smtpd_out(st, 503, "5.5.1", "Error: need RCPT command");
        }
        return;
    }
    if (!st->bdat_active) {
        struct smtpd_reply r;
        smtpd_reply_init(&r);
        buf_free(&c->out);
        content_init(c);
        if (smtpd_check_data(st, &r) == SMTPD_CHECK_REJECT) {
            bdat_read(st, c, size, 1);
            st->bdat_failed = !last;
            smtpd_out_reply(st, &r);
            smtpd_reply_free(&r);
            if (last)
                smtpd_reset(st);
            return;
        }
        smtpd_reply_free(&r);
        if (open_queue_file(st) < 0) {
            bdat_read(st, c, size, 1);
            st->bdat_failed = !last;
            smtpd_out(st, 451, "4.3.0", "Error: queue file write error");
            return;
        }
        st->bdat_active = 1;
    }
    bdat_read(st, c, size, 0);
    if (!last) {
        content_flush(st, c);
        smtpd_out(st, 250, "2.0.0", "Ok: %llu bytes", (unsigned long long)size);
        return;
    }
    if (c->pending_cr) /* a message may end without CRLF; a lone CR may not */
        smtpd_bare_newline(st, "CR", "BDAT");
    st->last_cmd = "END-OF-MESSAGE";
    finish_message(st, c, "END-OF-MESSAGE");
    buf_free(&c->out);
    content_init(c);
}
