/* tls - TLS for Postern's streams, on OpenSSL.
 *
 * One context per process and role, made at start-up (before chroot, while
 * the key is still readable); one session per connection, put under a
 * stream with stream_set_io() so protocol code keeps reading lines:
 *
 *     struct tls_server_ctx *ctx = tls_server_ctx_create(&params, why);  // pre_init
 *     ...
 *     stream_purge_input(client);            // RFC 3207 4.2: forget plaintext
 *     struct tls_session *ts = tls_server_start(ctx, client, timeout, why);
 *     // client now reads and writes through TLS
 *     tls_session_info(ts)->protocol   "TLSv1.3"
 *     ...
 *     tls_session_free(ts);                  // after the stream is done
 *
 * Defaults are TLS 1.2 and later, ciphers "medium" (OpenSSL's HIGH:MEDIUM
 * without aNULL, eNULL, RC4, 3DES, MD5, export and anonymous suites), with
 * the server's cipher preference, no compression, no renegotiation, no
 * session tickets keyed per process (tickets on, key rotated by OpenSSL).
 * Postfix's protocol syntax is accepted: "!SSLv2, !SSLv3, !TLSv1, !TLSv1.1",
 * ">=TLSv1.2", "TLSv1.2 TLSv1.3".
 *
 * The client side (for the smtp delivery agent and tests) verifies a peer
 * against CA files and names when asked; "may" and "encrypt" levels do
 * not verify.
 */
#ifndef TLS_TLS_H
#define TLS_TLS_H

#include "util/buf.h"
#include "util/stream.h"

struct tls_server_params {
    const char *cert_file; /* PEM: certificate, then its chain */
    const char *key_file;  /* PEM private key ("" or NULL: in cert_file) */
    const char *protocols; /* smtpd_tls_protocols syntax; "" = TLS 1.2+ */
    const char *ciphers;   /* "high", "medium" (default), or an OpenSSL list */
    const char *ca_file;   /* optional, for client certificates ("" none):
                            * when set, one is asked for, never required;
                            * tls_info reports what was found */
};

struct tls_client_params {
    const char *cert_file; /* optional client certificate */
    const char *key_file;
    const char *protocols;
    const char *ciphers;
    const char *ca_file; /* trust anchors for verify/secure ("" = system default) */
    const char *ca_path;
};

/* What a session negotiated, for logs and the Received: header. */
struct tls_info {
    char protocol[32];      /* "TLSv1.3" */
    char cipher[128];       /* "TLS_AES_256_GCM_SHA384" */
    int cipher_bits;        /* 256 */
    int cipher_alg_bits;    /* 256 */
    int peer_verified;      /* chain and name verified (server: client cert vs ca_file) */
    char peer_cn[256];      /* subject CN of the peer certificate, or "" */
    char verify_error[256]; /* why the peer did not verify, or "" */
};

struct tls_server_ctx;
struct tls_client_ctx;
struct tls_session;

/* tls_server_ctx_create - load the key and certificate and check that they
 * match. NULL + why naming the file and OpenSSL's reason. */
struct tls_server_ctx *tls_server_ctx_create(const struct tls_server_params *p, struct buf *why);
void tls_server_ctx_free(struct tls_server_ctx *ctx);

/* tls_server_start - handshake as the server on s (whose buffered input the
 * caller has already purged), within timeout seconds; on success the stream
 * reads and writes through the session. NULL + why ("TLS handshake timed
 * out", "...: no shared cipher", the peer closed ...) and the stream is
 * then unusable for anything but close (its I/O fails, so nothing can
 * follow in plaintext). Output still buffered in s is flushed in plaintext
 * first; buffered input is dropped. */
struct tls_session *tls_server_start(struct tls_server_ctx *ctx, struct stream *s, int timeout,
                                     struct buf *why);

/* tls_client_ctx_create - NULL + why. */
struct tls_client_ctx *tls_client_ctx_create(const struct tls_client_params *p, struct buf *why);
void tls_client_ctx_free(struct tls_client_ctx *ctx);

/* tls_client_start - handshake as the client; servername is sent as SNI
 * (unless NULL or an address literal). verify: 0 encrypt only; 1 verify
 * the chain and that the certificate matches one of match_names (a NULL
 * terminated list; "" entries ignored; "*.example.com" wildcards in the
 * certificate honoured for one label). Without usable match_names the
 * servername is the name to match; verify with no name at all fails. With
 * verify set a failed check fails the handshake (NULL + why with the
 * verification error); without it, tls_info says whether it would pass. */
struct tls_session *tls_client_start(struct tls_client_ctx *ctx, struct stream *s,
                                     const char *servername, int verify,
                                     const char *const *match_names, int timeout, struct buf *why);

const struct tls_info *tls_session_info(const struct tls_session *ts);

/* tls_session_shutdown - send close_notify (best effort, bounded by the
 * stream timeout). */
void tls_session_shutdown(struct tls_session *ts);
/* tls_session_free - free the session; the stream must not be used for I/O
 * afterwards (free after stream_close/stream_release). */
void tls_session_free(struct tls_session *ts);

/* tls_protocols_parse - Postfix protocol list into OpenSSL min/max versions
 * (TLS1_2_VERSION ...); 0, or -1 + why for unknown names or an empty set.
 * Nothing below TLS 1.2 is enabled unless named ("TLSv1 TLSv1.1") or set
 * as a bound (">=TLSv1", "<=TLSv1.1"); exclusions only take away. OpenSSL
 * takes a range, so with a hole the lowest contiguous run is used. SSLv2
 * parses but is never enabled. */
int tls_protocols_parse(const char *spec, int *min_version, int *max_version, struct buf *why);

/* tls_cipher_list - the OpenSSL cipher string for a grade ("high",
 * "medium", "low", "export", "null") or the spec itself when it is not a
 * grade name. */
const char *tls_cipher_list(const char *grade);

#endif
