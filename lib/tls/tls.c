/* tls - TLS sessions under Postern's streams, on OpenSSL 3.
 *
 * The SSL object reaches the descriptor through a small BIO of our own that
 * never blocks: recv/send with MSG_DONTWAIT (and MSG_NOSIGNAL, so a vanished
 * peer is an error, not a fatal signal). Every wait is a poll() bounded by
 * the caller's timeout, so a socket's flags are left as they were and the
 * stream's default hooks keep working on it. Only a descriptor that is not
 * a socket (a pipe, in tests) is switched to non-blocking mode.
 *
 * OpenSSL's error queue is emptied after every call that can fill it, so an
 * old error never shows up as the reason for a later failure.
 */
#include "tls/tls.h"
#include "util/alloc.h"
#include "util/iostuff.h"
#include "util/msg.h"
#include "util/strutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct tls_server_ctx {
    SSL_CTX *ssl_ctx;
};

struct tls_client_ctx {
    SSL_CTX *ssl_ctx;
};

struct tls_session {
    SSL *ssl;
    int fd;
    int is_socket;
    int fatal;             /* a fatal SSL error: no close_notify may follow */
    struct stream *stream; /* for the shutdown timeout */
    struct tls_info info;
};

/* Cipher grades. TLS 1.3 suites are not affected by these lists: they stay
 * OpenSSL's defaults, all of which are strong. */
#define TLS_CIPHERS_HIGH "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES:!EXP:!PSK:!SRP"
#define TLS_CIPHERS_MEDIUM                                                                         \
    "HIGH:MEDIUM:!aNULL:!eNULL:!MD5:!RC4:!3DES:!DES:!EXP:!PSK:!SRP:!SEED:!IDEA"
#define TLS_CIPHERS_LOW    "ALL:!EXPORT:!aNULL:!eNULL"
#define TLS_CIPHERS_EXPORT "ALL:!aNULL:!eNULL"
#define TLS_CIPHERS_NULL   "eNULL:!aNULL"

/* ---- time and waiting --------------------------------------------------- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* A deadline in monotonic milliseconds, or -1 for none (timeout < 0). */
static long deadline_after(int timeout)
{
    return timeout < 0 ? -1 : now_ms() + (long)timeout * 1000L;
}

/* Wait until fd has `events` or the deadline passes. 0 ready (or an error
 * the next I/O call reports), -1 with errno ETIMEDOUT or poll's error. */
static int wait_fd(int fd, short events, long deadline)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int ms = -1;
        if (deadline >= 0) {
            long left = deadline - now_ms();
            ms = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
        }
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

/* ---- OpenSSL errors ----------------------------------------------------- */

/* The first queued error in ERR_error_string form, or fallback; the queue
 * is empty afterwards. */
static const char *err_text(char *out, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(out, len, "%s", fallback);
    else
        ERR_error_string_n(e, out, len);
    ERR_clear_error();
    return out;
}

/* Like err_text, but only the reason ("no shared cipher"), for handshake
 * failures that end up in a log line about a client. */
static const char *err_reason(unsigned long e, char *out, size_t len, const char *fallback)
{
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    if (r != NULL)
        snprintf(out, len, "%s", r);
    else if (e != 0)
        ERR_error_string_n(e, out, len);
    else
        snprintf(out, len, "%s", fallback);
    return out;
}

static int is_unexpected_eof(unsigned long e)
{
    return ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

/* ---- a BIO that never blocks -------------------------------------------- */

static int fdbio_write(BIO *b, const char *p, int n)
{
    struct tls_session *ts = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    ssize_t w = ts->is_socket ? send(ts->fd, p, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL)
                              : write(ts->fd, p, (size_t)n);
    if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return -1;
    }
    return (int)w;
}

static int fdbio_read(BIO *b, char *p, int n)
{
    struct tls_session *ts = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    ssize_t r =
        ts->is_socket ? recv(ts->fd, p, (size_t)n, MSG_DONTWAIT) : read(ts->fd, p, (size_t)n);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_read(b);
        return -1;
    }
    return (int)r; /* 0 is EOF */
}

static long fdbio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0; /* every write goes straight out */
}

static int fdbio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *fdbio_method(void)
{
    static BIO_METHOD *meth;

    if (meth == NULL) {
        int idx = BIO_get_new_index();
        if (idx < 0 || (meth = BIO_meth_new(idx | BIO_TYPE_SOURCE_SINK, "postern fd")) == NULL ||
            !BIO_meth_set_write(meth, fdbio_write) || !BIO_meth_set_read(meth, fdbio_read) ||
            !BIO_meth_set_ctrl(meth, fdbio_ctrl) || !BIO_meth_set_create(meth, fdbio_create))
            msg_fatal("tls: cannot create the BIO method: out of memory");
    }
    return meth;
}

/* ---- protocol and cipher settings --------------------------------------- */

static const struct {
    const char *name;
    int version;
} tls_proto_names[] = {
    {"SSLv2", SSL2_VERSION},     {"SSLv3", SSL3_VERSION},     {"TLSv1", TLS1_VERSION},
    {"TLSv1.1", TLS1_1_VERSION}, {"TLSv1.2", TLS1_2_VERSION}, {"TLSv1.3", TLS1_3_VERSION},
};
#define PROTO_COUNT  ((int)(sizeof(tls_proto_names) / sizeof(tls_proto_names[0])))
#define PROTO_SSLV2  0 /* known, so "!SSLv2" parses, but OpenSSL 3 cannot do it */
#define PROTO_TLS1_2 4

static int proto_index(const char *name)
{
    for (int i = 0; i < PROTO_COUNT; i++)
        if (strcasecmp(name, tls_proto_names[i].name) == 0)
            return i;
    return -1;
}

int tls_protocols_parse(const char *spec, int *min_version, int *max_version, struct buf *why)
{
    unsigned include = 0, exclude = 0;
    int lo = -1, hi = -1; /* from ">=" and "<=" */
    char *copy = xstrdup(spec ? spec : "");
    char *cp = copy, *tok;

    while ((tok = str_token(&cp, " \t\r\n,:")) != NULL) {
        const char *name = tok;
        int kind = 0;
        if (*tok == '!') {
            kind = '!';
            name = tok + 1;
        } else if (strncmp(tok, ">=", 2) == 0 || strncmp(tok, "<=", 2) == 0) {
            kind = *tok;
            name = tok + 2;
        }
        int i = proto_index(name);
        if (i < 0) {
            buf_setf(why, "unknown TLS protocol \"%.64s\"", tok);
            free(copy);
            return -1;
        }
        if (kind == '!')
            exclude |= 1u << i;
        else if (kind == '>')
            lo = i > lo ? i : lo; /* the tightest bound wins */
        else if (kind == '<')
            hi = hi < 0 || i < hi ? i : hi;
        else
            include |= 1u << i;
    }
    free(copy);

    /* Nothing below TLS 1.2 unless the list asks for it by name or bound. */
    int floor = PROTO_TLS1_2, ceil = PROTO_COUNT - 1;
    if (include) {
        for (floor = 0; !(include & (1u << floor)); floor++)
            ;
        for (ceil = PROTO_COUNT - 1; !(include & (1u << ceil)); ceil--)
            ;
    }
    if (lo >= 0)
        floor = lo;
    if (hi >= 0)
        ceil = hi;
    if (lo < 0 && !include && ceil < floor)
        floor = ceil;

    unsigned allowed = 0;
    for (int i = floor; i <= ceil; i++)
        if (i != PROTO_SSLV2 && !(exclude & (1u << i)) && (!include || (include & (1u << i))))
            allowed |= 1u << i;
    if (allowed == 0) {
        buf_setf(why, "no usable TLS protocol in \"%.100s\"", spec ? spec : "");
        return -1;
    }
    /* OpenSSL takes a range: with a hole, use the run that starts lowest. */
    int min = 0;
    while (!(allowed & (1u << min)))
        min++;
    int max = min;
    while (max + 1 < PROTO_COUNT && (allowed & (1u << (max + 1))))
        max++;
    *min_version = tls_proto_names[min].version;
    *max_version = tls_proto_names[max].version;
    return 0;
}

const char *tls_cipher_list(const char *grade)
{
    if (grade == NULL || *grade == 0 || strcasecmp(grade, "medium") == 0)
        return TLS_CIPHERS_MEDIUM;
    if (strcasecmp(grade, "high") == 0)
        return TLS_CIPHERS_HIGH;
    if (strcasecmp(grade, "low") == 0)
        return TLS_CIPHERS_LOW;
    if (strcasecmp(grade, "export") == 0)
        return TLS_CIPHERS_EXPORT;
    if (strcasecmp(grade, "null") == 0)
        return TLS_CIPHERS_NULL;
    return grade;
}

static int empty(const char *s)
{
    return s == NULL || *s == 0;
}

/* What both roles share: protocol range, cipher list, options. */
static int ctx_setup(SSL_CTX *ctx, const char *protocols, const char *ciphers, struct buf *why)
{
    char err[256];
    int min, max;

    if (tls_protocols_parse(protocols, &min, &max, why) < 0)
        return -1;
    if (!SSL_CTX_set_min_proto_version(ctx, min) || !SSL_CTX_set_max_proto_version(ctx, max)) {
        buf_setf(why, "cannot set TLS protocols \"%.100s\": %s", protocols ? protocols : "",
                 err_text(err, sizeof(err), "unsupported"));
        return -1;
    }
    const char *list = tls_cipher_list(ciphers);
    if (!SSL_CTX_set_cipher_list(ctx, list)) {
        buf_setf(why, "bad TLS cipher list \"%.200s\": %s", list,
                 err_text(err, sizeof(err), "no cipher matched"));
        return -1;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    /* A write may finish in pieces; the stream hands the same bytes again
     * (from a buffer that may have moved) until they are all out. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return 0;
}

/* Certificate chain and key (key_file empty: the key is in cert_file). */
static int ctx_load_cert(SSL_CTX *ctx, const char *cert, const char *key, struct buf *why)
{
    char err[256];

    if (empty(key))
        key = cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        buf_setf(why, "cannot load TLS certificate from %s: %s", cert,
                 err_text(err, sizeof(err), "no certificate found"));
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        buf_setf(why, "cannot load TLS private key from %s: %s", key,
                 err_text(err, sizeof(err), "no key found"));
        return -1;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        buf_setf(why, "TLS private key in %s does not match the certificate in %s: %s", key, cert,
                 err_text(err, sizeof(err), "key values mismatch"));
        return -1;
    }
    return 0;
}

/* The server asks for a client certificate only when it has a CA file to
 * check one with, and never refuses a client for not verifying: what the
 * check found is reported in tls_info. */
static int verify_keep_going(int ok, X509_STORE_CTX *x)
{
    (void)ok;
    (void)x;
    return 1;
}

struct tls_server_ctx *tls_server_ctx_create(const struct tls_server_params *p, struct buf *why)
{
    char err[256];

    if (empty(p->cert_file)) {
        buf_setf(why, "no TLS certificate file is configured");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        buf_setf(why, "cannot create a TLS server context: %s",
                 err_text(err, sizeof(err), "unknown error"));
        return NULL;
    }
    if (ctx_setup(ctx, p->protocols, p->ciphers, why) < 0 ||
        ctx_load_cert(ctx, p->cert_file, p->key_file, why) < 0)
        goto fail;
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* ECDHE groups are automatic since OpenSSL 1.1.0; DHE needs this. */
    SSL_CTX_set_dh_auto(ctx, 1);
    /* Sessions resume only within this service. */
    static const unsigned char sid_ctx[] = "postern";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    if (!empty(p->ca_file)) {
        if (SSL_CTX_load_verify_locations(ctx, p->ca_file, NULL) != 1) {
            buf_setf(why, "cannot load TLS CA file %s: %s", p->ca_file,
                     err_text(err, sizeof(err), "no certificate found"));
            goto fail;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(p->ca_file);
        if (names != NULL)
            SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_keep_going);
    }
    ERR_clear_error();
    struct tls_server_ctx *sc = xcalloc(1, sizeof(*sc));
    sc->ssl_ctx = ctx;
    return sc;

fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

void tls_server_ctx_free(struct tls_server_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

struct tls_client_ctx *tls_client_ctx_create(const struct tls_client_params *p, struct buf *why)
{
    char err[256];

    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        buf_setf(why, "cannot create a TLS client context: %s",
                 err_text(err, sizeof(err), "unknown error"));
        return NULL;
    }
    if (ctx_setup(ctx, p->protocols, p->ciphers, why) < 0)
        goto fail;
    if (!empty(p->ca_file) || !empty(p->ca_path)) {
        const char *file = empty(p->ca_file) ? NULL : p->ca_file;
        const char *path = empty(p->ca_path) ? NULL : p->ca_path;
        if (SSL_CTX_load_verify_locations(ctx, file, path) != 1) {
            buf_setf(why, "cannot load TLS trust anchors from %s: %s", file ? file : path,
                     err_text(err, sizeof(err), "no certificate found"));
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        buf_setf(why, "cannot load the system's TLS trust anchors: %s",
                 err_text(err, sizeof(err), "unknown error"));
        goto fail;
    }
    if (!empty(p->cert_file) && ctx_load_cert(ctx, p->cert_file, p->key_file, why) < 0)
        goto fail;
    ERR_clear_error();
    struct tls_client_ctx *cc = xcalloc(1, sizeof(*cc));
    cc->ssl_ctx = ctx;
    return cc;

fail:
    SSL_CTX_free(ctx);
    ERR_clear_error();
    return NULL;
}

void tls_client_ctx_free(struct tls_client_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ---- stream hooks ------------------------------------------------------- */

/* A fatal error on an established session: log OpenSSL's reason once (the
 * stream only carries errno). EOF without close_notify counts as EOF: the
 * protocols above end their data explicitly. Returns 0 (EOF) or -1. */
static ssize_t io_failed(struct tls_session *ts, const char *op, int ssl_err, int saved_errno)
{
    unsigned long e = ERR_peek_error();
    char err[256];

    ts->fatal = 1;
    if (ssl_err == SSL_ERROR_SYSCALL && e == 0) {
        ERR_clear_error();
        if (saved_errno == 0)
            return 0;
        errno = saved_errno;
        return -1;
    }
    if (is_unexpected_eof(e)) {
        ERR_clear_error();
        return 0;
    }
    msg_info("TLS %s error: %s", op, err_reason(e, err, sizeof(err), "protocol error"));
    ERR_clear_error();
    errno = EPROTO;
    return -1;
}

static ssize_t tls_stream_read(int fd, void *p, size_t len, int timeout, void *ctx)
{
    struct tls_session *ts = ctx;
    long deadline = deadline_after(timeout);
    int n = len > INT_MAX ? INT_MAX : (int)len;

    if (ts->fatal) {
        errno = EPROTO;
        return -1;
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(ts->ssl, p, n);
        if (r > 0)
            return r;
        int saved = errno;
        int e = SSL_get_error(ts->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) /* close_notify */
            return 0;
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return io_failed(ts, "read", e, saved);
        if (wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) < 0)
            return -1;
    }
}

static ssize_t tls_stream_write(int fd, const void *p, size_t len, int timeout, void *ctx)
{
    struct tls_session *ts = ctx;
    long deadline = deadline_after(timeout);
    int n = len > INT_MAX ? INT_MAX : (int)len;

    if (ts->fatal) {
        errno = EPROTO;
        return -1;
    }
    if (n == 0)
        return 0;
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_write(ts->ssl, p, n);
        if (r > 0)
            return r;
        int saved = errno;
        int e = SSL_get_error(ts->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) { /* the peer has closed its side */
            errno = EPIPE;
            return -1;
        }
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            if (io_failed(ts, "write", e, saved) == 0)
                errno = EPIPE;
            return -1;
        }
        if (wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) < 0)
            return -1;
    }
}

/* After a failed handshake the stream must not carry anything else: no
 * plaintext may follow a half-done TLS start. */
static ssize_t dead_read(int fd, void *p, size_t len, int timeout, void *ctx)
{
    errno = EPROTO;
    return -1;
}

static ssize_t dead_write(int fd, const void *p, size_t len, int timeout, void *ctx)
{
    errno = EPROTO;
    return -1;
}

/* ---- sessions ----------------------------------------------------------- */

static struct tls_session *session_new(SSL_CTX *ctx, struct stream *s, struct buf *why)
{
    char err[256];

    /* Replies written before the switch go out in plaintext now; input
     * that arrived before it is dropped (RFC 3207 4.2: nothing from the
     * plaintext phase may be taken as if it had come over TLS). */
    if (stream_flush(s) < 0) {
        buf_setf(why, "cannot start TLS: %s", strerror(errno));
        return NULL;
    }
    stream_purge_input(s);

    struct tls_session *ts = xcalloc(1, sizeof(*ts));
    ts->fd = s->fd;
    ts->stream = s;
    int type;
    socklen_t tlen = sizeof(type);
    ts->is_socket = getsockopt(s->fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0;
    if (!ts->is_socket && set_nonblock(s->fd, 1) < 0) {
        buf_setf(why, "cannot start TLS: %s", strerror(errno));
        free(ts);
        return NULL;
    }
    ERR_clear_error();
    if ((ts->ssl = SSL_new(ctx)) == NULL) {
        buf_setf(why, "cannot start TLS: %s", err_text(err, sizeof(err), "SSL_new failed"));
        free(ts);
        return NULL;
    }
    BIO *bio = BIO_new(fdbio_method());
    if (bio == NULL)
        msg_fatal("tls: cannot create a BIO: out of memory");
    BIO_set_data(bio, ts);
    SSL_set_bio(ts->ssl, bio, bio);
    return ts;
}

/* Run the handshake within timeout seconds. 0, or -1 + why. */
static int handshake(struct tls_session *ts, int is_server, int verify, int timeout,
                     struct buf *why)
{
    long deadline = deadline_after(timeout);
    char err[256];

    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = is_server ? SSL_accept(ts->ssl) : SSL_connect(ts->ssl);
        if (r == 1)
            return 0;
        int saved = errno;
        int e = SSL_get_error(ts->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            if (wait_fd(ts->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) == 0)
                continue;
            if (errno == ETIMEDOUT)
                buf_setf(why, "TLS handshake timed out");
            else
                buf_setf(why, "TLS handshake failed: %s", strerror(errno));
            break;
        }
        ts->fatal = 1;
        unsigned long first = ERR_peek_error();
        long vr = SSL_get_verify_result(ts->ssl);
        if (!is_server && verify && vr != X509_V_OK)
            buf_setf(why, "server certificate verification failed: %s",
                     X509_verify_cert_error_string(vr));
        else if (is_unexpected_eof(first) || (e == SSL_ERROR_SYSCALL && first == 0 && saved == 0))
            buf_setf(why, "the peer closed the connection during the TLS handshake");
        else if (e == SSL_ERROR_SYSCALL && first == 0)
            buf_setf(why, "TLS handshake failed: %s", strerror(saved));
        else
            buf_setf(why, "TLS handshake failed: %s",
                     err_reason(first, err, sizeof(err), "protocol error"));
        break;
    }
    ERR_clear_error();
    return -1;
}

static void copy_clean(char *out, size_t size, const unsigned char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < size; i++)
        out[k++] = p[i] < 0x20 || p[i] >= 0x7f ? '?' : (char)p[i];
    out[k] = 0;
}

/* The subject CN, printable ASCII only: it goes into logs and headers. */
static void cert_cn(X509 *x, char *out, size_t size)
{
    X509_NAME *name = X509_get_subject_name(x);
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    unsigned char *u = NULL;

    out[0] = 0;
    if (i < 0)
        return;
    int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
    if (n > 0)
        copy_clean(out, size, u, (size_t)n);
    OPENSSL_free(u);
}

/* Fill in what was negotiated; named says whether a name check was part of
 * the verification (client side), so peer_verified can vouch for it. */
static void session_info(struct tls_session *ts, int named, const char *noname_reason)
{
    struct tls_info *in = &ts->info;
    const SSL_CIPHER *c = SSL_get_current_cipher(ts->ssl);
    X509 *peer = SSL_get0_peer_certificate(ts->ssl);
    long vr = SSL_get_verify_result(ts->ssl);
    int alg = 0;

    snprintf(in->protocol, sizeof(in->protocol), "%s", SSL_get_version(ts->ssl));
    snprintf(in->cipher, sizeof(in->cipher), "%s", c ? SSL_CIPHER_get_name(c) : "");
    in->cipher_bits = c ? SSL_CIPHER_get_bits(c, &alg) : 0;
    in->cipher_alg_bits = alg;
    in->peer_cn[0] = 0;
    in->verify_error[0] = 0;
    if (peer != NULL)
        cert_cn(peer, in->peer_cn, sizeof(in->peer_cn));
    if (peer == NULL)
        snprintf(in->verify_error, sizeof(in->verify_error), "no peer certificate");
    else if (vr != X509_V_OK)
        snprintf(in->verify_error, sizeof(in->verify_error), "%s",
                 X509_verify_cert_error_string(vr));
    else if (!named)
        snprintf(in->verify_error, sizeof(in->verify_error), "%s", noname_reason);
    in->peer_verified = peer != NULL && vr == X509_V_OK && named;
}

static struct tls_session *session_start(struct tls_session *ts, struct stream *s, int is_server,
                                         int verify, int timeout, struct buf *why)
{
    if (handshake(ts, is_server, verify, timeout, why) < 0) {
        stream_set_io(s, dead_read, dead_write, NULL);
        tls_session_free(ts);
        return NULL;
    }
    stream_set_io(s, tls_stream_read, tls_stream_write, ts);
    return ts;
}

struct tls_session *tls_server_start(struct tls_server_ctx *ctx, struct stream *s, int timeout,
                                     struct buf *why)
{
    struct tls_session *ts = session_new(ctx->ssl_ctx, s, why);
    if (ts == NULL) {
        stream_set_io(s, dead_read, dead_write, NULL);
        return NULL;
    }
    SSL_set_accept_state(ts->ssl);
    if (session_start(ts, s, 1, 0, timeout, why) == NULL)
        return NULL;
    /* A client certificate is checked against the CA file alone. */
    session_info(ts, 1, "");
    return ts;
}

/* SNI carries a DNS name only (RFC 6066 3: "Literal IPv4 and IPv6
 * addresses are not permitted"). */
static int sni_name_ok(const char *name)
{
    size_t len = strlen(name);
    unsigned char a4[4];

    if (len == 0 || len > 253 || inet_pton(AF_INET, name, a4) == 1)
        return 0;
    for (const char *cp = name; *cp; cp++)
        if (!((*cp >= 'a' && *cp <= 'z') || (*cp >= 'A' && *cp <= 'Z') ||
              (*cp >= '0' && *cp <= '9') || *cp == '-' || *cp == '.' || *cp == '_'))
            return 0;
    return 1;
}

/* Names the server certificate must match: match_names, else servername. */
static int set_match_names(SSL *ssl, const char *servername, const char *const *match_names,
                           struct buf *why)
{
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    int count = 0;

    /* "*.example.com" matches exactly one label, never "w*.example.com". */
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    for (size_t i = 0; match_names != NULL && match_names[i] != NULL; i++) {
        const char *n = match_names[i];
        if (*n == 0)
            continue;
        if (!(count == 0 ? X509_VERIFY_PARAM_set1_host(vp, n, 0)
                         : X509_VERIFY_PARAM_add1_host(vp, n, 0))) {
            buf_setf(why, "bad certificate match name \"%.100s\"", n);
            ERR_clear_error();
            return -1;
        }
        count++;
    }
    if (count == 0 && !empty(servername)) {
        if (!X509_VERIFY_PARAM_set1_host(vp, servername, 0)) {
            buf_setf(why, "bad certificate match name \"%.100s\"", servername);
            ERR_clear_error();
            return -1;
        }
        count++;
    }
    return count;
}

struct tls_session *tls_client_start(struct tls_client_ctx *ctx, struct stream *s,
                                     const char *servername, int verify,
                                     const char *const *match_names, int timeout, struct buf *why)
{
    struct tls_session *ts = session_new(ctx->ssl_ctx, s, why);
    if (ts == NULL) {
        stream_set_io(s, dead_read, dead_write, NULL);
        return NULL;
    }
    SSL_set_connect_state(ts->ssl);
    if (servername != NULL && sni_name_ok(servername) &&
        !SSL_set_tlsext_host_name(ts->ssl, servername)) {
        buf_setf(why, "cannot set the TLS server name \"%.100s\"", servername);
        goto fail;
    }
    int named = set_match_names(ts->ssl, servername, match_names, why);
    if (named < 0)
        goto fail;
    if (verify && named == 0) {
        buf_setf(why, "no name to verify the server certificate against");
        goto fail;
    }
    SSL_set_verify(ts->ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (session_start(ts, s, 0, verify, timeout, why) == NULL)
        return NULL;
    session_info(ts, named > 0, "no name to match the certificate against");
    return ts;

fail:
    ERR_clear_error();
    stream_set_io(s, dead_read, dead_write, NULL);
    tls_session_free(ts);
    return NULL;
}

const struct tls_info *tls_session_info(const struct tls_session *ts)
{
    return &ts->info;
}

void tls_session_shutdown(struct tls_session *ts)
{
    struct stream *s = ts->stream;

    /* What the caller wrote goes before close_notify; after an error
     * (or a fatal TLS alert) there is nothing to close cleanly. */
    if (ts->fatal || stream_flush(s) < 0)
        return;
    long deadline = deadline_after(s->timeout);
    for (;;) {
        ERR_clear_error();
        int r = SSL_shutdown(ts->ssl);
        /* 0: ours is sent; we do not wait for the peer's. */
        if (r >= 0 || SSL_get_error(ts->ssl, r) != SSL_ERROR_WANT_WRITE ||
            wait_fd(ts->fd, POLLOUT, deadline) < 0)
            break;
    }
    ERR_clear_error();
}

void tls_session_free(struct tls_session *ts)
{
    if (ts == NULL)
        return;
    SSL_free(ts->ssl); /* and the BIO with it */
    free(ts);
}
