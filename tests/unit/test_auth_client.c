/* test_auth_client - the client side of the auth protocol against scripted
 * servers (a forked child on a UNIX socket): the requests it sends, each
 * verdict, and every malformed or unexpected reply turned into
 * AUTH_ERROR, never into a success. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mail/attr.h"
#include "mail/auth_client.h"
#include "util/sock.h"
#include "util/stream.h"

static char dir[64], path[128];

typedef int (*script_fn)(struct stream *s);

/* serve - fork a server that accepts one client and runs script; its
 * exit status is 0 when everything the script checked was right */
static pid_t serve(script_fn script)
{
    struct buf why = BUF_INIT;
    unlink(path);
    int lfd = unix_listen(path, 5, &why);
    if (lfd < 0)
        fail_msg("unix_listen: %s", buf_cstr(&why));
    buf_free(&why);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            _exit(3);
        struct stream *s = stream_open(fd, 10);
        int rc = script(s);
        (void)stream_close(s);
        _exit(rc);
    }
    close(lfd);
    return pid;
}

static void reap(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("scripted server failed (status 0x%x): a request was not as expected", status);
}

static int send_attrs(struct stream *s, int status, const char *n1, const char *v1, const char *n2,
                      const char *v2)
{
    struct attr_list l;
    attr_list_init(&l);
    if (status != 99)
        attr_add_int(&l, "status", status);
    if (n1)
        attr_add_str(&l, n1, v1);
    if (n2)
        attr_add_str(&l, n2, v2);
    int rc = attr_write(s, &l);
    attr_list_free(&l);
    return rc;
}

static int greet(struct stream *s)
{
    return send_attrs(s, 99, "mechanisms", "PLAIN LOGIN", NULL, NULL);
}

/* expect_request - read a request and check the named string values */
static int expect_request(struct stream *s, const char *request, const char *response)
{
    struct attr_list l;
    struct buf why = BUF_INIT;
    attr_list_init(&l);
    int ok =
        attr_read(s, 0, &l, &why) == 0 &&
        strcmp(attr_get_str(&l, "request") ? attr_get_str(&l, "request") : "", request) == 0 &&
        strcmp(attr_get_str(&l, "response") ? attr_get_str(&l, "response") : "", response) == 0;
    if (ok && strcmp(request, "start") == 0) {
        int64_t secured = -1;
        ok = strcmp(attr_get_str(&l, "service"), "smtp") == 0 &&
             strcmp(attr_get_str(&l, "mechanism"), "LOGIN") == 0 &&
             strcmp(attr_get_str(&l, "client_addr"), "192.0.2.1") == 0 &&
             /* control characters never reach the service */
             strcmp(attr_get_str(&l, "client_name"), "host example") == 0 &&
             attr_get_int(&l, "secured", &secured) == 0 && secured == 1;
    }
    attr_list_free(&l);
    buf_free(&why);
    return ok;
}

static const struct auth_request req = {
    .service = "smtp",
    .mechanism = "LOGIN",
    .client_addr = "192.0.2.1",
    .client_name = "host\nexample",
    .secured = 1,
    .response = "",
};

static int script_login_ok(struct stream *s)
{
    if (greet(s) < 0 || !expect_request(s, "start", ""))
        return 1;
    if (send_attrs(s, AUTH_CONTINUE, "challenge", "VXNlcm5hbWU6", NULL, NULL) < 0 ||
        !expect_request(s, "continue", "YW15"))
        return 1;
    if (send_attrs(s, AUTH_CONTINUE, "challenge", "UGFzc3dvcmQ6", NULL, NULL) < 0 ||
        !expect_request(s, "continue", "c2VjcmV0"))
        return 1;
    return send_attrs(s, AUTH_OK, "user", "amy", NULL, NULL) < 0;
}

static void test_login_exchange_ends_with_the_user(void **state)
{
    pid_t pid = serve(script_login_ok);
    struct buf why = BUF_INIT;
    struct auth_reply r;
    auth_reply_init(&r);
    struct auth_client *a = auth_client_open(path, 5, &why);
    if (a == NULL)
        fail_msg("open: %s", buf_cstr(&why));
    assert_string_equal(auth_client_mechanisms(a), "PLAIN LOGIN");
    assert_int_equal(auth_client_start(a, &req, &r, &why), AUTH_CONTINUE);
    assert_string_equal(buf_cstr(&r.challenge), "VXNlcm5hbWU6");
    assert_int_equal(auth_client_continue(a, "YW15", &r, &why), AUTH_CONTINUE);
    assert_string_equal(buf_cstr(&r.challenge), "UGFzc3dvcmQ6");
    assert_int_equal(auth_client_continue(a, "c2VjcmV0", &r, &why), AUTH_OK);
    assert_string_equal(buf_cstr(&r.user), "amy");
    /* the exchange is over */
    assert_int_equal(auth_client_continue(a, "x", &r, &why), AUTH_ERROR);
    assert_int_equal(auth_client_start(a, &req, &r, &why), AUTH_ERROR);
    auth_client_close(a);
    auth_reply_free(&r);
    buf_free(&why);
    reap(pid);
}

static int script_fail(struct stream *s)
{
    if (greet(s) < 0 || !expect_request(s, "start", ""))
        return 1;
    return send_attrs(s, AUTH_FAIL, "reason", "authentication failure", NULL, NULL) < 0;
}

static void test_failure_carries_the_reason(void **state)
{
    pid_t pid = serve(script_fail);
    struct buf why = BUF_INIT;
    struct auth_reply r;
    auth_reply_init(&r);
    struct auth_client *a = auth_client_open(path, 5, &why);
    assert_non_null(a);
    assert_int_equal(auth_client_start(a, &req, &r, &why), AUTH_FAIL);
    assert_string_equal(buf_cstr(&r.reason), "authentication failure");
    assert_int_equal(r.user.len, 0);
    auth_client_close(a);
    auth_reply_free(&r);
    buf_free(&why);
    reap(pid);
}

static int script_temp(struct stream *s)
{
    if (greet(s) < 0 || !expect_request(s, "start", ""))
        return 1;
    return send_attrs(s, AUTH_ERROR, "reason", "temporary authentication failure", NULL, NULL) < 0;
}

static int script_ok_without_user(struct stream *s)
{
    if (greet(s) < 0 || !expect_request(s, "start", ""))
        return 1;
    return send_attrs(s, AUTH_OK, NULL, NULL, NULL, NULL) < 0;
}

static int script_unknown_status(struct stream *s)
{
    if (greet(s) < 0 || !expect_request(s, "start", ""))
        return 1;
    return send_attrs(s, 7, "user", "amy", NULL, NULL) < 0;
}

static int script_extra_attribute(struct stream *s)
{
    if (greet(s) < 0 || !expect_request(s, "start", ""))
        return 1;
    return send_attrs(s, AUTH_OK, "user", "amy", "admin", "yes") < 0;
}

static int script_continue_without_challenge(struct stream *s)
{
    if (greet(s) < 0 || !expect_request(s, "start", ""))
        return 1;
    return send_attrs(s, AUTH_CONTINUE, "user", "amy", NULL, NULL) < 0;
}

static int script_hang_up(struct stream *s)
{
    if (greet(s) < 0 || !expect_request(s, "start", ""))
        return 1;
    return 0;
}

/* start_gives_error - the reply of script must make start fail with why */
static void start_gives_error(script_fn script, const char *why_part)
{
    pid_t pid = serve(script);
    struct buf why = BUF_INIT;
    struct auth_reply r;
    auth_reply_init(&r);
    struct auth_client *a = auth_client_open(path, 5, &why);
    assert_non_null(a);
    assert_int_equal(auth_client_start(a, &req, &r, &why), AUTH_ERROR);
    if (strstr(buf_cstr(&why), why_part) == NULL)
        fail_msg("reason [%s] does not mention [%s]", buf_cstr(&why), why_part);
    assert_int_equal(r.user.len, 0);
    auth_client_close(a);
    auth_reply_free(&r);
    buf_free(&why);
    reap(pid);
}

static void test_bad_replies_are_errors(void **state)
{
    start_gives_error(script_temp, "temporary authentication failure");
    start_gives_error(script_ok_without_user, "without a valid user name");
    start_gives_error(script_unknown_status, "unknown status 7");
    start_gives_error(script_extra_attribute, "admin");
    start_gives_error(script_continue_without_challenge, "without a valid challenge");
    start_gives_error(script_hang_up, "auth service");
}

static int script_no_greeting(struct stream *s)
{
    return send_attrs(s, 0, NULL, NULL, NULL, NULL) < 0;
}

static int script_bad_mechanisms(struct stream *s)
{
    return send_attrs(s, 99, "mechanisms", "PLAIN\nLOGIN", NULL, NULL) < 0;
}

static void open_fails(script_fn script, const char *why_part)
{
    pid_t pid = serve(script);
    struct buf why = BUF_INIT;
    assert_null(auth_client_open(path, 5, &why));
    if (strstr(buf_cstr(&why), why_part) == NULL)
        fail_msg("reason [%s] does not mention [%s]", buf_cstr(&why), why_part);
    buf_free(&why);
    reap(pid);
}

static void test_bad_greetings_fail_the_open(void **state)
{
    open_fails(script_no_greeting, "bad greeting");
    open_fails(script_bad_mechanisms, "bad mechanism list");
}

static void test_no_service_fails_the_open(void **state)
{
    struct buf why = BUF_INIT;
    unlink(path);
    assert_null(auth_client_open(path, 1, &why));
    assert_non_null(strstr(buf_cstr(&why), "connect to"));
    buf_free(&why);
}

static void test_continue_before_start_is_an_error(void **state)
{
    pid_t pid = serve(script_hang_up);
    struct buf why = BUF_INIT;
    struct auth_reply r;
    auth_reply_init(&r);
    struct auth_client *a = auth_client_open(path, 5, &why);
    assert_non_null(a);
    assert_int_equal(auth_client_continue(a, "YW15", &r, &why), AUTH_ERROR);
    assert_non_null(strstr(buf_cstr(&why), "no authentication in progress"));
    auth_client_close(a);
    auth_reply_free(&r);
    buf_free(&why);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

static int setup(void **state)
{
    strcpy(dir, "/tmp/test_auth_client.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/auth", dir);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_exchange_ends_with_the_user),
        cmocka_unit_test(test_failure_carries_the_reason),
        cmocka_unit_test(test_bad_replies_are_errors),
        cmocka_unit_test(test_bad_greetings_fail_the_open),
        cmocka_unit_test(test_no_service_fails_the_open),
        cmocka_unit_test(test_continue_before_start_is_an_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
