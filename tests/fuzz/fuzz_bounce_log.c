/* fuzz_bounce_log - libFuzzer target for the bounce log reader: any bytes
 * are read to the end without crashing, every entry read has a recipient
 * and no NUL, CR or LF in its text, and an entry appended to whatever is
 * there (after a crash left any kind of tail) reads back as the last one,
 * whole. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/bounce_log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[] = "/tmp/fuzz_bounce_log.XXXXXX";

static void remove_input(void)
{
    (void)unlink(path);
}

static void check_text(const char *s)
{
    if (s == NULL || strlen(s) > BOUNCE_LOG_LINE_MAX || strpbrk(s, "\r\n") != NULL)
        abort();
}

/* read_all - every entry; the last one into last (when non-NULL). */
static int read_all(struct bounce_log_entry *last)
{
    struct buf why = BUF_INIT;
    struct bounce_log_reader *r = bounce_log_open(path, &why);
    struct bounce_log_entry e;
    int n = 0, got;

    if (r == NULL)
        abort();
    if (last)
        memset(last, 0, sizeof(*last));
    while ((got = bounce_log_read(r, &e, &why)) == 1) {
        if (e.recipient[0] == '\0')
            abort();
        check_text(e.recipient);
        check_text(e.orcpt);
        check_text(e.status);
        check_text(e.action);
        check_text(e.reason);
        check_text(e.mta);
        check_text(e.diag);
        if (e.notify < 0 || e.notify > 15)
            abort();
        n++;
        if (last) {
            bounce_log_entry_free(last);
            *last = e;
        } else {
            bounce_log_entry_free(&e);
        }
    }
    if (got < 0)
        abort(); /* a regular file never fails to read */
    bounce_log_close(r);
    buf_free(&why);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    struct buf why = BUF_INIT;

    if (fd < 0) {
        /* bounce_log_open() refuses symlinks such as /proc/self/fd/N, so
         * the input goes into one real file, reused for every run. */
        if ((fd = mkstemp(path)) < 0)
            abort();
        atexit(remove_input);
    }
    if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
        abort();
    (void)read_all(NULL);

    struct bounce_log_entry e = {0}, last;
    e.recipient = (char *)"fuzz@example.net";
    e.orcpt = (char *)"";
    e.offset = 42;
    e.status = (char *)"5.1.1";
    e.action = (char *)"failed";
    e.when = 7;
    e.reason = (char *)"reason\nwith newline";
    e.mta = (char *)"mx.example.net";
    e.diag = (char *)"smtp; 550\r\n5.1.1";
    e.notify = 12;
    if (bounce_log_append(path, &e, &why) < 0)
        abort();
    if (read_all(&last) < 1 || strcmp(last.recipient, "fuzz@example.net") != 0 ||
        strcmp(last.orcpt, "") != 0 || last.offset != 42 || strcmp(last.status, "5.1.1") != 0 ||
        strcmp(last.action, "failed") != 0 || last.when != 7 ||
        strcmp(last.reason, "reason with newline") != 0 ||
        strcmp(last.mta, "mx.example.net") != 0 || strcmp(last.diag, "smtp; 550  5.1.1") != 0 ||
        last.notify != 12)
        abort();
    bounce_log_entry_free(&last);
    buf_free(&why);
    return 0;
}
