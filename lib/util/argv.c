/* argv - growable NULL-terminated string vectors. */
#include "util/argv.h"
#include "util/alloc.h"
#include "util/buf.h"

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

#define LIST_SEPARATORS ", \t\r\n"

int argv_split_braced(const char *s, struct argv *out, size_t max, struct buf *why)
{
    const char *p = s;
    size_t words = 0;

    for (;;) {
        while (*p && strchr(LIST_SEPARATORS, *p))
            p++;
        if (*p == 0)
            return 0;
        const char *start = p;
        int depth = 0;
        for (; *p && (depth > 0 || !strchr(LIST_SEPARATORS, *p)); p++) {
            if (*p == '{') {
                depth++;
            } else if (*p == '}' && --depth < 0) {
                buf_setf(why, "unbalanced \"}\" in \"%.100s\"", start);
                return -1;
            }
        }
        if (depth != 0) {
            buf_setf(why, "missing \"}\" in \"%.100s\"", start);
            return -1;
        }
        if (max > 0 && ++words > max) {
            buf_setf(why, "more than %zu words in a list", max);
            return -1;
        }
        argv_addn(out, start, (size_t)(p - start));
    }
}
