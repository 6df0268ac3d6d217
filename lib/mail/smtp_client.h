/* smtp_client - the pure pieces of the smtp(8)/lmtp(8) delivery agent,
 * kept here so they are unit-tested and fuzzed apart from the network:
 * next-hop syntax, the DATA encoder (LF to CRLF, dot-stuffing, long-line
 * folding), and the ESMTP parameters of MAIL FROM and RCPT TO.
 */
#ifndef MAIL_SMTP_CLIENT_H
#define MAIL_SMTP_CLIENT_H

#include <stddef.h>

#include "util/buf.h"

#define SMTP_CLIENT_HOST_MAX 256

/* A next hop as the transport wrote it (Postfix syntax):
 *   domain, domain:port        MX lookup (port 25 / the given one)
 *   [host], [host]:port        no MX lookup; host is a name or address
 *   [ipv6:2001:db8::1]:25      an IPv6 address literal
 *   lmtp only: unix:PATH       a UNIX-domain socket (relative to the queue
 *                              directory, inside the chroot)
 *              inet:host:port  TCP; LMTP never looks up MX records
 * An unbracketed IP address is taken as an address (no MX lookup). */
struct smtp_nexthop {
    char host[SMTP_CLIENT_HOST_MAX]; /* domain, host name or address; "" for unix */
    unsigned port;
    int mx;                          /* 1: look up MX records for host */
    int addr;                        /* 1: host is an IP address literal */
    char path[SMTP_CLIENT_HOST_MAX]; /* unix: the socket path, else "" */
};

/* smtp_nexthop_parse - 0, or -1 + why ("bad next-hop syntax: ..."). A port
 * is a number 1..65535 or one of smtp, lmtp, submission, smtps. */
int smtp_nexthop_parse(const char *nexthop, int lmtp, struct smtp_nexthop *nh, struct buf *why);

/* The DATA encoder: message bytes as the queue file holds them (LF line
 * ends) in, the DATA stream out: CRLF line ends (a CR before LF is
 * dropped, a bare CR becomes a line end too, so no bare CR or LF ever goes
 * out), a leading "." doubled (RFC 5321 4.5.2), and lines longer than
 * line_limit (0: none) broken with CRLF SPACE as Postfix's
 * smtp_line_length_limit does. */
struct smtp_data_enc {
    size_t line_limit;
    size_t col; /* bytes on the current output line */
    int cr;     /* the previous input byte was a CR */
    int any;    /* anything was written */
};

void smtp_data_enc_init(struct smtp_data_enc *e, size_t line_limit);
void smtp_data_enc_put(struct smtp_data_enc *e, const char *p, size_t n, struct buf *out);
/* smtp_data_enc_end - end the last line if needed and add ".\r\n". */
void smtp_data_enc_end(struct smtp_data_enc *e, struct buf *out);

/* smtp_content_8bit - 1 if p[0..n) has a byte >= 0x80. */
int smtp_content_8bit(const char *p, size_t n);
/* smtp_needs_utf8 - 1 if s has a byte >= 0x80 (an SMTPUTF8 address). */
int smtp_needs_utf8(const char *s);

/* smtp_notify_param - " NOTIFY=SUCCESS,FAILURE" etc. for SMTP_NOTIFY_*
 * bits (nothing for 0). smtp_orcpt_param - " ORCPT=rfc822;<xtext>" for a
 * non-empty original recipient. Both append to out. */
void smtp_notify_param(int notify, struct buf *out);
void smtp_orcpt_param(const char *orcpt, struct buf *out);

#endif
