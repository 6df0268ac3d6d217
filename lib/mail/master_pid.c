/* master_pid - the master's lock file: whoever holds the flock is the
 * running master; the PID written into the file only says which process
 * that is. A stale file left by a crash is harmless because the kernel
 * drops the lock with the process.
 */
#include "mail/master_pid.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"

/* "2147483647\n" and some slack: anything longer is not a PID file of ours. */
#define PID_TEXT_MAX 32

static char *pid_path(const char *queue_dir)
{
    struct buf path = BUF_INIT;

    buf_printf(&path, "%s/%s", queue_dir, MASTER_PID_FILE);
    return buf_steal(&path);
}

/* O_NONBLOCK keeps a FIFO planted at the path from hanging the open; the
 * caller then refuses anything that is not a regular file. */
static int open_pid_file(const char *path, int flags, struct buf *why)
{
    struct stat st;
    int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);

    if (fd < 0) {
        if (errno != ENOENT)
            buf_printf(why, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        buf_printf(why, "%s: not a regular file", path);
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

int master_pid_lock(const char *queue_dir, struct buf *why)
{
    char *path = pid_path(queue_dir);
    char text[PID_TEXT_MAX];
    int fd, n;

    buf_reset(why);
    fd = open_pid_file(path, O_RDWR | O_CREAT, why);
    if (fd < 0) {
        if (why->len == 0)
            buf_printf(why, "open %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int saved = errno;

        if (saved == EWOULDBLOCK) {
            struct buf ignore = BUF_INIT;
            pid_t other = master_pid_running(queue_dir, &ignore);

            buf_free(&ignore);
            if (other > 0)
                buf_printf(why, "already running (PID %ld)", (long)other);
            else
                buf_printf(why, "already running (%s is locked)", path);
        } else {
            buf_printf(why, "lock %s: %s", path, strerror(saved));
        }
        close(fd);
        free(path);
        errno = saved;
        return -1;
    }
    /* Explicit mode, whatever the umask: `postern status` run by others reads it. */
    if (fchmod(fd, 0644) < 0 && errno != EPERM) {
        buf_printf(why, "chmod %s: %s", path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }
    n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != (ssize_t)n) {
        int saved = errno;

        buf_printf(why, "write %s: %s", path, strerror(saved));
        close(fd);
        free(path);
        errno = saved;
        return -1;
    }
    free(path);
    return fd;
}

/* parse_pid - the file holds decimal digits and one newline, nothing else. */
static pid_t parse_pid(const char *text, size_t len)
{
    long value = 0;
    size_t i = 0;

    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len == 0)
        return 0;
    for (; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        value = value * 10 + (text[i] - '0');
        if (value > INT_MAX)
            return -1;
    }
    return value > 0 ? (pid_t)value : -1;
}

pid_t master_pid_running(const char *queue_dir, struct buf *why)
{
    char *path = pid_path(queue_dir);
    char text[PID_TEXT_MAX + 1];
    pid_t pid = 0;
    int fd;

    buf_reset(why);
    fd = open_pid_file(path, O_RDONLY, why);
    if (fd < 0) {
        free(path);
        return why->len ? -1 : 0;
    }
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        (void)flock(fd, LOCK_UN);
        close(fd);
        free(path);
        return 0;
    }
    if (errno != EWOULDBLOCK) {
        buf_printf(why, "lock %s: %s", path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }

    /* The master takes the lock before it writes its PID, so a reader may
     * see the file still empty for a moment: look again briefly. */
    for (int tries = 0; tries < 50; tries++) {
        ssize_t n = pread(fd, text, sizeof(text), 0);

        if (n < 0) {
            buf_printf(why, "read %s: %s", path, strerror(errno));
            pid = -1;
            break;
        }
        if ((size_t)n > PID_TEXT_MAX) {
            buf_printf(why, "%s: too long for a PID file", path);
            pid = -1;
            break;
        }
        pid = parse_pid(text, (size_t)n);
        if (pid < 0) {
            buf_printf(why, "%s: locked, but does not hold a PID", path);
            break;
        }
        if (pid > 0)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    if (pid == 0) {
        buf_printf(why, "%s: locked, but empty", path);
        pid = -1;
    }
    close(fd);
    free(path);
    return pid;
}
