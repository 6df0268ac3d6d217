/* anvil_table - the counting logic of anvil(8), without I/O: a bounded hash
 * table of client idents ("smtp:192.0.2.1") with the number of simultaneous
 * connections, the event rates of the current window, and the peak values
 * anvil logs. The caller passes the time, so every rule can be tested with a
 * synthetic clock.
 *
 * Rates (Postfix's anvil): one fixed window per ident that starts with its
 * first event; an event after the window has passed (now >= start + unit, or
 * a clock that went backwards) restarts every rate of the ident at that
 * event. Connection counts go up with "connect" and down with "disconnect",
 * never below zero, and only for connects that the same anvil client (an
 * anvil_local: one client connection of anvil) made: when that client goes
 * away, anvil_local_free undoes what it left open.
 *
 * Bounds: at most max_entries idents. An ident with no open connection is
 * idle; idle idents whose window has passed are freed by anvil_table_expire,
 * and when the table is full the least recently used idle ident makes room.
 * Idents with open connections are never evicted: with none idle, a new
 * ident is refused (-1), the table does not grow. One anvil_local holds at
 * most ANVIL_LOCAL_MAX distinct idents.
 */
#ifndef MAIL_ANVIL_TABLE_H
#define MAIL_ANVIL_TABLE_H

#include <stddef.h>

#include "util/argv.h"
#include "util/buf.h"

#define ANVIL_IDENT_MAX 512    /* bytes */
#define ANVIL_TABLE_MAX 100000 /* idents, the default bound */
#define ANVIL_LOCAL_MAX 1024   /* distinct idents with open connects, per client */

/* The rates anvil counts per ident. */
enum anvil_event {
    ANVIL_EV_CONNECT,   /* connections */
    ANVIL_EV_MESSAGE,   /* MAIL FROM */
    ANVIL_EV_RECIPIENT, /* RCPT TO */
    ANVIL_EV_AUTH,      /* AUTH commands */
    ANVIL_EV_COUNT
};

struct anvil_counts {
    int count;                /* open connections */
    int rate[ANVIL_EV_COUNT]; /* events in the current window (0 once it has passed) */
};

struct anvil_peak {
    int value; /* 0: nothing yet */
    long when;
    char ident[ANVIL_IDENT_MAX + 1];
};

/* The highest values since the last anvil_table_peaks_reset. */
struct anvil_peaks {
    struct anvil_peak rate[ANVIL_EV_COUNT];
    struct anvil_peak count;
    size_t cache_size; /* most idents held at once */
    long cache_when;
};

struct anvil_table;
struct anvil_local;

/* anvil_ident_ok - 1 when ident (len bytes) is 1..ANVIL_IDENT_MAX printable
 * ASCII characters (space allowed), else 0: idents end up in log lines. */
int anvil_ident_ok(const char *ident, size_t len);

/* anvil_table_create - max_entries idents at most (0: ANVIL_TABLE_MAX),
 * rate window of time_unit seconds (at least 1). */
struct anvil_table *anvil_table_create(size_t max_entries, long time_unit);
void anvil_table_free(struct anvil_table *t);
size_t anvil_table_size(const struct anvil_table *t);
long anvil_table_time_unit(const struct anvil_table *t);

/* anvil_table_event - one message, recipient or auth event (not
 * ANVIL_EV_CONNECT: that is anvil_local_connect) for ident; *rate is the
 * rate after it. An unknown ident is added with no connection. 0, or -1 +
 * why (bad ident, bad event, table full). */
int anvil_table_event(struct anvil_table *t, const char *ident, enum anvil_event ev, long now,
                      int *rate, struct buf *why);
/* anvil_table_lookup - the counters of ident as of now, zeros for an
 * unknown ident; changes nothing. */
void anvil_table_lookup(const struct anvil_table *t, const char *ident, long now,
                        struct anvil_counts *out);
/* anvil_table_expire - free idle idents whose window has passed; returns
 * how many were freed. */
size_t anvil_table_expire(struct anvil_table *t, long now);

const struct anvil_peaks *anvil_table_peaks(const struct anvil_table *t);
void anvil_table_peaks_reset(struct anvil_table *t);
/* anvil_table_stats - Postfix's statistics lines for the peaks above 1
 * ("statistics: max connection rate 12/60s for (smtp:192.0.2.1) at Nov 21
 * 10:00:00"), local time, appended to out. Returns how many. */
size_t anvil_table_stats(const struct anvil_table *t, struct argv *out);

/* The connects of one anvil client. */
struct anvil_local *anvil_local_create(void);
/* anvil_local_connect - count +1 and connection rate +1 for ident, on
 * behalf of l; *count and *rate after it. 0, or -1 + why (bad ident,
 * table full, l holds ANVIL_LOCAL_MAX idents). */
int anvil_local_connect(struct anvil_table *t, struct anvil_local *l, const char *ident, long now,
                        int *count, int *rate, struct buf *why);
/* anvil_local_disconnect - undo one connect that l made for ident; 1 when
 * there was one, 0 when not (nothing changes). */
int anvil_local_disconnect(struct anvil_table *t, struct anvil_local *l, const char *ident,
                           long now);
/* anvil_local_open - connects l has not undone, over all idents. */
size_t anvil_local_open(const struct anvil_local *l);
/* anvil_local_free - undo every connect l left open, and free it. */
void anvil_local_free(struct anvil_table *t, struct anvil_local *l, long now);

#endif
