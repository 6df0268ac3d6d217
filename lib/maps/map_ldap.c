/* map_ldap - ldap: tables through OpenLDAP's libldap (map_ldap.h; the
 * admin's manual is ldap_table(5)).
 *
 * A lookup: the domain restriction (map_query), the key expanded into
 * query_filter and search_base with RFC 4515 / RFC 4514 quoting, one
 * search, then per entry the values of the result attributes through
 * result_format, joined with ","; DNs (or LDAP URLs) in the special result
 * attributes are searched in turn, up to recursion_limit deep. No value is
 * "not found".
 *
 * Connections: one LDAP handle per distinct connection id (servers, bind,
 * TLS, ...), shared by every table of the process that has the same id and
 * counted by references. It is opened at the first lookup that needs it.
 * When the server is down, the connection broke or an operation timed out,
 * the handle is dropped; a lookup that was using an older handle is then
 * tried once more on a new one (the server restarted since the last
 * lookup). A lookup that still fails answers -1, and the next one connects
 * again, so a long-running process recovers by itself.
 *
 * libldap writes to its socket with write(2): a server that went away
 * would kill the process with SIGPIPE. SIGPIPE is blocked during LDAP calls
 * and one raised there is discarded.
 */
#include "maps/map_ldap.h"

#include "maps/map_file.h"
#include "maps/map_query.h"
#include "maps/map_types.h"
#include "util/alloc.h"
#include "util/msg.h"

#include <ldap.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define LDAP_MAX_KEY    2048       /* longer keys are not found */
#define LDAP_MAX_RESULT (1L << 20) /* a longer result is an error */
#define LDAP_MAX_CF     (1L << 20) /* the .cf file */
#define LDAP_ANY_FILTER "(objectClass=*)"
/* Groups that contain each other multiply the searches of one lookup
 * without producing values (expansion_limit never trips): bound the work. */
#define LDAP_MAX_SEARCHES 10000

/* A shared connection. */
struct ldap_conn {
    struct ldap_conn *next;
    char *id; /* map_ldap_cf_id; holds bind_pw */
    int refs;
    LDAP *ld; /* NULL: not connected */
};

static struct ldap_conn *ldap_conns;

struct ldap_table {
    struct map_ldap_cf cf;
    struct ldap_conn *conn;
    struct map_query_domain *domain; /* NULL: every key */
    char **attrs;                    /* every attribute a search asks for */
};

/* One lookup in progress. */
struct ldap_lookup {
    struct map *m;
    struct ldap_table *t;
    LDAP *ld;
    const char *key;
    struct buf result;
    long count;    /* values in result */
    long searches; /* made so far */
    int lost;      /* the connection is unusable: drop it */
};

/* ---- SIGPIPE ---- */

struct pipe_guard {
    sigset_t old;
    int was_pending;
};

static void pipe_block(struct pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    g->was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, &g->old);
}

static void pipe_unblock(struct pipe_guard *g)
{
    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    if (!g->was_pending && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        const struct timespec zero = {0, 0};
        (void)sigtimedwait(&set, NULL, &zero);
    }
    sigprocmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- errors ---- */

/* ldap_why - "what: LDAP error[: server's message]" as the table's error;
 * returns -1. The server's text is cut short and cleaned of control bytes:
 * it ends up in log lines. */
static int ldap_why(struct ldap_lookup *q, const char *what, int rc)
{
    char *diag = NULL;
    struct buf clean = BUF_INIT;
    /* libldap's "(unknown error code)" (a failed TLS handshake) says nothing. */
    if (q->ld != NULL && ldap_get_option(q->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == 0 &&
        diag != NULL && strcmp(diag, "(unknown error code)") != 0) {
        for (size_t i = 0; diag[i] != 0 && i < 200; i++) {
            unsigned char c = (unsigned char)diag[i];
            buf_putc(&clean, c < 0x20 || c == 0x7f ? '?' : c);
        }
    }
    map_set_error(q->m, "table %s: %s: %s%s%s", q->m->spec, what, ldap_err2string(rc),
                  clean.len ? ": " : "", buf_cstr(&clean));
    ldap_memfree(diag);
    buf_free(&clean);
    if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT ||
        rc == LDAP_LOCAL_ERROR || rc == LDAP_ENCODING_ERROR || rc == LDAP_DECODING_ERROR)
        q->lost = 1;
    return -1;
}

/* ---- connections ---- */

static struct ldap_conn *conn_get(const struct map_ldap_cf *cf)
{
    struct buf id = BUF_INIT;
    map_ldap_cf_id(cf, &id);
    for (struct ldap_conn *c = ldap_conns; c != NULL; c = c->next) {
        if (strcmp(c->id, buf_cstr(&id)) == 0) {
            c->refs++;
            buf_free(&id);
            return c;
        }
    }
    struct ldap_conn *c = xcalloc(1, sizeof(*c));
    c->id = buf_steal(&id);
    c->refs = 1;
    c->next = ldap_conns;
    ldap_conns = c;
    return c;
}

static void conn_drop(struct ldap_conn *c)
{
    if (c->ld != NULL)
        ldap_unbind_ext_s(c->ld, NULL, NULL);
    c->ld = NULL;
}

static void conn_put(struct ldap_conn *c)
{
    if (--c->refs > 0)
        return;
    for (struct ldap_conn **pp = &ldap_conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    conn_drop(c);
    explicit_bzero(c->id, strlen(c->id)); /* the password */
    free(c->id);
    free(c);
}

/* set_opt - ldap_set_option that names what failed; -1. */
static int set_opt(struct ldap_lookup *q, int opt, const void *value, const char *name)
{
    if (ldap_set_option(q->ld, opt, value) != LDAP_OPT_SUCCESS)
        return map_set_error(q->m, "table %s: libldap rejects the setting of %s", q->m->spec, name);
    return 0;
}

static int set_tls(struct ldap_lookup *q, const struct map_ldap_cf *cf)
{
    int req = cf->tls_require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER, zero = 0;
    const struct {
        int opt;
        const char *value, *name;
    } files[] = {
        {LDAP_OPT_X_TLS_CACERTFILE, cf->tls_ca_cert_file, "tls_ca_cert_file"},
        {LDAP_OPT_X_TLS_CACERTDIR, cf->tls_ca_cert_dir, "tls_ca_cert_dir"},
        {LDAP_OPT_X_TLS_CERTFILE, cf->tls_cert, "tls_cert"},
        {LDAP_OPT_X_TLS_KEYFILE, cf->tls_key, "tls_key"},
        {LDAP_OPT_X_TLS_CIPHER_SUITE, cf->tls_cipher_suite, "tls_cipher_suite"},
    };
    if (set_opt(q, LDAP_OPT_X_TLS_REQUIRE_CERT, &req, "tls_require_cert") < 0)
        return -1;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (files[i].value[0] != 0 && set_opt(q, files[i].opt, files[i].value, files[i].name) < 0)
            return -1;
    /* The options above apply to this handle only once it has its own
     * TLS context. */
    return set_opt(q, LDAP_OPT_X_TLS_NEWCTX, &zero, "TLS setup");
}

/* conn_open - connect, STARTTLS and bind as the table says; 0, or -1 with
 * the table's error set (the handle is then not kept). */
static int conn_open(struct ldap_lookup *q)
{
    const struct map_ldap_cf *cf = &q->t->cf;
    struct buf uris = BUF_INIT, what = BUF_INIT;
    int version = (int)cf->version, deref = (int)cf->dereference, rc, tls = cf->start_tls;
    struct timeval tv = {cf->timeout, 0};

    for (size_t i = 0; i < cf->uris->argc; i++) {
        buf_printf(&uris, "%s%s", i ? " " : "", cf->uris->argv[i]);
        tls |= strncasecmp(cf->uris->argv[i], "ldaps:", 6) == 0;
    }
    q->ld = NULL;
    if ((rc = ldap_initialize(&q->ld, buf_cstr(&uris))) != LDAP_SUCCESS) {
        buf_printf(&what, "server_host %s", buf_cstr(&uris));
        ldap_why(q, buf_cstr(&what), rc);
        goto fail;
    }
    if (set_opt(q, LDAP_OPT_PROTOCOL_VERSION, &version, "version") < 0 ||
        set_opt(q, LDAP_OPT_NETWORK_TIMEOUT, &tv, "timeout") < 0 ||
        set_opt(q, LDAP_OPT_TIMEOUT, &tv, "timeout") < 0 ||
        set_opt(q, LDAP_OPT_DEREF, &deref, "dereference") < 0 ||
        set_opt(q, LDAP_OPT_REFERRALS, cf->chase_referrals ? LDAP_OPT_ON : LDAP_OPT_OFF,
                "chase_referrals") < 0 ||
        set_opt(q, LDAP_OPT_RESTART, LDAP_OPT_ON, "restart") < 0 || (tls && set_tls(q, cf) < 0))
        goto fail;
    if ((rc = ldap_connect(q->ld)) != LDAP_SUCCESS) {
        buf_printf(&what, "connect to %s", buf_cstr(&uris));
        ldap_why(q, buf_cstr(&what), rc);
        goto fail;
    }
    if (cf->start_tls && (rc = ldap_start_tls_s(q->ld, NULL, NULL)) != LDAP_SUCCESS) {
        ldap_why(q, "start_tls", rc);
        goto fail;
    }
    if (cf->bind) {
        struct berval cred = {strlen(cf->bind_pw), cf->bind_pw};
        rc = ldap_sasl_bind_s(q->ld, cf->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
        if (rc != LDAP_SUCCESS) {
            buf_printf(&what, "bind as \"%s\"", cf->bind_dn);
            ldap_why(q, buf_cstr(&what), rc);
            goto fail;
        }
    }
    buf_free(&uris);
    buf_free(&what);
    q->t->conn->ld = q->ld;
    return 0;
fail:
    if (q->ld != NULL)
        ldap_unbind_ext_s(q->ld, NULL, NULL);
    q->ld = NULL;
    buf_free(&uris);
    buf_free(&what);
    return -1;
}

/* ---- results ---- */

static int search(struct ldap_lookup *q, const char *base, int scope, const char *filter,
                  char **attrs, long depth);

/* add_value - one attribute value through result_format into the result. */
static int add_value(struct ldap_lookup *q, const struct berval *bv, const char *attr)
{
    const struct map_ldap_cf *cf = &q->t->cf;
    if (bv->bv_len == 0)
        return 0;
    if (memchr(bv->bv_val, 0, bv->bv_len) || memchr(bv->bv_val, '\n', bv->bv_len) ||
        memchr(bv->bv_val, '\r', bv->bv_len) || bv->bv_len > LDAP_MAX_RESULT) {
        msg_warn("table %s: key \"%s\": skipping a value of %s with a NUL, CR or LF byte, "
                 "or too long",
                 q->m->spec, q->key, attr);
        return 0;
    }
    char *v = xmemdup(bv->bv_val, bv->bv_len);
    size_t before = q->result.len;
    if (before > 0)
        buf_putc(&q->result, ',');
    int r = map_query_expand(&q->result, cf->result_format, v, q->key, MAP_QUOTE_NONE);
    free(v);
    if (r <= 0 || q->result.len == before + (before > 0)) {
        buf_truncate(&q->result, before); /* %d of an unqualified value, ...: skipped */
        return 0;
    }
    if (q->result.len > LDAP_MAX_RESULT)
        return map_set_error(q->m, "table %s: key \"%s\": result longer than %ld bytes", q->m->spec,
                             q->key, LDAP_MAX_RESULT);
    if (++q->count > cf->expansion_limit && cf->expansion_limit > 0)
        return map_set_error(q->m, "table %s: key \"%s\": result exceeds expansion_limit %ld",
                             q->m->spec, q->key, cf->expansion_limit);
    return 0;
}

/* add_attrs - the values of the named attributes of entry e: the number of
 * values present, or -1. */
static long add_attrs(struct ldap_lookup *q, LDAPMessage *e, const struct argv *names)
{
    long present = 0;
    for (size_t i = 0; i < names->argc; i++) {
        struct berval **vals = ldap_get_values_len(q->ld, e, names->argv[i]);
        int rc = 0;
        for (size_t j = 0; vals != NULL && vals[j] != NULL && rc == 0; j++, present++)
            rc = add_value(q, vals[j], names->argv[i]);
        ldap_value_free_len(vals);
        if (rc < 0)
            return -1;
    }
    return present;
}

/* in_list - is name (case-insensitively) in the NULL-terminated list? */
static int in_list(char **list, const char *name)
{
    for (; *list != NULL; list++)
        if (strcasecmp(*list, name) == 0)
            return 1;
    return 0;
}

/* follow - a special attribute's value: a DN, searched with scope base,
 * or an LDAP URL, searched as it says for the attributes that it names
 * and the table asks for. */
static int follow(struct ldap_lookup *q, const char *v, long depth)
{
    LDAPURLDesc *lud = NULL;
    if (!ldap_is_ldap_url(v))
        return search(q, v, LDAP_SCOPE_BASE, LDAP_ANY_FILTER, q->t->attrs, depth);
    if (ldap_url_parse(v, &lud) != LDAP_URL_SUCCESS) {
        msg_warn("table %s: key \"%s\": skipping bad LDAP URL \"%s\"", q->m->spec, q->key, v);
        return 0;
    }
    struct argv *attrs = argv_alloc();
    for (size_t i = 0; lud->lud_attrs != NULL && lud->lud_attrs[i] != NULL; i++)
        if (in_list(q->t->attrs, lud->lud_attrs[i]))
            argv_add(attrs, lud->lud_attrs[i]);
    int rc = 0;
    if (lud->lud_attrs == NULL || attrs->argc > 0)
        rc = search(q, lud->lud_dn ? lud->lud_dn : "",
                    lud->lud_scope < 0 ? LDAP_SCOPE_BASE : lud->lud_scope,
                    lud->lud_filter ? lud->lud_filter : LDAP_ANY_FILTER,
                    lud->lud_attrs ? attrs->argv : q->t->attrs, depth);
    argv_free(attrs);
    ldap_free_urldesc(lud);
    return rc;
}

static int entry(struct ldap_lookup *q, LDAPMessage *e, long depth)
{
    const struct map_ldap_cf *cf = &q->t->cf;
    long n;
    /* An entry with terminal attributes yields those and nothing else. */
    if ((n = add_attrs(q, e, cf->terminal_attr)) != 0)
        return n < 0 ? -1 : 0;
    int special = 0;
    for (size_t i = 0; i < cf->special_attr->argc && !special; i++) {
        struct berval **vals = ldap_get_values_len(q->ld, e, cf->special_attr->argv[i]);
        special = vals != NULL && vals[0] != NULL;
        ldap_value_free_len(vals);
    }
    if (add_attrs(q, e, cf->result_attr) < 0 || (!special && add_attrs(q, e, cf->leaf_attr) < 0))
        return -1;
    for (size_t i = 0; i < cf->special_attr->argc; i++) {
        struct berval **vals = ldap_get_values_len(q->ld, e, cf->special_attr->argv[i]);
        int rc = 0;
        for (size_t j = 0; vals != NULL && vals[j] != NULL && rc == 0; j++) {
            if (depth + 1 > cf->recursion_limit) {
                rc = map_set_error(q->m, "table %s: key \"%s\": recursion_limit %ld exceeded",
                                   q->m->spec, q->key, cf->recursion_limit);
            } else if (memchr(vals[j]->bv_val, 0, vals[j]->bv_len) == NULL) {
                char *v = xmemdup(vals[j]->bv_val, vals[j]->bv_len);
                rc = follow(q, v, depth + 1);
                free(v);
            }
        }
        ldap_value_free_len(vals);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* search - one search, its entries added to the result; 0 or -1. At depth
 * 0 a missing search base is "no entries", deeper a dangling DN is
 * skipped: both are answers, not failures. */
static int search(struct ldap_lookup *q, const char *base, int scope, const char *filter,
                  char **attrs, long depth)
{
    const struct map_ldap_cf *cf = &q->t->cf;
    struct timeval tv = {cf->timeout, 0};
    LDAPMessage *res = NULL;
    if (++q->searches > LDAP_MAX_SEARCHES)
        return map_set_error(q->m,
                             "table %s: key \"%s\": more than %d searches (do groups "
                             "contain each other?)",
                             q->m->spec, q->key, LDAP_MAX_SEARCHES);
    int rc = ldap_search_ext_s(q->ld, base, scope, filter, attrs, 0, NULL, NULL, &tv,
                               (int)cf->size_limit, &res);
    if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
        struct buf what = BUF_INIT;
        buf_printf(&what, "search base \"%s\" filter \"%s\"", base, filter);
        ldap_why(q, buf_cstr(&what), rc);
        buf_free(&what);
        ldap_msgfree(res);
        return -1;
    }
    for (LDAPMessage *e = ldap_first_entry(q->ld, res); e != NULL && rc != -1;
         e = ldap_next_entry(q->ld, e))
        rc = entry(q, e, depth);
    ldap_msgfree(res);
    return rc == -1 ? -1 : 0;
}

/* ---- map_ops ---- */

static int ldap_scope(int scope)
{
    return scope == MAP_LDAP_SCOPE_BASE  ? LDAP_SCOPE_BASE
           : scope == MAP_LDAP_SCOPE_ONE ? LDAP_SCOPE_ONELEVEL
                                         : LDAP_SCOPE_SUBTREE;
}

static int ldap_lookup(struct map *m, const char *key, struct buf *value)
{
    struct ldap_table *t = m->priv;
    struct ldap_lookup q = {.m = m, .t = t, .key = key};
    struct buf filter = BUF_INIT, base = BUF_INIT, why = BUF_INIT;
    struct pipe_guard guard;
    int rc = 0;

    if (key[0] == 0 || strlen(key) > LDAP_MAX_KEY)
        return 0;
    if (t->domain != NULL && (rc = map_query_domain_check(t->domain, key, &why)) <= 0) {
        if (rc < 0)
            map_set_error(m, "table %s: domain: %s", m->spec, buf_cstr(&why));
        buf_free(&why);
        return rc;
    }
    rc = 0;
    if (map_query_expand(&filter, t->cf.query_filter, key, key, MAP_QUOTE_LDAP_FILTER) <= 0 ||
        map_query_expand(&base, t->cf.search_base, key, key, MAP_QUOTE_LDAP_DN) <= 0)
        goto out; /* a part the templates use is missing: no query */
    pipe_block(&guard);
    for (int attempt = 0;; attempt++) {
        int fresh = t->conn->ld == NULL;
        q.lost = 0;
        q.count = q.searches = 0;
        buf_reset(&q.result);
        if (fresh && conn_open(&q) < 0) {
            rc = -1;
            break;
        }
        q.ld = t->conn->ld;
        rc = search(&q, buf_cstr(&base), ldap_scope(t->cf.scope), buf_cstr(&filter), t->attrs, 0);
        if (rc < 0 && q.lost) {
            conn_drop(t->conn);
            if (!fresh && attempt == 0)
                continue; /* a handle from before the server went away */
        }
        break;
    }
    pipe_unblock(&guard);
    if (rc == 0 && q.result.len > 0) {
        buf_append(value, q.result.data, q.result.len);
        rc = 1;
    }
out:
    buf_free(&q.result);
    buf_free(&filter);
    buf_free(&base);
    buf_free(&why);
    return rc;
}

static void table_free(struct ldap_table *t)
{
    if (t->conn != NULL)
        conn_put(t->conn);
    map_query_domain_free(t->domain);
    free(t->attrs);
    if (t->cf.bind_pw != NULL)
        explicit_bzero(t->cf.bind_pw, strlen(t->cf.bind_pw));
    map_ldap_cf_free(&t->cf);
    free(t);
}

static int ldap_open(struct map *m, struct buf *why)
{
    struct buf text = BUF_INIT, reason = BUF_INIT;
    struct argv *warnings = argv_alloc();
    struct ldap_table *t = xcalloc(1, sizeof(*t));
    int rc = -1;

    if (m->name[0] == 0) {
        buf_setf(why, "%s: missing file name", m->spec);
        goto out;
    }
    map_watch(m, m->name);
    if (map_file_read(m->name, &text, why) < 0)
        goto out;
    if (text.len > LDAP_MAX_CF) {
        buf_setf(why, "%s: longer than %ld bytes", m->name, LDAP_MAX_CF);
        goto out;
    }
    if (map_ldap_cf_parse(&t->cf, text.data ? text.data : "", text.len, m->name, warnings, why) < 0)
        goto out;
    for (size_t i = 0; i < warnings->argc; i++)
        msg_warn("%s", warnings->argv[i]);
    if (t->cf.domain != NULL && t->cf.domain[0] != 0 &&
        (t->domain = map_query_domain_create("domain", t->cf.domain, &reason)) == NULL) {
        buf_setf(why, "%s: %s", m->name, buf_cstr(&reason));
        goto out;
    }
    const struct argv *lists[] = {t->cf.result_attr, t->cf.special_attr, t->cf.terminal_attr,
                                  t->cf.leaf_attr};
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        n += lists[i]->argc;
    t->attrs = xcalloc(n + 1, sizeof(*t->attrs));
    n = 0;
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < lists[i]->argc; j++)
            t->attrs[n++] = lists[i]->argv[j];
    t->conn = conn_get(&t->cf);
    m->priv = t;
    rc = 0;
out:
    if (rc < 0)
        table_free(t);
    if (text.data != NULL)
        explicit_bzero(text.data, text.len); /* bind_pw */
    buf_free(&text);
    buf_free(&reason);
    argv_free(warnings);
    return rc;
}

static void ldap_close(struct map *m)
{
    struct pipe_guard guard;
    pipe_block(&guard); /* an unbind writes to the socket */
    table_free(m->priv);
    pipe_unblock(&guard);
    m->priv = NULL;
}

const struct map_ops map_ldap_ops = {
    .type = "ldap",
    .flags = 0,
    .open = ldap_open,
    .lookup = ldap_lookup,
    .close = ldap_close,
};
