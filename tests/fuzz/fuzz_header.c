/* fuzz_header - libFuzzer target for the header section reader. The first
 * byte picks small limits so they are hit often; the rest is fed line by
 * line. Checks: every header has a valid field name, its raw text starts
 * with that name and every inner LF starts a folded line, the value holds
 * no LF, and no limit is ever exceeded by what was accepted. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/header.h"

static void check_header(const struct header *h, const struct header_limits *lim)
{
    if (h->name.len == 0 || h->name.len > h->raw.len ||
        memcmp(h->name.data, h->raw.data, h->name.len) != 0)
        abort();
    for (size_t i = 0; i < h->name.len; i++) {
        unsigned char c = (unsigned char)h->name.data[i];
        if (c < 33 || c > 126 || c == ':')
            abort();
    }
    if (h->value.len && memchr(h->value.data, '\n', h->value.len))
        abort();
    size_t nl = 0;
    for (size_t i = 0; i < h->raw.len; i++) {
        if (h->raw.data[i] == '\n') {
            nl++;
            if (i == 0 || (h->raw.data[i + 1] != ' ' && h->raw.data[i + 1] != '\t'))
                abort();
        }
    }
    if (nl + 1 != h->lines)
        abort();
    if (lim->max_header_bytes && h->raw.len + 1 > lim->max_header_bytes)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct header_limits lim = {0, 0, 0, 0};
    if (size > 0) {
        unsigned sel = data[0];
        if (sel & 1)
            lim.max_total_bytes = 64 + (sel >> 4) * 16;
        if (sel & 2)
            lim.max_header_bytes = 16 + (sel >> 4) * 4;
        if (sel & 4)
            lim.max_headers = 1 + (sel >> 4);
        if (sel & 8)
            lim.max_line_length = 8 + (sel >> 4) * 4;
        data++;
        size--;
    }
    struct header_reader *r = header_reader_create(&lim);
    const struct header *h;
    enum header_status st = HEADER_MORE;
    size_t off = 0, count = 0;
    while (off < size && st == HEADER_MORE) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t n = nl ? (size_t)(nl - (data + off)) + 1 : size - off;
        st = header_reader_feed(r, (const char *)data + off, n, &h);
        if (h) {
            check_header(h, &lim);
            count++;
        }
        off += n;
    }
    if (st == HEADER_MORE) {
        st = header_reader_eof(r, &h);
        if (h) {
            check_header(h, &lim);
            count++;
        }
        if (st != HEADER_END_EOF)
            abort();
    }
    if (lim.max_headers && header_reader_count(r) > lim.max_headers)
        abort();
    if (lim.max_total_bytes && header_reader_bytes(r) > lim.max_total_bytes)
        abort();
    /* once finished, the reader stays finished */
    if (header_reader_feed(r, "X: y\n", 5, &h) != st || h != NULL)
        abort();
    (void)count;
    header_reader_free(r);
    return 0;
}
