/* smtp_tls_policy - the TLS level and options the smtp client demands of
 * a next hop: smtp_tls_policy_maps entries (Postfix's TLS policy table
 * syntax and lookup order), else smtp_tls_security_level
 * (smtp_tls_policy.h). */
#include "mail/smtp_tls_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/alloc.h"
#include "util/strutil.h"

/* Postfix splits a policy entry at white space and commas. */
#define POLICY_SEP " \t\r\n,"
/* longest key we build or value we take: far beyond any real one */
#define POLICY_TEXT_MAX 4096
#define HOSTNAME_MAX    253

static const char *const level_names[] = {
    [SMTP_TLS_NONE] = "none",     [SMTP_TLS_MAY] = "may",       [SMTP_TLS_ENCRYPT] = "encrypt",
    [SMTP_TLS_VERIFY] = "verify", [SMTP_TLS_SECURE] = "secure",
};

int smtp_tls_level_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

const char *smtp_tls_level_name(enum smtp_tls_level level)
{
    if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
        return level_names[level];
    return "unknown";
}

void smtp_tls_policy_free(struct smtp_tls_policy *p)
{
    for (size_t i = 0; i < SMTP_TLS_MATCH_MAX + 1; i++) {
        free(p->match[i]);
        p->match[i] = NULL;
    }
    free(p->protocols);
    free(p->ciphers);
    free(p->servername);
    p->protocols = p->ciphers = p->servername = NULL;
}

static void policy_init(struct smtp_tls_policy *p, const char *source)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->source, sizeof(p->source), "%s", source);
}

/* valid_hostname - letters, digits, '-' and '.' in labels of 1..63 bytes,
 * at most 253 bytes (RFC 1035 2.3.4). Decides whether a next hop is a
 * domain (parent domains are tried) or a literal such as "[host]:port"
 * (looked up exactly), and whether servername= names a host. */
static int valid_hostname(const char *s)
{
    size_t len = strlen(s), label = 0;

    if (len == 0 || len > HOSTNAME_MAX || s[0] == '.' || s[len - 1] == '.')
        return 0;
    for (const char *cp = s; *cp; cp++) {
        unsigned char c = (unsigned char)*cp;
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '-' || c == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

/* add_match - one more name for the certificate check: "nexthop" and
 * "dot-nexthop" become the next-hop domain, "hostname" stays a keyword. */
static int add_match(struct smtp_tls_policy *p, size_t *n, const char *name, const char *domain,
                     struct buf *why)
{
    char *v;

    if (*n >= SMTP_TLS_MATCH_MAX) {
        buf_setf(why, "too many match names (at most %d)", SMTP_TLS_MATCH_MAX);
        return -1;
    }
    if (strcasecmp(name, "nexthop") == 0 || strcasecmp(name, "dot-nexthop") == 0) {
        if (domain == NULL || *domain == 0) {
            buf_setf(why, "match \"%s\" without a next-hop domain", name);
            return -1;
        }
        struct buf b = BUF_INIT;
        buf_printf(&b, "%s%s", name[0] == 'd' || name[0] == 'D' ? "." : "", domain);
        v = buf_steal(&b);
    } else if (strcasecmp(name, "hostname") == 0) {
        v = xstrdup("hostname");
    } else {
        v = xstrdup(name);
    }
    p->match[(*n)++] = v;
    return 0;
}

/* add_matches - a ':' separated match list. */
static int add_matches(struct smtp_tls_policy *p, size_t *n, const char *list, const char *domain,
                       struct buf *why)
{
    char *copy = xstrdup(list), *cp = copy, *name;
    int rc = 0;

    while (rc == 0 && (name = str_token(&cp, ":")) != NULL)
        rc = add_match(p, n, name, domain, why);
    free(copy);
    return rc;
}

/* set_once - an attribute that may be given once only. */
static int set_once(char **slot, const char *name, const char *val, struct buf *why)
{
    if (*slot != NULL) {
        buf_setf(why, "attribute \"%s\" is specified multiple times", name);
        return -1;
    }
    *slot = xstrdup(val);
    return 0;
}

/* parse_attr - one "name=value" of a policy entry (Postfix
 * tls_policy_lookup_one), with n the match names so far. */
static int parse_attr(struct smtp_tls_policy *p, size_t *n, int *excluded, char *tok,
                      const char *domain, struct buf *why)
{
    char *eq = strchr(tok, '=');
    const char *name = tok, *val;

    if (eq == NULL || eq == tok) {
        buf_setf(why, "malformed attribute/value pair \"%.100s\"", tok);
        return -1;
    }
    *eq = 0;
    val = eq + 1;
    if (strcasecmp(name, "match") == 0) {
        if (p->level < SMTP_TLS_VERIFY) {
            buf_setf(why, "attribute \"match\" invalid at security level \"%s\"",
                     smtp_tls_level_name(p->level));
            return -1;
        }
        if (*val == 0) {
            buf_setf(why, "attribute \"match\" has empty value");
            return -1;
        }
        return add_matches(p, n, val, domain, why);
    }
    if (strcasecmp(name, "exclude") == 0) {
        /* recorded for compatibility: the cipher list is the grade's */
        if (*excluded) {
            buf_setf(why, "attribute \"exclude\" is specified multiple times");
            return -1;
        }
        *excluded = 1;
        return 0;
    }
    if (strcasecmp(name, "ciphers") == 0) {
        if (*val == 0) {
            buf_setf(why, "attribute \"ciphers\" has empty value");
            return -1;
        }
        return set_once(&p->ciphers, "ciphers", val, why);
    }
    if (strcasecmp(name, "protocols") == 0)
        return set_once(&p->protocols, "protocols", val, why);
    if (strcasecmp(name, "servername") == 0) {
        if (!valid_hostname(val)) {
            buf_setf(why, "\"servername=%.100s\" specifies an invalid hostname", val);
            return -1;
        }
        return set_once(&p->servername, "servername", val, why);
    }
    buf_setf(why, "unknown attribute \"%.100s\"", name);
    return -1;
}

/* finish - the level's default match names, and "" for what was not set. */
static int finish(struct smtp_tls_policy *p, size_t n, const char *domain, struct buf *why)
{
    if (n == 0 && p->level == SMTP_TLS_VERIFY && add_match(p, &n, "hostname", domain, why) < 0)
        return -1;
    if (n == 0 && p->level == SMTP_TLS_SECURE &&
        (add_match(p, &n, "nexthop", domain, why) < 0 ||
         add_match(p, &n, "dot-nexthop", domain, why) < 0))
        return -1;
    if (p->protocols == NULL)
        p->protocols = xstrdup("");
    if (p->ciphers == NULL)
        p->ciphers = xstrdup("");
    if (p->servername == NULL)
        p->servername = xstrdup("");
    return 0;
}

int smtp_tls_policy_parse(const char *value, const char *nexthop_domain, struct smtp_tls_policy *p,
                          struct buf *why)
{
    char *copy, *cp, *tok;
    size_t n = 0;
    int excluded = 0, level, rc = 0;

    policy_init(p, "smtp_tls_policy_maps");
    if (strlen(value) > POLICY_TEXT_MAX) {
        buf_setf(why, "TLS policy too long");
        return -1;
    }
    cp = copy = xstrdup(value);
    if ((tok = str_token(&cp, POLICY_SEP)) == NULL) {
        buf_setf(why, "empty TLS policy");
        rc = -1;
    } else if ((level = smtp_tls_level_parse(tok)) < 0) {
        buf_setf(why, "invalid TLS security level \"%.100s\"", tok);
        rc = -1;
    } else {
        p->level = (enum smtp_tls_level)level;
        while (rc == 0 && (tok = str_token(&cp, POLICY_SEP)) != NULL)
            rc = parse_attr(p, &n, &excluded, tok, nexthop_domain, why);
        if (rc == 0)
            rc = finish(p, n, nexthop_domain, why);
    }
    free(copy);
    if (rc < 0)
        smtp_tls_policy_free(p);
    return rc;
}

/* lookup_one - one key; 1 found (p set), 0 not found, -1 + why. */
static int lookup_one(struct maps *maps, const char *key, const char *domain,
                      struct smtp_tls_policy *p, struct buf *why)
{
    struct buf value = BUF_INIT, reason = BUF_INIT;
    int rc = maps_find(maps, key, 0, &value);

    if (rc < 0) {
        buf_setf(why, "TLS policy lookup for %s: %s", key, maps_error(maps));
    } else if (rc > 0) {
        if (buf_has_nul(&value) || smtp_tls_policy_parse(value.data, domain, p, &reason) < 0) {
            buf_setf(why, "invalid TLS policy for %s in %s: %s", key,
                     maps->param ? maps->param : "smtp_tls_policy_maps",
                     reason.len ? reason.data : "NUL in value");
            rc = -1;
        }
    }
    buf_free(&value);
    buf_free(&reason);
    return rc;
}

int smtp_tls_policy_find(struct maps *maps, const char *nexthop, const char *domain,
                         const char *default_level, struct smtp_tls_policy *p, struct buf *why)
{
    int rc = 0, level;

    /* p is safe to free whatever happens below */
    policy_init(p, "smtp_tls_policy_maps");
    if (domain == NULL || *domain == 0)
        domain = nexthop;
    if (maps != NULL && maps->n > 0 && nexthop != NULL && *nexthop != 0) {
        if (strlen(nexthop) > POLICY_TEXT_MAX) {
            buf_setf(why, "next hop too long for a TLS policy lookup");
            return -1;
        }
        if (!valid_hostname(nexthop)) {
            /* "[host]:port", "[host]", "host:port": that key only */
            rc = lookup_one(maps, nexthop, domain, p, why);
        } else {
            /* the domain, then ".parent" for each parent (Postfix
             * tls_policy_lookup: a dot key matches subdomains only) */
            const char *key = nexthop;
            do {
                rc = lookup_one(maps, key, domain, p, why);
            } while (rc == 0 && (key = strchr(key + 1, '.')) != NULL);
        }
        if (rc != 0)
            return rc > 0 ? 0 : -1;
    }

    /* smtp_tls_security_level: "" means none, as in Postfix */
    policy_init(p, "smtp_tls_security_level");
    if (default_level == NULL || *default_level == 0) {
        level = SMTP_TLS_NONE;
    } else if ((level = smtp_tls_level_parse(default_level)) < 0) {
        buf_setf(why, "invalid smtp_tls_security_level value \"%.100s\"", default_level);
        return -1;
    }
    p->level = (enum smtp_tls_level)level;
    if (finish(p, 0, domain, why) < 0) {
        smtp_tls_policy_free(p);
        return -1;
    }
    return 0;
}
