/* local_child - the machinery under local_deliver.h (private to local/):
 * the main.cf settings a delivery uses, the IDs a child takes, running a
 * child as the user with a time limit and a bounded report pipe, and the
 * message as a stream of pieces (prepended headers, then the queue file's
 * content records).
 *
 * A child reports in one line, "R<status> <dsn> <reason>\n" (status a
 * DELIVER_* digit, dsn an RFC 3463 code of the matching class, reason
 * printable text, at most LOCAL_REPORT_MAX bytes in all); the parent
 * parses it strictly and anything else counts as no report (4.3.0).
 */
#ifndef LOCAL_LOCAL_CHILD_H
#define LOCAL_LOCAL_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "local_deliver.h"
#include "mail/mbox.h"
#include "util/buf.h"

#define LOCAL_REPORT_MAX   2048 /* one report line from a child */
#define LOCAL_POLL_TICK_MS 50   /* re-check a child's exit this often without a pidfd */

/* What main.cf says, read once per delivery (cheap, and -o overrides and
 * reloads are seen). */
struct local_settings {
    const char *home_mailbox;
    const char *spool_dir;
    const char *mailbox_command;
    const char *cmd_shell;
    const char *exec_dir;
    const char *export_env;
    const char *filter;
    const char *delimiter;
    const char *default_privs;
    int delivered_mask; /* LOCAL_DELIVERED_* (local_env.h) */
    int strict_owner;
    long size_limit; /* mailbox_size_limit, 0: none */
    long command_time_limit;
    long ipc_timeout;
    struct mbox_params mbox;
};

/* local_settings_get - read the settings; 0, or -1 + why for a bad value
 * (prepend_delivered_header, mailbox_delivery_lock). */
int local_settings_get(struct local_settings *c, struct buf *why);

/* The IDs a child takes. */
struct local_privs {
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
};

/* local_privs_make - from p: uid 0 or gid 0 become default_privs' (-1 +
 * why when that account is missing or privileged); supplementary groups
 * from the user's group list, never group 0; plus extra when it is not
 * (gid_t)-1. Free with local_privs_free. */
int local_privs_make(const struct local_settings *c, const struct local_priv *p, gid_t extra,
                     struct local_privs *pv, struct buf *why);
void local_privs_free(struct local_privs *pv);

/* local_child_become - in a fresh child: default signal handling (for a
 * writer, SIGPIPE and SIGXFSZ ignored), own session, setgroups, setgid,
 * setuid, checked that root cannot be regained; umask 077; RLIMIT_FSIZE
 * fsize when > 0. 0, or -1 + why. */
int local_child_become(const struct local_privs *pv, long fsize, int for_exec, struct buf *why);
/* local_child_report - write a report line (reason printf-style). */
void local_child_report(int fd, int status, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* local_child_write - write everything, giving up quietly on error. */
void local_child_write(int fd, const char *p, size_t n);

/* A child as the parent sees it. */
struct local_child {
    pid_t pid;
    int pidfd; /* -1: poll with ticks instead */
    int reaped;
    int wstatus;
};

long local_now_ms(void); /* CLOCK_MONOTONIC */
/* local_ms_left - milliseconds until deadline, at most cap, never < 0. */
int local_ms_left(long deadline, int cap);
/* local_deadline - now plus seconds, without overflow. */
long local_deadline(long seconds);
void local_child_started(struct local_child *c, pid_t pid);
/* local_child_reap - 1 when the child has been waited for (blocking or
 * not). */
int local_child_reap(struct local_child *c, int block);
/* local_child_kill - SIGKILL the child's process group (and the child);
 * only while it is unreaped, so the IDs are still ours. */
void local_child_kill(struct local_child *c);
/* local_child_finish - wait for the child until deadline, then kill and
 * reap it; 1 when it had to be killed. */
int local_child_finish(struct local_child *c, long deadline);

enum local_run_status { LOCAL_RUN_DONE, LOCAL_RUN_TIMEOUT, LOCAL_RUN_FAILED };

typedef void (*local_writer_fn)(void *ctx, int report_fd);

/* local_run_writer - run fn as pv in a child; collect at most bound bytes
 * it writes to report_fd within timeout seconds. LOCAL_RUN_FAILED + why
 * for a pipe, fork or bound problem. */
enum local_run_status local_run_writer(const struct local_privs *pv, long fsize, long timeout,
                                       local_writer_fn fn, void *ctx, size_t bound,
                                       struct buf *data, int *wstatus, struct buf *why);
/* local_parse_report - a report line into status, dsn[16], reason; -1
 * when it is not exactly one valid line. */
int local_parse_report(const char *p, size_t n, int *status, char *dsn, struct buf *reason);
/* local_describe_wait - "exit status N" / "killed by signal N". */
void local_describe_wait(int ws, struct buf *out);
/* local_deliver_in_child - run a delivery writer as p (plus group
 * extra) and turn its report into res; the queue file is rewound after. */
int local_deliver_in_child(const struct local_settings *c, const struct local_msg *m,
                           const struct local_priv *p, gid_t extra, local_writer_fn fn, void *ctx,
                           struct deliver_result *res);

/* The message as pieces: the prepended text, every content record, then a
 * newline if the content did not end in one (add_newline). */
struct local_msg_iter {
    struct qf_reader *qf;
    const char *head;
    size_t head_len;
    int state; /* 0 head, 1 content, 2 done */
    int last;  /* last byte handed out */
    int add_newline;
};

void local_msg_iter_init(struct local_msg_iter *it, struct qf_reader *qf, const struct buf *head,
                         int add_newline);
/* local_msg_next - the next piece into chunk: 1, 0 at the end, -1 + why
 * for a damaged or unreadable queue file. */
int local_msg_next(struct local_msg_iter *it, struct buf *chunk, struct buf *why);
/* local_make_head - the text before the content: the From_ line when
 * from_line (commands), then Return-Path, X-Original-To, and Delivered-To
 * when delivered. */
void local_make_head(const struct local_msg *m, const struct local_rcpt *r, int delivered,
                     int from_line, struct buf *head);

#endif
