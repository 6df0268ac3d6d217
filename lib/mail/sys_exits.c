/* sys_exits - <sysexits.h> codes to DSN codes and Postfix's texts, and the
 * verdict on a finished delivery command. See sys_exits.h.
 */
#include "mail/sys_exits.h"

#include <ctype.h>
#include <string.h>
#include <sys/wait.h>

#include "mail/mail_proto.h"

/* Postfix global/sys_exits.c: the same codes, DSNs and words, so bounce
 * texts and log lines read as admins know them. */
static const struct sys_exits_detail table[] = {
    {64, "5.3.0", "command line usage error"},  {65, "5.6.0", "data format error"},
    {66, "5.3.0", "cannot open input"},         {67, "5.1.1", "user unknown"},
    {68, "5.1.2", "host name unknown"},         {69, "5.3.0", "service unavailable"},
    {70, "5.3.0", "internal software error"},   {71, "4.3.0", "system resource problem"},
    {72, "5.3.0", "critical OS file missing"},  {73, "5.2.0", "can't create user output file"},
    {74, "5.3.0", "input/output error"},        {75, "4.3.0", "temporary failure"},
    {76, "5.5.0", "remote error in protocol"},  {77, "5.7.0", "permission denied"},
    {78, "5.3.5", "local configuration error"},
};

#define UNKNOWN_DSN "5.3.0" /* Postfix: an unknown code is permanent */

int sys_exits_is_code(int code)
{
    return code >= SYS_EXITS_BASE && code <= SYS_EXITS_MAX;
}

const struct sys_exits_detail *sys_exits_find(int code)
{
    return sys_exits_is_code(code) ? &table[code - SYS_EXITS_BASE] : NULL;
}

const char *sys_exits_dsn(int code)
{
    const struct sys_exits_detail *d = sys_exits_find(code);
    return d ? d->dsn : UNKNOWN_DSN;
}

void sys_exits_text(int code, struct buf *out)
{
    const struct sys_exits_detail *d = sys_exits_find(code);
    buf_reset(out);
    if (d)
        buf_puts(out, d->text);
    else
        buf_printf(out, "unknown mail system error %d", code);
}

int sys_exits_softerror(int code)
{
    return sys_exits_dsn(code)[0] == '4';
}

int sys_exits_status(int code)
{
    return sys_exits_softerror(code) ? DELIVER_DEFER : DELIVER_BOUNCE;
}

void sys_exits_output(const char *p, size_t n, struct buf *out)
{
    buf_reset(out);
    if (n > SYS_EXITS_OUTPUT_MAX)
        n = SYS_EXITS_OUTPUT_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\t' || c == '\n')
            buf_putc(out, ' ');
        else if (c < 0x20 || c >= 0x7f)
            buf_putc(out, '_');
        else
            buf_putc(out, c);
    }
    while (out->len > 0 && out->data[out->len - 1] == ' ')
        buf_truncate(out, out->len - 1);
}

/* A leading "D.S.N" code (RFC 3463: class, then 1-3 digit subject and
 * detail) that ends at white space or the end: its length, else 0. Only
 * the failure classes count; the command failed, so "2.x.x" is no verdict. */
static size_t leading_dsn(const char *s)
{
    size_t i = 0;
    if (s[0] != '4' && s[0] != '5')
        return 0;
    if (s[1] != '.')
        return 0;
    i = 2;
    for (int field = 0; field < 2; field++) {
        size_t start = i;
        while (isdigit((unsigned char)s[i]) && i - start < 4)
            i++;
        if (i == start || i - start > 3)
            return 0;
        if (field == 0) {
            if (s[i] != '.')
                return 0;
            i++;
        }
    }
    return (s[i] == 0 || s[i] == ' ') ? i : 0;
}

static void set_dsn(char *dsn, const char *code, size_t len)
{
    if (len > 15)
        len = 15;
    memcpy(dsn, code, len);
    dsn[len] = 0;
}

int sys_exits_command(int wait_status, int timed_out, const char *command, const char *output,
                      size_t output_len, char *dsn, struct buf *reason)
{
    struct buf out = BUF_INIT;
    int status;

    sys_exits_output(output ? output : "", output ? output_len : 0, &out);
    const char *sep = out.len ? ". Command output: " : "";
    buf_reset(reason);

    if (timed_out) {
        /* Postfix pipe_command(): a command that outlives its time limit
         * is not going to do better next time. */
        set_dsn(dsn, "5.3.0", 5);
        buf_printf(reason, "Command time limit exceeded: \"%s\"%s%s", command, sep, buf_cstr(&out));
        status = DELIVER_BOUNCE;
    } else if (WIFSIGNALED(wait_status)) {
        set_dsn(dsn, "4.3.0", 5);
        buf_printf(reason, "Command died with signal %d: \"%s\"%s%s", WTERMSIG(wait_status),
                   command, sep, buf_cstr(&out));
        status = DELIVER_DEFER;
    } else if (!WIFEXITED(wait_status)) {
        /* Stopped or continued: waitpid() was not asked for these. */
        set_dsn(dsn, "4.3.0", 5);
        buf_printf(reason, "Command ended abnormally (status 0x%x): \"%s\"", (unsigned)wait_status,
                   command);
        status = DELIVER_DEFER;
    } else if (WEXITSTATUS(wait_status) == 0) {
        set_dsn(dsn, "2.0.0", 5);
        buf_printf(reason, "delivered to command: %s", command);
        status = DELIVER_OK;
    } else {
        int code = WEXITSTATUS(wait_status);
        size_t n = out.len ? leading_dsn(out.data) : 0;
        if (n > 0) {
            /* The command said what happened, as "4.2.2 mailbox full". */
            const char *text = out.data + n;
            while (*text == ' ')
                text++;
            set_dsn(dsn, out.data, n);
            if (*text)
                buf_puts(reason, text);
            else
                buf_printf(reason, "Command died with status %d: \"%s\"", code, command);
            status = out.data[0] == '4' ? DELIVER_DEFER : DELIVER_BOUNCE;
        } else if (sys_exits_is_code(code)) {
            const struct sys_exits_detail *d = sys_exits_find(code);
            set_dsn(dsn, d->dsn, strlen(d->dsn));
            buf_printf(reason, "%s%s%s", d->text, sep, buf_cstr(&out));
            status = sys_exits_status(code);
        } else {
            set_dsn(dsn, UNKNOWN_DSN, strlen(UNKNOWN_DSN));
            buf_printf(reason, "Command died with status %d: \"%s\"%s%s", code, command, sep,
                       buf_cstr(&out));
            status = DELIVER_BOUNCE;
        }
    }
    buf_free(&out);
    return status;
}
