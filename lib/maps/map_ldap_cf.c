/* map_ldap_cf - the parameter file of an ldap: table (map_ldap.h): main.cf
 * syntax, Postfix's ldap_table(5) names and defaults, every value checked
 * when the table is opened so that a typo fails map_open with FILE:LINE
 * instead of failing every lookup later. */
#include "maps/map_ldap.h"

#include "conf/config.h"
#include "maps/map_query.h"
#include "util/alloc.h"
#include "util/strutil.h"

#include <ldap.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LDAP_CF_MAX_HOSTS 32
#define LDAP_CF_MAX_HOST  255

enum cf_kind { CF_STR, CF_LIST, CF_NUM, CF_TIME, CF_BOOL, CF_SCOPE, CF_BIND, CF_IGNORED };

struct cf_param {
    const char *name;
    enum cf_kind kind;
    size_t off; /* offsetof the field in struct map_ldap_cf */
    long min, max;
};

#define F(field) offsetof(struct map_ldap_cf, field)

static const struct cf_param cf_params[] = {
    {"server_host", CF_STR, F(server_host), 0, 0},
    {"server_port", CF_NUM, F(server_port), 1, 65535},
    {"timeout", CF_TIME, F(timeout), 1, 3600},
    {"search_base", CF_STR, F(search_base), 0, 0},
    {"scope", CF_SCOPE, F(scope), 0, 0},
    {"query_filter", CF_STR, F(query_filter), 0, 0},
    {"result_format", CF_STR, F(result_format), 0, 0},
    {"result_attribute", CF_LIST, F(result_attr), 0, 0},
    {"special_result_attribute", CF_LIST, F(special_attr), 0, 0},
    {"terminal_result_attribute", CF_LIST, F(terminal_attr), 0, 0},
    {"leaf_result_attribute", CF_LIST, F(leaf_attr), 0, 0},
    {"domain", CF_STR, F(domain), 0, 0},
    {"bind", CF_BIND, F(bind), 0, 0},
    {"bind_dn", CF_STR, F(bind_dn), 0, 0},
    {"bind_pw", CF_STR, F(bind_pw), 0, 0},
    {"version", CF_NUM, F(version), 2, 3},
    {"start_tls", CF_BOOL, F(start_tls), 0, 0},
    {"tls_ca_cert_file", CF_STR, F(tls_ca_cert_file), 0, 0},
    {"tls_ca_cert_dir", CF_STR, F(tls_ca_cert_dir), 0, 0},
    {"tls_cert", CF_STR, F(tls_cert), 0, 0},
    {"tls_key", CF_STR, F(tls_key), 0, 0},
    {"tls_cipher_suite", CF_STR, F(tls_cipher_suite), 0, 0},
    {"tls_require_cert", CF_BOOL, F(tls_require_cert), 0, 0},
    {"dereference", CF_NUM, F(dereference), 0, 3},
    {"chase_referrals", CF_BOOL, F(chase_referrals), 0, 0},
    {"recursion_limit", CF_NUM, F(recursion_limit), 1, 100000},
    {"expansion_limit", CF_NUM, F(expansion_limit), 0, 1000000},
    {"size_limit", CF_NUM, F(size_limit), 0, 1000000},
    /* Postfix names that change nothing here: accepted with a warning. */
    {"cache", CF_IGNORED, 0, 0, 0},
    {"cache_expiry", CF_IGNORED, 0, 0, 0},
    {"cache_size", CF_IGNORED, 0, 0, 0},
    {"debuglevel", CF_IGNORED, 0, 0, 0},
    {"tls_random_file", CF_IGNORED, 0, 0, 0},
};

#undef F

void map_ldap_cf_free(struct map_ldap_cf *cf)
{
    for (size_t i = 0; i < sizeof(cf_params) / sizeof(cf_params[0]); i++) {
        void *field = (char *)cf + cf_params[i].off;
        if (cf_params[i].kind == CF_STR) {
            free(*(char **)field);
        } else if (cf_params[i].kind == CF_LIST) {
            if (*(struct argv **)field != NULL)
                argv_free(*(struct argv **)field);
        }
    }
    if (cf->uris != NULL)
        argv_free(cf->uris);
    memset(cf, 0, sizeof(*cf));
}

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

static void set_list(struct argv **field, const char *value)
{
    if (*field != NULL)
        argv_free(*field);
    *field = argv_split(value, ", \t\r\n");
}

static void defaults(struct map_ldap_cf *cf)
{
    memset(cf, 0, sizeof(*cf));
    cf->server_host = xstrdup("localhost");
    cf->server_port = 389;
    cf->timeout = 10;
    cf->search_base = xstrdup("");
    cf->scope = MAP_LDAP_SCOPE_SUB;
    cf->query_filter = xstrdup("mailacceptinggeneralid=%s");
    cf->result_attr = argv_split("maildrop", ",");
    cf->special_attr = argv_alloc();
    cf->terminal_attr = argv_alloc();
    cf->leaf_attr = argv_alloc();
    cf->bind = 1;
    cf->bind_dn = xstrdup("");
    cf->bind_pw = xstrdup("");
    cf->version = 3;
    cf->tls_ca_cert_file = xstrdup("");
    cf->tls_ca_cert_dir = xstrdup("");
    cf->tls_cert = xstrdup("");
    cf->tls_key = xstrdup("");
    cf->tls_cipher_suite = xstrdup("");
    cf->recursion_limit = 1000;
    cf->size_limit = -1; /* not set: $expansion_limit */
}

/* set_param - one "name = value"; 0, 1 unknown name, -1 + why (no prefix). */
static int set_param(struct map_ldap_cf *cf, const char *name, const char *value, struct buf *why)
{
    const struct cf_param *p = NULL;
    for (size_t i = 0; i < sizeof(cf_params) / sizeof(cf_params[0]); i++)
        if (strcmp(cf_params[i].name, name) == 0)
            p = &cf_params[i];
    if (p == NULL)
        return 1;
    void *field = (char *)cf + p->off;
    long n;
    int b = 0;
    switch (p->kind) {
    case CF_STR:
        set_str(field, value);
        return 0;
    case CF_LIST:
        set_list(field, value);
        return 0;
    case CF_NUM:
    case CF_TIME:
        if ((p->kind == CF_NUM ? str_to_long(value, p->min, p->max, &n)
                               : str_to_time(value, 's', &n)) < 0 ||
            n < p->min || n > p->max) {
            buf_setf(why, "%s: bad value \"%s\": want a number from %ld to %ld", name, value,
                     p->min, p->max);
            return -1;
        }
        *(long *)field = n;
        return 0;
    case CF_BOOL:
        if (str_to_bool(value, &b) < 0) {
            buf_setf(why, "%s: bad value \"%s\": want yes or no", name, value);
            return -1;
        }
        *(int *)field = b;
        return 0;
    case CF_SCOPE:
        if (strcasecmp(value, "sub") == 0)
            cf->scope = MAP_LDAP_SCOPE_SUB;
        else if (strcasecmp(value, "one") == 0)
            cf->scope = MAP_LDAP_SCOPE_ONE;
        else if (strcasecmp(value, "base") == 0)
            cf->scope = MAP_LDAP_SCOPE_BASE;
        else {
            buf_setf(why, "scope: bad value \"%s\": want sub, one or base", value);
            return -1;
        }
        return 0;
    case CF_BIND:
        /* Postfix's yes/no, and the names of what they do. */
        if (strcasecmp(value, "simple") == 0 || str_to_bool(value, &b) == 0) {
            cf->bind = strcasecmp(value, "simple") == 0 || b;
        } else if (strcasecmp(value, "none") == 0) {
            cf->bind = 0;
        } else {
            buf_setf(why, "bind: bad value \"%s\": want none (no), or simple (yes)%s", value,
                     strcasecmp(value, "sasl") == 0 ? "; SASL binds are not supported" : "");
            return -1;
        }
        return 0;
    case CF_IGNORED:
        return 2;
    }
    return 1;
}

/* host_uri - one server_host word as an LDAP URL; -1 + why. */
static int host_uri(const char *word, long port, struct argv *uris, struct buf *why)
{
    struct buf uri = BUF_INIT;
    if (strstr(word, "://") != NULL) {
        LDAPURLDesc *lud = NULL;
        if ((strncasecmp(word, "ldap://", 7) != 0 && strncasecmp(word, "ldaps://", 8) != 0 &&
             strncasecmp(word, "ldapi://", 8) != 0) ||
            ldap_url_parse(word, &lud) != LDAP_URL_SUCCESS) {
            buf_setf(why, "server_host: bad LDAP URL \"%s\"", word);
            return -1;
        }
        ldap_free_urldesc(lud);
        argv_add(uris, word);
        return 0;
    }
    /* host, host:port, [v6], [v6]:port */
    const char *host = word, *colon, *end;
    size_t hlen;
    if (*word == '[') {
        end = strchr(word, ']');
        if (end == NULL || end == word + 1 ||
            strspn(word + 1, "0123456789abcdefABCDEF:.") != (size_t)(end - word - 1)) {
            buf_setf(why, "server_host: bad address \"%s\"", word);
            return -1;
        }
        hlen = (size_t)(end - word) + 1;
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != 0 && colon == NULL) {
            buf_setf(why, "server_host: text after ']' in \"%s\"", word);
            return -1;
        }
    } else {
        colon = strchr(word, ':');
        hlen = colon ? (size_t)(colon - word) : strlen(word);
        if (hlen == 0 || strspn(word, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789.-_") != hlen) {
            buf_setf(why, "server_host: bad host name \"%s\"", word);
            return -1;
        }
    }
    if (hlen > LDAP_CF_MAX_HOST) {
        buf_setf(why, "server_host: host name too long");
        return -1;
    }
    if (colon != NULL && (!str_alldig(colon + 1) || str_to_long(colon + 1, 1, 65535, &port) < 0)) {
        buf_setf(why, "server_host: bad port in \"%s\"", word);
        return -1;
    }
    buf_printf(&uri, "ldap://%.*s:%ld", (int)hlen, host, port);
    argv_add(uris, buf_cstr(&uri));
    buf_free(&uri);
    return 0;
}

/* check - the rules between parameters; -1 + why ("name: reason"). */
static int check(struct map_ldap_cf *cf, struct buf *why)
{
    struct buf reason = BUF_INIT;
    struct argv *words = argv_split(cf->server_host, ", \t\r\n");
    int rc = -1;
    cf->uris = argv_alloc();
    if (words->argc == 0) {
        buf_setf(why, "server_host: empty");
        goto out;
    }
    if (words->argc > LDAP_CF_MAX_HOSTS) {
        buf_setf(why, "server_host: more than %d servers", LDAP_CF_MAX_HOSTS);
        goto out;
    }
    for (size_t i = 0; i < words->argc; i++) {
        if (host_uri(words->argv[i], cf->server_port, cf->uris, why) < 0)
            goto out;
        if (strncasecmp(words->argv[i], "ldaps:", 6) == 0 && (cf->start_tls || cf->version < 3)) {
            buf_setf(why, "server_host: %s needs version = 3 and no start_tls", words->argv[i]);
            goto out;
        }
    }
    if (cf->start_tls && cf->version < 3) {
        buf_setf(why, "start_tls: needs version = 3");
        goto out;
    }
    const char *tpl[][2] = {{"query_filter", cf->query_filter},
                            {"result_format", cf->result_format},
                            {"search_base", cf->search_base}};
    for (size_t i = 0; i < 3; i++) {
        if (map_query_check(tpl[i][1], &reason) < 0) {
            buf_setf(why, "%s: %s", tpl[i][0], buf_cstr(&reason));
            goto out;
        }
    }
    if (cf->query_filter[0] == 0) {
        buf_setf(why, "query_filter: empty");
        goto out;
    }
    if (cf->result_attr->argc + cf->special_attr->argc + cf->terminal_attr->argc +
            cf->leaf_attr->argc ==
        0) {
        buf_setf(why, "result_attribute: empty, and no other result attributes");
        goto out;
    }
    if ((cf->tls_cert[0] == 0) != (cf->tls_key[0] == 0)) {
        buf_setf(why, "%s: set tls_cert and tls_key together",
                 cf->tls_cert[0] ? "tls_cert" : "tls_key");
        goto out;
    }
    if (cf->size_limit < 0)
        cf->size_limit = cf->expansion_limit;
    rc = 0;
out:
    argv_free(words);
    buf_free(&reason);
    return rc;
}

int map_ldap_cf_parse(struct map_ldap_cf *cf, const char *text, size_t len, const char *origin,
                      struct argv *warnings, struct buf *why)
{
    struct config *c = config_alloc();
    struct buf reason = BUF_INIT, w = BUF_INIT;
    const char *result_filter = NULL;
    int rc = -1;
    defaults(cf);
    if (config_parse(c, text, len, origin, why) < 0)
        goto out;
    for (size_t i = 0; i < c->count; i++) {
        const struct config_entry *e = &c->ents[i];
        int r;
        /* The pre-2.2 name of result_format, used only when that is unset. */
        if (strcmp(e->name, "result_filter") == 0) {
            result_filter = e->value;
            continue;
        }
        if ((r = set_param(cf, e->name, e->value, &reason)) < 0) {
            buf_setf(why, "%s:%d: %s", origin, e->line, buf_cstr(&reason));
            goto out;
        }
        if (r > 0 && warnings != NULL) {
            buf_setf(&w, "%s:%d: %s parameter \"%s\"", origin, e->line,
                     r == 1 ? "unknown" : "ignoring unsupported", e->name);
            argv_add(warnings, buf_cstr(&w));
        }
    }
    if (cf->result_format == NULL)
        cf->result_format = xstrdup(result_filter ? result_filter : "%s");
    if (check(cf, &reason) < 0) {
        /* The line of the parameter the reason names, when it was set. */
        const char *colon = strchr(buf_cstr(&reason), ':');
        char *name = xstrndup(buf_cstr(&reason), colon ? (size_t)(colon - reason.data) : 0);
        const struct config_entry *e = config_find(c, name);
        if (e != NULL)
            buf_setf(why, "%s:%d: %s", origin, e->line, buf_cstr(&reason));
        else
            buf_setf(why, "%s: %s", origin, buf_cstr(&reason));
        free(name);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        map_ldap_cf_free(cf);
    config_free(c);
    buf_free(&reason);
    buf_free(&w);
    return rc;
}

void map_ldap_cf_id(const struct map_ldap_cf *cf, struct buf *out)
{
    buf_reset(out);
    for (size_t i = 0; i < cf->uris->argc; i++)
        buf_printf(out, "%s ", cf->uris->argv[i]);
    buf_printf(out, "\n%ld\n%ld\n%d\n%s\n%s\n%d\n%s\n%s\n%s\n%s\n%s\n%d\n%ld\n%d", cf->timeout,
               cf->version, cf->bind, cf->bind_dn, cf->bind_pw, cf->start_tls, cf->tls_ca_cert_file,
               cf->tls_ca_cert_dir, cf->tls_cert, cf->tls_key, cf->tls_cipher_suite,
               cf->tls_require_cert, cf->dereference, cf->chase_referrals);
}
