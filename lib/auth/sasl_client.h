/* sasl_client - SMTP AUTH as a client (RFC 4954), for the smtp delivery
 * agent talking to a relayhost: the credentials from
 * smtp_sasl_password_maps, the mechanism from what the server offers, and
 * the base64 client responses. No SASL library: PLAIN (RFC 4616) and LOGIN
 * are the two mechanisms relayhosts take with a password; a server that
 * offers neither fails authentication with a clear reason.
 *
 * Credentials lookup (Postfix smtp_sasl_passwd_lookup): the key is first
 * the name of the host actually connected to ("smtp.example.com", the MX
 * name, or the address of "[10.0.0.1]"), then the next hop exactly as the
 * transport or relayhost wrote it ("[smtp.example.com]:587"), so a table
 * keyed like relayhost works. The value is "username:password" (split at
 * the first ':'; the password may contain ':'; no ':' is an empty
 * password).
 *
 * smtp_sasl_security_options: "noplaintext" refuses PLAIN and LOGIN (as
 * do Cyrus's "noactive", "nodictionary", "mutual_auth",
 * "forward_secrecy"), "noanonymous" is always satisfied (we never do
 * ANONYMOUS); anything else is an error. Like Postfix, the default
 * ("noplaintext, noanonymous") thus allows no mechanism here: a relayhost
 * setup sets smtp_sasl_security_options = noanonymous.
 * smtp_sasl_tls_security_options applies instead when the session is
 * under TLS (default $smtp_sasl_security_options).
 */
#ifndef AUTH_SASL_CLIENT_H
#define AUTH_SASL_CLIENT_H

#include <stddef.h>

#include "maps/map_addr.h"
#include "util/buf.h"

struct sasl_client_cred {
    char *username;
    char *password;
};

/* sasl_client_find_cred - the credentials for this next hop / host; 1
 * found, 0 none (no AUTH is attempted), -1 + why (table failure: defer). */
int sasl_client_find_cred(struct maps *maps, const char *nexthop, const char *host,
                          struct sasl_client_cred *cred, struct buf *why);
void sasl_client_cred_free(struct sasl_client_cred *cred);

/* sasl_client_choose - the mechanism to use from the server's AUTH
 * keyword arguments ("PLAIN LOGIN CRAM-MD5"; case-insensitive), given the
 * security options in force: "PLAIN" or "LOGIN", or NULL + why ("no
 * mechanism available: server offered ..."). */
const char *sasl_client_choose(const char *offered, const char *security_options, struct buf *why);

/* sasl_client_initial - the AUTH command line for mech without CRLF:
 * PLAIN: "AUTH PLAIN <base64(\0user\0pass)>"; LOGIN: "AUTH LOGIN". 0 or
 * -1 + why (an empty name, a name or password longer than 1024 bytes, an
 * unknown mech). */
int sasl_client_initial(const char *mech, const struct sasl_client_cred *cred, struct buf *line,
                        struct buf *why);

/* sasl_client_step - the response line (base64, no CRLF) to a 334
 * challenge (the text after "334 "; trailing blanks are ignored): for
 * LOGIN, a decoded prompt that contains "user", "name" or "login"
 * (case-insensitive: "Username:", "User Name") gets base64(user), any
 * other ("Password:", unknown) base64(pass); the call keeps no state, so
 * the prompt decides. For PLAIN a 334 with an empty challenge gets the
 * PLAIN response (without "AUTH PLAIN "). A malformed challenge (bad
 * base64, over 1024 decoded bytes, non-empty for PLAIN) is -1 + why; the
 * caller sends "*" (RFC 4954 4) and fails the session. */
int sasl_client_step(const char *mech, const struct sasl_client_cred *cred, const char *challenge,
                     struct buf *line, struct buf *why);

#endif
