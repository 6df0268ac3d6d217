/* sasl_mech - the server side of the SASL mechanisms PLAIN (RFC 4616) and
 * LOGIN (draft-murchison-sasl-login), as pure state machines: wire text in,
 * a challenge or the credentials out. No I/O and no password checks here;
 * the auth service verifies what an exchange yields.
 *
 *     struct sasl_exchange x;
 *     sasl_exchange_init(&x, SASL_MECH_LOGIN);
 *     r = sasl_exchange_start(&x, initial, &challenge, &why);
 *     while (r == SASL_CONTINUE)
 *         r = sasl_exchange_step(&x, next_response, &challenge, &why);
 *     SASL_DONE: x.authcid and x.passwd hold the credentials.
 *     SASL_FAIL: why says what was wrong ("authentication cancelled", ...).
 *     sasl_exchange_free(&x);      wipes the password
 *
 * Wire text is what the SMTP (or POP3/IMAP) client sent: base64, "*" to
 * cancel (RFC 4954 4), and for the initial response "" when there was none
 * and "=" for an empty one. Challenges come back base64-encoded.
 *
 * Bounds: wire text at most SASL_WIRE_MAX bytes; names and the password at
 * most SASL_NAME_MAX / SASL_PASS_MAX bytes. Names must be UTF-8 without
 * control characters (they reach logs and user lookups); a password may
 * hold any byte but NUL. PLAIN takes one response, LOGIN two: an exchange
 * never runs longer than that.
 */
#ifndef AUTH_SASL_MECH_H
#define AUTH_SASL_MECH_H

#include <stddef.h>

#include "util/buf.h"

#define SASL_WIRE_MAX 12288 /* == AUTH_LINE_MAX of mail/auth_client.h */
#define SASL_NAME_MAX 1024
#define SASL_PASS_MAX 1024

enum sasl_mech_id { SASL_MECH_NONE = 0, SASL_MECH_PLAIN, SASL_MECH_LOGIN };

enum sasl_result { SASL_CONTINUE, SASL_DONE, SASL_FAIL };

struct sasl_exchange {
    enum sasl_mech_id mech;
    int state;          /* mechanism-specific progress */
    struct buf authzid; /* PLAIN: "" or equal to authcid */
    struct buf authcid; /* the user */
    struct buf passwd;  /* wiped by sasl_exchange_free */
    struct buf scratch; /* decoded responses; wiped */
};

/* sasl_mech_by_name - case-insensitive "PLAIN" / "LOGIN"; SASL_MECH_NONE. */
enum sasl_mech_id sasl_mech_by_name(const char *name);
/* sasl_mech_name - "PLAIN", "LOGIN" (or "" for none). */
const char *sasl_mech_name(enum sasl_mech_id id);

void sasl_exchange_init(struct sasl_exchange *x, enum sasl_mech_id mech);
void sasl_exchange_free(struct sasl_exchange *x);
/* sasl_exchange_start - begin with the initial response (see above for ""
 * and "="); len is its length. challenge is set for SASL_CONTINUE. */
enum sasl_result sasl_exchange_start(struct sasl_exchange *x, const char *initial, size_t len,
                                     struct buf *challenge, struct buf *why);
/* sasl_exchange_step - the client's answer to the last challenge. */
enum sasl_result sasl_exchange_step(struct sasl_exchange *x, const char *response, size_t len,
                                    struct buf *challenge, struct buf *why);

/* sasl_plain_parse - RFC 4616 2: [authzid] NUL authcid NUL passwd, from
 * decoded bytes; authzid must be empty or equal authcid. 0, or -1 + why. */
int sasl_plain_parse(const char *p, size_t n, struct buf *authzid, struct buf *authcid,
                     struct buf *passwd, struct buf *why);
/* sasl_name_valid - 1 if p[0..n) is an acceptable user name (1 to
 * SASL_NAME_MAX bytes of UTF-8, no control characters); else 0 + why. */
int sasl_name_valid(const char *p, size_t n, struct buf *why);

#endif
