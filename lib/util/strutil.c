/* strutil - string helpers and strict parsers for main.cf-style values. */
#include "util/strutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *str_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = 0;
    return s;
}

char *str_token(char **sp, const char *delims)
{
    char *s = *sp;
    if (s == NULL)
        return NULL;
    s += strspn(s, delims);
    if (*s == 0) {
        *sp = s;
        return NULL;
    }
    char *end = s + strcspn(s, delims);
    if (*end)
        *end++ = 0;
    *sp = end;
    return s;
}

int str_alldig(const char *s)
{
    if (*s == 0)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

char *str_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

int str_to_long(const char *s, long min, long max, long *out)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!str_alldig(p))
        return -1;
    errno = 0;
    long v = strtol(s, NULL, 10);
    if (errno == ERANGE || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static long unit_seconds(int unit)
{
    switch (unit) {
    case 's':
        return 1;
    case 'm':
        return 60;
    case 'h':
        return 3600;
    case 'd':
        return 86400;
    case 'w':
        return 7 * 86400;
    default:
        return 0;
    }
}

int str_to_time(const char *s, int default_unit, long *seconds)
{
    size_t n = strlen(s);
    if (n == 0 || n > 20)
        return -1;
    int unit = default_unit;
    char digits[24];
    memcpy(digits, s, n + 1);
    if (!isdigit((unsigned char)digits[n - 1])) {
        unit = tolower((unsigned char)digits[n - 1]);
        digits[n - 1] = 0;
    }
    long mult = unit_seconds(unit);
    long v;
    if (mult == 0 || !str_alldig(digits) || str_to_long(digits, 0, LONG_MAX, &v) < 0)
        return -1;
    if (__builtin_mul_overflow(v, mult, seconds))
        return -1;
    return 0;
}

int str_to_bool(const char *s, int *out)
{
    if (!strcasecmp(s, "yes") || !strcasecmp(s, "true") || !strcmp(s, "1")) {
        *out = 1;
        return 0;
    }
    if (!strcasecmp(s, "no") || !strcasecmp(s, "false") || !strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}
