/* smtp_client - next-hop syntax, the DATA encoder and the ESMTP
 * parameters of the smtp client (see smtp_client.h). Pure functions.
 */
#include "mail/smtp_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/dns.h"
#include "mail/smtp_cmd.h"

static int parse_port(const char *p, unsigned *port)
{
    static const struct {
        const char *name;
        unsigned port;
    } names[] = {{"smtp", 25}, {"lmtp", 24}, {"submission", 587}, {"smtps", 465}};
    unsigned long v = 0;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(p, names[i].name) == 0) {
            *port = names[i].port;
            return 0;
        }
    if (*p == 0 || strlen(p) > 5)
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *port = (unsigned)v;
    return 0;
}

static int is_addr(const char *h)
{
    unsigned char a[16];
    return inet_pton(AF_INET, h, a) == 1 || inet_pton(AF_INET6, h, a) == 1;
}

int smtp_nexthop_parse(const char *nexthop, int lmtp, struct smtp_nexthop *nh, struct buf *why)
{
    const char *p = nexthop;
    const char *port = NULL;
    size_t hl;

    memset(nh, 0, sizeof(*nh));
    nh->port = lmtp ? 24 : 25;
    if (p == NULL || *p == 0) {
        buf_setf(why, "empty next hop");
        return -1;
    }
    if (lmtp && strncasecmp(p, "unix:", 5) == 0) {
        size_t n = strlen(p + 5);
        if (n == 0 || n >= sizeof(nh->path)) {
            buf_setf(why, "bad next-hop syntax: socket path empty or too long");
            return -1;
        }
        memcpy(nh->path, p + 5, n + 1);
        return 0;
    }
    if (lmtp && strncasecmp(p, "inet:", 5) == 0)
        p += 5;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (end == NULL || (end[1] != 0 && end[1] != ':')) {
            buf_setf(why, "bad next-hop syntax: %s", nexthop);
            return -1;
        }
        const char *h = p + 1;
        if (strncasecmp(h, "ipv6:", 5) == 0)
            h += 5;
        hl = (size_t)(end - h);
        if (end[1] == ':')
            port = end + 2;
        nh->mx = 0;
    } else {
        /* host:port, except an IPv6 address written bare */
        const char *colon = strrchr(p, ':');
        hl = strlen(p);
        if (colon && strchr(p, ':') == colon) {
            hl = (size_t)(colon - p);
            port = colon + 1;
        }
        nh->mx = !lmtp;
    }
    if (hl == 0 || hl >= sizeof(nh->host)) {
        buf_setf(why, "bad next-hop syntax: %s", nexthop);
        return -1;
    }
    memcpy(nh->host, *p == '[' ? (strncasecmp(p + 1, "ipv6:", 5) == 0 ? p + 6 : p + 1) : p, hl);
    nh->host[hl] = 0;
    if (port != NULL && parse_port(port, &nh->port) < 0) {
        buf_setf(why, "bad next-hop port: %s", nexthop);
        return -1;
    }
    if (is_addr(nh->host)) {
        nh->addr = 1;
        nh->mx = 0;
    } else if (!dns_domain_valid(nh->host)) {
        buf_setf(why, "bad next-hop host name: %s", nexthop);
        return -1;
    }
    return 0;
}

void smtp_data_enc_init(struct smtp_data_enc *e, size_t line_limit)
{
    memset(e, 0, sizeof(*e));
    e->line_limit = line_limit;
}

static void enc_newline(struct smtp_data_enc *e, struct buf *out)
{
    buf_append(out, "\r\n", 2);
    e->col = 0;
}

static void enc_byte(struct smtp_data_enc *e, char c, struct buf *out)
{
    if (e->line_limit > 0 && e->col >= e->line_limit) {
        /* Postfix: break with CRLF SPACE, so MIME and headers survive */
        buf_append(out, "\r\n ", 3);
        e->col = 1;
    }
    if (e->col == 0 && c == '.') {
        buf_putc(out, '.'); /* RFC 5321 4.5.2 */
        e->col++;
    }
    buf_putc(out, c);
    e->col++;
}

void smtp_data_enc_put(struct smtp_data_enc *e, const char *p, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        e->any = 1;
        if (c == '\n') {
            enc_newline(e, out);
            e->cr = 0;
            continue;
        }
        if (e->cr) {
            /* a CR not followed by LF: a line end of its own */
            enc_newline(e, out);
            e->cr = 0;
        }
        if (c == '\r') {
            e->cr = 1;
            continue;
        }
        enc_byte(e, c, out);
    }
}

void smtp_data_enc_end(struct smtp_data_enc *e, struct buf *out)
{
    if (e->cr || e->col > 0)
        enc_newline(e, out);
    e->cr = 0;
    buf_append(out, ".\r\n", 3);
}

int smtp_content_8bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return 1;
    return 0;
}

int smtp_needs_utf8(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

void smtp_notify_param(int notify, struct buf *out)
{
    if (notify == 0)
        return;
    buf_puts(out, " NOTIFY=");
    if (notify & SMTP_NOTIFY_NEVER) {
        buf_puts(out, "NEVER");
        return;
    }
    const char *sep = "";
    if (notify & SMTP_NOTIFY_SUCCESS) {
        buf_printf(out, "%sSUCCESS", sep);
        sep = ",";
    }
    if (notify & SMTP_NOTIFY_FAILURE) {
        buf_printf(out, "%sFAILURE", sep);
        sep = ",";
    }
    if (notify & SMTP_NOTIFY_DELAY)
        buf_printf(out, "%sDELAY", sep);
}

void smtp_orcpt_param(const char *orcpt, struct buf *out)
{
    if (orcpt == NULL || *orcpt == 0)
        return;
    struct buf x = BUF_INIT;
    smtp_xtext_encode(orcpt, &x);
    buf_puts(out, " ORCPT=rfc822;");
    buf_append(out, x.data, x.len);
    buf_free(&x);
}
