/* test_scache_client - the scache(8) session record: it survives the
 * attribute encoding, and a hostile or broken record is refused (missing
 * fields, control characters that would reach log lines, names too long,
 * numbers out of range). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mail/attr.h"
#include "mail/scache_client.h"
#include "util/buf.h"

static void sample(struct scache_rec *r)
{
    memset(r, 0, sizeof(*r));
    strcpy(r->dest, "smtp:example.com:1");
    strcpy(r->endp, "smtp:[192.0.2.1]:25:1");
    strcpy(r->host, "mx.example.com");
    strcpy(r->addr, "192.0.2.1");
    strcpy(r->relay, "mx.example.com[192.0.2.1]:25");
    strcpy(r->name, "mx.example.com[192.0.2.1]");
    r->esmtp = 1;
    r->ehlo.features = SMTP_EXT_PIPELINING | SMTP_EXT_SIZE;
    r->ehlo.size_limit = 10240000;
    strcpy(r->ehlo.auth, "PLAIN LOGIN");
    strcpy(r->ehlo.server_name, "mx.example.com");
    r->born = 1700000000;
    r->uses = 3;
    r->ttl = 2;
}

/* wire_round - encode, put through the wire form, decode. */
static int wire_round(const struct attr_list *in, struct scache_rec *out, struct buf *why)
{
    struct buf wire = BUF_INIT;
    struct attr_list l;
    size_t used;
    int rc;

    attr_list_init(&l);
    attr_encode(in, &wire);
    assert_int_equal(attr_decode(wire.data, wire.len, 0, &l, &used, why), 1);
    rc = scache_rec_decode(&l, out, why);
    attr_list_free(&l);
    buf_free(&wire);
    return rc;
}

static void test_record_round_trips(void **state)
{
    struct scache_rec in, out;
    struct attr_list l;
    struct buf why = BUF_INIT;

    sample(&in);
    attr_list_init(&l);
    attr_add_str(&l, "request", "put");
    scache_rec_encode(&in, &l);
    assert_int_equal(wire_round(&l, &out, &why), 0);
    assert_string_equal(out.dest, in.dest);
    assert_string_equal(out.endp, in.endp);
    assert_string_equal(out.relay, in.relay);
    assert_string_equal(out.name, in.name);
    assert_string_equal(out.ehlo.auth, "PLAIN LOGIN");
    assert_string_equal(out.ehlo.server_name, "mx.example.com");
    assert_int_equal(out.ehlo.features, in.ehlo.features);
    assert_true(out.ehlo.size_limit == 10240000);
    assert_int_equal(out.esmtp, 1);
    assert_int_equal(out.born, 1700000000);
    assert_int_equal(out.uses, 3);
    assert_int_equal(out.ttl, 2);
    attr_list_free(&l);
    buf_free(&why);
}

static void test_control_characters_are_refused(void **state)
{
    struct scache_rec in, out;
    struct attr_list l;
    struct buf why = BUF_INIT;

    sample(&in);
    strcpy(in.relay, "mx[192.0.2.1]:25\r\nforged: line");
    attr_list_init(&l);
    scache_rec_encode(&in, &l);
    assert_int_equal(wire_round(&l, &out, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "relay"));
    attr_list_free(&l);
    buf_free(&why);
}

static void test_missing_or_unknown_fields_are_refused(void **state)
{
    struct scache_rec out;
    struct attr_list l;
    struct buf why = BUF_INIT;

    attr_list_init(&l);
    attr_add_str(&l, "dest", "smtp:example.com:1");
    assert_int_equal(wire_round(&l, &out, &why), -1);
    attr_list_free(&l);

    struct scache_rec in;
    sample(&in);
    attr_list_init(&l);
    scache_rec_encode(&in, &l);
    attr_add_str(&l, "surprise", "x");
    assert_int_equal(wire_round(&l, &out, &why), -1);
    attr_list_free(&l);
    buf_free(&why);
}

static void test_overlong_name_and_bad_numbers_are_refused(void **state)
{
    struct scache_rec in, out;
    struct attr_list l;
    struct buf why = BUF_INIT;
    char big[SCACHE_NAME_MAX + 10];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    sample(&in);
    attr_list_init(&l);
    scache_rec_encode(&in, &l);
    free(l.v[2].val); /* "host" */
    l.v[2].val = strdup(big);
    l.v[2].len = strlen(big);
    assert_int_equal(wire_round(&l, &out, &why), -1);
    attr_list_free(&l);

    sample(&in);
    in.ttl = -5;
    attr_list_init(&l);
    scache_rec_encode(&in, &l);
    assert_int_equal(wire_round(&l, &out, &why), -1);
    attr_list_free(&l);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trips),
        cmocka_unit_test(test_control_characters_are_refused),
        cmocka_unit_test(test_missing_or_unknown_fields_are_refused),
        cmocka_unit_test(test_overlong_name_and_bad_numbers_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
