/* smtp.h - shared state of the smtp(8)/lmtp(8) delivery agent: its
 * settings, the addresses of a next hop, a session with one server, and
 * the per-recipient outcome of one delivery request.
 */
#ifndef SMTP_SMTP_H
#define SMTP_SMTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "mail/deliver_request.h"
#include "mail/mail_proto.h"
#include "mail/queue_file.h"
#include "mail/smtp_client.h"
#include "mail/smtp_reply.h"
#include "mail/smtp_tls_policy.h"
#include "maps/map_addr.h"
#include "tls/tls.h"
#include "util/buf.h"
#include "util/stream.h"

#define SMTP_OWN_ADDR_MAX 64

struct smtp_conf {
    int lmtp;          /* started as lmtp */
    const char *proto; /* "SMTP" or "LMTP" (log text) */
    const char *myhostname;
    const char *helo_name;
    int connect_timeout, helo_timeout, mail_timeout, rcpt_timeout;
    int data_init_timeout, data_xfer_timeout, data_done_timeout, quit_timeout;
    int starttls_timeout;
    long mx_address_limit, mx_session_limit;
    size_t line_length_limit;
    int skip_5xx_greeting, never_send_ehlo;
    int use_ipv4, use_ipv6, prefer_ipv6;
    int host_lookup_native; /* smtp_host_lookup has "native" */
    const char *bind4, *bind6;
    const char *tls_level; /* default level ("" -> none) */
    struct maps *tls_policy_maps;
    struct tls_client_ctx *tls_ctx;           /* opportunistic */
    struct tls_client_ctx *tls_ctx_mandatory; /* encrypt/verify/secure */
    int sasl_enable;
    struct maps *sasl_maps;
    const char *sasl_opts, *sasl_tls_opts;
    int cache_time_limit, reuse_time_limit;
    long reuse_count_limit;
    /* this host's addresses (inet_interfaces, proxy_interfaces) */
    struct sockaddr_storage own[SMTP_OWN_ADDR_MAX];
    size_t own_count;
};

extern struct smtp_conf smtp_conf;

/* One address to try. */
struct smtp_addr {
    struct smtp_addr *next;
    char host[SMTP_CLIENT_HOST_MAX]; /* host name (MX exchange, or the next hop) */
    char text[64];                   /* printable address, or the socket path */
    struct sockaddr_storage sa;      /* family AF_UNSPEC for a UNIX socket */
    char path[SMTP_CLIENT_HOST_MAX];
    unsigned port;
    unsigned pref;
};

/* Outcome of building the address list, or of a session step. */
enum smtp_fail {
    SMTP_OK = 0,
    SMTP_SITE_TEMP,  /* this server failed: try the next one */
    SMTP_ALL_TEMP,   /* defer every pending recipient, try no other server */
    SMTP_ALL_BOUNCE, /* bounce every pending recipient */
    SMTP_TLS_RETRY,  /* level may: TLS failed, retry this server in plaintext */
};

struct smtp_sess {
    struct stream *s;
    struct tls_session *tls;
    char host[SMTP_CLIENT_HOST_MAX];
    char addr[64];
    char relay[SMTP_CLIENT_HOST_MAX + 96]; /* "host[addr]:port" (relay=) */
    char name[SMTP_CLIENT_HOST_MAX + 96];  /* "host[addr]" (reply texts, as Postfix) */
    struct smtp_ehlo ehlo;
    int esmtp;
    time_t born, used;
    char key[1100];  /* scache destination label: service, next hop, TLS level */
    char endp[1100]; /* scache endpoint label: service, address:port, TLS level */
    long uses;       /* transactions done on this connection */
    int reused;
    int broken; /* not fit for another command: close without QUIT */
};

/* The delivery of one request. */
struct smtp_state {
    const struct deliver_request *req;
    struct qf_reader *qf;
    struct smtp_nexthop nh;
    struct smtp_tls_policy tls;
    int tls_policy_ok;
    long long size; /* content bytes */
    int eightbit;   /* content has 8-bit bytes */
    int smtputf8;   /* the envelope needs SMTPUTF8 */
    struct deliver_result *res;
    int *final;                               /* res[i] is decided */
    char (*relay)[SMTP_CLIENT_HOST_MAX + 96]; /* relay of res[i] */
    /* the last failure that did not decide recipients (next server, or
     * the final deferral of whoever is left) */
    int fail_status; /* DELIVER_DEFER or DELIVER_BOUNCE */
    char fail_dsn[16];
    struct buf fail_reason;
    char fail_mta[SMTP_CLIENT_HOST_MAX];
    struct buf fail_diag;
    char fail_relay[SMTP_CLIENT_HOST_MAX + 96]; /* server of the last failure, "" none */
    int any_reply;                              /* some server took part in a transaction */
    long mail_replies;                          /* replies to MAIL FROM read */
    int local_fail;              /* our own trouble (queue file): never a site failure */
    const struct smtp_sess *cur; /* the session being used: its relay= goes with failures */
};

/* smtp_addr.c */
void smtp_own_addrs_init(void);
/* smtp_addr_list - the addresses for st->nh: SMTP_OK and *out, or a
 * failure with st->fail_* set. */
enum smtp_fail smtp_addr_list(struct smtp_state *st, struct smtp_addr **out);
void smtp_addr_free(struct smtp_addr *list);

/* smtp_proto.c */
/* smtp_connect - a connected stream to a; NULL + why (Postfix wording). */
struct stream *smtp_connect(const struct smtp_addr *a, struct buf *why);
/* smtp_session_open - greeting, EHLO/LHLO, STARTTLS, AUTH on a new
 * connection. tls_plain: do not STARTTLS (retry after a may failure). */
enum smtp_fail smtp_session_open(struct smtp_state *st, struct smtp_sess *ss, int tls_plain);
/* smtp_transaction - MAIL, RCPT, DATA for the undecided recipients;
 * decides recipients in st; SMTP_OK when the session is still fit for
 * reuse, else why it is not (st->fail_* set). */
enum smtp_fail smtp_transaction(struct smtp_state *st, struct smtp_sess *ss);
/* smtp_session_end - QUIT (best effort) and free. */
void smtp_session_end(struct smtp_sess *ss, int quit);
/* smtp_session_rset - RSET for reuse; 0 or -1. */
int smtp_session_rset(struct smtp_sess *ss);

/* smtp_state helpers (smtp.c) */
void smtp_fail_set(struct smtp_state *st, int status, const char *dsn, const char *mta,
                   const char *diag, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void smtp_rcpt_decide(struct smtp_state *st, size_t i, int status, const char *dsn,
                      const struct smtp_sess *ss, const struct smtp_resp *r, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* smtp_session.c: connection reuse through scache(8) */
/* smtp_cache_take - a cached session under label (destination or
 * endpoint), already checked for a hang-up; NULL when there is none. */
struct smtp_sess *smtp_cache_take(const char *label);
/* smtp_cache_put - hand ss to scache (or end it with QUIT when it may not
 * be cached); ss is freed either way. */
void smtp_cache_put(struct smtp_sess *ss);

#endif
