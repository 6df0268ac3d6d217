/* map_ldap - ldap: tables (Postfix's ldap_table(5)), through OpenLDAP's
 * libldap; man/man5/ldap_table.5 is the admin's manual.
 *
 * "ldap:/etc/postern/ldap-aliases.cf" names a file of "name = value"
 * parameters (main.cf syntax) saying where the directory is and how to
 * turn a key into a search and the entries found into a result. This
 * header holds the parser of that file, a pure function for unit tests
 * and fuzzers; the table type itself is map_ldap_ops (map_types.h).
 *
 * Connections are shared: every ldap: table of a process whose server and
 * bind and TLS settings are the same uses one LDAP handle (map_ldap_cf_id
 * says which are the same), opened at the first lookup and replaced when
 * it fails.
 */
#ifndef MAPS_MAP_LDAP_H
#define MAPS_MAP_LDAP_H

#include <stddef.h>

#include "util/argv.h"
#include "util/buf.h"

enum map_ldap_scope { MAP_LDAP_SCOPE_BASE, MAP_LDAP_SCOPE_ONE, MAP_LDAP_SCOPE_SUB };

/* The parameters of one .cf file, defaults filled in. */
struct map_ldap_cf {
    char *server_host;  /* as written */
    struct argv *uris;  /* server_host as LDAP URLs, in fail-over order */
    long server_port;   /* 389 */
    long timeout;       /* 10 (seconds; network and search) */
    char *search_base;  /* "" (a template, DN-quoted) */
    int scope;          /* enum map_ldap_scope: sub */
    char *query_filter; /* "mailacceptinggeneralid=%s" (a template) */
    char *result_format;
    struct argv *result_attr;   /* "maildrop" */
    struct argv *special_attr;  /* DN (or LDAP URL) valued: searched recursively */
    struct argv *terminal_attr; /* if an entry has these, only these count */
    struct argv *leaf_attr;     /* only from entries without special values */
    char *domain;               /* NULL: every key; else a domain list */
    int bind;                   /* 0 none, 1 simple (Postfix default "yes") */
    char *bind_dn;
    char *bind_pw; /* never logged */
    long version;  /* 3 */
    int start_tls;
    char *tls_ca_cert_file, *tls_ca_cert_dir, *tls_cert, *tls_key, *tls_cipher_suite;
    int tls_require_cert; /* 0 as Postfix: the certificate is not checked */
    long dereference;     /* 0..3: LDAP_DEREF_* */
    int chase_referrals;
    long recursion_limit; /* 1000 */
    long expansion_limit; /* 0: no limit */
    long size_limit;      /* default: expansion_limit */
};

/* map_ldap_cf_parse - parse len bytes of a .cf file named origin into cf
 * (overwritten). Unknown or ignored parameter names add a warning
 * ("origin:line: ...") to warnings (may be NULL). 0, or -1 + why
 * ("origin:line: reason"; nothing to free then). */
int map_ldap_cf_parse(struct map_ldap_cf *cf, const char *text, size_t len, const char *origin,
                      struct argv *warnings, struct buf *why);
void map_ldap_cf_free(struct map_ldap_cf *cf);

/* map_ldap_cf_id - into out (reset first): the settings that make a
 * connection (servers, port, timeout, version, bind, TLS, dereference,
 * referrals). Tables with equal ids share one. Holds bind_pw: never log it. */
void map_ldap_cf_id(const struct map_ldap_cf *cf, struct buf *out);

#endif
