/* params - THE table of parameters: name, type, default, one-line meaning.
 *
 * It is the single source of `postconf -d`, of type checking in every
 * program, and of the postconf(5) man page (postconf --man5), so the
 * documentation cannot drift from the code. The entries live in
 * param_table.def as PARAM(name, type, default, description) lines.
 *
 * Time values take a unit suffix (s, m, h, d, w); a value without one uses
 * the unit of the parameter's default, as in Postfix.
 */
#ifndef CONF_PARAMS_H
#define CONF_PARAMS_H

#include <stddef.h>

enum param_type { PT_STR, PT_INT, PT_BOOL, PT_TIME };

struct param_def {
    const char *name;
    enum param_type type;
    const char *def;             /* default as main.cf text; may contain $name */
    const char *(*def_fn)(void); /* computed default (myhostname, ...) or NULL */
    const char *desc;            /* one line, no trailing period needed */
    int raw;                     /* 1: never $-expanded as configuration; its user expands it later
                                  * with names of its own ($home, $recipient, $rbl_code, ...) */
};

extern const struct param_def param_table[];
extern const size_t param_count;

/* param_find - the definition of name, or NULL if unknown. */
const struct param_def *param_find(const char *name);
/* param_default - the default text of p (computed when def_fn is set). */
const char *param_default(const struct param_def *p);
/* param_type_name - "string", "integer", "boolean", "time". */
const char *param_type_name(enum param_type t);
/* param_check - is value (expanded) valid for p's type? 0, or -1 + why. */
struct buf;
int param_check(const struct param_def *p, const char *value, struct buf *why);
/* param_derived_from - for a computed default that follows another
 * parameter's effective value (mydomain follows myhostname): that
 * parameter's name, else NULL. param_derive turns the other parameter's
 * expanded value into p's default (config.c expands the source first). */
const char *param_derived_from(const struct param_def *p);
void param_derive(const struct param_def *p, const char *source_value, struct buf *out);
/* param_time_unit - the unit letter a bare number means for p (from its default). */
int param_time_unit(const struct param_def *p);

#endif
