/* smtpd_tls - TLS in the SMTP server: STARTTLS (RFC 3207) and implicit TLS
 * on the submissions port (RFC 8314, smtpd_tls_wrappermode).
 *
 * smtpd_tls_security_level: none (no TLS), may (STARTTLS offered), encrypt
 * (offered and required before mail: 530 5.7.0 to anything else). The key
 * and certificate are loaded before the chroot. At STARTTLS every byte the
 * client sent after the command is thrown away before the handshake (RFC
 * 3207 4.2; the "STARTTLS\r\nRSET\r\n" injection), and afterwards the
 * session starts over: no HELO, no AUTH, no transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/mail_conf.h"
#include "smtpd.h"
#include "tls/tls.h"
#include "util/msg.h"

static struct tls_server_ctx *tls_ctx;
static int tls_level; /* 0 none, 1 may, 2 encrypt */

int smtpd_tls_init(struct buf *why)
{
    const char *level = conf_str("smtpd_tls_security_level");
    int wrapper = conf_bool("smtpd_tls_wrappermode");
    if (*level == 0 || strcmp(level, "none") == 0)
        tls_level = 0;
    else if (strcmp(level, "may") == 0)
        tls_level = 1;
    else if (strcmp(level, "encrypt") == 0)
        tls_level = 2;
    else {
        buf_setf(why, "smtpd_tls_security_level: unknown level: %s (use none, may or encrypt)",
                 level);
        return -1;
    }
    if (tls_level == 0 && !wrapper)
        return 0;
    struct tls_server_params p = {
        .cert_file = conf_str("smtpd_tls_cert_file"),
        .key_file = conf_str("smtpd_tls_key_file"),
        .protocols =
            conf_str(tls_level == 2 ? "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols"),
        .ciphers = conf_str(tls_level == 2 ? "smtpd_tls_mandatory_ciphers" : "smtpd_tls_ciphers"),
        .ca_file = "",
    };
    if (*p.cert_file == 0) {
        if (tls_level == 2 || wrapper) {
            buf_setf(why, "smtpd_tls_cert_file: no certificate, but %s",
                     wrapper ? "smtpd_tls_wrappermode = yes"
                             : "smtpd_tls_security_level = encrypt");
            return -1;
        }
        msg_warn("smtpd_tls_security_level = may, but smtpd_tls_cert_file is empty: no STARTTLS");
        tls_level = 0;
        return 0;
    }
    struct buf err = BUF_INIT;
    tls_ctx = tls_server_ctx_create(&p, &err);
    if (tls_ctx == NULL) {
        if (tls_level == 2 || wrapper) {
            buf_setf(why, "cannot use the TLS certificate: %s", buf_cstr(&err));
            buf_free(&err);
            return -1;
        }
        /* Opportunistic TLS that cannot work is not offered (Postfix). */
        msg_warn("cannot use the TLS certificate: %s; STARTTLS is not offered", buf_cstr(&err));
        tls_level = 0;
    }
    buf_free(&err);
    return 0;
}

int smtpd_tls_available(void)
{
    return tls_ctx != NULL && tls_level > 0;
}

int smtpd_tls_required(void)
{
    return tls_level == 2;
}

static int handshake(struct smtpd_state *st)
{
    struct buf why = BUF_INIT;
    stream_purge_input(st->client); /* RFC 3207 4.2 */
    st->tls = tls_server_start(tls_ctx, st->client, (int)conf_time("smtpd_starttls_timeout"), &why);
    if (st->tls == NULL) {
        msg_info("SSL_accept error from %s: %s", st->namaddr, buf_cstr(&why));
        buf_free(&why);
        return -1;
    }
    buf_free(&why);
    st->tls_active = 1;
    const struct tls_info *ti = tls_session_info(st->tls);
    msg_info("Anonymous TLS connection established from %s: %s with cipher %s (%d/%d bits)",
             st->namaddr, ti->protocol, ti->cipher, ti->cipher_bits, ti->cipher_alg_bits);
    return 0;
}

void smtpd_cmd_starttls(struct smtpd_state *st, const struct smtp_cmd *cmd)
{
    if (cmd->args_len) {
        smtpd_out(st, 501, "5.5.4", "Syntax: STARTTLS");
        return;
    }
    if (st->tls_active) {
        smtpd_out(st, 554, "5.5.1", "Error: TLS already active");
        return;
    }
    if (!smtpd_tls_available()) {
        smtpd_out(st, 502, "5.5.1", "Error: command not implemented");
        return;
    }
    stream_puts(st->client, "220 2.0.0 Ready to start TLS\r\n");
    if (smtpd_flush(st) < 0)
        smtpd_lost(st, "STARTTLS");
    if (handshake(st) < 0)
        smtpd_lost(st, "STARTTLS");
    /* RFC 3207 4.2: forget everything learned before TLS. */
    smtpd_reset(st);
    free(st->helo_name);
    st->helo_name = NULL;
    st->esmtp = 0;
    smtpd_sasl_reset(st);
    st->protocol = "SMTP";
}

int smtpd_tls_wrapper(struct smtpd_state *st)
{
    if (tls_ctx == NULL) {
        msg_warn("smtpd_tls_wrappermode requires a working TLS certificate");
        return -1;
    }
    return handshake(st);
}

void smtpd_tls_received(const struct smtpd_state *st, struct buf *out)
{
    if (st->tls == NULL)
        return;
    const struct tls_info *ti = tls_session_info(st->tls);
    buf_printf(out, "(using %s with cipher %s (%d/%d bits))", ti->protocol, ti->cipher,
               ti->cipher_bits, ti->cipher_alg_bits);
}
