/* fuzz_postdrop - libFuzzer target for the record-stream checks of the
 * setgid postdrop: any bytes are judged without crashing, every refusal has
 * a reason, and a stream that is accepted once is accepted again after being
 * re-framed record by record (the checker has no hidden state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/maildrop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf why = BUF_INIT, copy = BUF_INIT;
    /* A small limit as well as none, so the size accounting is exercised. */
    size_t limit = size > 0 ? data[0] * 16u : 0;

    (void)maildrop_validate(data, size, limit, &why);
    if (maildrop_validate(data, size, 0, &why) < 0) {
        if (why.len == 0)
            abort();
    } else {
        struct maildrop_check c;
        size_t pos = 0;
        maildrop_check_init(&c, 0);
        for (;;) {
            int type;
            size_t len;
            if (maildrop_header(&c, data + pos, &type, &len, &why) < 0)
                abort();
            pos += MAILDROP_HDR_LEN;
            int ret = maildrop_record(&c, type, data + pos, len, &why);
            if (ret < 0)
                abort();
            maildrop_put(&copy, type, data + pos, len);
            pos += len;
            if (ret == 1)
                break;
        }
        if (copy.len != size || memcmp(copy.data, data, size) != 0)
            abort();
    }
    buf_free(&why);
    buf_free(&copy);
    return 0;
}
