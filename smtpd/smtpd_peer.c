/* smtpd_peer - who the client is: its address and port from the socket, and
 * its name, believed only when the reverse (PTR) name resolves back to the
 * same address (forward-confirmed, as Postfix); otherwise "unknown".
 * name_status says why: 0 verified, 4 temporary DNS failure, 5 no name or
 * a name that does not point back.
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "smtpd.h"
#include "util/msg.h"

static void sockaddr_to_text(const struct sockaddr *sa, socklen_t len, char *addr, size_t alen,
                             char *port, size_t plen)
{
    if (getnameinfo(sa, len, addr, (socklen_t)alen, port, (socklen_t)plen,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(addr, alen, "unknown");
        snprintf(port, plen, "0");
    }
    /* An IPv4 client on an IPv6 socket: show the IPv4 form. */
    if (strncmp(addr, "::ffff:", 7) == 0 && strchr(addr + 7, '.'))
        memmove(addr, addr + 7, strlen(addr + 7) + 1);
}

/* Does name resolve to addr? 1, 0, or -1 on a temporary failure. */
static int forward_confirmed(const char *name, const char *addr)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc == EAI_AGAIN)
        return -1;
    if (rc != 0)
        return 0;
    int found = 0;
    for (ai = res; ai && !found; ai = ai->ai_next) {
        char a[64], p[8];
        sockaddr_to_text(ai->ai_addr, ai->ai_addrlen, a, sizeof(a), p, sizeof(p));
        found = strcmp(a, addr) == 0;
    }
    freeaddrinfo(res);
    return found;
}

void smtpd_peer_init(struct smtpd_state *st)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    snprintf(st->name, sizeof(st->name), "unknown");
    snprintf(st->reverse_name, sizeof(st->reverse_name), "unknown");
    st->name_status = 5;
    if (getpeername(st->client->fd, (struct sockaddr *)&ss, &len) < 0) {
        /* Not a socket (a test feeding stdin): a local client. */
        snprintf(st->addr, sizeof(st->addr), "127.0.0.1");
        snprintf(st->port, sizeof(st->port), "0");
        snprintf(st->name, sizeof(st->name), "localhost");
        st->name_status = 0;
    } else if (ss.ss_family == AF_UNIX) {
        snprintf(st->addr, sizeof(st->addr), "127.0.0.1");
        snprintf(st->port, sizeof(st->port), "0");
        snprintf(st->name, sizeof(st->name), "localhost");
        st->name_status = 0;
    } else {
        sockaddr_to_text((struct sockaddr *)&ss, len, st->addr, sizeof(st->addr), st->port,
                         sizeof(st->port));
        if (smtpd_settings.peername_lookup) {
            char host[NI_MAXHOST];
            int rc =
                getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL, 0, NI_NAMEREQD);
            if (rc == 0) {
                snprintf(st->reverse_name, sizeof(st->reverse_name), "%s", host);
                int fc = forward_confirmed(host, st->addr);
                if (fc > 0) {
                    snprintf(st->name, sizeof(st->name), "%s", host);
                    st->name_status = 0;
                } else if (fc < 0) {
                    st->name_status = 4;
                } else {
                    msg_warn("hostname %s does not resolve to address %s", host, st->addr);
                }
            } else if (rc == EAI_AGAIN) {
                st->name_status = 4;
            }
        }
    }
    if (smtpd_settings.client_port_logging)
        snprintf(st->namaddr, sizeof(st->namaddr), "%s[%s]:%s", st->name, st->addr, st->port);
    else
        snprintf(st->namaddr, sizeof(st->namaddr), "%s[%s]", st->name, st->addr);
}
