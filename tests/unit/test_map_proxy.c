/* test_map_proxy - the proxy: table type without proxymap: the request and
 * reply encoding both sides use, table-name checks and proxy_read_maps
 * parsing, and the client against a scripted stand-in server on
 * private/proxymap (flags and keys sent as given, refusals at open, one
 * reconnect after a dropped connection, timeouts as temporary failures). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/attr.h"
#include "maps/map.h"
#include "maps/map_proxy.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/sock.h"
#include "util/stream.h"

/* ---- requests and replies ---------------------------------------------------------------- */

/* roundtrip - encode, put on the wire, decode again. */
static void wire(const struct attr_list *in, struct attr_list *out)
{
    struct buf w = BUF_INIT, why = BUF_INIT;
    size_t used;
    attr_encode(in, &w);
    attr_list_init(out);
    assert_int_equal(attr_decode(w.data, w.len, 0, out, &used, &why), 1);
    assert_int_equal(used, w.len);
    buf_free(&w);
    buf_free(&why);
}

static void test_request_round_trip(void **state)
{
    struct attr_list l, back;
    struct map_proxy_request r = {PROXY_OP_LOOKUP, "unix:passwd.byname", MAP_FOLD_CASE, "Root"};
    struct map_proxy_request got;
    struct buf why = BUF_INIT;

    attr_list_init(&l);
    map_proxy_request_encode(&r, &l);
    wire(&l, &back);
    assert_int_equal(map_proxy_request_decode(&back, &got, &why), 0);
    assert_int_equal(got.op, PROXY_OP_LOOKUP);
    assert_string_equal(got.table, "unix:passwd.byname");
    assert_int_equal(got.flags, MAP_FOLD_CASE);
    assert_string_equal(got.key, "Root");
    attr_list_free(&back);

    struct map_proxy_request o = {PROXY_OP_OPEN, "lmdb:/etc/x", 0, NULL};
    map_proxy_request_encode(&o, &l);
    wire(&l, &back);
    assert_int_equal(map_proxy_request_decode(&back, &got, &why), 0);
    assert_int_equal(got.op, PROXY_OP_OPEN);
    assert_string_equal(got.table, "lmdb:/etc/x");
    assert_int_equal(got.flags, 0);
    assert_null(got.key);
    attr_list_free(&back);
    attr_list_free(&l);
    buf_free(&why);
}

/* expect_bad_request - decode fails and the reason mentions word. */
static void expect_bad_request(struct attr_list *l, const char *word)
{
    struct map_proxy_request got;
    struct buf why = BUF_INIT;
    if (map_proxy_request_decode(l, &got, &why) != -1)
        fail_msg("accepted a request that should fail with \"%s\"", word);
    if (strstr(buf_cstr(&why), word) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", buf_cstr(&why), word);
    attr_list_free(l);
    buf_free(&why);
}

static void test_request_decode_rejects_what_does_not_fit(void **state)
{
    struct attr_list l;
    attr_list_init(&l);

    attr_add_str(&l, "request", "update");
    attr_add_str(&l, "table", "lmdb:/x");
    attr_add_int(&l, "flags", 1);
    attr_add_str(&l, "key", "k");
    expect_bad_request(&l, "unknown request");

    attr_add_str(&l, "request", "lookup");
    attr_add_str(&l, "table", "lmdb:/x");
    attr_add_int(&l, "flags", MAP_UPDATE);
    attr_add_str(&l, "key", "k");
    expect_bad_request(&l, "bad flags");

    attr_add_str(&l, "request", "lookup");
    attr_add_str(&l, "table", "lmdb:/x");
    attr_add_int(&l, "flags", -1);
    attr_add_str(&l, "key", "k");
    expect_bad_request(&l, "bad flags");

    attr_add_str(&l, "request", "lookup");
    attr_add_str(&l, "table", "lmdb:/x");
    attr_add_int(&l, "flags", 1);
    expect_bad_request(&l, "key");

    attr_add_str(&l, "request", "open");
    attr_add_str(&l, "table", "lmdb:/x");
    attr_add_int(&l, "flags", 1);
    attr_add_str(&l, "key", "k");
    expect_bad_request(&l, "key");

    attr_add_str(&l, "request", "lookup");
    attr_add_str(&l, "table", "lmdb:/x");
    attr_add_int(&l, "flags", 1);
    attr_add_str(&l, "key", "k");
    attr_add_str(&l, "value", "v");
    expect_bad_request(&l, "value");

    attr_add_str(&l, "request", "lookup");
    attr_add_str(&l, "table", "lmdb:/x");
    attr_add_str(&l, "flags", "1");
    attr_add_str(&l, "key", "k");
    expect_bad_request(&l, "flags");

    char *big = malloc(PROXY_KEY_MAX + 2);
    memset(big, 'a', PROXY_KEY_MAX + 1);
    big[PROXY_KEY_MAX + 1] = 0;
    attr_add_str(&l, "request", "lookup");
    attr_add_str(&l, "table", "lmdb:/x");
    attr_add_int(&l, "flags", 1);
    attr_add_str(&l, "key", big);
    expect_bad_request(&l, "key longer");
    big[PROXY_TABLE_MAX + 1] = 0;
    attr_add_str(&l, "request", "open");
    attr_add_str(&l, "table", big);
    attr_add_int(&l, "flags", 1);
    expect_bad_request(&l, "table name longer");
    free(big);
}

static void expect_reply(enum map_proxy_op op, int status, const char *text, const char *want)
{
    struct attr_list l, back;
    struct buf why = BUF_INIT;
    const char *got;
    int st;

    attr_list_init(&l);
    map_proxy_reply_encode(op, status, text, &l);
    wire(&l, &back);
    if (map_proxy_reply_decode(op, &back, &st, &got, &why) < 0)
        fail_msg("reply %d: %s", status, buf_cstr(&why));
    assert_int_equal(st, status);
    assert_string_equal(got, want);
    attr_list_free(&l);
    attr_list_free(&back);
    buf_free(&why);
}

static void test_reply_round_trip(void **state)
{
    expect_reply(PROXY_OP_LOOKUP, PROXY_STAT_OK, "root:x:0:0::/root:/bin/sh",
                 "root:x:0:0::/root:/bin/sh");
    expect_reply(PROXY_OP_LOOKUP, PROXY_STAT_OK, "", "");
    expect_reply(PROXY_OP_LOOKUP, PROXY_STAT_NOKEY, NULL, "");
    expect_reply(PROXY_OP_LOOKUP, PROXY_STAT_RETRY, "database down", "database down");
    expect_reply(PROXY_OP_LOOKUP, PROXY_STAT_BAD, "unapproved table", "unapproved table");
    expect_reply(PROXY_OP_OPEN, PROXY_STAT_OK, NULL, "");
    expect_reply(PROXY_OP_OPEN, PROXY_STAT_RETRY, "no such file", "no such file");
    expect_reply(PROXY_OP_OPEN, PROXY_STAT_BAD, "unapproved table", "unapproved table");
}

static void expect_bad_reply(enum map_proxy_op op, struct attr_list *l, const char *word)
{
    struct buf why = BUF_INIT;
    const char *got;
    int st;
    if (map_proxy_reply_decode(op, l, &st, &got, &why) != -1)
        fail_msg("accepted a reply that should fail with \"%s\"", word);
    if (strstr(buf_cstr(&why), word) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", buf_cstr(&why), word);
    attr_list_free(l);
    buf_free(&why);
}

static void test_reply_decode_rejects_bad_status_and_missing_parts(void **state)
{
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "status", 4);
    attr_add_str(&l, "value", "");
    expect_bad_reply(PROXY_OP_LOOKUP, &l, "bad status");
    attr_add_int(&l, "status", -1);
    attr_add_str(&l, "value", "");
    expect_bad_reply(PROXY_OP_LOOKUP, &l, "bad status");
    attr_add_int(&l, "status", PROXY_STAT_NOKEY); /* "not found" is no answer to open */
    attr_add_str(&l, "reason", "");
    expect_bad_reply(PROXY_OP_OPEN, &l, "bad status");
    attr_add_int(&l, "status", 0);
    expect_bad_reply(PROXY_OP_LOOKUP, &l, "value");
    attr_add_int(&l, "status", 0);
    attr_add_str(&l, "value", "v");
    expect_bad_reply(PROXY_OP_OPEN, &l, "value");
}

/* ---- table names and proxy_read_maps ---------------------------------------------------- */

static void expect_name(const char *in, const char *want)
{
    struct buf why = BUF_INIT;
    const char *got = map_proxy_table_name(in, &why);
    if (want == NULL && got != NULL)
        fail_msg("\"%s\" accepted as \"%s\"", in, got);
    if (want != NULL && got == NULL)
        fail_msg("\"%s\" refused: %s", in, buf_cstr(&why));
    if (want != NULL)
        assert_string_equal(got, want);
    else
        assert_true(why.len > 0);
    buf_free(&why);
}

static void test_table_names(void **state)
{
    expect_name("unix:passwd.byname", "unix:passwd.byname");
    expect_name("proxy:unix:passwd.byname", "unix:passwd.byname"); /* one prefix, as Postfix */
    expect_name("hash:/etc/aliases", "hash:/etc/aliases");
    expect_name("inline:{ a=b, c=d }", "inline:{ a=b, c=d }");
    expect_name("static:", "static:");
    expect_name("proxy:proxy:lmdb:/x", NULL);
    expect_name("proxy:", NULL);
    expect_name("nocolon", NULL);
    expect_name(":name", NULL);
    expect_name("LMDB:/x", NULL);
    expect_name("lmdb:/x\n", NULL);
    expect_name("lmdb:/x\ty", NULL);
    char *big = malloc(PROXY_TABLE_MAX + 2);
    memcpy(big, "lmdb:", 5);
    memset(big + 5, 'a', PROXY_TABLE_MAX - 4);
    big[PROXY_TABLE_MAX + 1] = 0;
    expect_name(big, NULL);
    big[PROXY_TABLE_MAX] = 0;
    expect_name(big, big);
    free(big);
}

static void test_proxy_read_maps_parsing(void **state)
{
    struct argv *a = map_proxy_approved(
        "proxy:unix:passwd.byname hash:/etc/aliases,permit_mynetworks 127.0.0.0/8 [::1]/128\n"
        "\tinline:{ a=b, c=d }, proxy:proxy:lmdb:/nested lmdb:/y lmdb:/y proxy:texthash:/t "
        "check_client_access cidr:/etc/c ,, Upper:/u");
    const char *want[] = {
        "unix:passwd.byname", "hash:/etc/aliases", "inline:{ a=b, c=d }", "lmdb:/y",
        "texthash:/t",        "cidr:/etc/c",
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    for (size_t i = 0; i < a->argc; i++)
        if (i >= n || strcmp(a->argv[i], want[i]) != 0)
            fail_msg("entry %zu: \"%s\"", i, a->argv[i]);
    assert_int_equal(a->argc, n);
    assert_true(map_proxy_is_approved(a, "unix:passwd.byname"));
    assert_true(map_proxy_is_approved(a, "inline:{ a=b, c=d }"));
    assert_false(map_proxy_is_approved(a, "proxy:unix:passwd.byname"));
    assert_false(map_proxy_is_approved(a, "lmdb:/nested"));
    assert_false(map_proxy_is_approved(a, "proxy:lmdb:/nested"));
    assert_false(map_proxy_is_approved(a, "unix:passwd"));
    argv_free(a);

    a = map_proxy_approved("");
    assert_int_equal(a->argc, 0);
    argv_free(a);
    a = map_proxy_approved("inline:{ unbalanced, x lmdb:/z");
    assert_int_equal(a->argc, 1); /* the rest of the value is one word */
    argv_free(a);
}

/* ---- the client against a stand-in for proxymap ----------------------------------------- */

static char dir[] = "/tmp/test_map_proxy.XXXXXX";
static char olddir[4096];
static pid_t server_pid;

/* The stand-in answers lookups by key:
 *   "missing" not found; "retry" temporary failure; "bad" refused;
 *   "drop" closes the connection without a reply; "hang" never replies;
 *   "garbage" status 7; anything else: found, value
 *   "conn=N table=T flags=F key=K", N counting connections from 1.
 * open: table "lmdb:/refused" refused, "lmdb:/broken" temporary failure,
 * others fine. With close_after_reply, it closes each connection after one
 * reply. Every connection is served by its own child process. */
static int close_after_reply;

static void serve_connection(int fd, int conn)
{
    struct stream *s = stream_open(fd, 30);
    struct attr_list in, out;
    struct buf why = BUF_INIT, text = BUF_INIT;
    struct map_proxy_request r;

    attr_list_init(&in);
    attr_list_init(&out);
    while (attr_read(s, PROXY_REQUEST_MAX, &in, &why) == 0) {
        if (map_proxy_request_decode(&in, &r, &why) < 0)
            _exit(2);
        if (r.op == PROXY_OP_OPEN) {
            if (strcmp(r.table, "lmdb:/refused") == 0)
                map_proxy_reply_encode(r.op, PROXY_STAT_BAD, "unapproved table", &out);
            else if (strcmp(r.table, "lmdb:/broken") == 0)
                map_proxy_reply_encode(r.op, PROXY_STAT_RETRY, "open lmdb:/broken: gone", &out);
            else
                map_proxy_reply_encode(r.op, PROXY_STAT_OK, NULL, &out);
        } else if (strcmp(r.key, "missing") == 0) {
            map_proxy_reply_encode(r.op, PROXY_STAT_NOKEY, NULL, &out);
        } else if (strcmp(r.key, "retry") == 0) {
            map_proxy_reply_encode(r.op, PROXY_STAT_RETRY, "database\ndown", &out);
        } else if (strcmp(r.key, "bad") == 0) {
            map_proxy_reply_encode(r.op, PROXY_STAT_BAD, "unapproved table", &out);
        } else if (strcmp(r.key, "drop") == 0) {
            _exit(0);
        } else if (strcmp(r.key, "hang") == 0) {
            pause();
        } else if (strcmp(r.key, "garbage") == 0) {
            attr_list_free(&out);
            attr_add_int(&out, "status", 7);
            attr_add_str(&out, "value", "");
        } else {
            buf_setf(&text, "conn=%d table=%s flags=%d key=%s", conn, r.table, r.flags, r.key);
            map_proxy_reply_encode(r.op, PROXY_STAT_OK, buf_cstr(&text), &out);
        }
        if (attr_write(s, &out) < 0 || close_after_reply)
            _exit(0);
    }
    _exit(0);
}

/* The stand-in's connection children, ended and reaped by the stand-in
 * itself when the test ends it (SIGTERM), so that none is left to init. */
#define MAX_CONN 64
static pid_t conn_pids[MAX_CONN];
static int conn_count;

static void server_term(int sig)
{
    (void)sig;
    for (int i = 0; i < conn_count; i++)
        kill(conn_pids[i], SIGKILL);
    while (wait(NULL) > 0)
        ;
    _exit(0);
}

static void start_server(void)
{
    struct buf why = BUF_INIT;
    int lfd = unix_listen(MAIL_SOCK_PROXYMAP, 16, &why);
    if (lfd < 0)
        fail_msg("listen: %s", buf_cstr(&why));
    buf_free(&why);
    server_pid = fork();
    assert_true(server_pid >= 0);
    if (server_pid == 0) {
        sigset_t term, old;
        sigemptyset(&term);
        sigaddset(&term, SIGTERM);
        signal(SIGTERM, server_term);
        for (conn_count = 0; conn_count < MAX_CONN;) {
            int fd = accept(lfd, NULL, NULL);
            if (fd < 0)
                continue;
            /* the handler must see every child it has to end */
            sigprocmask(SIG_BLOCK, &term, &old);
            pid_t pid = fork();
            if (pid == 0) {
                signal(SIGTERM, SIG_DFL);
                sigprocmask(SIG_SETMASK, &old, NULL);
                close(lfd);
                serve_connection(fd, conn_count + 1);
            }
            if (pid > 0)
                conn_pids[conn_count++] = pid;
            sigprocmask(SIG_SETMASK, &old, NULL);
            close(fd);
        }
        for (;;)
            pause();
    }
    close(lfd);
}

static void stop_server(void)
{
    if (server_pid <= 0)
        return;
    kill(server_pid, SIGTERM);
    waitpid(server_pid, NULL, 0);
    server_pid = 0;
}

static int setup_client(void **state)
{
    strcpy(dir, "/tmp/test_map_proxy.XXXXXX");
    if (mkdtemp(dir) == NULL || getcwd(olddir, sizeof(olddir)) == NULL || chdir(dir) < 0 ||
        mkdir("private", 0700) < 0)
        return -1;
    map_register(&map_proxy_ops);
    mail_conf_override("ipc_timeout", "2s", "test");
    mail_conf_override("ipc_idle", "60s", "test");
    close_after_reply = 0;
    server_pid = 0;
    return 0;
}

static int teardown_client(void **state)
{
    char cmd[128];
    map_proxy_disconnect();
    stop_server();
    if (chdir(olddir) < 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct map *open_ok(const char *spec, int flags)
{
    struct buf why = BUF_INIT;
    struct map *m = map_open(spec, flags, &why);
    if (m == NULL)
        fail_msg("open %s: %s", spec, buf_cstr(&why));
    buf_free(&why);
    return m;
}

static void expect_lookup(struct map *m, const char *key, int want, const char *text)
{
    struct buf v = BUF_INIT;
    int r = map_lookup(m, key, &v);
    if (r != want)
        fail_msg("lookup %s: got %d (%s), want %d", key, r, r < 0 ? map_error(m) : v.data, want);
    const char *got = r == 1 ? buf_cstr(&v) : r < 0 ? map_error(m) : NULL;
    if (text != NULL && strstr(got, text) == NULL)
        fail_msg("lookup %s: \"%s\" does not contain \"%s\"", key, got, text);
    buf_free(&v);
}

static void test_keys_and_flags_go_to_the_server_unchanged(void **state)
{
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE);
    /* no folding here: proxymap folds with the flags it is given */
    expect_lookup(m, "MiXed@Example.COM", 1,
                  "conn=1 table=lmdb:/users flags=1 key=MiXed@Example.COM");
    struct map *cs = open_ok("proxy:unix:passwd.byname", 0);
    expect_lookup(cs, "Root", 1, "conn=1 table=unix:passwd.byname flags=0 key=Root");
    expect_lookup(m, "missing", 0, NULL);
    expect_lookup(m, "with space and \xc3\xa9", 1, "key=with space and \xc3\xa9");
    map_close(cs);
    map_close(m);
}

static void test_server_failures_are_temporary_and_name_the_table(void **state)
{
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE);
    expect_lookup(m, "retry", -1, "table proxy:lmdb:/users: lookup failed in proxymap: ");
    /* the server's reason arrives, made fit for one log line */
    expect_lookup(m, "retry", -1, "database down");
    expect_lookup(m, "bad", -1, "table proxy:lmdb:/users: refused by proxymap: unapproved");
    expect_lookup(m, "garbage", -1, "bad status 7");
    /* after a reply it could not use, the client starts a new connection */
    expect_lookup(m, "x", 1, "conn=2 ");
    map_close(m);
}

static void test_open_fails_for_refused_broken_and_nested_tables(void **state)
{
    struct buf why = BUF_INIT;
    start_server();
    assert_null(map_open("proxy:lmdb:/refused", MAP_FOLD_CASE, &why));
    assert_non_null(strstr(buf_cstr(&why), "table proxy:lmdb:/refused: refused by proxymap: "
                                           "unapproved table"));
    buf_reset(&why);
    assert_null(map_open("proxy:lmdb:/broken", MAP_FOLD_CASE, &why));
    assert_non_null(strstr(buf_cstr(&why), "table proxy:lmdb:/broken: proxymap cannot open it: "
                                           "open lmdb:/broken: gone"));
    buf_reset(&why);
    assert_null(map_open("proxy:proxy:lmdb:/users", MAP_FOLD_CASE, &why));
    assert_non_null(strstr(buf_cstr(&why), "cannot be proxied again"));
    buf_reset(&why);
    assert_null(map_open("proxy:nocolon", MAP_FOLD_CASE, &why));
    assert_non_null(strstr(buf_cstr(&why), "table proxy:nocolon: "));
    buf_reset(&why);
    /* proxy: tables cannot be built or changed */
    assert_null(map_open("proxy:lmdb:/users", MAP_UPDATE, &why));
    buf_free(&why);
}

static void test_without_server_open_fails_naming_the_table(void **state)
{
    struct buf why = BUF_INIT;
    assert_null(map_open("proxy:unix:passwd.byname", MAP_FOLD_CASE, &why));
    assert_non_null(strstr(buf_cstr(&why), "table proxy:unix:passwd.byname: proxymap service "
                                           "unavailable: connect to private/proxymap: "));
    buf_free(&why);
}

static void test_lookup_without_server_is_temporary(void **state)
{
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE);
    stop_server();
    unlink(MAIL_SOCK_PROXYMAP);
    expect_lookup(m, "x", -1,
                  "table proxy:lmdb:/users: proxymap service unavailable: connect to "
                  "private/proxymap: No such file or directory");
    map_close(m);
}

static void test_one_reconnect_after_a_dropped_connection(void **state)
{
    close_after_reply = 1;
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE); /* connection 1 */
    /* connection 1 is gone after the reply: the lookup finds out and uses 2 */
    expect_lookup(m, "a", 1, "conn=2 ");
    expect_lookup(m, "b", 1, "conn=3 "); /* and so on: 2 was closed after its reply */
    map_close(m);
}

static void test_dropped_twice_is_temporary_after_exactly_one_retry(void **state)
{
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE);
    expect_lookup(m, "drop", -1,
                  "table proxy:lmdb:/users: proxymap service unavailable: read from "
                  "private/proxymap: end of file");
    expect_lookup(m, "x", 1, "conn=3 "); /* 1 and 2 were dropped */
    map_close(m);
}

static void test_timeout_is_temporary_and_bounded(void **state)
{
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE);
    time_t t0 = time(NULL);
    expect_lookup(m, "hang", -1, "timeout after 2s waiting for private/proxymap");
    time_t took = time(NULL) - t0;
    if (took < 1 || took > 4)
        fail_msg("the lookup took %lds with ipc_timeout 2s", (long)took);
    expect_lookup(m, "x", 1, "conn=2 "); /* no retry on the hung connection */
    map_close(m);
}

static void test_idle_connection_is_closed_after_ipc_idle(void **state)
{
    mail_conf_override("ipc_idle", "1s", "test");
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE);
    expect_lookup(m, "x", 1, "conn=1 ");
    sleep(3); /* idle for more than a second: a new connection */
    expect_lookup(m, "x", 1, "conn=2 ");
    expect_lookup(m, "x", 1, "conn=2 ");
    map_close(m);
}

static void test_key_too_long_is_not_sent(void **state)
{
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE);
    char *big = malloc(PROXY_KEY_MAX + 2);
    memset(big, 'k', PROXY_KEY_MAX + 1);
    big[PROXY_KEY_MAX + 1] = 0;
    expect_lookup(m, big, -1, "key longer than");
    free(big);
    expect_lookup(m, "x", 1, "conn=1 ");
    map_close(m);
}

static void test_tables_share_the_connection_until_the_last_closes(void **state)
{
    start_server();
    struct map *a = open_ok("proxy:lmdb:/a", MAP_FOLD_CASE);
    struct map *b = open_ok("proxy:lmdb:/b", MAP_FOLD_CASE);
    expect_lookup(a, "x", 1, "conn=1 table=lmdb:/a");
    expect_lookup(b, "x", 1, "conn=1 table=lmdb:/b");
    map_close(a);
    expect_lookup(b, "y", 1, "conn=1 ");
    map_close(b);
    struct map *c = open_ok("proxy:lmdb:/c", MAP_FOLD_CASE);
    expect_lookup(c, "x", 1, "conn=2 ");
    map_close(c);
}

static void test_forked_child_uses_its_own_connection(void **state)
{
    start_server();
    struct map *m = open_ok("proxy:lmdb:/users", MAP_FOLD_CASE);
    expect_lookup(m, "x", 1, "conn=1 ");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct buf v = BUF_INIT;
        int r = map_lookup(m, "x", &v);
        _exit(r == 1 && strstr(buf_cstr(&v), "conn=2 ") != NULL ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    expect_lookup(m, "y", 1, "conn=1 "); /* the parent's connection is untouched */
    map_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_request_decode_rejects_what_does_not_fit),
        cmocka_unit_test(test_reply_round_trip),
        cmocka_unit_test(test_reply_decode_rejects_bad_status_and_missing_parts),
        cmocka_unit_test(test_table_names),
        cmocka_unit_test(test_proxy_read_maps_parsing),
#define CLIENT_TEST(t) cmocka_unit_test_setup_teardown(t, setup_client, teardown_client)
        CLIENT_TEST(test_keys_and_flags_go_to_the_server_unchanged),
        CLIENT_TEST(test_server_failures_are_temporary_and_name_the_table),
        CLIENT_TEST(test_open_fails_for_refused_broken_and_nested_tables),
        CLIENT_TEST(test_without_server_open_fails_naming_the_table),
        CLIENT_TEST(test_lookup_without_server_is_temporary),
        CLIENT_TEST(test_one_reconnect_after_a_dropped_connection),
        CLIENT_TEST(test_dropped_twice_is_temporary_after_exactly_one_retry),
        CLIENT_TEST(test_timeout_is_temporary_and_bounded),
        CLIENT_TEST(test_idle_connection_is_closed_after_ipc_idle),
        CLIENT_TEST(test_key_too_long_is_not_sent),
        CLIENT_TEST(test_tables_share_the_connection_until_the_last_closes),
        CLIENT_TEST(test_forked_child_uses_its_own_connection),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
