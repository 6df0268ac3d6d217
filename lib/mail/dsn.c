/* dsn - compose the RFC 3464 non-delivery notice (see dsn.h). */
#include "mail/dsn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/header.h"
#include "util/alloc.h"

#define BOUNDARY_MAX 70 /* RFC 2046 5.1.1: bchars, at most 70 */
#define SUFFIX_ROOM  12 /* ".N" for the collision counter */

int dsn_status_valid(const char *s)
{
    /* RFC 3463 2 / RFC 3464 2.3.4: class "." subject "." detail, the
     * numbers 1 to 3 digits without leading zeros. */
    if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    const char *p = s + 2;
    for (int field = 0; field < 2; field++) {
        size_t n = 0;
        while (isdigit((unsigned char)p[n]))
            n++;
        if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
            return 0;
        p += n;
        if (field == 0) {
            if (*p != '.')
                return 0;
            p++;
        }
    }
    return *p == '\0';
}

/* put_date - RFC 5322 3.3 date-time of t appended (header_date_format
 * replaces its buffer's contents). */
static void put_date(struct buf *out, time_t t)
{
    struct buf date = BUF_INIT;
    header_date_format(&date, t);
    buf_append(out, date.data, date.len);
    buf_free(&date);
}

static int is_wsp(int c)
{
    return c == ' ' || c == '\t';
}

/* put_line - one line and its LF, folded so that no output line is longer
 * than DSN_LINE_MAX: before white space where there is some (RFC 5322
 * 2.2.3 folding), else cut, the rest continued after one space. A line
 * that needs folding loses its trailing white space, and a run of white
 * space longer than a line shrinks to one byte, so no output line is
 * white space only (some readers would see the end of a header there). */
static void put_line(struct buf *out, const char *p, size_t n)
{
    int lead = 0; /* continue after a cut with one space */

    if (n > DSN_LINE_MAX)
        while (n > 0 && is_wsp(p[n - 1]))
            n--;
    while (lead + n > DSN_LINE_MAX) {
        size_t room = DSN_LINE_MAX - (size_t)lead;
        size_t f = 0;
        while (f < n && is_wsp(p[f]))
            f++;
        if (f >= room) {
            p += f - 1;
            n -= f - 1;
            continue;
        }
        size_t cut = 0;
        for (size_t i = room; i > f; i--) {
            if (is_wsp(p[i])) {
                cut = i;
                break;
            }
        }
        if (lead)
            buf_putc(out, ' ');
        if (cut) {
            buf_append(out, p, cut);
            lead = 0;
        } else {
            cut = room;
            buf_append(out, p, cut);
            lead = 1;
        }
        buf_putc(out, '\n');
        p += cut;
        n -= cut;
    }
    if (lead)
        buf_putc(out, ' ');
    buf_append(out, p, n);
    buf_putc(out, '\n');
}

/* put_clean - s cut at max bytes, each byte that is not printable US-ASCII
 * as '?' (a tab as a space), so generated text is 7bit (RFC 2045 2.7). */
static void put_clean(struct buf *out, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max)
        n = max;
    buf_reserve(out, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf_putc(out, c == '\t' ? ' ' : (c >= 0x20 && c < 0x7f) ? c : '?');
    }
}

/* put_addr - an address in external form (RFC 5322 3.4.1 quoting),
 * cleaned; the internal form when it cannot be quoted. */
static void put_addr(struct buf *out, const char *addr)
{
    struct buf ext = BUF_INIT, why = BUF_INIT;
    if (addr == NULL)
        addr = "";
    if (strlen(addr) <= DSN_ADDR_MAX && addr_quote_local(addr, &ext, &why) == 0)
        put_clean(out, ext.data, DSN_ADDR_MAX + 2);
    else
        put_clean(out, addr, DSN_ADDR_MAX);
    buf_free(&ext);
    buf_free(&why);
}

/* end_line - fold and move the line collected in line to out. */
static void end_line(struct buf *out, struct buf *line)
{
    put_line(out, line->data ? line->data : "", line->len);
    buf_reset(line);
}

static void text_part(const struct dsn_notice *n, struct buf *out)
{
    struct buf line = BUF_INIT;

    buf_puts(&line, "This is the mail system at host ");
    put_clean(&line, n->myhostname, 255);
    buf_putc(&line, '.');
    end_line(out, &line);
    buf_putc(out, '\n');
    if (n->postmaster_copy) {
        buf_puts(out, "A message without a return address (itself a delivery notice)\n"
                      "could not be delivered to the recipients below. There is no\n"
                      "sender to return it to, so this copy goes to the postmaster.\n");
    } else {
        buf_puts(out, "Your message could not be delivered to one or more recipients.\n"
                      "The reasons are listed below, followed by a delivery report\n"
                      "and the header of your message.\n"
                      "\n"
                      "For help, write to postmaster and include this notice.\n");
    }
    buf_puts(out, "\n                   The mail system\n\n");
    for (size_t i = 0; i < n->rcpt_count; i++) {
        const struct dsn_rcpt *r = &n->rcpts[i];
        buf_putc(&line, '<');
        put_addr(&line, r->address);
        buf_putc(&line, '>');
        if (r->orcpt && r->orcpt[0] && strcmp(r->orcpt, r->address ? r->address : "") != 0) {
            buf_puts(&line, " (expanded from <");
            put_addr(&line, r->orcpt);
            buf_puts(&line, ">)");
        }
        buf_puts(&line, ": ");
        put_clean(&line, r->reason && r->reason[0] ? r->reason : "delivery failed", DSN_REASON_MAX);
        end_line(out, &line);
    }
    if (n->rcpt_omitted)
        buf_printf(out, "\n(%zu more recipients are not listed)\n", n->rcpt_omitted);
    buf_free(&line);
}

/* orcpt_type_given - 1 when an original recipient already carries its
 * RFC 3464 2.3.1 address-type ("rfc822;addr", as from DSN ORCPT). */
static int orcpt_type_given(const char *s)
{
    const char *semi = strchr(s, ';');
    if (semi == NULL || semi == s)
        return 0;
    for (const char *p = s; p < semi; p++)
        if (!isalnum((unsigned char)*p) && *p != '-')
            return 0;
    return 1;
}

static void report_part(const struct dsn_notice *n, struct buf *out)
{
    struct buf line = BUF_INIT;

    /* RFC 3464 2.2: per-message fields */
    buf_puts(&line, "Reporting-MTA: dns; ");
    put_clean(&line, n->myhostname, 255);
    end_line(out, &line);
    buf_puts(&line, "X-Postfix-Queue-ID: ");
    put_clean(&line, n->queue_id, 64);
    end_line(out, &line);
    if (n->sender && n->sender[0]) {
        buf_puts(&line, "X-Postfix-Sender: rfc822; ");
        put_addr(&line, n->sender);
        end_line(out, &line);
    }
    if (n->arrival > 0) {
        buf_puts(&line, "Arrival-Date: ");
        put_date(&line, n->arrival); /* 2.2.5: numeric zone */
        end_line(out, &line);
    }
    /* RFC 3464 2.3: each recipient's group is preceded by a blank line */
    for (size_t i = 0; i < n->rcpt_count; i++) {
        const struct dsn_rcpt *r = &n->rcpts[i];
        buf_putc(out, '\n');
        if (r->orcpt && r->orcpt[0]) {
            buf_puts(&line, "Original-Recipient: ");
            if (orcpt_type_given(r->orcpt)) {
                put_clean(&line, r->orcpt, DSN_ADDR_MAX);
            } else {
                buf_puts(&line, "rfc822; ");
                put_addr(&line, r->orcpt);
            }
            end_line(out, &line);
        }
        buf_puts(&line, "Final-Recipient: rfc822; ");
        put_addr(&line, r->address);
        end_line(out, &line);
        buf_puts(out, "Action: failed\n");
        buf_printf(out, "Status: %s\n", dsn_status_valid(r->status) ? r->status : "5.0.0");
        if (r->reason && r->reason[0]) {
            /* 2.3.6: no Remote-MTA, so the code is the reporting MTA's */
            buf_puts(&line, "Diagnostic-Code: X-Postfix; ");
            put_clean(&line, r->reason, DSN_REASON_MAX);
            end_line(out, &line);
        }
    }
    buf_free(&line);
}

/* header_part - the whole lines of the original header that fit into
 * header_limit bytes, up to its first empty line. Returns 1 when a byte
 * outside US-ASCII was kept (the part is then 8bit). */
static int header_part(const struct dsn_notice *n, struct buf *out)
{
    const char *p = n->header;
    size_t left = n->header_len, used = 0;
    struct buf line = BUF_INIT;
    int eightbit = 0;

    while (left > 0) {
        const char *nl = memchr(p, '\n', left);
        size_t len = nl ? (size_t)(nl - p) : left;
        size_t take = nl ? len + 1 : len;
        if (take > n->header_limit - used)
            break;
        used += take;
        size_t text = len;
        if (text > 0 && p[text - 1] == '\r')
            text--;
        if (text == 0)
            break; /* RFC 5322 2.1: the empty line ends the header */
        buf_reset(&line);
        for (size_t i = 0; i < text; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c >= 0x80)
                eightbit = 1;
            /* no NUL, bare CR or other control byte gets into the notice */
            buf_putc(&line, (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : c);
        }
        put_line(out, line.data, line.len);
        p += take;
        left -= take;
    }
    buf_free(&line);
    return eightbit;
}

/* boundary_base - "QUEUEID.NOW/HOSTNAME" in bchars (RFC 2046 5.1.1). */
static void boundary_base(const struct dsn_notice *n, struct buf *out)
{
    buf_reset(out);
    put_clean(out, n->queue_id, 32);
    buf_printf(out, ".%lld/", (long long)n->now);
    for (const char *h = n->myhostname ? n->myhostname : ""; *h; h++)
        buf_putc(out, isalnum((unsigned char)*h) || *h == '.' || *h == '-' ? *h : '-');
    buf_truncate(out, BOUNDARY_MAX - SUFFIX_ROOM);
    for (size_t i = 0; i < out->len; i++)
        if (!isalnum((unsigned char)out->data[i]) && !strchr("./-_", out->data[i]))
            out->data[i] = '-';
}

/* occurs_at - whether b occurs in any of the parts at one of the places
 * where its prefix base was found. */
struct hit {
    const struct buf *part;
    size_t pos;
};

static int occurs_at(const struct hit *hits, size_t nhits, const struct buf *b)
{
    for (size_t i = 0; i < nhits; i++) {
        const struct buf *part = hits[i].part;
        if (part->len - hits[i].pos >= b->len &&
            memcmp(part->data + hits[i].pos, b->data, b->len) == 0)
            return 1;
    }
    return 0;
}

/* choose_boundary - the base, or base.N for the smallest N that occurs in
 * no part. Every occurrence of base.N is an occurrence of base, and k
 * occurrences can rule out at most k values of N, so at most k+1 tries,
 * each over the k places: bounded whatever the parts hold. */
static void choose_boundary(const struct dsn_notice *n, const struct buf *parts, size_t nparts,
                            struct buf *b)
{
    struct hit *hits = NULL;
    size_t nhits = 0, cap = 0;
    struct buf base = BUF_INIT;

    boundary_base(n, &base);
    for (size_t k = 0; k < nparts; k++) {
        const char *p = parts[k].data;
        size_t left = parts[k].len;
        const char *hit;
        while (p && left >= base.len && (hit = memmem(p, left, base.data, base.len)) != NULL) {
            if (nhits == cap) {
                cap = cap ? 2 * cap : 8;
                hits = xreallocarray(hits, cap, sizeof(*hits));
            }
            hits[nhits].part = &parts[k];
            hits[nhits].pos = (size_t)(hit - parts[k].data);
            nhits++;
            left -= (size_t)(hit - p) + 1;
            p = hit + 1;
        }
    }
    buf_set(b, base.data);
    for (size_t i = 0; nhits && occurs_at(hits, nhits, b); i++) {
        buf_set(b, base.data);
        buf_printf(b, ".%zu", i);
    }
    free(hits);
    buf_free(&base);
}

int dsn_compose(const struct dsn_notice *n, struct buf *out, struct buf *why)
{
    struct buf parts[3] = {BUF_INIT, BUF_INIT, BUF_INIT};
    struct buf msgid = BUF_INIT, boundary = BUF_INIT, line = BUF_INIT;
    size_t nparts = n->header ? 3 : 2;
    int eightbit = 0;

    if (message_id_format(&msgid, n->now, n->notice_id, n->myhostname, why) < 0) {
        buf_free(&msgid);
        return -1;
    }
    text_part(n, &parts[0]);
    report_part(n, &parts[1]);
    if (n->header)
        eightbit = header_part(n, &parts[2]);
    choose_boundary(n, parts, nparts, &boundary);

    buf_reset(out);
    buf_puts(&line, "From: MAILER-DAEMON@");
    put_clean(&line, n->myhostname, 255);
    buf_puts(&line, " (Mail Delivery System)");
    end_line(out, &line);
    /* RFC 3464 2: addressed to the return address, in the header too */
    buf_puts(&line, "To: ");
    put_addr(&line, n->to);
    if (line.len > DSN_LINE_MAX) /* an address cannot be folded: leave it out */
        buf_set(&line, "To: undisclosed-recipients:;");
    end_line(out, &line);
    buf_printf(out, "Subject: %s\n",
               n->postmaster_copy ? "Postmaster Copy: Undelivered Mail"
                                  : "Undelivered Mail Returned to Sender");
    buf_puts(out, "Date: ");
    put_date(out, n->now);
    buf_printf(out, "\nMessage-Id: %s\n", msgid.data);
    buf_puts(out, "Auto-Submitted: auto-replied\n"); /* RFC 3834 5 */
    buf_puts(out, "MIME-Version: 1.0\n");
    /* RFC 6522 3 / RFC 3464 2 (a): report-type delivery-status */
    buf_printf(out,
               "Content-Type: multipart/report; report-type=delivery-status;\n"
               "\tboundary=\"%s\"\n",
               boundary.data);
    if (eightbit) /* RFC 2046 5.1: a multipart holding 8bit is 8bit */
        buf_puts(out, "Content-Transfer-Encoding: 8bit\n");
    buf_puts(out, "\nThis is a MIME-encapsulated message.\n\n");

    static const char *const part_head[] = {
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n",
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n",
        "Content-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n",
    };
    for (size_t k = 0; k < nparts; k++) {
        buf_printf(out, "--%s\n%s", boundary.data, part_head[k]);
        if (k == 2 && eightbit)
            buf_puts(out, "Content-Transfer-Encoding: 8bit\n");
        buf_putc(out, '\n');
        buf_append(out, parts[k].data ? parts[k].data : "", parts[k].len);
        /* RFC 2046 5.1.1: the LF before a delimiter belongs to it */
        buf_putc(out, '\n');
    }
    buf_printf(out, "--%s--\n", boundary.data);

    for (size_t k = 0; k < 3; k++)
        buf_free(&parts[k]);
    buf_free(&msgid);
    buf_free(&boundary);
    buf_free(&line);
    return 0;
}
