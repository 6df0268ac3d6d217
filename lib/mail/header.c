/* header - RFC 5322 header section reader, well-known header table, and the
 * Date and Message-ID values cleanup adds. See header.h for the rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mail/header.h"
#include "util/alloc.h"

struct header_reader {
    struct header_limits lim;
    struct header slot[2]; /* pending and the one last handed out */
    int pending;           /* index of the header being built, or -1 */
    int next;              /* slot to build the next header in */
    size_t count;
    size_t bytes;
    enum header_status final; /* HEADER_MORE while reading */
};

static void header_init(struct header *h)
{
    buf_init(&h->name);
    buf_init(&h->value);
    buf_init(&h->raw);
    h->lines = 0;
}

static void header_clear(struct header *h)
{
    buf_reset(&h->name);
    buf_reset(&h->value);
    buf_reset(&h->raw);
    h->lines = 0;
}

struct header_reader *header_reader_create(const struct header_limits *limits)
{
    struct header_reader *r = xcalloc(1, sizeof(*r));
    if (limits)
        r->lim = *limits;
    header_init(&r->slot[0]);
    header_init(&r->slot[1]);
    r->pending = -1;
    r->final = HEADER_MORE;
    return r;
}

void header_reader_free(struct header_reader *r)
{
    if (!r)
        return;
    for (int i = 0; i < 2; i++) {
        buf_free(&r->slot[i].name);
        buf_free(&r->slot[i].value);
        buf_free(&r->slot[i].raw);
    }
    free(r);
}

size_t header_reader_count(const struct header_reader *r)
{
    return r->count;
}

size_t header_reader_bytes(const struct header_reader *r)
{
    return r->bytes;
}

static int is_wsp(int c)
{
    return c == ' ' || c == '\t';
}

/* RFC 5322 2.2: ftext is printable US-ASCII except ':' */
static int is_ftext(int c)
{
    return c >= 33 && c <= 126 && c != ':';
}

/* The name length when line starts a header field, else 0; *vstart is where
 * the value (after the colon) begins. */
static size_t field_name_len(const char *line, size_t len, size_t *vstart)
{
    size_t n = 0;
    while (n < len && is_ftext((unsigned char)line[n]))
        n++;
    if (n == 0)
        return 0;
    size_t i = n;
    while (i < len && is_wsp((unsigned char)line[i])) /* RFC 5322 4.5.8 obs-optional */
        i++;
    if (i >= len || line[i] != ':')
        return 0;
    *vstart = i + 1;
    return n;
}

/* Hand out the pending header (if any) through *done. */
static void flush_pending(struct header_reader *r, const struct header **done)
{
    if (r->pending < 0)
        return;
    *done = &r->slot[r->pending];
    r->next = 1 - r->pending;
    r->pending = -1;
}

static enum header_status finish(struct header_reader *r, enum header_status st)
{
    r->final = st;
    return st;
}

enum header_status header_reader_feed(struct header_reader *r, const char *line, size_t len,
                                      const struct header **done)
{
    *done = NULL;
    if (r->final != HEADER_MORE)
        return r->final;

    if (len > 0 && line[len - 1] == '\n')
        len--;
    if (len > 0 && line[len - 1] == '\r')
        len--;

    if (len == 0) {
        flush_pending(r, done);
        return finish(r, HEADER_END_EMPTY);
    }
    if (r->lim.max_line_length && len > r->lim.max_line_length)
        return finish(r, HEADER_ERR_LINE_LENGTH);

    size_t vstart = 0;
    int cont = is_wsp((unsigned char)line[0]);
    if (cont ? r->pending < 0 : field_name_len(line, len, &vstart) == 0) {
        /* Not a header: the body starts here (Postfix cleanup behaviour). */
        flush_pending(r, done);
        return finish(r, HEADER_END_BODY);
    }

    /* Nothing is counted until the line has passed every check. */
    size_t add, total;
    if (!size_add_ok(len, 1, &add) || !size_add_ok(r->bytes, add, &total) ||
        (r->lim.max_total_bytes && total > r->lim.max_total_bytes))
        return finish(r, HEADER_ERR_TOTAL_SIZE);

    if (cont) {
        struct header *h = &r->slot[r->pending];
        size_t hsize;
        if (!size_add_ok(h->raw.len, add, &hsize) ||
            (r->lim.max_header_bytes && hsize + 1 > r->lim.max_header_bytes))
            return finish(r, HEADER_ERR_HEADER_SIZE);
        /* RFC 5322 2.2.3: unfolding removes the line break, keeps the WSP */
        r->bytes = total;
        buf_putc(&h->raw, '\n');
        buf_append(&h->raw, line, len);
        buf_append(&h->value, line, len);
        h->lines++;
        return HEADER_MORE;
    }

    if (r->lim.max_headers && r->count + 1 > r->lim.max_headers)
        return finish(r, HEADER_ERR_COUNT);
    if (r->lim.max_header_bytes && add > r->lim.max_header_bytes)
        return finish(r, HEADER_ERR_HEADER_SIZE);
    r->bytes = total;
    flush_pending(r, done);
    r->pending = r->next;
    struct header *h = &r->slot[r->pending];
    header_clear(h);
    size_t nlen = field_name_len(line, len, &vstart);
    buf_append(&h->name, line, nlen);
    while (vstart < len && is_wsp((unsigned char)line[vstart]))
        vstart++;
    buf_append(&h->value, line + vstart, len - vstart);
    buf_append(&h->raw, line, len);
    h->lines = 1;
    r->count++;
    return HEADER_MORE;
}

enum header_status header_reader_eof(struct header_reader *r, const struct header **done)
{
    *done = NULL;
    if (r->final != HEADER_MORE)
        return r->final;
    flush_pending(r, done);
    return finish(r, HEADER_END_EOF);
}

const char *header_status_str(enum header_status st)
{
    switch (st) {
    case HEADER_MORE:
        return "header section continues";
    case HEADER_END_EMPTY:
        return "end of header section";
    case HEADER_END_BODY:
        return "non-header line starts the body";
    case HEADER_END_EOF:
        return "message ended in the header section";
    case HEADER_ERR_TOTAL_SIZE:
        return "message header section exceeds size limit";
    case HEADER_ERR_HEADER_SIZE:
        return "message header exceeds size limit";
    case HEADER_ERR_COUNT:
        return "too many message headers";
    case HEADER_ERR_LINE_LENGTH:
        return "message header line too long";
    }
    return "unknown header status";
}

int header_name_is(const char *name, const char *want)
{
    return strcasecmp(name, want) == 0;
}

#define ADDR HDR_FL_ADDRESS
#define RCPT (HDR_FL_ADDRESS | HDR_FL_RECIPIENT)
#define RES  HDR_FL_RESENT

/* Indexed by enum header_id (checked by the unit test). */
static const struct header_info header_table[] = {
    {"", HDR_OTHER, 0},
    {"From", HDR_FROM, ADDR},
    {"Sender", HDR_SENDER, ADDR},
    {"To", HDR_TO, RCPT},
    {"Cc", HDR_CC, RCPT},
    {"Bcc", HDR_BCC, RCPT},
    {"Date", HDR_DATE, 0},
    {"Message-ID", HDR_MESSAGE_ID, 0},
    {"Received", HDR_RECEIVED, 0},
    {"Return-Path", HDR_RETURN_PATH, ADDR},
    {"Delivered-To", HDR_DELIVERED_TO, ADDR},
    {"Resent-From", HDR_RESENT_FROM, ADDR | RES},
    {"Resent-Sender", HDR_RESENT_SENDER, ADDR | RES},
    {"Resent-To", HDR_RESENT_TO, RCPT | RES},
    {"Resent-Cc", HDR_RESENT_CC, RCPT | RES},
    {"Resent-Bcc", HDR_RESENT_BCC, RCPT | RES},
    {"Resent-Date", HDR_RESENT_DATE, RES},
    {"Resent-Message-ID", HDR_RESENT_MESSAGE_ID, RES},
    {"Content-Type", HDR_CONTENT_TYPE, HDR_FL_MIME},
    {"Content-Transfer-Encoding", HDR_CONTENT_TRANSFER_ENCODING, HDR_FL_MIME},
    {"MIME-Version", HDR_MIME_VERSION, HDR_FL_MIME},
};

#define TABLE_LEN (sizeof(header_table) / sizeof(header_table[0]))

const struct header_info *header_lookup(const char *name)
{
    for (size_t i = 1; i < TABLE_LEN; i++)
        if (strcasecmp(name, header_table[i].name) == 0)
            return &header_table[i];
    return NULL;
}

const struct header_info *header_info_by_id(enum header_id id)
{
    if (id <= HDR_OTHER || (size_t)id >= TABLE_LEN)
        return NULL;
    return &header_table[id];
}

static const char wday_names[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void header_date_format(struct buf *out, time_t t)
{
    struct tm tm;
    buf_reset(out);
    if (localtime_r(&t, &tm) == NULL) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    /* RFC 5322 3.3: zone is +/-hhmm; the offset is whole minutes */
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    buf_printf(out, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld", wday_names[tm.tm_wday % 7],
               tm.tm_mday, month_names[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
               tm.tm_sec, sign, (off / 60) % 100, off % 60);
}

void header_date_now(struct buf *out)
{
    header_date_format(out, time(NULL));
}

/* RFC 5322 3.2.3 atext plus '.', as used in dot-atom-text (3.6.4 msg-id) */
static int dot_atom_ok(const char *s)
{
    static const char specials[] = "!#$%&'*+-/=?^_`{|}~.";
    if (*s == 0 || *s == '.')
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr(specials, c)))
            return 0;
        if (c == '.' && (p[1] == '.' || p[1] == 0))
            return 0;
    }
    return 1;
}

int message_id_format(struct buf *out, time_t t, const char *queue_id, const char *myhostname,
                      struct buf *why)
{
    struct tm tm;
    buf_reset(out);
    if (!dot_atom_ok(queue_id)) {
        buf_printf(why, "queue ID \"%s\" cannot form a Message-ID", queue_id);
        return -1;
    }
    if (!dot_atom_ok(myhostname)) {
        buf_printf(why, "host name \"%s\" cannot form a Message-ID", myhostname);
        return -1;
    }
    if (gmtime_r(&t, &tm) == NULL) {
        buf_puts(why, "time out of range for a Message-ID");
        return -1;
    }
    buf_printf(out, "<%04d%02d%02d%02d%02d%02d.%s@%s>", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, queue_id, myhostname);
    return 0;
}

int message_id_new(struct buf *out, const char *queue_id, const char *myhostname, struct buf *why)
{
    return message_id_format(out, time(NULL), queue_id, myhostname, why);
}
