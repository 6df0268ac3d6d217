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
/* argv_split_braced - the words of a Postfix list (separated by commas and
 * white space) appended to out, with "{...}" (inline: tables) kept whole
 * even when it holds separators. At most max words (0: no limit). 0, or -1
 * + why (unbalanced braces, too many words); out may then hold a part. */
struct buf;
int argv_split_braced(const char *s, struct argv *out, size_t max, struct buf *why);

#endif
