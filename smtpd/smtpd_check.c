/* smtpd_check - Postfix's SMTP access restrictions (smtpd_check.h): the
 * configuration read at start, the table of restrictions, the evaluation
 * of restriction lists, the per-command drivers, and the reply / log
 * helpers every check shares. Tables, addresses and DNS live in
 * smtpd_check_access.c, smtpd_check_addr.c and smtpd_check_dns.c.
 *
 * Evaluation follows Postfix's generic_checks(): restrictions run in
 * order until one answers OK or REJECT; OK ends only the current list;
 * warn_if_reject turns the next restriction's reject into a logged
 * warning; defer_if_reject / defer_if_permit remember a deferral that
 * replaces a later reject / the final accept.
 */
#include "smtpd_check_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"

struct chk_config chk_cf;
int chk_ready;

/* defer_if_permit outlives one command: a client or HELO deferral with
 * smtpd_delay_reject = no still turns the RCPT accept into a deferral
 * (Postfix keeps it in the session). One session per process at a time. */
struct chk_defer sess_dip;
static int dip_client, dip_helo, dip_sender;

#define REPLY_MAX 510 /* RFC 5321 4.5.3.1.5: 512 with CRLF */

/* ---- replies and logs ----------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xe0) == 0xc0 ? 2
                     : (c & 0xf0) == 0xe0 ? 3
                     : (c & 0xf8) == 0xf0 ? 4
                                          : 0;
        if (len == 0 || i + len > n || (len == 2 && c < 0xc2))
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += len;
    }
    return 1;
}

/* sanitize - no control bytes in a reply or a log line; 8-bit only when it
 * is valid UTF-8 (an SMTPUTF8 address), else '?'. */
static void sanitize(struct buf *b)
{
    int utf8 = utf8_valid((const unsigned char *)b->data, b->len);
    for (size_t i = 0; i < b->len; i++) {
        unsigned char ch = (unsigned char)b->data[i];
        if (ch < 0x20 || ch == 0x7f)
            b->data[i] = ' ';
        else if (ch >= 0x80 && !utf8)
            b->data[i] = '?';
    }
}

void chk_log(struct chk *c, const char *action, const char *text)
{
    struct smtpd_reply r;
    smtpd_reply_init(&r);
    r.code = 0;
    r.dsn[0] = 0;
    buf_set(&r.text, text);
    sanitize(&r.text);
    smtpd_log_reject(c->st, action, c->stage, &r);
    smtpd_reply_free(&r);
}

static int dsn_ok(const char *dsn)
{
    char d[ACCESS_DSN_MAX];
    return *access_dsn_split(dsn, d) == 0 && d[0] != 0;
}

static int chk_vreject(struct chk *c, enum chk_error err, int code, const char *dsn,
                       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static int chk_vreject(struct chk *c, enum chk_error err, int code, const char *dsn,
                       const char *fmt, va_list ap)
{
    struct buf text = BUF_INIT;
    char d[ACCESS_DSN_MAX];
    int warn = c->warn_if_reject &&
               (err == CHK_ERR_POLICY || err == CHK_ERR_PROTOCOL || err == CHK_ERR_BOUNCE);

    buf_vprintf(&text, fmt, ap);
    if (code < 400 || code > 599 || !dsn_ok(dsn)) {
        msg_warn("SMTP reply code configuration error: %d %s %s", code, dsn, buf_cstr(&text));
        code = 450;
        dsn = "4.7.1";
        buf_set(&text, "Service unavailable");
    }
    snprintf(d, sizeof(d), "%s", dsn);
    sanitize(&text);
    if (text.len > REPLY_MAX - 5 - strlen(d)) {
        size_t n = REPLY_MAX - 5 - strlen(d);
        /* Never cut a UTF-8 sequence in two. */
        while (n > 0 && ((unsigned char)text.data[n] & 0xc0) == 0x80)
            n--;
        buf_truncate(&text, n);
    }

    /* A deferral remembered earlier wins over a permanent reject: the
     * temporary problem may have hidden a reason to accept. */
    if (!warn && c->defer_if_reject.active && code / 100 == 5) {
        struct chk_defer saved = c->defer_if_reject;
        int rc;
        c->warn_if_reject = 0;
        c->defer_if_reject.active = 0;
        buf_init(&saved.text);
        buf_set(&saved.text, buf_cstr(&c->defer_if_reject.text));
        rc = chk_reject(c, CHK_ERR_POLICY, saved.code, saved.dsn, "%s", saved.text.data);
        buf_free(&saved.text);
        buf_free(&text);
        return rc;
    }
    if (chk_cf.soft_bounce && code / 100 == 5)
        code -= 100;
    /* The enhanced status class follows the reply code (Postfix). */
    d[0] = (char)('0' + code / 100);

    if (warn) {
        struct smtpd_reply w;
        smtpd_reply_init(&w);
        smtpd_reply_set(&w, code, d, "%s", text.data);
        smtpd_log_reject(c->st, "reject_warning", c->stage, &w);
        smtpd_reply_free(&w);
        buf_free(&text);
        return SMTPD_CHECK_DUNNO;
    }
    smtpd_reply_set(c->reply, code, d, "%s", text.data);
    smtpd_log_reject(c->st, "reject", c->stage, c->reply);
    buf_free(&text);
    return SMTPD_CHECK_REJECT;
}

int chk_reject(struct chk *c, enum chk_error err, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = chk_vreject(c, err, code, dsn, fmt, ap);
    va_end(ap);
    return rc;
}

static void defer_set(struct chk_defer *d, int code, const char *dsn, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void defer_set(struct chk_defer *d, int code, const char *dsn, const char *fmt, va_list ap)
{
    if (d->active)
        return; /* the first reason is the one reported */
    d->active = 1;
    d->code = code;
    snprintf(d->dsn, sizeof(d->dsn), "%s", dsn);
    buf_reset(&d->text);
    buf_vprintf(&d->text, fmt, ap);
}

int chk_defer_if_reject(struct chk *c, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    defer_set(&c->defer_if_reject, code, dsn, fmt, ap);
    va_end(ap);
    return SMTPD_CHECK_DUNNO;
}

int chk_defer_if_permit(struct chk *c, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    int rc = SMTPD_CHECK_DUNNO;
    va_start(ap, fmt);
    if (c->warn_if_reject)
        rc = chk_vreject(c, CHK_ERR_POLICY, code, dsn, fmt, ap);
    else
        defer_set(&sess_dip, code, dsn, fmt, ap);
    va_end(ap);
    return rc;
}

int chk_lookup_failed(struct chk *c, const char *name, const char *table, const char *reason)
{
    msg_warn("%s lookup error for \"%s\": %s", table, name, reason);
    return chk_reject(c, CHK_ERR_DATA, 451, "4.3.0", "<%s>: Temporary lookup failure", name);
}

int chk_config_error(struct chk *c)
{
    return chk_reject(c, CHK_ERR_SOFTWARE, 451, "4.3.5", "Server configuration error");
}

int chk_permit(struct chk *c, const char *action, const char *reply_class, const char *reply_name,
               const char *table)
{
    if (sess_dip.active || chk_cf.permit_log == NULL)
        return SMTPD_CHECK_OK;
    for (size_t i = 0; i < chk_cf.permit_log->argc; i++) {
        if (strcasecmp(chk_cf.permit_log->argv[i], action) == 0) {
            struct buf t = BUF_INIT;
            buf_printf(&t, "action=%s for %s=%s", action, reply_class, reply_name);
            if (table != NULL)
                buf_printf(&t, " from %s", table);
            chk_log(c, "permit", t.data);
            buf_free(&t);
            break;
        }
    }
    return SMTPD_CHECK_OK;
}

/* ---- the restrictions ------------------------------------------------------ */

typedef int (*chk_fn)(struct chk *c, const struct restriction *r, const char *reply_name,
                      const char *reply_class, enum chk_acl def_acl);

#define CHK_ARGS                                                                                   \
    struct chk *c, const struct restriction *r, const char *reply_name, const char *reply_class,   \
        enum chk_acl def_acl

/* skipped - a restriction whose subject this command does not have (a
 * recipient check in smtpd_client_restrictions with smtpd_delay_reject
 * = no). Postfix skips it; warn once per name so the admin notices. */
static int skipped(struct chk *c, const struct restriction *r, const char *what)
{
    static struct argv *warned;
    if (warned == NULL)
        warned = argv_alloc();
    for (size_t i = 0; i < warned->argc; i++)
        if (strcasecmp(warned->argv[i], r->name) == 0)
            return SMTPD_CHECK_DUNNO;
    if (warned->argc < 100) {
        argv_add(warned, r->name);
        msg_warn("restriction %s skipped at %s: there is no %s yet (smtpd_delay_reject = no?)",
                 r->name, c->stage, what);
    }
    return SMTPD_CHECK_DUNNO;
}

static int has_recipient(struct chk *c)
{
    return c->st->recipient != NULL;
}

static int has_sender(struct chk *c)
{
    return c->st->sender != NULL;
}

static int r_permit(CHK_ARGS)
{
    return chk_permit(c, "permit", reply_class, reply_name, NULL);
}

static int r_reject(CHK_ARGS)
{
    return chk_reject(c, CHK_ERR_POLICY, chk_cf.reject_code, "5.7.1",
                      "<%s>: %s rejected: Access denied", reply_name, reply_class);
}

static int r_defer(CHK_ARGS)
{
    return chk_reject(c, CHK_ERR_POLICY, chk_cf.defer_code, "4.3.2",
                      "<%s>: %s rejected: Try again later", reply_name, reply_class);
}

static int r_defer_if_permit(CHK_ARGS)
{
    return chk_defer_if_permit(c, 450, "4.7.0", "<%s>: %s rejected: defer_if_permit requested",
                               reply_name, reply_class);
}

static int r_defer_if_reject(CHK_ARGS)
{
    return chk_defer_if_reject(c, 450, "4.7.0", "<%s>: %s rejected: defer_if_reject requested",
                               reply_name, reply_class);
}

static int r_sleep(CHK_ARGS)
{
    unsigned long n = strtoul(r->arg, NULL, 10);
    if (n > 3600) {
        msg_warn("restriction sleep %s: limited to 3600 seconds", r->arg);
        n = 3600;
    }
    sleep((unsigned)n);
    return SMTPD_CHECK_DUNNO;
}

static int r_unauth_pipelining(CHK_ARGS)
{
    if (!c->st->pipelining_seen)
        return SMTPD_CHECK_DUNNO;
    return chk_reject(c, CHK_ERR_PROTOCOL, 503, "5.5.0",
                      "<%s>: %s rejected: Improper use of SMTP command pipelining", reply_name,
                      reply_class);
}

static int r_plaintext(CHK_ARGS)
{
    if (c->st->tls_active)
        return SMTPD_CHECK_DUNNO;
    return chk_reject(c, CHK_ERR_POLICY, 450, "4.7.1", "Session encryption is required");
}

static int r_mynetworks(CHK_ARGS)
{
    struct buf why = BUF_INIT;
    int rc, m = match_list_host(chk_cf.mynetworks, c->st->name, c->st->addr, &why);
    if (m < 0)
        rc = chk_lookup_failed(c, reply_name, "mynetworks", buf_cstr(&why));
    else if (m > 0)
        rc = chk_permit(c, r->name, CHK_CLIENT, c->st->namaddr, NULL);
    else
        rc = SMTPD_CHECK_DUNNO;
    buf_free(&why);
    return rc;
}

static int r_inet_interfaces(CHK_ARGS)
{
    if (chk_is_own_addr(c->st->addr))
        return chk_permit(c, r->name, CHK_CLIENT, c->st->namaddr, NULL);
    return SMTPD_CHECK_DUNNO;
}

static int r_sasl(CHK_ARGS)
{
    if (c->st->sasl_username == NULL || c->st->sasl_username[0] == 0)
        return SMTPD_CHECK_DUNNO;
    return chk_permit(c, r->name, CHK_CLIENT, c->st->namaddr, NULL);
}

static int r_unknown_client(CHK_ARGS)
{
    if (c->st->name_status == 0)
        return SMTPD_CHECK_DUNNO;
    /* RFC 7372: 4.7.25 reverse DNS validation failed. */
    return chk_reject(c, CHK_ERR_POLICY, c->st->name_status >= 5 ? chk_cf.unk_client_code : 450,
                      "4.7.25", "Client host rejected: cannot find your hostname, [%s]",
                      c->st->addr);
}

static int r_unknown_reverse(CHK_ARGS)
{
    if (strcasecmp(c->st->reverse_name, "unknown") != 0)
        return SMTPD_CHECK_DUNNO;
    return chk_reject(c, CHK_ERR_POLICY, c->st->name_status == 4 ? 450 : chk_cf.unk_client_code,
                      "4.7.1", "Client host rejected: cannot find your reverse hostname, [%s]",
                      c->st->addr);
}

static int r_client_access(CHK_ARGS)
{
    return chk_client_access(c, r->arg, 0, def_acl);
}

static int r_rev_client_access(CHK_ARGS)
{
    return chk_client_access(c, r->arg, 1, def_acl);
}

static int r_rbl_client(CHK_ARGS)
{
    return chk_rbl_client(c, r->arg, 0);
}

static int r_dnswl_client(CHK_ARGS)
{
    int rc = chk_rbl_client(c, r->arg, 1);
    if (rc == SMTPD_CHECK_OK)
        return chk_permit(c, r->name, CHK_CLIENT, c->st->namaddr, NULL);
    return rc;
}

static int r_rhsbl_client(CHK_ARGS)
{
    if (strcasecmp(c->st->name, "unknown") == 0)
        return SMTPD_CHECK_DUNNO;
    return chk_rhsbl(c, r->arg, c->st->name, CHK_CLIENT);
}

static int r_rhsbl_reverse_client(CHK_ARGS)
{
    if (strcasecmp(c->st->reverse_name, "unknown") == 0)
        return SMTPD_CHECK_DUNNO;
    return chk_rhsbl(c, r->arg, c->st->reverse_name, CHK_REV_CLIENT);
}

static int r_rhsbl_helo(CHK_ARGS)
{
    if (c->st->helo_name == NULL)
        return SMTPD_CHECK_DUNNO;
    return chk_rhsbl(c, r->arg, c->st->helo_name, CHK_HELO);
}

static int r_rhsbl_sender(CHK_ARGS)
{
    if (!has_sender(c))
        return skipped(c, r, "sender");
    if (*c->st->sender == 0)
        return SMTPD_CHECK_DUNNO;
    return chk_rhsbl(c, r->arg, c->st->sender, CHK_SENDER);
}

static int r_rhsbl_recipient(CHK_ARGS)
{
    if (!has_recipient(c))
        return skipped(c, r, "recipient");
    return chk_rhsbl(c, r->arg, c->st->recipient, CHK_RECIPIENT);
}

static int r_helo_access(CHK_ARGS)
{
    if (c->st->helo_name == NULL)
        return SMTPD_CHECK_DUNNO;
    return chk_helo_access(c, r->arg, def_acl);
}

static int r_invalid_helo(CHK_ARGS)
{
    if (c->st->helo_name == NULL)
        return SMTPD_CHECK_DUNNO;
    return chk_invalid_helo(c, c->st->helo_name);
}

static int r_non_fqdn_helo(CHK_ARGS)
{
    if (c->st->helo_name == NULL)
        return SMTPD_CHECK_DUNNO;
    return chk_non_fqdn_helo(c, c->st->helo_name);
}

static int r_unknown_helo(CHK_ARGS)
{
    if (c->st->helo_name == NULL)
        return SMTPD_CHECK_DUNNO;
    return chk_unknown_helo(c, c->st->helo_name);
}

static int r_sender_access(CHK_ARGS)
{
    if (!has_sender(c))
        return skipped(c, r, "sender");
    return chk_mail_access(c, r->arg, c->st->sender, CHK_SENDER, def_acl);
}

static int r_non_fqdn_sender(CHK_ARGS)
{
    if (!has_sender(c))
        return skipped(c, r, "sender");
    if (*c->st->sender == 0)
        return SMTPD_CHECK_DUNNO;
    return chk_non_fqdn_addr(c, c->st->sender, CHK_SENDER);
}

static int r_unknown_sender_domain(CHK_ARGS)
{
    if (!has_sender(c))
        return skipped(c, r, "sender");
    if (*c->st->sender == 0)
        return SMTPD_CHECK_DUNNO;
    return chk_unknown_addr(c, c->st->sender, CHK_SENDER);
}

static int r_unlisted_sender(CHK_ARGS)
{
    if (!has_sender(c))
        return skipped(c, r, "sender");
    if (*c->st->sender == 0 || c->sender_checked)
        return SMTPD_CHECK_DUNNO;
    if (c->warn_if_reject == 0)
        c->sender_checked = 1;
    return chk_rcpt_maps(c, c->st->sender, CHK_SENDER);
}

/* Postfix: these need SASL, else they are ignored with a warning. */
static int login_check(struct chk *c, const struct restriction *r, int auth, int unauth,
                       int allow_unknown)
{
    if (!chk_cf.sasl_enable) {
        msg_warn("restriction `%s' ignored: no SASL support (smtpd_sasl_auth_enable = no)",
                 r->name);
        return SMTPD_CHECK_DUNNO;
    }
    if (!has_sender(c))
        return skipped(c, r, "sender");
    if (*c->st->sender == 0)
        return SMTPD_CHECK_DUNNO;
    return chk_sender_login(c, auth, unauth, allow_unknown);
}

static int r_login_mismatch(CHK_ARGS)
{
    return login_check(c, r, 1, 1, 0);
}

static int r_auth_login_mismatch(CHK_ARGS)
{
    return login_check(c, r, 1, 0, 0);
}

static int r_unauth_login_mismatch(CHK_ARGS)
{
    return login_check(c, r, 0, 1, 0);
}

static int r_known_login_mismatch(CHK_ARGS)
{
    return login_check(c, r, 1, 1, 1);
}

static int r_recipient_access(CHK_ARGS)
{
    if (!has_recipient(c))
        return skipped(c, r, "recipient");
    return chk_mail_access(c, r->arg, c->st->recipient, CHK_RECIPIENT, def_acl);
}

static int r_permit_auth_dest(CHK_ARGS)
{
    int rc;
    if (!has_recipient(c))
        return skipped(c, r, "recipient");
    rc = chk_auth_destination(c, c->st->recipient);
    if (rc == SMTPD_CHECK_OK)
        return chk_permit(c, r->name, CHK_RECIPIENT, c->st->recipient, NULL);
    return rc;
}

static int r_reject_unauth_dest(CHK_ARGS)
{
    if (!has_recipient(c))
        return skipped(c, r, "recipient");
    return chk_unauth_destination(c, c->st->recipient, chk_cf.relay_code, "5.7.1");
}

static int r_defer_unauth_dest(CHK_ARGS)
{
    if (!has_recipient(c))
        return skipped(c, r, "recipient");
    return chk_unauth_destination(c, c->st->recipient, chk_cf.relay_code - 100, "4.7.1");
}

static int r_non_fqdn_rcpt(CHK_ARGS)
{
    if (!has_recipient(c))
        return skipped(c, r, "recipient");
    return chk_non_fqdn_addr(c, c->st->recipient, CHK_RECIPIENT);
}

static int r_unknown_rcpt_domain(CHK_ARGS)
{
    if (!has_recipient(c))
        return skipped(c, r, "recipient");
    return chk_unknown_addr(c, c->st->recipient, CHK_RECIPIENT);
}

static int r_unlisted_rcpt(CHK_ARGS)
{
    if (!has_recipient(c))
        return skipped(c, r, "recipient");
    if (*c->st->recipient == 0 || c->rcpt_checked)
        return SMTPD_CHECK_DUNNO;
    if (c->warn_if_reject == 0)
        c->rcpt_checked = 1;
    return chk_rcpt_maps(c, c->st->recipient, CHK_RECIPIENT);
}

static int r_multi_rcpt_bounce(CHK_ARGS)
{
    if (!has_sender(c) || *c->st->sender != 0)
        return SMTPD_CHECK_DUNNO;
    if (c->st->rcpt_count <= (strcmp(c->stage, "RCPT") != 0 ? 1 : 0))
        return SMTPD_CHECK_DUNNO;
    return chk_reject(c, CHK_ERR_POLICY, 550, "5.5.3", "<%s>: %s rejected: Multi-recipient bounce",
                      reply_name, reply_class);
}

static const struct chk_restriction {
    const char *name;
    enum restriction_arg arg;
    chk_fn fn;
    int relay_control; /* counts as relay control (Postfix's rcpt_required) */
} restrictions[] = {
    {"permit", RESTRICTION_NO_ARG, r_permit, 0},
    {"reject", RESTRICTION_NO_ARG, r_reject, 1},
    {"defer", RESTRICTION_NO_ARG, r_defer, 1},
    {"defer_if_permit", RESTRICTION_NO_ARG, r_defer_if_permit, 1},
    {"defer_if_reject", RESTRICTION_NO_ARG, r_defer_if_reject, 0},
    {"warn_if_reject", RESTRICTION_NO_ARG, NULL, 0}, /* handled by the list walker */
    {"sleep", RESTRICTION_NUMBER, r_sleep, 0},
    {"reject_unauth_pipelining", RESTRICTION_NO_ARG, r_unauth_pipelining, 0},
    {"reject_plaintext_session", RESTRICTION_NO_ARG, r_plaintext, 0},
    {"permit_mynetworks", RESTRICTION_NO_ARG, r_mynetworks, 0},
    {"permit_inet_interfaces", RESTRICTION_NO_ARG, r_inet_interfaces, 0},
    {"permit_sasl_authenticated", RESTRICTION_NO_ARG, r_sasl, 0},
    {"reject_unknown_client_hostname", RESTRICTION_NO_ARG, r_unknown_client, 0},
    {"reject_unknown_client", RESTRICTION_NO_ARG, r_unknown_client, 0},
    {"reject_unknown_reverse_client_hostname", RESTRICTION_NO_ARG, r_unknown_reverse, 0},
    {"check_client_access", RESTRICTION_TABLE, r_client_access, 0},
    {"check_reverse_client_hostname_access", RESTRICTION_TABLE, r_rev_client_access, 0},
    {"reject_rbl_client", RESTRICTION_WORD, r_rbl_client, 0},
    {"reject_rbl", RESTRICTION_WORD, r_rbl_client, 0},
    {"permit_dnswl_client", RESTRICTION_WORD, r_dnswl_client, 0},
    {"reject_rhsbl_client", RESTRICTION_WORD, r_rhsbl_client, 0},
    {"reject_rhsbl_reverse_client", RESTRICTION_WORD, r_rhsbl_reverse_client, 0},
    {"reject_rhsbl_helo", RESTRICTION_WORD, r_rhsbl_helo, 0},
    {"reject_rhsbl_sender", RESTRICTION_WORD, r_rhsbl_sender, 0},
    {"reject_rhsbl_recipient", RESTRICTION_WORD, r_rhsbl_recipient, 0},
    {"check_helo_access", RESTRICTION_TABLE, r_helo_access, 0},
    {"reject_invalid_helo_hostname", RESTRICTION_NO_ARG, r_invalid_helo, 0},
    {"reject_invalid_hostname", RESTRICTION_NO_ARG, r_invalid_helo, 0},
    {"reject_non_fqdn_helo_hostname", RESTRICTION_NO_ARG, r_non_fqdn_helo, 0},
    {"reject_non_fqdn_hostname", RESTRICTION_NO_ARG, r_non_fqdn_helo, 0},
    {"reject_unknown_helo_hostname", RESTRICTION_NO_ARG, r_unknown_helo, 0},
    {"reject_unknown_hostname", RESTRICTION_NO_ARG, r_unknown_helo, 0},
    {"check_sender_access", RESTRICTION_TABLE, r_sender_access, 0},
    {"reject_non_fqdn_sender", RESTRICTION_NO_ARG, r_non_fqdn_sender, 0},
    {"reject_unknown_sender_domain", RESTRICTION_NO_ARG, r_unknown_sender_domain, 0},
    {"reject_unknown_address", RESTRICTION_NO_ARG, r_unknown_sender_domain, 0},
    {"reject_unlisted_sender", RESTRICTION_NO_ARG, r_unlisted_sender, 0},
    {"reject_sender_login_mismatch", RESTRICTION_NO_ARG, r_login_mismatch, 0},
    {"reject_authenticated_sender_login_mismatch", RESTRICTION_NO_ARG, r_auth_login_mismatch, 0},
    {"reject_unauthenticated_sender_login_mismatch", RESTRICTION_NO_ARG, r_unauth_login_mismatch,
     0},
    {"reject_known_sender_login_mismatch", RESTRICTION_NO_ARG, r_known_login_mismatch, 0},
    {"check_recipient_access", RESTRICTION_TABLE, r_recipient_access, 0},
    {"permit_auth_destination", RESTRICTION_NO_ARG, r_permit_auth_dest, 0},
    {"reject_unauth_destination", RESTRICTION_NO_ARG, r_reject_unauth_dest, 1},
    {"defer_unauth_destination", RESTRICTION_NO_ARG, r_defer_unauth_dest, 1},
    {"reject_non_fqdn_recipient", RESTRICTION_NO_ARG, r_non_fqdn_rcpt, 0},
    {"reject_unknown_recipient_domain", RESTRICTION_NO_ARG, r_unknown_rcpt_domain, 0},
    {"reject_unlisted_recipient", RESTRICTION_NO_ARG, r_unlisted_rcpt, 0},
    {"check_recipient_maps", RESTRICTION_NO_ARG, r_unlisted_rcpt, 0},
    {"reject_multi_recipient_bounce", RESTRICTION_NO_ARG, r_multi_rcpt_bounce, 0},
};

#define NRESTRICTIONS (sizeof(restrictions) / sizeof(restrictions[0]))

static const struct chk_restriction *find_restriction(const char *name)
{
    for (size_t i = 0; i < NRESTRICTIONS; i++)
        if (strcasecmp(restrictions[i].name, name) == 0)
            return &restrictions[i];
    return NULL;
}

const struct chk_class_def *chk_find_class(const char *name)
{
    for (size_t i = 0; i < chk_cf.nclasses; i++)
        if (strcmp(chk_cf.classes[i].name, name) == 0)
            return &chk_cf.classes[i];
    return NULL;
}

enum restriction_arg chk_arg_of(void *ctx, const char *name)
{
    const struct chk_restriction *r = find_restriction(name);
    if (r != NULL)
        return r->arg;
    if (chk_find_class(name) != NULL)
        return RESTRICTION_NO_ARG;
    return RESTRICTION_UNKNOWN;
}

/* ---- list evaluation ----------------------------------------------------- */

static int chk_list(struct chk *c, const struct restriction_list *l, const char *reply_name,
                    const char *reply_class, enum chk_acl def_acl);

/* default_access - a bare "type:name" in a list: the stage's check. */
static int default_access(struct chk *c, const struct restriction *r, const char *reply_name,
                          const char *reply_class, enum chk_acl def_acl)
{
    switch (def_acl) {
    case CHK_ACL_CLIENT:
        return chk_client_access(c, r->arg, 0, def_acl);
    case CHK_ACL_HELO:
        return r_helo_access(c, r, reply_name, reply_class, def_acl);
    case CHK_ACL_SENDER:
        return r_sender_access(c, r, reply_name, reply_class, def_acl);
    case CHK_ACL_RECIPIENT:
        return r_recipient_access(c, r, reply_name, reply_class, def_acl);
    case CHK_ACL_NONE:
        break;
    }
    msg_warn("specify one of (check_client_access, check_reverse_client_hostname_access, "
             "check_helo_access, check_sender_access, check_recipient_access) before %s "
             "restriction \"%s\"",
             reply_class, r->arg);
    return chk_config_error(c);
}

static int chk_list(struct chk *c, const struct restriction_list *l, const char *reply_name,
                    const char *reply_class, enum chk_acl def_acl)
{
    int status = SMTPD_CHECK_DUNNO;
    int saved = c->recursion++;

    if (c->recursion > 100) {
        msg_warn("restriction classes nested too deeply (loop?) in %s restrictions", reply_class);
        c->recursion = saved;
        return chk_config_error(c);
    }
    for (size_t i = 0; i < l->count; i++) {
        const struct restriction *r = &l->items[i];
        const struct chk_restriction *def;
        const struct chk_class_def *cls;

        if (c->st->discard)
            break;
        if (r->name[0] == 0) {
            status = default_access(c, r, reply_name, reply_class, def_acl);
        } else if ((def = find_restriction(r->name)) != NULL) {
            if (def->fn == NULL) { /* warn_if_reject */
                if (c->warn_if_reject == 0)
                    c->warn_if_reject = c->recursion;
                continue;
            }
            status = def->fn(c, r, reply_name, reply_class, def_acl);
        } else if ((cls = chk_find_class(r->name)) != NULL) {
            status = chk_list(c, &cls->list, reply_name, reply_class, def_acl);
        } else {
            /* Lists are checked at init; only table results get here. */
            msg_warn("unknown smtpd restriction: \"%s\"", r->name);
            status = chk_config_error(c);
        }
        if (c->warn_if_reject >= c->recursion)
            c->warn_if_reject = 0;
        if (status != SMTPD_CHECK_DUNNO)
            break;
        if (sess_dip.active && c->defer_if_reject.active)
            break;
    }
    c->recursion = saved;
    if (c->warn_if_reject > c->recursion)
        c->warn_if_reject = 0;
    return status;
}

int chk_eval_text(struct chk *c, const char *text, const char *table, const char *reply_name,
                  const char *reply_class, enum chk_acl def_acl)
{
    struct restriction_list l;
    struct buf why = BUF_INIT;
    int rc;

    if (restriction_list_parse(text, chk_arg_of, NULL, &l, &why) < 0) {
        msg_warn("access table %s: bad restriction list \"%s\": %s", table, text, why.data);
        buf_free(&why);
        return chk_config_error(c);
    }
    buf_free(&why);
    if (c->recursion > 100) {
        msg_warn("access table %s entry %s causes unreasonable recursion", table, text);
        rc = chk_config_error(c);
    } else {
        rc = chk_list(c, &l, reply_name, reply_class, def_acl);
    }
    restriction_list_free(&l);
    return rc;
}

/* ---- the stages ------------------------------------------------------------ */

static void chk_begin(struct chk *c, struct smtpd_state *st, struct smtpd_reply *reply,
                      const char *stage)
{
    memset(c, 0, sizeof(*c));
    c->st = st;
    c->reply = reply;
    c->stage = stage;
    buf_init(&c->defer_if_reject.text);
}

static void chk_end(struct chk *c)
{
    buf_free(&c->defer_if_reject.text);
}

/* Reset what Postfix resets per list: recursion, warn_if_reject and a
 * pending defer_if_reject. */
static void chk_reset(struct chk *c)
{
    c->recursion = 0;
    c->warn_if_reject = 0;
    c->defer_if_reject.active = 0;
}

static int run_client(struct chk *c)
{
    int status = SMTPD_CHECK_DUNNO;
    sess_dip.active = 0;
    chk_reset(c);
    if (chk_cf.client.count)
        status = chk_list(c, &chk_cf.client, c->st->namaddr, CHK_CLIENT, CHK_ACL_CLIENT);
    dip_client = sess_dip.active;
    return status;
}

static int run_helo(struct chk *c)
{
    int status = SMTPD_CHECK_DUNNO;
    if (c->st->helo_name == NULL)
        return status;
    sess_dip.active = dip_client;
    chk_reset(c);
    if (chk_cf.helo.count)
        status = chk_list(c, &chk_cf.helo, c->st->helo_name, CHK_HELO, CHK_ACL_HELO);
    dip_helo = sess_dip.active;
    return status;
}

static int run_sender(struct chk *c)
{
    int status = SMTPD_CHECK_DUNNO;
    if (c->st->sender == NULL)
        return status;
    sess_dip.active = dip_client | dip_helo;
    c->sender_checked = 0;
    chk_reset(c);
    if (chk_cf.sender.count)
        status = chk_list(c, &chk_cf.sender, c->st->sender, CHK_SENDER, CHK_ACL_SENDER);
    dip_sender = sess_dip.active;
    if (chk_cf.reject_unlisted_sender && status != SMTPD_CHECK_REJECT && !c->sender_checked &&
        !c->st->discard && *c->st->sender != 0)
        status = chk_rcpt_maps(c, c->st->sender, CHK_SENDER);
    return status;
}

static int result(int status)
{
    return status == SMTPD_CHECK_REJECT ? SMTPD_CHECK_REJECT
           : status == SMTPD_CHECK_OK   ? SMTPD_CHECK_OK
                                        : SMTPD_CHECK_DUNNO;
}

int smtpd_check_client(struct smtpd_state *st, struct smtpd_reply *reply)
{
    struct chk c;
    int status;

    /* A new session: nothing carries over from the previous client. */
    sess_dip.active = dip_client = dip_helo = dip_sender = 0;
    if (!chk_ready || chk_cf.delay_reject)
        return SMTPD_CHECK_DUNNO;
    chk_begin(&c, st, reply, "CONNECT");
    status = run_client(&c);
    chk_end(&c);
    return result(status);
}

int smtpd_check_helo(struct smtpd_state *st, const char *helo, struct smtpd_reply *reply)
{
    struct chk c;
    char *saved = st->helo_name;
    int status;

    dip_helo = 0;
    if (!chk_ready || chk_cf.delay_reject || helo == NULL)
        return SMTPD_CHECK_DUNNO;
    /* The log line names the HELO being checked (Postfix does the same). */
    st->helo_name = (char *)helo;
    chk_begin(&c, st, reply, st->esmtp ? "EHLO" : "HELO");
    status = run_helo(&c);
    chk_end(&c);
    st->helo_name = saved;
    return result(status);
}

int smtpd_check_mail(struct smtpd_state *st, struct smtpd_reply *reply)
{
    struct chk c;
    int status = SMTPD_CHECK_DUNNO;

    if (!chk_ready)
        return SMTPD_CHECK_DUNNO;
    chk_begin(&c, st, reply, "MAIL");
    if (chk_cf.helo_required && st->helo_name == NULL)
        status = chk_reject(&c, CHK_ERR_PROTOCOL, 503, "5.5.1", "Error: send HELO/EHLO first");
    else if (!chk_cf.delay_reject)
        status = run_sender(&c);
    chk_end(&c);
    return result(status);
}

int smtpd_check_rcpt(struct smtpd_state *st, struct smtpd_reply *reply)
{
    struct chk c;
    int status = SMTPD_CHECK_DUNNO;
    const struct restriction_list *lists[2] = {&chk_cf.relay, &chk_cf.recipient};

    if (!chk_ready || st->recipient == NULL)
        return SMTPD_CHECK_DUNNO;
    /* RFC 5321 4.5.1: "postmaster" without a domain is always accepted. */
    if (strcasecmp(st->recipient, "postmaster") == 0)
        return SMTPD_CHECK_DUNNO;

    chk_begin(&c, st, reply, "RCPT");
    if (chk_cf.delay_reject) {
        if ((status = run_client(&c)) == SMTPD_CHECK_REJECT ||
            (status = run_helo(&c)) == SMTPD_CHECK_REJECT ||
            (status = run_sender(&c)) == SMTPD_CHECK_REJECT) {
            chk_end(&c);
            return SMTPD_CHECK_REJECT;
        }
    }
    sess_dip.active = dip_sender;
    chk_reset(&c);
    status = SMTPD_CHECK_DUNNO;
    for (int n = 0; n < 2; n++) {
        status = SMTPD_CHECK_DUNNO;
        if (lists[n]->count)
            status = chk_list(&c, lists[n], st->recipient, CHK_RECIPIENT, CHK_ACL_RECIPIENT);
        if (status == SMTPD_CHECK_REJECT)
            break;
    }
    /* An earlier temporary problem may have hidden a reason to reject. */
    if (status != SMTPD_CHECK_REJECT && sess_dip.active)
        status =
            chk_reject(&c, CHK_ERR_POLICY, sess_dip.code, sess_dip.dsn, "%s", sess_dip.text.data);
    if (chk_cf.reject_unlisted_rcpt && status != SMTPD_CHECK_REJECT && !c.rcpt_checked &&
        !st->discard && *st->recipient != 0) {
        int rc = chk_rcpt_maps(&c, st->recipient, CHK_RECIPIENT);
        if (rc == SMTPD_CHECK_REJECT)
            status = rc;
    }
    chk_end(&c);
    return result(status);
}

int smtpd_check_data(struct smtpd_state *st, struct smtpd_reply *reply)
{
    struct chk c;
    int status = SMTPD_CHECK_DUNNO;
    char *saved = st->recipient;

    if (!chk_ready || chk_cf.data.count == 0)
        return SMTPD_CHECK_DUNNO;
    /* With several recipients naming one of them would mislead (Postfix). */
    if (st->rcpt_count > 1)
        st->recipient = NULL;
    chk_begin(&c, st, reply, "DATA");
    sess_dip.active = 0;
    status = chk_list(&c, &chk_cf.data, "DATA", CHK_DATA, CHK_ACL_NONE);
    if (status != SMTPD_CHECK_REJECT && sess_dip.active)
        status =
            chk_reject(&c, CHK_ERR_POLICY, sess_dip.code, sess_dip.dsn, "%s", sess_dip.text.data);
    chk_end(&c);
    st->recipient = saved;
    return result(status);
}

int smtpd_check_size(struct smtpd_state *st, uint64_t size, struct smtpd_reply *reply)
{
    struct chk c;
    int status = SMTPD_CHECK_DUNNO;
    struct statvfs vfs;

    if (!chk_ready)
        return SMTPD_CHECK_DUNNO;
    chk_begin(&c, st, reply, "MAIL");
    if (chk_cf.message_size_limit > 0 && size > chk_cf.message_size_limit) {
        status = chk_reject(&c, CHK_ERR_POLICY, 552, "5.3.4", "Message size exceeds fixed limit");
    } else if (statvfs(".", &vfs) == 0) {
        /* The queue is the current directory (chroot). Keep room for 1.5
         * messages of the largest size and queue_minfree (Postfix). */
        uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
        uint64_t want = chk_cf.message_size_limit + chk_cf.message_size_limit / 2;
        if (avail <= chk_cf.queue_minfree || avail < want || (size > 0 && avail - size < want)) {
            msg_warn("not enough free space in mail queue: %llu bytes < 1.5*message size limit",
                     (unsigned long long)avail);
            status = chk_reject(&c, CHK_ERR_BOUNCE, 452, "4.3.1", "Insufficient system storage");
        }
    }
    chk_end(&c);
    return result(status);
}

int chk_relay_control(const char *name)
{
    const struct chk_restriction *def = find_restriction(name);
    return def != NULL && def->relay_control;
}
