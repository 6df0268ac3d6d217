/* addr - address-list parsing (RFC 5322 3.4, 4.4), local-part quoting
 * (RFC 5321 4.1.2), qualification, extension splitting, domain folding.
 *
 * addr_list_scan works in two passes: a tokenizer that drops comments and
 * white space and decodes quoted strings (each token remembers its bytes in
 * the input), then a parser that cuts the token list into mailboxes at
 * top-level ',' ':' ';' (never inside <...>) and rebuilds each addr-spec in
 * internal form. Only when the whole list has parsed is the caller's
 * function called for each addr-spec, so a malformed list yields nothing.
 * addr_list_parse and header_addr_rewrite are both built on it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/addr.h"
#include "util/alloc.h"

enum tok_type { T_ATOM, T_QSTRING, T_DLIT, T_SPECIAL };

struct tok {
    enum tok_type type;
    char ch;         /* T_SPECIAL */
    size_t off, len; /* decoded text in the tokenizer buffer */
    size_t src, end; /* the token's bytes in the input: [src, end) */
};

struct toks {
    struct tok *v;
    size_t n, cap;
    struct buf text;
};

#define COMMENT_DEPTH_MAX 64

static int is_wsp(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 5322 3.2.3 specials, minus the ones the tokenizer handles itself */
static int is_special(int c)
{
    return c != 0 && strchr("<>,:;@.", c) != NULL;
}

/* Bytes that are neither text nor white space. */
static int is_bad_ctl(int c)
{
    return (c < 32 && c != '\t' && c != '\r' && c != '\n') || c == 127;
}

static int is_atom_char(int c)
{
    return c > 32 && c != 127 && strchr("()<>[]:;@\\,.\"", c) == NULL;
}

static void tok_push(struct toks *t, enum tok_type type, char ch, size_t off, size_t src,
                     size_t end)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
    }
    t->v[t->n++] = (struct tok){type, ch, off, t->text.len - off, src, end};
}

/* fold_len - the length of a fold ("\r\n" or "\n" followed by a space or
 * tab) at s[i], or 0 when there is none there. */
static size_t fold_len(const char *s, size_t len, size_t i)
{
    size_t j = i;
    if (j < len && s[j] == '\r')
        j++;
    if (j >= len || s[j] != '\n')
        return 0;
    j++;
    return j < len && (s[j] == ' ' || s[j] == '\t') ? j - i : 0;
}

static int is_dlit_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == ':' || c == '-';
}

/* Decode a quoted string or domain literal body starting after the opening
 * delimiter; *ip ends after the closing one. RFC 5322 3.2.4 / 3.4.1. With
 * `folded`, a fold is removed as unfolding would (RFC 5322 3.2.2: the CRLF
 * of FWS is not part of the content). */
static int scan_quoted(const char *s, size_t len, size_t *ip, char close, int folded,
                       struct buf *text, struct buf *why)
{
    size_t i = *ip;
    for (;;) {
        if (i >= len) {
            buf_printf(why, "unterminated %s", close == '"' ? "quoted string" : "domain literal");
            return -1;
        }
        unsigned char c = (unsigned char)s[i++];
        if (c == '\\') {
            if (i >= len) {
                buf_puts(why, "backslash at end of address");
                return -1;
            }
            c = (unsigned char)s[i++];
        } else if (c == (unsigned char)close) {
            break;
        } else if (folded && (c == '\r' || c == '\n') && fold_len(s, len, i - 1) > 0) {
            i += fold_len(s, len, i - 1) - 1;
            continue;
        }
        if (c == 0 || c == '\r' || c == '\n') {
            buf_puts(why, "NUL, CR or LF inside an address");
            return -1;
        }
        if (close == ']' && !is_dlit_char(c)) {
            /* Stricter than RFC 5322 dtext: address literals (RFC 5321
             * 4.1.3) need no more, and '@' or '"' here would make the
             * internal form ambiguous. */
            buf_puts(why, "invalid character in domain literal");
            return -1;
        }
        buf_putc(text, (char)c);
    }
    *ip = i;
    return 0;
}

/* RFC 5322 3.2.2: comments nest and may hold quoted-pairs. */
static int skip_comment(const char *s, size_t len, size_t *ip, struct buf *why)
{
    size_t i = *ip + 1;
    int depth = 1;
    while (depth > 0) {
        if (i >= len) {
            buf_puts(why, "unterminated comment");
            return -1;
        }
        char c = s[i++];
        if (c == '\\' && i < len)
            i++;
        else if (c == '(' && ++depth > COMMENT_DEPTH_MAX) {
            buf_puts(why, "comments nested too deeply");
            return -1;
        } else if (c == ')')
            depth--;
    }
    *ip = i;
    return 0;
}

static int tokenize(const char *s, size_t len, int folded, struct toks *t, struct buf *why)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t off = t->text.len, src = i;
        if (is_wsp(c)) {
            i++;
        } else if (c == 0 || is_bad_ctl(c)) {
            buf_puts(why, "control character in address list");
            return -1;
        } else if (c == '(') {
            if (skip_comment(s, len, &i, why) < 0)
                return -1;
        } else if (c == '"') {
            i++;
            if (scan_quoted(s, len, &i, '"', folded, &t->text, why) < 0)
                return -1;
            tok_push(t, T_QSTRING, 0, off, src, i);
        } else if (c == '[') {
            i++;
            buf_putc(&t->text, '[');
            if (scan_quoted(s, len, &i, ']', folded, &t->text, why) < 0)
                return -1;
            buf_putc(&t->text, ']');
            tok_push(t, T_DLIT, 0, off, src, i);
        } else if (is_special(c)) {
            i++;
            tok_push(t, T_SPECIAL, (char)c, off, src, i);
        } else if (is_atom_char(c)) {
            while (i < len && is_atom_char((unsigned char)s[i]))
                buf_putc(&t->text, s[i++]);
            tok_push(t, T_ATOM, 0, off, src, i);
        } else {
            buf_printf(why, "unexpected '%c' in address list", c);
            return -1;
        }
    }
    return 0;
}

static int is_spec(const struct tok *k, char ch)
{
    return k->type == T_SPECIAL && k->ch == ch;
}

/* Rebuild an addr-spec (RFC 5322 3.4.1, obs-local-part and obs-domain of
 * 4.4) from tokens [a, b). An address without '@' is accepted: unqualified
 * addresses are common in locally submitted mail, cleanup qualifies them. */
static int build_addr_spec(const struct toks *t, size_t a, size_t b, struct buf *out,
                           struct buf *why)
{
    int in_domain = 0, last_word = 0;
    buf_reset(out);
    for (size_t i = a; i < b; i++) {
        const struct tok *k = &t->v[i];
        if (is_spec(k, '@')) {
            if (in_domain) {
                buf_puts(why, "more than one '@' in address");
                return -1;
            }
            in_domain = 1;
            last_word = 0;
            buf_putc(out, '@');
            if (i + 1 == b) {
                buf_puts(why, "missing domain after '@'");
                return -1;
            }
        } else if (is_spec(k, '.')) {
            /* Lenient on dots in the local part (seen in the wild); strict in
             * the domain, where an empty label is always an error. */
            if (in_domain && (!last_word || i + 1 == b || is_spec(&t->v[i + 1], '.'))) {
                buf_puts(why, "empty label in domain");
                return -1;
            }
            buf_putc(out, '.');
            last_word = 0;
        } else if (k->type == T_SPECIAL) {
            buf_printf(why, "unexpected '%c' in address", k->ch);
            return -1;
        } else {
            if (last_word) {
                buf_puts(why, "missing '.' or '@' between words of an address");
                return -1;
            }
            if (in_domain && k->type == T_QSTRING) {
                buf_puts(why, "quoted string in domain");
                return -1;
            }
            if (k->type == T_DLIT && (!in_domain || i != b - 1 || !is_spec(&t->v[i - 1], '@'))) {
                buf_puts(why, "misplaced domain literal");
                return -1;
            }
            buf_append(out, t->text.data ? t->text.data + k->off : "", k->len);
            last_word = 1;
        }
        if (out->len > ADDR_MAX_BYTES) {
            buf_printf(why, "address longer than %d bytes", ADDR_MAX_BYTES);
            return -1;
        }
    }
    /* The internal form puts the domain after the last '@': "a@b" without
     * a domain would read as local part a at domain b. */
    if (!in_domain && memchr(out->data ? out->data : "", '@', out->len) != NULL) {
        buf_puts(why, "'@' in a local part without a domain");
        return -1;
    }
    return 0;
}

/* One mailbox (RFC 5322 3.4) in tokens [a, b): name-addr or addr-spec.
 * Returns 1 when an address was produced (and *pos says where it is), 0
 * for an empty element, -1. */
static int parse_mailbox(const struct toks *t, size_t a, size_t b, struct buf *out,
                         struct addr_pos *pos, struct buf *why)
{
    size_t lt = b, gt = b;
    for (size_t i = a; i < b; i++) {
        if (is_spec(&t->v[i], '<') && lt == b)
            lt = i;
        else if (is_spec(&t->v[i], '>') && lt != b && gt == b)
            gt = i;
    }
    if (lt == b) {
        if (a == b)
            return 0; /* obs-mbox-list: empty element */
        *pos = (struct addr_pos){t->v[a].src, t->v[b - 1].end, t->v[a].src, 0};
        return build_addr_spec(t, a, b, out, why) < 0 ? -1 : 1;
    }
    if (gt == b) {
        buf_puts(why, "missing '>' in address");
        return -1;
    }
    if (gt + 1 != b) {
        buf_puts(why, "text after '>' in address");
        return -1;
    }
    /* RFC 5322 4.4 obs-route: "@a,@b:" before the addr-spec is dropped. */
    size_t s = lt + 1;
    for (size_t i = lt + 1; i < gt; i++)
        if (is_spec(&t->v[i], ':'))
            s = i + 1;
    if (s != lt + 1 && s == gt) {
        buf_puts(why, "route without address");
        return -1;
    }
    if (s == gt) /* "<>": an empty span right after the '<' */
        *pos = (struct addr_pos){t->v[lt].end, t->v[lt].end, t->v[lt].end, 1};
    else
        *pos = (struct addr_pos){t->v[s].src, t->v[gt - 1].end, t->v[lt + 1].src, 1};
    return build_addr_spec(t, s, gt, out, why) < 0 ? -1 : 1;
}

/* The addr-specs found so far: internal forms back to back (each followed
 * by a NUL) in `text`, and where each one was. */
struct found {
    struct buf text;
    struct found_one {
        size_t off, len;
        struct addr_pos pos;
    } * v;
    size_t n, cap;
};

static void found_add(struct found *f, const struct buf *addr, const struct addr_pos *pos)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
    }
    f->v[f->n++] = (struct found_one){f->text.len, addr->len, *pos};
    buf_append(&f->text, addr->data ? addr->data : "", addr->len);
    buf_putc(&f->text, 0);
}

/* The list itself: elements separated by top-level ',' ';' ':'. */
static int parse_list(const struct toks *t, struct found *f, struct buf *why)
{
    struct buf one = BUF_INIT;
    int ret = -1, in_group = 0;

    for (size_t i = 0; i <= t->n;) {
        /* Find the end of this list element: a top-level ',' ';' ':' */
        size_t j = i;
        int in_angle = 0;
        for (; j < t->n; j++) {
            const struct tok *k = &t->v[j];
            if (is_spec(k, '<')) {
                if (in_angle) {
                    buf_puts(why, "nested '<' in address");
                    goto done;
                }
                in_angle = 1;
            } else if (is_spec(k, '>')) {
                if (!in_angle) {
                    buf_puts(why, "'>' without '<' in address");
                    goto done;
                }
                in_angle = 0;
            } else if (!in_angle && (is_spec(k, ',') || is_spec(k, ';') || is_spec(k, ':'))) {
                break;
            }
        }
        if (j < t->n && is_spec(&t->v[j], ':')) {
            /* RFC 5322 3.4 group: the display name is dropped. */
            if (in_group) {
                buf_puts(why, "group inside a group");
                goto done;
            }
            in_group = 1;
            i = j + 1;
            continue;
        }
        struct addr_pos pos;
        int r = parse_mailbox(t, i, j, &one, &pos, why);
        if (r < 0)
            goto done;
        if (r > 0) {
            if (f->n >= ADDR_LIST_MAX) {
                buf_printf(why, "more than %d addresses", ADDR_LIST_MAX);
                goto done;
            }
            found_add(f, &one, &pos);
        }
        if (j < t->n && is_spec(&t->v[j], ';'))
            in_group = 0;
        i = j + 1;
    }
    ret = 0;
done:
    buf_free(&one);
    return ret;
}

int addr_list_scan(const char *value, size_t len, int flags, addr_scan_fn fn, void *ctx,
                   struct buf *why)
{
    struct toks t = {NULL, 0, 0, BUF_INIT};
    struct found f = {BUF_INIT, NULL, 0, 0};
    int ret = -1;

    if (tokenize(value, len, (flags & ADDR_SCAN_FOLDED) != 0, &t, why) < 0 ||
        parse_list(&t, &f, why) < 0)
        goto done;
    for (size_t k = 0; k < f.n; k++)
        if (fn(ctx, f.text.data + f.v[k].off, f.v[k].len, &f.v[k].pos, why) < 0)
            goto done;
    ret = (int)f.n;
done:
    free(t.v);
    buf_free(&t.text);
    free(f.v);
    buf_free(&f.text);
    return ret;
}

static int list_add(void *ctx, const char *addr, size_t len, const struct addr_pos *pos,
                    struct buf *why)
{
    argv_addn(ctx, addr, len);
    return 0;
}

int addr_list_parse(const char *value, size_t len, struct argv *out, struct buf *why)
{
    return addr_list_scan(value, len, 0, list_add, out, why);
}

/* RFC 5322 3.2.3 atext; 8-bit bytes count as text (RFC 6532 3.2). */
static int is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 128)
        return 1;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int dot_atom(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (!is_atext((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

int addr_quote_local(const char *addr, struct buf *out, struct buf *why)
{
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);

    buf_reset(out);
    if (strpbrk(addr, "\r\n")) {
        buf_puts(why, "CR or LF in address");
        return -1;
    }
    if (strlen(addr) > ADDR_MAX_BYTES) {
        buf_printf(why, "address longer than %d bytes", ADDR_MAX_BYTES);
        return -1;
    }
    if (*addr == 0 || dot_atom(addr, llen)) {
        buf_puts(out, addr);
    } else {
        /* RFC 5321 4.1.2 Quoted-string: only '"' and '\' need a backslash */
        buf_putc(out, '"');
        for (size_t i = 0; i < llen; i++) {
            if (addr[i] == '"' || addr[i] == '\\')
                buf_putc(out, '\\');
            buf_putc(out, addr[i]);
        }
        buf_putc(out, '"');
        if (at)
            buf_puts(out, at);
    }
    return 0;
}

int addr_unquote(const char *addr, struct buf *out, struct buf *why)
{
    int in_quote = 0;
    buf_reset(out);
    for (const char *p = addr; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            buf_puts(why, "CR or LF in address");
            return -1;
        }
        if (*p == '"') {
            in_quote = !in_quote;
            continue;
        }
        if (in_quote && *p == '\\') {
            if (*++p == 0)
                break;
            if (*p == '\r' || *p == '\n') {
                buf_puts(why, "CR or LF in address");
                return -1;
            }
        }
        buf_putc(out, *p);
        if (out->len > ADDR_MAX_BYTES) {
            buf_printf(why, "address longer than %d bytes", ADDR_MAX_BYTES);
            return -1;
        }
    }
    if (in_quote) {
        buf_puts(why, "unterminated quoted string in address");
        return -1;
    }
    return 0;
}

void addr_qualify(const char *addr, const char *myorigin, struct buf *out)
{
    buf_set(out, addr);
    if (*addr != 0 && strchr(addr, '@') == NULL)
        buf_printf(out, "@%s", myorigin);
}

static int ends_with_ci(const char *s, size_t n, const char *suffix)
{
    size_t sl = strlen(suffix);
    return n >= sl && strncasecmp(s + n - sl, suffix, sl) == 0;
}

int addr_split_ext(const char *addr, const char *delims, struct buf *user, struct buf *ext,
                   struct buf *domain)
{
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);
    size_t cut = llen;

    if (domain)
        buf_set(domain, at ? at + 1 : "");
    if (ext)
        buf_reset(ext);
    if (delims && *delims) {
        for (size_t i = 0; i < llen; i++)
            if (strchr(delims, addr[i])) {
                cut = i;
                break;
            }
        /* Safety: "+foo" has no user part; Postfix does not split it. */
        if (cut == 0)
            cut = llen;
        /* Postfix compatibility: mailing-list owner-foo and foo-request. */
        if (cut < llen && addr[cut] == '-' &&
            ((llen >= 6 && strncasecmp(addr, "owner-", 6) == 0) ||
             ends_with_ci(addr, llen, "-request")))
            cut = llen;
    }
    if (user) {
        buf_reset(user);
        buf_append(user, addr, cut);
    }
    if (cut == llen)
        return 0;
    if (ext)
        buf_append(ext, addr + cut + 1, llen - cut - 1);
    return 1;
}

char *addr_fold_domain(char *addr)
{
    char *at = strrchr(addr, '@');
    if (at)
        for (char *p = at + 1; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    return addr;
}
