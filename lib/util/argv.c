/* argv - growable NULL-terminated string vectors. */
#include "util/argv.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

struct argv *argv_alloc(void)
{
    struct argv *a = xcalloc(1, sizeof(*a));
    a->cap = 8;
    a->argv = xcalloc(a->cap, sizeof(char *));
    return a;
}

void argv_free(struct argv *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    free(a);
}

void argv_addn(struct argv *a, const char *s, size_t n)
{
    if (a->argc + 1 >= a->cap) {
        /* A zeroed struct argv (not from argv_alloc) has cap 0: start at 8. */
        size_t cap = a->cap ? a->cap * 2 : 8;
        a->argv = xreallocarray(a->argv, cap, sizeof(char *));
        a->cap = cap;
    }
    a->argv[a->argc++] = xmemdup(s, n);
    a->argv[a->argc] = NULL;
}

void argv_add(struct argv *a, const char *s)
{
    argv_addn(a, s, strlen(s));
}

struct argv *argv_split(const char *s, const char *delims)
{
    struct argv *a = argv_alloc();
    while (*s) {
        s += strspn(s, delims);
        size_t n = strcspn(s, delims);
        if (n)
            argv_addn(a, s, n);
        s += n;
    }
    return a;
}
