/* test_map - lookup tables: every built-in type, found / not found /
 * temporary error, case folding, building lmdb tables through the API,
 * reopening after a table is replaced, map_stale() for tables whose file
 * is out of sight (chroot), and the text and aliases formats; builds
 * from unsorted sources, across batch commits and map growth, and the mode
 * of a new or rebuilt table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maps/map.h"
#include "maps/map_file.h"
#include "util/buf.h"

static char dir[] = "/tmp/test_map.XXXXXX";

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_map.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *path_of(const char *name)
{
    static char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return p;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* build - an lmdb table with the given pairs, through the API. */
static void build(const char *spec, const char *const *kv)
{
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_UPDATE | MAP_FOLD_CASE, &why);
    if (m == NULL)
        fail_msg("open %s: %s", spec, buf_cstr(&why));
    for (; kv[0] != NULL; kv += 2)
        assert_int_equal(map_update(m, kv[0], kv[1], &why), 0);
    if (map_commit(m, &why) < 0)
        fail_msg("commit: %s", buf_cstr(&why));
    map_close(m);
    buf_free(&why);
}

static void expect(struct map *m, const char *key, int want, const char *value)
{
    struct buf v = BUF_INIT;
    int r = map_lookup(m, key, &v);
    if (r != want)
        fail_msg("lookup %s: got %d (%s), want %d", key, r, map_error(m), want);
    if (value != NULL)
        assert_string_equal(buf_cstr(&v), value);
    buf_free(&v);
}

static int count_entry(void *ctx, const char *key, const char *value)
{
    (*(long *)ctx)++;
    return 0;
}

static int append_entry(void *ctx, const char *key, const char *value)
{
    buf_printf(ctx, "%s=%s\n", key, value);
    return 0;
}

static void test_lmdb_built_through_api_is_found_by_lookup(void **state)
{
    char spec[300];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t1"));
    build(spec, (const char *const[]){"Postmaster", "root", "abuse", "root, admin", NULL});
    struct stat st;
    assert_int_equal(stat(path_of("t1.lmdb"), &st), 0);
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    assert_non_null(m);
    expect(m, "postmaster", 1, "root");
    expect(m, "POSTMASTER", 1, "root");
    expect(m, "abuse", 1, "root, admin");
    expect(m, "nobody", 0, NULL);
    expect(m, "", 0, NULL);
    map_close(m);
    /* hash: and btree: are the same files */
    snprintf(spec, sizeof(spec), "hash:%s", path_of("t1"));
    m = map_open(spec, MAP_FOLD_CASE, &why);
    assert_non_null(m);
    expect(m, "abuse", 1, "root, admin");
    map_close(m);
    buf_free(&why);
}

static void test_lmdb_without_fold_case_is_exact(void **state)
{
    char spec[300];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t2"));
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_UPDATE, &why);
    assert_non_null(m);
    assert_int_equal(map_update(m, "MixedCase", "v", &why), 0);
    assert_int_equal(map_update(m, "MixedCase", "second", &why), 1); /* first wins */
    assert_int_equal(map_commit(m, &why), 0);
    map_close(m);
    m = map_open(spec, 0, &why);
    assert_non_null(m);
    expect(m, "MixedCase", 1, "v");
    expect(m, "mixedcase", 0, NULL);
    map_close(m);
    buf_free(&why);
}

static void test_missing_lmdb_table_fails_open_with_reason(void **state)
{
    char spec[300];
    snprintf(spec, sizeof(spec), "hash:%s", path_of("absent"));
    struct buf why = BUF_INIT;
    assert_null(map_open(spec, 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "absent.lmdb"));
    buf_free(&why);
}

static void test_uncommitted_build_leaves_no_table(void **state)
{
    char spec[300];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t3"));
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_UPDATE, &why);
    assert_non_null(m);
    assert_int_equal(map_update(m, "k", "v", &why), 0);
    map_close(m);
    struct stat st;
    assert_int_equal(stat(path_of("t3.lmdb"), &st), -1);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -q tmp", dir);
    assert_int_not_equal(system(cmd), 0); /* temporary file removed */
    buf_free(&why);
}

static void test_replaced_table_is_reopened_and_removed_one_defers(void **state)
{
    char spec[300];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t4"));
    build(spec, (const char *const[]){"a", "1", NULL});
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    assert_non_null(m);
    expect(m, "a", 1, "1");
    build(spec, (const char *const[]){"a", "2", "b", "3", NULL});
    map_check_now(m);
    expect(m, "a", 1, "2");
    expect(m, "b", 1, "3");
    assert_int_equal(unlink(path_of("t4.lmdb")), 0);
    map_check_now(m);
    expect(m, "a", -1, NULL);
    assert_non_null(strstr(map_error(m), "t4.lmdb"));
    build(spec, (const char *const[]){"a", "4", NULL});
    map_check_now(m);
    expect(m, "a", 1, "4");
    map_close(m);
    buf_free(&why);
}

static void test_replacement_is_noticed_after_a_second_without_hook(void **state)
{
    char spec[300];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t5"));
    build(spec, (const char *const[]){"a", "1", NULL});
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, 0, &why);
    expect(m, "a", 1, "1");
    build(spec, (const char *const[]){"a", "2", NULL});
    sleep(2);
    expect(m, "a", 1, "2");
    map_close(m);
    buf_free(&why);
}

static void test_edit_copies_then_deletes(void **state)
{
    char spec[300];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t6"));
    build(spec, (const char *const[]){"a", "1", "b", "2", NULL});
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_UPDATE | MAP_EDIT | MAP_FOLD_CASE, &why);
    assert_non_null(m);
    assert_int_equal(map_delete(m, "A", &why), 1);
    assert_int_equal(map_delete(m, "zz", &why), 0);
    assert_int_equal(map_commit(m, &why), 0);
    map_close(m);
    m = map_open(spec, 0, &why);
    expect(m, "a", 0, NULL);
    expect(m, "b", 1, "2");
    map_close(m);
    buf_free(&why);
}

static void test_large_build_grows_the_map(void **state)
{
    char spec[300], k[32];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t7"));
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_UPDATE, &why);
    assert_non_null(m);
    static char big[4000];
    memset(big, 'x', sizeof(big) - 1);
    for (int i = 0; i < 6000; i++) { /* ~24 MB: more than the first map */
        snprintf(k, sizeof(k), "key%d", i);
        if (map_update(m, k, big, &why) != 0)
            fail_msg("update %d: %s", i, buf_cstr(&why));
    }
    assert_int_equal(map_commit(m, &why), 0);
    map_close(m);
    m = map_open(spec, 0, &why);
    expect(m, "key0", 1, big);
    expect(m, "key5999", 1, big);
    map_close(m);
    buf_free(&why);
}

/* Keys in and out of order (appended or searched), across the batch
 * commits and a map that has to grow: every entry is there, once. */
static void test_mixed_order_build_across_batches_and_growth(void **state)
{
    char spec[300], k[32];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t8"));
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_UPDATE, &why);
    assert_non_null(m);
    static char big[4000];
    memset(big, 'v', sizeof(big) - 1);
    for (int i = 0; i < 6000; i++) {    /* ~24 MB: three batches, two growths */
        int n = i % 2 ? i : 100000 - i; /* ascending and descending interleaved */
        snprintf(k, sizeof(k), "k%06d", n);
        if (map_update(m, k, big, &why) != 0)
            fail_msg("update %s: %s", k, buf_cstr(&why));
    }
    assert_int_equal(map_update(m, "k000001", "dup", &why), 1); /* the first one stays */
    assert_int_equal(map_delete(m, "k100000", &why), 1);
    assert_int_equal(map_update(m, "a-below-all", "x", &why), 0);
    assert_int_equal(map_commit(m, &why), 0);
    map_close(m);
    m = map_open(spec, 0, &why);
    assert_non_null(m);
    expect(m, "k000001", 1, big);
    expect(m, "k005999", 1, big);
    expect(m, "k094002", 1, big);
    expect(m, "k100000", 0, NULL);
    expect(m, "k000002", 0, NULL);
    expect(m, "a-below-all", 1, "x");
    long n = 0;
    assert_int_equal(map_iterate(m, count_entry, &n, &why), 0);
    assert_int_equal(n, 6000);
    map_close(m);
    buf_free(&why);
}

/* map_file_build sorts before it stores: the order of the source does not
 * matter, the first of duplicate keys wins, and the count is of entries
 * stored. */
static void test_build_from_unsorted_source_keeps_first_duplicate(void **state)
{
    char spec[300];
    write_file(path_of("src9"), "zeta 1\nAlpha 2\nmid 3\nalpha 4\nbeta 5\nZETA 6\n");
    snprintf(spec, sizeof(spec), "hash:%s", path_of("src9"));
    struct buf why = BUF_INIT;
    assert_int_equal(map_file_build(spec, MAP_FILE_FOLD, &why), 4);
    struct map *m = map_open(spec, 0, &why);
    assert_non_null(m);
    expect(m, "alpha", 1, "2");
    expect(m, "zeta", 1, "1");
    struct buf all = BUF_INIT;
    assert_int_equal(map_iterate(m, append_entry, &all, &why), 0);
    assert_string_equal(buf_cstr(&all), "alpha=2\nbeta=5\nmid=3\nzeta=1\n");
    map_close(m);
    /* Without folding the keys differ only in case: all six are stored. */
    assert_int_equal(map_file_build(spec, 0, &why), 6);
    buf_free(&all);
    buf_free(&why);
}

/* Keys that share a long prefix, or are prefixes of each other, sort as
 * strcmp() sorts them (the sort compares the first 16 bytes as numbers). */
static void test_build_orders_keys_with_long_common_prefixes(void **state)
{
    char spec[300];
    write_file(path_of("src10"), "abcdefghijklmnopq2 a\nabcdefghijklmnop b\nabcdefghijklmnopq1 c\n"
                                 "abcdefgh d\nabcdefghijklmnopq1 dup\nabcdefg e\nabcdefghi f\n");
    snprintf(spec, sizeof(spec), "hash:%s", path_of("src10"));
    struct buf why = BUF_INIT, all = BUF_INIT;
    assert_int_equal(map_file_build(spec, 0, &why), 6);
    struct map *m = map_open(spec, 0, &why);
    assert_non_null(m);
    assert_int_equal(map_iterate(m, append_entry, &all, &why), 0);
    assert_string_equal(buf_cstr(&all), "abcdefg=e\nabcdefgh=d\nabcdefghi=f\nabcdefghijklmnop=b\n"
                                        "abcdefghijklmnopq1=c\nabcdefghijklmnopq2=a\n");
    map_close(m);
    buf_free(&all);
    buf_free(&why);
}

/* A new table is no more readable than its source (sasl_passwd at 0600);
 * a rebuilt one keeps the mode it had. */
static void test_table_mode_follows_source_then_old_table(void **state)
{
    char spec[300];
    struct stat st;
    struct buf why = BUF_INIT;
    mode_t mask = umask(022);
    write_file(path_of("secret"), "user pass\n");
    assert_int_equal(chmod(path_of("secret"), 0600), 0);
    snprintf(spec, sizeof(spec), "hash:%s", path_of("secret"));
    assert_int_equal(map_file_build(spec, 0, &why), 1);
    assert_int_equal(stat(path_of("secret.lmdb"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    write_file(path_of("group"), "k v\n");
    assert_int_equal(chmod(path_of("group"), 0640), 0);
    snprintf(spec, sizeof(spec), "hash:%s", path_of("group"));
    assert_int_equal(map_file_build(spec, 0, &why), 1);
    assert_int_equal(stat(path_of("group.lmdb"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    /* An existing table keeps its own mode, whatever the source's. */
    assert_int_equal(chmod(path_of("group.lmdb"), 0604), 0);
    assert_int_equal(chmod(path_of("group"), 0600), 0);
    assert_int_equal(map_file_build(spec, 0, &why), 1);
    assert_int_equal(stat(path_of("group.lmdb"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0604);
    umask(mask);
    buf_free(&why);
}

static void test_overlong_key_is_rejected_on_update_and_absent_on_lookup(void **state)
{
    char spec[300], key[600];
    snprintf(spec, sizeof(spec), "lmdb:%s", path_of("t8"));
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = 0;
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_UPDATE, &why);
    assert_int_equal(map_update(m, key, "v", &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "key length"));
    assert_int_equal(map_commit(m, &why), 0);
    map_close(m);
    m = map_open(spec, 0, &why);
    expect(m, key, 0, NULL);
    map_close(m);
    buf_free(&why);
}

static void test_texthash_reads_continuations_and_reloads(void **state)
{
    char spec[300];
    write_file(path_of("th"), "# comment\n\nKey1 value one\n  and more\n"
                              "  # comment inside\nkey2\tv2\n");
    snprintf(spec, sizeof(spec), "texthash:%s", path_of("th"));
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    if (m == NULL)
        fail_msg("%s", buf_cstr(&why));
    expect(m, "KEY1", 1, "value one and more");
    expect(m, "key2", 1, "v2");
    expect(m, "key3", 0, NULL);
    write_file(path_of("th"), "key3 v3 with more\n");
    map_check_now(m);
    expect(m, "key3", 1, "v3 with more");
    expect(m, "key1", 0, NULL);
    write_file(path_of("th"), "broken\n");
    map_check_now(m);
    expect(m, "key3", -1, NULL);
    assert_non_null(strstr(map_error(m), ":1: expected format"));
    map_close(m);
    buf_free(&why);
}

static void test_texthash_line_without_value_names_file_and_line(void **state)
{
    char spec[300], want[300];
    write_file(path_of("bad"), "a b\n\n# c\nlonely\n");
    snprintf(spec, sizeof(spec), "texthash:%s", path_of("bad"));
    snprintf(want, sizeof(want), "%s:4: expected format: key whitespace value", path_of("bad"));
    struct buf why = BUF_INIT;
    assert_null(map_open(spec, MAP_FOLD_CASE, &why));
    assert_string_equal(buf_cstr(&why), want);
    buf_free(&why);
}

static void test_static_returns_value_for_every_key(void **state)
{
    struct buf why = BUF_INIT;
    struct map *m = map_open("static:OK", MAP_FOLD_CASE, &why);
    expect(m, "anything", 1, "OK");
    map_close(m);
    m = map_open("static:{ text with spaces }", MAP_FOLD_CASE, &why);
    expect(m, "x", 1, "text with spaces");
    map_close(m);
    buf_free(&why);
}

static void test_fail_table_gives_temporary_error(void **state)
{
    struct buf why = BUF_INIT;
    struct map *m = map_open("fail:test", 0, &why);
    assert_non_null(m);
    expect(m, "x", -1, NULL);
    assert_non_null(strstr(map_error(m), "fail:test"));
    map_close(m);
    buf_free(&why);
}

static void test_inline_parses_plain_and_braced_entries(void **state)
{
    struct buf why = BUF_INIT;
    struct map *m = map_open("inline:{ Key1=value1, key2=v2 { key3 = value with, comma } }",
                             MAP_FOLD_CASE, &why);
    if (m == NULL)
        fail_msg("%s", buf_cstr(&why));
    expect(m, "key1", 1, "value1");
    expect(m, "KEY2", 1, "v2");
    expect(m, "key3", 1, "value with, comma");
    expect(m, "key4", 0, NULL);
    map_close(m);
    m = map_open("inline:{}", 0, &why);
    assert_non_null(m);
    expect(m, "a", 0, NULL);
    map_close(m);
    buf_free(&why);
}

static void test_inline_syntax_errors_are_reported(void **state)
{
    static const char *const bad[] = {
        "inline:a=b",   "inline:{ a }",      "inline:{ =b }",   "inline:{ {a=b }",
        "inline:{ a=b", "inline:{ {a=b}x }", "inline:{ a{=b }", NULL};
    struct buf why = BUF_INIT;
    for (int i = 0; bad[i] != NULL; i++) {
        buf_reset(&why);
        struct map *m = map_open(bad[i], 0, &why);
        if (m != NULL)
            fail_msg("%s was accepted", bad[i]);
        assert_true(why.len > 0);
    }
    buf_free(&why);
}

static void test_unknown_type_and_missing_type_are_errors(void **state)
{
    struct buf why = BUF_INIT;
    assert_null(map_open("nosuch:x", 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "unsupported table type \"nosuch\""));
    buf_reset(&why);
    assert_null(map_open("/etc/aliases", 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "expected type:name"));
    buf_reset(&why);
    assert_null(map_open("static:x", MAP_UPDATE, &why));
    buf_free(&why);
}

/* ---- map_stale: the file is out of sight (as after chroot) ---- */

static void replace_file(const char *path, const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    write_file(tmp, text);
    assert_int_equal(rename(tmp, path), 0);
}

static void test_out_of_sight_table_answers_and_is_stale_after_replacement(void **state)
{
    char sub[64], moved[64], file[80], spec[100];
    snprintf(sub, sizeof(sub), "%s/sight", dir);
    snprintf(moved, sizeof(moved), "%s/moved", dir);
    snprintf(file, sizeof(file), "%s/t", sub);
    snprintf(spec, sizeof(spec), "texthash:%s", file);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file(file, "a 1\n");
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    assert_non_null(m);
    assert_null(map_stale());
    /* The directory disappears from view: stat fails, the file is intact. */
    assert_int_equal(rename(sub, moved), 0);
    map_check_now(m);
    expect(m, "a", 1, "1");
    assert_null(map_stale());
    /* postmap renames a new file into place: the old one has no links. */
    snprintf(file, sizeof(file), "%s/t", moved);
    replace_file(file, "a 2\n");
    map_check_now(m);
    expect(m, "a", 1, "1"); /* the old contents keep answering */
    assert_non_null(map_stale());
    assert_string_equal(map_stale(), spec);
    map_check_now(m);
    expect(m, "a", 1, "1");
    map_close(m);
    assert_null(map_stale());
    buf_free(&why);
}

static void test_out_of_sight_table_edited_in_place_is_stale(void **state)
{
    char sub[64], moved[64], file[80], spec[100];
    snprintf(sub, sizeof(sub), "%s/sight2", dir);
    snprintf(moved, sizeof(moved), "%s/moved2", dir);
    snprintf(file, sizeof(file), "%s/t", sub);
    snprintf(spec, sizeof(spec), "texthash:%s", file);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file(file, "a 1\n");
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    assert_non_null(m);
    assert_int_equal(rename(sub, moved), 0);
    snprintf(file, sizeof(file), "%s/t", moved);
    FILE *f = fopen(file, "a");
    assert_non_null(f);
    fputs("b 2\n", f);
    assert_int_equal(fclose(f), 0);
    map_check_now(m);
    expect(m, "a", 1, "1");
    expect(m, "b", 0, NULL);
    assert_non_null(map_stale());
    map_close(m);
    assert_null(map_stale());
    buf_free(&why);
}

/* chrooted_child - open the table, chroot into a jail where the table's
 * directory exists but not the file, and check map_stale before and after
 * the parent replaces the file. Exit 0, or the number of the failed step. */
static int chrooted_child(const char *spec, const char *jail, int ready, int go)
{
    struct buf why = BUF_INIT, v = BUF_INIT;
    char c;
    struct map *m = map_open(spec, MAP_FOLD_CASE, &why);
    if (m == NULL)
        return 1;
    if (chroot(jail) < 0 || chdir("/") < 0)
        return 2;
    map_check_now(m);
    if (map_lookup(m, "a", &v) != 1 || strcmp(buf_cstr(&v), "1") != 0)
        return 3;
    if (map_stale() != NULL)
        return 4;
    if (write(ready, "r", 1) != 1 || read(go, &c, 1) != 1)
        return 5;
    map_check_now(m);
    if (map_lookup(m, "a", &v) != 1 || strcmp(buf_cstr(&v), "1") != 0)
        return 6;
    if (map_stale() == NULL || strcmp(map_stale(), spec) != 0)
        return 7;
    map_close(m);
    return 0;
}

static void test_chrooted_process_sees_replaced_table_as_stale(void **state)
{
    if (geteuid() != 0)
        skip(); /* chroot needs root; the tests above cover the logic */
    char sub[64], file[80], spec[100], jail[64], inner[160], cmd[400];
    snprintf(sub, sizeof(sub), "%s/etc", dir);
    snprintf(file, sizeof(file), "%s/t", sub);
    snprintf(spec, sizeof(spec), "texthash:%s", file);
    snprintf(jail, sizeof(jail), "%s/jail", dir);
    /* The jail holds the table's directory (empty), so only the changed
     * root tells "out of sight" from "removed". */
    snprintf(inner, sizeof(inner), "%s%s", jail, sub);
    snprintf(cmd, sizeof(cmd), "mkdir -p %s %s", sub, inner);
    assert_int_equal(system(cmd), 0);
    write_file(file, "a 1\n");
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        _exit(chrooted_child(spec, jail, ready[1], go[0]));
    }
    close(ready[1]);
    close(go[0]);
    char c;
    int status;
    /* A child that fails early closes its end: read returns 0. */
    if (read(ready[0], &c, 1) == 1) {
        replace_file(file, "a 2\n");
        assert_int_equal(write(go[1], "g", 1), 1);
    }
    close(ready[0]);
    close(go[1]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("chrooted child failed at step %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---- text formats ---- */

struct collected {
    struct buf out;
};

static int collect(void *ctx, const char *key, const char *value, const char *origin, long line,
                   struct buf *why)
{
    struct collected *c = ctx;
    buf_printf(&c->out, "%ld[%s]=[%s]\n", line, key, value);
    return 0;
}

static int parse(const char *text, int flags, struct collected *c, struct buf *why)
{
    buf_reset(&c->out);
    buf_reset(why);
    return map_file_parse_text(text, strlen(text), "src", flags, collect, c, why);
}

static void test_aliases_format_with_continuation_and_quotes(void **state)
{
    struct collected c = {BUF_INIT};
    struct buf why = BUF_INIT;
    assert_int_equal(parse("# aliases\nPostmaster: root\nstaff: alice,\n\tbob\n"
                           "\"foo bar\": x\nmailer-daemon:postmaster\n",
                           MAP_FILE_ALIASES | MAP_FILE_FOLD, &c, &why),
                     0);
    assert_string_equal(buf_cstr(&c.out), "2[postmaster]=[root]\n3[staff]=[alice, bob]\n"
                                          "5[foo bar]=[x]\n6[mailer-daemon]=[postmaster]\n");
    buf_free(&c.out);
    buf_free(&why);
}

static void test_aliases_format_errors_name_the_line(void **state)
{
    struct collected c = {BUF_INIT};
    struct buf why = BUF_INIT;
    assert_int_equal(parse("a: b\nnocolon value\n", MAP_FILE_ALIASES, &c, &why), -1);
    assert_string_equal(buf_cstr(&why), "src:2: expected format: name: value");
    assert_int_equal(parse("a: b\n\nempty:\n", MAP_FILE_ALIASES, &c, &why), -1);
    assert_string_equal(buf_cstr(&why), "src:3: missing value for alias \"empty\"");
    assert_int_equal(parse(": x\n", MAP_FILE_ALIASES, &c, &why), -1);
    assert_string_equal(buf_cstr(&why), "src:1: missing alias name before ':'");
    assert_int_equal(parse("\"open: x\n", MAP_FILE_ALIASES, &c, &why), -1);
    assert_string_equal(buf_cstr(&why), "src:1: unbalanced '\"' in alias name");
    buf_free(&c.out);
    buf_free(&why);
}

static void test_table_format_rules(void **state)
{
    struct collected c = {BUF_INIT};
    struct buf why = BUF_INIT;
    assert_int_equal(parse("A  b c  \r\n#x\n   \nD e\n f\n", 0, &c, &why), 0);
    assert_string_equal(buf_cstr(&c.out), "1[A]=[b c]\n4[D]=[e f]\n");
    assert_int_equal(parse(" leading x\n", 0, &c, &why), -1);
    assert_string_equal(buf_cstr(&why), "src:1: continuation line before any entry");
    assert_int_equal(parse("a b\nc", 0, &c, &why), -1);
    assert_string_equal(buf_cstr(&why), "src:2: expected format: key whitespace value");
    buf_reset(&why);
    assert_int_equal(map_file_parse_text("a b\nc\0d e\n", 10, "src", 0, collect, &c, &why), -1);
    assert_string_equal(buf_cstr(&why), "src:2: NUL byte in line");
    assert_int_equal(parse("", 0, &c, &why), 0);
    assert_int_equal(c.out.len, 0);
    buf_free(&c.out);
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lmdb_built_through_api_is_found_by_lookup),
        cmocka_unit_test(test_lmdb_without_fold_case_is_exact),
        cmocka_unit_test(test_missing_lmdb_table_fails_open_with_reason),
        cmocka_unit_test(test_uncommitted_build_leaves_no_table),
        cmocka_unit_test(test_replaced_table_is_reopened_and_removed_one_defers),
        cmocka_unit_test(test_replacement_is_noticed_after_a_second_without_hook),
        cmocka_unit_test(test_edit_copies_then_deletes),
        cmocka_unit_test(test_large_build_grows_the_map),
        cmocka_unit_test(test_mixed_order_build_across_batches_and_growth),
        cmocka_unit_test(test_build_from_unsorted_source_keeps_first_duplicate),
        cmocka_unit_test(test_build_orders_keys_with_long_common_prefixes),
        cmocka_unit_test(test_table_mode_follows_source_then_old_table),
        cmocka_unit_test(test_overlong_key_is_rejected_on_update_and_absent_on_lookup),
        cmocka_unit_test(test_texthash_reads_continuations_and_reloads),
        cmocka_unit_test(test_texthash_line_without_value_names_file_and_line),
        cmocka_unit_test(test_static_returns_value_for_every_key),
        cmocka_unit_test(test_fail_table_gives_temporary_error),
        cmocka_unit_test(test_inline_parses_plain_and_braced_entries),
        cmocka_unit_test(test_inline_syntax_errors_are_reported),
        cmocka_unit_test(test_unknown_type_and_missing_type_are_errors),
        cmocka_unit_test(test_out_of_sight_table_answers_and_is_stale_after_replacement),
        cmocka_unit_test(test_out_of_sight_table_edited_in_place_is_stale),
        cmocka_unit_test(test_chrooted_process_sees_replaced_table_as_stale),
        cmocka_unit_test(test_aliases_format_with_continuation_and_quotes),
        cmocka_unit_test(test_aliases_format_errors_name_the_line),
        cmocka_unit_test(test_table_format_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
