/* safe_open - open or create a file as root without following links.
 *
 * Postfix's safe_open() rules: never follow a symlink in the last component,
 * accept only a regular file with exactly one hard link (a second link could
 * be a user's hard link to a file they cannot write), check the owner when
 * asked, and compare the descriptor with the path afterwards so a file
 * swapped in between the open and the checks is refused. O_TRUNC is applied
 * only after the checks, or it would truncate the wrong file.
 */
#include "util/safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#define SAFE_OPEN_RETRIES 10 /* open-or-create races lost before giving up */

static void close_keep_errno(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

/* Clear O_NONBLOCK again if only we wanted it (see open_existing). */
static int restore_blocking(int fd, int flags)
{
    if (flags & O_NONBLOCK)
        return 0;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
}

static int open_existing(const char *path, int flags, struct stat *st, uid_t user, gid_t group,
                         struct buf *why)
{
    struct stat fst, lst;

    /* O_NONBLOCK: a FIFO planted at the path must not hang us in open(). */
    int fd =
        open(path, (flags & ~(O_TRUNC | O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;
        if (err == ELOOP && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            buf_setf(why, "file %s is a symbolic link", path);
        else
            buf_setf(why, "cannot open file %s: %s", path, strerror(err));
        errno = err;
        return -1;
    }
    if (fstat(fd, &fst) < 0) {
        buf_setf(why, "cannot fstat file %s: %s", path, strerror(errno));
        goto bad;
    }
    if (!S_ISREG(fst.st_mode)) {
        buf_setf(why, "file %s is not a regular file", path);
        errno = EPERM;
        goto bad;
    }
    if (fst.st_nlink != 1) {
        buf_setf(why, "file %s has %lu hard links", path, (unsigned long)fst.st_nlink);
        errno = EPERM;
        goto bad;
    }
    if (user != SAFE_OPEN_ANY_USER && fst.st_uid != user) {
        buf_setf(why, "file %s has wrong owner: uid %lu, expected %lu", path,
                 (unsigned long)fst.st_uid, (unsigned long)user);
        errno = EPERM;
        goto bad;
    }
    if (group != SAFE_OPEN_ANY_GROUP && fst.st_gid != group) {
        buf_setf(why, "file %s has wrong group: gid %lu, expected %lu", path,
                 (unsigned long)fst.st_gid, (unsigned long)group);
        errno = EPERM;
        goto bad;
    }
    /* The name may have been pointed elsewhere between open and now. */
    if (lstat(path, &lst) < 0) {
        buf_setf(why, "cannot lstat file %s: %s", path, strerror(errno));
        goto bad;
    }
    if (lst.st_dev != fst.st_dev || lst.st_ino != fst.st_ino || S_ISLNK(lst.st_mode)) {
        buf_setf(why, "file %s was replaced while it was being opened", path);
        errno = EPERM;
        goto bad;
    }
    if (restore_blocking(fd, flags) < 0) {
        buf_setf(why, "cannot set blocking mode on file %s: %s", path, strerror(errno));
        goto bad;
    }
    if ((flags & O_TRUNC) && (flags & O_ACCMODE) != O_RDONLY) {
        if (ftruncate(fd, 0) < 0) {
            buf_setf(why, "cannot truncate file %s: %s", path, strerror(errno));
            goto bad;
        }
        if (fstat(fd, &fst) < 0) {
            buf_setf(why, "cannot fstat file %s: %s", path, strerror(errno));
            goto bad;
        }
    }
    if (st)
        *st = fst;
    return fd;

bad:
    close_keep_errno(fd);
    return -1;
}

static int create_exclusive(const char *path, int flags, mode_t mode, struct stat *st, uid_t user,
                            gid_t group, struct buf *why)
{
    struct stat fst;

    /* O_EXCL fails on any existing name, symlinks included. */
    int fd = open(path, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        int err = errno;
        buf_setf(why, "cannot create file exclusively: %s: %s", path, strerror(err));
        errno = err;
        return -1;
    }
    if ((user != SAFE_OPEN_ANY_USER || group != SAFE_OPEN_ANY_GROUP) &&
        fchown(fd, user, group) < 0) {
        buf_setf(why, "cannot change ownership of file %s: %s", path, strerror(errno));
        goto bad;
    }
    if (fstat(fd, &fst) < 0) {
        buf_setf(why, "cannot fstat file %s: %s", path, strerror(errno));
        goto bad;
    }
    if (st)
        *st = fst;
    return fd;

bad:
    /* Not unlinked: by now the name might lead to someone else's file. */
    close_keep_errno(fd);
    return -1;
}

int safe_open(const char *path, int flags, mode_t mode, struct stat *st, uid_t user, gid_t group,
              struct buf *why)
{
    if ((flags & O_CREAT) == 0)
        return open_existing(path, flags, st, user, group, why);
    if (flags & O_EXCL)
        return create_exclusive(path, flags, mode, st, user, group, why);

    /* Open or create: someone may create or remove the file between our two
     * attempts; each lost race means starting over, a bounded number of times. */
    for (int i = 0; i < SAFE_OPEN_RETRIES; i++) {
        int fd = open_existing(path, flags, st, user, group, why);
        if (fd >= 0 || errno != ENOENT)
            return fd;
        fd = create_exclusive(path, flags & ~O_TRUNC, mode, st, user, group, why);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    buf_setf(why, "cannot open file %s: it keeps appearing and disappearing", path);
    errno = EAGAIN;
    return -1;
}
