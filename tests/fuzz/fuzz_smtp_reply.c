/* fuzz_smtp_reply - libFuzzer target for the smtp client's reply reader:
 * the input is split into lines as a server would send them and fed to
 * smtp_reply_add_line; every reply must stay within its bounds, carry one
 * code 200..599 and an x.y.z status of the same class, and hold no
 * control bytes; the EHLO parser must cope with whatever was accepted;
 * the next-hop parser must survive the input as a next hop too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_client.h"
#include "mail/smtp_reply.h"

static void check(const struct smtp_resp *r)
{
    if (r->code < 200 || r->code > 599 || r->dsn[0] != '0' + r->code / 100 || r->dsn[1] != '.')
        abort();
    if (r->text.len > SMTP_REPLY_TOTAL_MAX || r->lines > SMTP_REPLY_LINES_MAX)
        abort();
    for (size_t i = 0; i < r->text.len; i++)
        if ((unsigned char)r->text.data[i] < 0x20)
            abort();
    struct smtp_ehlo e;
    smtp_ehlo_parse(r, &e);
    if (strlen(e.auth) >= sizeof(e.auth) || strlen(e.server_name) >= sizeof(e.server_name))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct smtp_resp r = SMTP_RESP_INIT;
    struct buf why = BUF_INIT;
    const char *p = (const char *)data, *end = p + size;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int rc = smtp_reply_add_line(&r, p, n, &why);
        if (rc == SMTP_REPLY_OK) {
            check(&r);
            smtp_resp_reset(&r);
        } else if (rc == SMTP_REPLY_PROTO) {
            if (why.len == 0)
                abort();
            smtp_resp_reset(&r);
        }
        p += n + (nl != NULL);
    }
    if (size < 1024) {
        char *s = malloc(size + 1);
        struct smtp_nexthop nh;
        memcpy(s, data, size);
        s[size] = 0;
        if (smtp_nexthop_parse(s, size & 1, &nh, &why) == 0 && nh.port == 0)
            abort();
        free(s);
    }
    smtp_resp_free(&r);
    buf_free(&why);
    return 0;
}
