/* map_proxy - the proxy: table type, which looks keys up through the
 * proxymap service (proxymap(8), Postfix's proxymap), and the protocol both
 * sides speak. A chrooted daemon cannot read /etc/passwd or a table outside
 * its root; "proxy:unix:passwd.byname" asks proxymap, which runs outside the
 * chroot, to do it.
 *
 * Socket private/proxymap (MAIL_SOCK_PROXYMAP), one connection per process,
 * kept open for many requests and shared by every proxy: table:
 *
 *   open:   { request:S "open", table:S "type:name", flags:I }
 *           -> { status:I (OK, RETRY, BAD), reason:S }
 *   lookup: { request:S "lookup", table:S, flags:I, key:S }
 *           -> { status:I (OK, NOKEY, RETRY, BAD), value:S, reason:S (RETRY, BAD) }
 *
 * flags are the map_open flags of the client (only MAP_FOLD_CASE): keys are
 * sent as given and the server folds them, so case handling is the table's.
 * A "lookup" needs no "open" before it on the same connection: the server
 * opens the table on demand, so a client that reconnects (proxymap restarted,
 * or the connection was idle) repeats nothing. The server serves only tables
 * listed in proxy_read_maps; others get PROXY_STAT_BAD.
 *
 * On the client: map_open("proxy:type:name") does the "open" round trip, so
 * an unapproved or broken table fails there, naming it. A lookup that gets no
 * answer (proxymap unreachable, timeout, dropped twice) returns -1, a
 * temporary failure naming the table: mail is deferred, never bounced. A
 * request on a connection that turns out to be dropped (EOF, reset) is sent
 * once more on a new connection. An idle connection is closed after
 * ipc_idle (by a timer when the process runs the event loop, else at the
 * next request), and every wait is bounded by ipc_timeout.
 */
#ifndef MAPS_MAP_PROXY_H
#define MAPS_MAP_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "maps/map.h"
#include "mail/attr.h"
#include "util/argv.h"
#include "util/buf.h"

/* Until mail_proto.h has it. */
#ifndef MAIL_SOCK_PROXYMAP
#define MAIL_SOCK_PROXYMAP "private/proxymap"
#endif

extern const struct map_ops map_proxy_ops;

/* Reply status. */
#define PROXY_STAT_OK    0 /* found (lookup), can be opened (open) */
#define PROXY_STAT_NOKEY 1 /* not found */
#define PROXY_STAT_RETRY 2 /* temporary failure: the table could not be consulted */
#define PROXY_STAT_BAD   3 /* table not approved, or a malformed request */

enum map_proxy_op { PROXY_OP_OPEN, PROXY_OP_LOOKUP };

/* Bounds, checked by both sides. */
#define PROXY_TABLE_MAX   8192  /* "type:name" */
#define PROXY_KEY_MAX     65536 /* one key */
#define PROXY_REQUEST_MAX (PROXY_TABLE_MAX + PROXY_KEY_MAX + 256)
#define PROXY_REASON_MAX  1024 /* a reason is cut here (it goes into logs) */

/* Client flags a request may carry. */
#define PROXY_FLAGS_ALLOWED MAP_FOLD_CASE

/* A request; decode points into the attr_list it was decoded from. */
struct map_proxy_request {
    enum map_proxy_op op;
    const char *table;
    int flags;
    const char *key; /* lookup only */
};

/* map_proxy_request_encode - the wire form of r into l (reset first). */
void map_proxy_request_encode(const struct map_proxy_request *r, struct attr_list *l);
/* map_proxy_request_decode - check l strictly (attributes, types, the
 * request name, flags, bounds, key present exactly for lookup); 0, or -1 +
 * why (safe to log: no peer text in it). The table name is not checked
 * here: see map_proxy_table_name. */
int map_proxy_request_decode(const struct attr_list *l, struct map_proxy_request *r,
                             struct buf *why);

/* map_proxy_reply_encode - a reply to op: text is the value (lookup,
 * PROXY_STAT_OK) or the reason (RETRY, BAD); NULL for none. */
void map_proxy_reply_encode(enum map_proxy_op op, int status, const char *text,
                            struct attr_list *l);
/* map_proxy_reply_decode - check a reply to op; sets *status and *text (the
 * value for OK lookups, else the reason, "" when none; points into l).
 * 0, or -1 + why. */
int map_proxy_reply_decode(enum map_proxy_op op, const struct attr_list *l, int *status,
                           const char **text, struct buf *why);

/* map_proxy_table_name - the table a request names, as proxymap compares it
 * with proxy_read_maps: one leading "proxy:" is dropped (as Postfix does);
 * the rest must be "type:name" with a type of [a-z0-9_], no control
 * characters, at most PROXY_TABLE_MAX bytes, and not a proxy: table again.
 * Returns a pointer into table, or NULL + why. */
const char *map_proxy_table_name(const char *table, struct buf *why);

/* map_proxy_approved - the tables a proxy_read_maps value (already $name
 * expanded) approves: the words separated by white space or commas ("{...}"
 * kept whole, for inline: tables), those of the form type:name only, each
 * with one "proxy:" prefix stripped; a nested proxy: table never counts. */
struct argv *map_proxy_approved(const char *value);
/* map_proxy_is_approved - 1 if name is in the list, else 0. */
int map_proxy_is_approved(const struct argv *approved, const char *name);

/* map_proxy_disconnect - close this process's connection to proxymap (the
 * next request reconnects). For tests, and for processes about to exec. */
void map_proxy_disconnect(void);

#endif
