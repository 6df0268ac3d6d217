/* pw_scheme - crypt(3), Argon2 and Dovecot {SCHEME} password checks
 * (pw_scheme.h). */
#include "auth/pw_scheme.h"

#include <argon2.h>
#include <crypt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"

static const struct {
    const char *name;
    enum pw_scheme_id id;
} schemes[] = {
    {"SHA512-CRYPT", PW_SCHEME_SHA512_CRYPT},
    {"SHA256-CRYPT", PW_SCHEME_SHA256_CRYPT},
    {"MD5-CRYPT", PW_SCHEME_MD5_CRYPT},
    {"BLF-CRYPT", PW_SCHEME_BLF_CRYPT},
    {"CRYPT", PW_SCHEME_CRYPT},
    {"ARGON2ID", PW_SCHEME_ARGON2ID},
    {"ARGON2I", PW_SCHEME_ARGON2I},
    {"PLAIN", PW_SCHEME_PLAIN},
    {"CLEARTEXT", PW_SCHEME_CLEARTEXT},
};

#define SCHEME_NAME_MAX 32

enum pw_scheme_id pw_scheme_by_name(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strlen(schemes[i].name) == len && strncasecmp(schemes[i].name, name, len) == 0)
            return schemes[i].id;
    return PW_SCHEME_UNKNOWN;
}

const char *pw_scheme_name(enum pw_scheme_id id)
{
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (schemes[i].id == id)
            return schemes[i].name;
    return "UNKNOWN";
}

int pw_scheme_is_plain(enum pw_scheme_id id)
{
    return id == PW_SCHEME_PLAIN || id == PW_SCHEME_CLEARTEXT;
}

/* printable - a scheme name fit for a log line: at most 32 bytes, every
 * byte outside printable ASCII as '?' */
static void printable(struct buf *out, const char *s, size_t n)
{
    if (n > SCHEME_NAME_MAX)
        n = SCHEME_NAME_MAX;
    for (size_t i = 0; i < n; i++)
        buf_putc(out, (unsigned char)s[i] >= 0x21 && (unsigned char)s[i] < 0x7f ? s[i] : '?');
}

enum pw_scheme_id pw_scheme_parse(const char *stored, const char *default_scheme, const char **hash,
                                  struct buf *why)
{
    *hash = stored;
    if (stored[0] != '{') {
        enum pw_scheme_id id = pw_scheme_by_name(default_scheme, strlen(default_scheme));
        if (id == PW_SCHEME_UNKNOWN)
            buf_setf(why, "unknown default password scheme %s", default_scheme);
        return id;
    }
    const char *end = strchr(stored, '}');
    if (end == NULL) {
        buf_setf(why, "password scheme without closing brace");
        return PW_SCHEME_UNKNOWN;
    }
    enum pw_scheme_id id = pw_scheme_by_name(stored + 1, (size_t)(end - stored - 1));
    if (id == PW_SCHEME_UNKNOWN) {
        struct buf name = BUF_INIT;
        printable(&name, stored + 1, (size_t)(end - stored - 1));
        buf_setf(why, "unknown password scheme {%s}", buf_cstr(&name));
        buf_free(&name);
        return id;
    }
    *hash = end + 1;
    return id;
}

int pw_scheme_const_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    const volatile unsigned char *x = a, *y = b;
    /* Walk the longer string in full against the shorter one repeated, so
     * the time says nothing about where the first difference is. */
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < n; i++) {
        unsigned char cx = alen ? x[i % alen] : 0;
        unsigned char cy = blen ? y[i % blen] : 0;
        diff |= cx ^ cy;
    }
    return diff == 0;
}

int pw_scheme_crypt_verify(const char *hash, const char *password, struct buf *why)
{
    if (hash[0] == 0) {
        buf_setf(why, "empty password hash");
        return PW_ERROR;
    }
    /* About 32 kB: from the heap, zeroed as crypt_rn wants, wiped after. */
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
    int rc;
    if (out == NULL || out[0] == '*') {
        buf_setf(why, "password hash not usable by crypt(3)");
        rc = PW_ERROR;
    } else {
        rc = pw_scheme_const_equal(out, strlen(out), hash, strlen(hash)) ? PW_MATCH : PW_MISMATCH;
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return rc;
}

/* argon2_param - the number after "name=" at *p, up to max; advances *p. */
static int argon2_param(const char **p, const char *name, unsigned long max, unsigned long *out)
{
    size_t n = strlen(name);
    if (strncmp(*p, name, n) != 0 || (*p)[n] != '=')
        return -1;
    const char *s = *p + n + 1;
    unsigned long v = 0;
    size_t digits = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max)
            return -1;
        s++;
        digits++;
    }
    if (digits == 0)
        return -1;
    *out = v;
    *p = s;
    return 0;
}

/* argon2_check - the encoded string is of the expected type and within the
 * bounds, before libargon2 allocates anything. */
static int argon2_check(const char *enc, argon2_type type, struct buf *why)
{
    const char *prefix = type == Argon2_id ? "$argon2id$" : "$argon2i$";
    if (strncmp(enc, prefix, strlen(prefix)) != 0) {
        buf_setf(why, "hash is not of the form %s...", prefix);
        return -1;
    }
    const char *p = enc + strlen(prefix);
    unsigned long v, m, t, l;
    if (strncmp(p, "v=", 2) == 0) {
        if (argon2_param(&p, "v", 0xff, &v) < 0 || *p++ != '$') {
            buf_setf(why, "malformed Argon2 version");
            return -1;
        }
    }
    if (argon2_param(&p, "m", PW_ARGON2_MAX_KIB, &m) < 0 || *p++ != ',' ||
        argon2_param(&p, "t", PW_ARGON2_MAX_COST, &t) < 0 || *p++ != ',' ||
        argon2_param(&p, "p", PW_ARGON2_MAX_COST, &l) < 0 || *p != '$') {
        buf_setf(why, "malformed Argon2 parameters, or memory above %d KiB or cost above %d",
                 PW_ARGON2_MAX_KIB, PW_ARGON2_MAX_COST);
        return -1;
    }
    return 0;
}

static int argon2_check_password(const char *enc, argon2_type type, const char *password,
                                 struct buf *why)
{
    if (argon2_check(enc, type, why) < 0)
        return PW_ERROR;
    int r = argon2_verify(enc, password, strlen(password), type);
    if (r == ARGON2_OK)
        return PW_MATCH;
    if (r == ARGON2_VERIFY_MISMATCH)
        return PW_MISMATCH;
    buf_setf(why, "Argon2 hash not usable: %s", argon2_error_message(r));
    return PW_ERROR;
}

/* crypt_kind - the hash is of the kind the scheme promises */
static int crypt_kind(enum pw_scheme_id id, const char *hash)
{
    switch (id) {
    case PW_SCHEME_SHA512_CRYPT:
        return strncmp(hash, "$6$", 3) == 0;
    case PW_SCHEME_SHA256_CRYPT:
        return strncmp(hash, "$5$", 3) == 0;
    case PW_SCHEME_MD5_CRYPT:
        return strncmp(hash, "$1$", 3) == 0;
    case PW_SCHEME_BLF_CRYPT:
        return strncmp(hash, "$2a$", 4) == 0 || strncmp(hash, "$2b$", 4) == 0 ||
               strncmp(hash, "$2y$", 4) == 0;
    default:
        return 1;
    }
}

int pw_scheme_verify(const char *stored, const char *default_scheme, const char *password,
                     struct buf *why)
{
    const char *hash;
    enum pw_scheme_id id = pw_scheme_parse(stored, default_scheme, &hash, why);
    switch (id) {
    case PW_SCHEME_SHA512_CRYPT:
    case PW_SCHEME_SHA256_CRYPT:
    case PW_SCHEME_MD5_CRYPT:
    case PW_SCHEME_BLF_CRYPT:
    case PW_SCHEME_CRYPT:
        if (!crypt_kind(id, hash)) {
            buf_setf(why, "hash does not match its scheme {%s}", pw_scheme_name(id));
            return PW_ERROR;
        }
        return pw_scheme_crypt_verify(hash, password, why);
    case PW_SCHEME_ARGON2ID:
        return argon2_check_password(hash, Argon2_id, password, why);
    case PW_SCHEME_ARGON2I:
        return argon2_check_password(hash, Argon2_i, password, why);
    case PW_SCHEME_PLAIN:
    case PW_SCHEME_CLEARTEXT:
        if (hash[0] == 0) {
            buf_setf(why, "empty password");
            return PW_ERROR;
        }
        return pw_scheme_const_equal(hash, strlen(hash), password, strlen(password)) ? PW_MATCH
                                                                                     : PW_MISMATCH;
    default:
        return PW_ERROR;
    }
}
