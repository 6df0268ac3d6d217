/* iostuff - descriptor flags and I/O bounded by timeouts. */
#include "util/iostuff.h"
#include "util/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
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

int write_full(int fd, const void *p, size_t n, int timeout)
{
    const char *cp = p;
    while (n > 0) {
        if (write_wait(fd, timeout) < 0)
            return -1;
        ssize_t w = write(fd, cp, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
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
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}
