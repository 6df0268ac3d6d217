/* showq_format - the queue listing: showq(8)'s records on the wire, and the
 * two ways postqueue(1) prints them.
 *
 * showq sends one attribute message per queued message (mail_proto.h):
 *
 *   { queue_name:S, queue_id:S, arrival:I, size:I, sender:S, rcpt_count:I,
 *     rcpt_<i>:S, reason_<i>:S for i < rcpt_count [, rcpt_omitted:I] }
 *
 * and ends with { queue_name:S="" }. One attribute message holds at most
 * ATTR_COUNT_MAX attributes and ATTR_SIZE_MAX bytes, so the encoder lists at
 * most SHOWQ_RCPT_MAX recipients and SHOWQ_TEXT_BUDGET bytes of addresses
 * and reasons; what is left out is counted in rcpt_omitted (sent only when
 * not zero) and shown as such, never silently dropped.
 *
 * The text form is Postfix's mailq listing for long queue IDs (ours always
 * are 16 symbols): a heading, per message the ID with '*' (active) or '!'
 * (hold), size, arrival time and sender, then a "(reason)" line whenever
 * the reason differs from the previous recipient's and the recipients
 * indented, a blank line between messages, and the trailer
 * "-- N Kbytes in M Requests." ("Mail queue is empty" when there is
 * nothing). The JSON form is Postfix's postqueue -j: one object per line.
 *
 * Addresses arrive in internal form and are printed in external form
 * (addr_quote_local); the null sender is shown as MAILER-DAEMON, as
 * Postfix does. Every byte comes from a queue file and is hostile: text
 * output replaces control characters (C0, DEL, C1) and bytes that are not
 * UTF-8 with '?', so nothing reaches a terminal that it could interpret;
 * JSON output escapes them and is always valid UTF-8.
 */
#ifndef MAIL_SHOWQ_FORMAT_H
#define MAIL_SHOWQ_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "mail/attr.h"
#include "util/buf.h"

#define SHOWQ_RCPT_MAX    500                 /* recipients listed per message */
#define SHOWQ_TEXT_BUDGET (ATTR_SIZE_MAX / 2) /* bytes of addresses + reasons */
#define SHOWQ_NULL_SENDER "MAILER-DAEMON"

struct showq_rcpt {
    const char *address; /* internal form */
    const char *reason;  /* last delay reason, "" when none */
};

/* One queued message. The strings are borrowed: from the caller (encode) or
 * from the attribute list that was decoded (showq_decode). */
struct showq_msg {
    const char *queue_name; /* incoming, active, deferred, hold */
    const char *queue_id;
    int64_t arrival; /* seconds since 1970 */
    int64_t size;    /* content bytes */
    const char *sender;
    const struct showq_rcpt *rcpts;
    size_t rcpt_count;
    size_t rcpt_omitted;      /* open recipients not listed */
    struct showq_rcpt *owned; /* showq_decode's array (showq_msg_release) */
};

/* showq_encode - m as one attribute message into l (appended). Lists the
 * recipients that fit the bounds; the rest are added to rcpt_omitted. */
void showq_encode(const struct showq_msg *m, struct attr_list *l);
/* showq_encode_end - the end message. */
void showq_encode_end(struct attr_list *l);
/* showq_decode - check one message strictly (exactly the attributes above,
 * a valid queue ID, a known queue name, no negative numbers, counts within
 * the bounds) and fill m with pointers into l. 1 for a message, 0 for the
 * end message, -1 + why. Call showq_msg_release(m) after a 1. */
int showq_decode(const struct attr_list *l, struct showq_msg *m, struct buf *why);
void showq_msg_release(struct showq_msg *m);

/* The text listing, built message by message. */
struct showq_text {
    unsigned long count;
    uint64_t bytes;
};

void showq_text_init(struct showq_text *t);
/* showq_text_message - the heading (before the first message) or a blank
 * line, then the message; appended to out. Arrival times are local time
 * (TZ), like asctime(). */
void showq_text_message(struct showq_text *t, const struct showq_msg *m, struct buf *out);
/* showq_text_end - the trailer, or "Mail queue is empty". */
void showq_text_end(const struct showq_text *t, struct buf *out);

/* showq_json_message - one JSON object and a newline, appended to out. */
void showq_json_message(const struct showq_msg *m, struct buf *out);

/* Building blocks, exposed for tests. */
/* showq_printable - s with control characters and non-UTF-8 bytes as '?'. */
void showq_printable(struct buf *out, const char *s);
/* showq_json_string - s as a JSON string with its quotes (RFC 8259 7). */
void showq_json_string(struct buf *out, const char *s);
/* showq_external - an address as shown: external form, MAILER-DAEMON for "". */
void showq_external(struct buf *out, const char *addr);
/* showq_arrival - "Sat Nov 21 10:00:00" (asctime's first 19 bytes) in
 * local time, independent of the locale; "??" when out of range. */
void showq_arrival(struct buf *out, int64_t when);

#endif
