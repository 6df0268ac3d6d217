/* pickup - move the files postdrop(1) left in maildrop/ to cleanup(8).
 *
 * A trigger server (public/pickup): any trigger byte, and master's wakeup,
 * makes it scan maildrop/. Each file there belongs to the local user who
 * submitted it and is therefore hostile: it is opened without following
 * links, checked completely with postdrop's rules before anything is sent,
 * and the submitter is the file's owner, never a uid record inside it.
 * The file is removed only after cleanup reported the message safe in
 * incoming/ (DESIGN.md invariant 1); a file that is not in postdrop's format
 * is moved to corrupt/, never deleted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/cleanup_client.h"
#include "mail/dsn.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/pickup_filter.h"
#include "mail/queue_file.h"
#include "mail/queue_id.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/msg.h"
#include "util/safe_open.h"
#include "util/sock.h"
#include "util/stream.h"

#define MAILDROP_DIR "maildrop"
#define CORRUPT_DIR  "corrupt"

/* What became of one file. */
enum outcome {
    DONE,      /* in incoming/ and removed, or moved to corrupt/, or gone */
    RETRY,     /* left for the next scan */
    NO_CLEANUP /* cleanup unreachable: stop this scan */
};

/* move_to_corrupt - keep a bad file for the administrator. rename() moves a
 * symlink itself, never its target. An existing corrupt/ID is not replaced. */
static void move_to_corrupt(const char *id, const char *reason)
{
    char from[64], to[64];
    snprintf(from, sizeof(from), "%s/%s", MAILDROP_DIR, id);
    snprintf(to, sizeof(to), "%s/%s", CORRUPT_DIR, id);
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0 &&
        (errno != EINVAL && errno != ENOSYS ? 1 : rename(from, to) < 0)) {
        msg_warn("%s: %s; cannot move it to %s: %m", from, reason, CORRUPT_DIR);
        return;
    }
    msg_warn("%s: %s: moved to %s", from, reason, to);
}

/* Permanent rejections: resubmitting the same file cannot help. */
#define CLEANUP_STAT_PERMANENT                                                                     \
    (CLEANUP_STAT_BAD | CLEANUP_STAT_SIZE | CLEANUP_STAT_HOPS | CLEANUP_STAT_RCPT |                \
     CLEANUP_STAT_HDR)

#define NOTICE_RCPT_MAX 100 /* recipients listed in a rejection notice */

/* reject_dsn - the RFC 3463 code for a permanent cleanup rejection. */
static const char *reject_dsn(int status)
{
    if (status & CLEANUP_STAT_SIZE)
        return "5.3.4"; /* message too big for system */
    if (status & CLEANUP_STAT_HOPS)
        return "5.4.6"; /* routing loop */
    if (status & CLEANUP_STAT_HDR)
        return "5.6.0";
    if (status & CLEANUP_STAT_RCPT)
        return "5.1.3";
    return "5.6.0"; /* other or undefined media error */
}

/* reject_notice - cleanup refused the message for good. Like Postfix's
 * cleanup for local submissions, return it to its sender with a notice
 * (the postmaster gets it when the sender is null; a notice about the
 * double-bounce sender is dropped), then remove the maildrop file. */
static enum outcome reject_notice(const char *id, const char *qid, struct qf_reader *r,
                                  const char *sender, int status, const char *reason)
{
    struct buf why = BUF_INIT, data = BUF_INIT, header = BUF_INIT, text = BUF_INIT;
    struct buf dbl = BUF_INIT;
    struct argv *rcpts = argv_alloc();
    enum outcome result = RETRY;
    size_t limit = (size_t)conf_int("bounce_size_limit");
    int type, header_done = 0;
    off_t off;

    buf_printf(&dbl, "%s@%s", MAIL_ADDR_DOUBLE_BOUNCE, conf_str("myorigin"));
    if (strcasecmp(sender, buf_cstr(&dbl)) == 0 ||
        strcasecmp(sender, MAIL_ADDR_DOUBLE_BOUNCE) == 0) {
        msg_info("%s: discarding a rejected message from %s: %s", qid, sender, reason);
        result = DONE;
        goto remove;
    }
    if (qf_rewind(r) < 0) {
        msg_warn("maildrop/%s: rewind: %m", id);
        goto out;
    }
    while (qf_read(r, &type, &data, &off, &why) > 0) {
        if (type == QF_RCPT && rcpts->argc < NOTICE_RCPT_MAX)
            argv_add(rcpts, buf_cstr(&data));
        if (type == QF_CONTENT && !header_done && header.len < limit) {
            buf_append(&header, data.data, data.len);
            header_done = strstr(buf_cstr(&header), "\n\n") != NULL || header.data[0] == '\n';
        }
    }

    char nid[QUEUE_ID_LEN + 1];
    struct cleanup_client *c = cleanup_client_open(0, (int)conf_time("ipc_timeout"), nid, &why);
    if (c == NULL) {
        msg_warn("%s; maildrop/%s waits for the next scan", buf_cstr(&why), id);
        goto out;
    }
    struct dsn_rcpt *dr = xcalloc(rcpts->argc ? rcpts->argc : 1, sizeof(*dr));
    for (size_t i = 0; i < rcpts->argc; i++) {
        dr[i].address = rcpts->argv[i];
        dr[i].status = reject_dsn(status);
        dr[i].reason = reason;
    }
    int null_sender = *sender == 0;
    const char *to = null_sender ? conf_str("2bounce_notice_recipient") : sender;
    struct dsn_notice n = {
        .myhostname = conf_str("myhostname"),
        .queue_id = qid,
        .notice_id = nid,
        .sender = sender,
        .to = to,
        .postmaster_copy = null_sender,
        .arrival = time(NULL),
        .now = time(NULL),
        .rcpts = dr,
        .rcpt_count = rcpts->argc,
        .message = header.data,
        .message_len = header.len,
        .size_limit = limit,
    };
    int composed = dsn_compose(&n, &text, &why);
    free(dr);
    if (composed < 0) {
        msg_warn("%s: cannot compose the rejection notice: %s", qid, buf_cstr(&why));
        cleanup_client_abort(c);
        goto out;
    }
    cleanup_client_str(c, QF_SENDER, null_sender ? buf_cstr(&dbl) : "");
    cleanup_client_str(c, QF_RCPT, to);
    cleanup_client_content(c, text.data, text.len);
    if (cleanup_client_close(c, &why) != CLEANUP_STAT_OK) {
        msg_warn("%s: cannot queue the rejection notice: %s; maildrop/%s waits for the next scan",
                 qid, buf_cstr(&why), id);
        goto out;
    }
    msg_info("%s: sender non-delivery notification: %s", qid, nid);
    result = DONE;
remove:;
    char path[64];
    snprintf(path, sizeof(path), "%s/%s", MAILDROP_DIR, id);
    if (unlink(path) < 0 && errno != ENOENT)
        msg_warn("remove %s: %m; the notice may be sent twice", path);
out:
    argv_free(rcpts);
    buf_free(&why);
    buf_free(&data);
    buf_free(&header);
    buf_free(&text);
    buf_free(&dbl);
    return result;
}

/* forward - the cleanup conversation for one checked file (r rewound). */
static enum outcome forward(const char *id, struct qf_reader *r, uid_t owner, int extract,
                            const char *sender)
{
    struct buf why = BUF_INIT, data = BUF_INIT, text = BUF_INIT;
    enum outcome result = RETRY;
    char qid[QUEUE_ID_LEN + 1] = "";
    int flags = CLEANUP_FLAG_LOCAL_SUBMIT | (extract ? CLEANUP_FLAG_EXTRACT_RCPT : 0);

    struct cleanup_client *c = cleanup_client_open(flags, (int)conf_time("ipc_timeout"), qid, &why);
    if (c == NULL) {
        msg_warn("%s; maildrop/%s waits for the next scan", buf_cstr(&why), id);
        result = NO_CLEANUP;
        goto out;
    }
    /* The submitter is who owns the file (postdrop runs as the user). */
    buf_printf(&text, "uid=%lu", (unsigned long)owner);
    cleanup_client_record(c, QF_ATTR, text.data, text.len);
    struct pickup_filter f;
    pickup_filter_init(&f, 0);
    for (;;) {
        int type;
        off_t off;
        int got = qf_read(r, &type, &data, &off, &why);
        if (got < 0) {
            /* The file read well a moment ago: treat as transient. */
            msg_warn("maildrop/%s: %s", id, buf_cstr(&why));
            cleanup_client_abort(c);
            goto out;
        }
        if (got == 0) {
            type = QF_END;
            buf_reset(&data);
        }
        int v = pickup_filter_record(&f, type, data.data, data.len, &why);
        if (v < 0) {
            msg_warn("maildrop/%s: changed while being read: %s", id, buf_cstr(&why));
            cleanup_client_abort(c);
            goto out;
        }
        if (v == PICKUP_DROP)
            continue;
        if (v == PICKUP_END)
            break;
        cleanup_client_record(c, type, data.data, data.len);
    }
    int status = cleanup_client_close(c, &why);

    if (status == CLEANUP_STAT_OK) {
        char path[64];
        snprintf(path, sizeof(path), "%s/%s", MAILDROP_DIR, id);
        /* Only now: the message is safe in incoming/. */
        if (unlink(path) < 0 && errno != ENOENT)
            msg_warn("remove %s: %m; the message may be delivered twice", path);
        msg_info("%s: uid=%lu from=<%s>", qid, (unsigned long)owner, sender);
        result = DONE;
    } else if ((status & CLEANUP_STAT_PERMANENT) && !(status & CLEANUP_STAT_WRITE)) {
        msg_info("%s: reject: %s", qid, buf_cstr(&why));
        result = reject_notice(id, qid, r, sender, status, buf_cstr(&why));
    } else {
        msg_warn("maildrop/%s: cleanup status %d: %s; will try again", id, status, buf_cstr(&why));
    }
out:
    buf_free(&why);
    buf_free(&data);
    buf_free(&text);
    return result;
}

/* check_file - read the whole file with postdrop's rules before sending a
 * byte: 0 valid, 1 not in postdrop's format (reason in why), -1 read error. */
static int check_file(struct qf_reader *r, int *extract, struct buf *sender, struct buf *why)
{
    struct pickup_filter f;
    struct buf data = BUF_INIT;
    int rc = 1;
    pickup_filter_init(&f, 0);
    for (;;) {
        int type;
        off_t off;
        int got = qf_read(r, &type, &data, &off, why);
        if (got < 0) {
            rc = errno == EBADMSG ? 1 : -1;
            break;
        }
        if (got == 0) {
            type = QF_END;
            buf_reset(&data);
        }
        int v = pickup_filter_record(&f, type, data.data, data.len, why);
        if (v < 0)
            break;
        if (type == QF_SENDER)
            buf_set(sender, data.data);
        if (v == PICKUP_END) {
            rc = 0;
            break;
        }
    }
    *extract = pickup_filter_extract(&f);
    buf_free(&data);
    return rc;
}

/* pickup_file - one maildrop file, named by a valid queue ID. */
static enum outcome pickup_file(const char *id)
{
    char path[64];
    struct stat lst, st, fst;
    struct buf why = BUF_INIT, sender = BUF_INIT;
    struct qf_reader *r = NULL;
    enum outcome result = DONE;
    int extract = 0;

    snprintf(path, sizeof(path), "%s/%s", MAILDROP_DIR, id);
    if (lstat(path, &lst) < 0) {
        if (errno != ENOENT)
            msg_warn("lstat %s: %m", path);
        goto out;
    }
    /* Not what postdrop makes: a link could point pickup at another file. */
    if (S_ISLNK(lst.st_mode)) {
        move_to_corrupt(id, "symbolic link, not followed");
        goto out;
    }
    if (!S_ISREG(lst.st_mode)) {
        move_to_corrupt(id, "not a regular file");
        goto out;
    }
    if (lst.st_nlink != 1) {
        move_to_corrupt(id, "file has more than one hard link");
        goto out;
    }
    if (lst.st_mode & 0222) {
        move_to_corrupt(id, "file is writable, not made by postdrop");
        goto out;
    }
    int fd = safe_open(path, O_RDONLY, 0, &st, SAFE_OPEN_ANY_USER, SAFE_OPEN_ANY_GROUP, &why);
    if (fd < 0) {
        if (errno == ENOENT)
            goto out;
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == EIO) {
            msg_warn("%s; will try again", buf_cstr(&why));
            result = RETRY;
        } else {
            move_to_corrupt(id, buf_cstr(&why));
        }
        goto out;
    }
    r = qf_open(path, 0, &why);
    if (r == NULL) {
        int err = errno;
        close(fd);
        if (err == EBADMSG) {
            move_to_corrupt(id, buf_cstr(&why));
        } else if (err != ENOENT) {
            msg_warn("%s; will try again", buf_cstr(&why));
            result = RETRY;
        }
        goto out;
    }
    /* The checked file and the one read must be the same (no swap between). */
    if (fstat(qf_fd(r), &fst) < 0 || fst.st_dev != st.st_dev || fst.st_ino != st.st_ino) {
        close(fd);
        msg_warn("%s: file changed while being opened; will try again", path);
        result = RETRY;
        goto out;
    }
    close(fd);

    int bad = check_file(r, &extract, &sender, &why);
    if (bad > 0) {
        move_to_corrupt(id, buf_cstr(&why));
        goto out;
    }
    if (bad < 0 || qf_rewind(r) < 0) {
        msg_warn("%s: %s; will try again", path, bad < 0 ? buf_cstr(&why) : "rewind failed");
        result = RETRY;
        goto out;
    }
    result = forward(id, r, st.st_uid, extract, buf_cstr(&sender));
out:
    if (r)
        qf_close(r);
    buf_free(&why);
    buf_free(&sender);
    return result;
}

/* pickup_scan - every ready file in maildrop/. Names are read first, so the
 * directory is not changed under readdir(). Temporary files (".ID.tmp")
 * are postdrop's files in progress and any other name is not ours. */
static void pickup_scan(void)
{
    DIR *d = opendir(MAILDROP_DIR);
    if (d == NULL) {
        msg_warn("open directory %s: %m", MAILDROP_DIR);
        return;
    }
    struct argv *names = argv_alloc();
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (queue_id_valid(e->d_name))
            argv_add(names, e->d_name);
    closedir(d);
    for (size_t i = 0; i < names->argc; i++)
        if (pickup_file(names->argv[i]) == NO_CLEANUP)
            break;
    argv_free(names);
}

static void pickup_trigger(const char *bytes, size_t len, const struct server_ctx *ctx)
{
    (void)bytes;
    (void)len;
    (void)ctx;
    pickup_scan();
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.trigger = pickup_trigger;
    ops.flags = SERVER_FLAG_IGNORE_IDLE;
    return trigger_server_main(argc, argv, &ops);
}
