/* test_map_unix - unix:passwd.byname and unix:group.byname: values in
 * passwd(5)/group(5) form (checked against the lines of /etc/passwd and
 * /etc/group, with the password field always "x"), missing names, case
 * folding as Postfix does it, and unknown table names; unix:group.bygid:
 * the group name for a decimal gid, anything else not found. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maps/map.h"
#include "util/buf.h"

/* file_entry - the line of an /etc file whose first field is name, with
 * its second field replaced by "x"; 0 if there is none. */
static int file_entry(const char *file, const char *name, char *out, size_t size)
{
    FILE *f = fopen(file, "r");
    char line[4096];
    size_t n = strlen(name);
    int found = 0;
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, name, n) != 0 || line[n] != ':')
            continue;
        const char *rest = strchr(line + n + 1, ':');
        if (rest == NULL)
            continue;
        snprintf(out, size, "%s:x%s", name, rest);
        out[strcspn(out, "\n")] = 0;
        found = 1;
    }
    fclose(f);
    return found;
}

/* first_group_with_members - a group from /etc/group that has members. */
static int first_group_with_members(char *name, size_t size)
{
    FILE *f = fopen("/etc/group", "r");
    char line[4096];
    int found = 0;
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = 0;
        char *last = strrchr(line, ':');
        if (last != NULL && last[1] != 0 && strchr(line, ':') != last) {
            snprintf(name, size, "%.*s", (int)strcspn(line, ":"), line);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

static struct map *open_ok(const char *spec, int flags)
{
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, flags, &why);
    if (m == NULL)
        fail_msg("%s: %s", spec, buf_cstr(&why));
    buf_free(&why);
    return m;
}

static void test_passwd_entry_is_the_passwd_line_without_password(void **state)
{
    char want[4096];
    if (!file_entry("/etc/passwd", "root", want, sizeof(want)))
        fail_msg("no root in /etc/passwd");
    struct map *m = open_ok("unix:passwd.byname", MAP_FOLD_CASE);
    struct buf v = BUF_INIT;
    assert_int_equal(map_lookup(m, "root", &v), 1);
    assert_string_equal(buf_cstr(&v), want);
    assert_int_equal(strncmp(buf_cstr(&v), "root:x:0:0:", 11), 0);
    assert_int_equal(map_lookup(m, "no-such-user-pt-xyz", &v), 0);
    assert_int_equal(map_lookup(m, "", &v), 0);
    map_close(m);
    buf_free(&v);
}

static void test_group_entry_lists_members(void **state)
{
    char name[256], want[4096];
    struct map *m = open_ok("unix:group.byname", 0);
    struct buf v = BUF_INIT;
    if (!file_entry("/etc/group", "root", want, sizeof(want)))
        fail_msg("no root in /etc/group");
    assert_int_equal(map_lookup(m, "root", &v), 1);
    assert_string_equal(buf_cstr(&v), want);
    if (first_group_with_members(name, sizeof(name))) {
        assert_true(file_entry("/etc/group", name, want, sizeof(want)));
        assert_int_equal(map_lookup(m, name, &v), 1);
        assert_string_equal(buf_cstr(&v), want);
    }
    assert_int_equal(map_lookup(m, "no-such-group-pt-xyz", &v), 0);
    map_close(m);
    buf_free(&v);
}

/* first_group_by_gid - the name of the first /etc/group line whose gid
 * field is gid (the line NSS "files" answers with); 0 if none. */
static int first_group_by_gid(const char *gid, char *name, size_t size)
{
    FILE *f = fopen("/etc/group", "r");
    char line[4096];
    int found = 0;
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        size_t n = strlen(gid);
        if (c2 != NULL && strncmp(c2 + 1, gid, n) == 0 && c2[1 + n] == ':') {
            snprintf(name, size, "%.*s", (int)(c1 - line), line);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

/* some_group_gid - the gid field of a group other than root, if any. */
static int some_group_gid(char *gid, size_t size)
{
    FILE *f = fopen("/etc/group", "r");
    char line[4096];
    int found = 0;
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c2 != NULL && strncmp(line, "root:", 5) != 0 && c2[1] >= '0' && c2[1] <= '9') {
            snprintf(gid, size, "%.*s", (int)strcspn(c2 + 1, ":"), c2 + 1);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

static void test_group_bygid_gives_the_group_name(void **state)
{
    char gid[64], want[256];
    struct map *m = open_ok("unix:group.bygid", MAP_FOLD_CASE);
    struct buf v = BUF_INIT;
    if (!first_group_by_gid("0", want, sizeof(want)))
        fail_msg("no gid 0 in /etc/group");
    assert_int_equal(map_lookup(m, "0", &v), 1);
    assert_string_equal(buf_cstr(&v), want);
    if (some_group_gid(gid, sizeof(gid))) {
        assert_true(first_group_by_gid(gid, want, sizeof(want)));
        assert_int_equal(map_lookup(m, gid, &v), 1);
        assert_string_equal(buf_cstr(&v), want);
    }
    map_close(m);
    buf_free(&v);
}

static void test_group_bygid_other_keys_are_not_found(void **state)
{
    static const char *const keys[] = {"",
                                       "root",
                                       "-1",
                                       "+0",
                                       " 0",
                                       "0 ",
                                       "0x0",
                                       "1e3",
                                       "4294967295",
                                       "4294967296",
                                       "99999999999999999999999999"};
    struct map *m = open_ok("unix:group.bygid", 0);
    struct buf v = BUF_INIT;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        buf_reset(&v);
        int r = map_lookup(m, keys[i], &v);
        if (r != 0)
            fail_msg("key [%s]: %d [%s], want not found", keys[i], r, buf_cstr(&v));
    }
    /* leading zeros are still decimal digits */
    assert_int_equal(map_lookup(m, "000", &v), 1);
    map_close(m);
    buf_free(&v);
}

static void test_keys_fold_only_when_the_caller_asks(void **state)
{
    struct buf v = BUF_INIT;
    struct map *m = open_ok("unix:passwd.byname", MAP_FOLD_CASE);
    assert_int_equal(map_lookup(m, "ROOT", &v), 1); /* as Postfix: folded, then looked up */
    assert_int_equal(strncmp(buf_cstr(&v), "root:", 5), 0);
    map_close(m);
    m = open_ok("unix:passwd.byname", 0);
    assert_int_equal(map_lookup(m, "ROOT", &v), 0);
    map_close(m);
    buf_free(&v);
}

static void test_unknown_unix_table_is_an_open_error(void **state)
{
    struct buf why = BUF_INIT;
    assert_null(map_open("unix:shadow.byname", 0, &why));
    assert_non_null(strstr(buf_cstr(&why), "unknown unix: table"));
    buf_reset(&why);
    assert_null(map_open("unix:", 0, &why));
    buf_reset(&why);
    assert_null(map_open("unix:passwd.byname", MAP_UPDATE, &why));
    buf_free(&why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passwd_entry_is_the_passwd_line_without_password),
        cmocka_unit_test(test_group_entry_lists_members),
        cmocka_unit_test(test_group_bygid_gives_the_group_name),
        cmocka_unit_test(test_group_bygid_other_keys_are_not_found),
        cmocka_unit_test(test_keys_fold_only_when_the_caller_asks),
        cmocka_unit_test(test_unknown_unix_table_is_an_open_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
