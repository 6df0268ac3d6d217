/* local_addr - the recipient-side helpers of local(8), all pure:
 *
 *   - the recipient_delimiter split with Postfix's exceptions, giving the
 *     user, extension and domain that aliases, .forward and mailbox use;
 *   - $name expansion of forward_path entries ($user, $home, $shell,
 *     $recipient, $extension, $domain, $local, $recipient_delimiter,
 *     ${name}, $(name), ${name?text}, ${name:text}, $$), with attribute
 *     values passed through a character filter (forward_expansion_filter);
 *   - the Delivered-To: fields of a message header, for loop detection.
 */
#ifndef MAIL_LOCAL_ADDR_H
#define MAIL_LOCAL_ADDR_H

#include <stddef.h>

#include "util/argv.h"
#include "util/buf.h"

/* Postfix's default forward_expansion_filter. */
#define LOCAL_EXPAND_FILTER_DEFAULT                                                                \
    "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

#define LOCAL_EXPAND_MAX       4096 /* bytes in one expansion result */
#define LOCAL_DELIVERED_TO_MAX 1000 /* Delivered-To: fields remembered */

struct local_addr {
    struct buf local;     /* local part, lower case, extension included */
    struct buf user;      /* local part without the extension, lower case */
    struct buf extension; /* lower case; meaningful when has_ext */
    struct buf domain;    /* lower case, "" when the address has none */
    char delim[2];        /* the delimiter that split it ("" when not split) */
    int has_ext;
};

void local_addr_init(struct local_addr *a);
void local_addr_free(struct local_addr *a);

/* local_addr_split - fill a from addr (internal form; the domain is after
 * the last '@'), splitting the local part at the first byte that is in
 * delims (Postfix recipient_delimiter: a set of characters). As Postfix's
 * split_addr(): never split postmaster, mailer-daemon or double-bounce;
 * when '-' is in delims never split owner-* and *-request; never split
 * when the local part starts with a delimiter. The extension may be empty
 * ("user+@x": user "user", extension ""). Returns has_ext. */
int local_addr_split(const char *addr, const char *delims, struct local_addr *a);

/* The attributes forward_path may name; NULL means undefined. */
struct local_expand_attr {
    const char *user;
    const char *home;
    const char *shell;
    const char *recipient;
    const char *extension; /* NULL when the address has none */
    const char *domain;
    const char *local;
    const char *recipient_delimiter; /* the one that split, NULL when none */
};

/* local_addr_expand - expand pattern into out (reset first). Attribute
 * values have every byte outside filter (NULL: no filtering) replaced by
 * '_'; literal text and ${name?text} text are the administrator's and kept.
 * $name of an undefined attribute (or an unknown name) makes the whole
 * entry undefined: return 1 (Postfix skips such a forward_path entry).
 * ${name?text} gives text when name is defined and non-empty, ${name:text}
 * when it is undefined or empty; text is expanded itself. 0 expanded,
 * 1 undefined, -1 + why for bad syntax or a result longer than
 * LOCAL_EXPAND_MAX. */
int local_addr_expand(const char *pattern, const struct local_expand_attr *attr, const char *filter,
                      struct buf *out, struct buf *why);

/* local_addr_delivered_to - the values of the Delivered-To: fields in
 * header (the message bytes up to the first empty line; anything after it
 * is ignored), unfolded, blanks and one pair of <> removed, lower case,
 * appended to out, at most LOCAL_DELIVERED_TO_MAX. Returns how many. */
int local_addr_delivered_to(const char *header, size_t len, struct argv *out);

/* local_addr_delivered_find - 1 if addr (compared case-insensitively) is
 * among the values local_addr_delivered_to collected. */
int local_addr_delivered_find(const struct argv *list, const char *addr);

#endif
