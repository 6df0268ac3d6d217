/* bounce.h - what the parts of the bounce program share: its settings and
 * the notice side (flush, warn, trace), so bounce.c keeps only the request
 * handling. */
#ifndef BOUNCE_BOUNCE_H
#define BOUNCE_BOUNCE_H

#include <stddef.h>
#include <time.h>

#include "mail/dsn.h"

#include "util/buf.h"

/* Recipients listed in one notice; the rest are counted ("N more"), so a
 * notice stays far below message_size_limit whatever the log holds. */
#define BOUNCE_NOTICE_RCPT_MAX 1000

struct bounce_conf {
    const char *myhostname;
    const char *myorigin;
    const char *notice_rcpt_2bounce; /* 2bounce_notice_recipient */
    const char *double_bounce;       /* double_bounce_sender@myorigin */
    size_t size_limit;               /* bounce_size_limit */
    time_t queue_lifetime;           /* maximal_queue_lifetime (Will-Retry-Until) */
    int timeout;                     /* ipc_timeout, for cleanup */
};

/* bounce_notify - send the notice of kind for the message (in queue_dir/ID,
 * envelope sender sender) from its log: DSN_FAILURE from bounce/ID,
 * DSN_DELAY from defer/ID, DSN_SUCCESS from trace/ID, listing only the
 * recipients whose NOTIFY asks for it. bounce/ID and trace/ID are removed
 * once the notice is safe in incoming/ (or when nothing is to be sent);
 * defer/ID stays. 0 when done or when there was nothing to send; -1 +
 * why: nothing changed, try again later. */
int bounce_notify(const struct bounce_conf *conf, enum dsn_kind kind, const char *queue_id,
                  const char *queue_dir, const char *sender, struct buf *why);

/* bounce_notice_name - "non-delivery notification" ..., for log lines. */
const char *bounce_notice_name(enum dsn_kind kind);

#endif
