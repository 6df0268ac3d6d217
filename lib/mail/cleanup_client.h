/* cleanup_client - submit a message to cleanup(8) (private/cleanup): the
 * one way a program other than cleanup puts a new message into the queue.
 * pickup, bounce (notices) and local (forwarding) use it; later smtpd.
 *
 *     struct cleanup_client *c = cleanup_client_open(flags, timeout, id, why);
 *     cleanup_client_str(c, QF_SENDER, sender); ... QF_RCPT ...
 *     cleanup_client_content(c, bytes, n); ...
 *     status = cleanup_client_close(c, why);
 *
 * Record errors stick: the first failure makes every later call a no-op and
 * is reported by cleanup_client_close(). The message is in the queue only
 * when cleanup_client_close() returns CLEANUP_STAT_OK (0): cleanup replies
 * after its fsync and rename (DESIGN.md invariant 1).
 */
#ifndef MAIL_CLEANUP_CLIENT_H
#define MAIL_CLEANUP_CLIENT_H

#include <stddef.h>

#include "mail/queue_id.h"
#include "util/buf.h"

struct cleanup_client;

/* cleanup_client_open - connect to MAIL_SOCK_CLEANUP (relative to the
 * current directory, the queue directory), send the flags
 * (CLEANUP_FLAG_*), read the new queue ID into id[QUEUE_ID_LEN + 1].
 * NULL + why when cleanup is unreachable or refuses. */
struct cleanup_client *cleanup_client_open(int flags, int timeout, char *id, struct buf *why);

/* cleanup_client_record - one record (queue_file.h type) as { type, data }. */
void cleanup_client_record(struct cleanup_client *c, int type, const void *p, size_t n);
void cleanup_client_str(struct cleanup_client *c, int type, const char *s);

/* cleanup_client_content - message bytes, split into QF_CONTENT records of
 * at most QF_CONTENT_CHUNK bytes. Content uses LF line ends. */
void cleanup_client_content(struct cleanup_client *c, const void *p, size_t n);

/* cleanup_client_close - send QF_END, read cleanup's verdict, close, free.
 * Returns the CLEANUP_STAT_* bits (0 = safe in incoming/), with cleanup's
 * reason (or the local error) in why; a connection or protocol failure is
 * CLEANUP_STAT_WRITE. */
int cleanup_client_close(struct cleanup_client *c, struct buf *why);

/* cleanup_client_abort - drop the connection: cleanup removes the file. */
void cleanup_client_abort(struct cleanup_client *c);

#endif
