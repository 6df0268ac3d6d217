/* local_deliver - local(8)'s deliveries as a user: mbox, Maildir, /file,
 * and reading .forward / :include: files. See local_deliver.h; commands
 * are in local_command.c, the child machinery in local_child.c.
 *
 * Each job runs in a child as the user (local_child.h), which reports one
 * line; local_read_file's child sends "N\n" for a missing file, "D" and
 * the data, or a report line for an error.
 */
#include "local_deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "local_child.h"
#include "mail/local_env.h"
#include "mail/mail_proto.h"
#include "mail/maildir.h"
#include "mail/mbox.h"
#include "util/alloc.h"
#include "util/msg.h"

#define READ_FILE_MAX (64u << 20) /* local_read_file: larger requests are cut to this */

/* As Postfix's mbox_dsn(): a full disk and a busy resource are temporary,
 * a full mailbox (quota, mailbox_size_limit) is 5.2.2. */
static const char *fail_dsn(int bounce, int err)
{
    if (bounce)
        return (err == EDQUOT || err == EFBIG) ? "5.2.2" : "5.2.0";
    if (err == EAGAIN || err == EWOULDBLOCK || err == ESTALE || err == EACCES || err == EPERM)
        return "4.2.0";
    return "4.3.0";
}

/* ---------------------------------------------------------------- mbox and /file */

struct mbox_job {
    const struct local_settings *c;
    const struct local_msg *m;
    const char *path;
    const char *fail_prefix; /* "cannot update mailbox X for user U. " */
    const char *success;
    struct mbox_params params;
    uid_t must_own; /* strict_mailbox_ownership: the owner, else -1 */
    int is_file;    /* /file delivery: executable check, optional dotlock */
    const struct buf *head;
};

static void mbox_child(void *ctx, int fd)
{
    struct mbox_job *j = ctx;
    struct mbox *mb;
    struct buf why = BUF_INIT, chunk = BUF_INIT;
    struct stat st;
    struct local_msg_iter it;
    int status, err, bounce;

    if (lstat(j->path, &st) == 0) {
        if (j->is_file && S_ISREG(st.st_mode) && (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))) {
            local_child_report(fd, DELIVER_BOUNCE, "5.7.1", "%sfile is executable", j->fail_prefix);
            return;
        }
        if (j->must_own != (uid_t)-1 && S_ISREG(st.st_mode) && st.st_uid != j->must_own) {
            local_child_report(fd, DELIVER_DEFER, "4.2.0",
                               "%sdestination %s is not owned by recipient", j->fail_prefix,
                               j->path);
            return;
        }
    }
    if (j->is_file && (j->params.locks & MBOX_LOCK_DOTLOCK)) {
        /* A file may live where the user cannot make PATH.lock (Postfix:
         * the dotlock "may fail" for files); the kernel lock remains. */
        char *dir = xstrdup(j->path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = 0;
        if (access(slash ? dir : ".", W_OK) < 0)
            j->params.locks &= ~MBOX_LOCK_DOTLOCK;
        free(dir);
    }
    if ((status = mbox_open(&mb, j->path, &j->params, &why)) < 0)
        goto fail;
    if ((status = mbox_begin(mb, j->m->sender, time(NULL), &why)) < 0)
        goto fail;
    local_msg_iter_init(&it, j->m->qf, j->head, 0);
    for (;;) {
        int r = local_msg_next(&it, &chunk, &why);
        if (r < 0) {
            mbox_abort(mb);
            local_child_report(fd, DELIVER_DEFER, "4.3.0", "%serror reading message: %s",
                               j->fail_prefix, buf_cstr(&why));
            goto done;
        }
        if (r == 0)
            break;
        if ((status = mbox_write(mb, chunk.data, chunk.len, &why)) < 0)
            goto fail;
    }
    if ((status = mbox_end(mb, &why)) < 0 || (status = mbox_commit(mb, &why)) < 0)
        goto fail;
    local_child_report(fd, DELIVER_OK, "2.0.0", "%s", j->success);
    goto done;

fail:
    err = errno;
    bounce = status == MBOX_BOUNCE;
    local_child_report(fd, bounce ? DELIVER_BOUNCE : DELIVER_DEFER, fail_dsn(bounce, err), "%s%s",
                       j->fail_prefix, buf_cstr(&why));
done:
    buf_free(&why);
    buf_free(&chunk);
}

static int deliver_mbox(const struct local_settings *c, const struct local_msg *m,
                        const struct local_priv *p, const struct local_rcpt *r, const char *path,
                        int is_file, gid_t extra, struct deliver_result *res)
{
    struct mbox_job j;
    struct buf head = BUF_INIT, prefix = BUF_INIT, success = BUF_INIT;

    memset(&j, 0, sizeof(j));
    j.c = c;
    j.m = m;
    j.path = path;
    j.params = c->mbox;
    j.is_file = is_file;
    j.head = &head;
    local_make_head(m, r, (c->delivered_mask & LOCAL_DELIVERED_FILE) != 0, 0, &head);
    if (is_file) {
        buf_printf(&prefix, "cannot append message to file %s: ", path);
        buf_printf(&success, "delivered to file: %s", path);
        j.must_own = (uid_t)-1;
    } else {
        buf_printf(&prefix, "cannot update mailbox %s for user %s. ", path, r->user);
        buf_puts(&success, "delivered to mailbox");
        /* The child compares with the account it actually runs as. */
        j.must_own = (uid_t)-1;
        if (c->strict_owner) {
            struct local_privs pv;
            struct buf why = BUF_INIT;
            if (local_privs_make(c, p, (gid_t)-1, &pv, &why) == 0) {
                j.must_own = pv.uid;
                j.params.owner = pv.uid;
                local_privs_free(&pv);
            }
            buf_free(&why);
        }
    }
    j.fail_prefix = buf_cstr(&prefix);
    j.success = buf_cstr(&success);
    int status = local_deliver_in_child(c, m, p, extra, mbox_child, &j, res);
    buf_free(&head);
    buf_free(&prefix);
    buf_free(&success);
    return status;
}

/* ---------------------------------------------------------------- Maildir */

struct maildir_job {
    const struct local_msg *m;
    char *path; /* without the trailing '/' */
    const struct buf *head;
};

static void maildir_child(void *ctx, int fd)
{
    struct maildir_job *j = ctx;
    struct buf why = BUF_INIT, chunk = BUF_INIT;
    struct local_msg_iter it;
    int status = MAILDIR_DEFER, err, bounce;

    struct maildir_delivery *d = maildir_open(j->path, &why, &status);
    if (d == NULL)
        goto fail;
    local_msg_iter_init(&it, j->m->qf, j->head, 1);
    for (;;) {
        int r = local_msg_next(&it, &chunk, &why);
        if (r < 0) {
            maildir_abort(d);
            local_child_report(fd, DELIVER_DEFER, "4.3.0",
                               "maildir delivery failed: error reading message: %s",
                               buf_cstr(&why));
            goto done;
        }
        if (r == 0)
            break;
        if ((status = maildir_write(d, chunk.data, chunk.len, &why)) < 0)
            goto fail;
    }
    if ((status = maildir_commit(d, NULL, &why)) < 0)
        goto fail;
    local_child_report(fd, DELIVER_OK, "2.0.0", "delivered to maildir");
    goto done;

fail:
    err = errno;
    bounce = status == MAILDIR_BOUNCE;
    local_child_report(fd, bounce ? DELIVER_BOUNCE : DELIVER_DEFER, fail_dsn(bounce, err),
                       "maildir delivery failed: %s", buf_cstr(&why));
done:
    buf_free(&why);
    buf_free(&chunk);
}

static int deliver_maildir(const struct local_settings *c, const struct local_msg *m,
                           const struct local_priv *p, const struct local_rcpt *r, const char *path,
                           struct deliver_result *res)
{
    struct maildir_job j;
    struct buf head = BUF_INIT;
    size_t n = strlen(path);

    while (n > 1 && path[n - 1] == '/')
        n--;
    j.m = m;
    j.path = xstrndup(path, n);
    j.head = &head;
    local_make_head(m, r, (c->delivered_mask & LOCAL_DELIVERED_FILE) != 0, 0, &head);
    int status = local_deliver_in_child(c, m, p, (gid_t)-1, maildir_child, &j, res);
    free(j.path);
    buf_free(&head);
    return status;
}

static int config_error(struct buf *why, struct deliver_result *res)
{
    msg_warn("%s", buf_cstr(why));
    deliver_result_set(res, DELIVER_DEFER, "4.3.5", "mail system configuration error");
    buf_free(why);
    return DELIVER_DEFER;
}

int local_deliver_mailbox(const struct local_msg *m, const struct local_priv *p,
                          const struct local_rcpt *r, struct deliver_result *res)
{
    struct local_settings c;
    struct buf why = BUF_INIT, path = BUF_INIT;
    int status;

    if (local_settings_get(&c, &why) < 0)
        return config_error(&why, res);
    buf_free(&why);
    if (*c.mailbox_command)
        return local_deliver_command(m, p, r, c.mailbox_command, res);
    /* The name becomes a path under the spool directory. */
    if (r->user == NULL || *r->user == 0 || strchr(r->user, '/') || strcmp(r->user, ".") == 0 ||
        strcmp(r->user, "..") == 0) {
        msg_warn("%s: bad user name for a mailbox: \"%s\"", m->queue_id, r->user ? r->user : "");
        deliver_result_set(res, DELIVER_DEFER, "4.3.5", "mail system configuration error");
        return DELIVER_DEFER;
    }

    size_t hlen = strlen(c.home_mailbox), slen = strlen(c.spool_dir);
    if (hlen > 0) {
        if (p->home == NULL || *p->home == 0) {
            deliver_result_set(res, DELIVER_DEFER, "4.3.0",
                               "cannot deliver to home_mailbox: user %s has no home directory",
                               r->user);
            return DELIVER_DEFER;
        }
        buf_printf(&path, "%s/%s", p->home, c.home_mailbox);
        if (c.home_mailbox[hlen - 1] == '/')
            status = deliver_maildir(&c, m, p, r, buf_cstr(&path), res);
        else
            status = deliver_mbox(&c, m, p, r, buf_cstr(&path), 0, (gid_t)-1, res);
    } else if (slen > 0 && c.spool_dir[slen - 1] == '/') {
        buf_printf(&path, "%s%s/", c.spool_dir, r->user);
        status = deliver_maildir(&c, m, p, r, buf_cstr(&path), res);
    } else {
        struct stat st;
        gid_t extra = (gid_t)-1;
        /* A spool directory that is group- but not world-writable (Debian:
         * /var/mail root:mail 2775) is written with that group as well,
         * so the user can make the dotlock and the file. */
        if (stat(c.spool_dir, &st) == 0 && !(st.st_mode & S_IWOTH) && (st.st_mode & S_IWGRP))
            extra = st.st_gid;
        buf_printf(&path, "%s/%s", c.spool_dir, r->user);
        status = deliver_mbox(&c, m, p, r, buf_cstr(&path), 0, extra, res);
    }
    buf_free(&path);
    return status;
}

int local_deliver_file(const struct local_msg *m, const struct local_priv *p,
                       const struct local_rcpt *r, const char *path, struct deliver_result *res)
{
    struct local_settings c;
    struct buf why = BUF_INIT;
    size_t n = strlen(path);

    if (local_settings_get(&c, &why) < 0)
        return config_error(&why, res);
    buf_free(&why);
    if (n == 0 || path[0] != '/') {
        deliver_result_set(res, DELIVER_BOUNCE, "5.3.5", "cannot append message to file %s: %s",
                           path, "not an absolute path");
        return DELIVER_BOUNCE;
    }
    if (path[n - 1] == '/')
        return deliver_maildir(&c, m, p, r, path, res);
    /* "/dev/null" in aliases is a way of discarding mail that Postfix
     * allows; it is no regular file, so it is special-cased here. */
    if (strcmp(path, "/dev/null") == 0) {
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
            deliver_result_set(res, DELIVER_OK, "2.0.0", "delivered to file: %s", path);
            return DELIVER_OK;
        }
    }
    return deliver_mbox(&c, m, p, r, path, 1, (gid_t)-1, res);
}

/* ---------------------------------------------------------------- reading files */

struct read_job {
    const char *path;
    size_t max;
    int must_own;
    uid_t owner;
};

static void read_child(void *ctx, int fd)
{
    struct read_job *j = ctx;
    struct stat st;
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (j->must_own ? O_NOFOLLOW : 0);
    int in = open(j->path, flags);

    if (in < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            local_child_write(fd, "N\n", 2);
        else if (errno == ELOOP && j->must_own)
            local_child_report(fd, DELIVER_DEFER, "4.3.0", "file %s is a symbolic link", j->path);
        else
            local_child_report(fd, DELIVER_DEFER, "4.3.0", "cannot open file %s: %s", j->path,
                               strerror(errno));
        return;
    }
    if (fstat(in, &st) < 0) {
        local_child_report(fd, DELIVER_DEFER, "4.3.0", "cannot fstat file %s: %s", j->path,
                           strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        local_child_report(fd, DELIVER_DEFER, "4.3.0", "file %s is not a regular file", j->path);
    } else if (j->must_own && st.st_uid != j->owner) {
        local_child_report(fd, DELIVER_DEFER, "4.3.0", "file %s has bad owner uid %lu", j->path,
                           (unsigned long)st.st_uid);
    } else if (j->must_own && (st.st_mode & (S_IWGRP | S_IWOTH))) {
        local_child_report(fd, DELIVER_DEFER, "4.3.0", "file %s is group or world writable",
                           j->path);
    } else {
        struct buf data = BUF_INIT;
        char tmp[8192];
        ssize_t r;
        buf_putc(&data, 'D');
        for (;;) {
            r = read(in, tmp, sizeof(tmp));
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0 || data.len - 1 + (size_t)r > j->max)
                break;
            buf_append(&data, tmp, (size_t)r);
        }
        if (r < 0)
            local_child_report(fd, DELIVER_DEFER, "4.3.0", "cannot read file %s: %s", j->path,
                               strerror(errno));
        else if (r > 0)
            local_child_report(fd, DELIVER_DEFER, "4.3.0", "file %s is too large (over %zu bytes)",
                               j->path, j->max);
        else
            local_child_write(fd, data.data, data.len);
        buf_free(&data);
    }
    (void)close(in);
}

int local_read_file(const struct local_priv *p, const char *path, size_t max, int must_own,
                    struct buf *out, struct buf *why)
{
    struct local_settings c;
    struct local_privs pv;
    struct buf data = BUF_INIT, reason = BUF_INIT;
    struct read_job j = {path, max, must_own, p->uid};
    int ws = 0, status, ret = -1;
    char dsn[16];

    if (local_settings_get(&c, why) < 0)
        return -1;
    if (max > READ_FILE_MAX)
        max = j.max = READ_FILE_MAX;
    if (local_privs_make(&c, p, (gid_t)-1, &pv, why) < 0)
        return -1;
    /* The owner a .forward must have is the account we read it as. */
    j.owner = pv.uid;
    enum local_run_status rs = local_run_writer(&pv, 0, c.ipc_timeout, read_child, &j,
                                                max + 1 + LOCAL_REPORT_MAX, &data, &ws, why);
    local_privs_free(&pv);
    if (rs == LOCAL_RUN_FAILED) {
        /* why is set */
    } else if (rs == LOCAL_RUN_TIMEOUT) {
        buf_setf(why, "time limit exceeded while reading %s", path);
    } else if (data.len == 2 && memcmp(data.data, "N\n", 2) == 0) {
        ret = 0;
    } else if (data.len >= 1 && data.data[0] == 'D' && data.len - 1 <= max) {
        buf_reset(out);
        buf_append(out, data.data + 1, data.len - 1);
        ret = 1;
    } else if (local_parse_report(data.data, data.len, &status, dsn, &reason) == 0) {
        buf_setf(why, "%s", buf_cstr(&reason));
    } else {
        struct buf w = BUF_INIT;
        local_describe_wait(ws, &w);
        buf_setf(why, "cannot read %s: reading process ended without a result (%s)", path,
                 buf_cstr(&w));
        buf_free(&w);
    }
    buf_free(&data);
    buf_free(&reason);
    return ret;
}
