/* local_token - aliases(5) values and .forward / :include: contents parsed
 * into delivery tokens (local_token.h). Two passes per value: a scan that
 * checks every byte and finds the top-level commas, then per element an
 * RFC 5322 style internalisation (quotes, comments, angle address).
 */
#include "mail/local_token.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"

void local_tokens_init(struct local_tokens *t)
{
    t->tok = NULL;
    t->count = 0;
    t->cap = 0;
}

static void truncate_tokens(struct local_tokens *t, size_t n)
{
    while (t->count > n)
        free(t->tok[--t->count].text);
}

void local_tokens_free(struct local_tokens *t)
{
    truncate_tokens(t, 0);
    free(t->tok);
    local_tokens_init(t);
}

const char *local_token_type_name(enum local_token_type type)
{
    switch (type) {
    case LOCAL_TOKEN_ADDR:
        return "address";
    case LOCAL_TOKEN_NOALIAS:
        return "mailbox";
    case LOCAL_TOKEN_COMMAND:
        return "command";
    case LOCAL_TOKEN_FILE:
        return "file";
    case LOCAL_TOKEN_HOME:
        return "home file";
    case LOCAL_TOKEN_INCLUDE:
        return "include";
    }
    return "unknown";
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* What is left of an element after the first pass. */
struct parse {
    struct local_tokens *out;
    size_t start; /* out->count when the whole parse began */
    struct buf *why;
};

static int add_token(struct parse *p, enum local_token_type type, const char *text, size_t len)
{
    struct local_tokens *t = p->out;
    if (t->count - p->start >= LOCAL_TOKEN_MAX_COUNT) {
        buf_setf(p->why, "more than %d destinations", LOCAL_TOKEN_MAX_COUNT);
        return -1;
    }
    if (len > LOCAL_TOKEN_MAX_LEN) {
        buf_setf(p->why, "destination longer than %d bytes", LOCAL_TOKEN_MAX_LEN);
        return -1;
    }
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        t->tok = xreallocarray(t->tok, cap, sizeof(*t->tok));
        t->cap = cap;
    }
    t->tok[t->count].type = type;
    t->tok[t->count].text = xmemdup(text, len);
    t->count++;
    return 0;
}

/* One internalised target: the text outside <>, or inside. */
struct target {
    struct buf text;
    int space;   /* white space or a comment seen since the last byte */
    int noalias; /* began with an unquoted backslash */
};

static int put(struct parse *p, struct target *t, char c)
{
    if (t->space && t->text.len > 0)
        buf_putc(&t->text, ' ');
    t->space = 0;
    if (t->text.len >= LOCAL_TOKEN_MAX_LEN) {
        buf_setf(p->why, "destination longer than %d bytes", LOCAL_TOKEN_MAX_LEN);
        return -1;
    }
    buf_putc(&t->text, c);
    return 0;
}

/* classify - the token type of an internalised element. */
static int classify(struct parse *p, const char *r, size_t len, int noalias)
{
    if (len == 0)
        return 0; /* "" or () alone: nothing to deliver to */
    if (noalias)
        return add_token(p, LOCAL_TOKEN_NOALIAS, r, len);
    if (r[0] == '|') {
        size_t i = 1;
        while (i < len && is_blank(r[i]))
            i++;
        return add_token(p, LOCAL_TOKEN_COMMAND, r + i, len - i);
    }
    if (r[0] == '/')
        return add_token(p, LOCAL_TOKEN_FILE, r, len);
    if (r[0] == '~')
        return add_token(p, LOCAL_TOKEN_HOME, r + 1, len - 1);
    size_t plen = strlen(LOCAL_INCLUDE_PREFIX);
    if (len >= plen && strncasecmp(r, LOCAL_INCLUDE_PREFIX, plen) == 0) {
        size_t i = plen;
        while (i < len && is_blank(r[i]))
            i++;
        return add_token(p, LOCAL_TOKEN_INCLUDE, r + i, len - i);
    }
    return add_token(p, LOCAL_TOKEN_ADDR, r, len);
}

/* element - one top-level element s[0..len), already checked by scan():
 * quotes, comments and angle brackets are balanced, no control bytes. */
static int element(struct parse *p, const char *s, size_t len)
{
    while (len > 0 && is_blank(*s)) {
        s++;
        len--;
    }
    while (len > 0 && is_blank(s[len - 1]))
        len--;
    if (len == 0)
        return 0;
    /* An unquoted |command is the shell's text: keep its quoting. */
    if (s[0] == '|')
        return classify(p, s, len, 0);

    struct target outer = {BUF_INIT, 0, 0}, angle = {BUF_INIT, 0, 0};
    struct target *t = &outer;
    int have_angle = 0, rc = -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"') {
            if (t->space && t->text.len > 0)
                buf_putc(&t->text, ' ');
            t->space = 0;
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < len)
                    i++;
                if (put(p, t, s[i]) < 0)
                    goto out;
            }
        } else if (c == '(') {
            /* RFC 5322 3.2.2: comments nest; a comment separates words. */
            int depth = 1;
            for (i++; i < len && depth > 0; i++) {
                if (s[i] == '\\')
                    i++;
                else if (s[i] == '(')
                    depth++;
                else if (s[i] == ')')
                    depth--;
            }
            i--;
            t->space = 1;
        } else if (c == '\\' && i + 1 < len) {
            if (t->text.len == 0)
                t->noalias = 1;
            if (put(p, t, s[++i]) < 0)
                goto out;
        } else if (c == '<' && t == &outer) {
            if (have_angle) {
                buf_setf(p->why, "more than one <address> in one destination");
                goto out;
            }
            have_angle = 1;
            t = &angle;
        } else if (c == '>' && t == &angle) {
            t = &outer;
        } else if (is_blank(c)) {
            t->space = 1;
        } else if (put(p, t, c) < 0) {
            goto out;
        }
    }
    t = have_angle ? &angle : &outer;
    rc = classify(p, buf_cstr(&t->text), t->text.len, t->noalias);
out:
    buf_free(&outer.text);
    buf_free(&angle.text);
    return rc;
}

/* scan - check every byte of a value and cut it at top-level commas. An
 * element that starts with '|' is a command: only double quotes (and
 * backslashes) protect commas there, parentheses and <> are the shell's. */
static int scan(struct parse *p, const char *s, size_t len)
{
    size_t begin = 0;
    int quote = 0, depth = 0, angle = 0, command = -1;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || (s[i] == ',' && !quote && depth == 0 && !angle)) {
            if (quote) {
                buf_setf(p->why, "unterminated quoted string");
                return -1;
            }
            if (depth) {
                buf_setf(p->why, "unterminated comment");
                return -1;
            }
            if (angle) {
                buf_setf(p->why, "unterminated <address>");
                return -1;
            }
            if (element(p, s + begin, i - begin) < 0)
                return -1;
            begin = i + 1;
            command = -1;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == 0) {
            buf_setf(p->why, "NUL byte");
            return -1;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            buf_setf(p->why, "control character 0x%02x", c);
            return -1;
        }
        if (command < 0 && !is_blank((char)c))
            command = c == '|' && !quote && depth == 0 && !angle;
        if (c == '\\') {
            if (i + 1 == len) {
                buf_setf(p->why, "backslash at the end");
                return -1;
            }
            i++; /* the next byte is literal, but still checked */
            c = (unsigned char)s[i];
            if (c == 0 || (c < 0x20 && c != '\t') || c == 0x7f) {
                buf_setf(p->why, "control character 0x%02x", c);
                return -1;
            }
        } else if (c == '"' && depth == 0) {
            quote = !quote;
        } else if (quote || command == 1) {
            continue;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && depth > 0) {
            depth--;
        } else if (depth > 0) {
            continue;
        } else if (c == '<' && !angle) {
            angle = 1;
        } else if (c == '>' && angle) {
            angle = 0;
        }
    }
    return 0;
}

static int parse_value(struct parse *p, const char *s, size_t len)
{
    if (len > LOCAL_TOKEN_MAX_INPUT) {
        buf_setf(p->why, "longer than %d bytes", LOCAL_TOKEN_MAX_INPUT);
        return -1;
    }
    return scan(p, s, len);
}

int local_token_parse_value(const char *s, size_t len, struct local_tokens *out, struct buf *why)
{
    struct parse p = {out, out->count, why};
    if (parse_value(&p, s, len) < 0) {
        truncate_tokens(out, p.start);
        return -1;
    }
    return (int)(out->count - p.start);
}

int local_token_parse_file(const char *s, size_t len, struct local_tokens *out, struct buf *why)
{
    struct parse p = {out, out->count, why};
    struct buf err = BUF_INIT;
    long line = 0;

    if (len > LOCAL_TOKEN_MAX_INPUT) {
        buf_setf(why, "longer than %d bytes", LOCAL_TOKEN_MAX_INPUT);
        return -1;
    }
    p.why = &err;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(s + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - s) : len;
        size_t n = end - pos;
        line++;
        if (n > 0 && s[pos + n - 1] == '\r')
            n--;
        /* Postfix: '#' must be the first byte of the line. */
        if (n > 0 && s[pos] != '#' && parse_value(&p, s + pos, n) < 0) {
            buf_setf(why, "line %ld: %s", line, buf_cstr(&err));
            buf_free(&err);
            truncate_tokens(out, p.start);
            return -1;
        }
        pos = end + 1;
    }
    buf_free(&err);
    return (int)(out->count - p.start);
}
