/* cleanup_msg - cleanup(8)'s message processing, pure: records in, the
 * canonical envelope and content out (see cleanup_msg.h). Follows Postfix
 * cleanup: recipients extracted from Resent- headers when a Resent- block is
 * present, Bcc removed when extracting, missing From/Date/Message-ID added
 * to locally submitted mail, our own Received header prepended, Received
 * headers counted against hopcount_limit, envelope and header addresses
 * rewritten through cleanup_rewrite.
 */
#include "mail/cleanup_msg.h"
#include "mail/addr.h"
#include "mail/header.h"
#include "mail/mail_proto.h"
#include "mail/queue_file.h"
#include "mail/smtp_cmd.h"
#include "util/alloc.h"
#include "util/msg.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(struct cleanup_msg *m, int status, const char *reason)
{
    if (m->status == 0) {
        m->status = status;
        buf_set(&m->reason, reason);
    }
    return m->status;
}

/* fail_rewrite - a rewriting step failed: log as Postfix does and refuse
 * the message with a temporary error, so the client tries again later. */
static int fail_rewrite(struct cleanup_msg *m, int rc, const char *why)
{
    if (m->status)
        return m->status;
    const char *detail = cleanup_rewrite_last_error(m->conf.rw);
    if (rc == CLEANUP_RW_TEMP && *detail)
        msg_warn("%s: %s", m->queue_id, detail);
    msg_warn("%s: %s -- message not accepted, try again later", m->queue_id, why);
    if (rc == CLEANUP_RW_LIMIT)
        return fail(m, CLEANUP_STAT_DEFER, "4.6.0 Alias expansion error");
    return fail(m, CLEANUP_STAT_DEFER, "4.3.0 address lookup problem -- try again later");
}

void cleanup_msg_init(struct cleanup_msg *m, const struct cleanup_msg_conf *conf, int flags,
                      const char *queue_id, time_t now)
{
    memset(m, 0, sizeof(*m));
    m->hdr_rewrite = -1;
    m->conf = *conf;
    m->flags = flags;
    m->queue_id = xstrdup(queue_id);
    m->now = now;
    m->attrs = argv_alloc();
    m->rcpts = argv_alloc();
    m->orcpts = argv_alloc();
    m->hdr_rcpts = argv_alloc();
    m->resent_rcpts = argv_alloc();
    struct header_limits lim = {0};
    lim.max_header_bytes = conf->header_size_limit;
    lim.max_headers = conf->header_count_limit;
    m->hr = header_reader_create(&lim);
}

void cleanup_msg_free(struct cleanup_msg *m)
{
    buf_free(&m->reason);
    buf_free(&m->sender);
    buf_free(&m->content);
    buf_free(&m->message_id);
    buf_free(&m->line);
    buf_free(&m->headers);
    buf_free(&m->orcpt);
    buf_free(&m->hdr_out);
    argv_free(m->attrs);
    argv_free(m->rcpts);
    argv_free(m->orcpts);
    free(m->notify);
    argv_free(m->hdr_rcpts);
    argv_free(m->resent_rcpts);
    header_reader_free(m->hr);
    free(m->queue_id);
    memset(m, 0, sizeof(*m));
}

int cleanup_msg_attr_known(const char *name, size_t len)
{
    static const char *const known[] = {
        "uid",       "sender_fullname", "extract_recipients", "dsn_notify",
        "dsn_ret",   "dsn_envid",       "client_name",        "client_address",
        "helo_name", "protocol_name",   "rewrite_context",    NULL,
    };
    for (size_t i = 0; known[i]; i++)
        if (strlen(known[i]) == len && memcmp(known[i], name, len) == 0)
            return 1;
    return 0;
}

/* Same address: local part exact, domain ASCII case-insensitive (RFC 5321
 * 2.4: only the local part may be case-sensitive). */
static int same_addr(const char *a, const char *b)
{
    const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');
    if (!at_a || !at_b)
        return !at_a && !at_b && strcmp(a, b) == 0;
    size_t la = (size_t)(at_a - a), lb = (size_t)(at_b - b);
    return la == lb && memcmp(a, b, la) == 0 && strcasecmp(at_a, at_b) == 0;
}

int cleanup_msg_notify_words(const char *s, size_t n, int *bits)
{
    static const struct {
        const char *word;
        int bit;
    } words[] = {{"SUCCESS", SMTP_NOTIFY_SUCCESS},
                 {"FAILURE", SMTP_NOTIFY_FAILURE},
                 {"DELAY", SMTP_NOTIFY_DELAY}};
    int v = 0;

    if (n == 5 && strncasecmp(s, "NEVER", 5) == 0) {
        *bits = SMTP_NOTIFY_NEVER;
        return 0;
    }
    for (;;) {
        const char *comma = memchr(s, ',', n);
        size_t wl = comma ? (size_t)(comma - s) : n;
        size_t i;
        for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (wl == strlen(words[i].word) && strncasecmp(s, words[i].word, wl) == 0)
                break;
        if (i == sizeof(words) / sizeof(words[0]) || (v & words[i].bit))
            return -1;
        v |= words[i].bit;
        if (comma == NULL)
            break;
        s = comma + 1;
        n -= wl + 1;
    }
    *bits = v;
    return 0;
}

int cleanup_msg_add_rcpt(struct cleanup_msg *m, const char *rcpt, const char *orcpt, int notify)
{
    struct buf q = BUF_INIT;
    addr_qualify(rcpt, m->conf.myorigin, &q);
    for (size_t i = 0; i < m->rcpts->argc; i++) {
        if (same_addr(m->rcpts->argv[i], q.data)) {
            buf_free(&q);
            return 0;
        }
    }
    if (m->rcpts->argc == m->notify_cap) {
        m->notify_cap = m->notify_cap ? 2 * m->notify_cap : 8;
        m->notify = xreallocarray(m->notify, m->notify_cap, sizeof(*m->notify));
    }
    m->notify[m->rcpts->argc] = notify;
    argv_add(m->rcpts, q.data);
    argv_add(m->orcpts, orcpt ? orcpt : "");
    buf_free(&q);
    return 1;
}

static const char *attr_value(const struct cleanup_msg *m, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < m->attrs->argc; i++)
        if (strncmp(m->attrs->argv[i], name, n) == 0 && m->attrs->argv[i][n] == '=')
            return m->attrs->argv[i] + n + 1;
    return NULL;
}

/* set_sender - qualify, then sender_canonical_maps, canonical_maps and
 * masquerading (the null sender stays null). */
static int set_sender(struct cleanup_msg *m, const char *sender)
{
    addr_qualify(sender, m->conf.myorigin, &m->sender);
    if (m->conf.rw == NULL || m->sender.len == 0)
        return 0;
    struct buf out = BUF_INIT, why = BUF_INIT;
    int rc = cleanup_rewrite_sender(m->conf.rw, m->queue_id, m->sender.data, CLEANUP_RW_ENV_SENDER,
                                    &out, &why);
    if (rc == CLEANUP_RW_OK)
        addr_qualify(out.data, m->conf.myorigin, &m->sender); /* a result may lack a domain */
    else
        fail_rewrite(m, rc, why.data);
    buf_free(&out);
    buf_free(&why);
    return m->status;
}

/* add_envelope_rcpt - qualify, rewrite (canonical, masquerading, virtual
 * aliases) and add each resulting recipient. A recipient that changed
 * keeps the address it arrived with as its original recipient (unless the
 * client gave one), as Postfix records it, and the NOTIFY it arrived
 * with. */
static int add_envelope_rcpt(struct cleanup_msg *m, const char *rcpt, const char *orcpt, int notify)
{
    if (m->conf.rw == NULL) {
        (void)cleanup_msg_add_rcpt(m, rcpt, orcpt, notify);
        return 0;
    }
    struct buf q = BUF_INIT, why = BUF_INIT, fin = BUF_INIT;
    struct argv *out = argv_alloc();
    addr_qualify(rcpt, m->conf.myorigin, &q);
    int rc = cleanup_rewrite_envelope_recipient(m->conf.rw, m->queue_id, q.data, out, &why);
    if (rc != CLEANUP_RW_OK) {
        fail_rewrite(m, rc, why.data);
    } else {
        for (size_t i = 0; i < out->argc; i++) {
            addr_qualify(out->argv[i], m->conf.myorigin, &fin);
            const char *o = orcpt ? orcpt : strcmp(fin.data, q.data) != 0 ? q.data : NULL;
            (void)cleanup_msg_add_rcpt(m, fin.data, o, notify);
        }
    }
    argv_free(out);
    buf_free(&q);
    buf_free(&why);
    buf_free(&fin);
    return m->status;
}

static int envelope_record(struct cleanup_msg *m, int type, const char *data, size_t len)
{
    /* Envelope records are text: a NUL, CR or LF would end up in the queue
     * file or in a header (DESIGN.md invariant 2). */
    for (size_t i = 0; i < len; i++)
        if (data[i] == '\0' || data[i] == '\r' || data[i] == '\n')
            return fail(m, CLEANUP_STAT_BAD, "5.3.0 bad envelope record: control character");
    if (m->in_body || m->line.len || header_reader_count(m->hr))
        return fail(m, CLEANUP_STAT_BAD, "5.3.0 envelope record after message content");

    switch (type) {
    case QF_TIME:
    case QF_SIZE:
        return 0; /* cleanup sets these itself */
    case QF_SENDER:
        if (m->have_sender)
            return fail(m, CLEANUP_STAT_BAD, "5.3.0 duplicate sender record");
        if (len > ADDR_MAX_BYTES)
            return fail(m, CLEANUP_STAT_BAD, "5.1.7 sender address too long");
        m->have_sender = 1;
        return set_sender(m, data);
    case QF_ORCPT:
        if (m->have_orcpt || m->pending_notify)
            return fail(m, CLEANUP_STAT_BAD, "5.3.0 original recipient without recipient");
        if (len > ADDR_MAX_BYTES)
            return fail(m, CLEANUP_STAT_BAD, "5.1.3 original recipient too long");
        buf_set(&m->orcpt, data);
        m->have_orcpt = 1;
        return 0;
    case QF_NOTIFY: {
        int v;
        /* RFC 3461 4.1: NEVER stands alone */
        if (m->pending_notify || qf_notify_parse(data, len, &v) < 0 ||
            ((v & SMTP_NOTIFY_NEVER) && v != SMTP_NOTIFY_NEVER))
            return fail(m, CLEANUP_STAT_BAD, "5.3.0 bad notify record");
        m->pending_notify = v;
        return 0;
    }
    case QF_RCPT: {
        if (len == 0)
            return fail(m, CLEANUP_STAT_BAD, "5.1.3 empty recipient address");
        if (len > ADDR_MAX_BYTES)
            return fail(m, CLEANUP_STAT_BAD, "5.1.3 recipient address too long");
        int had_orcpt = m->have_orcpt, notify = m->pending_notify;
        m->have_orcpt = 0;
        m->pending_notify = 0;
        return add_envelope_rcpt(m, data, had_orcpt ? m->orcpt.data : NULL, notify);
    }
    case QF_ATTR: {
        const char *eq = memchr(data, '=', len);
        if (eq == NULL || eq == data)
            return fail(m, CLEANUP_STAT_BAD, "5.3.0 malformed attribute record");
        /* sendmail -N: the NOTIFY of every recipient that has none; it
         * travels as QF_NOTIFY records from here on. */
        if ((size_t)(eq - data) == strlen("dsn_notify") &&
            memcmp(data, "dsn_notify", (size_t)(eq - data)) == 0) {
            int v;
            if (m->default_notify ||
                cleanup_msg_notify_words(eq + 1, len - (size_t)(eq - data) - 1, &v) < 0)
                return fail(m, CLEANUP_STAT_BAD, "5.3.0 bad dsn_notify attribute");
            m->default_notify = v;
            return 0;
        }
        if (!cleanup_msg_attr_known(data, (size_t)(eq - data))) {
            msg_warn("%s: ignoring unknown attribute %.*s", m->queue_id,
                     (int)((eq - data) > 64 ? 64 : (eq - data)), data);
            return 0;
        }
        for (size_t i = 0; i < m->attrs->argc; i++)
            if (strncmp(m->attrs->argv[i], data, (size_t)(eq - data) + 1) == 0)
                return fail(m, CLEANUP_STAT_BAD, "5.3.0 duplicate attribute record");
        argv_addn(m->attrs, data, len);
        return 0;
    }
    default:
        return fail(m, CLEANUP_STAT_BAD, "5.3.0 unexpected record type");
    }
}

/* Recipients of one To/Cc/Bcc (or Resent-) header, for sendmail -t. */
static void extract(struct cleanup_msg *m, const struct header *h, int resent)
{
    struct argv *out = resent ? m->resent_rcpts : m->hdr_rcpts;
    struct buf why = BUF_INIT;
    if (addr_list_parse(h->value.data, h->value.len, out, &why) < 0)
        msg_warn("%s: ignoring unparsable %s header: %s", m->queue_id, h->name.data, why.data);
    buf_free(&why);
}

/* rewrite_header - the addresses of a sender or recipient header (class
 * cls), when this client's headers get rewritten. 0 with *raw pointing at
 * the text to keep (the original or the rewritten header), or the status. */
static int rewrite_header(struct cleanup_msg *m, const struct header *h, int cls,
                          const struct buf **raw)
{
    struct buf why = BUF_INIT, body = BUF_INIT;
    int rc;

    *raw = &h->raw;
    if (m->hdr_rewrite < 0) {
        /* Decided at the first header: attributes come before content. */
        int local = cleanup_rewrite_local_client(m->conf.rw, attr_value(m, "client_address"), &why);
        if (local < 0) {
            rc = fail_rewrite(m, local, why.data);
            buf_free(&why);
            return rc;
        }
        m->hdr_domain = cleanup_rewrite_header_domain(m->conf.rw, local);
        m->hdr_rewrite = local || m->hdr_domain != NULL;
    }
    const char *colon = memchr(h->raw.data, ':', h->raw.len);
    if (!m->hdr_rewrite || colon == NULL)
        return 0;
    size_t head = (size_t)(colon - h->raw.data) + 1;
    rc = cleanup_rewrite_header(m->conf.rw, m->queue_id, cls, m->hdr_domain, colon + 1,
                                h->raw.len - head, &body, &why);
    if (rc < 0) {
        rc = fail_rewrite(m, rc, why.data);
    } else {
        if (rc > 0) {
            buf_reset(&m->hdr_out);
            buf_append(&m->hdr_out, h->raw.data, head);
            buf_append(&m->hdr_out, body.data, body.len);
            *raw = &m->hdr_out;
        }
        rc = 0;
    }
    buf_free(&why);
    buf_free(&body);
    return rc;
}

static int header_done(struct cleanup_msg *m, const struct header *h)
{
    if (buf_has_nul(&h->raw))
        return fail(m, CLEANUP_STAT_BAD, "5.6.0 NUL character in message header");
    const struct header_info *info = header_lookup(h->name.data);
    enum header_id id = info ? info->id : HDR_OTHER;
    int drop = 0;
    if (info && (info->flags & HDR_FL_RESENT))
        m->seen_resent = 1;
    switch (id) {
    case HDR_RECEIVED:
        if (m->conf.hopcount_limit && ++m->hops > m->conf.hopcount_limit)
            return fail(m, CLEANUP_STAT_HOPS, "5.4.6 too many hops");
        break;
    case HDR_FROM:
        m->seen_from = 1;
        break;
    case HDR_DATE:
        m->seen_date = 1;
        break;
    case HDR_MESSAGE_ID:
        m->seen_msgid = 1;
        if (m->message_id.len == 0)
            buf_set(&m->message_id, h->value.data);
        break;
    default:
        break;
    }
    if ((m->flags & CLEANUP_FLAG_EXTRACT_RCPT) && info && (info->flags & HDR_FL_RECIPIENT)) {
        extract(m, h, (info->flags & HDR_FL_RESENT) != 0);
        /* Bcc recipients must not learn of each other (RFC 5322 3.6.3). */
        drop = id == HDR_BCC || id == HDR_RESENT_BCC;
    }
    if (!drop) {
        const struct buf *raw = &h->raw;
        int cls = m->conf.rw ? cleanup_rewrite_header_class(h->name.data) : 0;
        if (cls && rewrite_header(m, h, cls, &raw))
            return m->status;
        buf_append(&m->headers, raw->data, raw->len);
        buf_putc(&m->headers, '\n');
    }
    return m->status;
}

static int header_status(struct cleanup_msg *m, enum header_status st)
{
    switch (st) {
    case HEADER_ERR_TOTAL_SIZE:
    case HEADER_ERR_HEADER_SIZE:
    case HEADER_ERR_LINE_LENGTH:
        return fail(m, CLEANUP_STAT_HDR, "5.3.4 message header size exceeds limit");
    case HEADER_ERR_COUNT:
        return fail(m, CLEANUP_STAT_HDR, "5.3.4 too many message headers");
    default:
        return 0;
    }
}

/* One complete header-section line (with its LF unless at the end). */
static int header_line(struct cleanup_msg *m, const char *p, size_t n)
{
    if (memchr(p, '\0', n))
        return fail(m, CLEANUP_STAT_BAD, "5.6.0 NUL character in message header");
    const struct header *h = NULL;
    enum header_status st = header_reader_feed(m->hr, p, n, &h);
    if (h && header_done(m, h))
        return m->status;
    if (header_status(m, st))
        return m->status;
    if (st == HEADER_END_EMPTY) {
        m->in_body = 1;
    } else if (st == HEADER_END_BODY) {
        /* The line is the first body line; the separator is supplied so the
         * message stays well-formed (RFC 5322 2.1). */
        m->in_body = 1;
        buf_append(&m->content, p, n);
    }
    return 0;
}

static int content_record(struct cleanup_msg *m, const char *p, size_t n)
{
    size_t total;
    if (!size_add_ok(m->size, n, &total) ||
        (m->conf.message_size_limit && total > m->conf.message_size_limit))
        return fail(m, CLEANUP_STAT_SIZE, "5.3.4 message file too big");
    m->size = total;
    while (n > 0 && !m->in_body) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        /* A header line can never exceed header_size_limit, so a longer
         * partial line is an error now, before it is buffered. */
        if (m->conf.header_size_limit && m->line.len + take > m->conf.header_size_limit + 1)
            return fail(m, CLEANUP_STAT_HDR, "5.3.4 message header size exceeds limit");
        buf_append(&m->line, p, take);
        p += take;
        n -= take;
        if (!nl)
            return 0;
        int rc = header_line(m, m->line.data, m->line.len);
        buf_reset(&m->line);
        if (rc)
            return rc;
    }
    /* RFC 5322 2.3 and 5321 4.5.2 leave no room for NUL in a message, and
     * mailbox readers truncate at it: refused like a NUL in the header, so
     * the sender learns why instead of a reader silently losing text. */
    if (n > 0 && memchr(p, '\0', n))
        return fail(m, CLEANUP_STAT_BAD, "5.6.0 NUL character in message body");
    if (n > 0)
        buf_append(&m->content, p, n);
    return 0;
}

int cleanup_msg_record(struct cleanup_msg *m, int type, const void *data, size_t len)
{
    if (m->status || m->ended)
        return m->status ? m->status : fail(m, CLEANUP_STAT_BAD, "5.3.0 record after end");
    if (type == QF_CONTENT)
        return content_record(m, data, len);
    /* text records arrive NUL-terminated from attr_read; copy to be sure */
    char *text = xmemdup(data, len);
    int rc = envelope_record(m, type, text, len);
    free(text);
    return rc;
}

/* The display name as a quoted-string when it is not plain atext and
 * spaces (RFC 5322 3.2.4 / 3.4). */
static void put_phrase(struct buf *out, const char *name)
{
    int plain = *name != '\0';
    for (const char *cp = name; *cp; cp++)
        if (!isalnum((unsigned char)*cp) && !strchr(" !#$%&'*+-/=?^_`{|}~", *cp))
            plain = 0;
    if (plain) {
        buf_puts(out, name);
        return;
    }
    buf_putc(out, '"');
    for (const char *cp = name; *cp; cp++) {
        if (*cp == '"' || *cp == '\\')
            buf_putc(out, '\\');
        buf_putc(out, *cp);
    }
    buf_putc(out, '"');
}

static void add_missing_headers(struct cleanup_msg *m, struct buf *out)
{
    struct buf why = BUF_INIT;
    if (!m->seen_from && m->sender.len > 0) {
        struct buf ext = BUF_INIT;
        if (addr_quote_local(m->sender.data, &ext, &why) == 0) {
            const char *full = attr_value(m, "sender_fullname");
            buf_puts(out, "From: ");
            if (full && *full) {
                put_phrase(out, full);
                buf_printf(out, " <%s>\n", ext.data);
            } else {
                buf_printf(out, "%s\n", ext.data);
            }
        }
        buf_free(&ext);
    }
    if (!m->seen_date) {
        struct buf d = BUF_INIT;
        header_date_format(&d, m->now);
        buf_printf(out, "Date: %s\n", d.data);
        buf_free(&d);
    }
    if (!m->seen_msgid) {
        struct buf id = BUF_INIT;
        if (message_id_format(&id, m->now, m->queue_id, m->conf.myhostname, &why) == 0) {
            buf_printf(out, "Message-Id: %s\n", id.data);
            buf_set(&m->message_id, id.data);
        } else {
            msg_warn("%s: no Message-Id added: %s", m->queue_id, why.data);
        }
        buf_free(&id);
    }
    buf_free(&why);
}

int cleanup_msg_end(struct cleanup_msg *m)
{
    if (m->status)
        return m->status;
    if (m->ended)
        return fail(m, CLEANUP_STAT_BAD, "5.3.0 duplicate end record");
    m->ended = 1;
    if (!m->have_sender)
        return fail(m, CLEANUP_STAT_BAD, "5.3.0 no sender record");
    if (m->have_orcpt || m->pending_notify)
        return fail(m, CLEANUP_STAT_BAD, "5.3.0 original recipient without recipient");
    if (!m->in_body) {
        if (m->line.len && header_line(m, m->line.data, m->line.len))
            return m->status;
        buf_reset(&m->line);
        if (!m->in_body) {
            const struct header *h = NULL;
            enum header_status st = header_reader_eof(m->hr, &h);
            if (h && header_done(m, h))
                return m->status;
            if (header_status(m, st))
                return m->status;
        }
    }

    if (m->flags & CLEANUP_FLAG_EXTRACT_RCPT) {
        /* RFC 5322 3.6.6 / Postfix: a Resent- block names the new recipients. */
        struct argv *src = m->seen_resent ? m->resent_rcpts : m->hdr_rcpts;
        for (size_t i = 0; i < src->argc; i++)
            if (src->argv[i][0] != '\0' && add_envelope_rcpt(m, src->argv[i], NULL, 0))
                return m->status;
    }
    if (m->rcpts->argc == 0)
        return fail(m, CLEANUP_STAT_RCPT, "5.1.3 no recipients specified");
    for (size_t i = 0; i < m->rcpts->argc; i++)
        if (m->notify[i] == 0)
            m->notify[i] = m->default_notify;
    if (m->conf.delay_warning_time > 0) {
        long long now = (long long)m->now;
        long long dwt = m->conf.delay_warning_time;
        m->warn_time = now > LLONG_MAX - dwt ? LLONG_MAX : now + dwt;
    }

    /* Assemble: our Received first, the kept headers, the added ones, the
     * separator, then the body as received. */
    struct buf body = m->content;
    buf_init(&m->content);
    if (m->flags & CLEANUP_FLAG_LOCAL_SUBMIT) {
        struct buf d = BUF_INIT;
        header_date_format(&d, m->now);
        const char *uid = attr_value(m, "uid");
        buf_printf(&m->content, "Received: by %s (Postern", m->conf.myhostname);
        if (uid)
            buf_printf(&m->content, ", from userid %s", uid);
        buf_printf(&m->content, ")\n\tid %s; %s\n", m->queue_id, d.data);
        buf_free(&d);
    }
    buf_append(&m->content, m->headers.data, m->headers.len);
    if (m->flags & CLEANUP_FLAG_LOCAL_SUBMIT)
        add_missing_headers(m, &m->content);
    if (m->in_body || body.len) {
        buf_putc(&m->content, '\n');
        buf_append(&m->content, body.data, body.len);
    }
    buf_free(&body);
    return 0;
}
