/* local_env - the command environment, prepended headers and
 * command_execution_directory expansion of local(8) deliveries. See
 * local_env.h.
 */
#include "mail/local_env.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/addr.h"
#include "util/alloc.h"

void local_env_censor(const char *value, const char *filter, struct buf *out)
{
    size_t n = strnlen(value, LOCAL_ENV_VALUE_MAX);

    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        /* The filter is configuration, but a control byte in it must
         * still never reach a command. */
        buf_putc(out, c >= 0x20 && c != 0x7f && strchr(filter, c) ? c : '_');
    }
}

static int valid_name(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* Set NAME=value (value already clean), replacing an earlier NAME. */
static void env_set(struct argv *env, const char *name, size_t name_len, const char *value)
{
    struct buf s = BUF_INIT;
    buf_append(&s, name, name_len);
    buf_putc(&s, '=');
    buf_puts(&s, value);
    for (size_t i = 0; i < env->argc; i++) {
        if (strncmp(env->argv[i], name, name_len) == 0 && env->argv[i][name_len] == '=') {
            free(env->argv[i]);
            env->argv[i] = buf_steal(&s);
            return;
        }
    }
    argv_add(env, buf_cstr(&s));
    buf_free(&s);
}

static void env_set_censored(struct argv *env, const char *name, const char *value,
                             const char *filter)
{
    struct buf v = BUF_INIT;
    local_env_censor(value, filter, &v);
    env_set(env, name, strlen(name), buf_cstr(&v));
    buf_free(&v);
}

/* An exported value comes from our own environment (master's
 * import_environment), not from mail; still, no control byte goes on. */
static void env_set_exported(struct argv *env, const char *name, size_t name_len, const char *value)
{
    struct buf v = BUF_INIT;
    size_t n = strnlen(value, LOCAL_ENV_VALUE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        buf_putc(&v, c < 0x20 || c == 0x7f ? '_' : c);
    }
    env_set(env, name, name_len, buf_cstr(&v));
    buf_free(&v);
}

static const char *parent_get(char *const *parent, const char *name, size_t n)
{
    if (parent == NULL)
        return NULL;
    for (char *const *pp = parent; *pp; pp++)
        if (strncmp(*pp, name, n) == 0 && (*pp)[n] == '=')
            return *pp + n + 1;
    return NULL;
}

struct argv *local_env_build(const struct local_env_attr *a, const char *export_list,
                             char *const *parent, const char *filter)
{
    struct argv *env = argv_alloc();
    struct argv *words = argv_split(export_list ? export_list : "", ", \t\r\n");

    for (size_t i = 0; i < words->argc; i++) {
        const char *w = words->argv[i];
        const char *eq = strchr(w, '=');
        size_t n = eq ? (size_t)(eq - w) : strlen(w);
        if (!valid_name(w, n))
            continue;
        const char *value = eq ? eq + 1 : parent_get(parent, w, n);
        if (value)
            env_set_exported(env, w, n, value);
    }
    argv_free(words);

    env_set(env, "PATH", 4, LOCAL_ENV_PATH);
    if (a->home)
        env_set_censored(env, "HOME", a->home, filter);
    env_set_censored(env, "LOGNAME", a->user ? a->user : "", filter);
    env_set_censored(env, "USER", a->user ? a->user : "", filter);
    env_set_censored(env, "SENDER", a->sender ? a->sender : "", filter);
    env_set_censored(env, "RECIPIENT", a->recipient ? a->recipient : "", filter);
    env_set_censored(env, "LOCAL", a->local ? a->local : "", filter);
    if (a->shell)
        env_set_censored(env, "SHELL", a->shell, filter);
    if (a->domain && *a->domain)
        env_set_censored(env, "DOMAIN", a->domain, filter);
    if (a->extension && *a->extension)
        env_set_censored(env, "EXTENSION", a->extension, filter);
    if (a->orig && *a->orig)
        env_set_censored(env, "ORIGINAL_RECIPIENT", a->orig, filter);
    return env;
}

const char *local_env_get(const struct argv *env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < env->argc; i++)
        if (strncmp(env->argv[i], name, n) == 0 && env->argv[i][n] == '=')
            return env->argv[i] + n + 1;
    return NULL;
}

/* An address in external form; a control byte (the queue file never
 * holds one, invariant 2) could start a header of its own, so it goes. */
static void put_addr(struct buf *out, const char *addr)
{
    struct buf q = BUF_INIT, why = BUF_INIT;
    const char *s = addr;
    if (addr_quote_local(addr, &q, &why) == 0)
        s = buf_cstr(&q);
    size_t n = strnlen(s, LOCAL_ENV_VALUE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf_putc(out, c < 0x20 || c == 0x7f ? '?' : c);
    }
    buf_free(&q);
    buf_free(&why);
}

void local_env_headers(int mask, const char *sender, const char *orig, const char *delivered,
                       struct buf *out)
{
    buf_reset(out);
    if (mask & LOCAL_HDR_RETURN_PATH) {
        buf_puts(out, "Return-Path: <");
        if (sender && *sender)
            put_addr(out, sender);
        buf_puts(out, ">\n");
    }
    if ((mask & LOCAL_HDR_ORIG_RCPT) && orig && *orig) {
        buf_puts(out, "X-Original-To: ");
        put_addr(out, orig);
        buf_putc(out, '\n');
    }
    if ((mask & LOCAL_HDR_DELIVERED) && delivered) {
        buf_puts(out, "Delivered-To: ");
        put_addr(out, delivered);
        buf_putc(out, '\n');
    }
}

int local_env_delivered_mask(const char *value, struct buf *why)
{
    static const struct {
        const char *word;
        int bit;
    } words[] = {
        {"command", LOCAL_DELIVERED_COMMAND},
        {"file", LOCAL_DELIVERED_FILE},
        {"forward", LOCAL_DELIVERED_FORWARD},
    };
    struct argv *list = argv_split(value ? value : "", ", \t\r\n");
    int mask = 0;

    for (size_t i = 0; i < list->argc; i++) {
        size_t k;
        for (k = 0; k < sizeof(words) / sizeof(words[0]); k++)
            if (strcasecmp(list->argv[i], words[k].word) == 0)
                break;
        if (k == sizeof(words) / sizeof(words[0])) {
            buf_setf(why, "unknown prepend_delivered_header value: \"%s\"", list->argv[i]);
            argv_free(list);
            return -1;
        }
        mask |= words[k].bit;
    }
    argv_free(list);
    return mask;
}

static const char *attr_value(const struct local_env_attr *a, const char *name, size_t n)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    const char *v;
    if (IS("user"))
        v = a->user;
    else if (IS("home"))
        v = a->home;
    else if (IS("shell"))
        v = a->shell;
    else if (IS("recipient"))
        v = a->recipient;
    else if (IS("extension"))
        v = a->extension;
    else if (IS("domain"))
        v = a->domain;
    else if (IS("local"))
        v = a->local;
    else if (IS("recipient_delimiter"))
        v = a->delimiter;
    else
        return NULL;
#undef IS
    return v ? v : "";
}

int local_env_expand(const char *pattern, const struct local_env_attr *a, const char *filter,
                     struct buf *out, struct buf *why)
{
    struct buf v = BUF_INIT;
    const char *cp = pattern;

    buf_reset(out);
    while (*cp) {
        if (*cp != '$') {
            buf_putc(out, *cp++);
            continue;
        }
        cp++;
        if (*cp == '$') {
            buf_putc(out, *cp++);
            continue;
        }
        const char *name, *text = NULL;
        size_t n, text_len = 0;
        int op = 0;
        if (*cp == '{') {
            const char *end = strchr(cp, '}');
            if (end == NULL)
                goto bad;
            name = cp + 1;
            n = strcspn(name, "?:}");
            if (name[n] == '?' || name[n] == ':') {
                op = name[n];
                text = name + n + 1;
                text_len = (size_t)(end - text);
            }
            cp = end + 1;
        } else {
            name = cp;
            n = 0;
            while ((cp[n] >= 'a' && cp[n] <= 'z') || (cp[n] >= 'A' && cp[n] <= 'Z') ||
                   (cp[n] >= '0' && cp[n] <= '9') || cp[n] == '_')
                n++;
            cp += n;
        }
        const char *value = n ? attr_value(a, name, n) : NULL;
        if (value == NULL) {
            buf_setf(why, "unknown or bad $name in \"%s\"", pattern);
            buf_free(&v);
            return -1;
        }
        if (op == '?') {
            if (*value)
                buf_append(out, text, text_len);
        } else if (op == ':') {
            if (*value == 0)
                buf_append(out, text, text_len);
        } else {
            local_env_censor(value, filter, &v);
            buf_append(out, buf_cstr(&v), v.len);
        }
    }
    buf_free(&v);
    return 0;

bad:
    buf_setf(why, "missing '}' in \"%s\"", pattern);
    buf_free(&v);
    return -1;
}
