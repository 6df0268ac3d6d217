/* smtp_cmd - parse one SMTP command line (RFC 5321 4.1) into a struct,
 * without acting on it: smtpd looks the verb up in its command table and
 * hands the parsed command to the handler. Pure functions, unit-tested and
 * fuzzed.
 *
 * The caller has already split the input at CRLF and rejected bare CR and
 * bare LF; line holds no line terminator and is counted (len), and any NUL
 * or other control character is an error here.
 *
 * MAIL FROM:<path> [params] and RCPT TO:<path> [params]:
 *   - the path: "<>" (MAIL only), "<local@domain>", "<@a,@b:local@domain>"
 *     (the source route is dropped, RFC 5321 4.1.1.3 / C), "<Postmaster>"
 *     (RCPT only, case-insensitive), a quoted local part
 *     ("<\"john smith\"@example.com>"); the domain is a dot-atom host name
 *     (a trailing dot is removed), or an address literal [192.0.2.1] /
 *     [IPv6:2001:db8::1]. Without strict_rfc821 a missing <> and a space
 *     after the colon are tolerated, as Postfix does.
 *   - the address is returned in internal form: the local part unquoted
 *     ("john smith@example.com"), the domain as given minus a trailing
 *     dot. It never holds NUL, CR or LF; 8-bit bytes only when they form
 *     valid UTF-8 (the caller requires SMTPUTF8 for those).
 *   - limits: local part 64 bytes, domain 255, path 256 (RFC 5321 4.5.3.1),
 *     more than SMTP_CMD_PARAMS_MAX parameters is an error.
 *   - parameters "KEY[=VALUE]", keys case-insensitive, each at most once;
 *     the known ones are decoded and checked:
 *       MAIL: SIZE=<digits> (overflow checked), BODY=7BIT|8BITMIME|
 *             BINARYMIME, SMTPUTF8, RET=FULL|HDRS, ENVID=<xtext>,
 *             AUTH=<xtext mailbox or <>>
 *       RCPT: NOTIFY=NEVER | list of SUCCESS,FAILURE,DELAY, ORCPT=<addr-
 *             type>;<xtext> (RFC 3461 4.2; only rfc822 and utf-8 types)
 *     unknown keys are an error (555 5.5.4) unless the caller allows them.
 *
 * Every error comes with the reply smtpd should send, code and enhanced
 * status together (STYLE.md): e.g. 501 5.1.7 "Bad sender address syntax",
 * 501 5.1.3 "Bad recipient address syntax", 555 5.5.4 "Unsupported option:
 * FOO", 501 5.5.4 "Bad NOTIFY parameter syntax".
 */
#ifndef MAIL_SMTP_CMD_H
#define MAIL_SMTP_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define SMTP_CMD_PARAMS_MAX 16
#define SMTP_LOCAL_MAX      64
#define SMTP_DOMAIN_MAX     255
#define SMTP_PATH_MAX       256

/* DSN NOTIFY bits (RFC 3461 4.1); 0 = not given */
#define SMTP_NOTIFY_NEVER   0x01
#define SMTP_NOTIFY_SUCCESS 0x02
#define SMTP_NOTIFY_FAILURE 0x04
#define SMTP_NOTIFY_DELAY   0x08

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME, SMTP_BODY_BINARYMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

/* An error reply: "501 5.1.7 Bad sender address syntax". */
struct smtp_reply {
    int code;       /* 501 */
    char dsn[10];   /* "5.1.7" */
    char text[256]; /* "Bad sender address syntax" */
};

/* split: the verb and the rest. */
struct smtp_cmd {
    char verb[16];    /* upper-cased; "" for an empty line */
    const char *args; /* points into the caller's line, after one space; "" */
    size_t args_len;
};

struct smtp_path {
    struct buf addr; /* internal form; "" for <> */
    int null_sender; /* it was <> */
    int utf8;        /* addr holds 8-bit UTF-8 */
    /* MAIL */
    uint64_t size; /* SIZE=, 0 when absent */
    int size_given;
    enum smtp_body body;
    int smtputf8;
    enum smtp_ret ret;
    struct buf envid; /* decoded ENVID, "" when absent */
    struct buf auth;  /* decoded AUTH= mailbox, "" when absent */
    int auth_given;
    /* RCPT */
    int notify;       /* SMTP_NOTIFY_* */
    struct buf orcpt; /* "rfc822;user@example.com" decoded (type;address), "" */
};

/* smtp_cmd_split - the verb (letters only, at most 15, upper-cased) and its
 * argument. 0, or -1 + reply (500 5.5.2 "Error: bad syntax" for a line
 * with control characters or a verb that is not letters). */
int smtp_cmd_split(const char *line, size_t len, struct smtp_cmd *out, struct smtp_reply *err);

#define SMTP_PATH_MAIL          0x01 /* MAIL FROM (else RCPT TO) */
#define SMTP_PATH_STRICT        0x02 /* strict_rfc821_envelopes */
#define SMTP_PATH_UNKNOWN_PARAM 0x04 /* ignore unknown parameters */

void smtp_path_init(struct smtp_path *p);
void smtp_path_free(struct smtp_path *p);
/* smtp_path_parse - args after the verb ("FROM:<a@b> SIZE=10" /
 * "TO:<c@d>"); fills p (reset first). 0, or -1 + err. */
int smtp_path_parse(const char *args, size_t len, int flags, struct smtp_path *p,
                    struct smtp_reply *err);

/* xtext (RFC 3461 4): decode into out; 0, or -1 for bad syntax (a "+"
 * not followed by two upper-case hex digits, a byte outside 33..126, '='),
 * or a decoded NUL/CR/LF. xtext_encode for the other direction. */
int smtp_xtext_decode(const char *in, size_t len, struct buf *out);
void smtp_xtext_encode(const char *in, struct buf *out);

/* smtp_quote_addr - the local part of an internal-form address requoted
 * for use in a reply or header ("john smith@x" -> "\"john smith\"@x"). */
void smtp_quote_addr(const char *addr, struct buf *out);

#endif
