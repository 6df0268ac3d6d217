/* alloc - memory allocation that ends the process on failure.
 *
 * STYLE.md: allocation failure is the one runtime error that ends a process
 * (master restarts it). Everything else returns an error to its caller.
 */
#ifndef UTIL_ALLOC_H
#define UTIL_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray - resize to count * size, dying on overflow. */
void *xreallocarray(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xmemdup - copy n bytes and add a NUL, so counted data can be used as text. */
char *xmemdup(const void *p, size_t n);

/* size_add_ok / size_mul_ok - checked size arithmetic: 1 and *out set, or 0. */
int size_add_ok(size_t a, size_t b, size_t *out);
int size_mul_ok(size_t a, size_t b, size_t *out);

#endif
