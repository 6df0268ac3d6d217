/* auth_system - the "system" password backend of the auth service:
 * getpwnam(3) and getspnam(3), checked with crypt(3) (libxcrypt: yescrypt,
 * SHA-512, bcrypt, ...). The login rules (minimum uid, locked, expired)
 * are in lib/auth/sys_account.c. /etc/shadow is readable because auth runs
 * with the shadow group (auth.c).
 */
#include <errno.h>
#include <pwd.h>
#include <shadow.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth_backend.h"
#include "auth/pw_scheme.h"
#include "auth/sys_account.h"
#include "util/alloc.h"
#include "util/msg.h"

struct system_ctx {
    long min_uid;
};

/* lookup_failed - errno after a NULL from getpwnam/getspnam: not found,
 * or a real error? (getpwnam(3) lists ENOENT, ESRCH, EBADF, EPERM as "not
 * found" outcomes.) */
static int lookup_failed(int err)
{
    return err == EIO || err == EMFILE || err == ENFILE || err == ENOMEM || err == EAGAIN;
}

static enum auth_verdict system_verify(struct auth_backend *b, const char *user,
                                       const char *password, struct buf *reason)
{
    struct system_ctx *c = b->ctx;
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        if (lookup_failed(errno)) {
            buf_setf(reason, "system: getpwnam: %m");
            return AUTH_V_TEMP;
        }
        return AUTH_V_UNKNOWN;
    }
    struct sys_account a = {.uid = (long)pw->pw_uid, .hash = pw->pw_passwd};
    /* copied out: getspnam may reuse getpwnam's static storage */
    char *pw_hash = xstrdup(pw->pw_passwd ? pw->pw_passwd : "");
    char *sp_hash = NULL;
    a.hash = pw_hash;
    errno = 0;
    struct spwd *sp = getspnam(user);
    if (sp != NULL) {
        sp_hash = xstrdup(sp->sp_pwdp ? sp->sp_pwdp : "");
        a.hash = sp_hash;
        a.has_shadow = 1;
        a.lastchg = sp->sp_lstchg;
        a.max = sp->sp_max;
        a.inact = sp->sp_inact;
        a.expire = sp->sp_expire;
    } else if (errno == EACCES || errno == EPERM || lookup_failed(errno)) {
        buf_setf(reason, "system: cannot read the shadow entry of %s: %m", user);
        free(pw_hash);
        return AUTH_V_TEMP;
    } else if (strcmp(pw_hash, "x") == 0) {
        /* passwd says "see shadow", and shadow has no entry */
        free(pw_hash);
        buf_setf(reason, "system: no shadow entry");
        auth_dummy_verify(password);
        return AUTH_V_FAIL;
    }
    long today = (long)(time(NULL) / 86400);
    enum auth_verdict v;
    struct buf why = BUF_INIT;
    if (!sys_account_usable(&a, c->min_uid, today, &why)) {
        buf_setf(reason, "system: %s", buf_cstr(&why));
        auth_dummy_verify(password);
        v = AUTH_V_FAIL;
    } else {
        switch (pw_scheme_crypt_verify(a.hash, password, &why)) {
        case PW_MATCH:
            v = AUTH_V_OK;
            break;
        case PW_MISMATCH:
            buf_setf(reason, "system: wrong password");
            v = AUTH_V_FAIL;
            break;
        default:
            msg_warn("system account %s: %s", user, buf_cstr(&why));
            buf_setf(reason, "system: %s", buf_cstr(&why));
            v = AUTH_V_FAIL;
            break;
        }
    }
    buf_free(&why);
    if (sp_hash) {
        explicit_bzero(sp_hash, strlen(sp_hash));
        free(sp_hash);
    }
    free(pw_hash);
    return v;
}

struct auth_backend *auth_system_create(long min_uid)
{
    struct auth_backend *b = xcalloc(1, sizeof(*b));
    struct system_ctx *c = xcalloc(1, sizeof(*c));
    c->min_uid = min_uid;
    b->name = xstrdup("system");
    b->verify = system_verify;
    b->ctx = c;
    return b;
}
