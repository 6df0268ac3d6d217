/* test_sys_account - the login rules of auth's system backend: minimum
 * user ID, locked and empty passwords, account expiry, and password
 * aging from the shadow fields. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth/sys_account.h"

#define TODAY 20000L

static struct sys_account shadowed(const char *hash)
{
    struct sys_account a = {.uid = 1001,
                            .hash = hash,
                            .has_shadow = 1,
                            .lastchg = TODAY - 10,
                            .max = -1,
                            .inact = -1,
                            .expire = -1};
    return a;
}

static void expect(const struct sys_account *a, int want, const char *why_part)
{
    struct buf why = BUF_INIT;
    int got = sys_account_usable(a, 1000, TODAY, &why);
    if (got != want)
        fail_msg("usable = %d, want %d (%s)", got, want, buf_cstr(&why));
    if (why_part && strstr(buf_cstr(&why), why_part) == NULL)
        fail_msg("reason [%s] does not mention [%s]", buf_cstr(&why), why_part);
    buf_free(&why);
}

static void test_ordinary_account_is_usable(void **state)
{
    struct sys_account a = shadowed("$6$x$y");
    expect(&a, 1, NULL);
    a.has_shadow = 0;
    expect(&a, 1, NULL);
}

static void test_low_uid_is_refused(void **state)
{
    struct sys_account a = shadowed("$6$x$y");
    a.uid = 999;
    expect(&a, 0, "user ID 999 is below auth_minimum_uid 1000");
    a.uid = 0;
    expect(&a, 0, "below auth_minimum_uid");
    a.uid = 1000;
    expect(&a, 1, NULL);
}

static void test_locked_and_empty_passwords_are_refused(void **state)
{
    struct sys_account a = shadowed("!$6$x$y");
    expect(&a, 0, "locked");
    a.hash = "*";
    expect(&a, 0, "locked");
    a.hash = "!";
    expect(&a, 0, "locked");
    a.hash = "";
    expect(&a, 0, "no password");
    a.hash = NULL;
    expect(&a, 0, "no password");
}

static void test_account_expiry(void **state)
{
    struct sys_account a = shadowed("$6$x$y");
    a.expire = TODAY + 1;
    expect(&a, 1, NULL);
    a.expire = TODAY;
    expect(&a, 0, "account expired");
    a.expire = 1;
    expect(&a, 0, "account expired");
    /* without shadow, there are no dates to check */
    a.has_shadow = 0;
    expect(&a, 1, NULL);
}

static void test_password_aging(void **state)
{
    struct sys_account a = shadowed("$6$x$y");
    a.lastchg = 0;
    expect(&a, 0, "must be changed");
    a.lastchg = TODAY - 30;
    a.max = 30;
    expect(&a, 1, NULL); /* the last day is still fine */
    a.max = 29;
    expect(&a, 0, "password expired");
    a.inact = 5;
    expect(&a, 0, "inactive period");
    a.inact = 0;
    expect(&a, 0, "password expired");
    a.max = 99999; /* the usual "never" */
    expect(&a, 1, NULL);
    a.max = 0x7fffffffL; /* no overflow */
    a.inact = 0x7fffffffL;
    expect(&a, 1, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordinary_account_is_usable),
        cmocka_unit_test(test_low_uid_is_refused),
        cmocka_unit_test(test_locked_and_empty_passwords_are_refused),
        cmocka_unit_test(test_account_expiry),
        cmocka_unit_test(test_password_aging),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
