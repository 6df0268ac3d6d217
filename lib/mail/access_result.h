/* access_result - what one access(5) table value says, parsed.
 *
 * smtpd's check_*_access restrictions look a key up and act on the value.
 * This module only reads the value (Postfix access(5) semantics); acting
 * on it (replying, logging, evaluating a restriction list) is the
 * caller's. The first word is matched case-insensitively:
 *
 *   OK, RELAY, or all digits    accept (ACCESS_OK; trailing text ignored)
 *   DUNNO [text]                no decision (text ignored)
 *   REJECT [[d.d.d] text]       reject with access_map_reject_code
 *   DEFER [[d.d.d] text]        defer with access_map_defer_code
 *   DEFER_IF_REJECT [...]       a later reject becomes a deferral
 *   DEFER_IF_PERMIT [...]       a later accept becomes a deferral
 *   4NN text, 5NN text          reject with that code; the text may start
 *                               with an enhanced status code "4.7.1"
 *   HOLD [text], DISCARD [text] the message is held / silently dropped
 *   WARN [text], INFO [text]    log only
 *   PREPEND, REDIRECT, FILTER,  valid Postfix actions this server does not
 *   BCC, HANGUP, DELAY          support (ACCESS_UNSUPPORTED: warn, ignore)
 *   a value naming a table      ("x:y"): not allowed (a configuration
 *                               error, as in Postfix)
 *   empty                       ACCESS_EMPTY (Postfix: warn, then accept)
 *   anything else               a restriction list to evaluate, e.g.
 *                               "reject_unknown_sender_domain, permit" or a
 *                               smtpd_restriction_classes name
 *
 * A code without text ("450") is all digits and so means OK, and "600 x"
 * is not a code: both exactly as Postfix reads them.
 */
#ifndef MAIL_ACCESS_RESULT_H
#define MAIL_ACCESS_RESULT_H

#include <stddef.h>

#include "util/buf.h"

enum access_action {
    ACCESS_OK,
    ACCESS_DUNNO,
    ACCESS_REJECT,
    ACCESS_DEFER,
    ACCESS_DEFER_IF_REJECT,
    ACCESS_DEFER_IF_PERMIT,
    ACCESS_CODE,
    ACCESS_HOLD,
    ACCESS_DISCARD,
    ACCESS_WARN,
    ACCESS_INFO,
    ACCESS_UNSUPPORTED,
    ACCESS_TABLE,
    ACCESS_EMPTY,
    ACCESS_RESTRICTIONS,
};

#define ACCESS_WORD_MAX 16 /* "DEFER_IF_PERMIT" and the NUL */
#define ACCESS_DSN_MAX  10 /* "5.123.123" and the NUL */

struct access_result {
    enum access_action action;
    char word[ACCESS_WORD_MAX]; /* the action word upper-cased ("OK", "RELAY",
                                 * "REJECT", "550", "PREPEND"); "" for digits
                                 * longer than fits, restrictions and empty */
    int code;                   /* ACCESS_CODE: 400..599; else 0 */
    char dsn[ACCESS_DSN_MAX];   /* enhanced status at the start of the text
                                 * (REJECT, DEFER, DEFER_IF_*, codes); "" */
    struct buf text;            /* the rest, white space trimmed; for
                                 * ACCESS_RESTRICTIONS the whole value */
};

void access_result_init(struct access_result *r);
void access_result_free(struct access_result *r);

/* access_result_parse - read value into r (reset first). Never fails:
 * every string is some action. */
void access_result_parse(const char *value, struct access_result *r);

/* access_dsn_split - if text starts with a valid RFC 3463 status code
 * ("4.7.1", class 2, 4 or 5, subject and detail of 1 to 3 digits) followed
 * by white space or the end, copy it into dsn and return the text after it
 * and its white space; else dsn = "" and text is returned as is. */
const char *access_dsn_split(const char *text, char dsn[ACCESS_DSN_MAX]);

/* access_action_name - "OK", "REJECT", ... for logs and tests. */
const char *access_action_name(enum access_action a);

#endif
