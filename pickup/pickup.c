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
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/attr.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/pickup_filter.h"
#include "mail/queue_file.h"
#include "mail/queue_id.h"
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

/* send_record - one message record { type:I, data:D } to cleanup. */
static int send_record(struct stream *s, int type, const void *p, size_t n)
{
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "type", type);
    attr_add_data(&l, "data", p, n);
    int rc = attr_write(s, &l);
    attr_list_free(&l);
    return rc;
}

static const struct attr_spec open_reply[] = {
    {"status", ATTR_INT, 1}, {"queue_id", ATTR_STR, 1}, ATTR_SPEC_END};
static const struct attr_spec final_reply[] = {
    {"status", ATTR_INT, 1}, {"reason", ATTR_STR, 1}, ATTR_SPEC_END};

/* read_reply - one reply from cleanup, checked against spec. */
static int read_reply(struct stream *s, const struct attr_spec *spec, struct attr_list *l,
                      int64_t *status, struct buf *why)
{
    if (attr_read(s, 0, l, why) < 0 || attr_check(l, spec, 0, why) < 0 ||
        attr_get_int(l, "status", status) < 0)
        return -1;
    return 0;
}

/* Permanent rejections: resubmitting the same file cannot help. */
#define CLEANUP_STAT_PERMANENT                                                                     \
    (CLEANUP_STAT_BAD | CLEANUP_STAT_SIZE | CLEANUP_STAT_HOPS | CLEANUP_STAT_RCPT |                \
     CLEANUP_STAT_HDR)

/* forward - the cleanup conversation for one checked file (r rewound). */
static enum outcome forward(const char *id, struct qf_reader *r, uid_t owner, int extract,
                            const char *sender)
{
    struct buf why = BUF_INIT, data = BUF_INIT, text = BUF_INIT;
    struct attr_list l;
    attr_list_init(&l);
    enum outcome result = RETRY;
    struct stream *s = NULL;
    int64_t status;
    char qid[QUEUE_ID_LEN + 1] = "";
    int timeout = (int)conf_time("ipc_timeout");

    int fd = unix_connect(MAIL_SOCK_CLEANUP, timeout);
    if (fd < 0) {
        msg_warn("connect to %s: %m; maildrop/%s waits for the next scan", MAIL_SOCK_CLEANUP, id);
        result = NO_CLEANUP;
        goto out;
    }
    s = stream_open(fd, timeout);

    attr_add_int(&l, "flags",
                 CLEANUP_FLAG_LOCAL_SUBMIT | (extract ? CLEANUP_FLAG_EXTRACT_RCPT : 0));
    if (attr_write(s, &l) < 0) {
        buf_setf(&why, "write: %m");
        goto proto_fail;
    }
    attr_list_free(&l);
    if (read_reply(s, open_reply, &l, &status, &why) < 0)
        goto proto_fail;
    if (status != CLEANUP_STAT_OK || strlen(attr_get_str(&l, "queue_id")) > QUEUE_ID_LEN) {
        buf_setf(&why, "status %lld at the start", (long long)status);
        goto proto_fail;
    }
    snprintf(qid, sizeof(qid), "%s", attr_get_str(&l, "queue_id"));
    attr_list_free(&l);

    /* The submitter is who owns the file (postdrop runs as the user). */
    buf_printf(&text, "uid=%lu", (unsigned long)owner);
    if (send_record(s, QF_ATTR, text.data, text.len) < 0) {
        buf_setf(&why, "write: %m");
        goto proto_fail;
    }
    struct pickup_filter f;
    pickup_filter_init(&f, 0);
    for (;;) {
        int type;
        off_t off;
        int got = qf_read(r, &type, &data, &off, &why);
        if (got < 0) {
            /* The file read well a moment ago: treat as transient. */
            msg_warn("maildrop/%s: %s", id, buf_cstr(&why));
            goto out;
        }
        if (got == 0) {
            type = QF_END;
            buf_reset(&data);
        }
        int v = pickup_filter_record(&f, type, data.data, data.len, &why);
        if (v < 0) {
            msg_warn("maildrop/%s: changed while being read: %s", id, buf_cstr(&why));
            goto out;
        }
        if (v == PICKUP_DROP)
            continue;
        if (send_record(s, type, data.data, data.len) < 0) {
            buf_setf(&why, "write: %m");
            goto proto_fail;
        }
        if (v == PICKUP_END)
            break;
    }
    if (read_reply(s, final_reply, &l, &status, &why) < 0)
        goto proto_fail;

    if (status == CLEANUP_STAT_OK) {
        char path[64];
        snprintf(path, sizeof(path), "%s/%s", MAILDROP_DIR, id);
        /* Only now: the message is safe in incoming/. */
        if (unlink(path) < 0 && errno != ENOENT)
            msg_warn("remove %s: %m; the message may be delivered twice", path);
        msg_info("%s: uid=%lu from=<%s>", qid, (unsigned long)owner, sender);
        result = DONE;
    } else if ((status & CLEANUP_STAT_PERMANENT) && !(status & CLEANUP_STAT_WRITE)) {
        msg_info("%s: reject: %s", qid, attr_get_str(&l, "reason"));
        /* Postfix bounces these; until a bounce service exists the file is kept. */
        move_to_corrupt(id, "rejected by cleanup, no bounce sent (no bounce service yet)");
        result = DONE;
    } else {
        msg_warn("maildrop/%s: cleanup status %lld: %s; will try again", id, (long long)status,
                 attr_get_str(&l, "reason"));
    }
    goto out;

proto_fail:
    msg_warn("%s: %s; maildrop/%s waits for the next scan", MAIL_SOCK_CLEANUP, buf_cstr(&why), id);
out:
    if (s)
        stream_close(s);
    attr_list_free(&l);
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
