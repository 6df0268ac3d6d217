/* test_bounce_log - the per-message status logs: the exact file format, round
 * trips, appends after a crash left half an entry, and hostile logs (long
 * lines, missing fields, cut-short entries, NUL, garbage) read exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/bounce_log.h"

struct fixture {
    char dir[64];
    char path[128];
    struct buf why;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_bounce_log.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/log", f->dir);
    buf_init(&f->why);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[256];
    unlink(f->path);
    snprintf(p, sizeof(p), "%s/target", f->dir);
    unlink(p);
    rmdir(f->dir);
    buf_free(&f->why);
    free(f);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void read_file(const char *path, struct buf *out)
{
    char block[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    buf_reset(out);
    while ((n = read(fd, block, sizeof(block))) > 0)
        buf_append(out, block, (size_t)n);
    close(fd);
}

/* read_all - every entry of the log at path; returns how many, and the
 * recipients joined by ',' into rcpts. */
static int read_all(const char *path, struct bounce_log_entry *out, int max, struct buf *rcpts)
{
    struct buf why = BUF_INIT;
    struct bounce_log_reader *r = bounce_log_open(path, &why);
    struct bounce_log_entry e;
    int n = 0, got;
    assert_non_null(r);
    buf_reset(rcpts);
    while ((got = bounce_log_read(r, &e, &why)) == 1) {
        if (rcpts->len)
            buf_putc(rcpts, ',');
        buf_puts(rcpts, e.recipient);
        if (n < max)
            out[n] = e;
        else
            bounce_log_entry_free(&e);
        n++;
    }
    assert_int_equal(got, 0);
    /* at the end it stays at the end */
    assert_int_equal(bounce_log_read(r, &e, &why), 0);
    bounce_log_close(r);
    buf_free(&why);
    return n;
}

static struct bounce_log_entry entry(const char *rcpt, const char *reason)
{
    struct bounce_log_entry e = {0};
    e.recipient = (char *)rcpt;
    e.orcpt = (char *)"orig@example.org";
    e.offset = 1234;
    e.status = (char *)"5.1.1";
    e.action = (char *)"failed";
    e.when = 1700000000;
    e.reason = (char *)reason;
    return e;
}

static void test_format_is_one_line_per_field_and_a_blank_line(void **state)
{
    (void)state;
    struct buf out = BUF_INIT;
    struct bounce_log_entry e = entry("bob@example.net", "unknown user: \"bob\"\r\nsecond");
    bounce_log_format(&out, &e);
    assert_string_equal(out.data, "recipient=bob@example.net\n"
                                  "orcpt=orig@example.org\n"
                                  "offset=1234\n"
                                  "status=5.1.1\n"
                                  "action=failed\n"
                                  "time=1700000000\n"
                                  "reason=unknown user: \"bob\"  second\n"
                                  "\n");
    buf_free(&out);
}

static void test_append_and_read_round_trip(void **state)
{
    struct fixture *f = *state;
    struct bounce_log_entry a = entry("a@example.net", "mailbox full");
    struct bounce_log_entry b = entry("b@example.net", "");
    b.orcpt = (char *)"";
    b.offset = 0;
    b.status = (char *)"4.2.2";
    b.action = (char *)"delayed";
    b.when = 5;
    assert_int_equal(bounce_log_append(f->path, &a, &f->why), 0);
    assert_int_equal(bounce_log_append(f->path, &b, &f->why), 0);

    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    struct bounce_log_entry got[2];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 2, &rcpts), 2);
    assert_string_equal(got[0].recipient, "a@example.net");
    assert_string_equal(got[0].orcpt, "orig@example.org");
    assert_int_equal(got[0].offset, 1234);
    assert_string_equal(got[0].status, "5.1.1");
    assert_string_equal(got[0].action, "failed");
    assert_int_equal(got[0].when, 1700000000);
    assert_string_equal(got[0].reason, "mailbox full");
    assert_string_equal(got[1].recipient, "b@example.net");
    assert_string_equal(got[1].orcpt, "");
    assert_int_equal(got[1].offset, 0);
    assert_string_equal(got[1].status, "4.2.2");
    assert_string_equal(got[1].action, "delayed");
    assert_int_equal(got[1].when, 5);
    assert_string_equal(got[1].reason, "");
    bounce_log_entry_free(&got[0]);
    bounce_log_entry_free(&got[1]);
    buf_free(&rcpts);
}

static void test_append_without_recipient_is_refused(void **state)
{
    struct fixture *f = *state;
    struct bounce_log_entry e = entry("", "x");
    assert_int_equal(bounce_log_append(f->path, &e, &f->why), -1);
    assert_int_equal(access(f->path, F_OK), -1);
}

static void test_append_does_not_follow_a_symlink(void **state)
{
    struct fixture *f = *state;
    char target[256];
    snprintf(target, sizeof(target), "%s/target", f->dir);
    write_file(target, "keep\n", 5);
    assert_int_equal(symlink(target, f->path), 0);
    struct bounce_log_entry e = entry("a@example.net", "x");
    assert_int_equal(bounce_log_append(f->path, &e, &f->why), -1);
    struct buf got = BUF_INIT;
    read_file(target, &got);
    assert_string_equal(got.data, "keep\n");
    buf_free(&got);
}

static void test_append_after_a_crash_drops_the_cut_short_entry(void **state)
{
    struct fixture *f = *state;
    /* one whole entry, then half of one (a crash during its write) */
    const char *damaged = "recipient=a@x\nstatus=5.0.0\n\nrecipient=half@x\nori";
    write_file(f->path, damaged, strlen(damaged));
    struct bounce_log_entry e = entry("b@x", "why");
    assert_int_equal(bounce_log_append(f->path, &e, &f->why), 0);

    struct bounce_log_entry got[2];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 2, &rcpts), 2);
    assert_string_equal(rcpts.data, "a@x,b@x");
    assert_string_equal(got[1].orcpt, "orig@example.org");
    assert_string_equal(got[1].reason, "why");
    bounce_log_entry_free(&got[0]);
    bounce_log_entry_free(&got[1]);

    /* a log that is nothing but a fragment is emptied first */
    write_file(f->path, "recipient=half", 14);
    assert_int_equal(bounce_log_append(f->path, &e, &f->why), 0);
    struct buf text = BUF_INIT, want = BUF_INIT;
    read_file(f->path, &text);
    bounce_log_format(&want, &e);
    assert_string_equal(text.data, want.data);
    buf_free(&text);
    buf_free(&want);
    buf_free(&rcpts);
}

static void test_damaged_tail_longer_than_a_block_is_found(void **state)
{
    struct fixture *f = *state;
    struct buf text = BUF_INIT;
    buf_puts(&text, "recipient=a@x\n\nrecipient=b@x\nreason=");
    for (int i = 0; i < 10000; i++)
        buf_putc(&text, 'r');
    write_file(f->path, text.data, text.len);
    struct bounce_log_entry e = entry("c@x", "why");
    assert_int_equal(bounce_log_append(f->path, &e, &f->why), 0);
    struct bounce_log_entry got[1];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 0, &rcpts), 2);
    assert_string_equal(rcpts.data, "a@x,c@x");
    buf_free(&text);
    buf_free(&rcpts);
}

static void test_missing_log_gives_enoent(void **state)
{
    struct fixture *f = *state;
    errno = 0;
    assert_null(bounce_log_open(f->path, &f->why));
    assert_int_equal(errno, ENOENT);
}

static void test_log_that_is_not_a_regular_file_is_refused(void **state)
{
    struct fixture *f = *state;
    assert_null(bounce_log_open(f->dir, &f->why));
    assert_int_equal(mkfifo(f->path, 0600), 0);
    assert_null(bounce_log_open(f->path, &f->why));
    struct bounce_log_entry e = entry("a@x", "");
    assert_int_equal(bounce_log_append(f->path, &e, &f->why), -1);
}

static void test_missing_fields_get_defaults(void **state)
{
    struct fixture *f = *state;
    const char *text = "recipient=only@x\n\n";
    write_file(f->path, text, strlen(text));
    struct bounce_log_entry got[1];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 1, &rcpts), 1);
    assert_string_equal(got[0].recipient, "only@x");
    assert_string_equal(got[0].orcpt, "");
    assert_int_equal(got[0].offset, -1);
    assert_string_equal(got[0].status, "");
    assert_string_equal(got[0].action, "");
    assert_int_equal(got[0].when, 0);
    assert_string_equal(got[0].reason, "");
    assert_string_equal(got[0].mta, "");
    assert_string_equal(got[0].diag, "");
    assert_int_equal(got[0].notify, 0);
    bounce_log_entry_free(&got[0]);
    buf_free(&rcpts);
}

static void test_dsn_fields_are_written_only_when_set_and_read_back(void **state)
{
    struct fixture *f = *state;
    struct buf out = BUF_INIT;
    struct bounce_log_entry a = entry("a@example.net", "host said no");
    a.mta = (char *)"mx1.example.net";
    a.diag = (char *)"smtp; 550 5.1.1 <a@example.net>: no\r\nsuch user";
    a.notify = 0x06; /* SUCCESS,FAILURE */
    bounce_log_format(&out, &a);
    assert_string_equal(out.data, "recipient=a@example.net\n"
                                  "orcpt=orig@example.org\n"
                                  "offset=1234\n"
                                  "status=5.1.1\n"
                                  "action=failed\n"
                                  "time=1700000000\n"
                                  "reason=host said no\n"
                                  "mta=mx1.example.net\n"
                                  "diag=smtp; 550 5.1.1 <a@example.net>: no  such user\n"
                                  "notify=6\n"
                                  "\n");
    /* empty strings and 0 leave the lines out: old-format entries */
    struct bounce_log_entry b = entry("b@example.net", "x");
    b.mta = (char *)"";
    b.diag = NULL;
    buf_reset(&out);
    bounce_log_format(&out, &b);
    assert_null(strstr(out.data, "mta="));
    assert_null(strstr(out.data, "diag="));
    assert_null(strstr(out.data, "notify="));

    assert_int_equal(bounce_log_append(f->path, &a, &f->why), 0);
    assert_int_equal(bounce_log_append(f->path, &b, &f->why), 0);
    struct bounce_log_entry got[2];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 2, &rcpts), 2);
    assert_string_equal(got[0].mta, "mx1.example.net");
    assert_string_equal(got[0].diag, "smtp; 550 5.1.1 <a@example.net>: no  such user");
    assert_int_equal(got[0].notify, 6);
    assert_string_equal(got[1].mta, "");
    assert_string_equal(got[1].diag, "");
    assert_int_equal(got[1].notify, 0);
    bounce_log_entry_free(&got[0]);
    bounce_log_entry_free(&got[1]);
    buf_free(&rcpts);
    buf_free(&out);
}

static void test_bad_notify_values_read_as_not_given(void **state)
{
    struct fixture *f = *state;
    const char *text = "recipient=a@x\nnotify=16\n\n"
                       "recipient=b@x\nnotify=-1\n\n"
                       "recipient=c@x\nnotify=4x\n\n"
                       "recipient=d@x\nnotify=8\nmta=\n\n";
    write_file(f->path, text, strlen(text));
    struct bounce_log_entry got[4];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 4, &rcpts), 4);
    assert_int_equal(got[0].notify, 0);
    assert_int_equal(got[1].notify, 0);
    assert_int_equal(got[2].notify, 0);
    assert_int_equal(got[3].notify, 8);
    assert_string_equal(got[3].mta, "");
    for (int i = 0; i < 4; i++)
        bounce_log_entry_free(&got[i]);
    buf_free(&rcpts);
}

static void test_entry_without_recipient_is_skipped(void **state)
{
    struct fixture *f = *state;
    const char *text = "status=5.0.0\nreason=who?\n\nrecipient=\nreason=empty\n\n"
                       "recipient=b@x\n\n";
    write_file(f->path, text, strlen(text));
    struct bounce_log_entry got[2];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 2, &rcpts), 1);
    assert_string_equal(rcpts.data, "b@x");
    /* the skipped entries' fields do not leak into the next one */
    assert_string_equal(got[0].reason, "");
    bounce_log_entry_free(&got[0]);
    buf_free(&rcpts);
}

static void test_cut_short_last_entry_is_absent(void **state)
{
    struct fixture *f = *state;
    struct buf rcpts = BUF_INIT;
    struct bounce_log_entry got[1];
    /* no empty line after the last entry */
    const char *a = "recipient=a@x\n\nrecipient=b@x\nreason=r\n";
    write_file(f->path, a, strlen(a));
    assert_int_equal(read_all(f->path, got, 0, &rcpts), 1);
    assert_string_equal(rcpts.data, "a@x");
    /* the last line has no LF */
    const char *b = "recipient=a@x\n\nrecipient=b@x";
    write_file(f->path, b, strlen(b));
    assert_int_equal(read_all(f->path, got, 0, &rcpts), 1);
    assert_string_equal(rcpts.data, "a@x");
    /* an entry whose closing empty line has no LF... is a last line without LF */
    const char *c = "recipient=a@x\n";
    write_file(f->path, c, strlen(c));
    assert_int_equal(read_all(f->path, got, 0, &rcpts), 0);
    buf_free(&rcpts);
}

static void test_long_lines_are_cut_at_the_bound(void **state)
{
    struct fixture *f = *state;
    struct buf text = BUF_INIT;
    buf_puts(&text, "recipient=a@x\nreason=");
    for (int i = 0; i < 3 * BOUNCE_LOG_LINE_MAX; i++)
        buf_putc(&text, 'r');
    buf_puts(&text, "\nstatus=5.1.1\n\n");
    write_file(f->path, text.data, text.len);
    struct bounce_log_entry got[1];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 1, &rcpts), 1);
    assert_int_equal(strlen(got[0].reason), BOUNCE_LOG_LINE_MAX - strlen("reason="));
    assert_string_equal(got[0].status, "5.1.1");
    bounce_log_entry_free(&got[0]);

    /* a long last line that the file ends inside: the entry is cut short */
    buf_reset(&text);
    buf_puts(&text, "recipient=a@x\n\nrecipient=b@x\nreason=");
    for (int i = 0; i < 2 * BOUNCE_LOG_LINE_MAX; i++)
        buf_putc(&text, 'r');
    write_file(f->path, text.data, text.len);
    assert_int_equal(read_all(f->path, got, 0, &rcpts), 1);
    assert_string_equal(rcpts.data, "a@x");
    buf_free(&text);
    buf_free(&rcpts);
}

static void test_writer_cuts_values_so_the_reader_gets_them_whole(void **state)
{
    struct fixture *f = *state;
    char *reason = malloc(2 * BOUNCE_LOG_LINE_MAX + 1);
    memset(reason, 'z', 2 * BOUNCE_LOG_LINE_MAX);
    reason[2 * BOUNCE_LOG_LINE_MAX] = '\0';
    struct bounce_log_entry e = entry("a@x", reason);
    assert_int_equal(bounce_log_append(f->path, &e, &f->why), 0);
    struct bounce_log_entry got[1];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 1, &rcpts), 1);
    size_t want = BOUNCE_LOG_LINE_MAX - strlen("reason=");
    assert_int_equal(strlen(got[0].reason), want);
    assert_memory_equal(got[0].reason, reason, want);
    assert_string_equal(got[0].status, "5.1.1");
    bounce_log_entry_free(&got[0]);
    free(reason);
    buf_free(&rcpts);
}

static void test_nul_and_cr_become_spaces(void **state)
{
    struct fixture *f = *state;
    const char text[] = "recipient=a\0b@x\r\nreason=one\rtwo\0\n\n";
    write_file(f->path, text, sizeof(text) - 1);
    struct bounce_log_entry got[1];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 1, &rcpts), 1);
    assert_string_equal(got[0].recipient, "a b@x ");
    assert_string_equal(got[0].reason, "one two ");
    bounce_log_entry_free(&got[0]);
    buf_free(&rcpts);
}

static void test_unknown_fields_and_garbage_lines_are_ignored(void **state)
{
    struct fixture *f = *state;
    const char *text = "\n\n\nrecipient=a@x\nfuture=field\nno equals sign here\n=\n"
                       "status=5.2.2\nrecipient=last@x\noffset=abc\ntime=-5\n\n\n\n";
    write_file(f->path, text, strlen(text));
    struct bounce_log_entry got[1];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 1, &rcpts), 1);
    /* a repeated field: the last one counts */
    assert_string_equal(got[0].recipient, "last@x");
    assert_string_equal(got[0].status, "5.2.2");
    assert_int_equal(got[0].offset, -1);
    assert_int_equal(got[0].when, 0);
    bounce_log_entry_free(&got[0]);
    buf_free(&rcpts);
}

static void test_binary_garbage_gives_no_entries(void **state)
{
    struct fixture *f = *state;
    unsigned char junk[5000];
    unsigned int x = 12345;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
        if (junk[i] == '\n')
            junk[i] = 'n'; /* no line structure at all */
    }
    write_file(f->path, junk, sizeof(junk));
    struct bounce_log_entry got[1];
    struct buf rcpts = BUF_INIT;
    assert_int_equal(read_all(f->path, got, 0, &rcpts), 0);
    write_file(f->path, "", 0);
    assert_int_equal(read_all(f->path, got, 0, &rcpts), 0);
    buf_free(&rcpts);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_format_is_one_line_per_field_and_a_blank_line),
        T(test_append_and_read_round_trip),
        T(test_append_without_recipient_is_refused),
        T(test_append_does_not_follow_a_symlink),
        T(test_append_after_a_crash_drops_the_cut_short_entry),
        T(test_damaged_tail_longer_than_a_block_is_found),
        T(test_missing_log_gives_enoent),
        T(test_log_that_is_not_a_regular_file_is_refused),
        T(test_missing_fields_get_defaults),
        T(test_dsn_fields_are_written_only_when_set_and_read_back),
        T(test_bad_notify_values_read_as_not_given),
        T(test_entry_without_recipient_is_skipped),
        T(test_cut_short_last_entry_is_absent),
        T(test_long_lines_are_cut_at_the_bound),
        T(test_writer_cuts_values_so_the_reader_gets_them_whole),
        T(test_nul_and_cr_become_spaces),
        T(test_unknown_fields_and_garbage_lines_are_ignored),
        T(test_binary_garbage_gives_no_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
