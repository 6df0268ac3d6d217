/* test_queue_file - queue files: round trips, the commit protocol, every way a
 * damaged or hostile file must be refused, and done marks written in place. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mail/queue_file.h"

/* ---- helpers ------------------------------------------------------------ */

struct rec {
    int type;
    off_t off;
    struct buf data;
};

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
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_qf.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/file", f->dir);
    buf_init(&f->why);
    *state = f;
    return 0;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (e->d_type == DT_DIR)
            remove_tree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    remove_tree(f->dir);
    buf_free(&f->why);
    free(f);
    return 0;
}

/* Names in dir other than . and .., counted. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
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

/* Hand-made records, for files no writer would produce. */
static void add_rec(struct buf *b, int type, const void *p, uint32_t len, size_t real_len)
{
    unsigned char hdr[5] = {(unsigned char)type, (unsigned char)(len >> 24),
                            (unsigned char)(len >> 16), (unsigned char)(len >> 8),
                            (unsigned char)len};
    buf_append(b, hdr, 5);
    buf_append(b, p, real_len);
}

static void add_magic(struct buf *b)
{
    add_rec(b, QF_MAGIC, QF_MAGIC_TEXT, 8, 8);
}

static void add_str(struct buf *b, int type, const char *s)
{
    add_rec(b, type, s, (uint32_t)strlen(s), strlen(s));
}

static void add_end(struct buf *b)
{
    add_rec(b, QF_END, "", 0, 0);
}

/* Read every record of path; returns the count, -1 if the file is refused. */
static int read_records(const char *path, struct rec *out, int max, struct buf *why)
{
    struct qf_reader *r = qf_open(path, 0, why);
    if (r == NULL)
        return -1;
    int n = 0, ret, type;
    off_t off;
    struct buf data = BUF_INIT;
    while ((ret = qf_read(r, &type, &data, &off, why)) > 0) {
        assert_true(n < max);
        out[n].type = type;
        out[n].off = off;
        buf_init(&out[n].data);
        buf_append(&out[n].data, data.data, data.len);
        n++;
    }
    buf_free(&data);
    qf_close(r);
    return ret < 0 ? -1 : n;
}

static void free_records(struct rec *r, int n)
{
    for (int i = 0; i < n; i++)
        buf_free(&r[i].data);
}

/* Commit a small message with three recipients; its path into path. */
static void make_sample(struct fixture *f, char *path, size_t len)
{
    char id[QUEUE_ID_LEN + 1];
    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_TIME, "1700000000.123456"), 0);
    assert_int_equal(qf_put_str(w, QF_SENDER, "alice@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_RCPT, "bob@example.net"), 0);
    assert_int_equal(qf_put_str(w, QF_ORCPT, "rfc822;carol@example.com"), 0);
    assert_int_equal(qf_put_str(w, QF_RCPT, "carol@example.net"), 0);
    assert_int_equal(qf_put_str(w, QF_RCPT, "dave@example.net"), 0);
    assert_int_equal(qf_put_content(w, "Subject: hi\n\nbody\n", 18), 0);
    assert_int_equal(qf_commit(w, NULL, &f->why), 0);
    snprintf(path, len, "%s/%s", f->dir, id);
}

static void assert_refused(const char *path, const char *reason)
{
    struct buf why = BUF_INIT;
    errno = 0;
    if (qf_validate(path, &why) != -1)
        fail_msg("%s was accepted; expected refusal for \"%s\"", path, reason);
    if (strstr(why.data, reason) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", why.data, reason);
    buf_free(&why);
}

/* ---- writer and round trip ---------------------------------------------- */

static void test_every_record_type_round_trips(void **state)
{
    struct fixture *f = *state;
    static const char content[] = "Subject: x\n\nNUL\0 and CR\r bytes\n";
    char id[QUEUE_ID_LEN + 1], path[256];
    struct rec r[16];

    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_TIME, "1700000000.000001"), 0);
    assert_int_equal(qf_put_str(w, QF_SIZE, "31"), 0);
    assert_int_equal(qf_put_str(w, QF_ATTR, "client=mx.example.org[192.0.2.1]"), 0);
    assert_int_equal(qf_put_str(w, QF_SENDER, ""), 0);
    assert_int_equal(qf_put_str(w, QF_ORCPT, "rfc822;u@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_DONE, "v@example.org"), 0);
    assert_int_equal(qf_put(w, QF_CONTENT, content, sizeof(content) - 1), 0);
    assert_int_equal(qf_commit(w, NULL, &f->why), 0);
    snprintf(path, sizeof(path), "%s/%s", f->dir, id);

    int n = read_records(path, r, 16, &f->why);
    assert_int_equal(n, 8);
    static const int types[] = {QF_TIME,  QF_SIZE, QF_ATTR, QF_SENDER,
                                QF_ORCPT, QF_RCPT, QF_DONE, QF_CONTENT};
    static const char *texts[] = {"1700000000.000001",
                                  "31",
                                  "client=mx.example.org[192.0.2.1]",
                                  "",
                                  "rfc822;u@example.org",
                                  "u@example.org",
                                  "v@example.org"};
    off_t expect_off = 5 + 8;
    for (int i = 0; i < 8; i++) {
        assert_int_equal(r[i].type, types[i]);
        assert_int_equal(r[i].off, expect_off);
        assert_non_null(r[i].data.data);
        if (i < 7)
            assert_string_equal(r[i].data.data, texts[i]);
        expect_off += 5 + (off_t)r[i].data.len;
    }
    assert_int_equal(r[7].data.len, sizeof(content) - 1);
    assert_memory_equal(r[7].data.data, content, sizeof(content) - 1);

    /* the end record is the last 5 bytes of the file */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, expect_off + 5);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(qf_validate(path, &f->why), 0);
    free_records(r, n);
}

static void test_one_megabyte_content_is_split_into_chunks(void **state)
{
    struct fixture *f = *state;
    size_t size = (1u << 20) + 1000;
    unsigned char *msg = malloc(size);
    char id[QUEUE_ID_LEN + 1], path[256];

    for (size_t i = 0; i < size; i++)
        msg[i] = (unsigned char)(i * 2654435761u >> 13);
    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    /* in pieces that do not line up with the chunk size */
    assert_int_equal(qf_put_content(w, msg, 70000), 0);
    assert_int_equal(qf_put_content(w, msg + 70000, size - 70000), 0);
    assert_int_equal(qf_commit(w, NULL, &f->why), 0);
    snprintf(path, sizeof(path), "%s/%s", f->dir, id);

    struct qf_reader *r = qf_open(path, 0, &f->why);
    assert_non_null(r);
    struct buf data = BUF_INIT, all = BUF_INIT;
    int type, ret, chunks = 0;
    off_t off;
    assert_int_equal(qf_read(r, &type, &data, &off, &f->why), 1);
    assert_int_equal(type, QF_RCPT);
    while ((ret = qf_read(r, &type, &data, &off, &f->why)) > 0) {
        assert_int_equal(type, QF_CONTENT);
        assert_true(data.len > 0 && data.len <= QF_CONTENT_CHUNK);
        buf_append(&all, data.data, data.len);
        chunks++;
    }
    assert_int_equal(ret, 0);
    assert_int_equal(type, QF_END);
    /* 65536 + 4464 for the first piece, then full chunks and a remainder */
    assert_int_equal(chunks, 2 + (int)((size - 70000 + QF_CONTENT_CHUNK - 1) / QF_CONTENT_CHUNK));
    assert_int_equal(chunks, 17);
    assert_int_equal(all.len, size);
    assert_memory_equal(all.data, msg, size);
    qf_close(r);
    buf_free(&data);
    buf_free(&all);
    free(msg);
}

static void test_committed_file_is_named_by_its_queue_id(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1], path[256];
    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(queue_id_valid(id), 1);

    /* while being written it has a name no scanner takes for a message */
    const char *tmp = qf_writer_path(w);
    const char *base = strrchr(tmp, '/') + 1;
    char expect[64];
    snprintf(expect, sizeof(expect), ".%s.tmp", id);
    assert_string_equal(base, expect);
    assert_int_equal(queue_id_valid(base), 0);
    assert_int_equal(access(tmp, F_OK), 0);

    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_commit(w, NULL, &f->why), 0);
    snprintf(path, sizeof(path), "%s/%s", f->dir, id);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(count_entries(f->dir), 1);
}

static void test_abort_leaves_no_file(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1];
    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_put_content(w, "x\n", 2), 0);
    assert_int_equal(count_entries(f->dir), 1);
    qf_abort(w);
    assert_int_equal(count_entries(f->dir), 0);
}

static void test_commit_into_another_directory(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1], src[128], dst[128], path[256];
    snprintf(src, sizeof(src), "%s/maildrop", f->dir);
    snprintf(dst, sizeof(dst), "%s/incoming", f->dir);
    assert_int_equal(mkdir(src, 0700), 0);
    assert_int_equal(mkdir(dst, 0700), 0);

    struct qf_writer *w = qf_create(src, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_commit(w, dst, &f->why), 0);
    assert_int_equal(count_entries(src), 0);
    assert_int_equal(count_entries(dst), 1);
    snprintf(path, sizeof(path), "%s/%s", dst, id);
    assert_int_equal(qf_validate(path, &f->why), 0);
}

static void test_commit_failure_names_the_path_and_removes_the_file(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1], missing[128];
    snprintf(missing, sizeof(missing), "%s/no-such-dir", f->dir);
    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    assert_int_equal(qf_commit(w, missing, &f->why), -1);
    assert_non_null(strstr(f->why.data, "rename"));
    assert_non_null(strstr(f->why.data, missing));
    assert_non_null(strstr(f->why.data, "No such file or directory"));
    assert_int_equal(count_entries(f->dir), 0);
}

static void test_commit_never_replaces_an_existing_queue_file(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1], path[256];
    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_RCPT, "u@example.org"), 0);
    /* another message already holds this ID (clock stepped back, pid reused) */
    snprintf(path, sizeof(path), "%s/%s", f->dir, id);
    write_bytes(path, "older", 5);
    assert_int_equal(qf_commit(w, NULL, &f->why), -1);
    assert_non_null(strstr(f->why.data, "File exists"));
    size_t n;
    unsigned char *p = read_bytes(path, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "older", 5);
    free(p);
    assert_int_equal(count_entries(f->dir), 1);
}

static void test_create_in_missing_directory_fails_with_reason(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1], missing[128];
    snprintf(missing, sizeof(missing), "%s/absent", f->dir);
    assert_null(qf_create(missing, 0600, id, &f->why));
    assert_non_null(strstr(f->why.data, "create"));
    assert_non_null(strstr(f->why.data, missing));
    assert_non_null(strstr(f->why.data, "No such file or directory"));
}

static void test_writer_rejects_cr_lf_nul_in_text_records(void **state)
{
    struct fixture *f = *state;
    static const struct {
        int type;
        const char *p;
        size_t n;
    } bad[] = {
        {QF_RCPT, "a\rb", 3}, {QF_RCPT, "a\nb", 3}, {QF_SENDER, "a\0b", 3},
        {QF_ATTR, "x=\n", 3}, {QF_ORCPT, "\r", 1},  {QF_TIME, "1\0", 2},
    };
    char id[QUEUE_ID_LEN + 1];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
        assert_non_null(w);
        assert_int_equal(qf_put_str(w, QF_SENDER, "s@example.org"), 0);
        assert_int_equal(qf_put(w, bad[i].type, bad[i].p, bad[i].n), -1);
        /* the failure sticks: nothing more is accepted, the commit fails */
        assert_int_equal(qf_put_str(w, QF_RCPT, "ok@example.org"), -1);
        assert_int_equal(qf_commit(w, NULL, &f->why), -1);
        assert_non_null(strstr(f->why.data, "contains NUL, CR or LF"));
        assert_int_equal(count_entries(f->dir), 0);
    }
}

static void test_writer_rejects_reserved_unknown_and_oversized_records(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1];
    static const int bad_types[] = {QF_MAGIC, QF_END, 'X', 0, -1, 256 + QF_RCPT};
    for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
        struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
        assert_non_null(w);
        assert_int_equal(qf_put(w, bad_types[i], "", 0), -1);
        assert_int_equal(qf_commit(w, NULL, &f->why), -1);
        assert_non_null(strstr(f->why.data, "may not be added"));
    }
    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    char *big = calloc(1, QF_RECORD_MAX + 1);
    assert_int_equal(qf_put(w, QF_CONTENT, big, QF_RECORD_MAX + 1), -1);
    free(big);
    assert_int_equal(qf_commit(w, NULL, &f->why), -1);
    assert_non_null(strstr(f->why.data, "exceeds the limit"));
    assert_int_equal(count_entries(f->dir), 0);
}

static void test_writer_requires_recipient_after_original_recipient(void **state)
{
    struct fixture *f = *state;
    char id[QUEUE_ID_LEN + 1];

    struct qf_writer *w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_ORCPT, "rfc822;a@example.org"), 0);
    assert_int_equal(qf_put_str(w, QF_SENDER, "s@example.org"), -1);
    assert_int_equal(qf_commit(w, NULL, &f->why), -1);
    assert_non_null(strstr(f->why.data, "original recipient"));

    w = qf_create(f->dir, 0600, id, &f->why);
    assert_non_null(w);
    assert_int_equal(qf_put_str(w, QF_ORCPT, "rfc822;a@example.org"), 0);
    assert_int_equal(qf_commit(w, NULL, &f->why), -1);
    assert_non_null(strstr(f->why.data, "original recipient"));
    assert_int_equal(count_entries(f->dir), 0);
}

/* ---- damaged and hostile files ------------------------------------------ */

static void test_every_truncation_of_a_valid_file_is_rejected(void **state)
{
    struct fixture *f = *state;
    char path[256];
    size_t n;
    make_sample(f, path, sizeof(path));
    unsigned char *all = read_bytes(path, &n);
    assert_int_equal(qf_validate(path, &f->why), 0);
    assert_true(n > 100);

    /* A half-written file is never a message, wherever the writer stopped. */
    for (size_t len = 0; len < n; len++) {
        write_bytes(f->path, all, len);
        f->why.len = 0;
        errno = 0;
        if (qf_validate(f->path, &f->why) != -1)
            fail_msg("file truncated to %zu of %zu bytes was accepted", len, n);
        assert_int_equal(errno, EBADMSG);
        assert_true(f->why.len > 0);
    }
    write_bytes(f->path, all, n);
    assert_int_equal(qf_validate(f->path, &f->why), 0);
    free(all);
}

static void test_missing_end_record_is_premature_end_of_file(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    add_magic(&b);
    add_str(&b, QF_RCPT, "u@example.org");
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "premature end of file");
    buf_free(&b);
}

static void test_trailing_bytes_after_end_record_are_rejected(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    add_magic(&b);
    add_str(&b, QF_RCPT, "u@example.org");
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_int_equal(qf_validate(f->path, &f->why), 0);
    buf_putc(&b, 0);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "data after the end record");
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "data after the end record");
    buf_free(&b);
}

static void test_unknown_record_type_is_rejected(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    add_magic(&b);
    add_str(&b, 'X', "u@example.org");
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "unknown record type 'X' at offset 13");
    buf_free(&b);
}

static void test_oversized_length_is_rejected_before_reading(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    add_magic(&b);
    /* claims 4 GiB - 1; the reader must refuse on the header alone */
    add_rec(&b, QF_CONTENT, "abc", 0xFFFFFFFFu, 3);
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "length 4294967295, over the limit");

    /* one past the limit is refused too, the limit itself only for lack of data */
    buf_reset(&b);
    add_magic(&b);
    add_rec(&b, QF_CONTENT, "abc", QF_RECORD_MAX + 1, 3);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "over the limit");
    buf_reset(&b);
    add_magic(&b);
    add_rec(&b, QF_CONTENT, "abc", QF_RECORD_MAX, 3);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "premature end of file in record 'C'");
    buf_free(&b);
}

static void test_record_of_exactly_the_maximum_length_is_accepted(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    char *big = calloc(1, QF_RECORD_MAX);
    add_magic(&b);
    add_rec(&b, QF_CONTENT, big, QF_RECORD_MAX, QF_RECORD_MAX);
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_int_equal(qf_validate(f->path, &f->why), 0);
    free(big);
    buf_free(&b);
}

static void test_reader_rejects_cr_lf_nul_in_text_records(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *p;
        size_t n;
        const char *what;
    } bad[] = {{"a\rb", 3, "contains CR"}, {"a\nb", 3, "contains LF"}, {"a\0b", 3, "contains NUL"}};
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < 3; i++) {
        buf_reset(&b);
        add_magic(&b);
        add_rec(&b, QF_RCPT, bad[i].p, (uint32_t)bad[i].n, bad[i].n);
        add_end(&b);
        write_bytes(f->path, b.data, b.len);
        assert_refused(f->path, bad[i].what);
        /* the same bytes are fine as message content */
        buf_reset(&b);
        add_magic(&b);
        add_rec(&b, QF_CONTENT, bad[i].p, (uint32_t)bad[i].n, bad[i].n);
        add_end(&b);
        write_bytes(f->path, b.data, b.len);
        assert_int_equal(qf_validate(f->path, &f->why), 0);
    }
    buf_free(&b);
}

static void test_bad_magic_record_is_rejected(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;

    write_bytes(f->path, "", 0);
    assert_refused(f->path, "not a queue file");
    add_rec(&b, QF_MAGIC, "POSTERN2", 8, 8);
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "not a queue file");
    buf_reset(&b);
    add_rec(&b, QF_MAGIC, "POSTERN1x", 9, 9);
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "not a queue file");
    buf_reset(&b);
    add_str(&b, QF_RCPT, "u@example.org");
    add_magic(&b);
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "not a queue file");
    buf_free(&b);
}

static void test_magic_record_after_the_start_is_rejected(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    add_magic(&b);
    add_magic(&b);
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "magic record at offset 13");
    buf_free(&b);
}

static void test_end_record_with_payload_is_rejected(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;
    add_magic(&b);
    add_str(&b, QF_END, "x");
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "end record at offset 13 has length 1");
    buf_free(&b);
}

static void test_original_recipient_must_precede_a_recipient(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT;

    add_magic(&b);
    add_str(&b, QF_ORCPT, "rfc822;a@example.org");
    add_str(&b, QF_SENDER, "s@example.org");
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "original recipient is followed by record 'S'");

    buf_reset(&b);
    add_magic(&b);
    add_str(&b, QF_ORCPT, "rfc822;a@example.org");
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_refused(f->path, "original recipient is followed by record 'E'");

    buf_reset(&b);
    add_magic(&b);
    add_str(&b, QF_ORCPT, "rfc822;a@example.org");
    add_str(&b, QF_DONE, "a@example.org");
    add_str(&b, QF_ORCPT, "rfc822;b@example.org");
    add_str(&b, QF_RCPT, "b@example.org");
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    assert_int_equal(qf_validate(f->path, &f->why), 0);
    buf_free(&b);
}

static void test_damage_sticks_and_end_stays_end(void **state)
{
    struct fixture *f = *state;
    struct buf b = BUF_INIT, data = BUF_INIT;
    int type;
    off_t off;

    add_magic(&b);
    add_str(&b, QF_RCPT, "u@example.org");
    add_rec(&b, 'q', "", 0, 0);
    write_bytes(f->path, b.data, b.len);
    struct qf_reader *r = qf_open(f->path, 0, &f->why);
    assert_non_null(r);
    assert_int_equal(qf_read(r, &type, &data, &off, &f->why), 1);
    assert_int_equal(qf_read(r, &type, &data, &off, &f->why), -1);
    assert_int_equal(errno, EBADMSG);
    assert_int_equal(qf_read(r, &type, &data, &off, &f->why), -1);
    assert_non_null(strstr(f->why.data, "unknown record type 'q' at offset 31"));
    qf_close(r);

    buf_reset(&b);
    add_magic(&b);
    add_end(&b);
    write_bytes(f->path, b.data, b.len);
    r = qf_open(f->path, 0, &f->why);
    assert_non_null(r);
    assert_int_equal(qf_read(r, &type, &data, &off, &f->why), 0);
    assert_int_equal(type, QF_END);
    assert_int_equal(off, 13);
    assert_int_equal(qf_read(r, &type, &data, &off, &f->why), 0);
    qf_close(r);
    buf_free(&b);
    buf_free(&data);
}

static void test_open_refuses_symlinks_and_fifos(void **state)
{
    struct fixture *f = *state;
    char path[256], link_path[256], fifo[256];
    make_sample(f, path, sizeof(path));
    snprintf(link_path, sizeof(link_path), "%s/link", f->dir);
    snprintf(fifo, sizeof(fifo), "%s/fifo", f->dir);
    assert_int_equal(symlink(path, link_path), 0);
    assert_int_equal(qf_validate(link_path, &f->why), -1);
    assert_non_null(strstr(f->why.data, link_path));
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(qf_validate(fifo, &f->why), -1);
    assert_non_null(strstr(f->why.data, "not a regular file"));
}

static void test_rewind_reads_the_records_again(void **state)
{
    struct fixture *f = *state;
    char path[256];
    struct buf data = BUF_INIT;
    int type, n1 = 0, n2 = 0;
    off_t off, first = -1;
    make_sample(f, path, sizeof(path));

    struct qf_reader *r = qf_open(path, 0, &f->why);
    assert_non_null(r);
    while (qf_read(r, &type, &data, &off, &f->why) > 0)
        n1++;
    assert_int_equal(qf_rewind(r), 0);
    while (qf_read(r, &type, &data, &off, &f->why) > 0) {
        if (first < 0)
            first = off;
        n2++;
    }
    assert_int_equal(n1, 7);
    assert_int_equal(n2, 7);
    assert_int_equal(first, 13);
    qf_close(r);
    buf_free(&data);
}

/* ---- done marks --------------------------------------------------------- */

static void test_mark_done_rewrites_only_the_type_byte(void **state)
{
    struct fixture *f = *state;
    char path[256];
    struct rec before[16], after[16];
    make_sample(f, path, sizeof(path));
    size_t n0;
    unsigned char *bytes0 = read_bytes(path, &n0);

    int n = read_records(path, before, 16, &f->why);
    assert_int_equal(n, 7);
    assert_int_equal(before[4].type, QF_RCPT); /* carol, after her ORCPT */

    struct qf_reader *r = qf_open(path, 1, &f->why);
    assert_non_null(r);
    assert_int_equal(qf_mark_done(r, before[4].off, &f->why), 0);
    qf_close(r);

    assert_int_equal(read_records(path, after, 16, &f->why), 7);
    for (int i = 0; i < n; i++) {
        assert_int_equal(after[i].off, before[i].off);
        assert_int_equal(after[i].type, i == 4 ? QF_DONE : before[i].type);
        assert_int_equal(after[i].data.len, before[i].data.len);
        assert_memory_equal(after[i].data.data, before[i].data.data, before[i].data.len);
    }
    size_t n1;
    unsigned char *bytes1 = read_bytes(path, &n1);
    assert_int_equal(n1, n0);
    for (size_t i = 0; i < n0; i++)
        if (bytes0[i] != bytes1[i])
            assert_int_equal(i, (size_t)before[4].off);
    free(bytes0);
    free(bytes1);
    free_records(before, n);
    free_records(after, n);
}

static void test_mark_done_while_reading_is_seen_by_the_same_reader(void **state)
{
    struct fixture *f = *state;
    char path[256];
    struct buf data = BUF_INIT;
    int type, done = 0, rcpt = 0;
    off_t off;
    make_sample(f, path, sizeof(path));

    struct qf_reader *r = qf_open(path, 1, &f->why);
    assert_non_null(r);
    while (qf_read(r, &type, &data, &off, &f->why) > 0)
        if (type == QF_RCPT && strcmp(data.data, "bob@example.net") == 0)
            assert_int_equal(qf_mark_done(r, off, &f->why), 0);
    assert_int_equal(qf_rewind(r), 0);
    while (qf_read(r, &type, &data, &off, &f->why) > 0) {
        done += type == QF_DONE;
        rcpt += type == QF_RCPT;
    }
    assert_int_equal(done, 1);
    assert_int_equal(rcpt, 2);
    qf_close(r);
    buf_free(&data);
}

static void test_mark_done_refuses_offsets_that_are_not_recipients(void **state)
{
    struct fixture *f = *state;
    char path[256];
    struct rec rec[16];
    make_sample(f, path, sizeof(path));
    size_t n0;
    unsigned char *bytes0 = read_bytes(path, &n0);
    int n = read_records(path, rec, 16, &f->why);
    assert_int_equal(n, 7);

    struct qf_reader *r = qf_open(path, 1, &f->why);
    assert_non_null(r);
    assert_int_equal(rec[1].type, QF_SENDER);
    assert_int_equal(qf_mark_done(r, rec[1].off, &f->why), -1);
    assert_non_null(strstr(f->why.data, "is not a recipient (type 'S')"));
    assert_int_equal(qf_mark_done(r, 0, &f->why), -1);
    assert_int_equal(qf_mark_done(r, rec[2].off + 1, &f->why), -1);
    assert_int_equal(qf_mark_done(r, (off_t)n0, &f->why), -1);
    assert_int_equal(qf_mark_done(r, (off_t)n0 + 1000000, &f->why), -1);
    assert_int_equal(qf_mark_done(r, -5, &f->why), -1);
    /* a second mark of the same recipient is a caller error, not a no-op */
    assert_int_equal(qf_mark_done(r, rec[2].off, &f->why), 0);
    assert_int_equal(qf_mark_done(r, rec[2].off, &f->why), -1);
    assert_non_null(strstr(f->why.data, "already marked done"));
    qf_close(r);

    /* only the one legitimate mark changed the file */
    size_t n1;
    unsigned char *bytes1 = read_bytes(path, &n1);
    assert_int_equal(n1, n0);
    bytes0[rec[2].off] = QF_DONE;
    assert_memory_equal(bytes0, bytes1, n0);
    free(bytes0);
    free(bytes1);
    free_records(rec, n);
}

static void test_mark_done_needs_a_file_opened_for_update(void **state)
{
    struct fixture *f = *state;
    char path[256];
    struct rec rec[16];
    make_sample(f, path, sizeof(path));
    int n = read_records(path, rec, 16, &f->why);
    struct qf_reader *r = qf_open(path, 0, &f->why);
    assert_non_null(r);
    assert_int_equal(qf_mark_done(r, rec[2].off, &f->why), -1);
    assert_non_null(strstr(f->why.data, path));
    qf_close(r);
    assert_int_equal(qf_validate(path, &f->why), 0);
    free_records(rec, n);
}

static void test_text_types(void **state)
{
    static const int text[] = {QF_MAGIC, QF_TIME, QF_SIZE, QF_ATTR, QF_SENDER,
                               QF_ORCPT, QF_RCPT, QF_DONE, QF_END};
    for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++)
        assert_int_equal(qf_is_text_type(text[i]), 1);
    assert_int_equal(qf_is_text_type(QF_CONTENT), 0);
    assert_int_equal(qf_is_text_type('X'), 0);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_every_record_type_round_trips),
        T(test_one_megabyte_content_is_split_into_chunks),
        T(test_committed_file_is_named_by_its_queue_id),
        T(test_abort_leaves_no_file),
        T(test_commit_into_another_directory),
        T(test_commit_failure_names_the_path_and_removes_the_file),
        T(test_commit_never_replaces_an_existing_queue_file),
        T(test_create_in_missing_directory_fails_with_reason),
        T(test_writer_rejects_cr_lf_nul_in_text_records),
        T(test_writer_rejects_reserved_unknown_and_oversized_records),
        T(test_writer_requires_recipient_after_original_recipient),
        T(test_every_truncation_of_a_valid_file_is_rejected),
        T(test_missing_end_record_is_premature_end_of_file),
        T(test_trailing_bytes_after_end_record_are_rejected),
        T(test_unknown_record_type_is_rejected),
        T(test_oversized_length_is_rejected_before_reading),
        T(test_record_of_exactly_the_maximum_length_is_accepted),
        T(test_reader_rejects_cr_lf_nul_in_text_records),
        T(test_bad_magic_record_is_rejected),
        T(test_magic_record_after_the_start_is_rejected),
        T(test_end_record_with_payload_is_rejected),
        T(test_original_recipient_must_precede_a_recipient),
        T(test_damage_sticks_and_end_stays_end),
        T(test_open_refuses_symlinks_and_fifos),
        T(test_rewind_reads_the_records_again),
        T(test_mark_done_rewrites_only_the_type_byte),
        T(test_mark_done_while_reading_is_seen_by_the_same_reader),
        T(test_mark_done_refuses_offsets_that_are_not_recipients),
        T(test_mark_done_needs_a_file_opened_for_update),
        T(test_text_types),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
