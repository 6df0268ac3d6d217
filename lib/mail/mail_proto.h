/* mail_proto - the conversations between Postern services: which socket,
 * which attributes (attr.h), in which order. One place, so every program
 * speaks them the same way and a reader can check them strictly.
 *
 * Sockets live under the queue directory (every daemon's working directory):
 * private/NAME for internal services, public/NAME for the few that local
 * users reach. Names below are master.cf service names.
 *
 * cleanup (private/cleanup, single server)  -- pickup, and later smtpd:
 *   client -> { flags:I (CLEANUP_FLAG_*) }
 *   server -> { status:I=0, queue_id:S }          the ID of the file being built
 *   client -> message records, each { type:I, data:D } with the queue-file
 *             record types of queue_file.h (QF_TIME is set by cleanup itself;
 *             QF_SENDER once, QF_RCPT / QF_ORCPT, QF_ATTR, QF_CONTENT ...),
 *             ended by { type:I=QF_END, data:D="" }
 *   server -> { status:I (CLEANUP_STAT_* bits), reason:S }
 *             status 0 is sent only after the queue file is fsynced and
 *             renamed into incoming/ (DESIGN.md invariant 1).
 *
 * qmgr (public/qmgr, trigger server; public like Postfix's, so that
 *   postqueue -f, setgid postdrop, can reach it): one byte per trigger:
 *   QMGR_REQ_SCAN_INCOMING 'I', QMGR_REQ_SCAN_DEFERRED 'D' (postqueue -f),
 *   QMGR_REQ_FLUSH_DEAD 'F', and master's wakeup 'W'.
 *
 * pickup (public/pickup, trigger server): any byte means "scan maildrop/".
 *
 * showq (public/showq, single server): the client connects and reads; the
 *   server writes one attribute message per queued message:
 *   { queue_name:S, queue_id:S, arrival:I, size:I, sender:S,
 *     rcpt_count:I, rcpt_<i>:S, reason_<i>:S ("" when none),
 *     optional rcpt_omitted:I (recipients not listed: one message holds at
 *     most ATTR_COUNT_MAX attributes) }
 *   then an end message { queue_name:S="" }.
 *
 * delivery agents (private/<transport>: private/local, later private/smtp,
 * private/virtual, ...; single servers) -- qmgr asks, one request per
 * connection; deliver_request.h encodes and checks both sides:
 *   qmgr  -> { queue_id:S, queue_dir:S ("active"), size:I, sender:S,
 *              nexthop:S, arrival:I, flags:I, rcpt_count:I, and per
 *              recipient i: rcpt_addr_<i>:S, rcpt_orcpt_<i>:S,
 *              rcpt_offset_<i>:I (file offset of its QF_RCPT record) }
 *   agent -> { status:I (0 all delivered; else see per-recipient), and per
 *              recipient i: rcpt_status_<i>:I (DELIVER_OK, DELIVER_DEFER,
 *              DELIVER_BOUNCE), rcpt_dsn_<i>:S ("2.0.0", "4.2.2", "5.1.1"),
 *              rcpt_reason_<i>:S }
 *   The agent marks a recipient done in the queue file (qf_mark_done) after
 *   a delivery is safe and before it reports DELIVER_OK; for a permanent
 *   failure it records the reason with the bounce service (bounce_client.h,
 *   private/bounce) and then marks the recipient done before it reports
 *   DELIVER_BOUNCE; for a temporary failure it records the reason with
 *   private/defer and leaves the recipient open. A crash at any point
 *   therefore repeats a delivery at most, never loses one.
 *
 * bounce (private/bounce, private/defer: one program, the service name says
 * which per-message log, bounce/ID or defer/ID, an append goes to; both
 * under hash_queue_names hashing). bounce_client.h speaks it:
 *   (and private/trace: the trace/ID log of NOTIFY=SUCCESS recipients)
 *   append: { request:S "append", queue_id:S, rcpt:S, orcpt:S, dsn:S,
 *             action:S ("failed", "delayed", "delivered", "relayed"),
 *             reason:S, offset:I, mta:S, diag:S, notify:I }
 *           -> { status:I (0 ok), reason:S }
 *   flush:  { request:S "flush", queue_id:S, queue_dir:S, sender:S }
 *           -> { status:I, reason:S }: sends the RFC 3464 notice
 *           (multipart/report) for every recipient in bounce/ID to sender
 *           (to 2bounce_notice_recipient when sender is "", sent from
 *           double-bounce@$myorigin; a failed double bounce is dropped), and
 *           removes bounce/ID once the notice is safe in incoming/. No
 *           bounce/ID: status 0, nothing sent. Recipients with a NOTIFY
 *           that leaves out FAILURE are not listed; none left: no notice.
 *   warn:   same attributes, request "warn": a delay warning from defer/ID
 *           (recipients whose NOTIFY is not given or has DELAY); defer/ID
 *           stays.
 *   trace:  same attributes, request "trace": a success notice from
 *           trace/ID, which is then removed.
 *   The notice reads the queue file for RET (dsn_ret: FULL or not given
 *   returns the message as message/rfc822, HDRS only its header) and
 *   ENVID (Original-Envelope-Id); delay warnings and success notices
 *   return the header only.
 *
 * auth (private/auth, multi server, the only reader of password data):
 *   one SASL authentication per connection; auth_client.h.
 *
 * anvil (private/anvil, multi server, one process): per-client counters;
 *   anvil_client.h.
 *
 * proxymap (private/proxymap, multi server, not chrooted): table lookups
 *   for chrooted processes, only of tables in proxy_read_maps; one
 *   connection per client process, many requests: "open" and "lookup",
 *   see maps/map_proxy.h.
 */
#ifndef MAIL_MAIL_PROTO_H
#define MAIL_MAIL_PROTO_H

/* Service socket paths, relative to the queue directory. */
#define MAIL_SOCK_CLEANUP  "private/cleanup"
#define MAIL_SOCK_QMGR     "public/qmgr"
#define MAIL_SOCK_PICKUP   "public/pickup"
#define MAIL_SOCK_BOUNCE   "private/bounce"
#define MAIL_SOCK_DEFER    "private/defer"
#define MAIL_SOCK_TRACE    "private/trace"
#define MAIL_SOCK_SHOWQ    "public/showq"
#define MAIL_SOCK_AUTH     "private/auth"
#define MAIL_SOCK_ANVIL    "private/anvil"
#define MAIL_SOCK_PROXYMAP "private/proxymap"

/* private/<transport>: where qmgr finds a delivery agent */
#define MAIL_SOCK_TRANSPORT_FMT "private/%s"

/* the sender of double bounces, @$myorigin appended */
#define MAIL_ADDR_DOUBLE_BOUNCE "double-bounce"

/* cleanup request flags */
#define CLEANUP_FLAG_EXTRACT_RCPT 1 /* sendmail -t: recipients from headers */
#define CLEANUP_FLAG_LOCAL_SUBMIT 2 /* from pickup: add missing headers */
#define CLEANUP_FLAG_HOLD         4 /* commit into hold/ (an access table said HOLD) */

/* cleanup status bits: 0 means the message is safe in incoming/ */
#define CLEANUP_STAT_OK    0
#define CLEANUP_STAT_BAD   1  /* malformed input */
#define CLEANUP_STAT_WRITE 2  /* queue file write error (temporary) */
#define CLEANUP_STAT_SIZE  4  /* message_size_limit exceeded */
#define CLEANUP_STAT_HOPS  8  /* too many hops */
#define CLEANUP_STAT_RCPT  16 /* no recipients */
#define CLEANUP_STAT_HDR   32 /* header size or count limit exceeded */
#define CLEANUP_STAT_DEFER 64 /* try again later; the reason starts with its 4.X.Y code */

/* qmgr triggers */
#define QMGR_REQ_SCAN_INCOMING 'I'
#define QMGR_REQ_SCAN_DEFERRED 'D'
#define QMGR_REQ_FLUSH_DEAD    'F'
/* 'S' followed by a domain: postqueue -s DOMAIN, deliver deferred mail
 * with a recipient in DOMAIN now (the rest of the trigger is the domain,
 * at most 255 bytes, letters, digits, '.', '-', '[', ']', ':' only) */
#define QMGR_REQ_FLUSH_SITE 'S'

/* per-recipient delivery results */
#define DELIVER_OK     0
#define DELIVER_DEFER  1
#define DELIVER_BOUNCE 2

#endif
