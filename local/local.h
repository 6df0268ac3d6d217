/* local - what local.c (the service: requests, queue file, bookkeeping)
 * and local_expand.c (aliases, .forward, :include:, forwarding) share.
 *
 * One request recipient is expanded into leaves -- mailbox, /file,
 * |command, forwarded address -- each delivered (local_deliver.h) or
 * collected for forwarding, each logged on its own line as Postfix does.
 * The outcomes combine into the one result qmgr gets for the recipient:
 * any DEFER makes it DEFER (the whole recipient is tried again later),
 * else any BOUNCE makes it BOUNCE, else OK.
 */
#ifndef LOCAL_LOCAL_H
#define LOCAL_LOCAL_H

#include <stddef.h>

#include "local_deliver.h"
#include "mail/deliver_request.h"
#include "mail/resolve.h"
#include "maps/map.h"
#include "util/argv.h"
#include "util/buf.h"

/* Where a destination came from (allow_mail_to_commands / _files words). */
#define LOCAL_EXP_ALIAS   1
#define LOCAL_EXP_FORWARD 2
#define LOCAL_EXP_INCLUDE 4

#define LOCAL_FORWARD_MAX (64 * 1024)   /* bytes of a .forward file */
#define LOCAL_INCLUDE_MAX (1024 * 1024) /* bytes of an :include: file */
#define LOCAL_DEPTH_MAX   100           /* nesting of alias/.forward/include (Postfix) */
#define LOCAL_WORK_MAX    10000         /* destinations one recipient may expand to */
#define LOCAL_HEADER_MAX  (1024 * 1024) /* header bytes searched for Delivered-To: */

/* The settings, read once at start-up; tables open when first needed, so
 * that a missing aliases table (before newaliases) defers, never crashes. */
struct local_conf {
    const char *service; /* our master.cf name: the transport that means "local" */
    struct argv *alias_specs;
    struct map **alias_maps; /* NULL entries: not open yet */
    char *delimiter;         /* recipient_delimiter */
    char *forward_path;
    char *myorigin;
    char *default_privs;
    int cmd_mask;  /* allow_mail_to_commands */
    int file_mask; /* allow_mail_to_files */
    int ipc_timeout;
    int forward_delivered_to;  /* prepend_delivered_header has "forward" */
    struct resolver *resolver; /* NULL until it could be made */
};

extern struct local_conf local_conf;

/* One forwarded message: the addresses that share a Delivered-To: line. */
struct local_fwd {
    char *delivered_to;
    struct argv *rcpts;
};

/* The expansion of one request recipient. */
struct local_state {
    const struct deliver_request *req;
    const struct deliver_rcpt *rcpt;
    const struct local_msg *msg;
    const struct argv *delivered; /* Delivered-To: values in the message */
    const char *orig;             /* original recipient: ORCPT, else the address */
    struct local_seen *seen;      /* keys of what was done already */
    struct local_fwd *fwd;
    size_t nfwd;
    size_t leaves; /* destinations reached (delivered, bounced, deferred, forwarded) */
    size_t work;
    int have_ok, have_bounce, have_defer;
    struct deliver_result ok, bounce, defer; /* the first of each, for the reply */
};

/* local_state_init / _free - per request recipient. */
void local_state_init(struct local_state *st, const struct deliver_request *req,
                      const struct deliver_rcpt *rcpt, const struct local_msg *msg,
                      const struct argv *delivered);
void local_state_free(struct local_state *st);

/* local_expand - deliver st->rcpt: aliases, .forward, mailbox, with
 * forwarding at the end; the combined result goes into res (which the
 * caller frees). */
void local_expand(struct local_state *st, struct deliver_result *res);

/* local_leaf - record (and log) the outcome for one destination. */
void local_leaf(struct local_state *st, const char *address, const struct deliver_result *res);

#endif
