/* smtpd - the state of one SMTP session, shared by the files of smtpd:
 * smtpd.c (session and command table), smtpd_data.c (DATA and BDAT),
 * smtpd_check.c (restrictions), smtpd_sasl.c (AUTH through the auth
 * service), smtpd_tls.c (STARTTLS and implicit TLS).
 */
#ifndef SMTPD_SMTPD_H
#define SMTPD_SMTPD_H

#include <stddef.h>
#include <stdint.h>

#include "mail/cleanup_client.h"
#include "mail/queue_id.h"
#include "mail/smtp_cmd.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/stream.h"

struct tls_session;
struct anvil_client;

/* One reply with its code and enhanced status (STYLE.md: one place). */
struct smtpd_reply {
    int code;        /* 0 = no reply decided */
    char dsn[10];    /* "5.7.1" */
    struct buf text; /* "<x@y>: Relay access denied" */
};

struct smtpd_state {
    struct stream *client;
    const char *service; /* master.cf service name: "smtp", "submission" */

    /* The client, as Postfix logs it: name[addr]. name is the verified
     * reverse name (forward-confirmed), else "unknown". */
    char name[1025];
    char reverse_name[1025]; /* PTR answer even when not confirmed, or "unknown" */
    char addr[64];
    char port[8];
    char namaddr[1100]; /* "name[addr]" (":port" with smtpd_client_port_logging) */
    int name_status;    /* 0 verified, 4 temporary lookup failure, 5 no/forged name */

    /* Session. */
    char *helo_name;      /* NULL before HELO/EHLO */
    const char *protocol; /* "SMTP", "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" */
    int esmtp;            /* EHLO was used */
    int tls_active;
    struct tls_session *tls;
    char *sasl_method;   /* "PLAIN" after AUTH succeeded, else NULL */
    char *sasl_username; /* authenticated name, else NULL */
    int pipelining_seen; /* the client sent ahead of a reply without PIPELINING */

    /* Transaction (from MAIL to end of DATA/BDAT LAST or RSET). */
    char *sender;                    /* internal form; "" null sender; NULL before MAIL */
    struct smtp_path mail_path;      /* MAIL parameters (SIZE, BODY, RET, ENVID, ...) */
    char *recipient;                 /* the RCPT being checked, for restrictions */
    struct smtp_path rcpt_path;      /* RCPT parameters of the current recipient */
    int rcpt_count;                  /* accepted recipients */
    char queue_id[QUEUE_ID_LEN + 1]; /* "" before cleanup was opened */
    struct cleanup_client *cleanup;
    int hold; /* an access table said HOLD */
    char *hold_reason;
    int discard; /* an access table said DISCARD */
    char *discard_reason;
    uint64_t msg_size; /* content bytes received so far */

    /* Counters for the "disconnect from" line: per command, in order. */
    int error_count; /* for smtpd_soft/hard_error_limit */
    int junk_count;
    int cmd_ok[16], cmd_total[16]; /* per command table entry */
    const char *last_cmd;          /* "CONNECT", "EHLO", ... for "lost connection after" */
    int bdat_active;               /* a BDAT transfer is under way (no DATA) */
    int bdat_failed;               /* a BDAT chunk was refused: the rest is only read */
    int limit_exempt;              /* -1 unknown, 0, 1 */
    struct buf first_rcpt;         /* the first recipient, for the Received: header */
    struct argv *rcpts;            /* accepted recipients, sent to cleanup at DATA/BDAT */
    struct argv *orcpts;           /* parallel: ORCPT or "" */
    struct argv *notifies;         /* parallel: NOTIFY bits in decimal, "" when not given */
    struct buf auth_mechs;         /* mechanisms from the auth service, at EHLO */
    void *jmp;                     /* session end (jmp_buf *) */
};

/* smtpd_log_reject - Postfix's reject line:
 * "NOQUEUE: reject: RCPT from name[addr]: 554 5.7.1 <rcpt>: Relay access
 * denied; from=<sender> to=<rcpt> proto=ESMTP helo=<helo>"
 * (the queue ID instead of NOQUEUE once there is one; "to=" only when a
 * recipient is known; "from=" only after MAIL). stage is the command:
 * "CONNECT", "HELO", "EHLO", "MAIL", "RCPT", "DATA", "END-OF-MESSAGE".
 * action is "reject", "hold", "discard", "filter", "warn". */
void smtpd_log_reject(const struct smtpd_state *st, const char *action, const char *stage,
                      const struct smtpd_reply *r);

/* Session plumbing shared by the smtpd files (smtpd.c). */

/* smtpd_out - send one reply line set: "code dsn text" (multi-line when
 * text holds '\n'). Counts an error for 4xx/5xx (soft/hard error limits).
 * Output is flushed unless more pipelined input is waiting. */
void smtpd_out(struct smtpd_state *st, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void smtpd_out_reply(struct smtpd_state *st, const struct smtpd_reply *r);
/* smtpd_flush - write out buffered replies; -1 when the client is gone. */
int smtpd_flush(struct smtpd_state *st);
/* smtpd_flush_last - a last flush before the session ends: failure is moot. */
void smtpd_flush_last(struct smtpd_state *st);
/* smtpd_reset - end the transaction (RSET, HELO, after a message). */
void smtpd_reset(struct smtpd_state *st);
/* smtpd_lost - log "lost connection"/"timeout" after CMD and end the session
 * (longjmp to the session's end). */
__attribute__((noreturn)) void smtpd_lost(struct smtpd_state *st, const char *after);
/* smtpd_bare_newline - 521 and end the session (RFC 5321 2.3.8). */
__attribute__((noreturn)) void smtpd_bare_newline(struct smtpd_state *st, const char *what,
                                                  const char *after);

/* smtpd_data.c */
void smtpd_cmd_data(struct smtpd_state *st, const struct smtp_cmd *cmd);
void smtpd_cmd_bdat(struct smtpd_state *st, const struct smtp_cmd *cmd);
/* smtpd_tls.c */
int smtpd_tls_init(struct buf *why); /* pre_init; 0 or -1 */
int smtpd_tls_available(void);       /* a server context exists */
int smtpd_tls_required(void);        /* smtpd_tls_security_level = encrypt */
void smtpd_cmd_starttls(struct smtpd_state *st, const struct smtp_cmd *cmd);
/* smtpd_tls_wrapper - implicit TLS at connect (smtpd_tls_wrappermode); 0 or -1 */
int smtpd_tls_wrapper(struct smtpd_state *st);
/* smtpd_tls_received - "(using TLSv1.3 with cipher X (256/256 bits))" or "" */
void smtpd_tls_received(const struct smtpd_state *st, struct buf *out);
/* smtpd_sasl.c */
int smtpd_sasl_offer(struct smtpd_state *st);              /* announce AUTH now? */
const char *smtpd_sasl_mechanisms(struct smtpd_state *st); /* "PLAIN LOGIN" or NULL */
void smtpd_cmd_auth(struct smtpd_state *st, const struct smtp_cmd *cmd);
void smtpd_sasl_reset(struct smtpd_state *st);
/* smtpd_peer.c: fill name, reverse_name, addr, port, namaddr from the socket */
void smtpd_peer_init(struct smtpd_state *st);

/* settings read once per process */
struct smtpd_settings {
    const char *myhostname;
    long message_size_limit;
    long recipient_limit;
    int soft_error_limit, hard_error_limit;
    int error_sleep_time;
    int junk_command_limit;
    int timeout;
    long line_length_limit;
    int forbid_unauth_pipelining;
    int disable_vrfy;
    int helo_required;
    int strict_rfc821;
    int sasl_enable;
    int tls_auth_only;
    int received_tls;
    int client_port_logging;
    int peername_lookup;
    int wrappermode;
    int greet_pause;
    long conn_count_limit, conn_rate_limit, message_rate_limit, rcpt_rate_limit, auth_rate_limit;
};
extern struct smtpd_settings smtpd_settings;
extern struct anvil_client *smtpd_anvil; /* NULL: no limits enforced */
/* smtpd_anvil_ident - "service:addr" for anvil */
const char *smtpd_anvil_ident(const struct smtpd_state *st);
/* smtpd_limit_exempt - the client is in smtpd_client_event_limit_exceptions */
int smtpd_limit_exempt(struct smtpd_state *st);

void smtpd_reply_init(struct smtpd_reply *r);
void smtpd_reply_free(struct smtpd_reply *r);
void smtpd_reply_set(struct smtpd_reply *r, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
