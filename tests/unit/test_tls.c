/* test_tls - TLS sessions under streams: a forked server and the test as
 * client talk over a socketpair with a throwaway certificate made here;
 * verification by CA and name, protocol limits, timeouts, clean and abrupt
 * close, context errors, and the protocol and cipher grade parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"
#include "util/buf.h"
#include "util/iostuff.h"
#include "util/stream.h"

#define SERVER_NAME "mail.test.example"

static char tmpdir[64];
static char cert_file[128];     /* CN mail.test.example, SAN DNS:mail.test.example */
static char key_file[128];      /* its key */
static char other_key[128];     /* a key that does not match cert_file */
static char combined_file[128]; /* cert_file and key_file in one PEM */
static char client_cert[128];   /* CN client.test.example (key inside) */
static char wild_cert[128];     /* SAN DNS:*.wild.test.example (key inside) */
static char missing_file[128];  /* never created */

/* ---- throwaway certificates ---------------------------------------------- */

static void add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, long serial)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    add_ext(x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign");
    add_ext(x, NID_subject_alt_name, san);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

static void write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    if (cert != NULL)
        assert_int_equal(PEM_write_X509(fp, cert), 1);
    if (key != NULL)
        assert_int_equal(PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(fp), 0);
}

static int group_setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tls.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(cert_file, sizeof(cert_file), "%s/cert.pem", tmpdir);
    snprintf(key_file, sizeof(key_file), "%s/key.pem", tmpdir);
    snprintf(other_key, sizeof(other_key), "%s/other_key.pem", tmpdir);
    snprintf(combined_file, sizeof(combined_file), "%s/combined.pem", tmpdir);
    snprintf(client_cert, sizeof(client_cert), "%s/client.pem", tmpdir);
    snprintf(wild_cert, sizeof(wild_cert), "%s/wild.pem", tmpdir);
    snprintf(missing_file, sizeof(missing_file), "%s/no-such-file.pem", tmpdir);

    EVP_PKEY *key = EVP_EC_gen("P-256"), *key2 = EVP_EC_gen("P-256");
    EVP_PKEY *ckey = EVP_EC_gen("P-256"), *wkey = EVP_EC_gen("P-256");
    assert_true(key && key2 && ckey && wkey);
    X509 *cert = make_cert(key, SERVER_NAME, "DNS:" SERVER_NAME, 1);
    X509 *ccert = make_cert(ckey, "client.test.example", "DNS:client.test.example", 2);
    X509 *wcert = make_cert(wkey, "wild.test.example", "DNS:*.wild.test.example", 3);
    write_pem(cert_file, cert, NULL);
    write_pem(key_file, NULL, key);
    write_pem(other_key, NULL, key2);
    write_pem(combined_file, cert, key);
    write_pem(client_cert, ccert, ckey);
    write_pem(wild_cert, wcert, wkey);
    X509_free(cert);
    X509_free(ccert);
    X509_free(wcert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
    EVP_PKEY_free(ckey);
    EVP_PKEY_free(wkey);
    return 0;
}

static int group_teardown(void **state)
{
    const char *files[] = {cert_file, key_file, other_key, combined_file, client_cert, wild_cert};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(files[i]);
    rmdir(tmpdir);
    return 0;
}

/* ---- the forked server ---------------------------------------------------- */

enum { SRV_OK = 0, SRV_NO_CTX = 10, SRV_NO_HANDSHAKE = 3, SRV_IO = 4 };

/* Serve one connection: "QUIT" ends with close_notify, "DROP" closes the
 * socket without it, "INFO" describes the session, "BULK n" sends n lines,
 * "DATA n" receives n lines, anything else is echoed. */
static int server_child(int fd, const struct tls_server_params *p)
{
    struct buf why = BUF_INIT, line = BUF_INIT;
    struct tls_server_ctx *ctx = tls_server_ctx_create(p, &why);
    if (ctx == NULL)
        return SRV_NO_CTX;
    struct stream *s = stream_open(fd, 5);
    struct tls_session *ts = tls_server_start(ctx, s, 5, &why);
    if (ts == NULL)
        return SRV_NO_HANDSHAKE;
    const struct tls_info *in = tls_session_info(ts);
    long n;
    for (;;) {
        enum stream_line r = stream_get_line(s, &line, 1000);
        if (r != STREAM_LINE_OK)
            return r == STREAM_LINE_EOF ? SRV_OK : SRV_IO;
        if (line.len > 0 && line.data[line.len - 1] == '\r')
            buf_truncate(&line, line.len - 1);
        if (strcmp(line.data, "QUIT") == 0) {
            stream_puts(s, "221 bye\r\n");
            break;
        } else if (strcmp(line.data, "DROP") == 0) {
            return SRV_OK; /* exit closes the socket, no close_notify */
        } else if (strcmp(line.data, "INFO") == 0) {
            stream_printf(s, "INFO %s %s %d %d %s\r\n", in->protocol, in->cipher, in->cipher_bits,
                          in->peer_verified, in->peer_cn[0] ? in->peer_cn : "-");
        } else if (sscanf(line.data, "BULK %ld", &n) == 1) {
            for (long i = 0; i < n; i++)
                stream_printf(s, "%06ld %0*d\r\n", i, 90, 0);
            stream_puts(s, ".\r\n");
        } else if (sscanf(line.data, "DATA %ld", &n) == 1) {
            long got = 0;
            for (long i = 0; i < n; i++) {
                if (stream_get_line(s, &line, 1000) != STREAM_LINE_OK)
                    return SRV_IO;
                char want[32];
                snprintf(want, sizeof(want), "%06ld ", i);
                got += strncmp(line.data, want, 7) == 0;
            }
            stream_printf(s, "250 got %ld\r\n", got);
        } else {
            stream_printf(s, "250 echo %s\r\n", line.data);
        }
        if (stream_flush(s) < 0)
            return SRV_IO;
    }
    tls_session_shutdown(ts);
    int rc = stream_close(s) < 0 ? SRV_IO : SRV_OK;
    tls_session_free(ts);
    tls_server_ctx_free(ctx);
    buf_free(&line);
    buf_free(&why);
    return rc;
}

/* A connected pair: the server runs in a child on one end, *client_fd is
 * the other. */
static pid_t server_fork(const struct tls_server_params *p, int *client_fd)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        alarm(20); /* never outlive a failed test */
        _exit(server_child(sv[1], p));
    }
    close(sv[1]);
    *client_fd = sv[0];
    return pid;
}

/* The child's exit code; kill it if it has not finished within 10 s. */
static int reap(pid_t pid)
{
    int status;
    for (int i = 0; i < 1000; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        assert_int_equal(r, 0);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    (void)waitpid(pid, &status, 0);
    fail_msg("server child %d did not exit within 10 s", (int)pid);
    return -1;
}

static const struct tls_server_params default_server = {
    .cert_file = cert_file, .key_file = key_file, .protocols = "", .ciphers = "", .ca_file = ""};

static struct tls_client_ctx *client_ctx(const char *protocols, const char *ca_file)
{
    struct buf why = BUF_INIT;
    struct tls_client_params cp = {.protocols = protocols, .ciphers = "", .ca_file = ca_file};
    struct tls_client_ctx *cc = tls_client_ctx_create(&cp, &why);
    if (cc == NULL)
        fail_msg("client context: %s", buf_cstr(&why));
    buf_free(&why);
    return cc;
}

static double elapsed_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void send_line(struct stream *s, const char *text)
{
    stream_printf(s, "%s\r\n", text);
    assert_int_equal(stream_flush(s), 0);
}

static void expect_line(struct stream *s, struct buf *line, const char *want)
{
    enum stream_line r = stream_get_line(s, line, 1000);
    if (r != STREAM_LINE_OK)
        fail_msg("expected \"%s\", got read result %d (err %d)", want, (int)r, s->err);
    assert_string_equal(buf_cstr(line), want);
}

/* Handshake as the client against a default server; *pid and *sp are set.
 * NULL + why when the handshake fails. */
static struct tls_session *connect_client(struct tls_client_ctx *cc,
                                          const struct tls_server_params *sp, const char *sni,
                                          int verify, const char *const *names, pid_t *pid,
                                          struct stream **s, struct buf *why)
{
    int fd;
    *pid = server_fork(sp, &fd);
    *s = stream_open(fd, 5);
    return tls_client_start(cc, *s, sni, verify, names, 5, why);
}

/* End a session the way the server expects: QUIT, its reply, close_notify.
 * (Closing a socket with unread input, such as TLS 1.3 session tickets,
 * resets the connection instead.) */
static void quit(struct stream *s)
{
    struct buf line = BUF_INIT;
    send_line(s, "QUIT");
    expect_line(s, &line, "221 bye\r");
    assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_EOF);
    buf_free(&line);
}

static void must_connect(struct tls_session *ts, const struct buf *why)
{
    if (ts == NULL)
        fail_msg("handshake failed: %s", buf_cstr(why));
}

/* ---- sessions ------------------------------------------------------------- */

static void test_verified_session_exchanges_lines_both_ways(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    const char *names[] = {"other.example", SERVER_NAME, NULL};
    struct buf why = BUF_INIT, line = BUF_INIT;
    struct stream *s;
    pid_t pid;

    struct tls_session *ts =
        connect_client(cc, &default_server, SERVER_NAME, 1, names, &pid, &s, &why);
    must_connect(ts, &why);
    const struct tls_info *in = tls_session_info(ts);
    assert_true(strcmp(in->protocol, "TLSv1.3") == 0 || strcmp(in->protocol, "TLSv1.2") == 0);
    assert_true(in->cipher[0] != 0);
    assert_true(in->cipher_bits >= 128);
    assert_true(in->cipher_alg_bits >= in->cipher_bits);
    assert_int_equal(in->peer_verified, 1);
    assert_string_equal(in->peer_cn, SERVER_NAME);
    assert_string_equal(in->verify_error, "");

    send_line(s, "EHLO client.example");
    expect_line(s, &line, "250 echo EHLO client.example\r");

    /* The server saw the same session. */
    char want[256];
    snprintf(want, sizeof(want), "INFO %s %s %d 0 -\r", in->protocol, in->cipher, in->cipher_bits);
    send_line(s, "INFO");
    expect_line(s, &line, want);

    /* Far more than a socket buffer each way: partial writes and waits. */
    send_line(s, "BULK 5000");
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_OK);
        snprintf(want, sizeof(want), "%06d ", i);
        assert_memory_equal(line.data, want, 7);
        assert_int_equal(line.len, 7 + 90 + 1);
    }
    expect_line(s, &line, ".\r");
    stream_printf(s, "DATA 5000\r\n");
    for (int i = 0; i < 5000; i++)
        stream_printf(s, "%06d %0*d\r\n", i, 90, 0);
    assert_int_equal(stream_flush(s), 0);
    expect_line(s, &line, "250 got 5000\r");

    /* close_notify from the server reads as a clean EOF. */
    send_line(s, "QUIT");
    expect_line(s, &line, "221 bye\r");
    assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_EOF);
    assert_int_equal(stream_error(s), 0);

    assert_int_equal(reap(pid), SRV_OK);
    tls_session_shutdown(ts);
    (void)stream_close(s);
    tls_session_free(ts);
    tls_client_ctx_free(cc);
    buf_free(&why);
    buf_free(&line);
}

static void test_wrong_name_fails_when_verifying(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    const char *names[] = {"mx.elsewhere.example", NULL};
    struct buf why = BUF_INIT;
    struct stream *s;
    pid_t pid;

    struct tls_session *ts =
        connect_client(cc, &default_server, "mx.elsewhere.example", 1, names, &pid, &s, &why);
    assert_null(ts);
    assert_non_null(strstr(buf_cstr(&why), "verification failed"));
    assert_non_null(strstr(buf_cstr(&why), "hostname mismatch"));
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_NO_HANDSHAKE);
    tls_client_ctx_free(cc);
    buf_free(&why);
}

static void test_stream_is_dead_after_failed_handshake(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    const char *names[] = {"mx.elsewhere.example", NULL};
    struct buf why = BUF_INIT;
    struct stream *s;
    pid_t pid;

    assert_null(connect_client(cc, &default_server, NULL, 1, names, &pid, &s, &why));
    stream_puts(s, "MAIL FROM:<a@b.example>\r\n");
    assert_int_equal(stream_flush(s), -1);
    assert_true(stream_error(s));
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_NO_HANDSHAKE);
    tls_client_ctx_free(cc);
    buf_free(&why);
}

static void test_wrong_name_without_verify_connects_unverified(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    const char *names[] = {"mx.elsewhere.example", NULL};
    struct buf why = BUF_INIT, line = BUF_INIT;
    struct stream *s;
    pid_t pid;

    /* An address literal is not sent as SNI, and does not break anything. */
    struct tls_session *ts =
        connect_client(cc, &default_server, "192.0.2.1", 0, names, &pid, &s, &why);
    must_connect(ts, &why);
    const struct tls_info *in = tls_session_info(ts);
    assert_int_equal(in->peer_verified, 0);
    assert_string_equal(in->verify_error, "hostname mismatch");
    assert_string_equal(in->peer_cn, SERVER_NAME);
    send_line(s, "NOOP");
    expect_line(s, &line, "250 echo NOOP\r");
    send_line(s, "QUIT");
    expect_line(s, &line, "221 bye\r");
    assert_int_equal(reap(pid), SRV_OK);
    (void)stream_close(s);
    tls_session_free(ts);
    tls_client_ctx_free(cc);
    buf_free(&why);
    buf_free(&line);
}

static void test_untrusted_certificate_fails_verification(void **state)
{
    /* Trust only an unrelated certificate. */
    struct tls_client_ctx *cc = client_ctx("", client_cert);
    const char *names[] = {SERVER_NAME, NULL};
    struct buf why = BUF_INIT;
    struct stream *s;
    pid_t pid;

    assert_null(connect_client(cc, &default_server, SERVER_NAME, 1, names, &pid, &s, &why));
    assert_non_null(strstr(buf_cstr(&why), "verification failed: self-signed certificate"));
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_NO_HANDSHAKE);

    /* Without verify the same server is reachable, and reported unverified. */
    struct tls_session *ts =
        connect_client(cc, &default_server, SERVER_NAME, 0, names, &pid, &s, &why);
    must_connect(ts, &why);
    assert_int_equal(tls_session_info(ts)->peer_verified, 0);
    assert_string_equal(tls_session_info(ts)->verify_error, "self-signed certificate");
    quit(s);
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_OK);
    tls_session_free(ts);
    tls_client_ctx_free(cc);
    buf_free(&why);
}

static void test_servername_is_the_match_name_by_default(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    struct buf why = BUF_INIT;
    struct stream *s;
    pid_t pid;

    struct tls_session *ts =
        connect_client(cc, &default_server, SERVER_NAME, 1, NULL, &pid, &s, &why);
    must_connect(ts, &why);
    assert_int_equal(tls_session_info(ts)->peer_verified, 1);
    quit(s);
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_OK);
    tls_session_free(ts);

    /* No name at all: nothing to verify against, refused before any I/O. */
    const char *none[] = {"", NULL};
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s = stream_open(sv[0], 5);
    assert_null(tls_client_start(cc, s, NULL, 1, none, 5, &why));
    assert_non_null(strstr(buf_cstr(&why), "no name"));
    (void)stream_close(s);
    close(sv[1]);
    tls_client_ctx_free(cc);
    buf_free(&why);
}

static void test_wildcard_matches_exactly_one_label(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", wild_cert);
    struct tls_server_params sp = default_server;
    sp.cert_file = wild_cert;
    sp.key_file = "";
    const char *one[] = {"mx.wild.test.example", NULL};
    const char *two[] = {"a.mx.wild.test.example", NULL};
    struct buf why = BUF_INIT;
    struct stream *s;
    pid_t pid;

    struct tls_session *ts = connect_client(cc, &sp, NULL, 1, one, &pid, &s, &why);
    must_connect(ts, &why);
    assert_int_equal(tls_session_info(ts)->peer_verified, 1);
    quit(s);
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_OK);
    tls_session_free(ts);

    assert_null(connect_client(cc, &sp, NULL, 1, two, &pid, &s, &why));
    assert_non_null(strstr(buf_cstr(&why), "hostname mismatch"));
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_NO_HANDSHAKE);
    tls_client_ctx_free(cc);
    buf_free(&why);
}

static void test_old_protocol_client_is_refused(void **state)
{
    struct tls_client_ctx *cc = client_ctx("TLSv1 TLSv1.1", cert_file);
    struct buf why = BUF_INIT;
    struct stream *s;
    pid_t pid;

    assert_null(connect_client(cc, &default_server, SERVER_NAME, 0, NULL, &pid, &s, &why));
    assert_non_null(strstr(buf_cstr(&why), "TLS handshake failed: "));
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_NO_HANDSHAKE);
    tls_client_ctx_free(cc);
    buf_free(&why);
}

static void test_server_protocols_limit_the_version(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    struct tls_server_params sp = default_server;
    struct buf why = BUF_INIT;
    struct stream *s;
    pid_t pid;

    sp.protocols = "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1, !TLSv1.3";
    sp.ciphers = "high";
    struct tls_session *ts = connect_client(cc, &sp, SERVER_NAME, 0, NULL, &pid, &s, &why);
    must_connect(ts, &why);
    assert_string_equal(tls_session_info(ts)->protocol, "TLSv1.2");
    assert_true(tls_session_info(ts)->cipher_bits >= 128);
    quit(s);
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_OK);
    tls_session_free(ts);
    tls_client_ctx_free(cc);

    /* A TLS 1.3-only server and a TLS 1.2-only client have nothing in common. */
    cc = client_ctx("<=TLSv1.2", cert_file);
    sp.protocols = ">=TLSv1.3";
    assert_null(connect_client(cc, &sp, SERVER_NAME, 0, NULL, &pid, &s, &why));
    assert_non_null(strstr(buf_cstr(&why), "TLS handshake failed: "));
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_NO_HANDSHAKE);
    tls_client_ctx_free(cc);
    buf_free(&why);
}

static void test_client_certificate_is_reported_to_server(void **state)
{
    struct tls_server_params sp = default_server;
    struct tls_client_params cp = {.cert_file = client_cert,
                                   .key_file = "",
                                   .protocols = "",
                                   .ciphers = "",
                                   .ca_file = cert_file};
    struct buf why = BUF_INIT, line = BUF_INIT;
    struct stream *s;
    pid_t pid;

    sp.ca_file = client_cert;
    struct tls_client_ctx *cc = tls_client_ctx_create(&cp, &why);
    if (cc == NULL)
        fail_msg("client context: %s", buf_cstr(&why));
    struct tls_session *ts = connect_client(cc, &sp, SERVER_NAME, 1, NULL, &pid, &s, &why);
    must_connect(ts, &why);
    send_line(s, "INFO");
    assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_OK);
    assert_non_null(strstr(buf_cstr(&line), " 1 client.test.example\r"));
    send_line(s, "QUIT");
    expect_line(s, &line, "221 bye\r");
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_OK);
    tls_session_free(ts);
    tls_client_ctx_free(cc);

    /* A client without a certificate is still served, unverified. */
    cc = client_ctx("", cert_file);
    ts = connect_client(cc, &sp, SERVER_NAME, 1, NULL, &pid, &s, &why);
    must_connect(ts, &why);
    send_line(s, "INFO");
    assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_OK);
    assert_non_null(strstr(buf_cstr(&line), " 0 -\r"));
    quit(s);
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_OK);
    tls_session_free(ts);
    tls_client_ctx_free(cc);
    buf_free(&why);
    buf_free(&line);
}

static void test_eof_without_close_notify_reads_as_eof(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    struct buf why = BUF_INIT, line = BUF_INIT;
    struct stream *s;
    pid_t pid;

    struct tls_session *ts =
        connect_client(cc, &default_server, SERVER_NAME, 0, NULL, &pid, &s, &why);
    must_connect(ts, &why);
    send_line(s, "DROP");
    assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_EOF);
    assert_int_equal(stream_error(s), 0);
    assert_int_equal(reap(pid), SRV_OK);
    /* Writing to the vanished peer fails; it does not kill us with SIGPIPE. */
    stream_puts(s, "NOOP\r\n");
    for (int i = 0; i < 100 && stream_flush(s) == 0; i++)
        stream_puts(s, "NOOP\r\n");
    assert_true(stream_error(s));
    tls_session_shutdown(ts); /* must not hang or crash after the error */
    (void)stream_close(s);
    tls_session_free(ts);
    tls_client_ctx_free(cc);
    buf_free(&why);
    buf_free(&line);
}

static void test_read_after_handshake_times_out(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    struct buf why = BUF_INIT, line = BUF_INIT;
    struct stream *s;
    struct timespec t0;
    pid_t pid;

    struct tls_session *ts =
        connect_client(cc, &default_server, SERVER_NAME, 0, NULL, &pid, &s, &why);
    must_connect(ts, &why);
    stream_set_timeout(s, 1);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(stream_get_line(s, &line, 1000), STREAM_LINE_ERR);
    double t = elapsed_since(&t0);
    assert_true(s->flags & STREAM_F_TIMEOUT);
    assert_int_equal(s->err, ETIMEDOUT);
    assert_true(t >= 0.9 && t < 3.0);
    (void)stream_close(s);
    assert_int_equal(reap(pid), SRV_OK);
    tls_session_free(ts);
    tls_client_ctx_free(cc);
    buf_free(&why);
    buf_free(&line);
}

/* ---- handshake failures without a TLS peer -------------------------------- */

static void test_server_handshake_times_out_on_silent_client(void **state)
{
    struct buf why = BUF_INIT;
    struct tls_server_ctx *ctx = tls_server_ctx_create(&default_server, &why);
    if (ctx == NULL)
        fail_msg("server context: %s", buf_cstr(&why));
    int sv[2];
    struct timespec t0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct stream *s = stream_open(sv[0], 5);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(tls_server_start(ctx, s, 1, &why));
    double t = elapsed_since(&t0);
    assert_string_equal(buf_cstr(&why), "TLS handshake timed out");
    assert_true(t >= 0.9 && t < 2.5);
    (void)stream_close(s);
    close(sv[1]);
    tls_server_ctx_free(ctx);
    buf_free(&why);
}

static void test_client_handshake_times_out_on_silent_server(void **state)
{
    struct tls_client_ctx *cc = client_ctx("", cert_file);
    struct buf why = BUF_INIT;
    int sv[2];
    struct timespec t0;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct stream *s = stream_open(sv[0], 5);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(tls_client_start(cc, s, SERVER_NAME, 0, NULL, 1, &why));
    double t = elapsed_since(&t0);
    assert_string_equal(buf_cstr(&why), "TLS handshake timed out");
    assert_true(t >= 0.9 && t < 2.5);
    (void)stream_close(s);
    close(sv[1]);
    tls_client_ctx_free(cc);
    buf_free(&why);
}

static void test_server_handshake_reports_close_and_plaintext(void **state)
{
    struct buf why = BUF_INIT;
    struct tls_server_ctx *ctx = tls_server_ctx_create(&default_server, &why);
    if (ctx == NULL)
        fail_msg("server context: %s", buf_cstr(&why));
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct stream *s = stream_open(sv[0], 5);
    close(sv[1]);
    assert_null(tls_server_start(ctx, s, 5, &why));
    assert_string_equal(buf_cstr(&why), "the peer closed the connection during the TLS handshake");
    (void)stream_close(s);

    /* A client that keeps talking SMTP instead of starting TLS. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s = stream_open(sv[0], 5);
    assert_int_equal(write_full(sv[1], "MAIL FROM:<a@b.example>\r\n", 25, 5), 0);
    assert_null(tls_server_start(ctx, s, 5, &why));
    assert_non_null(strstr(buf_cstr(&why), "TLS handshake failed: "));
    (void)stream_close(s);
    close(sv[1]);
    tls_server_ctx_free(ctx);
    buf_free(&why);
}

/* ---- contexts ------------------------------------------------------------- */

static void expect_server_ctx_error(const struct tls_server_params *p, const char *needle)
{
    struct buf why = BUF_INIT;
    struct tls_server_ctx *ctx = tls_server_ctx_create(p, &why);
    if (ctx != NULL)
        fail_msg("context created, expected an error naming \"%s\"", needle);
    if (strstr(buf_cstr(&why), needle) == NULL)
        fail_msg("reason \"%s\" does not name \"%s\"", buf_cstr(&why), needle);
    buf_free(&why);
}

static void test_server_ctx_errors_name_the_file(void **state)
{
    struct tls_server_params p = default_server;

    p.cert_file = missing_file;
    expect_server_ctx_error(&p, missing_file);
    p = default_server;
    p.key_file = missing_file;
    expect_server_ctx_error(&p, missing_file);
    p = default_server;
    p.key_file = other_key;
    expect_server_ctx_error(&p, other_key);
    p = default_server;
    p.key_file = ""; /* the key is not in the certificate file */
    expect_server_ctx_error(&p, cert_file);
    p = default_server;
    p.ca_file = missing_file;
    expect_server_ctx_error(&p, missing_file);
    p = default_server;
    p.protocols = "TLSv1.4";
    expect_server_ctx_error(&p, "unknown TLS protocol \"TLSv1.4\"");
    p = default_server;
    p.ciphers = "NO-SUCH-CIPHER";
    expect_server_ctx_error(&p, "bad TLS cipher list \"NO-SUCH-CIPHER\"");
    p = default_server;
    p.cert_file = "";
    expect_server_ctx_error(&p, "no TLS certificate file");

    /* Key and certificate in one file. */
    struct buf why = BUF_INIT;
    p = default_server;
    p.cert_file = combined_file;
    p.key_file = NULL;
    p.ciphers = "high";
    struct tls_server_ctx *ctx = tls_server_ctx_create(&p, &why);
    if (ctx == NULL)
        fail_msg("combined PEM: %s", buf_cstr(&why));
    tls_server_ctx_free(ctx);
    buf_free(&why);
}

static void test_client_ctx_errors_name_the_file(void **state)
{
    struct buf why = BUF_INIT;
    struct tls_client_params cp = {.protocols = "", .ciphers = "", .ca_file = missing_file};

    assert_null(tls_client_ctx_create(&cp, &why));
    assert_non_null(strstr(buf_cstr(&why), missing_file));
    cp.ca_file = "";
    cp.cert_file = cert_file;
    cp.key_file = other_key;
    assert_null(tls_client_ctx_create(&cp, &why));
    assert_non_null(strstr(buf_cstr(&why), other_key));
    /* System trust anchors by default. */
    cp.cert_file = NULL;
    cp.key_file = NULL;
    struct tls_client_ctx *cc = tls_client_ctx_create(&cp, &why);
    if (cc == NULL)
        fail_msg("default trust anchors: %s", buf_cstr(&why));
    tls_client_ctx_free(cc);
    buf_free(&why);
}

/* ---- parsers ------------------------------------------------------------- */

static void expect_protocols(const char *spec, int want_min, int want_max)
{
    struct buf why = BUF_INIT;
    int min = -1, max = -1;
    if (tls_protocols_parse(spec, &min, &max, &why) != 0)
        fail_msg("\"%s\": %s", spec, buf_cstr(&why));
    if (min != want_min || max != want_max)
        fail_msg("\"%s\": got %#x..%#x, want %#x..%#x", spec, (unsigned)min, (unsigned)max,
                 (unsigned)want_min, (unsigned)want_max);
    buf_free(&why);
}

static void expect_protocols_error(const char *spec, const char *needle)
{
    struct buf why = BUF_INIT;
    int min, max;
    if (tls_protocols_parse(spec, &min, &max, &why) != -1)
        fail_msg("\"%s\" accepted", spec);
    if (strstr(buf_cstr(&why), needle) == NULL)
        fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", spec, buf_cstr(&why), needle);
    buf_free(&why);
}

static void test_protocols_parse_postfix_syntax(void **state)
{
    expect_protocols("", TLS1_2_VERSION, TLS1_3_VERSION);
    expect_protocols(NULL, TLS1_2_VERSION, TLS1_3_VERSION);
    expect_protocols("!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", TLS1_2_VERSION, TLS1_3_VERSION);
    /* Excluding old protocols never enables others below TLS 1.2. */
    expect_protocols("!SSLv2, !SSLv3", TLS1_2_VERSION, TLS1_3_VERSION);
    expect_protocols("!TLSv1.2", TLS1_3_VERSION, TLS1_3_VERSION);
    expect_protocols("!TLSv1.3", TLS1_2_VERSION, TLS1_2_VERSION);
    expect_protocols(">=TLSv1.2", TLS1_2_VERSION, TLS1_3_VERSION);
    expect_protocols(">=TLSv1.3", TLS1_3_VERSION, TLS1_3_VERSION);
    expect_protocols(">=TLSv1", TLS1_VERSION, TLS1_3_VERSION);
    expect_protocols(">=TLSv1 <=TLSv1.2", TLS1_VERSION, TLS1_2_VERSION);
    expect_protocols("<=TLSv1.3", TLS1_2_VERSION, TLS1_3_VERSION);
    expect_protocols("<=TLSv1.1", TLS1_1_VERSION, TLS1_1_VERSION);
    expect_protocols("TLSv1.2 TLSv1.3", TLS1_2_VERSION, TLS1_3_VERSION);
    expect_protocols("TLSv1.2:TLSv1.3", TLS1_2_VERSION, TLS1_3_VERSION);
    expect_protocols("TLSv1.3", TLS1_3_VERSION, TLS1_3_VERSION);
    expect_protocols("TLSv1 TLSv1.1", TLS1_VERSION, TLS1_1_VERSION);
    expect_protocols("tlsv1.2", TLS1_2_VERSION, TLS1_2_VERSION);
    /* A hole: OpenSSL takes a range, the lowest contiguous run is kept. */
    expect_protocols("TLSv1.1 TLSv1.3", TLS1_1_VERSION, TLS1_1_VERSION);
    expect_protocols(">=TLSv1, !TLSv1.1", TLS1_VERSION, TLS1_VERSION);
    expect_protocols("  ,, TLSv1.2 ,\t", TLS1_2_VERSION, TLS1_2_VERSION);
    /* Never SSLv2: OpenSSL 3 has none. */
    expect_protocols("SSLv2 SSLv3", SSL3_VERSION, SSL3_VERSION);

    expect_protocols_error("TLSv1.4", "unknown TLS protocol \"TLSv1.4\"");
    expect_protocols_error("!TLSv9", "unknown TLS protocol \"!TLSv9\"");
    expect_protocols_error(">=", "unknown TLS protocol");
    expect_protocols_error("=>TLSv1.2", "unknown TLS protocol");
    expect_protocols_error("TLSv1.2x", "unknown TLS protocol");
    expect_protocols_error("!TLSv1.2 !TLSv1.3", "no usable TLS protocol");
    expect_protocols_error("SSLv2", "no usable TLS protocol");
    expect_protocols_error(">=TLSv1.3 <=TLSv1.2", "no usable TLS protocol");
    expect_protocols_error("TLSv1.2 !TLSv1.2", "no usable TLS protocol");
}

/* The TLS 1.2 suites a cipher string selects. */
static STACK_OF(SSL_CIPHER) * ciphers_of(SSL_CTX *ctx, const char *list)
{
    if (SSL_CTX_set_cipher_list(ctx, list) != 1)
        fail_msg("OpenSSL rejects \"%s\"", list);
    return SSL_CTX_get_ciphers(ctx);
}

static int has_cipher_matching(STACK_OF(SSL_CIPHER) * sk, const char *part)
{
    for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++)
        if (strstr(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, i)), part) != NULL)
            return 1;
    return 0;
}

static void test_cipher_list_grades(void **state)
{
    assert_string_equal(tls_cipher_list("high"),
                        "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES:!EXP:!PSK:!SRP");
    assert_string_equal(tls_cipher_list("HIGH"), tls_cipher_list("high"));
    assert_string_equal(tls_cipher_list(""), tls_cipher_list("medium"));
    assert_string_equal(tls_cipher_list(NULL), tls_cipher_list("medium"));
    assert_string_equal(tls_cipher_list("null"), "eNULL:!aNULL");
    assert_string_equal(tls_cipher_list("ECDHE+AESGCM"), "ECDHE+AESGCM");
    assert_true(strcmp(tls_cipher_list("low"), "low") != 0);
    assert_true(strcmp(tls_cipher_list("export"), "export") != 0);

    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    const char *grades[] = {"high", "medium", "low", "export"};
    for (size_t g = 0; g < sizeof(grades) / sizeof(grades[0]); g++) {
        STACK_OF(SSL_CIPHER) *sk = ciphers_of(ctx, tls_cipher_list(grades[g]));
        assert_true(sk_SSL_CIPHER_num(sk) > 0);
        assert_false(has_cipher_matching(sk, "ADH"));
        assert_false(has_cipher_matching(sk, "AECDH"));
        assert_false(has_cipher_matching(sk, "NULL"));
        assert_false(has_cipher_matching(sk, "RC4"));
        if (g < 2) {
            assert_false(has_cipher_matching(sk, "DES-CBC3"));
            assert_false(has_cipher_matching(sk, "PSK"));
            assert_false(has_cipher_matching(sk, "SRP"));
            assert_true(has_cipher_matching(sk, "ECDHE-ECDSA-AES256-GCM"));
        }
    }
    /* medium is a superset of high. */
    int nhigh = sk_SSL_CIPHER_num(ciphers_of(ctx, tls_cipher_list("high")));
    int nmedium = sk_SSL_CIPHER_num(ciphers_of(ctx, tls_cipher_list("medium")));
    assert_true(nmedium >= nhigh);
    SSL_CTX_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verified_session_exchanges_lines_both_ways),
        cmocka_unit_test(test_wrong_name_fails_when_verifying),
        cmocka_unit_test(test_stream_is_dead_after_failed_handshake),
        cmocka_unit_test(test_wrong_name_without_verify_connects_unverified),
        cmocka_unit_test(test_untrusted_certificate_fails_verification),
        cmocka_unit_test(test_servername_is_the_match_name_by_default),
        cmocka_unit_test(test_wildcard_matches_exactly_one_label),
        cmocka_unit_test(test_old_protocol_client_is_refused),
        cmocka_unit_test(test_server_protocols_limit_the_version),
        cmocka_unit_test(test_client_certificate_is_reported_to_server),
        cmocka_unit_test(test_eof_without_close_notify_reads_as_eof),
        cmocka_unit_test(test_read_after_handshake_times_out),
        cmocka_unit_test(test_server_handshake_times_out_on_silent_client),
        cmocka_unit_test(test_client_handshake_times_out_on_silent_server),
        cmocka_unit_test(test_server_handshake_reports_close_and_plaintext),
        cmocka_unit_test(test_server_ctx_errors_name_the_file),
        cmocka_unit_test(test_client_ctx_errors_name_the_file),
        cmocka_unit_test(test_protocols_parse_postfix_syntax),
        cmocka_unit_test(test_cipher_list_grades),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
