/* test_map_addr - table lists and address lookups in Postfix's order:
 * user+ext@domain, user@domain, the local part (only when asked), @domain;
 * pattern tables asked the full address only; a failing table is a
 * temporary error, never "not found"; results as address lists with
 * "@domain" results and extension propagation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maps/map_addr.h"

static char dir[] = "/tmp/test_map_addr.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_map_addr.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* texthash - a text table in the temp dir; returns its spec. */
static const char *texthash(const char *name, const char *text)
{
    static char spec[300];
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    snprintf(spec, sizeof(spec), "texthash:%s", path);
    return spec;
}

static void open_ok(struct maps *ms, const char *value)
{
    struct buf why = BUF_INIT;
    if (maps_open(ms, "virtual_alias_maps", value, MAP_FOLD_CASE, &why) < 0)
        fail_msg("maps_open %s: %s", value, buf_cstr(&why));
    buf_free(&why);
}

/* find - maps_addr_find, checked against want (value, ext). */
static void find(struct maps *ms, const char *addr, int flags, int want, const char *value,
                 const char *ext)
{
    struct buf v = BUF_INIT, x = BUF_INIT;
    int rc = maps_addr_find(ms, addr, "+", flags, &v, &x);
    if (rc != want)
        fail_msg("%s: got %d (%s), want %d", addr, rc, maps_error(ms), want);
    if (value)
        assert_string_equal(buf_cstr(&v), value);
    if (ext)
        assert_string_equal(buf_cstr(&x), ext);
    buf_free(&v);
    buf_free(&x);
}

/* map - maps_addr_map, its results joined with "|". */
static void map(struct maps *ms, const char *addr, int flags, int propagate, int want,
                const char *joined)
{
    struct argv *out = argv_alloc();
    struct buf j = BUF_INIT;
    int rc = maps_addr_map(ms, addr, "+", flags, propagate, out);
    if (rc != want)
        fail_msg("%s: got %d (%s), want %d", addr, rc, maps_error(ms), want);
    for (size_t i = 0; i < out->argc; i++)
        buf_printf(&j, "%s%s", i ? "|" : "", out->argv[i]);
    if (joined)
        assert_string_equal(buf_cstr(&j), joined);
    argv_free(out);
    buf_free(&j);
}

static void test_lookup_order_full_then_user_then_localpart_then_domain(void **state)
{
    struct maps ms;
    open_ok(&ms, "inline:{ u+x@d.example=full, u@d.example=user, u+y=local-ext, "
                 "u=local, @d.example=catchall }");
    find(&ms, "u+x@d.example", 0, 1, "full", "");
    find(&ms, "u+z@d.example", 0, 1, "user", "+z");
    find(&ms, "u@d.example", 0, 1, "user", "");
    /* the local part only when the caller says the domain is ours */
    find(&ms, "u+y@other.example", 0, 0, "", "");
    find(&ms, "u+y@other.example", MAPS_ADDR_LOCALPART, 1, "local-ext", "");
    find(&ms, "u+q@other.example", MAPS_ADDR_LOCALPART, 1, "local", "+q");
    find(&ms, "v@d.example", MAPS_ADDR_LOCALPART, 1, "catchall", "");
    find(&ms, "v+q@d.example", 0, 1, "catchall", "");
    find(&ms, "v@nowhere.example", MAPS_ADDR_LOCALPART, 0, "", "");
    maps_close(&ms);
}

static void test_bare_local_part_is_looked_up_as_is(void **state)
{
    struct maps ms;
    open_ok(&ms, "inline:{ root=admin }");
    find(&ms, "root", 0, 1, "admin", "");
    find(&ms, "root+x", 0, 1, "admin", "+x");
    find(&ms, "other", 0, 0, NULL, NULL);
    maps_close(&ms);
}

static void test_keys_fold_case_and_first_table_wins(void **state)
{
    struct maps ms;
    const char *t = texthash("t1", "Bob@Example.COM first\n");
    char list[400];
    snprintf(list, sizeof(list), "%s, inline:{ bob@example.com=second, amy@example.com=amy }", t);
    open_ok(&ms, list);
    assert_int_equal(ms.n, 2);
    find(&ms, "BOB@example.com", 0, 1, "first", "");
    find(&ms, "amy@EXAMPLE.com", 0, 1, "amy", "");
    maps_close(&ms);
}

static void test_pattern_tables_see_the_full_address_only(void **state)
{
    struct maps ms;
    const char *t = texthash("re", "/^u@/ pattern\n");
    char spec[300];
    snprintf(spec, sizeof(spec), "regexp:%s", t + strlen("texthash:"));
    open_ok(&ms, spec);
    find(&ms, "u@d.example", 0, 1, "pattern", "");
    /* u+x@d.example would match /^u@/ only as the partial key u@d.example */
    find(&ms, "u+x@d.example", 0, 0, NULL, NULL);
    maps_close(&ms);
}

static void test_failing_table_is_a_temporary_error(void **state)
{
    struct maps ms;
    open_ok(&ms, "inline:{ a@x=b@x }, fail:broken");
    find(&ms, "a@x", 0, 1, "b@x", "");
    find(&ms, "c@x", 0, -1, NULL, NULL);
    assert_non_null(strstr(maps_error(&ms), "fail:broken"));
    map(&ms, "c@x", 0, 0, -1, "");
    maps_close(&ms);
}

static void test_open_failure_names_the_parameter_and_closes_all(void **state)
{
    struct maps ms;
    struct buf why = BUF_INIT;
    char list[300];
    snprintf(list, sizeof(list), "inline:{a=b} texthash:%s/missing", dir);
    assert_int_equal(maps_open(&ms, "canonical_maps", list, MAP_FOLD_CASE, &why), -1);
    assert_true(strncmp(buf_cstr(&why), "canonical_maps: ", 16) == 0);
    assert_int_equal(ms.n, 0);
    assert_null(ms.v);
    assert_int_equal(maps_open(&ms, "canonical_maps", "inline:{a=b", MAP_FOLD_CASE, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "missing \"}\""));
    buf_free(&why);
}

static void test_empty_list_finds_nothing(void **state)
{
    struct maps ms;
    open_ok(&ms, "");
    assert_int_equal(ms.n, 0);
    find(&ms, "a@b", MAPS_ADDR_LOCALPART, 0, "", "");
    map(&ms, "a@b", 0, 1, 0, "");
    struct buf v = BUF_INIT;
    assert_int_equal(maps_find(&ms, "a", 0, &v), 0);
    buf_free(&v);
    maps_close(&ms);
}

static void test_maps_find_partial_skips_pattern_tables(void **state)
{
    struct maps ms;
    const char *t = texthash("re2", "/example/ hit\n");
    char spec[300];
    snprintf(spec, sizeof(spec), "regexp:%s", t + strlen("texthash:"));
    open_ok(&ms, spec);
    struct buf v = BUF_INIT;
    assert_int_equal(maps_find(&ms, "example.com", 0, &v), 1);
    assert_string_equal(v.data, "hit");
    assert_int_equal(maps_find(&ms, "example.com", MAPS_PARTIAL, &v), 0);
    buf_free(&v);
    maps_close(&ms);
}

static void test_result_lists_quotes_and_at_domain(void **state)
{
    struct maps ms;
    open_ok(&ms, "inline:{ {a@x = b@y, c@y  d@y}, {q@x = \"j doe\"@y, <e@y>}, "
                 "@old.example=@new.example, {u@x = @z}, e@x=, bad@x=\"open@y }");
    map(&ms, "a@x", 0, 0, 1, "b@y|c@y|d@y");
    map(&ms, "q@x", 0, 0, 1, "j doe@y|e@y");
    map(&ms, "joe+t@old.example", 0, 0, 1, "joe+t@new.example");
    /* "@domain" takes the local part without the extension the key left
     * out; propagation puts it back */
    map(&ms, "u+t@x", 0, 0, 1, "u@z");
    map(&ms, "u+t@x", 0, 1, 1, "u+t@z");
    map(&ms, "e@x", 0, 0, 0, "");
    map(&ms, "bad@x", 0, 0, -1, "");
    assert_non_null(strstr(maps_error(&ms), "bad address"));
    maps_close(&ms);
}

static void test_extension_propagation(void **state)
{
    struct maps ms;
    open_ok(&ms, "inline:{ {u@d = v@e, w}, x+y@d=z@e, @c=k@e }");
    map(&ms, "u+ext@d", 0, 1, 1, "v+ext@e|w+ext");
    map(&ms, "u+ext@d", 0, 0, 1, "v@e|w");
    /* the key kept the extension: nothing to propagate */
    map(&ms, "x+y@d", 0, 1, 1, "z@e");
    /* a catch-all leaves nothing out either */
    map(&ms, "m+n@c", 0, 1, 1, "k@e");
    maps_close(&ms);
}

static void test_overlong_result_is_refused(void **state)
{
    struct maps ms;
    char spec[3000];
    char longlocal[1100];
    memset(longlocal, 'a', sizeof(longlocal) - 1);
    longlocal[sizeof(longlocal) - 1] = 0;
    snprintf(spec, sizeof(spec), "inline:{ x@y=%s@z }", longlocal);
    open_ok(&ms, spec);
    map(&ms, "x@y", 0, 0, -1, "");
    assert_non_null(strstr(maps_error(&ms), "longer than"));
    maps_close(&ms);
    /* fits alone, but not with the propagated extension */
    longlocal[1020] = 0;
    snprintf(spec, sizeof(spec), "inline:{ x@y=%s@z }", longlocal);
    open_ok(&ms, spec);
    map(&ms, "x+abcdef@y", 0, 0, 1, NULL);
    map(&ms, "x+abcdef@y", 0, 1, -1, "");
    assert_non_null(strstr(maps_error(&ms), "too long"));
    maps_close(&ms);
}

static void test_table_change_is_seen_without_reopening(void **state)
{
    struct maps ms;
    const char *spec = texthash("live", "a@x one@x\n");
    char s[300];
    snprintf(s, sizeof(s), "%s", spec);
    open_ok(&ms, s);
    map(&ms, "a@x", 0, 0, 1, "one@x");
    /* a rewritten file with another size: picked up at the next check */
    texthash("live", "a@x two-two@x\n");
    map_check_now(ms.v[0]);
    map(&ms, "a@x", 0, 0, 1, "two-two@x");
    char path[300];
    snprintf(path, sizeof(path), "%s/live", dir);
    assert_int_equal(unlink(path), 0);
    map_check_now(ms.v[0]);
    map(&ms, "a@x", 0, 0, -1, "");
    maps_close(&ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_order_full_then_user_then_localpart_then_domain),
        cmocka_unit_test(test_bare_local_part_is_looked_up_as_is),
        cmocka_unit_test(test_keys_fold_case_and_first_table_wins),
        cmocka_unit_test(test_pattern_tables_see_the_full_address_only),
        cmocka_unit_test(test_failing_table_is_a_temporary_error),
        cmocka_unit_test(test_open_failure_names_the_parameter_and_closes_all),
        cmocka_unit_test(test_empty_list_finds_nothing),
        cmocka_unit_test(test_maps_find_partial_skips_pattern_tables),
        cmocka_unit_test(test_result_lists_quotes_and_at_domain),
        cmocka_unit_test(test_extension_propagation),
        cmocka_unit_test(test_overlong_result_is_refused),
        cmocka_unit_test(test_table_change_is_seen_without_reopening),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
