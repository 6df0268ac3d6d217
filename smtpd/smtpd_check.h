/* smtpd_check - Postfix's SMTP access restrictions.
 *
 * smtpd_check_init() reads the restriction lists (smtpd_client_,
 * smtpd_helo_, smtpd_sender_, smtpd_relay_, smtpd_recipient_,
 * smtpd_data_restrictions; smtpd_restriction_classes), mynetworks,
 * relay_domains, the access and recipient tables, once per process, after
 * main.cf and -o overrides are in (before chroot: tables are opened then).
 *
 * Each smtpd_check_<stage>() evaluates its list(s) for the session state and
 * answers:
 *   SMTPD_CHECK_OK      a restriction said OK / permit: accept this stage
 *   SMTPD_CHECK_DUNNO   nothing decided: accept this stage
 *   SMTPD_CHECK_REJECT  reply holds the 4xx/5xx to send (already logged
 *                       with smtpd_log_reject)
 * HOLD and DISCARD set st->hold / st->discard (and log "hold"/"discard")
 * and count as OK for the stage.
 *
 * smtpd_delay_reject = yes (the default): client, helo and sender lists are
 * evaluated at RCPT time, before relay and recipient, so the log names the
 * recipient; smtpd_check_client/helo/mail then return DUNNO except for
 * their own syntax checks. At RCPT the order is client, helo, sender,
 * relay, recipient; a list's OK ends only that list (Postfix semantics);
 * REJECT ends everything.
 *
 * Restrictions (per Postfix postconf(5)):
 *   permit, reject, defer, warn_if_reject, permit_mynetworks,
 *   permit_sasl_authenticated, reject_unauth_destination,
 *   defer_unauth_destination, permit_auth_destination,
 *   reject_unlisted_recipient, reject_unlisted_sender,
 *   reject_non_fqdn_sender, reject_non_fqdn_recipient,
 *   reject_non_fqdn_helo_hostname, reject_invalid_helo_hostname,
 *   reject_unknown_sender_domain, reject_unknown_recipient_domain,
 *   reject_unknown_client_hostname, reject_unknown_reverse_client_hostname,
 *   check_client_access, check_reverse_client_hostname_access,
 *   check_helo_access, check_sender_access, check_recipient_access,
 *   reject_rbl_client zone[=d.d.d.d], permit_dnswl_client,
 *   reject_unauth_pipelining, reject_sender_login_mismatch,
 *   reject_authenticated_sender_login_mismatch,
 *   reject_unauthenticated_sender_login_mismatch, sleep N,
 *   and smtpd_restriction_classes names.
 * Access table results: OK, REJECT [text], DEFER [text], DUNNO, HOLD [text],
 * DISCARD [text], PERMIT, "4xx text", "5xx text" (4.7.1/5.7.1 unless the
 * text starts with an enhanced code), a restriction name (or class), WARN
 * text, PREPEND is rejected as unsupported (log warning, DUNNO).
 * An access table that cannot be consulted: 451 4.3.0 "Temporary lookup
 * failure" (never a silent accept).
 *
 * A restriction that does not apply at a stage (reject_non_fqdn_recipient
 * in smtpd_client_restrictions with delay_reject off) is skipped with a
 * warning, as Postfix. An unknown restriction name is a configuration
 * error: smtpd_check_init fails naming the parameter.
 */
#ifndef SMTPD_SMTPD_CHECK_H
#define SMTPD_SMTPD_CHECK_H

#include "smtpd.h"
#include "util/buf.h"

#define SMTPD_CHECK_DUNNO  0
#define SMTPD_CHECK_OK     1
#define SMTPD_CHECK_REJECT 2

/* smtpd_check_init - 0, or -1 + why ("smtpd_recipient_restrictions:
 * unknown restriction: reject_foo"). Uses conf_str()/conf_int()/conf_bool()
 * of the current configuration. */
int smtpd_check_init(struct buf *why);
void smtpd_check_free(void);

/* smtpd_check_mynetworks - is the client in mynetworks? 1, 0, -1. */
int smtpd_check_mynetworks(struct smtpd_state *st);

int smtpd_check_client(struct smtpd_state *st, struct smtpd_reply *reply);
int smtpd_check_helo(struct smtpd_state *st, const char *helo, struct smtpd_reply *reply);
int smtpd_check_mail(struct smtpd_state *st, struct smtpd_reply *reply); /* st->sender set */
int smtpd_check_rcpt(struct smtpd_state *st, struct smtpd_reply *reply); /* st->recipient set */
int smtpd_check_data(struct smtpd_state *st, struct smtpd_reply *reply);
/* smtpd_check_size - SIZE= and free space: 552 5.3.4 "Message size exceeds
 * fixed limit" when size > message_size_limit (0: none). */
int smtpd_check_size(struct smtpd_state *st, uint64_t size, struct smtpd_reply *reply);

#endif
