/* bounce_log - the per-message delivery status logs bounce/ID and defer/ID
 * (DESIGN.md "The queue"). The bounce service appends to them; the bounce
 * notice, showq (mailq's "(reason)" lines) and qmgr read them.
 *
 * A log is a sequence of entries, each one line per field and an empty line
 * after the entry, like Postfix's logs:
 *
 *   recipient=<address>
 *   orcpt=<original recipient>
 *   offset=<QF_RCPT offset>
 *   status=<x.y.z>
 *   action=<failed|delayed>
 *   time=<seconds>
 *   reason=<text>
 *   mta=<remote MTA host>          (only when known)
 *   diag=<type; diagnostic text>   (only when known)
 *   notify=<SMTP_NOTIFY_* bits>    (only when not 0)
 *
 * Values never contain CR, LF or NUL (the writer replaces them with
 * spaces). A reader skips unknown fields, bounds every line, and treats a
 * last entry that is cut short (a crash during append) as absent.
 */
#ifndef MAIL_BOUNCE_LOG_H
#define MAIL_BOUNCE_LOG_H

#include <stdint.h>
#include <time.h>

#include "util/buf.h"

#define BOUNCE_LOG_LINE_MAX 4096 /* longest line a reader accepts */

struct bounce_log_entry {
    char *recipient;
    char *orcpt;
    int64_t offset;
    char *status; /* "5.1.1" */
    char *action; /* "failed", "delayed" */
    time_t when;
    char *reason;
    char *mta;  /* "" when not known (never NULL after a read) */
    char *diag; /* "" when not known */
    int notify; /* SMTP_NOTIFY_* bits; 0 = not given */
};

/* bounce_log_format - one entry in the file format into out (appended). */
void bounce_log_format(struct buf *out, const struct bounce_log_entry *e);

/* bounce_log_append - append one entry to the log at path (created 0600
 * when missing, never through a symlink), fsync. 0 or -1 + why. */
int bounce_log_append(const char *path, const struct bounce_log_entry *e, struct buf *why);

struct bounce_log_reader;
/* bounce_log_open - NULL + why (errno ENOENT when there is no log). */
struct bounce_log_reader *bounce_log_open(const char *path, struct buf *why);
/* bounce_log_read - the next entry: 1, 0 at the end, -1 + why. The entry's
 * strings belong to the caller (bounce_log_entry_free). */
int bounce_log_read(struct bounce_log_reader *r, struct bounce_log_entry *e, struct buf *why);
void bounce_log_entry_free(struct bounce_log_entry *e);
void bounce_log_close(struct bounce_log_reader *r);

#endif
