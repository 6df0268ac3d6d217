/* auth_passwd_file - the "passwd-file:/path" backend of the auth service:
 * Dovecot's passwd-file (lib/auth/passwd_file.c), reread when it changes,
 * passwords checked by their {SCHEME} (lib/auth/pw_scheme.c). The file is
 * read as auth_owner, so it must be readable by that account.
 */
#include <stdlib.h>
#include <string.h>

#include "auth_backend.h"
#include "auth/passwd_file.h"
#include "auth/pw_scheme.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"

/* refresh - reread if changed; log what the reader found */
static int refresh(struct passwd_file *pf, struct buf *reason)
{
    struct argv *warnings = argv_alloc();
    struct buf why = BUF_INIT;
    int rc = passwd_file_refresh(pf, warnings, &why);
    for (size_t i = 0; i < warnings->argc; i++)
        msg_warn("%s", warnings->argv[i]);
    if (rc > 0 && msg_verbose)
        msg_info("%s: %zu users", pf->path, pf->table.n);
    if (rc < 0)
        buf_setf(reason, "passwd-file: %s", buf_cstr(&why));
    argv_free(warnings);
    buf_free(&why);
    return rc;
}

static enum auth_verdict passwd_file_verify(struct auth_backend *b, const char *user,
                                            const char *password, struct buf *reason)
{
    struct passwd_file *pf = b->ctx;
    if (refresh(pf, reason) < 0)
        return AUTH_V_TEMP;
    const struct passwd_file_entry *e = passwd_file_lookup(pf, user);
    if (e == NULL)
        return AUTH_V_UNKNOWN;
    if (e->password[0] == 0) {
        buf_setf(reason, "passwd-file: account has no password");
        auth_dummy_verify(password);
        return AUTH_V_FAIL;
    }
    struct buf why = BUF_INIT;
    enum auth_verdict v = AUTH_V_FAIL;
    switch (pw_scheme_verify(e->password, PASSWD_FILE_DEFAULT_SCHEME, password, &why)) {
    case PW_MATCH:
        v = AUTH_V_OK;
        break;
    case PW_MISMATCH:
        buf_setf(reason, "passwd-file: wrong password");
        break;
    default:
        msg_warn("%s:%lu: user %s: %s", pf->path, e->line, user, buf_cstr(&why));
        buf_setf(reason, "passwd-file: %s", buf_cstr(&why));
        break;
    }
    buf_free(&why);
    return v;
}

static void passwd_file_start(struct auth_backend *b)
{
    struct buf reason = BUF_INIT;
    if (refresh(b->ctx, &reason) < 0)
        msg_warn("%s (its users cannot log in until it is readable)", buf_cstr(&reason));
    buf_free(&reason);
}

struct auth_backend *auth_passwd_file_create(const char *path)
{
    struct auth_backend *b = xcalloc(1, sizeof(*b));
    struct buf name = BUF_INIT;
    buf_printf(&name, "passwd-file:%s", path);
    b->name = buf_steal(&name);
    b->verify = passwd_file_verify;
    b->refresh = passwd_file_start;
    b->ctx = passwd_file_open(path);
    return b;
}
