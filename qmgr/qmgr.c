/* qmgr - the queue manager: moves mail from incoming/ (and, when its retry
 * time has come, from deferred/) into active/, asks the delivery agents to
 * deliver it, and puts what could not be delivered back into deferred/
 * with its next retry time, or has the bounce service return it.
 *
 * A trigger server on public/qmgr (master.cf: `qmgr unix n - y 300 1
 * qmgr`), chrooted into the queue directory as mail_owner. Triggers
 * (mail_proto.h): 'I' scan incoming/; 'D' and 'F' scan all of deferred/
 * now, ignoring retry times (postqueue -f), and forget which transports
 * were unavailable and which destinations were dead; 'S' followed by a
 * domain (postqueue -s) activates the deferred mail for that domain now
 * and revives its destination; master's 'W' wakeup scans incoming/ and
 * the due part of deferred/. deferred/ is also scanned every
 * queue_run_delay.
 *
 * It never blocks for long: agent conversations are asynchronous in the
 * event loop (qmgr_deliver.c); only the bounce service is asked
 * synchronously, within its timeouts. All state is in the queue
 * directories, so a kill -9 at any moment loses nothing: at start every
 * file left in active/ goes back to incoming/ (as Postfix does).
 *
 * The resolver (resolve.h: address classes, transport_maps) opens its
 * tables in pre_init, before the chroot hides them. A file table that is
 * later rebuilt or removed cannot be reopened from inside the chroot, and
 * a transport table that could not be opened stays unavailable (its mail
 * is deferred): qmgr then restarts (Postfix's trivial-rewrite does the
 * same), at once for a changed table, after max_idle for an unavailable
 * one, and only while no delivery is in flight.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/master_proto.h"
#include "maps/map.h"
#include "qmgr.h"
#include "util/alloc.h"
#include "util/events.h"
#include "util/msg.h"
#include "util/sock.h"

struct qmgr_settings qmgr_set;

static time_t qmgr_started;
static long qmgr_table_retry; /* restart this long after start with a table unavailable */

#define QMGR_MIN_RUN_DELAY 1

static long clamp_long(long v, long lo, long hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void deferred_timer(void *unused)
{
    (void)unused;
    qmgr_scan_deferred(0);
    event_timer(deferred_timer, NULL, (int)qmgr_set.queue_run_delay);
}

/* site_ok - the domain of an 'S' trigger (mail_proto.h): a host name or
 * an address literal, nothing that could bend a log line. */
static int site_ok(const char *s, size_t len)
{
    if (len == 0 || len > 255)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') &&
            c != '.' && c != '-' && c != '[' && c != ']' && c != ':')
            return 0;
    }
    return 1;
}

static void qmgr_trigger(const char *bytes, size_t len, const struct server_ctx *ctx)
{
    int incoming = 0, deferred = 0, flush = 0;
    (void)ctx;
    if (len > 0 && bytes[0] == QMGR_REQ_FLUSH_SITE) {
        char site[256];
        if (!site_ok(bytes + 1, len - 1)) {
            msg_warn("bad site flush request (%zu bytes) ignored", len);
            return;
        }
        memcpy(site, bytes + 1, len - 1);
        site[len - 1] = 0;
        qmgr_scan_site(site);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        switch (bytes[i]) {
        case QMGR_REQ_SCAN_INCOMING:
            incoming = 1;
            break;
        case QMGR_REQ_SCAN_DEFERRED:
        case QMGR_REQ_FLUSH_DEAD:
            flush = 1;
            break;
        case MASTER_TRIGGER_WAKEUP:
            incoming = deferred = 1;
            break;
        default:
            msg_warn("unknown trigger byte 0x%02x ignored", (unsigned char)bytes[i]);
            break;
        }
    }
    if (flush)
        qmgr_revive_transports();
    /* incoming first: new mail is not kept waiting behind a backlog */
    if (incoming)
        qmgr_scan_incoming();
    if (flush)
        qmgr_scan_deferred(1);
    else if (deferred)
        qmgr_scan_deferred(0);
}

/* qmgr_restart - exit so that master starts a fresh qmgr, which opens
 * every table again. A wakeup left on our own socket makes master start
 * it at once instead of at the next trigger. */
__attribute__((noreturn)) static void qmgr_restart(void)
{
    int fd = unix_connect(MAIL_SOCK_QMGR, 1);
    if (fd < 0) {
        msg_warn("cannot wake up the next qmgr: %s", strerror(errno));
    } else {
        char req = MASTER_TRIGGER_WAKEUP;
        if (write(fd, &req, 1) != 1)
            msg_warn("cannot wake up the next qmgr: %s", strerror(errno));
        close(fd);
    }
    exit(0);
}

/* table_timer - every second: has a table changed out of reach
 * (map_stale), or is a transport table still unavailable? */
static void table_timer(void *unused)
{
    (void)unused;
    resolve_check_tables(qmgr_set.resolver);
    const char *stale = map_stale();
    const char *gone = resolve_unavailable_table(qmgr_set.resolver);
    if (stale == NULL && gone != NULL && time(NULL) - qmgr_started < qmgr_table_retry)
        gone = NULL;
    if ((stale != NULL || gone != NULL) && qmgr_inflight() == 0) {
        if (stale != NULL)
            msg_info("table %s has changed -- restarting", stale);
        else
            msg_info("table %s is unavailable -- restarting", gone);
        qmgr_restart();
    }
    event_timer(table_timer, NULL, 1);
}

/* pre_init: still root and outside the chroot, so tables named in
 * mydestination, the domain lists and transport_maps (files under /etc)
 * can be opened. */
static void qmgr_pre_init(const struct server_ctx *ctx)
{
    struct buf why = BUF_INIT;
    struct resolve_params rp = {
        .mydestination = conf_str("mydestination"),
        .local_transport = conf_str("local_transport"),
        .default_transport = conf_str("default_transport"),
        .relayhost = conf_str("relayhost"),
        .myhostname = conf_str("myhostname"),
    };
    struct resolve_routing rt = {
        .virtual_alias_domains = conf_str("virtual_alias_domains"),
        .virtual_mailbox_domains = conf_str("virtual_mailbox_domains"),
        .virtual_transport = conf_str("virtual_transport"),
        .relay_domains = conf_str("relay_domains"),
        .relay_transport = conf_str("relay_transport"),
        .transport_maps = conf_str("transport_maps"),
        .parent_domain_matches_subdomains = conf_str("parent_domain_matches_subdomains"),
        .recipient_delimiter = conf_str("recipient_delimiter"),
        .error_service = conf_str("error_service_name"),
        .hide_unknown_table = !conf_bool("show_user_unknown_table_name"),
    };
    (void)ctx;
    qmgr_set.resolver = resolver_create_routing(&rp, &rt, &why);
    if (qmgr_set.resolver == NULL)
        msg_fatal("%s", buf_cstr(&why));
    buf_free(&why);
    qmgr_table_retry = clamp_long(conf_time("max_idle"), 1, INT_MAX);

    qmgr_set.active_limit = clamp_long(conf_int("qmgr_message_active_limit"), 1, LONG_MAX);
    qmgr_set.rcpt_limit = clamp_long(conf_int("qmgr_message_recipient_limit"), 1, LONG_MAX);
    qmgr_set.inflight_limit = clamp_long(conf_int("default_process_limit"), 1, 10000);
    qmgr_set.connect_timeout = (int)clamp_long(conf_time("qmgr_ipc_timeout"), 1, INT_MAX);
    qmgr_set.agent_timeout = (int)clamp_long(conf_time("ipc_timeout"), 1, INT_MAX);
    qmgr_set.min_backoff = conf_time("minimal_backoff_time");
    qmgr_set.max_backoff = conf_time("maximal_backoff_time");
    if (qmgr_set.max_backoff < qmgr_set.min_backoff)
        msg_warn("maximal_backoff_time (%lds) is below minimal_backoff_time (%lds): using %lds",
                 qmgr_set.max_backoff, qmgr_set.min_backoff, qmgr_set.min_backoff);
    qmgr_set.max_lifetime = conf_time("maximal_queue_lifetime");
    qmgr_set.bounce_lifetime = conf_time("bounce_queue_lifetime");
    qmgr_set.transport_retry = clamp_long(conf_time("transport_retry_time"), 1, INT_MAX);
    qmgr_set.queue_run_delay =
        clamp_long(conf_time("queue_run_delay"), QMGR_MIN_RUN_DELAY, INT_MAX);
    qmgr_set.delay_warning = clamp_long(conf_time("delay_warning_time"), 0, LONG_MAX);
}

static void qmgr_post_init(const struct server_ctx *ctx)
{
    (void)ctx;
    /* Nothing is active yet: whatever is in active/ was being delivered
     * when a previous qmgr stopped. Its done marks say what is left. */
    qmgr_recover_active();
    qmgr_deliver_init();
    qmgr_scan_incoming();
    qmgr_scan_deferred(0);
    event_timer(deferred_timer, NULL, (int)qmgr_set.queue_run_delay);
    qmgr_started = time(NULL);
    event_timer(table_timer, NULL, 1);
}

int main(int argc, char **argv)
{
    struct server_ops ops = {0};
    ops.pre_init = qmgr_pre_init;
    ops.post_init = qmgr_post_init;
    ops.trigger = qmgr_trigger;
    ops.flags = SERVER_FLAG_IGNORE_IDLE | SERVER_FLAG_UNLIMITED_USE;

    return trigger_server_main(argc, argv, &ops);
}
