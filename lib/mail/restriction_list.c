/* restriction_list - tokenizer and parser for Postfix restriction lists
 * (restriction_list.h). Pure; the caller says which names exist.
 */
#include "mail/restriction_list.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

int restriction_list_split(const char *text, struct argv *out, struct buf *why)
{
    return argv_split_braced(text, out, RESTRICTION_LIST_MAX, why);
}

void restriction_list_free(struct restriction_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].name);
        free(l->items[i].arg);
    }
    free(l->items);
    l->items = NULL;
    l->count = 0;
}

static int all_digits(const char *s)
{
    return *s != 0 && s[strspn(s, "0123456789")] == 0;
}

int restriction_list_parse(const char *text, restriction_arg_fn arg_of, void *ctx,
                           struct restriction_list *out, struct buf *why)
{
    struct argv *words = argv_alloc();
    size_t i = 0;

    out->items = NULL;
    out->count = 0;
    if (restriction_list_split(text, words, why) < 0)
        goto fail;
    out->items = xcalloc(words->argc ? words->argc : 1, sizeof(*out->items));
    while (i < words->argc) {
        const char *name = words->argv[i++];
        struct restriction *r = &out->items[out->count];

        /* A table where a name belongs: the stage's default check. */
        if (strchr(name, ':') != NULL) {
            r->name = xstrdup("");
            r->arg = xstrdup(name);
            out->count++;
            continue;
        }
        enum restriction_arg kind = arg_of(ctx, name);
        if (kind == RESTRICTION_UNKNOWN) {
            buf_setf(why, "unknown restriction: %s", name);
            goto fail;
        }
        r->name = xstrdup(name);
        out->count++;
        if (kind == RESTRICTION_NO_ARG)
            continue;
        if (i >= words->argc) {
            buf_setf(why, "restriction %s: missing argument", name);
            goto fail;
        }
        const char *arg = words->argv[i++];
        if (kind == RESTRICTION_TABLE && strchr(arg, ':') == NULL) {
            buf_setf(why, "restriction %s: bad argument \"%s\": need maptype:mapname", name, arg);
            goto fail;
        }
        if (kind == RESTRICTION_NUMBER && !all_digits(arg)) {
            buf_setf(why, "restriction %s: bad argument \"%s\": need a number", name, arg);
            goto fail;
        }
        r->arg = xstrdup(arg);
    }
    argv_free(words);
    return 0;
fail:
    argv_free(words);
    restriction_list_free(out);
    return -1;
}
