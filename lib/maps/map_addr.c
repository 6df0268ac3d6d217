/* map_addr - lists of tables named by a "maps" parameter, and mail address
 * lookups in them in Postfix's order (map_addr.h: mail_addr_find and
 * mail_addr_map). A table that fails before a hit makes the whole answer
 * a temporary failure, never "not found".
 */
#include "maps/map_addr.h"
#include "mail/addr.h"
#include "util/alloc.h"

#include <stdlib.h>
#include <string.h>

#define MAPS_SEPARATORS ", \t\r\n"

int maps_open(struct maps *ms, const char *param, const char *value, int flags, struct buf *why)
{
    struct argv *specs = argv_alloc();
    struct buf w = BUF_INIT;
    int rc = 0;

    memset(ms, 0, sizeof(*ms));
    ms->param = xstrdup(param);
    if (argv_split_braced(value ? value : "", specs, 0, &w) < 0) {
        buf_setf(why, "%s: %s", param, buf_cstr(&w));
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < specs->argc; i++) {
        struct map *m = map_open(specs->argv[i], flags, &w);
        if (m == NULL) {
            buf_setf(why, "%s: %s", param, buf_cstr(&w));
            rc = -1;
            break;
        }
        ms->v = xreallocarray(ms->v, ms->n + 1, sizeof(*ms->v));
        ms->v[ms->n++] = m;
    }
    argv_free(specs);
    buf_free(&w);
    if (rc < 0)
        maps_close(ms);
    return rc;
}

void maps_close(struct maps *ms)
{
    for (size_t i = 0; i < ms->n; i++)
        map_close(ms->v[i]);
    free(ms->v);
    free(ms->param);
    buf_free(&ms->error);
    memset(ms, 0, sizeof(*ms));
}

const char *maps_error(const struct maps *ms)
{
    return buf_cstr(&ms->error);
}

int maps_find(struct maps *ms, const char *key, int flags, struct buf *value)
{
    buf_reset(value);
    for (size_t i = 0; i < ms->n; i++) {
        if ((flags & MAPS_PARTIAL) && map_is_pattern(ms->v[i]))
            continue;
        int rc = map_lookup(ms->v[i], key, value);
        if (rc > 0)
            return 1;
        if (rc < 0) {
            /* Most types already name the table ("table SPEC: ..."). */
            const char *e = map_error(ms->v[i]), *spec = ms->v[i]->spec;
            size_t n = strlen(spec);
            if (strncmp(e, "table ", 6) == 0 && strncmp(e + 6, spec, n) == 0 && e[6 + n] == ':')
                buf_set(&ms->error, e);
            else
                buf_setf(&ms->error, "table %s: %s", spec, e);
            return -1;
        }
    }
    return 0;
}

/* find_key - one step of the address lookup: rc of maps_find, and on a hit
 * the extension the key left out into ext. */
static int find_key(struct maps *ms, const char *key, int flags, struct buf *value, struct buf *ext,
                    const char *left_out)
{
    int rc = maps_find(ms, key, flags, value);
    if (rc > 0 && ext != NULL)
        buf_set(ext, left_out);
    return rc;
}

int maps_addr_find(struct maps *ms, const char *addr, const char *delims, int flags,
                   struct buf *value, struct buf *ext)
{
    struct buf user = BUF_INIT, xt = BUF_INIT, domain = BUF_INIT, key = BUF_INIT;
    struct buf left = BUF_INIT; /* the extension with its delimiter: "+foo" */
    const char *at = strrchr(addr, '@');
    int rc;

    if (ext != NULL)
        buf_reset(ext);
    if (ms->n == 0) {
        buf_reset(value);
        return 0;
    }
    /* 1. The address as it is: every table, pattern tables too. */
    if ((rc = find_key(ms, addr, 0, value, ext, "")) != 0)
        goto done;
    int split = addr_split_ext(addr, delims ? delims : "", &user, &xt, &domain);
    if (split) {
        buf_putc(&left, addr[user.len]);
        buf_append(&left, xt.data, xt.len);
    }
    if (at == NULL) {
        /* A bare local part: then without its extension. */
        if (split)
            rc = find_key(ms, user.data, MAPS_PARTIAL, value, ext, left.data);
        goto done;
    }
    /* 2. user@domain, when the address has an extension. */
    if (split) {
        buf_printf(&key, "%s@%s", user.data, domain.data);
        if ((rc = find_key(ms, key.data, MAPS_PARTIAL, value, ext, left.data)) != 0)
            goto done;
    }
    /* 3. The local part alone, for the caller's own domains only. */
    if (flags & MAPS_ADDR_LOCALPART) {
        buf_reset(&key);
        buf_append(&key, addr, (size_t)(at - addr));
        if ((rc = find_key(ms, key.data, MAPS_PARTIAL, value, ext, "")) != 0)
            goto done;
        if (split && (rc = find_key(ms, user.data, MAPS_PARTIAL, value, ext, left.data)) != 0)
            goto done;
    }
    /* 4. @domain: the extension is not "left out" by a catch-all. */
    rc = find_key(ms, at, MAPS_PARTIAL, value, ext, "");
done:
    if (rc <= 0) {
        buf_reset(value);
        if (ext != NULL)
            buf_reset(ext);
    }
    buf_free(&user);
    buf_free(&xt);
    buf_free(&domain);
    buf_free(&key);
    buf_free(&left);
    return rc;
}

/* next_item - the next address of a table value: separated by commas and
 * white space outside double quotes (a quoted local part may hold either).
 * NULL at the end. */
static const char *next_item(const char *p, struct buf *item)
{
    buf_reset(item);
    while (*p && strchr(MAPS_SEPARATORS, *p))
        p++;
    if (*p == 0)
        return NULL;
    int quoted = 0;
    for (; *p && (quoted || !strchr(MAPS_SEPARATORS, *p)); p++) {
        if (*p == '"') {
            quoted = !quoted;
        } else if (quoted && *p == '\\' && p[1] != 0) {
            buf_putc(item, *p++);
        }
        buf_putc(item, *p);
    }
    return p;
}

/* bad_item - the table gave something that is no address: a temporary
 * failure, so the admin fixes the table instead of mail going astray. */
static int bad_item(struct maps *ms, const char *key, const char *item, const char *reason)
{
    buf_setf(&ms->error, "%s: bad address \"%.100s\" in the result for %.100s: %s", ms->param, item,
             key, reason);
    return -1;
}

int maps_addr_map(struct maps *ms, const char *addr, const char *delims, int flags, int propagate,
                  struct argv *out)
{
    struct buf value = BUF_INIT, ext = BUF_INIT, item = BUF_INIT, one = BUF_INIT;
    struct buf res = BUF_INIT, why = BUF_INIT;
    int rc = maps_addr_find(ms, addr, delims, flags, &value, &ext);
    if (rc <= 0)
        goto out;

    /* addr's local part without the extension the key left out: what an
     * "@domain" result is put after. */
    const char *at = strrchr(addr, '@');
    size_t local_len = at ? (size_t)(at - addr) : strlen(addr);
    if (ext.len > 0 && ext.len <= local_len)
        local_len -= ext.len;

    struct argv *got = argv_alloc();
    const char *p = buf_cstr(&value);
    while ((p = next_item(p, &item)) != NULL) {
        const char *text = item.data;
        size_t n = item.len;
        /* Tolerate <addr>, the form an address takes in a header. */
        if (n >= 2 && text[0] == '<' && text[n - 1] == '>') {
            buf_reset(&one);
            buf_append(&one, text + 1, n - 2);
            buf_set(&item, buf_cstr(&one));
        }
        buf_reset(&why);
        if (addr_unquote(buf_cstr(&item), &one, &why) < 0) {
            rc = bad_item(ms, addr, buf_cstr(&item), buf_cstr(&why));
            break;
        }
        buf_reset(&res);
        if (one.len > 0 && one.data[0] == '@') {
            buf_append(&res, addr, local_len);
            buf_puts(&res, buf_cstr(&one));
        } else {
            buf_puts(&res, buf_cstr(&one));
        }
        if (res.len == 0 || strcmp(res.data, "@") == 0 || res.data[res.len - 1] == '@') {
            rc = bad_item(ms, addr, buf_cstr(&item), "empty address or domain");
            break;
        }
        if (propagate && ext.len > 0) {
            const char *rat = strrchr(res.data, '@');
            if (rat == NULL) {
                buf_append(&res, ext.data, ext.len);
            } else {
                buf_set(&one, rat);
                buf_truncate(&res, (size_t)(rat - res.data));
                buf_append(&res, ext.data, ext.len);
                buf_append(&res, one.data, one.len);
            }
        }
        if (res.len > ADDR_MAX_BYTES) {
            rc = bad_item(ms, addr, buf_cstr(&item), "address too long");
            break;
        }
        argv_add(got, res.data);
    }
    if (rc > 0) {
        for (size_t i = 0; i < got->argc; i++)
            argv_add(out, got->argv[i]);
        rc = got->argc > 0 ? 1 : 0;
    }
    argv_free(got);
out:
    buf_free(&value);
    buf_free(&ext);
    buf_free(&item);
    buf_free(&one);
    buf_free(&res);
    buf_free(&why);
    return rc;
}
