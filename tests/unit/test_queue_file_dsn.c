/* test_queue_file_dsn - the DSN records of queue files: QF_NOTIFY (order
 * and payload rules, for the writer and for hand-made hostile files),
 * QF_WARN (one fixed-width time before the first recipient) and its update
 * in place by qf_update_warn. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/queue_file.h"
#include "mail/smtp_cmd.h"

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
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_qfdsn.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/file", f->dir);
    buf_init(&f->why);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    buf_free(&f->why);
    free(f);
    return 0;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    unsigned char *p = malloc((size_t)st.st_size + 1);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, p, (size_t)st.st_size), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return p;
}

static void add_str(struct buf *b, int type, const char *s)
{
    size_t len = strlen(s);
    unsigned char hdr[5] = {(unsigned char)type, (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                            (unsigned char)len};
    buf_append(b, hdr, 5);
    buf_append(b, s, len);
}

/* A hand-made file: magic, the records in spec ("T:payload" pairs, type
 * letter first), end. */
static void make_file(const char *path, const char *const *spec)
{
    struct buf b = BUF_INIT;
    add_str(&b, QF_MAGIC, QF_MAGIC_TEXT);
    for (size_t i = 0; spec[i]; i++)
        add_str(&b, spec[i][0], spec[i] + 2);
    add_str(&b, QF_END, "");
    write_bytes(path, b.data, b.len);
    buf_free(&b);
}

static void assert_refused(const char *path, const char *reason)
{
    struct buf why = BUF_INIT;
    if (qf_validate(path, &why) != -1)
        fail_msg("%s was accepted; expected refusal for \"%s\"", path, reason);
    if (strstr(why.data, reason) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", why.data, reason);
    assert_int_equal(errno, EBADMSG);
    buf_free(&why);
}

static struct qf_writer *start(struct fixture *f, char *id)
{
    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_TIME, "1700000000.000001"), 0);
    assert_int_equal(qf_put_str(w, QF_SENDER, "alice@example.org"), 0);
    return w;
}

/* Commit must fail and mention reason. */
static void assert_commit_fails(struct qf_writer *w, struct fixture *f, const char *reason)
{
    assert_int_equal(qf_commit(w, NULL, &f->why), -1);
    if (strstr(f->why.data, reason) == NULL)
        fail_msg("commit failure \"%s\" does not mention \"%s\"", f->why.data, reason);
}

/* ---- round trip --------------------------------------------------------- */

static void test_notify_and_warn_round_trip_in_order(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1], path[256], warn[QF_WARN_LEN + 1];
    struct qf_writer *w = start(f, id);
    qf_warn_format(1700003600, warn);
    assert_string_equal(warn, "00000000001700003600");
    assert_int_equal(qf_put_str(w, QF_WARN, warn), 0);
    assert_int_equal(qf_put_str(w, QF_ORCPT, "rfc822;x@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_NOTIFY, "6"), 0);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_NOTIFY, "1"), 0);
    assert_int_equal(qf_put_str(w, QF_DONE, "v@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_RCPT, "w@example.org"), 0);
    assert_int_equal(qf_put_content(w, "Subject: x\n\nb\n", 14), 0);
    assert_int_equal(qf_commit(w, NULL, &f->why), 0);
    snprintf(path, sizeof(path), "%s/%s", f->dir, id);

    static const int types[] = {QF_TIME, QF_SENDER, QF_WARN, QF_ORCPT, QF_NOTIFY,
                                QF_RCPT, QF_NOTIFY, QF_DONE, QF_RCPT,  QF_CONTENT};
    struct qf_reader *r = qf_open(path, 0, &f->why);
    assert_non_null(r);
    struct buf data = BUF_INIT;
    int type, n = 0;
    off_t off;
    while (qf_read(r, &type, &data, &off, &f->why) > 0) {
        assert_true(n < 10);
        assert_int_equal(type, types[n]);
        if (type == QF_NOTIFY) {
            int v = 0;
            assert_int_equal(qf_notify_parse(data.data, data.len, &v), 0);
            assert_int_equal(v, n == 4 ? (SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE)
                                       : SMTP_NOTIFY_NEVER);
        }
        if (type == QF_WARN) {
            long long when = 0;
            assert_int_equal(qf_warn_parse(data.data, data.len, &when), 0);
            assert_int_equal(when, 1700003600);
        }
        n++;
    }
    assert_int_equal(n, 10);
    buf_free(&data);
    qf_close(r);
}

/* ---- the writer's rules ------------------------------------------------- */

static void test_writer_requires_recipient_after_notify(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1];

    struct qf_writer *w = start(f, id);
    assert_int_equal(qf_put_str(w, QF_NOTIFY, "2"), 0);
    assert_int_equal(qf_put_str(w, QF_ATTR, "a=b"), -1);
    assert_commit_fails(w, f, "notify record not followed by a recipient");

    /* ORCPT after NOTIFY is the wrong order */
    w = start(f, id);
    assert_int_equal(qf_put_str(w, QF_NOTIFY, "2"), 0);
    assert_int_equal(qf_put_str(w, QF_ORCPT, "rfc822;x@example.org"), -1);
    assert_commit_fails(w, f, "notify record not followed by a recipient");

    /* a dangling NOTIFY at the end */
    w = start(f, id);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_NOTIFY, "2"), 0);
    assert_commit_fails(w, f, "notify record not followed by a recipient");
}

static void test_writer_refuses_bad_notify_payloads(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {"", "0", "16", "01", "99", "100", "a", "2 ", "-1", NULL};
    char id[QUEUE_ID_LEN + 1];

    for (size_t i = 0; bad[i]; i++) {
        struct qf_writer *w = start(f, id);
        if (qf_put_str(w, QF_NOTIFY, bad[i]) != -1)
            fail_msg("notify payload \"%s\" was accepted", bad[i]);
        assert_commit_fails(w, f, "notify record is not a number");
    }
    for (int v = 1; v <= QF_NOTIFY_MAX; v++) {
        char num[4];
        snprintf(num, sizeof(num), "%d", v);
        struct qf_writer *w = start(f, id);
        assert_int_equal(qf_put_str(w, QF_NOTIFY, num), 0);
        assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
        assert_int_equal(qf_commit(w, NULL, &f->why), 0);
    }
}

static void test_writer_allows_one_warn_before_the_first_recipient(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1], warn[QF_WARN_LEN + 1];
    qf_warn_format(5, warn);

    struct qf_writer *w = start(f, id);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_WARN, warn), -1);
    assert_commit_fails(w, f, "after a recipient");

    w = start(f, id);
    assert_int_equal(qf_put_str(w, QF_WARN, warn), 0);
    assert_int_equal(qf_put_str(w, QF_WARN, warn), -1);
    assert_commit_fails(w, f, "warning time repeated");

    static const char *const bad[] = {"5",
                                      "0000000000000000005",
                                      "000000000000000000005",
                                      "0000000000000000000x",
                                      "-0000000000000000005",
                                      NULL};
    for (size_t i = 0; bad[i]; i++) {
        w = start(f, id);
        if (qf_put_str(w, QF_WARN, bad[i]) != -1)
            fail_msg("warn payload \"%s\" was accepted", bad[i]);
        assert_commit_fails(w, f, "warning time is not 20 digits");
    }
}

/* ---- the reader's rules (hostile files) --------------------------------- */

static void test_reader_refuses_notify_out_of_place(void **state)
{
    struct fixture *f = *state;
    static const char *const before_orcpt[] = {"S:a@x", "N:2", "O:rfc822;b@x", "R:b@x", NULL};
    make_file(f->path, before_orcpt);
    assert_refused(f->path, "notify record is followed by record 'O'");

    static const char *const before_content[] = {"S:a@x", "N:2", "C:body", NULL};
    make_file(f->path, before_content);
    assert_refused(f->path, "notify record is followed by record 'C'");

    static const char *const twice[] = {"S:a@x", "N:2", "N:4", "R:b@x", NULL};
    make_file(f->path, twice);
    assert_refused(f->path, "notify record is followed by record 'N'");

    static const char *const at_end[] = {"S:a@x", "R:b@x", "N:2", NULL};
    make_file(f->path, at_end);
    assert_refused(f->path, "notify record is followed by record 'E'");

    static const char *const good[] = {"S:a@x", "O:rfc822;c@x", "N:14", "R:b@x",
                                       "N:1",   "D:c@x",        NULL};
    make_file(f->path, good);
    assert_int_equal(qf_validate(f->path, &f->why), 0);
}

static void test_reader_refuses_bad_notify_payloads(void **state)
{
    struct fixture *f = *state;
    static const char *const bad[] = {"N:", "N:0", "N:16", "N:07", "N:x", "N:1,2", NULL};
    for (size_t i = 0; bad[i]; i++) {
        const char *spec[] = {"S:a@x", bad[i], "R:b@x", NULL};
        make_file(f->path, spec);
        assert_refused(f->path, "notify record at offset");
    }
}

static void test_reader_refuses_warn_out_of_place_or_malformed(void **state)
{
    struct fixture *f = *state;
    static const char *const after_rcpt[] = {"S:a@x", "R:b@x", "W:00000000000000000005", NULL};
    make_file(f->path, after_rcpt);
    assert_refused(f->path, "after a recipient");

    static const char *const after_done[] = {"S:a@x", "D:b@x", "W:00000000000000000005", NULL};
    make_file(f->path, after_done);
    assert_refused(f->path, "after a recipient");

    static const char *const twice[] = {"W:00000000000000000005", "W:00000000000000000005", "R:b@x",
                                        NULL};
    make_file(f->path, twice);
    assert_refused(f->path, "repeated");

    static const char *const bad[] = {"W:5", "W:0000000000000000000x", "W:000000000000000000005",
                                      "W:", NULL};
    for (size_t i = 0; bad[i]; i++) {
        const char *spec[] = {"S:a@x", bad[i], "R:b@x", NULL};
        make_file(f->path, spec);
        assert_refused(f->path, "is not 20 digits");
    }
}

static void test_warn_parse_refuses_overflow(void **state)
{
    (void)state;
    long long when = 42;
    assert_int_equal(qf_warn_parse("99999999999999999999", 20, &when), -1);
    assert_int_equal(when, 42);
    char text[QF_WARN_LEN + 1];
    qf_warn_format(LLONG_MAX, text);
    assert_int_equal(qf_warn_parse(text, strlen(text), &when), 0);
    assert_true(when == LLONG_MAX);
    qf_warn_format(-7, text);
    assert_string_equal(text, "00000000000000000000");
    int v = 0;
    assert_int_equal(qf_notify_parse("15", 2, &v), 0);
    assert_int_equal(v, 15);
    assert_int_equal(qf_notify_parse("1", 0, &v), -1);
}

/* ---- qf_update_warn ------------------------------------------------------ */

/* A committed file with a warn time; its path and the W record offset. */
static off_t make_warn_file(struct fixture *f, char *path, size_t len)
{
    char id[QUEUE_ID_LEN + 1], warn[QF_WARN_LEN + 1];
    struct qf_writer *w = start(f, id);
    qf_warn_format(1700000300, warn);
    assert_int_equal(qf_put_str(w, QF_WARN, warn), 0);
    assert_int_equal(qf_put_str(w, QF_NOTIFY, "8"), 0);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_put_content(w, "Subject: x\n\nb\n", 14), 0);
    assert_int_equal(qf_commit(w, NULL, &f->why), 0);
    snprintf(path, len, "%s/%s", f->dir, id);

    struct qf_reader *r = qf_open(path, 0, &f->why);
    struct buf data = BUF_INIT;
    int type;
    off_t off, warn_off = -1;
    while (qf_read(r, &type, &data, &off, &f->why) > 0)
        if (type == QF_WARN)
            warn_off = off;
    assert_true(warn_off > 0);
    buf_free(&data);
    qf_close(r);
    return warn_off;
}

static void test_update_warn_rewrites_only_the_payload(void **state)
{
    struct fixture *f = *state;
    char path[256];
    off_t woff = make_warn_file(f, path, sizeof(path));
    size_t n1, n2;
    unsigned char *before = read_bytes(path, &n1);

    struct qf_reader *r = qf_open(path, 1, &f->why);
    assert_non_null(r);
    assert_int_equal(qf_update_warn(r, woff, 0, &f->why), 0);
    qf_close(r);

    unsigned char *after = read_bytes(path, &n2);
    assert_int_equal(n1, n2);
    for (size_t i = 0; i < n1; i++) {
        size_t start = (size_t)woff + 5;
        if (i >= start && i < start + QF_WARN_LEN)
            assert_int_equal(after[i], '0');
        else if (before[i] != after[i])
            fail_msg("byte %zu changed outside the warn payload", i);
    }
    free(before);
    free(after);
    assert_int_equal(qf_validate(path, &f->why), 0);
}

static void test_update_warn_is_seen_by_the_same_reader(void **state)
{
    struct fixture *f = *state;
    char path[256];
    off_t woff = make_warn_file(f, path, sizeof(path));

    struct qf_reader *r = qf_open(path, 1, &f->why);
    struct buf data = BUF_INIT;
    int type;
    off_t off;
    /* the record is in the reader's buffer already */
    assert_int_equal(qf_read(r, &type, &data, &off, &f->why), 1);
    assert_int_equal(qf_update_warn(r, woff, 1234567890123LL, &f->why), 0);
    long long when = 0;
    while (qf_read(r, &type, &data, &off, &f->why) > 0)
        if (type == QF_WARN)
            assert_int_equal(qf_warn_parse(data.data, data.len, &when), 0);
    assert_true(when == 1234567890123LL);
    buf_free(&data);
    qf_close(r);
}

static void test_update_warn_refuses_other_records(void **state)
{
    struct fixture *f = *state;
    char path[256];
    off_t woff = make_warn_file(f, path, sizeof(path));
    size_t n1, n2;
    unsigned char *before = read_bytes(path, &n1);

    struct qf_reader *r = qf_open(path, 1, &f->why);
    /* the magic record, the payload of W, the NOTIFY and RCPT records after
     * it, and beyond the end of the file */
    const off_t bad[] = {0,
                         woff + 5,
                         woff + 5 + QF_WARN_LEN,
                         woff + 5 + QF_WARN_LEN + 6,
                         (off_t)n1 - 5,
                         (off_t)n1 + 100};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (qf_update_warn(r, bad[i], 0, &f->why) != -1)
            fail_msg("update at offset %lld was accepted", (long long)bad[i]);
        assert_non_null(strstr(f->why.data, "not a warning time record"));
    }
    qf_close(r);
    unsigned char *after = read_bytes(path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);

    /* a read-only reader cannot write */
    r = qf_open(path, 0, &f->why);
    assert_int_equal(qf_update_warn(r, woff, 0, &f->why), -1);
    qf_close(r);
}

static void test_text_types_include_dsn_records(void **state)
{
    (void)state;
    assert_int_equal(qf_is_text_type(QF_NOTIFY), 1);
    assert_int_equal(qf_is_text_type(QF_WARN), 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_notify_and_warn_round_trip_in_order),
        T(test_writer_requires_recipient_after_notify),
        T(test_writer_refuses_bad_notify_payloads),
        T(test_writer_allows_one_warn_before_the_first_recipient),
        T(test_reader_refuses_notify_out_of_place),
        T(test_reader_refuses_bad_notify_payloads),
        T(test_reader_refuses_warn_out_of_place_or_malformed),
        T(test_warn_parse_refuses_overflow),
        T(test_update_warn_rewrites_only_the_payload),
        T(test_update_warn_is_seen_by_the_same_reader),
        T(test_update_warn_refuses_other_records),
        T(test_text_types_include_dsn_records),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
