/* header - RFC 5322 header section reader and small header helpers.
 *
 * cleanup feeds the message one line at a time; the reader joins folded
 * lines into logical headers, keeping both the unfolded value (for
 * inspection) and the original folded text (to write back unchanged), finds
 * the end of the header section, and enforces the caller's limits so that
 * an oversized header section is reported by name, not truncated silently.
 *
 * End of the header section, as in Postfix cleanup:
 *   - an empty line: it is the separator, not part of the body
 *     (HEADER_END_EMPTY);
 *   - any line that is not a header field: no colon, an invalid field name
 *     (RFC 5322 2.2: printable US-ASCII except ':' and SP), or a folded line
 *     with nothing to continue. That line is the first line of the body
 *     (HEADER_END_BODY); the caller writes it as body, and no header after
 *     it is recognised.
 * Obsolete syntax (RFC 5322 4.5.8) is accepted: white space between the
 * field name and the colon. Lines end in LF; a CR before the LF is removed.
 */
#ifndef MAIL_HEADER_H
#define MAIL_HEADER_H

#include <stddef.h>
#include <time.h>

#include "util/buf.h"

/* Limits; 0 means no limit. Bytes are counted after CR removal, each line
 * plus one for its LF; the empty separator line is not counted. A value
 * exactly at a limit is accepted, one more is an error. */
struct header_limits {
    size_t max_total_bytes;  /* whole header section */
    size_t max_header_bytes; /* one logical header (Postfix header_size_limit) */
    size_t max_headers;      /* number of logical headers */
    size_t max_line_length;  /* one physical line, without CR/LF */
};

enum header_status {
    HEADER_MORE = 0,        /* line taken; feed the next one */
    HEADER_END_EMPTY,       /* an empty line ended the section */
    HEADER_END_BODY,        /* the line fed is not a header: it starts the body */
    HEADER_END_EOF,         /* input ended inside the header section */
    HEADER_ERR_TOTAL_SIZE,  /* max_total_bytes exceeded */
    HEADER_ERR_HEADER_SIZE, /* max_header_bytes exceeded */
    HEADER_ERR_COUNT,       /* max_headers exceeded */
    HEADER_ERR_LINE_LENGTH, /* max_line_length exceeded */
};

/* One logical header. Counted buffers: a value may hold any byte but LF. */
struct header {
    struct buf name;  /* field name as written, without colon or WSP */
    struct buf value; /* unfolded (RFC 5322 2.2.3), leading WSP removed */
    struct buf raw;   /* original text, lines joined by "\n", no final LF */
    size_t lines;     /* physical lines */
};

struct header_reader;

struct header_reader *header_reader_create(const struct header_limits *limits);
void header_reader_free(struct header_reader *r);

/* header_reader_feed - one line (with or without its LF / CRLF). *done is
 * set to a header completed by this line, or NULL; it stays valid until the
 * next call. After an END or ERR status the reader is finished and keeps
 * returning that status. On END_* the last header is handed out too. */
enum header_status header_reader_feed(struct header_reader *r, const char *line, size_t len,
                                      const struct header **done);
/* header_reader_eof - the message ended; hands out the last header. */
enum header_status header_reader_eof(struct header_reader *r, const struct header **done);
/* header_reader_count / _bytes - logical headers and bytes seen so far. */
size_t header_reader_count(const struct header_reader *r);
size_t header_reader_bytes(const struct header_reader *r);
/* header_status_str - "header section too large" etc., for logs and replies. */
const char *header_status_str(enum header_status st);

/* header_name_is - ASCII case-insensitive field name comparison. */
int header_name_is(const char *name, const char *want);

/* Headers cleanup treats specially. */
enum header_id {
    HDR_OTHER = 0,
    HDR_FROM,
    HDR_SENDER,
    HDR_TO,
    HDR_CC,
    HDR_BCC,
    HDR_DATE,
    HDR_MESSAGE_ID,
    HDR_RECEIVED,
    HDR_RETURN_PATH,
    HDR_DELIVERED_TO,
    HDR_RESENT_FROM,
    HDR_RESENT_SENDER,
    HDR_RESENT_TO,
    HDR_RESENT_CC,
    HDR_RESENT_BCC,
    HDR_RESENT_DATE,
    HDR_RESENT_MESSAGE_ID,
    HDR_CONTENT_TYPE,
    HDR_CONTENT_TRANSFER_ENCODING,
    HDR_MIME_VERSION,
};

#define HDR_FL_ADDRESS   (1u << 0) /* value is an address list (RFC 5322 3.6.2/3.6.3) */
#define HDR_FL_RECIPIENT (1u << 1) /* To/Cc/Bcc and Resent- forms: sendmail -t */
#define HDR_FL_RESENT    (1u << 2) /* Resent- block (RFC 5322 3.6.6) */
#define HDR_FL_MIME      (1u << 3) /* MIME structure (RFC 2045) */

struct header_info {
    const char *name; /* canonical spelling */
    enum header_id id;
    unsigned flags;
};

/* header_lookup - the table entry for a name, or NULL when not well known. */
const struct header_info *header_lookup(const char *name);
/* header_info_by_id - the table entry for an id (NULL for HDR_OTHER). */
const struct header_info *header_info_by_id(enum header_id id);

/* header_date_format - RFC 5322 3.3 date-time for t in local time:
 * "Sat, 21 Nov 2026 13:15:03 +0000"; English names whatever the locale. */
void header_date_format(struct buf *out, time_t t);
void header_date_now(struct buf *out);

/* message_id_format - "<YYYYMMDDhhmmss.QUEUEID@myhostname>" (UTC time).
 * -1 and why when queue_id or myhostname could not form a valid msg-id
 * (RFC 5322 3.6.4: dot-atom-text only, no '<', '>', '@', white space). */
int message_id_format(struct buf *out, time_t t, const char *queue_id, const char *myhostname,
                      struct buf *why);
int message_id_new(struct buf *out, const char *queue_id, const char *myhostname, struct buf *why);

#endif
