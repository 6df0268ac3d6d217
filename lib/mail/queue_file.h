/* queue_file - queue files: typed records with an explicit end.
 *
 * A queue file is a sequence of records
 *
 *   record := type:1 len:4 (big-endian) payload:len
 *
 * that starts with a QF_MAGIC record and ends with a QF_END record; a file
 * without the end record is not a message and is never delivered. The
 * format is documented in postern-queue(5).
 *
 * Writers build the file under a temporary name in the target directory,
 * then qf_commit() writes the end record, fsyncs the file, renames it to
 * its queue ID and fsyncs the directory: only then may a client be told
 * "250". Recipients are marked done in place: the type byte of a QF_RCPT
 * record is overwritten with QF_DONE and the file fsynced, so a crash never
 * repeats a recorded delivery.
 *
 * Readers treat the file as hostile: record types, lengths and order are
 * checked, text payloads may not contain NUL, CR or LF.
 */
#ifndef MAIL_QUEUE_FILE_H
#define MAIL_QUEUE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mail/queue_id.h"
#include "util/buf.h"

/* Record types. Envelope records hold text (no NUL/CR/LF); content records
 * hold message bytes. */
#define QF_MAGIC  'V' /* "POSTERN1": first record */
#define QF_TIME   'T' /* arrival time: "seconds.microseconds" */
#define QF_SIZE   'Z' /* content size in bytes (decimal), informational */
#define QF_ATTR   'A' /* "name=value": client, protocol, helo, ... */
#define QF_SENDER 'S' /* envelope sender ("" for the null sender) */
#define QF_ORCPT  'O' /* original recipient, applies to the next QF_RCPT */
#define QF_NOTIFY                                                                                  \
    'N' /* DSN NOTIFY of the next QF_RCPT: decimal SMTP_NOTIFY_* bits;                             \
         * order: [QF_ORCPT] [QF_NOTIFY] QF_RCPT|QF_DONE */
#define QF_WARN                                                                                    \
    'W' /* when to send a delay warning: QF_WARN_LEN decimal digits of                             \
         * seconds since the epoch, 0 = none or already sent; before                               \
         * the first QF_RCPT; rewritten in place (qf_update_warn) */
#define QF_WARN_LEN   20
#define QF_NOTIFY_MAX 15  /* every SMTP_NOTIFY_* bit */
#define QF_RCPT       'R' /* recipient still to be delivered */
#define QF_DONE       'D' /* recipient delivered, bounced or expired (was QF_RCPT) */
#define QF_CONTENT    'C' /* message bytes (header and body, LF line ends) */
#define QF_END        'E' /* end of file: empty payload */

#define QF_MAGIC_TEXT    "POSTERN1"
#define QF_RECORD_MAX    (1u << 20) /* largest payload a reader accepts */
#define QF_CONTENT_CHUNK 65536      /* writers split content at this size */

struct qf_writer;

/* qf_create - start a new queue file in dir (relative to the current
 * directory, normally the queue directory): picks a fresh queue ID (into
 * id[QUEUE_ID_LEN + 1]), creates dir/.ID.tmp with O_EXCL and mode, and
 * writes the magic record. NULL + why on failure. */
struct qf_writer *qf_create(const char *dir, mode_t mode, char *id, struct buf *why);
/* qf_put - append one record; text records are checked for NUL/CR/LF, and a
 * QF_ORCPT must be followed by QF_RCPT or QF_DONE. The first failure sticks:
 * later calls fail too and qf_commit() reports it. */
int qf_put(struct qf_writer *w, int type, const void *p, size_t n)
    __attribute__((warn_unused_result));
int qf_put_str(struct qf_writer *w, int type, const char *s) __attribute__((warn_unused_result));
/* qf_put_content - append message bytes, split into QF_CONTENT records. */
int qf_put_content(struct qf_writer *w, const void *p, size_t n)
    __attribute__((warn_unused_result));
/* qf_commit - end record, fsync, rename .ID.tmp -> ID in the same directory
 * (or into dest_dir if non-NULL), fsync the directory; frees w. 0 or -1 + why
 * (the temporary file is removed on failure). An existing file is never
 * replaced: a repeated queue ID makes the commit fail. */
int qf_commit(struct qf_writer *w, const char *dest_dir, struct buf *why)
    __attribute__((warn_unused_result));
/* qf_abort - remove the temporary file and free w. */
void qf_abort(struct qf_writer *w);
/* qf_writer_path - the temporary path (for msg_set_cleanup handlers). */
const char *qf_writer_path(const struct qf_writer *w);

struct qf_reader;

/* qf_open - open a queue file for reading (O_RDWR when for_update, so done
 * marks can be written). Checks the magic record. NULL + why. */
struct qf_reader *qf_open(const char *path, int for_update, struct buf *why);
/* qf_read - the next record: its type, payload (into data, reset first) and
 * file offset. 1 for a record, 0 after QF_END (which must be the last byte of
 * the file), -1 + why for a damaged file (bad type or length, text with
 * NUL/CR/LF, EOF before QF_END; errno EBADMSG) or a read error (errno from
 * the system), so a caller can tell "move to corrupt" from "try later". */
int qf_read(struct qf_reader *r, int *type, struct buf *data, off_t *offset, struct buf *why);
/* qf_rewind - read again from the first record after the magic. */
int qf_rewind(struct qf_reader *r);
/* qf_mark_done - turn the QF_RCPT record at offset into QF_DONE (not
 * fsynced: losing the mark in a crash repeats a delivery, never loses one). */
int qf_mark_done(struct qf_reader *r, off_t offset, struct buf *why)
    __attribute__((warn_unused_result));
/* qf_update_warn - overwrite the payload of the QF_WARN record at offset
 * with when (0: warning sent), fsynced. 0 or -1 + why (not a QF_WARN
 * record of QF_WARN_LEN bytes). */
int qf_update_warn(struct qf_reader *r, off_t offset, long long when, struct buf *why)
    __attribute__((warn_unused_result));
int qf_fd(const struct qf_reader *r);
void qf_close(struct qf_reader *r);
/* qf_validate - read a whole file and check it; 0 or -1 + why. */
int qf_validate(const char *path, struct buf *why);
/* qf_is_text_type - 1 for record types whose payload is text. */
int qf_is_text_type(int type);

/* qf_notify_parse - a QF_NOTIFY payload (p, n bytes) into *notify; 0, or
 * -1 when it is not a number from 1 to QF_NOTIFY_MAX without leading zero. */
int qf_notify_parse(const char *p, size_t n, int *notify);
/* qf_warn_format - the QF_WARN payload for when (negative counts as 0),
 * QF_WARN_LEN digits and a NUL. */
void qf_warn_format(long long when, char out[QF_WARN_LEN + 1]);
/* qf_warn_parse - a QF_WARN payload into *when; 0, or -1 when it is not
 * QF_WARN_LEN digits or does not fit a long long. */
int qf_warn_parse(const char *p, size_t n, long long *when);

#endif
