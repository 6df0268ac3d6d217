/* fuzz_queue_file - libFuzzer target for the queue file reader: any bytes
 * are opened and read to the end without crashing, and neither marking a
 * recipient done nor clearing the delay warning time (qf_update_warn)
 * turns a valid file into a damaged one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mail/queue_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the whole file; the result of the last qf_read, the first recipient's
 * offset in *rcpt and the QF_WARN record's in *warn (or -1). */
static int read_all(struct qf_reader *r, off_t *rcpt, off_t *warn)
{
    struct buf rec = BUF_INIT, why = BUF_INIT;
    int type, ret;
    off_t off;
    *rcpt = *warn = -1;
    while ((ret = qf_read(r, &type, &rec, &off, &why)) > 0) {
        if (type == QF_RCPT && *rcpt < 0)
            *rcpt = off;
        if (type == QF_WARN)
            *warn = off;
    }
    if (ret < 0 && why.len == 0)
        abort(); /* every refusal has a reason */
    buf_free(&rec);
    buf_free(&why);
    return ret;
}

static char path[] = "/tmp/fuzz_queue_file.XXXXXX";

static void remove_input(void)
{
    (void)unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    struct buf why = BUF_INIT;

    if (fd < 0) {
        /* qf_open() takes a path and refuses symlinks such as /proc/self/fd/N,
         * so the input goes into one real file, reused for every run. */
        if ((fd = mkstemp(path)) < 0)
            abort();
        atexit(remove_input);
    }
    if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();

    struct qf_reader *r = qf_open(path, 1, &why);
    if (r != NULL) {
        off_t rcpt, warn, again, again_warn;
        int first = read_all(r, &rcpt, &warn);
        if (rcpt >= 0 && qf_mark_done(r, rcpt, &why) == 0) {
            if (qf_rewind(r) < 0)
                abort();
            if (read_all(r, &again, &again_warn) != first)
                abort();
        }
        if (warn >= 0 && qf_update_warn(r, warn, 0, &why) == 0) {
            if (qf_rewind(r) < 0)
                abort();
            if (read_all(r, &again, &again_warn) != first || again_warn != warn)
                abort();
        }
        qf_close(r);
    }
    buf_free(&why);
    return 0;
}
