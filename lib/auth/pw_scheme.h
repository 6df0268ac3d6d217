/* pw_scheme - password verification: crypt(3) hashes (libxcrypt: yescrypt
 * $y$, SHA-512 $6$, SHA-256 $5$, bcrypt $2b$, MD5 $1$, DES) and Dovecot's
 * "{SCHEME}hash" strings, with Argon2 through libargon2.
 *
 * Schemes (names case-insensitive, as Dovecot's):
 *   SHA512-CRYPT SHA256-CRYPT MD5-CRYPT BLF-CRYPT   crypt(3), and the hash
 *                                  must be of that kind ($6$ $5$ $1$ $2?$)
 *   CRYPT                          crypt(3), any kind it knows
 *   ARGON2ID ARGON2I               "$argon2id$v=19$m=..,t=..,p=..$salt$hash"
 *   PLAIN CLEARTEXT                the password itself (tests only)
 * A string without "{...}" has the caller's default scheme (Dovecot's
 * passwd-file default is CRYPT).
 *
 * Every comparison of secrets is constant-time in their contents. Argon2
 * parameters are bounded (memory PW_ARGON2_MAX_KIB, passes and lanes
 * PW_ARGON2_MAX_COST) so a hostile or mistaken hash cannot exhaust the
 * process. Not reentrant-safe across threads (one crypt work area).
 */
#ifndef AUTH_PW_SCHEME_H
#define AUTH_PW_SCHEME_H

#include <stddef.h>

#include "util/buf.h"

#define PW_MATCH    1
#define PW_MISMATCH 0
#define PW_ERROR    (-1) /* the stored hash cannot be used: why says how */

#define PW_ARGON2_MAX_KIB  (1024 * 1024) /* 1 GiB, libsodium's "sensitive" */
#define PW_ARGON2_MAX_COST 64

enum pw_scheme_id {
    PW_SCHEME_UNKNOWN = 0,
    PW_SCHEME_SHA512_CRYPT,
    PW_SCHEME_SHA256_CRYPT,
    PW_SCHEME_MD5_CRYPT,
    PW_SCHEME_BLF_CRYPT,
    PW_SCHEME_CRYPT,
    PW_SCHEME_ARGON2ID,
    PW_SCHEME_ARGON2I,
    PW_SCHEME_PLAIN,
    PW_SCHEME_CLEARTEXT,
};

/* pw_scheme_parse - the scheme of stored ("{NAME}rest" or the default
 * scheme, a name as above) and where its hash starts (*hash). An unknown or
 * unterminated "{...}" gives PW_SCHEME_UNKNOWN with the name in why. */
enum pw_scheme_id pw_scheme_parse(const char *stored, const char *default_scheme, const char **hash,
                                  struct buf *why);
/* pw_scheme_by_name - "SHA512-CRYPT" -> id; PW_SCHEME_UNKNOWN. */
enum pw_scheme_id pw_scheme_by_name(const char *name, size_t len);
const char *pw_scheme_name(enum pw_scheme_id id);
/* pw_scheme_is_plain - PLAIN or CLEARTEXT (the caller warns about those). */
int pw_scheme_is_plain(enum pw_scheme_id id);

/* pw_scheme_verify - check password against a "{SCHEME}hash" string.
 * PW_MATCH, PW_MISMATCH, or PW_ERROR + why (unknown scheme, bad hash). */
int pw_scheme_verify(const char *stored, const char *default_scheme, const char *password,
                     struct buf *why);
/* pw_scheme_crypt_verify - check password against a crypt(3) hash. */
int pw_scheme_crypt_verify(const char *hash, const char *password, struct buf *why);
/* pw_scheme_const_equal - 1 if the two byte strings are equal; the time
 * depends on the lengths only. */
int pw_scheme_const_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
