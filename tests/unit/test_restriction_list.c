/* test_restriction_list - restriction lists: separators, braces, names with
 * table / word / number arguments, bare tables, and every error (unknown
 * name, missing or bad argument, unbalanced braces, too many words). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/restriction_list.h"
#include "util/alloc.h"

static enum restriction_arg arg_of(void *ctx, const char *name)
{
    static const struct {
        const char *name;
        enum restriction_arg arg;
    } known[] = {
        {"permit", RESTRICTION_NO_ARG},
        {"reject", RESTRICTION_NO_ARG},
        {"permit_mynetworks", RESTRICTION_NO_ARG},
        {"check_client_access", RESTRICTION_TABLE},
        {"check_sender_access", RESTRICTION_TABLE},
        {"reject_rbl_client", RESTRICTION_WORD},
        {"sleep", RESTRICTION_NUMBER},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcasecmp(known[i].name, name) == 0)
            return known[i].arg;
    if (ctx != NULL && strcmp(name, (const char *)ctx) == 0)
        return RESTRICTION_NO_ARG; /* a restriction class */
    return RESTRICTION_UNKNOWN;
}

/* parse text and render it as "name(arg) name ..." or "ERROR why" */
static const char *render(const char *text, void *ctx)
{
    static char out[2048];
    struct restriction_list l;
    struct buf why = BUF_INIT;
    size_t n = 0;

    if (restriction_list_parse(text, arg_of, ctx, &l, &why) < 0) {
        snprintf(out, sizeof(out), "ERROR %s", buf_cstr(&why));
        assert_null(l.items);
        assert_int_equal(l.count, 0);
    } else {
        out[0] = 0;
        for (size_t i = 0; i < l.count; i++)
            n += (size_t)snprintf(out + n, sizeof(out) - n, "%s%s%s%s%s", i ? " " : "",
                                  l.items[i].name, l.items[i].arg ? "(" : "",
                                  l.items[i].arg ? l.items[i].arg : "", l.items[i].arg ? ")" : "");
        restriction_list_free(&l);
    }
    buf_free(&why);
    return out;
}

static void test_commas_and_white_space_separate(void **state)
{
    assert_string_equal(render("permit_mynetworks,reject", NULL), "permit_mynetworks reject");
    assert_string_equal(render(" permit_mynetworks ,\n\treject ,, ", NULL),
                        "permit_mynetworks reject");
    assert_string_equal(render("", NULL), "");
    assert_string_equal(render(" , ", NULL), "");
}

static void test_arguments_follow_their_names(void **state)
{
    assert_string_equal(render("check_client_access hash:/etc/access, reject_rbl_client "
                               "zen.example=127.0.0.[2..11], sleep 5",
                               NULL),
                        "check_client_access(hash:/etc/access) "
                        "reject_rbl_client(zen.example=127.0.0.[2..11]) sleep(5)");
    /* names are matched as the caller likes (here: any case), kept as written */
    assert_string_equal(render("PERMIT", NULL), "PERMIT");
}

static void test_braces_make_one_word(void **state)
{
    assert_string_equal(render("check_sender_access inline:{ a@b=OK, {c d}=REJECT }, permit", NULL),
                        "check_sender_access(inline:{ a@b=OK, {c d}=REJECT }) permit");
}

static void test_bare_table_is_the_default_check(void **state)
{
    assert_string_equal(render("hash:/etc/access reject", NULL), "(hash:/etc/access) reject");
}

static void test_class_names_come_from_the_caller(void **state)
{
    assert_string_equal(render("permit_mynetworks my_class", "my_class"),
                        "permit_mynetworks my_class");
    assert_string_equal(render("my_class", NULL), "ERROR unknown restriction: my_class");
}

static void test_errors_name_the_word(void **state)
{
    assert_string_equal(render("permit_mynetworks, reject_foo, reject", NULL),
                        "ERROR unknown restriction: reject_foo");
    assert_string_equal(render("check_client_access", NULL),
                        "ERROR restriction check_client_access: missing argument");
    assert_string_equal(render("check_client_access reject", NULL),
                        "ERROR restriction check_client_access: bad argument \"reject\": "
                        "need maptype:mapname");
    assert_string_equal(render("sleep five", NULL),
                        "ERROR restriction sleep: bad argument \"five\": need a number");
    assert_string_equal(render("reject_rbl_client", NULL),
                        "ERROR restriction reject_rbl_client: missing argument");
}

static void test_unbalanced_braces(void **state)
{
    assert_string_equal(render("check_sender_access inline:{ a=OK", NULL),
                        "ERROR missing \"}\" in \"inline:{ a=OK\"");
    assert_string_equal(render("permit }", NULL), "ERROR unbalanced \"}\" in \"}\"");
}

static void test_split_keeps_braces_and_appends(void **state)
{
    struct argv *a = argv_alloc();
    struct buf why = BUF_INIT;
    argv_add(a, "first");
    assert_int_equal(restriction_list_split("hash:/x, inline:{ k=v, l=w } ,static:OK", a, &why), 0);
    assert_int_equal(a->argc, 4);
    assert_string_equal(a->argv[1], "hash:/x");
    assert_string_equal(a->argv[2], "inline:{ k=v, l=w }");
    assert_string_equal(a->argv[3], "static:OK");
    argv_free(a);
    buf_free(&why);
}

static void test_too_many_words(void **state)
{
    size_t n = (RESTRICTION_LIST_MAX + 1) * 7 + 1;
    char *text = xmalloc(n);
    size_t pos = 0;
    for (int i = 0; i <= RESTRICTION_LIST_MAX; i++)
        pos += (size_t)snprintf(text + pos, n - pos, "permit ");
    assert_string_equal(render(text, NULL), "ERROR more than 1000 words in a list");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commas_and_white_space_separate),
        cmocka_unit_test(test_arguments_follow_their_names),
        cmocka_unit_test(test_braces_make_one_word),
        cmocka_unit_test(test_bare_table_is_the_default_check),
        cmocka_unit_test(test_class_names_come_from_the_caller),
        cmocka_unit_test(test_errors_name_the_word),
        cmocka_unit_test(test_unbalanced_braces),
        cmocka_unit_test(test_split_keeps_braces_and_appends),
        cmocka_unit_test(test_too_many_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
