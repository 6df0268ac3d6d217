/* sock - listening and connecting on UNIX-domain and TCP sockets.
 *
 * Every socket is created close-on-exec so no listener or connection leaks
 * into a delivery command or a filter. Connects are non-blocking underneath
 * so each one is bounded by the caller's timeout; the descriptor handed back
 * is blocking again.
 */
#include "util/sock.h"
#include "util/alloc.h"
#include "util/iostuff.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ENDPOINT_MAX 1024 /* longer than any host name plus service name */

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_keep_errno(int fd)
{
    int saved = errno;
    close(fd);
    errno = saved;
}

/* Milliseconds until deadline (deadline < 0: forever, returns -1). */
static int ms_left(long long deadline)
{
    if (deadline < 0)
        return -1;
    long long left = deadline - mono_ms();
    if (left <= 0)
        return 0;
    return left > 1000000000LL ? 1000000000 : (int)left;
}

/* Connect fd (non-blocking) by deadline; leaves fd blocking on success. */
static int connect_by(int fd, const struct sockaddr *sa, socklen_t len, long long deadline)
{
    int delay_ms = 5;

    for (;;) {
        if (connect(fd, sa, len) == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN && sa->sa_family == AF_UNIX) {
            /* Linux: the listener's backlog is full. Back off and retry,
             * as a blocking connect would wait, but only until deadline. */
            int left = ms_left(deadline);
            if (left == 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            if (left < 0 || left > delay_ms)
                left = delay_ms;
            poll(NULL, 0, left);
            if (delay_ms < 200)
                delay_ms *= 2;
            continue;
        }
        if (errno != EINPROGRESS)
            return -1;
        for (;;) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int n = poll(&p, 1, ms_left(deadline));
            if (n > 0)
                break;
            if (n == 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            if (errno != EINTR)
                return -1;
        }
        int err = 0;
        socklen_t elen = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            return -1;
        if (err != 0) {
            errno = err;
            return -1;
        }
        break;
    }
    return set_nonblock(fd, 0);
}

static long long deadline_for(int timeout)
{
    return timeout < 0 ? -1 : mono_ms() + (long long)timeout * 1000;
}

static int fill_sun(struct sockaddr_un *sun, const char *path)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(sun->sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sun->sun_path, path, n + 1);
    return 0;
}

int unix_listen(const char *path, int backlog, struct buf *why)
{
    struct sockaddr_un sun;
    struct stat st;

    if (fill_sun(&sun, path) < 0) {
        buf_setf(why, "socket path %s: %s", path,
                 *path ? "too long for a UNIX-domain socket" : "empty");
        return -1;
    }
    if (lstat(path, &st) == 0) {
        /* Only ever replace a socket: a misconfigured path must not make a
         * root process delete a regular file or a directory. */
        if (!S_ISSOCK(st.st_mode)) {
            buf_setf(why, "%s exists and is not a socket; not removing it", path);
            return -1;
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            buf_setf(why, "remove stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    } else if (errno != ENOENT) {
        buf_setf(why, "lstat %s: %s", path, strerror(errno));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        buf_setf(why, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        buf_setf(why, "bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* Access is controlled by the directory (private/ vs public/). */
    if (chmod(path, 0666) < 0) {
        buf_setf(why, "chmod %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        buf_setf(why, "listen %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int unix_connect(const char *path, int timeout)
{
    struct sockaddr_un sun;

    if (fill_sun(&sun, path) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect_by(fd, (struct sockaddr *)&sun, sizeof(sun), deadline_for(timeout)) < 0) {
        close_keep_errno(fd);
        return -1;
    }
    return fd;
}

/* Split "host:port", "[v6]:port" or "port" into malloc'ed parts; *host is
 * NULL for "port", ":port" and "*:port" (all addresses). */
static int split_endpoint(const char *ep, char **host, char **port, struct buf *why)
{
    const char *colon, *h = NULL, *p;
    size_t hlen = 0;

    *host = *port = NULL;
    if (strnlen(ep, ENDPOINT_MAX + 1) > ENDPOINT_MAX) {
        buf_setf(why, "endpoint too long");
        return -1;
    }
    if (*ep == '[') {
        const char *close = strchr(ep, ']');
        if (close == NULL || close[1] != ':') {
            buf_setf(why, "bad endpoint \"%s\": expected [address]:port", ep);
            return -1;
        }
        h = ep + 1;
        hlen = (size_t)(close - h);
        p = close + 2;
    } else if ((colon = strchr(ep, ':')) != NULL) {
        if (strchr(colon + 1, ':') != NULL) {
            buf_setf(why, "bad endpoint \"%s\": put an IPv6 address in [brackets]", ep);
            return -1;
        }
        h = ep;
        hlen = (size_t)(colon - ep);
        p = colon + 1;
    } else {
        p = ep;
    }
    if (*p == 0) {
        buf_setf(why, "bad endpoint \"%s\": no port", ep);
        return -1;
    }
    if (h && hlen > 0 && !(hlen == 1 && *h == '*'))
        *host = xstrndup(h, hlen);
    *port = xstrdup(p);
    return 0;
}

static int same_addr(const struct addrinfo *a, const struct addrinfo *b)
{
    return a->ai_family == b->ai_family && a->ai_addrlen == b->ai_addrlen &&
           memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen) == 0;
}

static void addr_text(const struct sockaddr *sa, socklen_t len, char *out, size_t outlen)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        snprintf(out, outlen, "(unknown)");
    else if (sa->sa_family == AF_INET6)
        snprintf(out, outlen, "[%s]:%s", host, serv);
    else
        snprintf(out, outlen, "%s:%s", host, serv);
}

static int listen_one(const struct addrinfo *ai, int backlog, struct buf *why)
{
    char text[NI_MAXHOST + NI_MAXSERV + 8];
    int on = 1;

    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -2; /* the caller decides whether a missing family matters */
    addr_text(ai->ai_addr, ai->ai_addrlen, text, sizeof(text));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0) {
        buf_setf(why, "%s: setsockopt SO_REUSEADDR: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    /* One socket per family: a v6 wildcard must not also claim v4. */
    if (ai->ai_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) {
        buf_setf(why, "%s: setsockopt IPV6_V6ONLY: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        buf_setf(why, "bind %s: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        buf_setf(why, "listen %s: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int inet_listen(const char *endpoint, int backlog, int *fds, int max, struct buf *why)
{
    char *host, *port;
    struct addrinfo hints, *res, *ai;
    int count = 0, missing_family = 0, family_errno = 0;

    if (split_endpoint(endpoint, &host, &port, why) < 0)
        return -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        buf_setf(why, "%s: %s", endpoint, gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        free(host);
        free(port);
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        const struct addrinfo *prev;
        for (prev = res; prev != ai && !same_addr(prev, ai); prev = prev->ai_next)
            ;
        if (prev != ai)
            continue; /* /etc/hosts may list an address twice */
        if (count >= max) {
            buf_setf(why, "%s: more than %d addresses", endpoint, max);
            goto fail;
        }
        int fd = listen_one(ai, backlog, why);
        if (fd == -2) {
            /* A kernel without IPv6 still serves "port" on IPv4. */
            if (errno == EAFNOSUPPORT) {
                missing_family = 1;
                family_errno = errno;
                continue;
            }
            buf_setf(why, "%s: socket: %s", endpoint, strerror(errno));
            goto fail;
        }
        if (fd < 0)
            goto fail;
        fds[count++] = fd;
    }
    if (count == 0) {
        buf_setf(why, "%s: no usable address%s%s", endpoint, missing_family ? ": " : "",
                 missing_family ? strerror(family_errno) : "");
        goto fail;
    }
    freeaddrinfo(res);
    free(host);
    free(port);
    return count;

fail:
    while (count > 0)
        close(fds[--count]);
    freeaddrinfo(res);
    free(host);
    free(port);
    return -1;
}

int inet_connect(const char *endpoint, int timeout)
{
    struct buf why = BUF_INIT;
    char *host, *port;
    struct addrinfo hints, *res, *ai;
    int fd = -1, err = ECONNREFUSED;

    int r = split_endpoint(endpoint, &host, &port, &why);
    buf_free(&why);
    if (r < 0 || host == NULL) {
        free(host);
        free(port);
        errno = EINVAL;
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, port, &hints, &res);
    free(host);
    free(port);
    if (gai != 0) {
        errno = gai == EAI_SYSTEM ? errno : EHOSTUNREACH;
        return -1;
    }
    long long deadline = deadline_for(timeout);
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect_by(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
        if (err == ETIMEDOUT)
            break; /* the whole budget is spent */
    }
    freeaddrinfo(res);
    if (fd < 0)
        errno = err;
    return fd;
}

void sock_peer_name(int fd, struct buf *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[NI_MAXHOST];

    buf_reset(out);
    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        buf_puts(out, "unknown");
        return;
    }
    if (ss.ss_family == AF_UNIX) {
        buf_puts(out, "local");
        return;
    }
    if (ss.ss_family == AF_INET6) {
        /* A v4 client on a dual-stack socket: log it the way v4 clients are. */
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
            char v4[INET_ADDRSTRLEN];
            if (inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], v4, sizeof(v4))) {
                buf_puts(out, v4);
                return;
            }
        }
    }
    if (getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL, 0, NI_NUMERICHOST) !=
        0) {
        buf_puts(out, "unknown");
        return;
    }
    buf_puts(out, host);
}

int unix_send_fd(int sock, int fd)
{
    char byte = fd >= 0 ? 'F' : 'N';
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = {0};
    ssize_t n;

    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        m.msg_control = u.space;
        m.msg_controllen = sizeof(u.space);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

int unix_recv_fd(int sock)
{
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * 4)];
    } u;
    struct msghdr m = {0};
    ssize_t n;
    int fd = -1;

    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.space;
    m.msg_controllen = sizeof(u.space);
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    if (n == 0) {
        errno = EPIPE;
        return -1;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (fd < 0)
                fd = got;
            else
                close(got); /* one was sent; more is a confused peer */
        }
    }
    if (fd < 0)
        errno = ENOMSG;
    return fd;
}
