/* smtpd_check_int - what the smtpd_check*.c files share: the parsed
 * configuration, one evaluation's context, and the helpers each file
 * offers the others. Not an API: smtpd.c uses smtpd_check.h only.
 *
 *   smtpd_check.c         init, the restriction table, list evaluation,
 *                         the stage drivers, replies and logging
 *   smtpd_check_access.c  tables: check_*_access lookups and results
 *   smtpd_check_addr.c    the address resolver (relay decisions), our
 *                         own addresses, recipient tables, host names
 *   smtpd_check_dns.c     DNS: unknown domains and host names, DNSBLs
 */
#ifndef SMTPD_SMTPD_CHECK_INT_H
#define SMTPD_SMTPD_CHECK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mail/access_result.h"
#include "mail/resolve.h"
#include "mail/restriction_list.h"
#include "maps/map.h"
#include "maps/map_addr.h"
#include "maps/match_list.h"
#include "smtpd_check.h"
#include "util/buf.h"

/* Reply classes: the phrase before "rejected" in Postfix's replies. */
#define CHK_CLIENT     "Client host"
#define CHK_REV_CLIENT "Unverified Client host"
#define CHK_HELO       "Helo command"
#define CHK_SENDER     "Sender address"
#define CHK_RECIPIENT  "Recipient address"
#define CHK_DATA       "Data command"

/* Error classes, as Postfix's: policy rejections may become warnings
 * (warn_if_reject), lookup and configuration errors never do. */
enum chk_error { CHK_ERR_POLICY, CHK_ERR_PROTOCOL, CHK_ERR_BOUNCE, CHK_ERR_DATA, CHK_ERR_SOFTWARE };

/* Which check_*_access a bare "type:name" in a list stands for. */
enum chk_acl { CHK_ACL_NONE, CHK_ACL_CLIENT, CHK_ACL_HELO, CHK_ACL_SENDER, CHK_ACL_RECIPIENT };

/* Address classes of the resolver (Postfix trivial-rewrite). */
enum chk_class {
    CHK_CLASS_LOCAL,
    CHK_CLASS_ALIAS,
    CHK_CLASS_VIRTUAL,
    CHK_CLASS_RELAY,
    CHK_CLASS_DEFAULT
};

struct chk_resolved {
    struct buf addr; /* local@domain after routing was resolved */
    size_t at;       /* offset of the '@' before the domain */
    enum chk_class class;
    int routed; /* sender-specified routing left in the local part (@ ! %) */
};

/* One of our addresses (inet_interfaces, proxy_interfaces). */
struct chk_addr {
    int family;
    unsigned char a[16];
};

struct chk_class_def {
    char *name;
    struct restriction_list list;
};

struct chk_table {
    char *spec;
    struct map *map;
};

/* The configuration, read once by smtpd_check_init. */
struct chk_config {
    struct restriction_list client, helo, sender, relay, recipient, data;
    struct chk_class_def *classes;
    size_t nclasses;
    struct chk_table *tables; /* every check_*_access table, opened */
    size_t ntables;

    struct match_list *mynetworks, *relay_domains, *virt_alias_doms, *virt_mailbox_doms;
    struct resolver *resolver;
    struct chk_addr *own;
    size_t nown;

    struct maps local_rcpt, virt_alias, virt_mailbox, relay_rcpt, canonical, rcpt_canonical,
        send_canonical, rbl_reply, sender_login;

    int delay_reject, helo_required, reject_unlisted_rcpt, reject_unlisted_sender;
    int show_unk_table, allow_untrusted_routing, percent_hack, swap_bangpath;
    int resolve_dequoted, resolve_numeric, sasl_enable, soft_bounce;
    int access_parent; /* smtpd_access_maps in parent_domain_matches_subdomains */
    int access_map_reject_code, access_map_defer_code, reject_code, defer_code, relay_code;
    int unk_local_code, unk_relay_code, unk_valias_code, unk_vmailbox_code, unk_addr_code;
    int unk_client_code, unk_hostname_code, maps_rbl_code, non_fqdn_code, bad_name_code;
    char *null_key, *rcpt_delim, *def_rbl_reply, *myhostname, *myorigin, *empty_addr;
    char *double_bounce;
    struct argv *permit_log; /* smtpd_log_access_permit_actions */
    uint64_t message_size_limit, queue_minfree;
};

extern struct chk_config chk_cf;
extern int chk_ready; /* smtpd_check_init succeeded */

struct chk_defer {
    int active;
    int code;
    char dsn[ACCESS_DSN_MAX];
    struct buf text;
};

/* One evaluation: the checks of one SMTP command. */
struct chk {
    struct smtpd_state *st;
    struct smtpd_reply *reply;
    const char *stage; /* "RCPT", for the log */
    int recursion;
    int warn_if_reject; /* recursion level that warn_if_reject applies to */
    int rcpt_checked;   /* reject_unlisted_recipient done for this RCPT */
    int sender_checked; /* reject_unlisted_sender done */
    struct chk_defer defer_if_reject;
};

/* ---- smtpd_check.c -------------------------------------------------------- */

/* The session's defer_if_permit (see smtpd_check.c). */
extern struct chk_defer sess_dip;
const struct chk_class_def *chk_find_class(const char *name);
/* chk_relay_control - a restriction that can refuse relaying (Postfix
 * insists on one in the relay or recipient restrictions). */
int chk_relay_control(const char *name);

/* chk_reject - Postfix's smtpd_check_reject: format "<code> <dsn> text",
 * sanitize it, honour warn_if_reject, defer_if_reject and soft_bounce, log
 * it, and put it in c->reply. SMTPD_CHECK_REJECT, or DUNNO for a warning. */
int chk_reject(struct chk *c, enum chk_error err, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* chk_defer_if_reject / chk_defer_if_permit - remember a deferral (the
 * first reason wins): a later 5xx reject, or the final accept, becomes it.
 * defer_if_permit under warn_if_reject is a plain chk_reject. DUNNO or
 * what chk_reject returned. */
int chk_defer_if_reject(struct chk *c, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int chk_defer_if_permit(struct chk *c, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* chk_lookup_failed - 451 4.3.0 "<name>: Temporary lookup failure" (and a
 * warning naming the table and reason). */
int chk_lookup_failed(struct chk *c, const char *name, const char *table, const char *reason);
/* chk_config_error - 451 4.3.5 "Server configuration error" (the caller
 * has logged the warning that says what is wrong). */
int chk_config_error(struct chk *c);
/* chk_permit - an OK that smtpd_log_access_permit_actions may log. */
int chk_permit(struct chk *c, const char *action, const char *reply_class, const char *reply_name,
               const char *table);
/* chk_log - log "action: STAGE from client: text; from=... " (code 0). */
void chk_log(struct chk *c, const char *action, const char *text);
/* chk_eval_text - evaluate a restriction list found in an access table. */
int chk_eval_text(struct chk *c, const char *text, const char *table, const char *reply_name,
                  const char *reply_class, enum chk_acl def_acl);
/* chk_arg_of - restriction_arg_fn for the built-in names and classes. */
enum restriction_arg chk_arg_of(void *ctx, const char *name);

/* ---- smtpd_check_access.c ------------------------------------------------- */

struct map *chk_table(const char *spec);
/* chk_table_open - open (once) a table named in a restriction list. */
int chk_table_open(const char *param, const char *spec, struct buf *why);
void chk_tables_free(void);
/* chk_maps_open / chk_maps_find / chk_maps_free - a "maps" parameter. */
int chk_maps_open(struct maps *m, const char *param, const char *value, struct buf *why);
int chk_maps_find(struct maps *m, const char *key, struct buf *value, struct buf *why);
void chk_maps_free(struct maps *m);
/* chk_addr_find - Postfix mail_addr_find: user+ext@domain, user@domain,
 * (local domains) user+ext and user, then @domain. 1, 0, or -1 + why
 * ("table: reason"). */
int chk_addr_find(struct maps *m, const char *addr, int local, struct buf *value, struct buf *why);
/* The check_*_access restrictions. */
int chk_client_access(struct chk *c, const char *table, int reverse, enum chk_acl def_acl);
int chk_helo_access(struct chk *c, const char *table, enum chk_acl def_acl);
int chk_mail_access(struct chk *c, const char *table, const char *addr, const char *reply_class,
                    enum chk_acl def_acl);

/* ---- smtpd_check_addr.c --------------------------------------------------- */

int chk_own_addrs_init(struct buf *why);
void chk_own_addrs_free(void);
/* chk_is_own_addr - is the printable address (no brackets) one of ours? */
int chk_is_own_addr(const char *addr);
void chk_resolved_init(struct chk_resolved *r);
void chk_resolved_free(struct chk_resolved *r);
/* chk_resolve - Postfix's resolver for smtpd: strip our own domains and
 * follow user@domain / user%domain / site!user routing in the local part,
 * then classify the destination. 0, or -1 + why (a table failed). */
int chk_resolve(const char *addr, struct chk_resolved *out, struct buf *why);
/* chk_auth_destination - permit_auth_destination: OK or DUNNO (or a
 * 451 reject after a lookup failure). */
int chk_auth_destination(struct chk *c, const char *rcpt);
int chk_unauth_destination(struct chk *c, const char *rcpt, int code, const char *dsn);
/* chk_rcpt_maps - reject_unlisted_recipient / reject_unlisted_sender. */
int chk_rcpt_maps(struct chk *c, const char *addr, const char *reply_class);
int chk_sender_login(struct chk *c, int authenticated_check, int unauthenticated_check,
                     int allow_unknown);
int chk_non_fqdn_helo(struct chk *c, const char *helo);
int chk_invalid_helo(struct chk *c, const char *helo);
int chk_non_fqdn_addr(struct chk *c, const char *addr, const char *reply_class);
/* chk_valid_hostname / chk_valid_hostaddr - Postfix's syntax checks. */
int chk_valid_hostname(const char *name);
int chk_valid_hostaddr(const char *addr);

/* ---- smtpd_check_dns.c ---------------------------------------------------- */

int chk_unknown_addr(struct chk *c, const char *addr, const char *reply_class);
int chk_unknown_helo(struct chk *c, const char *helo);
int chk_rbl_client(struct chk *c, const char *zone, int permit);
int chk_rhsbl(struct chk *c, const char *zone, const char *what, const char *reply_class);
/* chk_ip_match - does a printable IPv4 address match a Postfix reply
 * pattern ("127.0.0.2", "127.0.0.[2..11]", "127.0.0.[2;4;6..8]")? 1, 0,
 * -1 for a bad pattern. */
int chk_ip_match(const char *pattern, const char *addr);

#endif
