/* qmgr_backoff - the queue manager's time arithmetic: when a deferred
 * message is tried next, when it has been queued too long, and the arrival
 * time from a queue file's QF_TIME record.
 *
 * Pure functions (no clock, no I/O), so every edge is unit-tested. Queue
 * files are hostile input: an arrival time far in the past or the future
 * must not overflow anything.
 */
#ifndef MAIL_QMGR_BACKOFF_H
#define MAIL_QMGR_BACKOFF_H

#include <time.h>

/* qmgr_backoff_next - the next attempt for a message that arrived at
 * arrival: now + its age clamped to [min_backoff, max_backoff] (Postfix:
 * the wait doubles with the age of the message, within the bounds). A
 * negative bound counts as 0, max below min counts as min; an arrival in
 * the future counts as age 0; the sum saturates instead of overflowing. */
time_t qmgr_backoff_next(time_t now, time_t arrival, long min_backoff, long max_backoff);

/* qmgr_backoff_expired - 1 when a message that arrived at arrival has been
 * queued longer than lifetime seconds (maximal_queue_lifetime, or
 * bounce_queue_lifetime for null-sender mail). lifetime <= 0 means "try
 * once" (postconf(5)): always expired. */
int qmgr_backoff_expired(time_t now, time_t arrival, long lifetime);

/* qmgr_backoff_parse_arrival - QF_TIME text "seconds[.micro]" into *out.
 * 0, or -1 for anything else (sign, junk, overflow, more than 6 fraction
 * digits). */
int qmgr_backoff_parse_arrival(const char *text, time_t *out);

#endif
