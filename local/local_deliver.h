/* local_deliver - the parts of local(8) that act as a user: write a
 * mailbox (mbox or Maildir), append to a /file, run a |command, read a
 * .forward or :include: file. Each runs in a child process that has
 * switched to the given privileges (initgroups or setgroups, setgid,
 * setuid; never root) and reports back over a pipe; the root parent only
 * waits, with a time limit. DESIGN.md invariant 3.
 *
 * Every delivery writes the headers local(8) prepends -- Return-Path:
 * <sender>, Delivered-To: <recipient>, and X-Original-To: <original
 * recipient> when there is one -- then the message content from the queue
 * file; mbox files get the From_ line (lib/mail/mbox.h). Success is
 * reported only after the data is fsynced (invariant 1).
 *
 * Every function returns DELIVER_OK, DELIVER_DEFER or DELIVER_BOUNCE
 * (mail_proto.h) and fills res (deliver_request.h) with the DSN code and
 * a reason in Postfix's words ("delivered to mailbox", "delivered to
 * maildir", "delivered to command: procmail", "delivered to file: /x").
 */
#ifndef LOCAL_LOCAL_DELIVER_H
#define LOCAL_LOCAL_DELIVER_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "mail/deliver_request.h"
#include "mail/queue_file.h"
#include "util/buf.h"

/* The message: an open queue file whose QF_CONTENT records are the
 * message (header and body, LF line ends). */
struct local_msg {
    struct qf_reader *qf;
    const char *queue_id;
    const char *sender; /* "" for the null sender */
    time_t arrival;
};

/* Whom to act as. */
struct local_priv {
    uid_t uid;
    gid_t gid;
    const char *user;  /* for initgroups(); NULL: groups = { gid } only */
    const char *home;  /* $HOME for commands */
    const char *shell; /* $SHELL for commands */
};

/* What is being delivered, for headers and the command environment
 * (HOME, USER, LOGNAME, SHELL, SENDER, RECIPIENT, LOCAL, EXTENSION,
 * DOMAIN, ORIGINAL_RECIPIENT, as Postfix's local(8) sets them). */
struct local_rcpt {
    const char *recipient; /* final envelope recipient: user[+ext]@domain */
    const char *orig;      /* original recipient ("" when none) */
    const char *user;      /* login name */
    const char *local;     /* local part, extension included */
    const char *extension; /* "" when none */
    const char *domain;
};

/* local_deliver_mailbox - the user's own mailbox: mailbox_command when set
 * (run by /bin/sh -c as the user; exit status per sysexits.h: 75 and
 * signals defer, 67 bounces 5.1.1, other non-zero bounce 5.3.0, 0 is
 * success), else home_mailbox (a name ending in '/' is a Maildir, else an
 * mbox file, relative to the home directory), else mbox in
 * mail_spool_directory/user. An mbox in the spool directory is written as
 * the user; when that directory is group-writable but not world-writable
 * (Debian: /var/mail root:mail 2775), the child also gets the directory's
 * group so it can make the dotlock and the file (created 0600, owned by
 * the user). */
int local_deliver_mailbox(const struct local_msg *m, const struct local_priv *p,
                          const struct local_rcpt *r, struct deliver_result *res);

/* local_deliver_file - append to a file (mbox format) or, when path ends
 * in '/', deliver into that Maildir; as p. */
int local_deliver_file(const struct local_msg *m, const struct local_priv *p,
                       const struct local_rcpt *r, const char *path, struct deliver_result *res);

/* local_deliver_command - run command with /bin/sh -c as p, message on
 * stdin, environment as above, killed after command_time_limit. */
int local_deliver_command(const struct local_msg *m, const struct local_priv *p,
                          const struct local_rcpt *r, const char *command,
                          struct deliver_result *res);

/* local_read_file - read at most max bytes of path as p (a .forward or
 * :include: file). With must_own set the file must be owned by p->uid and
 * not group- or world-writable (Postfix's .forward rules), and a regular
 * file reached without a symlink in its last component. 1 read into out,
 * 0 no such file, -1 + why (a temporary error: the caller defers). */
int local_read_file(const struct local_priv *p, const char *path, size_t max, int must_own,
                    struct buf *out, struct buf *why);

#endif
