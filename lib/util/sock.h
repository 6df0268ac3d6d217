/* sock - listening and connecting on UNIX-domain and TCP sockets. */
#ifndef UTIL_SOCK_H
#define UTIL_SOCK_H

#include <stddef.h>
#include <sys/socket.h>

#include "util/buf.h"

/* unix_listen - bind a stream socket at path (replacing a stale socket file),
 * mode 0666 (the directory restricts access), listen with backlog. -1 + why. */
int unix_listen(const char *path, int backlog, struct buf *why);
/* unix_connect - connect to a stream socket, waiting up to timeout seconds. */
int unix_connect(const char *path, int timeout);
/* inet_listen - listen on "host:port", "[v6addr]:port" or "port" (all
 * addresses). host may be a name or address; port a number or service name.
 * Returns the number of sockets opened into fds (at most max), or -1 + why. */
int inet_listen(const char *endpoint, int backlog, int *fds, int max, struct buf *why);
/* inet_connect - connect to "host:port" within timeout; -1 on failure. */
int inet_connect(const char *endpoint, int timeout);
/* sock_peer_name - the peer address of a connected socket, as text
 * ("127.0.0.1", "::1", or "local" for UNIX sockets). */
void sock_peer_name(int fd, struct buf *out);
/* unix_send_fd - send one byte on the UNIX stream socket sock, carrying fd
 * (SCM_RIGHTS), or no descriptor when fd < 0 (so a reader can always
 * expect the byte). The caller keeps its copy of fd. 0 or -1 (errno). */
int unix_send_fd(int sock, int fd) __attribute__((warn_unused_result));
/* unix_recv_fd - read exactly the one byte unix_send_fd sent (nothing
 * after it, so a buffered reader can take over) and return the descriptor
 * it carried, close-on-exec; -1 with errno ENOMSG when the byte carried
 * none, EPIPE at end of file, or the error. Extra descriptors are closed. */
int unix_recv_fd(int sock);

#endif
