/* test_anvil_client - anvil_client against a scripted server in a child
 * process: the requests it sends, the counters it returns, and how it deals
 * with refusals, bad replies, a server that goes away, and bad idents. */
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

#include "mail/anvil_client.h"
#include "mail/attr.h"
#include "util/sock.h"
#include "util/stream.h"

static char sock_dir[] = "/tmp/test_anvil_client.XXXXXX";
static char sock_path[256];
static pid_t server_pid;

/* the scripted server ------------------------------------------------------ */

static long served;
static int closed_once;

static int request_code(const char *req)
{
    static const char *const names[] = {"connect", "message",    "recipient",
                                        "auth",    "disconnect", "lookup"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(req, names[i]) == 0)
            return (int)i + 1;
    return 0;
}

/* one reply; 0 to go on, -1 to close the connection */
static int serve_one(const struct attr_list *req, struct attr_list *rep)
{
    static const struct attr_spec spec[] = {
        {"request", ATTR_STR, 1}, {"ident", ATTR_STR, 1}, ATTR_SPEC_END};
    if (attr_check(req, spec, 0, NULL) < 0) {
        attr_add_int(rep, "status", 9);
        return 0;
    }
    const char *r = attr_get_str(req, "request");
    const char *id = attr_get_str(req, "ident");
    int code = request_code(r);
    served++;
    if (code == 0 || strcmp(id, "refuse") == 0) {
        attr_add_int(rep, "status", 1);
        return 0;
    }
    if (strcmp(id, "close") == 0)
        return -1;
    if (strcmp(id, "closeonce") == 0 && !closed_once) {
        closed_once = 1;
        return -1;
    }
    attr_add_int(rep, "status", 0);
    if (strcmp(id, "missing") == 0)
        return 0;
    long long v = (long long)strlen(id);
    if (strcmp(id, "seen") == 0)
        v = served - 1;
    if (strcmp(id, "negative") == 0)
        v = -1;
    if (strcmp(id, "huge") == 0)
        v = 1LL << 40;
    if (strcmp(id, "extra") == 0)
        attr_add_int(rep, "bogus", 1);
    if (code == 1 || code == 6)
        attr_add_int(rep, "count", v);
    if (code != 5)
        attr_add_int(rep, "rate", code == 6 ? 10 : code * 100 + (v > 1000 ? v : 0));
    if (code == 6) {
        attr_add_int(rep, "message", 11);
        attr_add_int(rep, "recipient", 12);
        attr_add_int(rep, "auth", 13);
    }
    return 0;
}

static void server(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            _exit(1);
        struct stream *s = stream_open(fd, 10);
        struct attr_list req, rep;
        struct buf why = BUF_INIT;
        attr_list_init(&req);
        attr_list_init(&rep);
        while (attr_read(s, 0, &req, &why) == 0) {
            attr_list_free(&rep);
            if (serve_one(&req, &rep) < 0)
                break;
            if (attr_write(s, &rep) < 0)
                break;
        }
        attr_list_free(&req);
        attr_list_free(&rep);
        buf_free(&why);
        (void)stream_close(s);
    }
}

static int setup(void **state)
{
    struct buf why = BUF_INIT;
    if (mkdtemp(sock_dir) == NULL)
        return -1;
    snprintf(sock_path, sizeof(sock_path), "%s/anvil", sock_dir);
    int lfd = unix_listen(sock_path, 16, &why);
    buf_free(&why);
    if (lfd < 0)
        return -1;
    server_pid = fork();
    if (server_pid < 0)
        return -1;
    if (server_pid == 0)
        server(lfd);
    close(lfd);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int teardown(void **state)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
    }
    unlink(sock_path);
    rmdir(sock_dir);
    return 0;
}

static struct anvil_client *open_client(void)
{
    struct buf why = BUF_INIT;
    struct anvil_client *a = anvil_client_open(sock_path, 5, &why);
    if (a == NULL)
        fail_msg("open: %s", buf_cstr(&why));
    buf_free(&why);
    return a;
}

/* the tests ------------------------------------------------------------------- */

static void test_requests_return_the_server_counters(void **state)
{
    struct anvil_client *a = open_client();
    struct buf why = BUF_INIT;
    int count = -1, rate = -1;
    const char *id = "smtp:192.0.2.1"; /* 14 bytes: the fake server's count */

    assert_int_equal(anvil_client_connect(a, id, &count, &rate, &why), 0);
    assert_int_equal(count, 14);
    assert_int_equal(rate, 100);
    assert_int_equal(anvil_client_message(a, id, &rate, &why), 0);
    assert_int_equal(rate, 200);
    assert_int_equal(anvil_client_recipient(a, id, &rate, &why), 0);
    assert_int_equal(rate, 300);
    assert_int_equal(anvil_client_auth(a, id, &rate, &why), 0);
    assert_int_equal(rate, 400);
    assert_int_equal(anvil_client_disconnect(a, id, &why), 0);
    struct anvil_lookup l = {-1, -1, -1, -1, -1};
    assert_int_equal(anvil_client_lookup(a, id, &l, &why), 0);
    assert_int_equal(l.count, 14);
    assert_int_equal(l.rate, 10);
    assert_int_equal(l.message, 11);
    assert_int_equal(l.recipient, 12);
    assert_int_equal(l.auth, 13);
    /* all on one connection: the server saw six requests so far */
    assert_int_equal(anvil_client_lookup(a, "seen", &l, &why), 0);
    assert_int_equal(l.count, 6);
    anvil_client_close(a);
    buf_free(&why);
}

static void test_refusal_is_an_error(void **state)
{
    struct anvil_client *a = open_client();
    struct buf why = BUF_INIT;
    int count = 42, rate = 42;
    assert_int_equal(anvil_client_connect(a, "refuse", &count, &rate, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "refused"));
    assert_int_equal(count, 42);
    /* the connection is still good */
    assert_int_equal(anvil_client_message(a, "smtp:x", &rate, &why), 0);
    assert_int_equal(rate, 200);
    anvil_client_close(a);
    buf_free(&why);
}

static void test_bad_replies_are_refused(void **state)
{
    struct anvil_client *a = open_client();
    struct buf why = BUF_INIT;
    int count, rate;
    struct anvil_lookup l;
    assert_int_equal(anvil_client_connect(a, "missing", &count, &rate, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "no count"));
    assert_int_equal(anvil_client_connect(a, "negative", &count, &rate, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "out of range"));
    assert_int_equal(anvil_client_message(a, "huge", &rate, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "out of range"));
    assert_int_equal(anvil_client_lookup(a, "extra", &l, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "bogus"));
    /* after each bad reply the client starts over on a new connection */
    assert_int_equal(anvil_client_auth(a, "smtp:y", &rate, &why), 0);
    assert_int_equal(rate, 400);
    anvil_client_close(a);
    buf_free(&why);
}

static void test_lost_connection_is_retried_once(void **state)
{
    struct anvil_client *a = open_client();
    struct buf why = BUF_INIT;
    int count = -1, rate = -1;
    assert_int_equal(anvil_client_connect(a, "closeonce", &count, &rate, &why), 0);
    assert_int_equal(count, 9);
    assert_int_equal(anvil_client_connect(a, "close", &count, &rate, &why), -1);
    assert_true(why.len > 0);
    /* and it recovers for the next request */
    assert_int_equal(anvil_client_message(a, "smtp:z", &rate, &why), 0);
    anvil_client_close(a);
    buf_free(&why);
}

static void test_bad_idents_are_not_sent(void **state)
{
    struct anvil_client *a = open_client();
    struct buf why = BUF_INIT;
    struct anvil_lookup l;
    int rate, count;
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(anvil_client_lookup(a, "seen", &l, &why), 0);
    int before = l.count;
    assert_int_equal(anvil_client_connect(a, big, &count, &rate, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "bad ident"));
    assert_int_equal(anvil_client_message(a, "", &rate, &why), -1);
    assert_int_equal(anvil_client_recipient(a, NULL, &rate, &why), -1);
    assert_int_equal(anvil_client_auth(a, "smtp:a\r\nb", &rate, &why), -1);
    big[512] = 0;
    assert_int_equal(anvil_client_disconnect(a, big, &why), 0);
    assert_int_equal(anvil_client_lookup(a, "seen", &l, &why), 0);
    assert_int_equal(l.count, before + 2); /* the lookup and the 512-byte disconnect */
    anvil_client_close(a);
    buf_free(&why);
}

static void test_open_fails_without_server(void **state)
{
    struct buf why = BUF_INIT;
    char path[300];
    snprintf(path, sizeof(path), "%s/nothing", sock_dir);
    assert_null(anvil_client_open(path, 1, &why));
    assert_non_null(strstr(buf_cstr(&why), path));
    buf_free(&why);
    anvil_client_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_return_the_server_counters),
        cmocka_unit_test(test_refusal_is_an_error),
        cmocka_unit_test(test_bad_replies_are_refused),
        cmocka_unit_test(test_lost_connection_is_retried_once),
        cmocka_unit_test(test_bad_idents_are_not_sent),
        cmocka_unit_test(test_open_fails_without_server),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
