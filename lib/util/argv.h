/* argv - a growable, NULL-terminated vector of malloc'ed strings. */
#ifndef UTIL_ARGV_H
#define UTIL_ARGV_H

#include <stddef.h>

struct argv {
    char **argv; /* argv[argc] == NULL always */
    size_t argc;
    size_t cap;
};

struct argv *argv_alloc(void);
void argv_free(struct argv *a);
void argv_add(struct argv *a, const char *s);
void argv_addn(struct argv *a, const char *s, size_t n);
/* argv_split - split s at any byte of delims, skipping empty fields. */
struct argv *argv_split(const char *s, const char *delims);

#endif
