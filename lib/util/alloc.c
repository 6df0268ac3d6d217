/* alloc - allocation wrappers that end the process when memory runs out. */
#include "util/alloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void out_of_memory(size_t n)
{
    char line[96];
    int len = snprintf(line, sizeof(line), "fatal: out of memory allocating %zu bytes\n", n);
    if (len > 0 && write(2, line, (size_t)len) < 0) {
        /* nothing more can be done */
    }
    _exit(1);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        out_of_memory(n);
    return p;
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(count * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        out_of_memory(n);
    return q;
}

void *xreallocarray(void *p, size_t count, size_t size)
{
    size_t n;
    if (!size_mul_ok(count, size, &n))
        out_of_memory(SIZE_MAX);
    return xrealloc(p, n);
}

char *xstrdup(const char *s)
{
    return xmemdup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    return xmemdup(s, strnlen(s, n));
}

char *xmemdup(const void *p, size_t n)
{
    size_t total;
    if (!size_add_ok(n, 1, &total))
        out_of_memory(SIZE_MAX);
    char *q = xmalloc(total);
    if (n)
        memcpy(q, p, n);
    q[n] = 0;
    return q;
}

int size_add_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

int size_mul_ok(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
