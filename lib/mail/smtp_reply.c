/* smtp_reply - bounded reading of SMTP server replies and EHLO keywords
 * (see smtp_reply.h). A server is hostile input like any client: every
 * line, the line count, the total size and the time are bounded, and a
 * reply that breaks the grammar ends the session with a temporary error
 * rather than being guessed at.
 */
#include "mail/smtp_reply.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void smtp_resp_reset(struct smtp_resp *r)
{
    r->code = 0;
    r->dsn[0] = 0;
    buf_reset(&r->text);
    buf_reset(&r->body);
    r->lines = 0;
    r->done = 0;
}

void smtp_resp_free(struct smtp_resp *r)
{
    buf_free(&r->text);
    buf_free(&r->body);
    smtp_resp_reset(r);
}

/* enhanced_status - "x.y.z" at the start of text whose class is cls
 * (RFC 3463: class 1 digit, subject 1-3 digits, detail 1-3 digits); its
 * length, or 0. */
static size_t enhanced_status(const char *text, size_t len, char cls)
{
    size_t i = 0, part;

    if (len < 5 || text[0] != cls || text[1] != '.')
        return 0;
    i = 2;
    for (int field = 0; field < 2; field++) {
        for (part = 0; i < len && isdigit((unsigned char)text[i]) && part < 3; part++)
            i++;
        if (part == 0 || (i < len && isdigit((unsigned char)text[i])))
            return 0;
        if (field == 0) {
            if (i >= len || text[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < len && text[i] != ' ' && text[i] != '\t')
        return 0;
    return i;
}

int smtp_reply_add_line(struct smtp_resp *r, const char *line, size_t len, struct buf *why)
{
    int code;
    int last;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (r->done) {
        buf_setf(why, "reply continues after its last line");
        return SMTP_REPLY_PROTO;
    }
    if (len > SMTP_REPLY_LINE_MAX) {
        buf_setf(why, "reply line too long");
        return SMTP_REPLY_PROTO;
    }
    if (len < 3 || line[0] < '2' || line[0] > '5' || !isdigit((unsigned char)line[1]) ||
        !isdigit((unsigned char)line[2]) || (len > 3 && line[3] != ' ' && line[3] != '-')) {
        buf_setf(why, "malformed reply");
        return SMTP_REPLY_PROTO;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            buf_setf(why, "malformed reply: control character");
            return SMTP_REPLY_PROTO;
        }
    }
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (r->lines > 0 && code != r->code) {
        buf_setf(why, "malformed reply: code %d in a reply of %d", code, r->code);
        return SMTP_REPLY_PROTO;
    }
    if (r->lines + 1 > SMTP_REPLY_LINES_MAX || r->text.len + len + 1 > SMTP_REPLY_TOTAL_MAX) {
        buf_setf(why, "reply too long");
        return SMTP_REPLY_PROTO;
    }
    last = len == 3 || line[3] == ' ';
    const char *txt = len > 4 ? line + 4 : "";
    size_t tlen = len > 4 ? len - 4 : 0;
    if (r->lines == 0) {
        size_t n;
        r->code = code;
        n = enhanced_status(txt, tlen, line[0]);
        if (n > 0 && n < sizeof(r->dsn)) {
            memcpy(r->dsn, txt, n);
            r->dsn[n] = 0;
        } else {
            r->dsn[0] = line[0];
            memcpy(r->dsn + 1, ".0.0", 5);
        }
    } else {
        buf_putc(&r->text, ' ');
        buf_putc(&r->body, '\n');
    }
    /* TABs become spaces so log lines and DSN fields stay one clean line. */
    for (size_t i = 0; i < len; i++)
        buf_putc(&r->text, line[i] == '\t' ? ' ' : line[i]);
    buf_append(&r->body, txt, tlen);
    r->lines++;
    if (last) {
        r->done = 1;
        return SMTP_REPLY_OK;
    }
    return SMTP_REPLY_MORE;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int smtp_reply_read(struct stream *s, struct smtp_resp *r, int timeout, struct buf *why)
{
    struct buf line = BUF_INIT;
    long long deadline = now_ms() + (long long)(timeout > 0 ? timeout : 1) * 1000;
    int rc;

    smtp_resp_reset(r);
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            rc = SMTP_REPLY_TIMEOUT;
            buf_setf(why, "conversation timed out");
            break;
        }
        stream_set_timeout(s, (int)((left + 999) / 1000));
        enum stream_line st = stream_get_line(s, &line, SMTP_REPLY_LINE_MAX + 1);
        if (st == STREAM_LINE_LONG) {
            rc = SMTP_REPLY_PROTO;
            buf_setf(why, "reply line too long");
            break;
        }
        if (st != STREAM_LINE_OK) {
            if (s->flags & STREAM_F_TIMEOUT) {
                rc = SMTP_REPLY_TIMEOUT;
                buf_setf(why, "conversation timed out");
            } else {
                rc = SMTP_REPLY_LOST;
                buf_setf(why, "lost connection");
            }
            break;
        }
        if (s->flags & STREAM_F_EOF) {
            /* a last line without its terminator: the server went away */
            rc = SMTP_REPLY_LOST;
            buf_setf(why, "lost connection");
            break;
        }
        rc = smtp_reply_add_line(r, line.data ? line.data : "", line.len, why);
        if (rc != SMTP_REPLY_MORE)
            break;
    }
    buf_free(&line);
    return rc;
}

static int keyword_is(const char *p, size_t n, const char *kw)
{
    return strlen(kw) == n && strncasecmp(p, kw, n) == 0;
}

void smtp_ehlo_parse(const struct smtp_resp *r, struct smtp_ehlo *e)
{
    const char *p = r->body.data ? r->body.data : "";
    const char *end = p + r->body.len;
    int first = 1;

    memset(e, 0, sizeof(*e));
    smtp_reply_first_word(r, e->server_name, sizeof(e->server_name));
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (!first) {
            const char *kw = p;
            size_t kl = strcspn(kw, " =\n");
            if (kw + kl > le)
                kl = (size_t)(le - kw);
            const char *arg = kw + kl < le ? kw + kl + 1 : le;
            size_t al = (size_t)(le - arg);
            if (keyword_is(kw, kl, "PIPELINING"))
                e->features |= SMTP_EXT_PIPELINING;
            else if (keyword_is(kw, kl, "8BITMIME"))
                e->features |= SMTP_EXT_8BITMIME;
            else if (keyword_is(kw, kl, "SMTPUTF8"))
                e->features |= SMTP_EXT_SMTPUTF8;
            else if (keyword_is(kw, kl, "DSN"))
                e->features |= SMTP_EXT_DSN;
            else if (keyword_is(kw, kl, "STARTTLS"))
                e->features |= SMTP_EXT_STARTTLS;
            else if (keyword_is(kw, kl, "ENHANCEDSTATUSCODES"))
                e->features |= SMTP_EXT_ENHANCED;
            else if (keyword_is(kw, kl, "SIZE")) {
                unsigned long long v = 0;
                int ok = 1;
                for (size_t i = 0; i < al && arg[i] != ' '; i++) {
                    if (!isdigit((unsigned char)arg[i]) || v > (~0ULL - 9) / 10) {
                        ok = 0;
                        break;
                    }
                    v = v * 10 + (unsigned)(arg[i] - '0');
                }
                e->features |= SMTP_EXT_SIZE;
                e->size_limit = ok ? v : 0;
            } else if (keyword_is(kw, kl, "AUTH")) {
                size_t have = strlen(e->auth);
                e->features |= SMTP_EXT_AUTH;
                /* keep whole words only, within the bound */
                if (have + al + 2 < sizeof(e->auth)) {
                    if (have)
                        e->auth[have++] = ' ';
                    memcpy(e->auth + have, arg, al);
                    e->auth[have + al] = 0;
                }
            }
        }
        first = 0;
        p = nl ? nl + 1 : end;
    }
}

void smtp_reply_first_word(const struct smtp_resp *r, char *out, size_t size)
{
    const char *p = r->body.data ? r->body.data : "";
    size_t n = strcspn(p, " \n");
    if (size == 0)
        return;
    if (n >= size)
        n = size - 1;
    memcpy(out, p, n);
    out[n] = 0;
}
