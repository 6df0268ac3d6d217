/* fuzz_smtp_cmd - libFuzzer target for the SMTP command parser. Each input
 * is split as a command line, and its argument (and the raw input, which
 * the path parser must also survive) parsed as MAIL FROM and RCPT TO with
 * and without strictness. Every result must be bounded, free of NUL, CR
 * and LF, and consistent with its flags; every error a complete reply;
 * the requoted address must parse back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_cmd.h"

static void check_text(const struct buf *b, size_t max)
{
    if (b->data == NULL || b->len > max || strlen(b->data) != b->len)
        abort();
    if (memchr(b->data, '\r', b->len) || memchr(b->data, '\n', b->len))
        abort();
}

static void check_reply(const struct smtp_reply *err)
{
    if (err->code < 500 || err->code > 599 || err->dsn[0] != '5' || err->text[0] == 0)
        abort();
    if (strpbrk(err->text, "\r\n"))
        abort();
}

static void check_addr(const struct smtp_path *p, int flags)
{
    const char *a = p->addr.data;
    const char *at = strrchr(a, '@');
    size_t llen = at ? (size_t)(at - a) : p->addr.len;

    check_text(&p->addr, SMTP_PATH_MAX);
    if (p->null_sender && (p->addr.len != 0 || !(flags & SMTP_PATH_MAIL)))
        abort();
    if (!p->null_sender && (p->addr.len == 0 || llen == 0 || llen > SMTP_LOCAL_MAX))
        abort();
    if (at && strlen(at + 1) > SMTP_DOMAIN_MAX)
        abort();
    int eight = 0;
    for (size_t i = 0; i < p->addr.len; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c < 0x20 || c == 0x7f)
            abort();
        eight |= c >= 0x80;
    }
    if (eight != p->utf8)
        abort();

    /* The quoted form must come back as the same internal address. */
    if (p->addr.len > 0) {
        struct buf q = BUF_INIT, args = BUF_INIT;
        struct smtp_path again;
        struct smtp_reply err;
        smtp_quote_addr(a, &q);
        buf_printf(&args, "%s<%s>", (flags & SMTP_PATH_MAIL) ? "FROM:" : "TO:", q.data);
        smtp_path_init(&again);
        /* Quoting may lengthen it past the limits ("a..b" gains quotes). */
        size_t qlocal = q.len - (at ? strlen(at) : 0);
        if (qlocal <= SMTP_LOCAL_MAX && q.len <= SMTP_PATH_MAX - 2) {
            if (smtp_path_parse(args.data, args.len, flags & SMTP_PATH_MAIL, &again, &err) < 0 ||
                strcmp(again.addr.data, a) != 0)
                abort();
        }
        smtp_path_free(&again);
        buf_free(&q);
        buf_free(&args);
    }
}

static void check_params(const struct smtp_path *p, int flags)
{
    struct buf enc = BUF_INIT, dec = BUF_INIT;

    check_text(&p->envid, 100);
    check_text(&p->auth, SMTP_PATH_MAX);
    check_text(&p->orcpt, 600);
    if (!(flags & SMTP_PATH_MAIL) &&
        (p->size_given || p->body || p->smtputf8 || p->ret || p->envid.len || p->auth_given))
        abort();
    if ((flags & SMTP_PATH_MAIL) && (p->notify || p->orcpt.len))
        abort();
    if (!p->size_given && p->size != 0)
        abort();
    if ((p->notify & SMTP_NOTIFY_NEVER) && p->notify != SMTP_NOTIFY_NEVER)
        abort();
    if (p->orcpt.len && strchr(p->orcpt.data, ';') == NULL)
        abort();
    /* xtext round trip of what was decoded */
    smtp_xtext_encode(p->envid.data, &enc);
    if (smtp_xtext_decode(enc.data, enc.len, &dec) < 0 || strcmp(dec.data, p->envid.data) != 0)
        abort();
    buf_free(&enc);
    buf_free(&dec);
}

static void parse_args(const char *args, size_t len)
{
    static const int flag_sets[] = {
        SMTP_PATH_MAIL,
        0,
        SMTP_PATH_MAIL | SMTP_PATH_STRICT | SMTP_PATH_UNKNOWN_PARAM,
        SMTP_PATH_STRICT | SMTP_PATH_UNKNOWN_PARAM,
    };
    struct smtp_path p;
    smtp_path_init(&p);
    for (size_t k = 0; k < sizeof(flag_sets) / sizeof(flag_sets[0]); k++) {
        struct smtp_reply err = {0, "", ""};
        int flags = flag_sets[k];
        if (smtp_path_parse(args, len, flags, &p, &err) < 0) {
            check_reply(&err);
            if (p.addr.len || p.envid.len || p.auth.len || p.orcpt.len || p.size_given ||
                p.notify || p.null_sender)
                abort();
        } else {
            check_addr(&p, flags);
            check_params(&p, flags);
        }
    }
    smtp_path_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    struct smtp_cmd cmd;
    struct smtp_reply err = {0, "", ""};

    if (smtp_cmd_split(line, size, &cmd, &err) < 0) {
        check_reply(&err);
    } else {
        size_t v = strlen(cmd.verb);
        if (v >= sizeof(cmd.verb))
            abort();
        for (size_t i = 0; i < v; i++)
            if (cmd.verb[i] < 'A' || cmd.verb[i] > 'Z')
                abort();
        if (cmd.args_len > 0 &&
            (cmd.args < line || cmd.args + cmd.args_len != line + size || cmd.args[0] == ' '))
            abort();
        for (size_t i = 0; i < cmd.args_len; i++)
            if ((unsigned char)cmd.args[i] < 0x20 || cmd.args[i] == 0x7f)
                abort();
        parse_args(cmd.args, cmd.args_len);
    }
    parse_args(line, size);
    return 0;
}
