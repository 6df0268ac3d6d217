/* access_result - parse one access(5) table value into an action, an
 * optional SMTP code and enhanced status, and text (access_result.h).
 * Pure: no I/O, no configuration.
 */
#include "mail/access_result.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void access_result_init(struct access_result *r)
{
    r->action = ACCESS_EMPTY;
    r->word[0] = 0;
    r->code = 0;
    r->dsn[0] = 0;
    buf_init(&r->text);
}

void access_result_free(struct access_result *r)
{
    buf_free(&r->text);
}

const char *access_action_name(enum access_action a)
{
    switch (a) {
    case ACCESS_OK:
        return "OK";
    case ACCESS_DUNNO:
        return "DUNNO";
    case ACCESS_REJECT:
        return "REJECT";
    case ACCESS_DEFER:
        return "DEFER";
    case ACCESS_DEFER_IF_REJECT:
        return "DEFER_IF_REJECT";
    case ACCESS_DEFER_IF_PERMIT:
        return "DEFER_IF_PERMIT";
    case ACCESS_CODE:
        return "CODE";
    case ACCESS_HOLD:
        return "HOLD";
    case ACCESS_DISCARD:
        return "DISCARD";
    case ACCESS_WARN:
        return "WARN";
    case ACCESS_INFO:
        return "INFO";
    case ACCESS_UNSUPPORTED:
        return "UNSUPPORTED";
    case ACCESS_TABLE:
        return "TABLE";
    case ACCESS_EMPTY:
        return "EMPTY";
    case ACCESS_RESTRICTIONS:
        return "RESTRICTIONS";
    }
    return "?";
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* digits - 1..3 ASCII digits at p; returns how many (0 if none or more). */
static size_t digits(const char *p)
{
    size_t n = 0;
    while (n < 4 && isdigit((unsigned char)p[n]))
        n++;
    return n >= 1 && n <= 3 ? n : 0;
}

const char *access_dsn_split(const char *text, char dsn[ACCESS_DSN_MAX])
{
    const char *p = text;
    size_t n;

    dsn[0] = 0;
    /* RFC 3463 2: class "." subject "." detail; classes 2, 4 and 5. */
    if (*p != '2' && *p != '4' && *p != '5')
        return text;
    if (p[1] != '.' || (n = digits(p + 2)) == 0)
        return text;
    p += 2 + n;
    if (*p != '.' || (n = digits(p + 1)) == 0)
        return text;
    p += 1 + n;
    if (*p != 0 && !is_space((unsigned char)*p))
        return text;
    memcpy(dsn, text, (size_t)(p - text));
    dsn[p - text] = 0;
    while (is_space((unsigned char)*p))
        p++;
    return p;
}

/* set_text - the trimmed text into r->text (trailing white space dropped). */
static void set_text(struct access_result *r, const char *text)
{
    size_t n = strlen(text);
    while (n > 0 && is_space((unsigned char)text[n - 1]))
        n--;
    buf_reset(&r->text);
    buf_append(&r->text, text, n);
}

static const struct {
    const char *word;
    enum access_action action;
    int dsn; /* the text may start with an enhanced status code */
} words[] = {
    {"OK", ACCESS_OK, 0},
    {"RELAY", ACCESS_OK, 0},
    {"DUNNO", ACCESS_DUNNO, 0},
    {"REJECT", ACCESS_REJECT, 1},
    {"DEFER", ACCESS_DEFER, 1},
    {"DEFER_IF_REJECT", ACCESS_DEFER_IF_REJECT, 1},
    {"DEFER_IF_PERMIT", ACCESS_DEFER_IF_PERMIT, 1},
    {"HOLD", ACCESS_HOLD, 0},
    {"DISCARD", ACCESS_DISCARD, 0},
    {"WARN", ACCESS_WARN, 0},
    {"INFO", ACCESS_INFO, 0},
    {"PREPEND", ACCESS_UNSUPPORTED, 0},
    {"REDIRECT", ACCESS_UNSUPPORTED, 0},
    {"FILTER", ACCESS_UNSUPPORTED, 0},
    {"BCC", ACCESS_UNSUPPORTED, 0},
    {"HANGUP", ACCESS_UNSUPPORTED, 0},
    {"DELAY", ACCESS_UNSUPPORTED, 0},
};

void access_result_parse(const char *value, struct access_result *r)
{
    const char *p = value, *rest;
    size_t wlen;

    r->action = ACCESS_EMPTY;
    r->word[0] = 0;
    r->code = 0;
    r->dsn[0] = 0;
    buf_reset(&r->text);

    while (is_space((unsigned char)*p))
        p++;
    if (*p == 0)
        return;

    wlen = strcspn(p, " \t\r\n");
    rest = p + wlen;
    while (is_space((unsigned char)*rest))
        rest++;
    if (wlen < sizeof(r->word)) {
        for (size_t i = 0; i < wlen; i++)
            r->word[i] = (char)toupper((unsigned char)p[i]);
        r->word[wlen] = 0;
    }

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) == wlen && strncasecmp(p, words[i].word, wlen) == 0) {
            r->action = words[i].action;
            set_text(r, words[i].dsn ? access_dsn_split(rest, r->dsn) : rest);
            return;
        }
    }

    /* All digits (the whole value): OK. Some out-of-band mechanisms store
     * time stamps as values; Postfix accepts them. */
    if (strspn(p, "0123456789") == wlen && *rest == 0) {
        r->action = ACCESS_OK;
        return;
    }

    /* "4NN text" / "5NN text": a reply code needs text after it. */
    if (wlen == 3 && (p[0] == '4' || p[0] == '5') && isdigit((unsigned char)p[1]) &&
        isdigit((unsigned char)p[2]) && *rest != 0) {
        r->action = ACCESS_CODE;
        r->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        set_text(r, access_dsn_split(rest, r->dsn));
        return;
    }

    r->word[0] = 0;
    set_text(r, p);
    /* A table reference can only be opened before chroot, so tables in
     * access results are refused (Postfix: "define a restriction class"). */
    r->action = strchr(p, ':') != NULL ? ACCESS_TABLE : ACCESS_RESTRICTIONS;
}
