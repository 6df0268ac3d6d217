/* auth_backend - the password backends of the auth service, behind one small
 * interface (auth.c tries them in auth_passdb order; the first that knows
 * the user decides). */
#ifndef AUTH_AUTH_BACKEND_H
#define AUTH_AUTH_BACKEND_H

#include "util/buf.h"

enum auth_verdict {
    AUTH_V_OK,      /* the password is right */
    AUTH_V_FAIL,    /* the backend knows the user and refuses (reason) */
    AUTH_V_UNKNOWN, /* not this backend's user: ask the next one */
    AUTH_V_TEMP,    /* the backend cannot answer now (reason) */
};

struct auth_backend {
    char *name; /* "system", "passwd-file:/etc/postern/users" */
    enum auth_verdict (*verify)(struct auth_backend *b, const char *user, const char *password,
                                struct buf *reason);
    void (*refresh)(struct auth_backend *b); /* at start-up: report problems early; may be NULL */
    void *ctx;
};

/* auth_system.c: passwd + shadow through crypt(3) */
struct auth_backend *auth_system_create(long min_uid);
/* auth_passwd_file.c: Dovecot passwd-file */
struct auth_backend *auth_passwd_file_create(const char *path);

/* auth_dummy_init / auth_dummy_verify - a crypt(3) check against a hash of
 * nothing, so that an unknown user costs the time a known one does. */
void auth_dummy_init(void);
void auth_dummy_verify(const char *password);

#endif
