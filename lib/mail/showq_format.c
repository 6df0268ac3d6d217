/* showq_format - showq(8)'s records and postqueue(1)'s two listings of
 * them (see showq_format.h). Pure: no I/O, only buffers and attributes, so
 * every byte of both formats is pinned down by unit tests.
 */
#include "mail/showq_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/addr.h"
#include "mail/queue_id.h"
#include "util/alloc.h"

/* Column layout of Postfix's mailq listing with long queue IDs: ID and
 * status mark, size, arrival time, then sender or recipient. */
#define COL_ID      17
#define COL_SIZE    8
#define COL_ARRIVAL 19
#define REASON_COL  76 /* a "(reason)" line is right-aligned to this column */

static const char *const known_queues[] = {"incoming", "active",   "deferred",
                                           "hold",     "maildrop", "corrupt"};

/* utf8_seq - length of the well-formed UTF-8 sequence at p (RFC 3629 4:
 * no overlong forms, no surrogates, nothing above U+10FFFF) and its code
 * point, or 0 when the byte at p does not start one. */
static size_t utf8_seq(const unsigned char *p, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t n;
    uint32_t v, min;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) /* also stops at the NUL */
            return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

/* is_control - C0, DEL and C1: what a terminal may act on. */
static int is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

void showq_printable(struct buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        uint32_t cp;
        size_t n = utf8_seq(p, &cp);
        if (n == 0 || is_control(cp)) {
            buf_putc(out, '?');
            p += n ? n : 1;
        } else {
            buf_append(out, p, n);
            p += n;
        }
    }
}

void showq_json_string(struct buf *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    buf_putc(out, '"');
    while (*p) {
        uint32_t cp;
        size_t n = utf8_seq(p, &cp);
        if (n == 0) {
            /* Not UTF-8: JSON text must be (RFC 8259 8.1); Postfix also
             * prints '?' for what it cannot show. */
            buf_putc(out, '?');
            p++;
            continue;
        }
        switch (cp) {
        case '"':
            buf_puts(out, "\\\"");
            break;
        case '\\':
            buf_puts(out, "\\\\");
            break;
        case '\b':
            buf_puts(out, "\\b");
            break;
        case '\f':
            buf_puts(out, "\\f");
            break;
        case '\n':
            buf_puts(out, "\\n");
            break;
        case '\r':
            buf_puts(out, "\\r");
            break;
        case '\t':
            buf_puts(out, "\\t");
            break;
        default:
            /* RFC 8259 7 requires escaping only C0; DEL and C1 are escaped
             * too, so a listing printed raw cannot drive a terminal. */
            if (is_control(cp))
                buf_printf(out, "\\u%04X", (unsigned)cp);
            else
                buf_append(out, p, n);
            break;
        }
        p += n;
    }
    buf_putc(out, '"');
}

void showq_external(struct buf *out, const char *addr)
{
    struct buf ext = BUF_INIT, why = BUF_INIT;

    if (*addr == 0)
        buf_puts(out, SHOWQ_NULL_SENDER);
    else if (addr_quote_local(addr, &ext, &why) == 0)
        buf_append(out, ext.data, ext.len);
    else
        buf_puts(out, addr); /* too long to quote: shown as stored */
    buf_free(&ext);
    buf_free(&why);
}

void showq_arrival(struct buf *out, int64_t when)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t t = (time_t)when;

    if (when < 0 || (int64_t)t != when || localtime_r(&t, &tm) == NULL || tm.tm_wday < 0 ||
        tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11) {
        buf_puts(out, "??");
        return;
    }
    /* asctime()'s layout without the year: "%.3s %.3s%3d %.2d:%.2d:%.2d" */
    buf_printf(out, "%s %s%3d %.2d:%.2d:%.2d", days[tm.tm_wday], months[tm.tm_mon], tm.tm_mday,
               tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- the attribute form ------------------------------------------------ */

void showq_encode(const struct showq_msg *m, struct attr_list *l)
{
    char name[32];
    size_t listed = 0, budget = SHOWQ_TEXT_BUDGET;

    attr_add_str(l, "queue_name", m->queue_name);
    attr_add_str(l, "queue_id", m->queue_id);
    attr_add_int(l, "arrival", m->arrival);
    attr_add_int(l, "size", m->size);
    attr_add_str(l, "sender", m->sender);
    /* Count first: rcpt_count precedes the recipients on the wire. */
    for (size_t i = 0; i < m->rcpt_count && listed < SHOWQ_RCPT_MAX; i++) {
        size_t need = strlen(m->rcpts[i].address) + strlen(m->rcpts[i].reason) + 64;
        if (need > budget)
            break;
        budget -= need;
        listed++;
    }
    attr_add_int(l, "rcpt_count", (int64_t)listed);
    for (size_t i = 0; i < listed; i++) {
        snprintf(name, sizeof(name), "rcpt_%zu", i);
        attr_add_str(l, name, m->rcpts[i].address);
        snprintf(name, sizeof(name), "reason_%zu", i);
        attr_add_str(l, name, m->rcpts[i].reason);
    }
    size_t omitted = m->rcpt_omitted + (m->rcpt_count - listed);
    if (omitted > 0)
        attr_add_int(l, "rcpt_omitted", (int64_t)omitted);
}

void showq_encode_end(struct attr_list *l)
{
    attr_add_str(l, "queue_name", "");
}

/* get_str - a required text attribute (the sender may be empty). */
static const char *get_str(const struct attr_list *l, const char *name, struct buf *why)
{
    const struct attr *a = attr_get(l, name);

    if (a == NULL || a->type != ATTR_STR) {
        buf_setf(why, "missing or malformed attribute %s", name);
        return NULL;
    }
    return a->val;
}

/* get_count - a required integer in 0..max. */
static int get_count(const struct attr_list *l, const char *name, int64_t max, int64_t *out,
                     struct buf *why)
{
    const struct attr *a = attr_get(l, name);

    if (a == NULL || a->type != ATTR_INT) {
        buf_setf(why, "missing or malformed attribute %s", name);
        return -1;
    }
    if (a->num < 0 || a->num > max) {
        buf_setf(why, "attribute %s out of range: %lld", name, (long long)a->num);
        return -1;
    }
    *out = a->num;
    return 0;
}

int showq_decode(const struct attr_list *l, struct showq_msg *m, struct buf *why)
{
    int64_t arrival, size, count, omitted = 0;
    char name[32];
    int known = 0;

    memset(m, 0, sizeof(*m));
    const char *queue = get_str(l, "queue_name", why);
    if (queue == NULL)
        return -1;
    if (*queue == 0) {
        if (l->count != 1) {
            buf_setf(why, "end message with %zu attributes", l->count);
            return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(known_queues) / sizeof(known_queues[0]); i++)
        known |= strcmp(queue, known_queues[i]) == 0;
    if (!known) {
        buf_setf(why, "unknown queue name");
        return -1;
    }
    const char *id = get_str(l, "queue_id", why);
    const char *sender = get_str(l, "sender", why);
    if (id == NULL || sender == NULL)
        return -1;
    if (!queue_id_valid(id)) {
        buf_setf(why, "malformed queue ID");
        return -1;
    }
    if (get_count(l, "arrival", INT64_MAX, &arrival, why) < 0 ||
        get_count(l, "size", INT64_MAX, &size, why) < 0 ||
        get_count(l, "rcpt_count", SHOWQ_RCPT_MAX, &count, why) < 0)
        return -1;
    int has_omitted = attr_get(l, "rcpt_omitted") != NULL;
    if (has_omitted && get_count(l, "rcpt_omitted", INT64_MAX, &omitted, why) < 0)
        return -1;
    /* With every expected name present, an equal count leaves no room for
     * a duplicate or an attribute we do not know. */
    size_t expect = 6 + 2 * (size_t)count + (has_omitted ? 1 : 0);
    if (l->count != expect) {
        buf_setf(why, "%zu attributes where %zu were expected", l->count, expect);
        return -1;
    }
    struct showq_rcpt *r = count ? xcalloc((size_t)count, sizeof(*r)) : NULL;
    for (int64_t i = 0; i < count; i++) {
        snprintf(name, sizeof(name), "rcpt_%lld", (long long)i);
        r[i].address = get_str(l, name, why);
        snprintf(name, sizeof(name), "reason_%lld", (long long)i);
        r[i].reason = get_str(l, name, why);
        if (r[i].address == NULL || r[i].reason == NULL) {
            free(r);
            return -1;
        }
    }
    m->queue_name = queue;
    m->queue_id = id;
    m->arrival = arrival;
    m->size = size;
    m->sender = sender;
    m->rcpts = r;
    m->owned = r;
    m->rcpt_count = (size_t)count;
    m->rcpt_omitted = (size_t)omitted;
    return 1;
}

void showq_msg_release(struct showq_msg *m)
{
    free(m->owned);
    m->owned = NULL;
    m->rcpts = NULL;
}

/* ---- the text listing --------------------------------------------------- */

void showq_text_init(struct showq_text *t)
{
    t->count = 0;
    t->bytes = 0;
}

/* recipient_line - an address in the last column. */
static void recipient_line(struct buf *out, const char *text)
{
    buf_printf(out, "%*s %*s %*s %s\n", COL_ID, "", COL_SIZE, "", COL_ARRIVAL, "", text);
}

void showq_text_message(struct showq_text *t, const struct showq_msg *m, struct buf *out)
{
    struct buf id = BUF_INIT, when = BUF_INIT, addr = BUF_INIT, shown = BUF_INIT;
    const char *last_reason = "";

    if (t->count == 0)
        buf_printf(out, "%-*s %*s %-*s %s\n", COL_ID, "----Queue ID-----", COL_SIZE, "--Size--",
                   COL_ARRIVAL, "---Arrival Time----", "--Sender/Recipient------");
    else
        buf_putc(out, '\n');

    showq_printable(&id, m->queue_id);
    if (strcmp(m->queue_name, "active") == 0)
        buf_putc(&id, '*');
    else if (strcmp(m->queue_name, "hold") == 0)
        buf_putc(&id, '!');
    showq_arrival(&when, m->arrival);
    showq_external(&addr, m->sender);
    showq_printable(&shown, addr.data);
    buf_printf(out, "%-*s %*" PRId64 " %*s %s\n", COL_ID, id.data, COL_SIZE, m->size, COL_ARRIVAL,
               when.data, shown.data);

    for (size_t i = 0; i < m->rcpt_count; i++) {
        const char *reason = m->rcpts[i].reason;
        /* A reason line only where it changes, as Postfix: "reason
         * unavailable" when a recipient without one follows one with. */
        if (strcmp(reason, last_reason) != 0) {
            buf_reset(&shown);
            showq_printable(&shown, *reason ? reason : "reason unavailable");
            int pad = REASON_COL - (int)(shown.len > REASON_COL ? REASON_COL : shown.len);
            buf_printf(out, "%*s(%s)\n", pad, "", shown.data);
            last_reason = reason;
        }
        buf_reset(&addr);
        buf_reset(&shown);
        showq_external(&addr, m->rcpts[i].address);
        showq_printable(&shown, addr.data);
        recipient_line(out, shown.data);
    }
    if (m->rcpt_omitted > 0) {
        buf_reset(&shown);
        buf_printf(&shown, "(%zu more recipient%s not listed)", m->rcpt_omitted,
                   m->rcpt_omitted == 1 ? "" : "s");
        recipient_line(out, shown.data);
    }
    t->count++;
    if (m->size > 0)
        t->bytes += (uint64_t)m->size;
    buf_free(&id);
    buf_free(&when);
    buf_free(&addr);
    buf_free(&shown);
}

void showq_text_end(const struct showq_text *t, struct buf *out)
{
    if (t->count == 0)
        buf_puts(out, "Mail queue is empty\n");
    else
        /* Postfix truncates: 1023 bytes are "0 Kbytes". */
        buf_printf(out, "\n-- %" PRIu64 " Kbytes in %lu Request%s.\n", t->bytes / 1024, t->count,
                   t->count == 1 ? "" : "s");
}

/* ---- JSON lines ------------------------------------------------------------ */

void showq_json_message(const struct showq_msg *m, struct buf *out)
{
    struct buf addr = BUF_INIT;

    buf_puts(out, "{\"queue_name\": ");
    showq_json_string(out, m->queue_name);
    buf_puts(out, ", \"queue_id\": ");
    showq_json_string(out, m->queue_id);
    /* force_expired: Postfix's field; Postern has no forced expiry. */
    buf_printf(out,
               ", \"arrival_time\": %" PRId64 ", \"message_size\": %" PRId64
               ", \"force_expired\": false, \"sender\": ",
               m->arrival, m->size);
    showq_external(&addr, m->sender);
    showq_json_string(out, addr.data);
    buf_puts(out, ", \"recipients\": [");
    for (size_t i = 0; i < m->rcpt_count; i++) {
        if (i > 0)
            buf_puts(out, ", ");
        buf_reset(&addr);
        showq_external(&addr, m->rcpts[i].address);
        buf_puts(out, "{\"address\": ");
        showq_json_string(out, addr.data);
        if (*m->rcpts[i].reason) {
            buf_puts(out, ", \"delay_reason\": ");
            showq_json_string(out, m->rcpts[i].reason);
        }
        buf_putc(out, '}');
    }
    buf_putc(out, ']');
    if (m->rcpt_omitted > 0)
        buf_printf(out, ", \"recipients_omitted\": %zu", m->rcpt_omitted);
    buf_puts(out, "}\n");
    buf_free(&addr);
}
