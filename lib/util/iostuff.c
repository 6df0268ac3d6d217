/* iostuff - descriptor flags and I/O bounded by timeouts. */
#include "util/iostuff.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -1 : 0;
}

int set_cloexec(int fd, int on)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return -1;
    fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    return fcntl(fd, F_SETFD, fl) < 0 ? -1 : 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Wait for `events`, restarting after signals without extending the deadline. */
static int poll_wait(int fd, short events, int timeout)
{
    long deadline = timeout < 0 ? -1 : now_ms() + timeout * 1000L;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int ms = -1;
        if (deadline >= 0) {
            long left = deadline - now_ms();
            ms = left > 0 ? (int)left : 0;
        }
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0; /* ready, or an error/hangup the next I/O call reports */
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

int read_wait(int fd, int timeout)
{
    return poll_wait(fd, POLLIN, timeout);
}

int write_wait(int fd, int timeout)
{
    return poll_wait(fd, POLLOUT, timeout);
}

ssize_t timed_read(int fd, void *p, size_t n, int timeout)
{
    for (;;) {
        if (read_wait(fd, timeout) < 0)
            return -1;
        ssize_t r = read(fd, p, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return r;
    }
}

/* Writable only means "some room": a blocking write() of more than that
 * would sleep past the timeout. A socket is written with MSG_DONTWAIT (and
 * MSG_NOSIGNAL, so a vanished peer is an error, not a fatal signal); other
 * descriptors but files get at most PIPE_BUF bytes, which a writable pipe
 * accepts without blocking. */
ssize_t timed_write(int fd, const void *p, size_t n, int timeout)
{
    int not_socket = 0;
    size_t chunk = PIPE_BUF;
    for (;;) {
        if (write_wait(fd, timeout) < 0)
            return -1;
        ssize_t w;
        if (!not_socket) {
            w = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0 && errno == ENOTSOCK) {
                struct stat st;
                not_socket = 1;
                /* Files never wait for room: write them whole. */
                if (fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
                    chunk = n;
                continue;
            }
        } else {
            w = write(fd, p, n > chunk ? chunk : n);
        }
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return w;
    }
}

int write_full(int fd, const void *p, size_t n, int timeout)
{
    const char *cp = p;
    while (n > 0) {
        ssize_t w = timed_write(fd, cp, n, timeout);
        if (w < 0)
            return -1;
        cp += w;
        n -= (size_t)w;
    }
    return 0;
}

int read_full(int fd, void *p, size_t n, int timeout, int *eof)
{
    char *cp = p;
    if (eof)
        *eof = 0;
    while (n > 0) {
        ssize_t r = timed_read(fd, cp, n, timeout);
        if (r < 0)
            return -1;
        if (r == 0) {
            if (eof)
                *eof = 1;
            errno = EPIPE;
            return -1;
        }
        cp += r;
        n -= (size_t)r;
    }
    return 0;
}

int fsync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? (slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path)))
                      : xstrdup(".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    /* A write-only drop box (maildrop/, mode 1730) cannot be opened by the
     * setgid postdrop that writes into it. The rename changed the file's
     * ctime in the same journal transaction as the directory entry, so on
     * Linux's journaling file systems (ext4, xfs, btrfs) an fsync of the
     * renamed file commits the rename too. */
    if (fd < 0 && errno == EACCES)
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}
