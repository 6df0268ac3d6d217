/* pickup_filter - which records of a maildrop file pickup(8) passes on to
 * cleanup, and whether the file is in postdrop's format at all.
 *
 * A maildrop file is a queue file (queue_file.h) that postdrop(1) wrote:
 * the magic record, postdrop's own arrival time (QF_TIME) and "uid=N"
 * attribute, then the user's stream as checked by maildrop.h, then QF_END.
 * The file belongs to the submitting user, who could have written anything
 * into it, so every record is checked again here with postdrop's rules. The
 * arrival time and any uid attribute are dropped: cleanup stamps the time,
 * and pickup sends the file owner's uid itself, never one from the file.
 */
#ifndef MAIL_PICKUP_FILTER_H
#define MAIL_PICKUP_FILTER_H

#include <stddef.h>

#include "mail/maildrop.h"
#include "util/buf.h"

enum pickup_verdict {
    PICKUP_DROP = 0,    /* valid, not forwarded */
    PICKUP_FORWARD = 1, /* valid, forward to cleanup as is */
    PICKUP_END = 2      /* the end record: the file is complete and valid */
};

struct pickup_filter {
    struct maildrop_check check; /* postdrop's rules for the user's part */
    int time_seen;
    int uid_seen;
};

/* pickup_filter_init - a fresh filter; size_limit 0 means unlimited. */
void pickup_filter_init(struct pickup_filter *f, size_t size_limit);
/* pickup_filter_record - judge one record as qf_read() returned it (call it
 * with QF_END and an empty payload when qf_read() reports the end). A
 * pickup_verdict, or -1 + why when the file is not in postdrop's format. */
int pickup_filter_record(struct pickup_filter *f, int type, const void *p, size_t n,
                         struct buf *why);
/* pickup_filter_extract - 1 when the file asked for extract_recipients=1. */
int pickup_filter_extract(const struct pickup_filter *f);

#endif
