/* sys_account - may a system account (passwd + shadow) log in to mail?
 * The pure part of auth's "system" backend, so every rule is unit-tested:
 * the daemon fills a struct sys_account from getpwnam(3) and getspnam(3).
 *
 * Refused: a user ID below auth_minimum_uid (root, daemons, system
 * accounts); a locked password ("!" or "*" first, as passwd -l and
 * useradd leave it); an empty password; an account past its expiry date
 * (shadow(5) field 8); a password that must be changed first (last change
 * 0) or that expired and whose inactive period is over (fields 3, 5, 7).
 */
#ifndef AUTH_SYS_ACCOUNT_H
#define AUTH_SYS_ACCOUNT_H

#include "util/buf.h"

struct sys_account {
    long uid;
    const char *hash; /* shadow sp_pwdp, else pw_passwd */
    int has_shadow;   /* the fields below are valid */
    long lastchg;     /* days since 1970-01-01; -1 unset */
    long max;         /* days; -1 unset */
    long inact;       /* days; -1 unset */
    long expire;      /* day the account expires; -1 unset */
};

/* sys_account_usable - 1, or 0 + why (for the log). today is the number of
 * days since 1970-01-01 (UTC). */
int sys_account_usable(const struct sys_account *a, long min_uid, long today, struct buf *why);

#endif
