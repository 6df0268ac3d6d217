/* cleanup - the cleanup(8) server: one message per connection. Speaks the
 * cleanup protocol of mail_proto.h, hands the records to cleanup_msg for the
 * message processing, writes the queue file into incoming/, and replies
 * status 0 only after qf_commit() made it durable (DESIGN.md invariant 1).
 * Any other outcome removes the temporary file. Then qmgr is nudged.
 * With delay_warning_time set, the file gets its QF_WARN time (arrival +
 * delay_warning_time), which qmgr clears once the warning is sent.
 *
 * The address rewriting tables (canonical, virtual alias, masquerade
 * exceptions) are opened in pre_init, as root and before the chroot hides
 * them. A table that does not open is not fatal: every message that needs
 * it is refused with a temporary error, and the process exits after each
 * client so that the next one tries to open it again; mail flows as soon as
 * the table is back, without a restart.
 */
#include "conf/mail_conf.h"
#include "mail/attr.h"
#include "mail/cleanup_msg.h"
#include "mail/cleanup_rewrite.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/queue_file.h"
#include "maps/map.h"
#include "util/alloc.h"
#include "util/msg.h"
#include "util/sock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static struct cleanup_msg_conf conf;
static struct cleanup_rewrite *rewrite;

static size_t conf_size(const char *name)
{
    long v = conf_int(name);
    return v > 0 ? (size_t)v : 0;
}

/* pre_init - open the rewriting tables while still root and outside the
 * chroot. */
static void pre_init(const struct server_ctx *ctx)
{
    struct cleanup_rewrite_conf rc = {
        .canonical_maps = conf_str("canonical_maps"),
        .canonical_classes = conf_str("canonical_classes"),
        .sender_canonical_maps = conf_str("sender_canonical_maps"),
        .sender_canonical_classes = conf_str("sender_canonical_classes"),
        .recipient_canonical_maps = conf_str("recipient_canonical_maps"),
        .recipient_canonical_classes = conf_str("recipient_canonical_classes"),
        .masquerade_domains = conf_str("masquerade_domains"),
        .masquerade_exceptions = conf_str("masquerade_exceptions"),
        .masquerade_classes = conf_str("masquerade_classes"),
        .virtual_alias_maps = conf_str("virtual_alias_maps"),
        .virtual_alias_recursion_limit = conf_int("virtual_alias_recursion_limit"),
        .virtual_alias_expansion_limit = conf_int("virtual_alias_expansion_limit"),
        .propagate_unmatched_extensions = conf_str("propagate_unmatched_extensions"),
        .recipient_delimiter = conf_str("recipient_delimiter"),
        .mydestination = conf_str("mydestination"),
        .myhostname = conf_str("myhostname"),
        .myorigin = conf_str("myorigin"),
        .remote_header_rewrite_domain = conf_str("remote_header_rewrite_domain"),
        .local_header_rewrite_clients = conf_str("local_header_rewrite_clients"),
        .inet_interfaces = conf_str("inet_interfaces"),
        .proxy_interfaces = conf_str("proxy_interfaces"),
        .mynetworks = conf_str("mynetworks"),
        .keep_broken = 1,
        .table_flags = MAP_FOLD_CASE,
    };
    struct buf why = BUF_INIT;
    (void)ctx;
    if ((rewrite = cleanup_rewrite_create(&rc, &why)) == NULL)
        msg_fatal("%s", buf_cstr(&why));
    if (cleanup_rewrite_broken(rewrite))
        msg_warn("%s -- mail that needs the table is deferred until it can be opened",
                 cleanup_rewrite_broken(rewrite));
    buf_free(&why);
}

static void post_init(const struct server_ctx *ctx)
{
    (void)ctx;
    conf.myorigin = xstrdup(conf_str("myorigin"));
    conf.myhostname = xstrdup(conf_str("myhostname"));
    conf.message_size_limit = conf_size("message_size_limit");
    conf.header_size_limit = conf_size("header_size_limit");
    conf.header_count_limit = CLEANUP_HEADER_COUNT_MAX;
    conf.hopcount_limit = conf_size("hopcount_limit");
    conf.delay_warning_time = conf_time("delay_warning_time");
    conf.rw = rewrite;
}

static int reply(struct stream *s, int status, const char *reason)
{
    struct attr_list l;
    attr_list_init(&l);
    attr_add_int(&l, "status", status);
    attr_add_str(&l, "reason", reason);
    int rc = attr_write(s, &l);
    attr_list_free(&l);
    return rc;
}

/* Tell qmgr there is new mail. qmgr may not run (yet): not an error, it
 * scans incoming/ when it starts. */
static void trigger_qmgr(void)
{
    int fd = unix_connect(MAIL_SOCK_QMGR, 1);
    if (fd < 0) {
        if (msg_verbose)
            msg_info("cannot trigger qmgr: %s", strerror(errno));
        return;
    }
    char req = QMGR_REQ_SCAN_INCOMING;
    if (write(fd, &req, 1) != 1 && msg_verbose)
        msg_info("cannot write qmgr trigger: %s", strerror(errno));
    close(fd);
}

static int write_queue_file(struct qf_writer *w, const struct cleanup_msg *m,
                            const struct timeval *tv)
{
    char num[64];
    int rc = 0;
    snprintf(num, sizeof(num), "%lld.%06ld", (long long)tv->tv_sec, (long)tv->tv_usec);
    rc |= qf_put_str(w, QF_TIME, num);
    snprintf(num, sizeof(num), "%zu", m->content.len);
    rc |= qf_put_str(w, QF_SIZE, num);
    rc |= qf_put_str(w, QF_SENDER, m->sender.data);
    for (size_t i = 0; i < m->attrs->argc; i++)
        rc |= qf_put_str(w, QF_ATTR, m->attrs->argv[i]);
    if (m->warn_time > 0) {
        char warn[QF_WARN_LEN + 1];
        qf_warn_format(m->warn_time, warn);
        rc |= qf_put_str(w, QF_WARN, warn);
    }
    for (size_t i = 0; i < m->rcpts->argc; i++) {
        if (m->orcpts->argv[i][0])
            rc |= qf_put_str(w, QF_ORCPT, m->orcpts->argv[i]);
        if (m->notify[i]) {
            snprintf(num, sizeof(num), "%d", m->notify[i]);
            rc |= qf_put_str(w, QF_NOTIFY, num);
        }
        rc |= qf_put_str(w, QF_RCPT, m->rcpts->argv[i]);
    }
    rc |= qf_put_content(w, m->content.data, m->content.len);
    return rc ? -1 : 0;
}

static const struct attr_spec flags_spec[] = {{"flags", ATTR_INT, 1}, ATTR_SPEC_END};
static const struct attr_spec rec_spec[] = {
    {"type", ATTR_INT, 1}, {"data", ATTR_DATA, 1}, ATTR_SPEC_END};

static void service(struct stream *client, const struct server_ctx *ctx)
{
    struct attr_list l;
    struct buf why = BUF_INIT;
    char id[QUEUE_ID_LEN + 1] = "";
    int64_t flags = 0;
    struct qf_writer *w = NULL;
    struct cleanup_msg m;
    int have_msg = 0;

    attr_list_init(&l);
    if (attr_read(client, 0, &l, &why) < 0 || attr_check(&l, flags_spec, 0, &why) < 0 ||
        attr_get_int(&l, "flags", &flags) < 0) {
        msg_warn("cleanup request: %s", why.data);
        goto out;
    }
    w = qf_create("incoming", 0600, id, &why);
    attr_list_free(&l);
    attr_add_int(&l, "status", w ? 0 : CLEANUP_STAT_WRITE);
    attr_add_str(&l, "queue_id", w ? id : "");
    if (w == NULL)
        msg_warn("cannot create queue file: %s", why.data);
    if (attr_write(client, &l) < 0 || w == NULL)
        goto out;

    struct timeval tv;
    gettimeofday(&tv, NULL);
    cleanup_msg_init(&m, &conf, (int)flags, id, tv.tv_sec);
    have_msg = 1;
    for (;;) {
        int64_t type;
        attr_list_free(&l);
        if (attr_read(client, 0, &l, &why) < 0) {
            msg_warn("%s: lost connection with client: %s", id, why.data);
            goto out;
        }
        if (attr_check(&l, rec_spec, 0, &why) < 0 || attr_get_int(&l, "type", &type) < 0) {
            if (!m.status) {
                m.status = CLEANUP_STAT_BAD;
                buf_setf(&m.reason, "5.3.0 bad record: %s", why.data);
            }
            continue; /* drain up to the end record so the client gets its reply */
        }
        if (type == QF_END)
            break;
        const struct attr *d = attr_get(&l, "data");
        if (type < 0 || type > 255 || type == QF_MAGIC || type == QF_DONE)
            (void)cleanup_msg_record(&m, -1, "", 0);
        else
            (void)cleanup_msg_record(&m, (int)type, d->val, d->len);
    }
    attr_list_free(&l);

    int status = cleanup_msg_end(&m);
    const char *reason = m.reason.data ? m.reason.data : "";
    if (status == 0) {
        msg_info("%s: message-id=%s", id, m.message_id.len ? m.message_id.data : "<>");
        int wr = write_queue_file(w, &m, &tv);
        int rc = qf_commit(w, (flags & CLEANUP_FLAG_HOLD) ? "hold" : NULL,
                           &why); /* reports any sticky write error too */
        w = NULL;
        if (wr < 0 || rc < 0) {
            msg_warn("%s: queue file write error: %s", id, why.data);
            status = CLEANUP_STAT_WRITE;
            reason = "4.3.0 queue file write error";
        }
    } else if (!(status & (CLEANUP_STAT_WRITE | CLEANUP_STAT_DEFER))) {
        /* A temporary failure was logged as a warning where it happened. */
        msg_info("%s: reject: %s; from=<%s>", id, reason, m.sender.data ? m.sender.data : "");
    }
    if (w) {
        qf_abort(w);
        w = NULL;
    }
    if (reply(client, status, reason) < 0)
        msg_warn("%s: cannot send reply to client", id);
    if (status == 0 && (flags & CLEANUP_FLAG_HOLD))
        msg_info("%s: placed on hold", id);
    else if (status == 0)
        trigger_qmgr();

out:
    if (w)
        qf_abort(w);
    if (have_msg)
        cleanup_msg_free(&m);
    attr_list_free(&l);
    buf_free(&why);
    (void)ctx;
    /* A table that did not open at start: exit after this client (the
     * so that the next process tries again as root, outside the chroot. */
    if (cleanup_rewrite_broken(rewrite))
        server_exit_after_client();
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.pre_init = pre_init;
    ops.post_init = post_init;
    ops.service = service;
    return single_server_main(argc, argv, &ops);
}
