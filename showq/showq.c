/* showq - list the mail queue for postqueue(1) and mailq (Postfix showq(8)).
 *
 * A single server on public/showq (master.cf "showq unix n - y - - showq"),
 * chrooted in the queue directory as mail_owner. It takes no input: on each
 * connection it walks maildrop/, incoming/, active/, deferred/ and hold/
 * (hashed subdirectories or flat, whatever the current hash settings), and
 * writes one showq_format.h record per queue file, in queue-ID (= arrival)
 * order within each queue, then the end record.
 *
 * Queue files are read as hostile input through queue_file.h. A file that
 * vanished meanwhile (delivered, moved) is skipped silently; a damaged one
 * is listed as far as its envelope could be read, or skipped, with a
 * warning; nothing in a file can crash the listing. Per recipient still to
 * be delivered, the reason is the last entry for it in the defer log
 * (bounce_log.h), matched by the offset of its recipient record, else by
 * address.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/attr.h"
#include "mail/bounce_log.h"
#include "mail/mail_server.h"
#include "mail/queue_dirs.h"
#include "mail/queue_file.h"
#include "mail/queue_id.h"
#include "mail/showq_format.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/msg.h"
#include "util/strutil.h"

/* What showq lists, in Postfix's order. maildrop/ is flat by design
 * (postdrop's files, not yet sanitized by cleanup). */
static const struct {
    const char *name;
    int recurse;
} queues[] = {
    {"maildrop", 0}, {"incoming", 1}, {"active", 1}, {"deferred", 1}, {"hold", 1},
};

struct entry {
    char id[QUEUE_ID_LEN + 1];
    char *path;
};

struct entries {
    struct entry *v;
    size_t n, cap;
};

static void entries_add(struct entries *e, const char *id, const char *path)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->v = xreallocarray(e->v, e->cap, sizeof(*e->v));
    }
    memcpy(e->v[e->n].id, id, QUEUE_ID_LEN + 1);
    e->v[e->n].path = xstrdup(path);
    e->n++;
}

static void entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].path);
    free(e->v);
    memset(e, 0, sizeof(*e));
}

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : strcmp(x->path, y->path);
}

/* is_hash_name - a hashed subdirectory is one symbol of the ID alphabet. */
static int is_hash_name(const char *name)
{
    return name[0] && name[1] == 0 && strchr(QUEUE_ID_ALPHABET, name[0]) != NULL;
}

/* scan - collect the queue files below dir (opened as dfd, which this
 * closes). Subdirectories are opened without following links, so a link
 * planted in a queue cannot lead the walk elsewhere. */
static void scan(int dfd, const char *dir, int depth, struct entries *out)
{
    DIR *d = fdopendir(dfd);
    struct dirent *de;
    struct stat st;

    if (d == NULL) {
        msg_warn("open directory %s: %m", dir);
        (void)close(dfd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (queue_id_valid(name)) {
            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                continue;
            struct buf path = BUF_INIT;
            buf_printf(&path, "%s/%s", dir, name);
            entries_add(out, name, path.data);
            buf_free(&path);
        } else if (depth > 0 && is_hash_name(name)) {
            int sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue; /* not a directory, or gone */
            struct buf path = BUF_INIT;
            buf_printf(&path, "%s/%s", dir, name);
            scan(sub, path.data, depth - 1, out);
            buf_free(&path);
        }
        /* anything else (".ID.tmp" files being written, strays) is not ours to list */
    }
    closedir(d);
}

/* What one queue file says. */
struct qinfo {
    int64_t arrival, size;
    int have_time, have_size, have_sender, complete;
    uint64_t content;
    struct buf sender;
    char **rcpts; /* at most SHOWQ_RCPT_MAX */
    off_t *offsets;
    char **reasons;
    size_t n;
    size_t omitted;
};

static void qinfo_free(struct qinfo *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->rcpts[i]);
        free(q->reasons[i]);
    }
    free(q->rcpts);
    free(q->offsets);
    free(q->reasons);
    buf_free(&q->sender);
}

/* parse_time - the seconds of "seconds.microseconds". */
static int parse_time(const char *s, int64_t *out)
{
    const char *dot = strchr(s, '.');
    char secs[24];
    long v;
    size_t n = dot ? (size_t)(dot - s) : strlen(s);

    if (n == 0 || n >= sizeof(secs))
        return -1;
    memcpy(secs, s, n);
    secs[n] = 0;
    if (str_to_long(secs, 0, LONG_MAX, &v) < 0)
        return -1;
    *out = v;
    return 0;
}

/* read_envelope - the records of one file into q. 1 when the file can be
 * listed, 0 when it is to be skipped. */
static int read_envelope(const char *path, struct qinfo *q)
{
    struct buf why = BUF_INIT, data = BUF_INIT;
    struct qf_reader *r = qf_open(path, 0, &why);
    int type, got;
    off_t off;
    long v;

    if (r == NULL) {
        if (errno != ENOENT) /* gone: delivered or moved since the scan */
            msg_warn("%s", buf_cstr(&why));
        buf_free(&why);
        return 0;
    }
    q->rcpts = xcalloc(SHOWQ_RCPT_MAX, sizeof(*q->rcpts));
    q->offsets = xcalloc(SHOWQ_RCPT_MAX, sizeof(*q->offsets));
    q->reasons = xcalloc(SHOWQ_RCPT_MAX, sizeof(*q->reasons));
    while ((got = qf_read(r, &type, &data, &off, &why)) == 1) {
        switch (type) {
        case QF_TIME:
            if (!q->have_time && parse_time(data.data, &q->arrival) == 0)
                q->have_time = 1;
            break;
        case QF_SIZE:
            if (!q->have_size && str_to_long(data.data, 0, LONG_MAX, &v) == 0) {
                q->size = v;
                q->have_size = 1;
            }
            break;
        case QF_SENDER:
            if (!q->have_sender) {
                buf_set(&q->sender, data.data);
                q->have_sender = 1;
            }
            break;
        case QF_RCPT:
            if (q->n < SHOWQ_RCPT_MAX) {
                q->rcpts[q->n] = xstrdup(data.data);
                q->offsets[q->n] = off;
                q->n++;
            } else {
                q->omitted++;
            }
            break;
        case QF_CONTENT:
            q->content += data.len;
            break;
        default: /* QF_DONE, QF_ORCPT, QF_ATTR: not shown */
            break;
        }
    }
    if (got == 0) {
        q->complete = 1;
    } else {
        msg_warn("%s", buf_cstr(&why)); /* names the file and the damage */
    }
    if (!q->have_size) {
        struct stat st;
        if (q->complete)
            q->size = (int64_t)q->content;
        else if (fstat(qf_fd(r), &st) == 0)
            q->size = (int64_t)st.st_size;
    }
    qf_close(r);
    buf_free(&why);
    buf_free(&data);
    /* Without a sender there is no message to speak of. */
    return q->have_sender;
}

/* add_reasons - per listed recipient, the last reason the defer log has. */
static void add_reasons(const char *id, struct qinfo *q)
{
    struct buf path = BUF_INIT, why = BUF_INIT;
    struct bounce_log_reader *r;
    struct bounce_log_entry e;
    int got;

    if (q->n == 0 || queue_path("defer", id, 0, &path, &why) < 0)
        goto out;
    if ((r = bounce_log_open(path.data, &why)) == NULL) {
        if (errno != ENOENT)
            msg_warn("%s", buf_cstr(&why));
        goto out;
    }
    while ((got = bounce_log_read(r, &e, &why)) == 1) {
        int matched = 0;
        if (e.reason == NULL)
            e.reason = xstrdup("");
        for (size_t i = 0; i < q->n; i++) {
            if (e.offset > 0 && (int64_t)q->offsets[i] == e.offset) {
                free(q->reasons[i]);
                q->reasons[i] = xstrdup(e.reason);
                matched = 1;
            }
        }
        for (size_t i = 0; i < q->n && !matched && e.recipient; i++) {
            if (strcmp(q->rcpts[i], e.recipient) == 0) {
                free(q->reasons[i]);
                q->reasons[i] = xstrdup(e.reason);
            }
        }
        bounce_log_entry_free(&e);
    }
    if (got < 0)
        msg_warn("%s: %s", path.data, buf_cstr(&why));
    bounce_log_close(r);
out:
    buf_free(&path);
    buf_free(&why);
}

/* report - one queue file to the client. -1 when the client went away. */
static int report(struct stream *client, const char *queue, const struct entry *e)
{
    struct qinfo q;
    int ret = 0;

    memset(&q, 0, sizeof(q));
    if (read_envelope(e->path, &q)) {
        struct timeval tv;
        if (!q.have_time)
            q.arrival = queue_id_time(e->id, &tv) == 0 ? (int64_t)tv.tv_sec : 0;
        add_reasons(e->id, &q);

        struct showq_rcpt *r = xcalloc(q.n ? q.n : 1, sizeof(*r));
        for (size_t i = 0; i < q.n; i++) {
            r[i].address = q.rcpts[i];
            r[i].reason = q.reasons[i] ? q.reasons[i] : "";
        }
        struct showq_msg m = {.queue_name = queue,
                              .queue_id = e->id,
                              .arrival = q.arrival,
                              .size = q.size,
                              .sender = q.sender.data ? q.sender.data : "",
                              .rcpts = r,
                              .rcpt_count = q.n,
                              .rcpt_omitted = q.omitted};
        struct attr_list l;
        attr_list_init(&l);
        showq_encode(&m, &l);
        ret = attr_write(client, &l);
        attr_list_free(&l);
        free(r);
    }
    qinfo_free(&q);
    return ret;
}

static void service(struct stream *client, const struct server_ctx *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
        struct entries list = {0};
        int dfd = open(queues[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (dfd < 0) {
            msg_warn("open directory %s: %m", queues[i].name);
            continue;
        }
        scan(dfd, queues[i].name, queues[i].recurse ? QUEUE_ID_HASH_MAX : 0, &list);
        if (list.n > 1)
            qsort(list.v, list.n, sizeof(*list.v), entry_cmp);
        int gone = 0;
        for (size_t j = 0; j < list.n && !gone; j++)
            gone = report(client, queues[i].name, &list.v[j]) < 0;
        entries_free(&list);
        if (gone)
            return; /* the reader left (mailq | head): nothing to tell */
    }
    struct attr_list l;
    attr_list_init(&l);
    showq_encode_end(&l);
    if (attr_write(client, &l) < 0 && msg_verbose)
        msg_info("client went away before the end of the listing");
    attr_list_free(&l);
}

static void post_init(const struct server_ctx *ctx)
{
    /* Postfix's showq takes no arguments; neither does this one. */
    if (ctx->argc > 0)
        msg_fatal("unexpected command-line argument: %s", ctx->argv[0]);
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.post_init = post_init;
    ops.service = service;
    return single_server_main(argc, argv, &ops);
}
