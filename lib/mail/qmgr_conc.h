/* qmgr_conc - the per-destination concurrency window of the queue manager
 * and its dead-destination detection (Postfix SCHEDULER_README,
 * "concurrency scheduling" and "dead destination detection").
 *
 * A destination starts with initial_destination_concurrency deliveries in
 * flight. Each delivery that is not a site failure (the agent reached the
 * destination, whatever it said about the recipients) is positive
 * feedback: the window grows by <positive_feedback> (a constant, or
 * N/concurrency: N divided by the window), up to the destination
 * concurrency limit and never more than the initial concurrency beyond the
 * deliveries actually in flight. A site failure is negative feedback: the
 * window shrinks the same way, never below 1. Each site failure also adds
 * 1/window to a count of failed "cohorts" (a cohort is a window's worth of
 * deliveries); a success clears it. When it reaches the failed cohort
 * limit the destination is dead: qmgr defers its mail without trying.
 * After a wait one delivery is tried (a probe, window 1): success revives
 * the destination at its initial concurrency, failure makes it dead again.
 *
 * Pure arithmetic (no clock, no I/O), unit-tested.
 */
#ifndef MAIL_QMGR_CONC_H
#define MAIL_QMGR_CONC_H

#include <stddef.h>

#include "util/buf.h"

/* A feedback amount: value, divided by the window when per_window is set
 * ("1/concurrency"). */
struct qmgr_feedback {
    double value;
    int per_window;
};

/* qmgr_feedback_parse - "N" or "N/concurrency" (N a decimal number from 0
 * to 1, white space allowed around the parts) into *fb. 0 or -1 + why. */
int qmgr_feedback_parse(const char *text, struct qmgr_feedback *fb, struct buf *why);

/* qmgr_feedback_amount - the feedback fb gives at window. */
double qmgr_feedback_amount(const struct qmgr_feedback *fb, int window);

/* qmgr_feedback_format - fb as it would be written in main.cf ("1",
 * "1/concurrency"), into out. */
void qmgr_feedback_format(const struct qmgr_feedback *fb, struct buf *out);

struct qmgr_conc_params {
    int initial;      /* initial_destination_concurrency, >= 1 */
    int limit;        /* destination_concurrency_limit; 0: none */
    int cohort_limit; /* failed cohorts before dead; 0: never dead */
    struct qmgr_feedback pos, neg;
};

enum qmgr_conc_state {
    QMGR_CONC_READY, /* deliveries allowed up to the window */
    QMGR_CONC_DEAD,  /* none: mail is deferred */
    QMGR_CONC_PROBE, /* one delivery to see whether it is back */
};

struct qmgr_conc {
    enum qmgr_conc_state state;
    int window;          /* deliveries allowed in flight (READY) */
    double success;      /* positive feedback not yet a whole step */
    double failure;      /* negative feedback not yet a whole step */
    double fail_cohorts; /* failed cohorts since the last success */
};

/* qmgr_conc_init - a new destination: READY at the initial concurrency
 * (within the limit). */
void qmgr_conc_init(struct qmgr_conc *c, const struct qmgr_conc_params *p);

/* qmgr_conc_allowed - deliveries allowed in flight now (0 when dead). */
int qmgr_conc_allowed(const struct qmgr_conc *c);

/* qmgr_conc_success - a delivery that was no site failure ended; busy is
 * the number in flight counting that one. A dead or probing destination
 * is revived. */
void qmgr_conc_success(struct qmgr_conc *c, const struct qmgr_conc_params *p, long busy);

/* qmgr_conc_failure - a site failure. Returns 1 when this made the
 * destination dead (0 otherwise, also when it already was). */
int qmgr_conc_failure(struct qmgr_conc *c, const struct qmgr_conc_params *p);

/* qmgr_conc_probe - the wait of a dead destination is over: PROBE. */
void qmgr_conc_probe(struct qmgr_conc *c);

/* qmgr_conc_revive - an administrator asked (postqueue -f, -s): READY at
 * busy (the deliveries still in flight) or, when none, the initial
 * concurrency, within the limit. */
void qmgr_conc_revive(struct qmgr_conc *c, const struct qmgr_conc_params *p, long busy);

/* qmgr_conc_format - "window W success S failure F fail_cohorts C" with
 * the state, for destination_concurrency_feedback_debug. */
void qmgr_conc_format(const struct qmgr_conc *c, struct buf *out);

#endif
