/* local_token - the destinations named by an aliases(5) value, a .forward
 * file or an :include: file, parsed into typed tokens for local(8).
 *
 * A value is a comma-separated list (Postfix aliases(5)); each element is
 * one of
 *
 *   user, user@domain, Name <user@domain>   a mail address (internal form)
 *   \user                                   the user's own mailbox, no
 *                                           further alias or .forward
 *   |command                                a command (text after '|')
 *   /file/name, /maildir/                   a file or, ending in '/', a Maildir
 *   ~/file                                  a file under the home directory
 *   :include:/path                          more destinations, read from path
 *
 * RFC 5322 quoting applies as in Postfix: "|cmd, with comma" is one element,
 * quoted strings are unquoted, (comments) are dropped, an angle address
 * wins over its display name. An element that starts with an unquoted '|'
 * is kept verbatim after the '|' (quotes and all), so the shell sees what
 * the author wrote. The type is decided after unquoting, so "/file name"
 * and ":include:/x" work quoted too.
 *
 * Files (.forward, :include:) hold one value per line; a line whose first
 * byte is '#' is a comment (Postfix), there are no continuation lines.
 *
 * Input is hostile: NUL and control characters, unterminated quotes,
 * comments or angle brackets, over-long input or tokens and too many
 * tokens are errors; nothing is ever guessed. Pure: no I/O.
 */
#ifndef MAIL_LOCAL_TOKEN_H
#define MAIL_LOCAL_TOKEN_H

#include <stddef.h>

#include "util/buf.h"

#define LOCAL_TOKEN_MAX_COUNT 1000          /* tokens from one value or file */
#define LOCAL_TOKEN_MAX_LEN   4096          /* bytes in one token */
#define LOCAL_TOKEN_MAX_INPUT (1024 * 1024) /* bytes in one value or file */
#define LOCAL_INCLUDE_PREFIX  ":include:"   /* matched case-insensitively */

enum local_token_type {
    LOCAL_TOKEN_ADDR,    /* text: the address, internal form */
    LOCAL_TOKEN_NOALIAS, /* text: the user name after '\' */
    LOCAL_TOKEN_COMMAND, /* text: the command after '|', leading blanks removed */
    LOCAL_TOKEN_FILE,    /* text: the absolute path */
    LOCAL_TOKEN_HOME,    /* text: what follows '~' ("/x" for ~/x; anything else is bad) */
    LOCAL_TOKEN_INCLUDE, /* text: the path after :include:, leading blanks removed */
};

struct local_token {
    enum local_token_type type;
    char *text; /* never empty except for COMMAND, HOME and INCLUDE */
};

struct local_tokens {
    struct local_token *tok;
    size_t count;
    size_t cap;
};

void local_tokens_init(struct local_tokens *t);
void local_tokens_free(struct local_tokens *t);

/* local_token_parse_value - one value (an aliases(5) right-hand side, or
 * one line of a file); tokens are appended to out. Returns the number
 * appended, or -1 + why with out as it was before the call. */
int local_token_parse_value(const char *s, size_t len, struct local_tokens *out, struct buf *why);

/* local_token_parse_file - the contents of a .forward or :include: file:
 * every line a value, '#' lines skipped, CR before LF ignored. Errors name
 * the line ("line 3: ..."). Count or -1 + why, as above. */
int local_token_parse_file(const char *s, size_t len, struct local_tokens *out, struct buf *why);

/* local_token_type_name - "address", "command", ... for log lines. */
const char *local_token_type_name(enum local_token_type type);

#endif
