/* safe_open - open a file as root without being led astray by links.
 *
 * An existing file must be a regular file with one hard link, reached
 * without following a symlink, and (when user/group are given) owned by
 * them; the open descriptor is checked against the path so a file swapped
 * in between the checks is caught. Creating uses O_EXCL. Modeled on
 * Postfix's safe_open().
 */
#ifndef UTIL_SAFE_OPEN_H
#define UTIL_SAFE_OPEN_H

#include <sys/stat.h>
#include <sys/types.h>

#include "util/buf.h"

#define SAFE_OPEN_ANY_USER  ((uid_t)-1)
#define SAFE_OPEN_ANY_GROUP ((gid_t)-1)

/* safe_open - open path with flags (O_CREAT without O_EXCL means "open the
 * existing file, or create it exclusively"); fills *st when non-NULL.
 * On failure returns -1 and puts a reason (naming the path) in why. */
int safe_open(const char *path, int flags, mode_t mode, struct stat *st, uid_t user, gid_t group,
              struct buf *why);

#endif
