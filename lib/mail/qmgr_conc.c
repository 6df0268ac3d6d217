/* qmgr_conc - concurrency window arithmetic and dead-destination
 * detection (qmgr_conc.h).
 */
#include "mail/qmgr_conc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FEEDBACK_TEXT_MAX 64
#define PER_WINDOW        "/concurrency"
#define CONCURRENCY       "concurrency"

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* parse_number - a plain decimal "D[.D]" or ".D" (no sign, no exponent,
 * no hex: strtod alone would take "inf", "0x1p0" and "1e9"). */
static int parse_number(const char **sp, double *out)
{
    const char *s = *sp;
    size_t digits = 0;
    char text[FEEDBACK_TEXT_MAX];
    size_t n = 0;

    while (isdigit((unsigned char)s[n]))
        n++, digits++;
    if (s[n] == '.') {
        n++;
        while (isdigit((unsigned char)s[n]))
            n++, digits++;
    }
    if (digits == 0 || n >= sizeof(text))
        return -1;
    memcpy(text, s, n);
    text[n] = 0;
    *out = strtod(text, NULL);
    *sp = s + n;
    return 0;
}

int qmgr_feedback_parse(const char *text, struct qmgr_feedback *fb, struct buf *why)
{
    const char *s = skip_space(text);
    double v;

    if (strlen(text) > FEEDBACK_TEXT_MAX || parse_number(&s, &v) < 0 || v > 1.0) {
        buf_setf(why, "bad feedback \"%.*s\": expected a number from 0 to 1, or N/concurrency",
                 FEEDBACK_TEXT_MAX, text);
        return -1;
    }
    s = skip_space(s);
    int per_window = 0;
    if (*s == '/') {
        s = skip_space(s + 1);
        if (strncasecmp(s, CONCURRENCY, strlen(CONCURRENCY)) != 0) {
            buf_setf(why, "bad feedback \"%.*s\": expected N/concurrency", FEEDBACK_TEXT_MAX, text);
            return -1;
        }
        s = skip_space(s + strlen(CONCURRENCY));
        per_window = 1;
    }
    if (*s != 0) {
        buf_setf(why, "bad feedback \"%.*s\": junk after the value", FEEDBACK_TEXT_MAX, text);
        return -1;
    }
    fb->value = v;
    fb->per_window = per_window;
    return 0;
}

double qmgr_feedback_amount(const struct qmgr_feedback *fb, int window)
{
    if (!fb->per_window)
        return fb->value;
    return fb->value / (window > 0 ? window : 1);
}

void qmgr_feedback_format(const struct qmgr_feedback *fb, struct buf *out)
{
    buf_setf(out, "%g%s", fb->value, fb->per_window ? PER_WINDOW : "");
}

static int clamp_window(const struct qmgr_conc_params *p, long w)
{
    if (p->limit > 0 && w > p->limit)
        w = p->limit;
    if (w < 1)
        w = 1;
    return w > 1000000 ? 1000000 : (int)w;
}

void qmgr_conc_init(struct qmgr_conc *c, const struct qmgr_conc_params *p)
{
    memset(c, 0, sizeof(*c));
    c->state = QMGR_CONC_READY;
    c->window = clamp_window(p, p->initial);
}

int qmgr_conc_allowed(const struct qmgr_conc *c)
{
    switch (c->state) {
    case QMGR_CONC_READY:
        return c->window;
    case QMGR_CONC_PROBE:
        return 1;
    case QMGR_CONC_DEAD:
        break;
    }
    return 0;
}

void qmgr_conc_revive(struct qmgr_conc *c, const struct qmgr_conc_params *p, long busy)
{
    /* Back from the dead, the best concurrency is anyone's guess: what is
     * still in flight, or where a new destination starts. */
    c->state = QMGR_CONC_READY;
    c->window = clamp_window(p, busy > 0 ? busy : p->initial);
    c->success = c->failure = c->fail_cohorts = 0;
}

void qmgr_conc_success(struct qmgr_conc *c, const struct qmgr_conc_params *p, long busy)
{
    if (c->state != QMGR_CONC_READY) {
        qmgr_conc_revive(c, p, c->state == QMGR_CONC_DEAD ? busy : 0);
        return;
    }
    /* Grow only while the window is in use: a window far beyond the
     * deliveries in flight says nothing about what the site can take. */
    if ((p->limit == 0 || c->window < p->limit) && c->window < busy + p->initial) {
        c->success += qmgr_feedback_amount(&p->pos, c->window);
        while (c->success >= 1) {
            c->window++;
            c->success -= 1;
            c->failure = 0;
        }
    }
    c->window = clamp_window(p, c->window);
    c->fail_cohorts = 0;
}

int qmgr_conc_failure(struct qmgr_conc *c, const struct qmgr_conc_params *p)
{
    switch (c->state) {
    case QMGR_CONC_DEAD:
        return 0;
    case QMGR_CONC_PROBE:
        c->state = QMGR_CONC_DEAD;
        return 1;
    case QMGR_CONC_READY:
        break;
    }
    c->fail_cohorts += 1.0 / c->window;
    if (p->cohort_limit > 0 && c->fail_cohorts >= p->cohort_limit) {
        c->state = QMGR_CONC_DEAD;
        c->window = 1;
        c->success = c->failure = 0;
        return 1;
    }
    if (c->window > 1) {
        c->failure -= qmgr_feedback_amount(&p->neg, c->window);
        while (c->failure < 0) {
            c->window--;
            c->failure += 1;
            c->success = 0;
        }
        if (c->window < 1)
            c->window = 1;
    }
    return 0;
}

void qmgr_conc_probe(struct qmgr_conc *c)
{
    if (c->state == QMGR_CONC_DEAD) {
        c->state = QMGR_CONC_PROBE;
        c->window = 1;
    }
}

void qmgr_conc_format(const struct qmgr_conc *c, struct buf *out)
{
    static const char *names[] = {"ready", "dead", "probe"};
    buf_setf(out, "%s window %d success %g failure %g fail_cohorts %g", names[c->state], c->window,
             c->success, c->failure, c->fail_cohorts);
}
