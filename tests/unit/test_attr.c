/* test_attr - the attribute protocol: exact wire form, round trips through
 * the pure codec and over a socketpair, truncation, hostile headers, and
 * checking messages against a spec in strict and lax mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mail/attr.h"
#include "util/stream.h"

static void build_sample(struct attr_list *l, unsigned char *all256)
{
    for (int i = 0; i < 256; i++)
        all256[i] = (unsigned char)i;
    attr_list_init(l);
    attr_add_int(l, "zero", 0);
    attr_add_int(l, "minus_one", -1);
    attr_add_int(l, "min", INT64_MIN);
    attr_add_int(l, "max", INT64_MAX);
    attr_add_str(l, "sender", "alice@example.com");
    attr_add_str(l, "empty", "");
    attr_add_data(l, "all_bytes", all256, 256);
    attr_add_data(l, "nul_only", "\0", 1);
    attr_add_data(l, "no_data", NULL, 0);
}

static void assert_sample(const struct attr_list *l, const unsigned char *all256)
{
    int64_t v;
    assert_int_equal(l->count, 9);
    assert_int_equal(attr_get_int(l, "zero", &v), 0);
    assert_true(v == 0);
    assert_int_equal(attr_get_int(l, "minus_one", &v), 0);
    assert_true(v == -1);
    assert_int_equal(attr_get_int(l, "min", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(attr_get_int(l, "max", &v), 0);
    assert_true(v == INT64_MAX);
    assert_string_equal(attr_get_str(l, "sender"), "alice@example.com");
    assert_string_equal(attr_get_str(l, "empty"), "");
    const struct attr *a = attr_get(l, "all_bytes");
    assert_non_null(a);
    assert_int_equal(a->type, ATTR_DATA);
    assert_int_equal(a->len, 256);
    assert_memory_equal(a->val, all256, 256);
    assert_int_equal(a->val[256], 0); /* always NUL-terminated */
    a = attr_get(l, "nul_only");
    assert_int_equal(a->len, 1);
    assert_int_equal(a->val[0], 0);
    a = attr_get(l, "no_data");
    assert_int_equal(a->len, 0);
    assert_string_equal(a->val, "");
    /* order is kept */
    assert_string_equal(l->v[0].name, "zero");
    assert_string_equal(l->v[8].name, "no_data");
}

static void test_wire_form_is_exact(void **state)
{
    (void)state;
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "n", 258);
    attr_add_str(&l, "s", "ab");
    attr_add_data(&l, "d", "\0\n", 2);
    struct buf out = BUF_INIT;
    attr_encode(&l, &out);
    static const unsigned char want[] = {
        'I', 1, 'n', 0, 0, 0, 0, 0,   0,    1, 2, /* int64 big-endian */
        'S', 1, 's', 0, 0, 0, 2, 'a', 'b',        /* len:4 big-endian */
        'D', 1, 'd', 0, 0, 0, 2, 0,   '\n',       /* any bytes */
        'E', 0,                                   /* end marker */
    };
    assert_int_equal(out.len, sizeof(want));
    assert_memory_equal(out.data, want, sizeof(want));
    buf_free(&out);
    attr_list_free(&l);
    assert_int_equal(l.count, 0);
}

static void test_round_trip_through_encode_and_decode(void **state)
{
    (void)state;
    unsigned char all256[256];
    struct attr_list l, back;
    build_sample(&l, all256);
    struct buf out = BUF_INIT;
    attr_encode(&l, &out);
    buf_append(&out, "trailing", 8); /* the next message's bytes are not consumed */
    attr_list_init(&back);
    size_t used = 0;
    struct buf why = BUF_INIT;
    assert_int_equal(attr_decode(out.data, out.len, 0, &back, &used, &why), 1);
    assert_int_equal(used, out.len - 8);
    assert_sample(&back, all256);
    /* a list is reused: decoding again replaces its contents */
    assert_int_equal(attr_decode(out.data, used, 0, &back, &used, &why), 1);
    assert_int_equal(back.count, 9);
    attr_list_free(&back);
    attr_list_free(&l);
    buf_free(&out);
    buf_free(&why);
}

static void test_empty_message_round_trips(void **state)
{
    (void)state;
    struct attr_list l;
    attr_list_init(&l);
    size_t used = 0;
    assert_int_equal(attr_decode("E\0", 2, 0, &l, &used, NULL), 1);
    assert_int_equal(used, 2);
    assert_int_equal(l.count, 0);
}

static void test_every_truncated_prefix_needs_more(void **state)
{
    (void)state;
    unsigned char all256[256];
    struct attr_list l, back;
    build_sample(&l, all256);
    struct buf out = BUF_INIT;
    attr_encode(&l, &out);
    attr_list_init(&back);
    struct buf why = BUF_INIT;
    for (size_t n = 0; n < out.len; n++) {
        size_t used = 12345;
        int rc = attr_decode(out.data, n, 0, &back, &used, &why);
        if (rc != 0)
            fail_msg("prefix of %zu bytes: got %d (%s), want 0", n, rc, buf_cstr(&why));
        assert_int_equal(back.count, 0); /* nothing half-decoded is left behind */
        assert_int_equal(used, 12345);
    }
    attr_list_free(&l);
    buf_free(&out);
    buf_free(&why);
}

/* expect_malformed - decoding p[0..n) fails at once with exactly msg. */
static void expect_malformed(const void *p, size_t n, size_t max, const char *msg)
{
    struct attr_list l;
    attr_list_init(&l);
    struct buf why = BUF_INIT;
    size_t used = 0;
    int rc = attr_decode(p, n, max, &l, &used, &why);
    if (rc != -1)
        fail_msg("expected \"%s\", got %d", msg, rc);
    assert_string_equal(buf_cstr(&why), msg);
    assert_int_equal(l.count, 0);
    buf_free(&why);
}

static void test_malformed_headers_are_rejected(void **state)
{
    (void)state;
    expect_malformed("X", 1, 0, "attribute #1: bad type byte 0x58");
    expect_malformed("\0", 1, 0, "attribute #1: bad type byte 0x00");
    expect_malformed("I\1aAAAAAAAAx", 12, 0, "attribute #2: bad type byte 0x78");
    expect_malformed("I\0", 2, 0, "attribute #1: bad name length 0");
    expect_malformed("S\x41", 2, 0, "attribute #1: bad name length 65");
    expect_malformed("D\xff", 2, 0, "attribute #1: bad name length 255");
    expect_malformed("E\1", 2, 0, "attribute #1: bad name length 1");
    expect_malformed("I\3aBc", 5, 0, "attribute #1: bad character in name");
    expect_malformed("I\3a-", 4, 0, "attribute #1: bad character in name"); /* before the rest */
    expect_malformed("S\1a\0\0\0\3x\0y", 10, 0, "attribute a: NUL in text value");
    expect_malformed("S\1a\0\0\0\3\0", 8, 0, "attribute a: NUL in text value");
}

static void test_name_of_max_length_is_accepted(void **state)
{
    (void)state;
    char name[ATTR_NAME_MAX + 1];
    memset(name, 'x', ATTR_NAME_MAX);
    name[ATTR_NAME_MAX] = 0;
    struct attr_list l, back;
    attr_list_init(&l);
    attr_list_init(&back);
    attr_add_str(&l, name, "v");
    attr_add_data(&l, "a_9", "\0", 1);
    struct buf out = BUF_INIT;
    attr_encode(&l, &out);
    size_t used;
    assert_int_equal(attr_decode(out.data, out.len, 0, &back, &used, NULL), 1);
    assert_string_equal(back.v[0].name, name);
    assert_string_equal(attr_get_str(&back, name), "v");
    attr_list_free(&l);
    attr_list_free(&back);
    buf_free(&out);
}

static void test_huge_length_is_rejected_before_the_bytes_arrive(void **state)
{
    (void)state;
    /* only the header: a reader that trusted it would wait (return 0) or allocate 4 GiB */
    expect_malformed("D\1a\xff\xff\xff\xff", 7, 0,
                     "attribute a: message larger than 4194304 bytes");
    expect_malformed("S\1a\xff\xff\xff\xff", 7, 0,
                     "attribute a: message larger than 4194304 bytes");
    /* the limit counts the whole message, end marker included */
    static const unsigned char fits[] = {'S', 1, 'a', 0, 0, 0, 3, 'x', 'y', 'z', 'E', 0};
    struct attr_list l;
    attr_list_init(&l);
    size_t used;
    assert_int_equal(attr_decode(fits, sizeof(fits), sizeof(fits), &l, &used, NULL), 1);
    attr_list_free(&l);
    expect_malformed(fits, sizeof(fits), sizeof(fits) - 1,
                     "attribute a: message larger than 11 bytes");
    expect_malformed("E", 2, 1, "message larger than 1 bytes");
    expect_malformed(fits, 7, sizeof(fits) - 2, "attribute a: message larger than 10 bytes");
    expect_malformed("I\1a", 3, 12, "attribute a: message larger than 12 bytes");
}

static void test_more_than_count_max_attributes_is_rejected(void **state)
{
    (void)state;
    struct buf out = BUF_INIT;
    for (int i = 0; i < ATTR_COUNT_MAX; i++)
        buf_append(&out, "I\1a\0\0\0\0\0\0\0\0", 11);
    buf_append(&out, "E\0", 2);
    struct attr_list l;
    attr_list_init(&l);
    size_t used;
    assert_int_equal(attr_decode(out.data, out.len, 0, &l, &used, NULL), 1);
    assert_int_equal(l.count, ATTR_COUNT_MAX);
    attr_list_free(&l);
    buf_truncate(&out, out.len - 2);
    buf_append(&out, "I", 1);
    expect_malformed(out.data, out.len, 0, "more than 1024 attributes");
    buf_free(&out);
}

/* ---- over a socketpair ----------------------------------------------------- */

static void pair(struct stream **a, struct stream **b)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    *a = stream_open(sv[0], 5);
    *b = stream_open(sv[1], 5);
}

static void test_round_trip_over_a_socketpair(void **state)
{
    (void)state;
    struct stream *w, *r;
    pair(&w, &r);
    unsigned char all256[256];
    struct attr_list l, back;
    build_sample(&l, all256);
    attr_list_init(&back);
    struct buf why = BUF_INIT;
    assert_int_equal(attr_write(w, &l), 0);
    assert_int_equal(attr_write(w, &l), 0);
    for (int i = 0; i < 2; i++) {
        if (attr_read(r, 0, &back, &why) != 0)
            fail_msg("attr_read: %s", buf_cstr(&why));
        assert_sample(&back, all256);
    }
    /* a clean close between messages is plain EOF */
    assert_int_equal(stream_close(w), 0);
    assert_int_equal(attr_read(r, 0, &back, &why), -1);
    assert_string_equal(buf_cstr(&why), "end of file");
    assert_int_equal(back.count, 0);
    stream_close(r);
    attr_list_free(&l);
    buf_free(&why);
}

static void test_large_value_arrives_in_pieces(void **state)
{
    (void)state;
    struct stream *w, *r;
    pair(&w, &r);
    size_t n = 300000; /* larger than the socket buffer and the read chunk */
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (unsigned char)(i * 7);
    struct attr_list l, back;
    attr_list_init(&l);
    attr_list_init(&back);
    attr_add_data(&l, "content", big, n);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        stream_close(r);
        _exit(attr_write(w, &l) == 0 ? 0 : 1);
    }
    struct buf why = BUF_INIT;
    if (attr_read(r, 0, &back, &why) != 0)
        fail_msg("attr_read: %s", buf_cstr(&why));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(back.count, 1);
    assert_int_equal(back.v[0].len, n);
    assert_memory_equal(back.v[0].val, big, n);
    /* a reader with a smaller limit refuses it from the header alone */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        stream_close(r);
        _exit(attr_write(w, &l) == 0 ? 0 : 1);
    }
    assert_int_equal(attr_read(r, 1000, &back, &why), -1);
    assert_string_equal(buf_cstr(&why), "attribute content: message larger than 1000 bytes");
    assert_int_equal(back.count, 0);
    stream_close(r);
    r = NULL;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1); /* its peer hung up */
    stream_close(w);
    free(big);
    attr_list_free(&l);
    attr_list_free(&back);
    buf_free(&why);
}

/* raw_then_read - write raw bytes (then maybe close) and attr_read them. */
static int raw_then_read(const void *p, size_t n, int close_after, size_t max, struct buf *why,
                         struct attr_list *back)
{
    struct stream *w, *r;
    pair(&w, &r);
    stream_write(w, p, n);
    assert_int_equal(stream_flush(w), 0);
    if (close_after)
        stream_close(w);
    int rc = attr_read(r, max, back, why);
    if (!close_after)
        stream_close(w);
    stream_close(r);
    return rc;
}

static void test_stream_reader_rejects_hostile_headers_without_waiting(void **state)
{
    (void)state;
    struct attr_list back;
    attr_list_init(&back);
    struct buf why = BUF_INIT;
    /* the writer stays open: a reader that waited for 4 GiB would time out */
    assert_int_equal(raw_then_read("D\1a\xff\xff\xff\xff", 7, 0, 0, &why, &back), -1);
    assert_string_equal(buf_cstr(&why), "attribute a: message larger than 4194304 bytes");
    assert_int_equal(raw_then_read("I\1aAAAAAAAAS\1b\0\0\0\x10", 18, 0, 20, &why, &back), -1);
    assert_string_equal(buf_cstr(&why), "attribute b: message larger than 20 bytes");
    assert_int_equal(back.count, 0);
    assert_int_equal(raw_then_read("Q", 1, 0, 0, &why, &back), -1);
    assert_string_equal(buf_cstr(&why), "attribute #1: bad type byte 0x51");
    assert_int_equal(raw_then_read("S\0", 2, 0, 0, &why, &back), -1);
    assert_string_equal(buf_cstr(&why), "attribute #1: bad name length 0");
    assert_int_equal(raw_then_read("S\1A", 3, 0, 0, &why, &back), -1);
    assert_string_equal(buf_cstr(&why), "attribute #1: bad character in name");
    assert_int_equal(raw_then_read("S\1a\0\0\0\1\0E\0", 10, 0, 0, &why, &back), -1);
    assert_string_equal(buf_cstr(&why), "attribute a: NUL in text value");
    assert_int_equal(raw_then_read("E\0", 2, 0, 1, &why, &back), -1);
    assert_string_equal(buf_cstr(&why), "message larger than 1 bytes");

    struct buf many = BUF_INIT;
    for (int i = 0; i <= ATTR_COUNT_MAX; i++)
        buf_append(&many, "I\1a\0\0\0\0\0\0\0\0", 11);
    assert_int_equal(raw_then_read(many.data, many.len, 0, 0, &why, &back), -1);
    assert_string_equal(buf_cstr(&why), "more than 1024 attributes");
    assert_int_equal(back.count, 0);
    buf_free(&many);
    buf_free(&why);
}

static void test_stream_reader_reports_truncation_and_timeout(void **state)
{
    (void)state;
    struct attr_list back;
    attr_list_init(&back);
    struct buf why = BUF_INIT;
    static const unsigned char msg[] = {'I', 1, 'n', 0, 0, 0, 0, 0,   0,   0,   1,
                                        'S', 1, 's', 0, 0, 0, 2, 'a', 'b', 'E', 0};
    for (size_t n = 1; n < sizeof(msg); n++) {
        assert_int_equal(raw_then_read(msg, n, 1, 0, &why, &back), -1);
        assert_string_equal(buf_cstr(&why), "unexpected end of file in attribute message");
        assert_int_equal(back.count, 0);
    }
    assert_int_equal(raw_then_read(msg, sizeof(msg), 1, 0, &why, &back), 0);
    assert_int_equal(back.count, 2);

    struct stream *w, *r;
    pair(&w, &r);
    stream_set_timeout(r, 1);
    assert_int_equal(attr_read(r, 0, &back, &why), -1);
    assert_string_equal(buf_cstr(&why), "timeout while reading attributes");
    stream_close(w);
    stream_close(r);
    attr_list_free(&back);
    buf_free(&why);
}

static void test_writer_refuses_more_than_count_max(void **state)
{
    (void)state;
    struct stream *w, *r;
    pair(&w, &r);
    struct attr_list l;
    attr_list_init(&l);
    for (int i = 0; i <= ATTR_COUNT_MAX; i++)
        attr_add_int(&l, "n", i);
    errno = 0;
    assert_int_equal(attr_write(w, &l), -1);
    assert_int_equal(errno, EMSGSIZE);
    stream_close(w);
    stream_close(r);
    attr_list_free(&l);
}

/* ---- attr_check ------------------------------------------------------------- */

static const struct attr_spec spec[] = {
    {"queue_id", ATTR_STR, 1},
    {"size", ATTR_INT, 1},
    {"content", ATTR_DATA, 0},
    ATTR_SPEC_END,
};

static int check(struct attr_list *l, int flags, struct buf *why)
{
    return attr_check(l, spec, flags, why);
}

static void test_check_accepts_a_conforming_message(void **state)
{
    (void)state;
    struct attr_list l;
    attr_list_init(&l);
    struct buf why = BUF_INIT;
    attr_add_int(&l, "size", 10);
    attr_add_str(&l, "queue_id", "4XyZ");
    assert_int_equal(check(&l, 0, &why), 0); /* optional one may be absent, any order */
    attr_add_data(&l, "content", "\0", 1);
    assert_int_equal(check(&l, 0, &why), 0);
    assert_int_equal(check(&l, ATTR_FLAG_LAX, &why), 0);
    attr_list_free(&l);
    buf_free(&why);
}

static void test_strict_check_rejects_each_problem_by_name(void **state)
{
    (void)state;
    struct attr_list l;
    struct buf why = BUF_INIT;

    attr_list_init(&l);
    attr_add_str(&l, "queue_id", "A");
    attr_add_int(&l, "size", 1);
    attr_add_int(&l, "extra", 1);
    assert_int_equal(check(&l, 0, &why), -1);
    assert_string_equal(buf_cstr(&why), "unexpected attribute: extra");
    assert_int_equal(check(&l, ATTR_FLAG_LAX, &why), 0); /* lax ignores it */
    attr_list_free(&l);

    attr_add_str(&l, "queue_id", "A");
    attr_add_int(&l, "size", 1);
    attr_add_str(&l, "queue_id", "B");
    assert_int_equal(check(&l, 0, &why), -1);
    assert_string_equal(buf_cstr(&why), "duplicate attribute: queue_id");
    assert_int_equal(check(&l, ATTR_FLAG_LAX, &why), -1);
    assert_string_equal(buf_cstr(&why), "duplicate attribute: queue_id");
    attr_list_free(&l);

    attr_add_str(&l, "queue_id", "A");
    attr_add_str(&l, "size", "10");
    assert_int_equal(check(&l, 0, &why), -1);
    assert_string_equal(buf_cstr(&why), "attribute size: expected int, got text");
    assert_int_equal(check(&l, ATTR_FLAG_LAX, &why), -1);
    assert_string_equal(buf_cstr(&why), "attribute size: expected int, got text");
    attr_list_free(&l);

    attr_add_str(&l, "queue_id", "A");
    attr_add_int(&l, "size", 1);
    attr_add_str(&l, "content", "text is not data");
    assert_int_equal(check(&l, 0, &why), -1);
    assert_string_equal(buf_cstr(&why), "attribute content: expected data, got text");
    attr_list_free(&l);

    attr_add_str(&l, "queue_id", "A");
    assert_int_equal(check(&l, 0, &why), -1);
    assert_string_equal(buf_cstr(&why), "missing attribute: size");
    attr_add_int(&l, "other", 1);
    assert_int_equal(check(&l, ATTR_FLAG_LAX, &why), -1);
    assert_string_equal(buf_cstr(&why), "missing attribute: size");
    attr_list_free(&l);

    /* lax mode still rejects a duplicated unknown attribute */
    attr_add_str(&l, "queue_id", "A");
    attr_add_int(&l, "size", 1);
    attr_add_int(&l, "other", 1);
    attr_add_int(&l, "other", 2);
    assert_int_equal(check(&l, ATTR_FLAG_LAX, &why), -1);
    assert_string_equal(buf_cstr(&why), "duplicate attribute: other");
    attr_list_free(&l);
    buf_free(&why);
}

static void test_getters_check_the_type(void **state)
{
    (void)state;
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "n", 5);
    attr_add_str(&l, "s", "x");
    attr_add_data(&l, "d", "y", 1);
    int64_t v = 99;
    assert_int_equal(attr_get_int(&l, "s", &v), -1);
    assert_true(v == 99);
    assert_int_equal(attr_get_int(&l, "absent", &v), -1);
    assert_null(attr_get_str(&l, "n"));
    assert_null(attr_get_str(&l, "absent"));
    assert_string_equal(attr_get_str(&l, "d"), "y");
    assert_null(attr_get(&l, "absent"));
    attr_list_free(&l);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_form_is_exact),
        cmocka_unit_test(test_round_trip_through_encode_and_decode),
        cmocka_unit_test(test_empty_message_round_trips),
        cmocka_unit_test(test_every_truncated_prefix_needs_more),
        cmocka_unit_test(test_malformed_headers_are_rejected),
        cmocka_unit_test(test_name_of_max_length_is_accepted),
        cmocka_unit_test(test_huge_length_is_rejected_before_the_bytes_arrive),
        cmocka_unit_test(test_more_than_count_max_attributes_is_rejected),
        cmocka_unit_test(test_round_trip_over_a_socketpair),
        cmocka_unit_test(test_large_value_arrives_in_pieces),
        cmocka_unit_test(test_stream_reader_rejects_hostile_headers_without_waiting),
        cmocka_unit_test(test_stream_reader_reports_truncation_and_timeout),
        cmocka_unit_test(test_writer_refuses_more_than_count_max),
        cmocka_unit_test(test_check_accepts_a_conforming_message),
        cmocka_unit_test(test_strict_check_rejects_each_problem_by_name),
        cmocka_unit_test(test_getters_check_the_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
