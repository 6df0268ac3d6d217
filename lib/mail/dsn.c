/* dsn - compose RFC 3464 delivery status notifications: non-delivery,
 * delay and success notices (see dsn.h). */
#include "mail/dsn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"
#include "mail/header.h"
#include "mail/smtp_cmd.h"
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

int dsn_notify_wants(enum dsn_kind kind, int notify)
{
    /* RFC 3461 4.1: NEVER excludes the others; without NOTIFY an MTA
     * reports failures and may report delays (5.2.1 b). */
    if (notify & SMTP_NOTIFY_NEVER)
        return 0;
    switch (kind) {
    case DSN_FAILURE:
        return notify == 0 || (notify & SMTP_NOTIFY_FAILURE);
    case DSN_DELAY:
        return notify == 0 || (notify & SMTP_NOTIFY_DELAY);
    case DSN_SUCCESS:
        return (notify & SMTP_NOTIFY_SUCCESS) != 0;
    }
    return 0;
}

/* rcpt_status - the Status of r: its code when valid and of the class the
 * kind allows (a failure may carry 4.x.x: mail that expired while
 * deferred), else the kind's generic code. */
static const char *rcpt_status(const struct dsn_notice *n, const struct dsn_rcpt *r)
{
    const char *s = r->status;
    int ok = dsn_status_valid(s);
    switch (n->kind) {
    case DSN_DELAY:
        return ok && s[0] == '4' ? s : "4.0.0";
    case DSN_SUCCESS:
        return ok && s[0] == '2' ? s : "2.0.0";
    case DSN_FAILURE:
        break;
    }
    return ok && s[0] != '2' ? s : "5.0.0";
}

/* rcpt_action - RFC 3464 2.3.3. */
static const char *rcpt_action(const struct dsn_notice *n, const struct dsn_rcpt *r)
{
    if (n->kind == DSN_FAILURE)
        return "failed";
    if (n->kind == DSN_DELAY)
        return "delayed";
    if (r->action && (strcmp(r->action, "relayed") == 0 || strcmp(r->action, "expanded") == 0))
        return r->action;
    return "delivered";
}

static int has_text(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* full_message_fits - whether the original can go back whole as
 * message/rfc822 (see dsn_compose); else *why_not says why not. */
static int full_message_fits(const struct dsn_notice *n, const char **why_not)
{
    *why_not = NULL;
    if (n->kind != DSN_FAILURE || n->ret != DSN_RETURN_FULL || n->message == NULL ||
        n->postmaster_copy)
        return 0;
    if (n->message_truncated || n->message_len > n->size_limit) {
        *why_not = "is larger than the limit for returned mail (bounce_size_limit)";
        return 0;
    }
    size_t run = 0;
    for (size_t i = 0; i < n->message_len; i++) {
        char c = n->message[i];
        if (c == '\n') {
            run = 0;
            continue;
        }
        if (c == '\0' || c == '\r' || ++run > DSN_LINE_MAX) {
            *why_not = "cannot be returned as it is (NUL or CR bytes, or overlong lines)";
            return 0;
        }
    }
    return 1;
}

static void text_part(const struct dsn_notice *n, const char *full_why_not, struct buf *out)
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
    } else if (n->kind == DSN_FAILURE) {
        buf_puts(out, "I'm sorry to have to inform you that your message could not\n"
                      "be delivered to one or more recipients. It's attached below.\n"
                      "\n"
                      "For further assistance, please send mail to postmaster.\n"
                      "\n"
                      "If you do so, please include this problem report. You can\n"
                      "delete your own text from the attached returned message.\n");
    } else if (n->kind == DSN_DELAY) {
        buf_puts(out, "####################################################################\n"
                      "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
                      "####################################################################\n"
                      "\n");
        if (n->arrival > 0 && n->now > n->arrival)
            buf_printf(out, "Your message could not be delivered for more than %lld hour(s).\n",
                       (long long)((n->now - n->arrival) / 3600));
        if (n->arrival > 0 && n->retry_until > n->arrival)
            buf_printf(out, "It will be retried until it is %lld day(s) old.\n",
                       (long long)((n->retry_until - n->arrival + 86399) / 86400));
        buf_puts(out, "\n"
                      "For further assistance, please send mail to postmaster.\n"
                      "\n"
                      "If you do so, please include this problem report. You can\n"
                      "delete your own text from the attached returned message.\n");
    } else {
        buf_puts(out, "Your message was successfully delivered to the destination(s)\n"
                      "listed below. If the message was delivered to mailbox you will\n"
                      "receive no further notifications. Otherwise you may still receive\n"
                      "notifications of mail delivery errors from other systems.\n");
    }
    buf_puts(out, "\n                   The mail system\n\n");
    for (size_t i = 0; i < n->rcpt_count; i++) {
        const struct dsn_rcpt *r = &n->rcpts[i];
        buf_putc(&line, '<');
        put_addr(&line, r->address);
        buf_putc(&line, '>');
        if (has_text(r->orcpt) && strcmp(r->orcpt, r->address ? r->address : "") != 0 &&
            !orcpt_type_given(r->orcpt)) {
            buf_puts(&line, " (expanded from <");
            put_addr(&line, r->orcpt);
            buf_puts(&line, ">)");
        }
        buf_puts(&line, ": ");
        const char *dflt = n->kind == DSN_FAILURE ? "delivery failed"
                           : n->kind == DSN_DELAY ? "delivery temporarily suspended"
                                                  : "delivery successful";
        put_clean(&line, has_text(r->reason) ? r->reason : dflt, DSN_REASON_MAX);
        end_line(out, &line);
    }
    if (n->rcpt_omitted)
        buf_printf(out, "\n(%zu more recipients are not listed)\n", n->rcpt_omitted);
    if (full_why_not)
        buf_printf(out, "\nYour message %s;\nonly its header is returned below.\n", full_why_not);
    buf_free(&line);
}

/* put_orcpt - RFC 3464 2.3.1 "address-type; generic-address": a stored
 * "type;addr" keeps its type (lower case), a bare address is rfc822. */
static void put_orcpt(struct buf *out, const char *orcpt)
{
    if (orcpt_type_given(orcpt)) {
        const char *semi = strchr(orcpt, ';');
        for (const char *p = orcpt; p < semi && p - orcpt < 32; p++)
            buf_putc(out, (char)tolower((unsigned char)*p));
        buf_puts(out, "; ");
        const char *addr = semi + 1;
        while (*addr == ' ')
            addr++;
        put_clean(out, addr, DSN_ADDR_MAX);
    } else {
        buf_puts(out, "rfc822; ");
        put_addr(out, orcpt);
    }
}

/* diag_type_given - 1 when a diagnostic starts with its RFC 3464 2.3.6
 * diagnostic-type ("smtp; 550 ..."): an atom, then ';'. */
static int diag_type_given(const char *s)
{
    size_t n = 0;
    while (n < 32 && (isalnum((unsigned char)s[n]) || s[n] == '-'))
        n++;
    return n > 0 && s[n] == ';';
}

static void report_part(const struct dsn_notice *n, struct buf *out)
{
    struct buf line = BUF_INIT;

    /* RFC 3464 2.2: per-message fields, in the order of its grammar */
    if (has_text(n->envid)) {
        buf_puts(&line, "Original-Envelope-Id: "); /* 2.2.1: case and spelling kept */
        put_clean(&line, n->envid, DSN_ENVID_MAX);
        end_line(out, &line);
    }
    buf_puts(&line, "Reporting-MTA: dns; ");
    put_clean(&line, n->myhostname, 255);
    end_line(out, &line);
    buf_puts(&line, "X-Postern-Queue-ID: ");
    put_clean(&line, n->queue_id, 64);
    end_line(out, &line);
    if (has_text(n->sender)) {
        buf_puts(&line, "X-Postern-Sender: rfc822; ");
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
        if (has_text(r->orcpt)) {
            buf_puts(&line, "Original-Recipient: ");
            put_orcpt(&line, r->orcpt);
            end_line(out, &line);
        }
        buf_puts(&line, "Final-Recipient: rfc822; ");
        put_addr(&line, r->address);
        end_line(out, &line);
        buf_printf(out, "Action: %s\n", rcpt_action(n, r));
        buf_printf(out, "Status: %s\n", rcpt_status(n, r));
        if (has_text(r->mta)) { /* 2.3.5: the MTA that gave the diagnostic */
            buf_puts(&line, "Remote-MTA: dns; ");
            put_clean(&line, r->mta, DSN_MTA_MAX);
            end_line(out, &line);
        }
        if (has_text(r->diag) || has_text(r->reason)) {
            /* 2.3.6: the remote reply with its type; else our own text */
            buf_puts(&line, "Diagnostic-Code: ");
            if (has_text(r->diag) && diag_type_given(r->diag)) {
                put_clean(&line, r->diag, DSN_REASON_MAX);
            } else {
                buf_puts(&line, "X-Postern; ");
                put_clean(&line, has_text(r->diag) ? r->diag : r->reason, DSN_REASON_MAX);
            }
            end_line(out, &line);
        }
        if (n->kind == DSN_DELAY && n->retry_until > 0) {
            buf_puts(&line, "Will-Retry-Until: "); /* 2.3.9 */
            put_date(&line, n->retry_until);
            end_line(out, &line);
        }
    }
    buf_free(&line);
}

/* header_part - the whole lines of the original header that fit into
 * size_limit bytes, up to its first empty line. Returns 1 when a byte
 * outside US-ASCII was kept (the part is then 8bit). */
static int header_part(const struct dsn_notice *n, struct buf *out)
{
    const char *p = n->message;
    size_t left = n->message_len, used = 0;
    struct buf line = BUF_INIT;
    int eightbit = 0;

    while (left > 0) {
        const char *nl = memchr(p, '\n', left);
        size_t len = nl ? (size_t)(nl - p) : left;
        size_t take = nl ? len + 1 : len;
        if (take > n->size_limit - used)
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

/* message_part - the whole original (full_message_fits said it may go as
 * it is), ending in LF. Returns 1 when it holds 8-bit bytes. */
static int message_part(const struct dsn_notice *n, struct buf *out)
{
    int eightbit = 0;
    for (size_t i = 0; i < n->message_len && !eightbit; i++)
        eightbit = (unsigned char)n->message[i] >= 0x80;
    buf_append(out, n->message, n->message_len);
    if (n->message_len == 0 || n->message[n->message_len - 1] != '\n')
        buf_putc(out, '\n');
    return eightbit;
}

static const char *subject(const struct dsn_notice *n)
{
    if (n->postmaster_copy)
        return "Postmaster Copy: Undelivered Mail";
    if (n->kind == DSN_DELAY)
        return "Delayed Mail (still being retried)";
    if (n->kind == DSN_SUCCESS)
        return "Successful Mail Delivery Report";
    return "Undelivered Mail Returned to Sender";
}

int dsn_compose(const struct dsn_notice *n, struct buf *out, struct buf *why)
{
    struct buf parts[3] = {BUF_INIT, BUF_INIT, BUF_INIT};
    struct buf msgid = BUF_INIT, boundary = BUF_INIT, line = BUF_INIT;
    size_t nparts = n->message ? 3 : 2;
    int eightbit = 0;
    const char *full_why_not;

    if (message_id_format(&msgid, n->now, n->notice_id, n->myhostname, why) < 0) {
        buf_free(&msgid);
        return -1;
    }
    int full = full_message_fits(n, &full_why_not);
    text_part(n, full_why_not, &parts[0]);
    report_part(n, &parts[1]);
    if (n->message)
        eightbit = full ? message_part(n, &parts[2]) : header_part(n, &parts[2]);
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
    buf_printf(out, "Subject: %s\n", subject(n));
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

    const char *returned = n->kind == DSN_SUCCESS ? "Delivered"
                           : n->kind == DSN_DELAY ? "Delayed"
                                                  : "Undelivered";
    for (size_t k = 0; k < nparts; k++) {
        buf_printf(out, "--%s\n", boundary.data);
        if (k == 0)
            buf_puts(out, "Content-Description: Notification\n"
                          "Content-Type: text/plain; charset=us-ascii\n");
        else if (k == 1)
            buf_puts(out, "Content-Description: Delivery report\n"
                          "Content-Type: message/delivery-status\n");
        else if (full) /* RFC 3462 / 6522 3: the returned message */
            buf_printf(out,
                       "Content-Description: %s Message\n"
                       "Content-Type: message/rfc822\n",
                       returned);
        else
            buf_printf(out,
                       "Content-Description: %s Message Headers\n"
                       "Content-Type: text/rfc822-headers\n",
                       returned);
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
