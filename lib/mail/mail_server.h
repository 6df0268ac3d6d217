/* mail_server - the skeleton every Postern daemon runs in.
 *
 * A program supplies callbacks; the skeleton parses the options master
 * passes (master_proto.h), reads main.cf and applies -o overrides, sets up
 * logging, and then:
 *
 *   pre_init()      still root: open what the chroot will hide
 *   chdir(queue_directory); chroot (if -C); setgid/setgroups/setuid to
 *   mail_owner (if -u); clear every capability with libcap (and the bounding
 *   set); prctl(PR_SET_NO_NEW_PRIVS)
 *   post_init()     unprivileged
 *   loop            accept clients / triggers until max_use or max_idle
 *
 * Started by a non-root user, the skeleton skips chroot and setuid (with a
 * warning) so development instances work; no_new_privs is always set.
 *
 * Variants:
 *   single_server_main   one client at a time: service(stream) per connection
 *   multi_server_main    many clients in one process (event loop):
 *                        connect(stream) then the program watches the stream
 *   trigger_server_main  wakeup and trigger bytes from a fifo or unix socket:
 *                        service(bytes, len) per trigger
 *
 * Exit rules: after max_use clients (single/trigger), or after max_idle
 * seconds without a client (unless SERVER_FLAG_IGNORE_IDLE), or when master
 * sends SIGTERM (a client being served is finished first) or closes the
 * status pipe.
 */
#ifndef MAIL_MAIL_SERVER_H
#define MAIL_MAIL_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "util/stream.h"

struct server_ctx {
    const char *service; /* -n */
    const char *type;    /* -t */
    char **argv;         /* master.cf arguments after the command and options */
    int argc;
};

struct server_ops {
    void (*pre_init)(const struct server_ctx *ctx);
    void (*post_init)(const struct server_ctx *ctx);
    /* single_server: serve one client (the stream is closed afterwards). */
    void (*service)(struct stream *client, const struct server_ctx *ctx);
    /* multi_server: a new client; the program owns the stream from now on
     * and calls multi_server_disconnect() when done with it. */
    void (*connect)(struct stream *client, const struct server_ctx *ctx);
    /* trigger_server: bytes read from a trigger (wakeup: "W"). */
    void (*trigger)(const char *bytes, size_t len, const struct server_ctx *ctx);
    /* called before exit (all variants), may be NULL */
    void (*pre_exit)(const struct server_ctx *ctx);
    int flags;
    int client_timeout; /* stream timeout for clients; 0 = ipc_timeout */
};

#define SERVER_FLAG_IGNORE_IDLE   1 /* long-running (qmgr, pickup): no max_idle exit */
#define SERVER_FLAG_UNLIMITED_USE 2 /* never exit after max_use requests (qmgr) */

int single_server_main(int argc, char **argv, const struct server_ops *ops);
int multi_server_main(int argc, char **argv, const struct server_ops *ops);
int trigger_server_main(int argc, char **argv, const struct server_ops *ops);
/* multi_server_disconnect - close a client stream of a multi-client server. */
void multi_server_disconnect(struct stream *client);
/* server_exit_after_client - from a service routine: finish this client,
 * then exit, so master starts a fresh process (e.g. one that retries
 * opening a table as root, before the chroot). */
void server_exit_after_client(void);

/* server_drop_privileges - the privilege step on its own (also used by
 * tools). chroot_dir may be NULL. Fatal on failure. */
void server_drop_privileges(const char *user, const char *chroot_dir);
/* server_drop_privileges_groups - the same, for a program that drops
 * privileges itself (auth, in pre_init, from a master.cf entry with
 * unpriv n): user's group plus n_extra (at most 64) supplementary groups,
 * none of them 0; then no_new_privs. */
void server_drop_privileges_groups(const char *user, const char *chroot_dir, const gid_t *extra,
                                   int n_extra);

#endif
