/* events - a small poll(2) event loop with timers, for servers that watch
 * many descriptors (master, multi-client servers).
 *
 * Callbacks may add or remove any descriptor or timer, including their own.
 * One loop per process (module-level state), like Postfix's event layer.
 */
#ifndef UTIL_EVENTS_H
#define UTIL_EVENTS_H

typedef void (*event_fn)(int fd, void *ctx);
typedef void (*timer_fn)(void *ctx);

/* event_read / event_write - call fn when fd is readable / writable, until
 * event_disable. One read and one write watcher per fd. */
void event_read(int fd, event_fn fn, void *ctx);
void event_write(int fd, event_fn fn, void *ctx);
/* event_disable - stop watching fd (both directions). */
void event_disable(int fd);
/* event_timer - call fn(ctx) once, delay seconds from now (0 = next loop
 * pass). A second request for the same fn and ctx moves the first. */
void event_timer(timer_fn fn, void *ctx, int delay);
/* event_timer_cancel - forget a pending timer; 1 if one was pending. */
int event_timer_cancel(timer_fn fn, void *ctx);
/* event_loop - wait up to timeout seconds (<0: until something happens) and
 * run what is due. Returns after one pass; EINTR returns early (signals). */
void event_loop(int timeout);
/* event_time - the time as of the current loop pass (cheap). */
long event_time(void);

#endif
