/* cleanup_msg - the message processing of cleanup(8), without sockets or
 * files: the envelope and content records a client sends go in one at a
 * time; out come the canonical sender, the recipient list, the attributes to
 * keep and the processed content (header fix-ups, address rewriting,
 * sendmail -t recipient extraction, Bcc removal, limits), or a
 * CLEANUP_STAT_* status and a reason.
 *
 * Header addresses are rewritten (qualified, canonical_maps, masquerading)
 * only for mail from a local client (no client_address attribute, or one
 * that local_header_rewrite_clients names; Postfix's default
 * permit_inet_interfaces), or, for remote clients, when
 * remote_header_rewrite_domain is set, as in Postfix.
 *
 * DSN (RFC 3461): a QF_NOTIFY record applies to the next recipient, as in
 * the queue file; a "dsn_notify" attribute (sendmail -N) is the NOTIFY of
 * every recipient without one and is not kept as an attribute. Recipients
 * that virtual alias expansion or canonical rewriting produce keep the
 * original's NOTIFY, and the original address as their original recipient
 * unless the client gave one.
 *
 * Content arrives in QF_CONTENT records cut at arbitrary bytes; lines of the
 * header section are reassembled here, bounded by header_size_limit, so a
 * peer cannot make the reader buffer an endless header line. Body bytes are
 * copied unchanged. Everything is held in memory, bounded by
 * message_size_limit (the server must set one; 0 means no limit).
 */
#ifndef MAIL_CLEANUP_MSG_H
#define MAIL_CLEANUP_MSG_H

#include <stddef.h>
#include <time.h>

#include "mail/cleanup_rewrite.h"
#include "util/argv.h"
#include "util/buf.h"

/* Postfix has no header count parameter; this fixed bound keeps a flood of
 * tiny headers from costing unbounded work (DESIGN.md invariant 2). */
#define CLEANUP_HEADER_COUNT_MAX 10000

struct cleanup_msg_conf {
    const char *myorigin;      /* qualifies bare user names */
    const char *myhostname;    /* Message-ID and Received */
    size_t message_size_limit; /* content bytes; 0 = none */
    size_t header_size_limit;  /* one logical header; 0 = none */
    size_t header_count_limit; /* logical headers; 0 = none */
    size_t hopcount_limit;     /* Received: headers; 0 = none */
    /* Address rewriting (cleanup_rewrite.h), or NULL for none: the sender
     * at its record, each recipient at its record (or at the end, for
     * sendmail -t), address headers as they are read. A table that cannot
     * be consulted makes the status CLEANUP_STAT_WRITE (temporary). */
    struct cleanup_rewrite *rw;
    long delay_warning_time; /* seconds after arrival for a delay warning (QF_WARN); 0 = none */
};

struct header_reader;

struct cleanup_msg {
    /* results, valid after cleanup_msg_end() returned 0 */
    int status;        /* CLEANUP_STAT_* bits; sticky */
    struct buf reason; /* "5.3.4 message file too big" etc. */
    struct buf sender; /* qualified; valid once have_sender */
    int have_sender;
    struct argv *attrs;    /* "name=value", known names only */
    struct argv *rcpts;    /* qualified, duplicates removed */
    struct argv *orcpts;   /* parallel to rcpts; "" when none was given */
    int *notify;           /* parallel to rcpts: DSN NOTIFY (SMTP_NOTIFY_* bits), 0 = not given */
    long long warn_time;   /* when a delay warning is due (QF_WARN), 0 = never */
    struct buf content;    /* processed header section, then the body */
    struct buf message_id; /* the Message-ID value (for the log), may be empty */
    size_t size;           /* content bytes received */

    /* state */
    struct cleanup_msg_conf conf;
    int flags;
    char *queue_id;
    time_t now;
    int in_body;
    int ended;
    struct buf line;    /* header line being reassembled */
    struct buf headers; /* headers kept so far */
    struct header_reader *hr;
    struct buf orcpt; /* pending QF_ORCPT */
    int have_orcpt;
    int pending_notify; /* pending QF_NOTIFY, 0 = none */
    int default_notify; /* dsn_notify attribute (sendmail -N), 0 = none */
    size_t notify_cap;
    struct argv *hdr_rcpts;    /* To/Cc/Bcc */
    struct argv *resent_rcpts; /* Resent-To/Cc/Bcc */
    int seen_resent;
    int seen_from, seen_date, seen_msgid;
    size_t hops;
    int hdr_rewrite;        /* -1 not decided yet, 0 no header rewriting, 1 rewrite */
    const char *hdr_domain; /* qualifies header addresses, or NULL */
    struct buf hdr_out;     /* a rewritten header */
};

/* flags: CLEANUP_FLAG_* of mail_proto.h */
void cleanup_msg_init(struct cleanup_msg *m, const struct cleanup_msg_conf *conf, int flags,
                      const char *queue_id, time_t now);
void cleanup_msg_free(struct cleanup_msg *m);
/* cleanup_msg_record - one record (queue_file.h type) other than QF_END.
 * Returns the status so far (0: go on). After an error later records are
 * ignored, so the server can drain the client up to its QF_END. */
int cleanup_msg_record(struct cleanup_msg *m, int type, const void *data, size_t len);
/* cleanup_msg_end - the client sent QF_END: finish the header section, add
 * what is missing, pick the -t recipients. Returns the final status. */
int cleanup_msg_end(struct cleanup_msg *m);
/* cleanup_msg_attr_known - 1 for QF_ATTR names cleanup passes through. */
int cleanup_msg_attr_known(const char *name, size_t len);
/* cleanup_msg_add_rcpt - qualify and add unless already present
 * (case-insensitive domain); 1 added, 0 duplicate (the first one stays,
 * with its original recipient and NOTIFY). orcpt may be NULL; notify is
 * SMTP_NOTIFY_* bits, 0 = not given. No address rewriting: the address is
 * final. */
int cleanup_msg_add_rcpt(struct cleanup_msg *m, const char *rcpt, const char *orcpt, int notify);
/* cleanup_msg_notify_words - "NEVER" or a comma list of SUCCESS, FAILURE,
 * DELAY (any case, each once; RFC 3461 4.1) into SMTP_NOTIFY_* bits; 0, or
 * -1 for anything else. */
int cleanup_msg_notify_words(const char *s, size_t n, int *bits);

#endif
