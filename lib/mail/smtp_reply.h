/* smtp_reply - the smtp client's reader of server replies (RFC 5321 4.2)
 * and of the EHLO keyword list (RFC 5321 4.1.1.1), bounded against a
 * hostile server.
 *
 * A reply is one or more lines "ddd-text" ending with "ddd text" (or a bare
 * "ddd"); every line must carry the same code, 200..599. Each line is at
 * most SMTP_REPLY_LINE_MAX bytes, a reply at most SMTP_REPLY_TOTAL_MAX
 * bytes and SMTP_REPLY_LINES_MAX lines, and the whole reply must arrive
 * within the caller's time limit (a server that drips continuation lines
 * forever times out). CR before LF is removed; a bare LF ends a line too
 * (as Postfix tolerates). Anything else is a protocol error: the caller
 * fails the session with a temporary error.
 *
 *     struct smtp_resp r = SMTP_RESP_INIT;
 *     if (smtp_reply_read(stream, &r, timeout, why) < 0) ... lost/timeout/garbage
 *     r.code, r.dsn ("5.1.1", or "5.0.0" derived from the code), r.text
 *     ("550 5.1.1 <a@b>: unknown"; lines joined by a space, printable)
 *     smtp_resp_free(&r);
 */
#ifndef MAIL_SMTP_REPLY_H
#define MAIL_SMTP_REPLY_H

#include <stddef.h>

#include "util/buf.h"
#include "util/stream.h"

#define SMTP_REPLY_LINE_MAX  2048  /* one line, without CRLF (RFC 5321: 512) */
#define SMTP_REPLY_TOTAL_MAX 65536 /* all lines of one reply */
#define SMTP_REPLY_LINES_MAX 1000

struct smtp_resp {
    int code;        /* 200..599 */
    char dsn[16];    /* enhanced status of the first line, else "x.0.0" */
    struct buf text; /* every line as received (code included), joined by " " */
    struct buf body; /* the text after "ddd-"/"ddd " of each line, LF separated */
    size_t lines;
    int done; /* the last line was seen */
};

/* clang-format off */
#define SMTP_RESP_INIT {0, "", BUF_INIT, BUF_INIT, 0, 0}
/* clang-format on */

/* Results of smtp_reply_read and smtp_reply_add_line. */
#define SMTP_REPLY_OK      0
#define SMTP_REPLY_MORE    1  /* add_line: a continuation line, wait for more */
#define SMTP_REPLY_PROTO   -1 /* malformed or too large: "protocol error" */
#define SMTP_REPLY_LOST    -2 /* EOF or I/O error: "lost connection" */
#define SMTP_REPLY_TIMEOUT -3 /* "conversation timed out" */

/* smtp_resp_reset / smtp_resp_free - empty r (keeping memory) / free it. */
void smtp_resp_reset(struct smtp_resp *r);
void smtp_resp_free(struct smtp_resp *r);

/* smtp_reply_add_line - one line (terminator removed; a trailing CR is
 * dropped here) into r: SMTP_REPLY_OK when it completed the reply,
 * SMTP_REPLY_MORE for a continuation, SMTP_REPLY_PROTO + why for a line
 * that is not "ddd[ -]text" with one code, a control character other
 * than TAB, or a reply over the bounds. Pure: tested and fuzzed. */
int smtp_reply_add_line(struct smtp_resp *r, const char *line, size_t len, struct buf *why);

/* smtp_reply_read - read one whole reply from s within timeout seconds
 * (overall, not per read). r is reset first. SMTP_REPLY_OK or a negative
 * result + why. */
int smtp_reply_read(struct stream *s, struct smtp_resp *r, int timeout, struct buf *why);

/* EHLO keywords the client uses (RFC 5321 4.1.1.1 and the extensions). */
#define SMTP_EXT_PIPELINING (1 << 0)
#define SMTP_EXT_SIZE       (1 << 1)
#define SMTP_EXT_8BITMIME   (1 << 2)
#define SMTP_EXT_SMTPUTF8   (1 << 3)
#define SMTP_EXT_DSN        (1 << 4)
#define SMTP_EXT_STARTTLS   (1 << 5)
#define SMTP_EXT_AUTH       (1 << 6)
#define SMTP_EXT_ENHANCED   (1 << 7) /* ENHANCEDSTATUSCODES */

#define SMTP_EHLO_AUTH_MAX 256

struct smtp_ehlo {
    int features;                  /* SMTP_EXT_* */
    unsigned long long size_limit; /* SIZE argument, 0 = none given */
    char auth[SMTP_EHLO_AUTH_MAX]; /* AUTH mechanisms, space separated */
    char server_name[256];         /* first word of the first line */
};

/* smtp_ehlo_parse - the keywords of a 250 EHLO/LHLO reply (unknown ones
 * ignored; keywords case-insensitive; "AUTH=" as old servers send it is
 * AUTH too). Pure. */
void smtp_ehlo_parse(const struct smtp_resp *r, struct smtp_ehlo *e);

/* smtp_reply_first_word - the first word of the reply's first line (the
 * server's name in a greeting or EHLO reply), at most size-1 bytes, into
 * out. */
void smtp_reply_first_word(const struct smtp_resp *r, char *out, size_t size);

#endif
