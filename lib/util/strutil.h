/* strutil - small string helpers and strict number parsing.
 *
 * The number parsers accept what Postfix accepts for main.cf values and
 * reject everything else (sign where not allowed, trailing junk, overflow).
 */
#ifndef UTIL_STRUTIL_H
#define UTIL_STRUTIL_H

#include <stddef.h>

/* str_trim - strip leading and trailing white space in place; returns s+skip. */
char *str_trim(char *s);
/* str_token - next token of *sp separated by any of delims (NUL-terminates it);
 * NULL when none is left. Like strsep but skips empty tokens. */
char *str_token(char **sp, const char *delims);
/* str_alldig - 1 if s is non-empty and all ASCII digits. */
int str_alldig(const char *s);
/* str_lower - ASCII lower-case in place; returns s. */
char *str_lower(char *s);

/* str_to_long - whole string as a decimal long within [min, max]; 0 or -1. */
int str_to_long(const char *s, long min, long max, long *out);
/* str_to_time - "30", "30s", "5m", "2h", "1d", "1w" (default_unit when the
 * value has no unit: 's', 'm', 'h', 'd' or 'w') into seconds; 0 or -1. */
int str_to_time(const char *s, int default_unit, long *seconds);
/* str_to_bool - "yes"/"no" (also "true"/"false", "1"/"0"), case-insensitive. */
int str_to_bool(const char *s, int *out);

#endif
