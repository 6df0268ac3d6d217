/* fuzz_smtp_tls_policy - libFuzzer target for TLS policy entries and their
 * lookup. The input is "nexthop\nkey\nvalue": a table type registered here
 * answers value for key only, so the lookup walk (exact key, domain,
 * ".parent" keys) and the entry parser both see hostile text. Checked: a
 * result is a known level with a bounded, NULL-terminated match list of
 * non-empty names free of separators and set strings; a failure has a
 * reason and leaves nothing allocated to leak (LeakSanitizer). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_tls_policy.h"
#include "util/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *fz_key, *fz_value;

static int fz_open(struct map *m, struct buf *why)
{
    return 0;
}

static int fz_lookup(struct map *m, const char *key, struct buf *value)
{
    if (strcmp(key, "fail") == 0)
        return map_set_error(m, "fuzz failure");
    if (fz_key == NULL || strcmp(key, fz_key) != 0)
        return 0;
    buf_set(value, fz_value);
    return 1;
}

static const struct map_ops fz_ops = {.type = "fuzz", .open = fz_open, .lookup = fz_lookup};

/* check_policy - names from the entry are split at separators; the
 * next-hop domain (the caller's) is taken as it is, so only a clean domain
 * lets the separator check apply. */
static void check_policy(const struct smtp_tls_policy *p, const char *domain)
{
    size_t i;
    int clean = strpbrk(domain, " \t\r\n,:") == NULL;
    if ((int)p->level < SMTP_TLS_NONE || p->level > SMTP_TLS_SECURE)
        abort();
    if (p->protocols == NULL || p->ciphers == NULL || p->servername == NULL)
        abort();
    for (i = 0; i <= SMTP_TLS_MATCH_MAX && p->match[i] != NULL; i++)
        if (p->match[i][0] == 0 || (clean && strpbrk(p->match[i], " \t\r\n,:") != NULL))
            abort();
    if (i > SMTP_TLS_MATCH_MAX || p->match[SMTP_TLS_MATCH_MAX] != NULL)
        abort();
    if (p->level < SMTP_TLS_VERIFY && p->match[0] != NULL)
        abort();
    if (p->level >= SMTP_TLS_VERIFY && p->match[0] == NULL)
        abort();
    if (strpbrk(p->protocols, " \t\r\n,") || strpbrk(p->ciphers, " \t\r\n,"))
        abort();
}

static void check_failed(const struct smtp_tls_policy *p, const struct buf *why)
{
    if (why->len == 0)
        abort();
    for (size_t i = 0; i <= SMTP_TLS_MATCH_MAX; i++)
        if (p->match[i] != NULL)
            abort();
    if (p->protocols || p->ciphers || p->servername)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct maps ms;
    static int ready;
    struct smtp_tls_policy p;
    struct buf why = BUF_INIT;

    if (!ready) {
        map_register(&fz_ops);
        if (maps_open(&ms, "smtp_tls_policy_maps", "fuzz:x", MAP_FOLD_CASE, &why) < 0)
            abort();
        ready = 1;
    }
    char *text = xmemdup(data, size);
    char *nexthop = text, *nl;
    fz_key = fz_value = NULL;
    if ((nl = strchr(nexthop, '\n')) != NULL) {
        *nl = 0;
        fz_key = nl + 1;
        if ((nl = strchr(fz_key, '\n')) != NULL) {
            *nl = 0;
            fz_value = nl + 1;
        } else {
            fz_value = "";
        }
    }
    /* the domain part as the smtp client passes it: no brackets, no port */
    char *domain = xstrdup(nexthop[0] == '[' ? nexthop + 1 : nexthop);
    domain[strcspn(domain, nexthop[0] == '[' ? "]" : ":")] = 0;

    if (smtp_tls_policy_find(&ms, nexthop, domain, "may", &p, &why) == 0)
        check_policy(&p, domain);
    else if (why.len == 0)
        abort();
    smtp_tls_policy_free(&p);

    buf_reset(&why);
    if (fz_value != NULL) {
        if (smtp_tls_policy_parse(fz_value, domain, &p, &why) == 0)
            check_policy(&p, domain);
        else
            check_failed(&p, &why);
        smtp_tls_policy_free(&p);
    }
    free(text);
    free(domain);
    buf_free(&why);
    return 0;
}
