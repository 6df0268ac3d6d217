/* auth_dummy - equal cost for unknown users: a crypt(3) check against a
 * SHA-512 hash made at start-up, run whenever no real hash is checked, so
 * the time of a failure does not tell whether the user exists. */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "auth_backend.h"
#include "auth/pw_scheme.h"
#include "util/alloc.h"
#include "util/msg.h"

static char *dummy_hash;

void auth_dummy_init(void)
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    unsigned char secret[16];
    char text[sizeof(secret) * 2 + 1];
    if (crypt_gensalt_rn("$6$", 0, NULL, 0, setting, (int)sizeof(setting)) == NULL)
        msg_fatal("crypt_gensalt_rn: %m");
    if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
        msg_fatal("getrandom: %m");
    for (size_t i = 0; i < sizeof(secret); i++) {
        text[2 * i] = "0123456789abcdef"[secret[i] >> 4];
        text[2 * i + 1] = "0123456789abcdef"[secret[i] & 15];
    }
    text[sizeof(text) - 1] = 0;
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    const char *h = crypt_rn(text, setting, cd, (int)sizeof(*cd));
    if (h == NULL || h[0] == '*')
        msg_fatal("crypt_rn: cannot make a SHA-512 hash");
    dummy_hash = xstrdup(h);
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
}

void auth_dummy_verify(const char *password)
{
    struct buf why = BUF_INIT;
    if (dummy_hash)
        (void)pw_scheme_crypt_verify(dummy_hash, password ? password : "", &why);
    buf_free(&why);
}
