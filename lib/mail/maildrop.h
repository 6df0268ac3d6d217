/* maildrop - the record stream that sendmail(1) hands to the setgid
 * postdrop(1), and the checks postdrop applies to it.
 *
 * The stream uses the queue-file record framing (queue_file.h: type:1
 * len:4 big-endian, payload) without the magic record:
 *
 *   stream := envelope* content* QF_END
 *   envelope := QF_ATTR | QF_SENDER | QF_RCPT
 *
 * It comes from an ordinary local user, so it is hostile input to a
 * privileged program: only a few record types and attribute names are
 * accepted, every length is checked before the payload is read, envelope
 * text may hold no control character, there is exactly one sender, at least
 * one recipient unless extract_recipients=1, and the payload total stays
 * within message_size_limit. postdrop adds what the user may not choose (the
 * arrival time and the submitting uid) itself.
 */
#ifndef MAIL_MAILDROP_H
#define MAIL_MAILDROP_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define MAILDROP_HDR_LEN  5    /* type byte + 4-byte length */
#define MAILDROP_TEXT_MAX 4096 /* longest envelope record (address, full name, attribute) */

/* Attribute names a user may set (QF_ATTR "name=value"). */
#define MAILDROP_ATTR_FULLNAME "sender_fullname"
#define MAILDROP_ATTR_EXTRACT  "extract_recipients" /* "1": cleanup takes them from To/Cc/Bcc */
#define MAILDROP_ATTR_DSN_RET  "dsn_ret"            /* RFC 3461 4.3: FULL or HDRS */
#define MAILDROP_ATTR_NOTIFY   "dsn_notify" /* RFC 3461 4.1: NEVER or SUCCESS,FAILURE,DELAY */
#define MAILDROP_ATTR_ENVID    "dsn_envid"  /* RFC 3461 4.4: printable ASCII, 1..100 bytes */
#define MAILDROP_ENVID_MAX     100

enum maildrop_state { MAILDROP_ENVELOPE, MAILDROP_CONTENT, MAILDROP_DONE };

struct maildrop_check {
    enum maildrop_state state;
    size_t size_limit; /* 0: no limit */
    size_t total;      /* payload bytes so far */
    size_t content;    /* content bytes so far */
    size_t rcpt_count;
    int sender_seen;
    int extract;        /* extract_recipients=1 was given */
    unsigned attr_seen; /* one bit per allowed attribute name */
};

/* maildrop_check_init - a fresh checker; size_limit 0 means unlimited. */
void maildrop_check_init(struct maildrop_check *c, size_t size_limit);
/* maildrop_header - decode a record header and check, before any payload
 * is read, that the type may come next and the length fits. 0 (type and len
 * set) or -1 + why. */
int maildrop_header(struct maildrop_check *c, const unsigned char hdr[MAILDROP_HDR_LEN], int *type,
                    size_t *len, struct buf *why);
/* maildrop_record - check one payload (after maildrop_header accepted its
 * header). 1 after the end record (the stream is complete and valid), 0 for
 * another record, -1 + why. */
int maildrop_record(struct maildrop_check *c, int type, const void *p, size_t n, struct buf *why);
/* maildrop_validate - check a whole in-memory stream; trailing bytes after
 * QF_END are an error. 0 or -1 + why. */
int maildrop_validate(const void *p, size_t n, size_t size_limit, struct buf *why);
/* maildrop_put - append one framed record to out (the sendmail side). The
 * caller keeps n within MAILDROP_TEXT_MAX / QF_CONTENT_CHUNK. */
void maildrop_put(struct buf *out, int type, const void *p, size_t n);
/* maildrop_put_str - maildrop_put of a C string. */
void maildrop_put_str(struct buf *out, int type, const char *s);
/* maildrop_text_ok - 1 if s[0..n) is usable envelope text: no control
 * character (C0, DEL), no NUL. */
int maildrop_text_ok(const void *p, size_t n);

#endif
