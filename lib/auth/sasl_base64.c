/* sasl_base64 - strict base64 for SASL exchanges (sasl_base64.h). */
#include "auth/sasl_base64.h"

#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sasl_base64_encode(const void *p, size_t n, struct buf *out)
{
    const unsigned char *in = p;
    buf_reset(out);
    /* 4 output bytes per 3 input bytes, rounded up: no overflow for any
     * n a buffer can hold, but checked all the same by buf_reserve. */
    buf_reserve(out, (n / 3 + 1) * 4);
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        buf_putc(out, alphabet[v >> 18 & 63]);
        buf_putc(out, alphabet[v >> 12 & 63]);
        buf_putc(out, alphabet[v >> 6 & 63]);
        buf_putc(out, alphabet[v & 63]);
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        buf_putc(out, alphabet[v >> 18 & 63]);
        buf_putc(out, alphabet[v >> 12 & 63]);
        buf_puts(out, "==");
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        buf_putc(out, alphabet[v >> 18 & 63]);
        buf_putc(out, alphabet[v >> 12 & 63]);
        buf_putc(out, alphabet[v >> 6 & 63]);
        buf_putc(out, '=');
    }
}

/* the 6-bit value of an alphabet byte, or -1 */
static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int sasl_base64_decode(const char *s, size_t len, size_t max_out, struct buf *out, struct buf *why)
{
    buf_reset(out);
    if (len % 4 != 0) {
        buf_setf(why, "base64 length %zu is not a multiple of 4", len);
        return -1;
    }
    size_t pad = 0;
    if (len >= 4 && s[len - 1] == '=')
        pad = s[len - 2] == '=' ? 2 : 1;
    size_t n = len / 4 * 3 - pad;
    if (n > max_out) {
        buf_setf(why, "base64 data longer than %zu bytes", max_out);
        return -1;
    }
    buf_reserve(out, n);
    for (size_t i = 0; i < len; i += 4) {
        int last = i + 4 == len;
        int v[4];
        for (size_t k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            /* '=' only as the last one or two bytes of the last group */
            if (c == '=' && last && k >= 4 - pad) {
                v[k] = 0;
                continue;
            }
            v[k] = value_of(c);
            if (v[k] < 0) {
                buf_reset(out);
                if (c == '=')
                    buf_setf(why, "base64 padding in the middle of the data");
                else
                    buf_setf(why, "invalid base64 character 0x%02x", c);
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
        buf_putc(out, (int)(w >> 16 & 0xff));
        if (!(last && pad == 2))
            buf_putc(out, (int)(w >> 8 & 0xff));
        if (!(last && pad >= 1))
            buf_putc(out, (int)(w & 0xff));
        /* RFC 4648 3.5: the bits under the padding must be zero, or one
         * text would have several encodings */
        if (last && ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))) {
            buf_reset(out);
            buf_setf(why, "non-zero base64 pad bits");
            return -1;
        }
    }
    return 0;
}
