/* test_sock - UNIX and TCP listeners and connectors: round trips, stale
 * socket replacement, refusal to delete non-sockets, endpoint syntax,
 * close-on-exec, connect timeouts, peer names, and descriptor passing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/iostuff.h"
#include "util/sock.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/test_sock.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/s", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static int is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC);
}

static int is_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && !(fl & O_NONBLOCK);
}

static void test_unix_listen_and_connect_round_trip(void **state)
{
    struct buf why = BUF_INIT, peer = BUF_INIT;
    struct stat st;
    char c;

    int lfd = unix_listen(path, 5, &why);
    assert_true(lfd >= 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0666);
    assert_true(is_cloexec(lfd));

    int cfd = unix_connect(path, 5);
    assert_true(cfd >= 0);
    assert_true(is_cloexec(cfd));
    assert_true(is_blocking(cfd));
    int afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    assert_int_equal(write_full(cfd, "q", 1, 5), 0);
    assert_int_equal(read_full(afd, &c, 1, 5, NULL), 0);
    assert_int_equal(c, 'q');
    sock_peer_name(afd, &peer);
    assert_string_equal(buf_cstr(&peer), "local");
    close(afd);
    close(cfd);
    close(lfd);
    buf_free(&why);
    buf_free(&peer);
}

static void test_stale_socket_is_replaced(void **state)
{
    struct buf why = BUF_INIT;

    int old = unix_listen(path, 5, &why);
    assert_true(old >= 0);
    close(old); /* the file stays: a stale socket, as after a crash */
    struct stat st;
    assert_int_equal(unix_connect(path, 1), -1);
    assert_int_equal(errno, ECONNREFUSED);

    int lfd = unix_listen(path, 5, &why);
    assert_true(lfd >= 0);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    int cfd = unix_connect(path, 5);
    assert_true(cfd >= 0);
    close(cfd);
    close(lfd);
    buf_free(&why);
}

static void test_regular_file_at_socket_path_is_not_unlinked(void **state)
{
    struct buf why = BUF_INIT;
    struct stat st;

    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "keep", 4), 4);
    close(fd);
    assert_int_equal(unix_listen(path, 5, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), path));
    assert_non_null(strstr(buf_cstr(&why), "not a socket"));
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 4);
    buf_free(&why);
}

static void test_directory_at_socket_path_is_not_removed(void **state)
{
    struct buf why = BUF_INIT;
    struct stat st;

    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(unix_listen(path, 5, &why), -1);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(rmdir(path), 0);
    buf_free(&why);
}

static void test_overlong_socket_path_is_refused(void **state)
{
    struct buf why = BUF_INIT;
    char longpath[200];

    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = 0;
    assert_int_equal(unix_listen(longpath, 5, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "too long"));
    assert_int_equal(unix_connect(longpath, 1), -1);
    buf_free(&why);
}

static void test_unix_connect_to_missing_socket_fails(void **state)
{
    assert_int_equal(unix_connect(path, 1), -1);
    assert_int_equal(errno, ENOENT);
}

/* A free TCP port on 127.0.0.1, found by binding port 0. */
static int free_port(void)
{
    struct buf why = BUF_INIT;
    int fd;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    assert_int_equal(inet_listen("127.0.0.1:0", 5, &fd, 1, &why), 1);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd);
    buf_free(&why);
    return ntohs(sin.sin_port);
}

static void test_inet_listen_connect_and_peer_name(void **state)
{
    struct buf why = BUF_INIT, peer = BUF_INIT;
    char ep[64];
    int fds[4];
    char c;

    snprintf(ep, sizeof(ep), "127.0.0.1:%d", free_port());
    assert_int_equal(inet_listen(ep, 5, fds, 4, &why), 1);
    assert_true(is_cloexec(fds[0]));
    int on = 0;
    socklen_t len = sizeof(on);
    assert_int_equal(getsockopt(fds[0], SOL_SOCKET, SO_REUSEADDR, &on, &len), 0);
    assert_true(on);

    int cfd = inet_connect(ep, 5);
    assert_true(cfd >= 0);
    assert_true(is_cloexec(cfd));
    assert_true(is_blocking(cfd));
    int afd = accept(fds[0], NULL, NULL);
    assert_true(afd >= 0);
    assert_int_equal(write_full(afd, "z", 1, 5), 0);
    assert_int_equal(read_full(cfd, &c, 1, 5, NULL), 0);
    assert_int_equal(c, 'z');
    sock_peer_name(afd, &peer);
    assert_string_equal(buf_cstr(&peer), "127.0.0.1");
    close(afd);
    close(cfd);
    close(fds[0]);
    buf_free(&why);
    buf_free(&peer);
}

static void test_inet_listen_v6_literal_is_v6only(void **state)
{
    struct buf why = BUF_INIT, peer = BUF_INIT;
    int fd;

    int n = inet_listen("[::1]:0", 5, &fd, 1, &why);
    if (n < 0) {
        print_message("skipped: no IPv6 loopback here (%s)\n", buf_cstr(&why));
        buf_free(&why);
        skip();
    }
    assert_int_equal(n, 1);
    int on = 0;
    socklen_t len = sizeof(on);
    assert_int_equal(getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &len), 0);
    assert_true(on);

    struct sockaddr_in6 sin6;
    len = sizeof(sin6);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin6, &len), 0);
    char ep[64];
    snprintf(ep, sizeof(ep), "[::1]:%d", ntohs(sin6.sin6_port));
    int cfd = inet_connect(ep, 5);
    assert_true(cfd >= 0);
    int afd = accept(fd, NULL, NULL);
    assert_true(afd >= 0);
    sock_peer_name(afd, &peer);
    assert_string_equal(buf_cstr(&peer), "::1");
    close(afd);
    close(cfd);
    close(fd);
    buf_free(&why);
    buf_free(&peer);
}

static void test_port_only_listens_on_all_addresses(void **state)
{
    struct buf why = BUF_INIT;
    int fds[4];
    char ep[16];

    snprintf(ep, sizeof(ep), "%d", free_port());
    int n = inet_listen(ep, 5, fds, 4, &why);
    assert_in_range(n, 1, 2); /* 0.0.0.0, and :: where IPv6 exists */
    char cep[32];
    snprintf(cep, sizeof(cep), "127.0.0.1:%s", ep);
    int cfd = inet_connect(cep, 5);
    assert_true(cfd >= 0);
    close(cfd);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    buf_free(&why);
}

static void test_bad_endpoints_are_rejected_with_reason(void **state)
{
    struct buf why = BUF_INIT;
    int fds[4];

    assert_int_equal(inet_listen("::1:25", 5, fds, 4, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "brackets"));
    assert_int_equal(inet_listen("[::1]25", 5, fds, 4, &why), -1);
    assert_int_equal(inet_listen("127.0.0.1:", 5, fds, 4, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "no port"));
    assert_int_equal(inet_listen("127.0.0.1:nosuchservice-x", 5, fds, 4, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "127.0.0.1:nosuchservice-x"));
    assert_int_equal(inet_connect("25", 1), -1); /* connect needs a host */
    assert_int_equal(inet_connect("[::1", 1), -1);
    buf_free(&why);
}

static void test_address_in_use_is_reported(void **state)
{
    struct buf why = BUF_INIT;
    int fd, fd2;
    char ep[64];

    snprintf(ep, sizeof(ep), "127.0.0.1:%d", free_port());
    assert_int_equal(inet_listen(ep, 5, &fd, 1, &why), 1);
    assert_int_equal(inet_listen(ep, 5, &fd2, 1, &why), -1);
    assert_non_null(strstr(buf_cstr(&why), "bind 127.0.0.1:"));
    close(fd);
    buf_free(&why);
}

static void test_inet_connect_to_closed_port_is_refused(void **state)
{
    char ep[64];

    snprintf(ep, sizeof(ep), "127.0.0.1:%d", free_port());
    assert_int_equal(inet_connect(ep, 2), -1);
    assert_int_equal(errno, ECONNREFUSED);
}

static void test_peer_name_of_unconnected_socket_is_unknown(void **state)
{
    struct buf out = BUF_INIT;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    buf_set(&out, "junk");
    sock_peer_name(fd, &out);
    assert_string_equal(buf_cstr(&out), "unknown");
    close(fd);
    buf_free(&out);
}

static void test_fd_passes_over_a_unix_socket_and_leaves_what_follows(void **state)
{
    int sp[2], pf[2];
    char got[8] = {0};
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(pipe(pf), 0);
    assert_int_equal(unix_send_fd(sp[0], pf[1]), 0);
    assert_int_equal(write(sp[0], "abc", 3), 3);
    close(pf[1]); /* the receiver's copy must keep the pipe open */
    int fd = unix_recv_fd(sp[1]);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(fd, "hi", 2), 2);
    assert_int_equal(read(pf[0], got, sizeof(got)), 2);
    assert_memory_equal(got, "hi", 2);
    /* only the marker byte was consumed */
    assert_int_equal(read(sp[1], got, sizeof(got)), 3);
    assert_memory_equal(got, "abc", 3);
    close(fd);
    close(pf[0]);
    close(sp[0]);
    close(sp[1]);
}

static void test_recv_fd_without_descriptor_or_at_eof_fails(void **state)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    assert_int_equal(unix_send_fd(sp[0], -1), 0);
    errno = 0;
    assert_int_equal(unix_recv_fd(sp[1]), -1);
    assert_int_equal(errno, ENOMSG);
    close(sp[0]);
    errno = 0;
    assert_int_equal(unix_recv_fd(sp[1]), -1);
    assert_int_equal(errno, EPIPE);
    close(sp[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unix_listen_and_connect_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_socket_is_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regular_file_at_socket_path_is_not_unlinked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_directory_at_socket_path_is_not_removed, setup,
                                        teardown),
        cmocka_unit_test(test_overlong_socket_path_is_refused),
        cmocka_unit_test_setup_teardown(test_unix_connect_to_missing_socket_fails, setup, teardown),
        cmocka_unit_test(test_inet_listen_connect_and_peer_name),
        cmocka_unit_test(test_inet_listen_v6_literal_is_v6only),
        cmocka_unit_test(test_port_only_listens_on_all_addresses),
        cmocka_unit_test(test_bad_endpoints_are_rejected_with_reason),
        cmocka_unit_test(test_address_in_use_is_reported),
        cmocka_unit_test(test_inet_connect_to_closed_port_is_refused),
        cmocka_unit_test(test_peer_name_of_unconnected_socket_is_unknown),
        cmocka_unit_test(test_fd_passes_over_a_unix_socket_and_leaves_what_follows),
        cmocka_unit_test(test_recv_fd_without_descriptor_or_at_eof_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
