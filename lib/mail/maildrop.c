/* maildrop - framing and checking of the sendmail -> postdrop record
 * stream (see maildrop.h). Pure functions over bytes, so that the checks a
 * setgid program relies on are unit-tested and fuzzed on their own.
 */
#include "mail/maildrop.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mail/queue_file.h"

static int fail(struct buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct buf *why, const char *fmt, ...)
{
    va_list ap;

    if (why != NULL) {
        buf_reset(why);
        va_start(ap, fmt);
        buf_vprintf(why, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A type byte from a user is printed as a number unless it is plain ASCII. */
static const char *type_text(int type, char *tmp, size_t len)
{
    if (type > 0x20 && type < 0x7f)
        snprintf(tmp, len, "'%c'", type);
    else
        snprintf(tmp, len, "0x%02x", (unsigned)type & 0xff);
    return tmp;
}

void maildrop_check_init(struct maildrop_check *c, size_t size_limit)
{
    memset(c, 0, sizeof(*c));
    c->state = MAILDROP_ENVELOPE;
    c->size_limit = size_limit;
}

int maildrop_text_ok(const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int maildrop_header(struct maildrop_check *c, const unsigned char hdr[MAILDROP_HDR_LEN], int *type,
                    size_t *len, struct buf *why)
{
    char tn[8];
    int t = hdr[0];
    uint32_t n = (uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 8 | hdr[4];

    switch (c->state) {
    case MAILDROP_DONE:
        return fail(why, "data after the end record");
    case MAILDROP_ENVELOPE:
        if (t == QF_ATTR || t == QF_SENDER || t == QF_RCPT)
            break;
        /* FALLTHROUGH */
    case MAILDROP_CONTENT:
        if (t == QF_CONTENT || t == QF_END)
            break;
        if (t == QF_ATTR || t == QF_SENDER || t == QF_RCPT)
            return fail(why, "envelope record %s after the message content",
                        type_text(t, tn, sizeof(tn)));
        return fail(why, "record type %s is not allowed in submitted mail",
                    type_text(t, tn, sizeof(tn)));
    }
    if (t == QF_END && n != 0)
        return fail(why, "end record with a payload of %lu bytes", (unsigned long)n);
    if (t == QF_CONTENT && n > QF_RECORD_MAX)
        return fail(why, "content record of %lu bytes exceeds the limit of %u", (unsigned long)n,
                    QF_RECORD_MAX);
    if (t != QF_CONTENT && n > MAILDROP_TEXT_MAX)
        return fail(why, "record %s of %lu bytes exceeds the limit of %d",
                    type_text(t, tn, sizeof(tn)), (unsigned long)n, MAILDROP_TEXT_MAX);
    /* n is at most QF_RECORD_MAX here, so the sum cannot wrap. */
    if (c->size_limit > 0 && c->total + n > c->size_limit)
        return fail(why, "message file too big");
    *type = t;
    *len = n;
    return 0;
}

static const char *const attr_names[] = {
    MAILDROP_ATTR_FULLNAME, MAILDROP_ATTR_EXTRACT, MAILDROP_ATTR_DSN_RET,
    MAILDROP_ATTR_NOTIFY,   MAILDROP_ATTR_ENVID,
};
#define ATTR_COUNT (sizeof(attr_names) / sizeof(attr_names[0]))

/* RFC 3461 4.1: NEVER alone, or any of SUCCESS, FAILURE, DELAY, each once. */
static int notify_ok(const char *v, size_t n)
{
    static const char *const words[] = {"SUCCESS", "FAILURE", "DELAY"};
    unsigned seen = 0;

    if (n == 5 && strncasecmp(v, "NEVER", 5) == 0)
        return 1;
    while (n > 0) {
        const char *comma = memchr(v, ',', n);
        size_t wl = comma ? (size_t)(comma - v) : n;
        size_t i;
        for (i = 0; i < 3; i++)
            if (wl == strlen(words[i]) && strncasecmp(v, words[i], wl) == 0)
                break;
        if (i == 3 || (seen & (1u << i)))
            return 0;
        seen |= 1u << i;
        if (comma == NULL)
            return 1;
        v = comma + 1;
        n -= wl + 1;
        if (n == 0)
            return 0; /* trailing comma */
    }
    return 0;
}

static int check_attr(struct maildrop_check *c, const char *p, size_t n, struct buf *why)
{
    const char *eq = memchr(p, '=', n);
    if (eq == NULL)
        return fail(why, "attribute record without '='");
    size_t nl = (size_t)(eq - p);
    const char *v = eq + 1;
    size_t vl = n - nl - 1;
    size_t i;

    for (i = 0; i < ATTR_COUNT; i++)
        if (nl == strlen(attr_names[i]) && memcmp(p, attr_names[i], nl) == 0)
            break;
    if (i == ATTR_COUNT)
        return fail(why, "attribute \"%.*s\" is not allowed in submitted mail",
                    (int)(nl > 64 ? 64 : nl), p);
    if (c->attr_seen & (1u << i))
        return fail(why, "attribute %s given twice", attr_names[i]);
    c->attr_seen |= 1u << i;

    if (strcmp(attr_names[i], MAILDROP_ATTR_EXTRACT) == 0) {
        if (vl != 1 || (v[0] != '0' && v[0] != '1'))
            return fail(why, "attribute %s must be 0 or 1", MAILDROP_ATTR_EXTRACT);
        c->extract = (v[0] == '1');
    } else if (strcmp(attr_names[i], MAILDROP_ATTR_DSN_RET) == 0) {
        if (!((vl == 4 && strncasecmp(v, "FULL", 4) == 0) ||
              (vl == 4 && strncasecmp(v, "HDRS", 4) == 0)))
            return fail(why, "attribute %s must be FULL or HDRS", MAILDROP_ATTR_DSN_RET);
    } else if (strcmp(attr_names[i], MAILDROP_ATTR_NOTIFY) == 0) {
        if (!notify_ok(v, vl))
            return fail(why, "attribute %s must be NEVER or a list of SUCCESS, FAILURE, DELAY",
                        MAILDROP_ATTR_NOTIFY);
    } else if (strcmp(attr_names[i], MAILDROP_ATTR_ENVID) == 0) {
        int ok = vl > 0 && vl <= MAILDROP_ENVID_MAX;
        for (size_t k = 0; ok && k < vl; k++)
            ok = (unsigned char)v[k] >= 0x20 && (unsigned char)v[k] <= 0x7e;
        if (!ok)
            return fail(why, "attribute %s must be 1 to %d printable ASCII characters",
                        MAILDROP_ATTR_ENVID, MAILDROP_ENVID_MAX);
    }
    return 0;
}

int maildrop_record(struct maildrop_check *c, int type, const void *p, size_t n, struct buf *why)
{
    c->total += n;
    switch (type) {
    case QF_ATTR:
    case QF_SENDER:
    case QF_RCPT:
        if (!maildrop_text_ok(p, n))
            return fail(why, "envelope record contains a control character");
        if (type == QF_ATTR)
            return check_attr(c, p, n, why);
        if (type == QF_SENDER) {
            if (c->sender_seen)
                return fail(why, "more than one sender record");
            c->sender_seen = 1;
            return 0;
        }
        if (n == 0)
            return fail(why, "empty recipient");
        c->rcpt_count++;
        return 0;
    case QF_CONTENT:
        c->state = MAILDROP_CONTENT;
        c->content += n;
        return 0;
    case QF_END:
        if (!c->sender_seen)
            return fail(why, "no sender record");
        if (c->rcpt_count == 0 && !c->extract)
            return fail(why, "no recipients specified");
        c->state = MAILDROP_DONE;
        return 1;
    default:
        return fail(why, "unexpected record type");
    }
}

int maildrop_validate(const void *p, size_t n, size_t size_limit, struct buf *why)
{
    const unsigned char *s = p;
    struct maildrop_check c;
    size_t pos = 0;

    maildrop_check_init(&c, size_limit);
    for (;;) {
        int type, ret;
        size_t len;
        if (n - pos < MAILDROP_HDR_LEN)
            return fail(why, "premature end of input: no end record");
        if (maildrop_header(&c, s + pos, &type, &len, why) < 0)
            return -1;
        pos += MAILDROP_HDR_LEN;
        if (n - pos < len)
            return fail(why, "premature end of input in a record");
        ret = maildrop_record(&c, type, s + pos, len, why);
        pos += len;
        if (ret < 0)
            return -1;
        if (ret == 1)
            break;
    }
    if (pos != n)
        return fail(why, "data after the end record");
    return 0;
}

void maildrop_put(struct buf *out, int type, const void *p, size_t n)
{
    unsigned char hdr[MAILDROP_HDR_LEN];

    hdr[0] = (unsigned char)type;
    hdr[1] = (unsigned char)(n >> 24);
    hdr[2] = (unsigned char)(n >> 16);
    hdr[3] = (unsigned char)(n >> 8);
    hdr[4] = (unsigned char)n;
    buf_append(out, hdr, sizeof(hdr));
    if (n > 0)
        buf_append(out, p, n);
}

void maildrop_put_str(struct buf *out, int type, const char *s)
{
    maildrop_put(out, type, s, strlen(s));
}
