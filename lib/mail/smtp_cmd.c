/* smtp_cmd - split an SMTP command line into verb and argument, and parse
 * the argument of MAIL FROM / RCPT TO (path and ESMTP parameters) into a
 * struct smtp_path. Pure functions: no I/O, no configuration; every error
 * is a complete reply for smtpd to send.
 *
 * The path parser is a single left-to-right scan over the counted bytes:
 * optional source route, local part (dot-string or quoted-string), optional
 * "@" domain, then the closing ">" (or a space or the end when the client
 * left out the brackets). It is lenient where Postfix is (dots in a local
 * part, a missing "<>", spaces after the colon, underscores in host names)
 * and strict where leniency would change what an address means (quoting,
 * address literals, '@' inside a local part without a domain).
 */
#include "mail/smtp_cmd.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mail/addr.h"

#define PARAM_KEY_MAX  20  /* longest ESMTP keyword we look at */
#define SIZE_DIGITS    20  /* UINT64_MAX has 20 digits */
#define ENVID_MAX      100 /* RFC 3461 4.4 */
#define ORCPT_ADDR_MAX 500 /* RFC 3461 4.2 */

static void set_err(struct smtp_reply *err, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_err(struct smtp_reply *err, int code, const char *dsn, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL)
        return;
    err->code = code;
    snprintf(err->dsn, sizeof(err->dsn), "%s", dsn);
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_alnum(unsigned char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9');
}

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static int upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

/* eq_ci - the counted s equals the keyword w, ignoring ASCII case. */
static int eq_ci(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* utf8_valid - RFC 3629 UTF-8: no overlong forms, no surrogates, nothing
 * past U+10FFFF. ASCII bytes pass. */
static int utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t more;
        unsigned char lo = 0x80, hi = 0xbf;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            more = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            more = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            more = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return 0;
        }
        if (n - i - 1 < more)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= more; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xbf)
                return 0;
        i += more + 1;
    }
    return 1;
}

static int has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

/* ---- split ---------------------------------------------------------------- */

int smtp_cmd_split(const char *line, size_t len, struct smtp_cmd *out, struct smtp_reply *err)
{
    size_t i = 0, v = 0;

    out->verb[0] = 0;
    out->args = "";
    out->args_len = 0;
    for (size_t k = 0; k < len; k++)
        if (is_ctl((unsigned char)line[k])) {
            set_err(err, 500, "5.5.2", "Error: bad syntax");
            return -1;
        }
    while (i < len && is_alpha((unsigned char)line[i])) {
        if (v == sizeof(out->verb) - 1) {
            /* No command is that long: answer as for any unknown verb. */
            out->verb[0] = 0;
            set_err(err, 502, "5.5.2", "Error: command not recognized");
            return -1;
        }
        out->verb[v++] = (char)upper((unsigned char)line[i++]);
    }
    out->verb[v] = 0;
    if (i < len && (v == 0 || line[i] != ' ')) {
        /* A leading space, or a verb followed by a digit, ':' or 8-bit byte. */
        out->verb[0] = 0;
        set_err(err, 500, "5.5.2", "Error: bad syntax");
        return -1;
    }
    while (i < len && line[i] == ' ')
        i++;
    if (i < len) {
        out->args = line + i;
        out->args_len = len - i;
    }
    return 0;
}

/* ---- path ----------------------------------------------------------------- */

void smtp_path_init(struct smtp_path *p)
{
    memset(p, 0, sizeof(*p));
    buf_init(&p->addr);
    buf_init(&p->envid);
    buf_init(&p->auth);
    buf_init(&p->orcpt);
}

void smtp_path_free(struct smtp_path *p)
{
    buf_free(&p->addr);
    buf_free(&p->envid);
    buf_free(&p->auth);
    buf_free(&p->orcpt);
    smtp_path_init(p);
}

/* path_reset - empty every field, keeping the buffers' memory; each buffer
 * reads as "" afterwards even when it never held anything, so a caller may
 * use .data directly. */
static void path_reset(struct smtp_path *p)
{
    struct buf addr = p->addr, envid = p->envid, auth = p->auth, orcpt = p->orcpt;
    memset(p, 0, sizeof(*p));
    p->addr = addr;
    p->envid = envid;
    p->auth = auth;
    p->orcpt = orcpt;
    buf_reset(&p->addr);
    buf_reset(&p->envid);
    buf_reset(&p->auth);
    buf_reset(&p->orcpt);
    buf_reserve(&p->addr, 0);
    buf_reserve(&p->envid, 0);
    buf_reserve(&p->auth, 0);
    buf_reserve(&p->orcpt, 0);
}

static void addr_err(struct smtp_reply *err, int mail, const char *detail)
{
    set_err(err, 501, mail ? "5.1.7" : "5.1.3", "Bad %s address syntax%s%s",
            mail ? "sender" : "recipient", detail ? ": " : "", detail ? detail : "");
}

static void usage_err(struct smtp_reply *err, int mail)
{
    set_err(err, 501, "5.5.4", "Syntax: %s", mail ? "MAIL FROM:<address>" : "RCPT TO:<address>");
}

/* RFC 5322 3.2.3 atext; RFC 6531 3.3 adds UTF-8 (checked as a whole later). */
static int is_atext(unsigned char c)
{
    if (is_alnum(c) || c >= 0x80)
        return 1;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Host name labels: letters, digits, '-', and '_' (seen in the wild and
 * accepted by Postfix), or UTF-8 for U-labels (RFC 6531 3.3). */
static int is_label_char(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '_' || c >= 0x80;
}

/* RFC 5321 4.1.3 dcontent */
static int is_dcontent(unsigned char c)
{
    return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

/* scan_literal - "[...]" at s[*ip]: *ip ends after ']'. With check, the
 * content must be an IPv4 or IPv6 address literal (RFC 5321 4.1.3); a
 * General-address-literal names no standardized tag we could route to. */
static int scan_literal(const char *s, size_t len, size_t *ip, int check)
{
    size_t i = *ip + 1, start = i;
    char tmp[INET6_ADDRSTRLEN + 1];
    unsigned char bin[16];

    while (i < len && is_dcontent((unsigned char)s[i]))
        i++;
    if (i >= len || s[i] != ']' || i == start)
        return -1;
    if (check) {
        const char *c = s + start;
        size_t n = i - start;
        int af = AF_INET;
        if (n > 5 && strncasecmp(c, "IPv6:", 5) == 0) {
            af = AF_INET6;
            c += 5;
            n -= 5;
        } else if (memchr(c, ':', n) != NULL) {
            return -1;
        }
        if (n >= sizeof(tmp))
            return -1;
        memcpy(tmp, c, n);
        tmp[n] = 0;
        if (inet_pton(af, tmp, bin) != 1)
            return -1;
    }
    *ip = i + 1;
    return 0;
}

/* scan_route - the obsolete source route "@a,@b:" at s[*ip] (RFC 5321
 * 4.1.2 A-d-l, appendix C): accepted and dropped, so its domains are only
 * checked for plausible characters. */
static int scan_route(const char *s, size_t len, size_t *ip)
{
    size_t i = *ip;
    for (;;) {
        i++; /* the '@' */
        if (i < len && s[i] == '[') {
            if (scan_literal(s, len, &i, 0) < 0)
                return -1;
        } else {
            size_t start = i;
            while (i < len && (is_label_char((unsigned char)s[i]) || s[i] == '.'))
                i++;
            if (i == start)
                return -1;
        }
        if (i < len && s[i] == ',' && i + 1 < len && s[i + 1] == '@') {
            i++;
            continue;
        }
        if (i < len && s[i] == ':') {
            *ip = i + 1;
            return 0;
        }
        return -1;
    }
}

/* scan_local - a Dot-string or Quoted-string at s[*ip], appended to out
 * unquoted (RFC 5321 4.1.2). Dots are not checked: Postfix accepts
 * "a..b" and ".a" from real senders, and they mean nothing special. */
static int scan_local(const char *s, size_t len, size_t *ip, struct buf *out)
{
    size_t i = *ip;
    if (i < len && s[i] == '"') {
        for (i++;; i++) {
            if (i >= len)
                return -1;
            unsigned char c = (unsigned char)s[i];
            if (c == '"')
                break;
            if (c == '\\') {
                /* quoted-pairSMTP = %d92 %d32-126 */
                if (i + 1 >= len || s[i + 1] < 32 || s[i + 1] > 126)
                    return -1;
                c = (unsigned char)s[++i];
            } else if (is_ctl(c)) {
                /* qtextSMTP is %d32-126 minus '"' and '\', plus UTF-8 */
                return -1;
            }
            buf_putc(out, c);
        }
        i++;
    } else {
        while (i < len && (is_atext((unsigned char)s[i]) || s[i] == '.'))
            buf_putc(out, s[i++]);
    }
    *ip = i;
    return 0;
}

/* scan_domain - a host name (trailing dot dropped) or an address literal
 * at s[*ip], appended to out as given. */
static int scan_domain(const char *s, size_t len, size_t *ip, struct buf *out)
{
    size_t i = *ip, start = i;
    if (i < len && s[i] == '[') {
        if (scan_literal(s, len, &i, 1) < 0)
            return -1;
        buf_append(out, s + start, i - start);
        *ip = i;
        return 0;
    }
    for (;;) {
        size_t label = i;
        while (i < len && is_label_char((unsigned char)s[i]))
            i++;
        if (i == label)
            return -1;
        if (i < len && s[i] == '.' && i + 1 < len && is_label_char((unsigned char)s[i + 1])) {
            i++;
            continue;
        }
        buf_append(out, s + start, i - start);
        if (i < len && s[i] == '.')
            i++; /* the root: "example.com." is "example.com" */
        *ip = i;
        return 0;
    }
}

/* parse_path - the path at s[*ip] into p->addr; *ip ends after it. */
static int parse_path(const char *s, size_t len, size_t *ip, int flags, struct smtp_path *p,
                      struct smtp_reply *err)
{
    int mail = (flags & SMTP_PATH_MAIL) != 0;
    size_t i = *ip, start = i;
    int bracket = s[i] == '<', routed = 0;

    if (!bracket && (flags & SMTP_PATH_STRICT)) {
        addr_err(err, mail, NULL);
        return -1;
    }
    if (bracket)
        i++;
    if (i < len && s[i] == '@') {
        if (scan_route(s, len, &i) < 0) {
            addr_err(err, mail, NULL);
            return -1;
        }
        routed = 1;
    }
    if (bracket && !routed && i < len && s[i] == '>') {
        /* RFC 5321 4.1.1.2: the null reverse-path; never a recipient. */
        if (!mail) {
            addr_err(err, mail, NULL);
            return -1;
        }
        p->null_sender = 1;
        *ip = i + 1;
        return 0;
    }

    size_t local = i;
    if (scan_local(s, len, &i, &p->addr) < 0 || i == local) {
        addr_err(err, mail, NULL);
        return -1;
    }
    if (i - local > SMTP_LOCAL_MAX) {
        addr_err(err, mail, "local part too long");
        return -1;
    }
    if (p->addr.len == 0) {
        /* ""@x would be "@x" inside, and <""> the null address. */
        addr_err(err, mail, NULL);
        return -1;
    }
    if (i < len && s[i] == '@') {
        size_t before = p->addr.len;
        buf_putc(&p->addr, '@');
        i++;
        if (scan_domain(s, len, &i, &p->addr) < 0) {
            addr_err(err, mail, NULL);
            return -1;
        }
        if (p->addr.len - before - 1 > SMTP_DOMAIN_MAX) {
            addr_err(err, mail, "domain too long");
            return -1;
        }
    } else if (memchr(p->addr.data, '@', p->addr.len) != NULL) {
        /* <"user@other"> has no domain; inside it would look like one. */
        addr_err(err, mail, NULL);
        return -1;
    }
    if (bracket) {
        if (i >= len || s[i] != '>') {
            addr_err(err, mail, NULL);
            return -1;
        }
        i++;
    } else if (i < len && s[i] != ' ') {
        addr_err(err, mail, NULL);
        return -1;
    }
    /* RFC 5321 4.5.3.1.3: 256 octets including the punctuation. */
    if (i - start + (bracket ? 0 : 2) > SMTP_PATH_MAX) {
        addr_err(err, mail, "path too long");
        return -1;
    }
    if (!utf8_valid(s + start, i - start)) {
        addr_err(err, mail, "invalid UTF-8");
        return -1;
    }
    p->utf8 = has_8bit(p->addr.data, p->addr.len);
    *ip = i;
    return 0;
}

/* ---- xtext ---------------------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* xtext_append - RFC 3461 4 xtext decoded onto out. raw8 also lets valid
 * UTF-8 through undecoded (RFC 6533 utf-8-addr-unitext). */
static int xtext_append(const char *in, size_t len, int raw8, struct buf *out)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '+') {
            int h, l;
            if (len - i < 3 || (h = hexval((unsigned char)in[i + 1])) < 0 ||
                (l = hexval((unsigned char)in[i + 2])) < 0)
                return -1;
            c = (unsigned char)(h * 16 + l);
            if (c == 0 || c == '\r' || c == '\n')
                return -1;
            i += 2;
        } else if (c >= 0x80 && raw8) {
            /* checked as UTF-8 by the caller */
        } else if (c < 33 || c > 126 || c == '=') {
            return -1;
        }
        buf_putc(out, c);
    }
    return 0;
}

int smtp_xtext_decode(const char *in, size_t len, struct buf *out)
{
    buf_reset(out);
    if (xtext_append(in, len, 0, out) < 0) {
        buf_reset(out);
        return -1;
    }
    buf_reserve(out, 0);
    return 0;
}

void smtp_xtext_encode(const char *in, struct buf *out)
{
    buf_reset(out);
    buf_reserve(out, 0);
    for (const unsigned char *s = (const unsigned char *)in; *s; s++) {
        if (*s >= 33 && *s <= 126 && *s != '+' && *s != '=')
            buf_putc(out, *s);
        else
            buf_printf(out, "+%02X", *s);
    }
}

void smtp_quote_addr(const char *addr, struct buf *out)
{
    struct buf why = BUF_INIT;
    if (addr_quote_local(addr, out, &why) < 0) {
        /* Only for addresses this parser never produces (CR/LF, or longer
         * than ADDR_MAX_BYTES): show them as they are, made harmless. */
        buf_set(out, addr);
        for (size_t i = 0; i < out->len; i++)
            if (is_ctl((unsigned char)out->data[i]))
                out->data[i] = '?';
    }
    buf_free(&why);
}

/* ---- parameters ----------------------------------------------------------- */

struct param_val {
    const char *key; /* upper-cased */
    const char *v;   /* NULL when the parameter has no "=" */
    size_t n;
};

static int bad_param(struct smtp_reply *err, const struct param_val *pv)
{
    set_err(err, 501, "5.5.4", "Bad %s parameter syntax", pv->key);
    return -1;
}

/* RFC 1870 */
static int param_size(const struct param_val *pv, struct smtp_path *p, struct smtp_reply *err)
{
    uint64_t size = 0;
    if (pv->v == NULL)
        return bad_param(err, pv);
    for (size_t i = 0; i < pv->n; i++)
        if (pv->v[i] < '0' || pv->v[i] > '9')
            return bad_param(err, pv);
    if (pv->n > SIZE_DIGITS)
        goto too_big;
    for (size_t i = 0; i < pv->n; i++) {
        unsigned d = (unsigned)(pv->v[i] - '0');
        if (size > (UINT64_MAX - d) / 10)
            goto too_big;
        size = size * 10 + d;
    }
    p->size = size;
    p->size_given = 1;
    return 0;
too_big:
    set_err(err, 552, "5.3.4", "Message size exceeds fixed limit");
    return -1;
}

/* RFC 6152, RFC 3030 */
static int param_body(const struct param_val *pv, struct smtp_path *p, struct smtp_reply *err)
{
    if (pv->v && eq_ci(pv->v, pv->n, "7BIT"))
        p->body = SMTP_BODY_7BIT;
    else if (pv->v && eq_ci(pv->v, pv->n, "8BITMIME"))
        p->body = SMTP_BODY_8BITMIME;
    else if (pv->v && eq_ci(pv->v, pv->n, "BINARYMIME"))
        p->body = SMTP_BODY_BINARYMIME;
    else {
        set_err(err, 501, "5.5.4", "Bad BODY parameter");
        return -1;
    }
    return 0;
}

/* RFC 6531 3.4: "it MUST not accept a value" */
static int param_smtputf8(const struct param_val *pv, struct smtp_path *p, struct smtp_reply *err)
{
    if (pv->v)
        return bad_param(err, pv);
    p->smtputf8 = 1;
    return 0;
}

/* RFC 3461 4.3 */
static int param_ret(const struct param_val *pv, struct smtp_path *p, struct smtp_reply *err)
{
    if (pv->v && eq_ci(pv->v, pv->n, "FULL"))
        p->ret = SMTP_RET_FULL;
    else if (pv->v && eq_ci(pv->v, pv->n, "HDRS"))
        p->ret = SMTP_RET_HDRS;
    else
        return bad_param(err, pv);
    return 0;
}

/* RFC 3461 4.4: at most 100 printable US-ASCII characters once decoded. */
static int param_envid(const struct param_val *pv, struct smtp_path *p, struct smtp_reply *err)
{
    if (pv->v == NULL || smtp_xtext_decode(pv->v, pv->n, &p->envid) < 0 || p->envid.len > ENVID_MAX)
        return bad_param(err, pv);
    for (size_t i = 0; i < p->envid.len; i++)
        if ((unsigned char)p->envid.data[i] < 32 || (unsigned char)p->envid.data[i] > 126)
            return bad_param(err, pv);
    return 0;
}

/* RFC 4954 5: AUTH=<xtext mailbox> or AUTH=<> */
static int param_auth(const struct param_val *pv, struct smtp_path *p, struct smtp_reply *err)
{
    if (pv->v == NULL || smtp_xtext_decode(pv->v, pv->n, &p->auth) < 0 ||
        p->auth.len > SMTP_PATH_MAX)
        return bad_param(err, pv);
    p->auth_given = 1;
    return 0;
}

/* RFC 3461 4.1: NEVER alone, or a list of SUCCESS, FAILURE, DELAY. */
static int param_notify(const struct param_val *pv, struct smtp_path *p, struct smtp_reply *err)
{
    static const struct {
        const char *name;
        int bit;
    } kw[] = {{"NEVER", SMTP_NOTIFY_NEVER},
              {"SUCCESS", SMTP_NOTIFY_SUCCESS},
              {"FAILURE", SMTP_NOTIFY_FAILURE},
              {"DELAY", SMTP_NOTIFY_DELAY}};
    int bits = 0;
    size_t i = 0;

    if (pv->v == NULL)
        return bad_param(err, pv);
    while (i <= pv->n) {
        const char *e = memchr(pv->v + i, ',', pv->n - i);
        size_t n = e ? (size_t)(e - (pv->v + i)) : pv->n - i;
        int bit = 0;
        for (size_t k = 0; k < sizeof(kw) / sizeof(kw[0]); k++)
            if (eq_ci(pv->v + i, n, kw[k].name))
                bit = kw[k].bit;
        if (bit == 0 || (bits & bit))
            return bad_param(err, pv);
        bits |= bit;
        i += n + 1;
    }
    if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
        return bad_param(err, pv);
    p->notify = bits;
    return 0;
}

/* utf8_unescape - RFC 6533 EmbeddedUnicodeChar "\x{HEX}" in s replaced by
 * its UTF-8 form. -1 for a malformed escape or a code point that is not a
 * printable character. */
static int utf8_unescape(struct buf *b, size_t from)
{
    struct buf tmp = BUF_INIT;
    size_t i = from;
    int ret = -1;

    buf_append(&tmp, b->data, from);
    while (i < b->len) {
        if (b->data[i] != '\\' || i + 2 >= b->len || b->data[i + 1] != 'x' ||
            b->data[i + 2] != '{') {
            buf_putc(&tmp, b->data[i++]);
            continue;
        }
        unsigned long cp = 0;
        size_t k = i + 3, digits = 0;
        for (; k < b->len && b->data[k] != '}'; k++, digits++) {
            int h = hexval((unsigned char)upper((unsigned char)b->data[k]));
            if (h < 0 || digits == 6)
                goto done;
            cp = cp * 16 + (unsigned long)h;
        }
        if (k >= b->len || digits < 2 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            goto done;
        if (cp < 0x80) {
            buf_putc(&tmp, (int)cp);
        } else if (cp < 0x800) {
            buf_putc(&tmp, (int)(0xc0 | (cp >> 6)));
            buf_putc(&tmp, (int)(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            buf_putc(&tmp, (int)(0xe0 | (cp >> 12)));
            buf_putc(&tmp, (int)(0x80 | ((cp >> 6) & 0x3f)));
            buf_putc(&tmp, (int)(0x80 | (cp & 0x3f)));
        } else {
            buf_putc(&tmp, (int)(0xf0 | (cp >> 18)));
            buf_putc(&tmp, (int)(0x80 | ((cp >> 12) & 0x3f)));
            buf_putc(&tmp, (int)(0x80 | ((cp >> 6) & 0x3f)));
            buf_putc(&tmp, (int)(0x80 | (cp & 0x3f)));
        }
        i = k + 1;
    }
    buf_reset(b);
    buf_append(b, tmp.data, tmp.len);
    ret = 0;
done:
    buf_free(&tmp);
    return ret;
}

/* RFC 3461 4.2: addr-type ";" xtext, kept as "type;decoded" with the type
 * in lower case; utf-8 (RFC 6533) may also carry raw UTF-8 and \x{...}. */
static int param_orcpt(const struct param_val *pv, struct smtp_path *p, struct smtp_reply *err)
{
    const char *semi = pv->v ? memchr(pv->v, ';', pv->n) : NULL;
    size_t tlen = semi ? (size_t)(semi - pv->v) : 0;

    if (semi == NULL || tlen == 0 || tlen == pv->n - 1)
        return bad_param(err, pv);
    for (size_t i = 0; i < tlen; i++) {
        unsigned char c = (unsigned char)pv->v[i];
        if (c >= 0x80 || !is_atext(c))
            return bad_param(err, pv);
        buf_putc(&p->orcpt, c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    buf_putc(&p->orcpt, ';');
    int utf8_type = strcmp(p->orcpt.data, "utf-8;") == 0;
    size_t from = p->orcpt.len;
    if (xtext_append(semi + 1, pv->n - tlen - 1, utf8_type, &p->orcpt) < 0 ||
        (utf8_type && utf8_unescape(&p->orcpt, from) < 0))
        return bad_param(err, pv);
    if (p->orcpt.len - from == 0 || p->orcpt.len - from > ORCPT_ADDR_MAX ||
        !utf8_valid(p->orcpt.data, p->orcpt.len))
        return bad_param(err, pv);
    /* RFC 3461 4.2: printable characters only (UTF-8 only for utf-8). */
    for (size_t i = from; i < p->orcpt.len; i++) {
        unsigned char c = (unsigned char)p->orcpt.data[i];
        if (c < 32 || c == 127 || (c >= 0x80 && !utf8_type))
            return bad_param(err, pv);
    }
    return 0;
}

typedef int (*param_fn)(const struct param_val *, struct smtp_path *, struct smtp_reply *);

static const struct param_def {
    const char *key;
    int mail; /* a MAIL parameter, else RCPT */
    param_fn fn;
} param_table[] = {
    {"SIZE", 1, param_size},     {"BODY", 1, param_body},   {"SMTPUTF8", 1, param_smtputf8},
    {"RET", 1, param_ret},       {"ENVID", 1, param_envid}, {"AUTH", 1, param_auth},
    {"NOTIFY", 0, param_notify}, {"ORCPT", 0, param_orcpt},
};

/* esmtp-value (RFC 5321 4.1.2, UTF-8 allowed by RFC 6531 3.3) */
static int value_ok(const char *v, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 33 || c == '=' || c == 127)
            return 0;
    }
    return utf8_valid(v, n);
}

/* parse_params - "KEY[=VALUE]" separated by spaces, from s[i] on. */
static int parse_params(const char *s, size_t len, size_t i, int flags, struct smtp_path *p,
                        struct smtp_reply *err)
{
    char seen[SMTP_CMD_PARAMS_MAX][PARAM_KEY_MAX + 1];
    size_t nseen = 0;
    int mail = (flags & SMTP_PATH_MAIL) != 0;

    for (;;) {
        while (i < len && s[i] == ' ')
            i++;
        if (i >= len)
            return 0;
        size_t start = i;
        while (i < len && s[i] != ' ')
            i++;
        const char *eq = memchr(s + start, '=', i - start);
        size_t klen = (eq ? (size_t)(eq - s) : i) - start;

        if (nseen == SMTP_CMD_PARAMS_MAX) {
            set_err(err, 501, "5.5.4", "Too many parameters");
            return -1;
        }
        /* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
        int key_ok = klen > 0 && klen <= PARAM_KEY_MAX && is_alnum((unsigned char)s[start]);
        for (size_t k = 0; key_ok && k < klen; k++) {
            unsigned char c = (unsigned char)s[start + k];
            key_ok = is_alnum(c) || c == '-';
            seen[nseen][k] = (char)upper(c);
        }
        if (!key_ok) {
            set_err(err, 501, "5.5.4", "Bad parameter syntax");
            return -1;
        }
        seen[nseen][klen] = 0;
        for (size_t k = 0; k < nseen; k++)
            if (strcmp(seen[k], seen[nseen]) == 0) {
                set_err(err, 501, "5.5.4", "Duplicate %s parameter", seen[nseen]);
                return -1;
            }
        struct param_val pv = {seen[nseen], eq ? eq + 1 : NULL, eq ? (size_t)(s + i - eq - 1) : 0};
        nseen++;

        const struct param_def *def = NULL;
        for (size_t k = 0; k < sizeof(param_table) / sizeof(param_table[0]); k++)
            if (strcmp(param_table[k].key, pv.key) == 0)
                def = &param_table[k];
        if (def == NULL && (flags & SMTP_PATH_UNKNOWN_PARAM)) {
            if (pv.v && !value_ok(pv.v, pv.n))
                return bad_param(err, &pv);
            continue;
        }
        if (def == NULL || def->mail != mail) {
            set_err(err, 555, "5.5.4", "Unsupported option: %s", pv.key);
            return -1;
        }
        if (pv.v && !value_ok(pv.v, pv.n)) {
            if (def->fn == param_body)
                return param_body(&pv, p, err); /* its own wording */
            return bad_param(err, &pv);
        }
        if (def->fn(&pv, p, err) < 0)
            return -1;
    }
}

int smtp_path_parse(const char *args, size_t len, int flags, struct smtp_path *p,
                    struct smtp_reply *err)
{
    int mail = (flags & SMTP_PATH_MAIL) != 0;
    const char *prefix = mail ? "FROM:" : "TO:";
    size_t plen = strlen(prefix), i = plen;

    path_reset(p);
    if (len < plen || strncasecmp(args, prefix, plen) != 0) {
        usage_err(err, mail);
        goto fail;
    }
    if (i < len && args[i] == ' ') {
        /* "MAIL FROM: <a@b>": RFC 5321 has no space there; Postfix takes
         * it unless strict_rfc821_envelopes. */
        if (flags & SMTP_PATH_STRICT) {
            addr_err(err, mail, NULL);
            goto fail;
        }
        while (i < len && args[i] == ' ')
            i++;
    }
    if (i >= len) {
        usage_err(err, mail);
        goto fail;
    }
    if (parse_path(args, len, &i, flags, p, err) < 0)
        goto fail;
    if (i < len && args[i] != ' ') {
        addr_err(err, mail, NULL);
        goto fail;
    }
    if (parse_params(args, len, i, flags, p, err) < 0)
        goto fail;
    return 0;
fail:
    path_reset(p);
    return -1;
}
