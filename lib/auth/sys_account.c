/* sys_account - the login rules for system accounts (sys_account.h). */
#include "auth/sys_account.h"

#include <stddef.h>

int sys_account_usable(const struct sys_account *a, long min_uid, long today, struct buf *why)
{
    if (a->uid < min_uid) {
        buf_setf(why, "user ID %ld is below auth_minimum_uid %ld", a->uid, min_uid);
        return 0;
    }
    if (a->hash == NULL || a->hash[0] == 0) {
        buf_setf(why, "account has no password");
        return 0;
    }
    if (a->hash[0] == '!' || a->hash[0] == '*') {
        buf_setf(why, "account is locked");
        return 0;
    }
    if (!a->has_shadow)
        return 1;
    /* shadow(5): "the date of expiration of the account", an empty field
     * (-1) means never; the account is unusable from that day on. */
    if (a->expire >= 0 && today >= a->expire) {
        buf_setf(why, "account expired");
        return 0;
    }
    /* shadow(5): 0 as the last change means the password must be changed
     * at the next login, which mail access cannot do. */
    if (a->lastchg == 0) {
        buf_setf(why, "password must be changed first");
        return 0;
    }
    /* All in long long: each field is at most a long, so the sum of three
     * cannot overflow. */
    if (a->lastchg > 0 && a->max >= 0) {
        /* as pam_unix: expired once more than max days have passed */
        long long expires = (long long)a->lastchg + a->max;
        if (today > expires) {
            if (a->inact < 0 || today > expires + a->inact)
                buf_setf(why, "password expired");
            else
                buf_setf(why, "password expired (inactive period)");
            return 0;
        }
    }
    return 1;
}
