/* local_env - what a local(8) delivery carries besides the message: the
 * environment a |command runs with, the header lines prepended to every
 * delivered message, and $name expansion of command_execution_directory.
 * Pure (no I/O), so the exact strings are unit-tested.
 *
 * Environment, as Postfix's local(8) builds it: the variables named in
 * export_environment (from the parent, or NAME=value as written), then
 * PATH=/usr/bin:/bin, then HOME, LOGNAME, USER, SENDER, RECIPIENT, LOCAL,
 * SHELL, DOMAIN, EXTENSION, ORIGINAL_RECIPIENT. HOME and SHELL are left
 * out when unknown, DOMAIN, EXTENSION and ORIGINAL_RECIPIENT when empty.
 * The values of these come from the mail, so every byte not in
 * command_expansion_filter becomes '_' (Postfix does the same): no
 * newline, NUL or shell syntax reaches the command except as data
 * (DESIGN.md invariant 2). Exported values have control bytes replaced.
 *
 * Headers, in Postfix's order (mail_copy()): Return-Path: <sender>,
 * X-Original-To: orig (when there is one), Delivered-To: recipient;
 * addresses in external form (local part quoted as RFC 5322 3.4.1 needs).
 */
#ifndef MAIL_LOCAL_ENV_H
#define MAIL_LOCAL_ENV_H

#include <stddef.h>

#include "util/argv.h"
#include "util/buf.h"

#define LOCAL_ENV_PATH      "/usr/bin:/bin" /* _PATH_DEFPATH */
#define LOCAL_ENV_VALUE_MAX 4096            /* bytes of one value passed on */

struct local_env_attr {
    const char *home;      /* NULL: no HOME */
    const char *shell;     /* NULL: no SHELL */
    const char *user;      /* USER and LOGNAME: the recipient's login name */
    const char *sender;    /* "" for the null sender */
    const char *recipient; /* user[+ext]@domain */
    const char *local;     /* local part, extension included */
    const char *extension; /* NULL or "": none */
    const char *domain;    /* NULL or "": none */
    const char *orig;      /* original recipient; NULL or "": none */
    const char *delimiter; /* recipient_delimiter, for $recipient_delimiter; may be NULL */
};

/* local_env_censor - value into out (reset first), every byte not in
 * filter, and every control byte, as '_'; cut at LOCAL_ENV_VALUE_MAX. */
void local_env_censor(const char *value, const char *filter, struct buf *out);

/* local_env_build - the whole environment as "NAME=value" strings, each
 * name once (a later setting replaces an earlier one). export_list is
 * export_environment (names or NAME=value, separated by blanks or commas;
 * malformed names are skipped); parent is an environ-style array (may be
 * NULL); filter is command_expansion_filter. */
struct argv *local_env_build(const struct local_env_attr *a, const char *export_list,
                             char *const *parent, const char *filter);

/* local_env_get - the value of name in an environment built above, or
 * NULL. */
const char *local_env_get(const struct argv *env, const char *name);

/* Header lines to prepend (bit mask). */
#define LOCAL_HDR_RETURN_PATH (1 << 0)
#define LOCAL_HDR_ORIG_RCPT   (1 << 1) /* only written when orig is not empty */
#define LOCAL_HDR_DELIVERED   (1 << 2)

/* local_env_headers - the prepended header lines into out (reset first),
 * each ending in LF. An address that cannot be quoted (it never can hold
 * NUL, CR or LF: those bytes are written as '?') is written as it is. */
void local_env_headers(int mask, const char *sender, const char *orig, const char *delivered,
                       struct buf *out);

/* prepend_delivered_header words. */
#define LOCAL_DELIVERED_COMMAND (1 << 0)
#define LOCAL_DELIVERED_FILE    (1 << 1) /* mailbox, Maildir and /file deliveries */
#define LOCAL_DELIVERED_FORWARD (1 << 2)

/* local_env_delivered_mask - parse prepend_delivered_header ("command,
 * file, forward", any order, blanks or commas between). The mask, or -1
 * + why for an unknown word. */
int local_env_delivered_mask(const char *value, struct buf *why);

/* local_env_expand - command_execution_directory expansion, as Postfix's
 * local_expand(): $name, ${name}, ${name?text} (text when name is not
 * empty), ${name:text} (text when it is), for user, home, shell,
 * recipient, extension, domain, local, recipient_delimiter; "$$" is a '$'.
 * Expanded values are censored with filter. 0, or -1 + why for an unknown
 * name or bad syntax. */
int local_env_expand(const char *pattern, const struct local_env_attr *a, const char *filter,
                     struct buf *out, struct buf *why);

#endif
