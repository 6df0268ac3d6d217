/* smtpd_check_access - the tables of smtpd's restrictions: the
 * check_*_access lookups in Postfix's key order, what a found value means
 * (access(5), parsed by lib/mail/access_result), and the "maps" lists
 * (local_recipient_maps, ...) with Postfix's address lookup order.
 *
 * Key order, as Postfix:
 *   host names and HELO: the name, then each parent domain ("parent" when
 *     parent_domain_matches_subdomains lists smtpd_access_maps, else
 *     ".parent"); no parents for an address
 *   client addresses: 192.0.2.1, 192.0.2, 192.0, 192 (IPv6 at ':')
 *   mail addresses (after resolving): user+ext@domain, user@domain, the
 *     domain and its parents, user+ext@, user@
 * Only the first key is asked of a pattern table (cidr, pcre, regexp).
 * A table that cannot be consulted answers 451 4.3.0, never "not found".
 */
#include "smtpd_check_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/addr.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"

/* ---- opened tables -------------------------------------------------------- */

struct map *chk_table(const char *spec)
{
    for (size_t i = 0; i < chk_cf.ntables; i++)
        if (strcmp(chk_cf.tables[i].spec, spec) == 0)
            return chk_cf.tables[i].map;
    return NULL;
}

int chk_table_open(const char *param, const char *spec, struct buf *why)
{
    struct buf w = BUF_INIT;
    struct map *m;

    if (chk_table(spec) != NULL)
        return 0;
    /* Opened now, before chroot; lookups later never open anything. */
    if ((m = map_open(spec, MAP_FOLD_CASE, &w)) == NULL) {
        buf_setf(why, "%s: %s", param, w.data);
        buf_free(&w);
        return -1;
    }
    buf_free(&w);
    chk_cf.tables = xreallocarray(chk_cf.tables, chk_cf.ntables + 1, sizeof(*chk_cf.tables));
    chk_cf.tables[chk_cf.ntables].spec = xstrdup(spec);
    chk_cf.tables[chk_cf.ntables].map = m;
    chk_cf.ntables++;
    return 0;
}

void chk_tables_free(void)
{
    for (size_t i = 0; i < chk_cf.ntables; i++) {
        free(chk_cf.tables[i].spec);
        map_close(chk_cf.tables[i].map);
    }
    free(chk_cf.tables);
    chk_cf.tables = NULL;
    chk_cf.ntables = 0;
}

/* ---- "maps" parameters ---------------------------------------------------- */

int chk_maps_open(struct maps *m, const char *param, const char *value, struct buf *why)
{
    return maps_open(m, param, value, MAP_FOLD_CASE, why);
}

void chk_maps_free(struct maps *m)
{
    maps_close(m);
}

int chk_maps_find(struct maps *m, const char *key, struct buf *value, struct buf *why)
{
    int rc = maps_find(m, key, 0, value);
    if (rc < 0)
        buf_set(why, maps_error(m));
    return rc;
}

int chk_addr_find(struct maps *m, const char *addr, int local, struct buf *value, struct buf *why)
{
    int rc =
        maps_addr_find(m, addr, chk_cf.rcpt_delim, local ? MAPS_ADDR_LOCALPART : 0, value, NULL);
    if (rc < 0)
        buf_set(why, maps_error(m));
    return rc;
}

/* ---- what a found value means ---------------------------------------------- */

static void set_reason(char **slot, const char *text)
{
    free(*slot);
    *slot = xstrdup(text);
}

static int table_result(struct chk *c, const char *table, const char *value, const char *reply_name,
                        const char *reply_class, enum chk_acl def_acl)
{
    struct access_result ar;
    struct buf t = BUF_INIT;
    int rc = SMTPD_CHECK_DUNNO;
    char dsn[ACCESS_DSN_MAX];

    access_result_init(&ar);
    access_result_parse(value, &ar);
    switch (ar.action) {
    case ACCESS_OK:
        rc = chk_permit(c, ar.word[0] ? ar.word : "OK", reply_class, reply_name, table);
        break;
    case ACCESS_DUNNO:
        break;
    case ACCESS_REJECT:
    case ACCESS_DEFER:
        rc = chk_reject(c, CHK_ERR_POLICY,
                        ar.action == ACCESS_REJECT ? chk_cf.access_map_reject_code
                                                   : chk_cf.access_map_defer_code,
                        ar.dsn[0]                    ? ar.dsn
                        : ar.action == ACCESS_REJECT ? "5.7.1"
                                                     : "4.7.1",
                        "<%s>: %s rejected: %s", reply_name, reply_class,
                        ar.text.len ? ar.text.data : "Access denied");
        break;
    case ACCESS_CODE:
        snprintf(dsn, sizeof(dsn), "%c.7.1", '0' + ar.code / 100);
        rc = chk_reject(c, CHK_ERR_POLICY, ar.code, ar.dsn[0] ? ar.dsn : dsn,
                        "<%s>: %s rejected: %s", reply_name, reply_class, ar.text.data);
        break;
    case ACCESS_DEFER_IF_PERMIT:
        rc = chk_defer_if_permit(c, chk_cf.access_map_defer_code, ar.dsn[0] ? ar.dsn : "4.7.1",
                                 "<%s>: %s rejected: %s", reply_name, reply_class,
                                 ar.text.len ? ar.text.data : "Service unavailable");
        break;
    case ACCESS_DEFER_IF_REJECT:
        rc = chk_defer_if_reject(c, chk_cf.access_map_defer_code, ar.dsn[0] ? ar.dsn : "4.7.1",
                                 "<%s>: %s rejected: %s", reply_name, reply_class,
                                 ar.text.len ? ar.text.data : "Service unavailable");
        break;
    case ACCESS_HOLD:
    case ACCESS_DISCARD: {
        int hold = ar.action == ACCESS_HOLD;
        /* Outside a transaction (smtpd_delay_reject = no, client or HELO
         * restrictions) there is no message to hold (Postfix). */
        if (c->st->sender == NULL) {
            msg_warn("access table %s: with smtpd_delay_reject=no, action %s is always skipped "
                     "in %s or %s restrictions",
                     table, hold ? "HOLD" : "DISCARD", CHK_CLIENT, CHK_HELO);
            break;
        }
        if (hold && c->st->hold)
            break; /* once per message */
        buf_printf(&t, "<%s>: %s %s", reply_name, reply_class,
                   ar.text.len ? ar.text.data
                   : hold      ? "triggers HOLD action"
                               : "triggers DISCARD action");
        chk_log(c, hold ? "hold" : "discard", t.data);
        if (hold) {
            c->st->hold = 1;
            set_reason(&c->st->hold_reason, t.data);
        } else {
            c->st->discard = 1;
            set_reason(&c->st->discard_reason, t.data);
            rc = chk_permit(c, "DISCARD", reply_class, reply_name, table);
        }
        break;
    }
    case ACCESS_WARN:
        chk_log(c, "warn", ar.text.data);
        break;
    case ACCESS_INFO:
        chk_log(c, "info", ar.text.data);
        break;
    case ACCESS_UNSUPPORTED:
        msg_warn("access table %s: action %s is not supported; entry \"%s\" ignored", table,
                 ar.word, value);
        break;
    case ACCESS_TABLE:
        msg_warn("access table %s has entry with lookup table: %s", table, value);
        msg_warn("do not specify lookup tables inside SMTPD access maps");
        msg_warn("define a restriction class and specify its name instead.");
        rc = chk_config_error(c);
        break;
    case ACCESS_EMPTY:
        msg_warn("access table %s entry has empty value", table);
        rc = SMTPD_CHECK_OK;
        break;
    case ACCESS_RESTRICTIONS:
        rc = chk_eval_text(c, ar.text.data, table, reply_name, reply_class, def_acl);
        break;
    }
    access_result_free(&ar);
    buf_free(&t);
    return rc;
}

/* lookup - one key in one table. *found says whether the table answered
 * (a failure counts: it decided with a 451). */
static int lookup(struct chk *c, const char *table, const char *key, int partial, int *found,
                  const char *reply_name, const char *reply_class, enum chk_acl def_acl)
{
    struct map *m = chk_table(table);
    struct buf value = BUF_INIT;
    int rc;

    *found = 0;
    if (m == NULL) { /* every table in a list was opened at init */
        msg_warn("access table %s was not opened", table);
        *found = 1;
        return chk_config_error(c);
    }
    if (partial && map_is_pattern(m))
        return SMTPD_CHECK_DUNNO;
    rc = map_lookup(m, key, &value);
    if (rc > 0) {
        *found = 1;
        rc = table_result(c, table, value.data, reply_name, reply_class, def_acl);
    } else if (rc < 0) {
        *found = 1;
        rc = chk_lookup_failed(c, reply_name, table, map_error(m));
    } else {
        rc = SMTPD_CHECK_DUNNO;
    }
    buf_free(&value);
    return rc;
}

static int domain_access(struct chk *c, const char *table, const char *domain, int *found,
                         const char *reply_name, const char *reply_class, enum chk_acl def_acl)
{
    const char *name = domain, *next;
    int partial = 0, rc;

    /* Numerical names get no subdomain magic. */
    int numeric = chk_valid_hostaddr(domain);
    for (; *name != 0; name = next) {
        rc = lookup(c, table, name, partial, found, reply_name, reply_class, def_acl);
        if (rc != SMTPD_CHECK_DUNNO || *found)
            return rc;
        if (numeric || (next = strchr(name + 1, '.')) == NULL)
            break;
        if (chk_cf.access_parent)
            next++;
        partial = 1;
    }
    return SMTPD_CHECK_DUNNO;
}

static int addr_access(struct chk *c, const char *table, const char *address, int *found,
                       const char *reply_name, const char *reply_class, enum chk_acl def_acl)
{
    char key[64];
    int delim = strchr(address, ':') ? ':' : '.';
    int partial = 0, rc;
    char *cut;

    if (strlen(address) >= sizeof(key))
        return SMTPD_CHECK_DUNNO;
    strcpy(key, address);
    do {
        rc = lookup(c, table, key, partial, found, reply_name, reply_class, def_acl);
        if (rc != SMTPD_CHECK_DUNNO || *found)
            return rc;
        partial = 1;
        if ((cut = strrchr(key, delim)) != NULL)
            *cut = 0;
    } while (cut != NULL && key[0] != 0);
    return SMTPD_CHECK_DUNNO;
}

int chk_client_access(struct chk *c, const char *table, int reverse, enum chk_acl def_acl)
{
    const char *name = reverse ? c->st->reverse_name : c->st->name;
    const char *reply_name = reverse ? c->st->reverse_name : c->st->namaddr;
    const char *reply_class = reverse ? CHK_REV_CLIENT : CHK_CLIENT;
    int found, rc;

    rc = domain_access(c, table, name, &found, reply_name, reply_class, def_acl);
    if (rc == SMTPD_CHECK_DUNNO && !found)
        rc = addr_access(c, table, c->st->addr, &found, reply_name, reply_class, def_acl);
    /* An unverified name must never allow anything (Postfix). */
    if (reverse && rc == SMTPD_CHECK_OK && !c->st->discard) {
        msg_warn("restriction check_reverse_client_hostname_access returns OK for %s", name);
        msg_warn("this is not allowed for security reasons");
        msg_warn("use DUNNO instead of OK if you want to make an exception");
        rc = chk_config_error(c);
    }
    return rc;
}

int chk_helo_access(struct chk *c, const char *table, enum chk_acl def_acl)
{
    int found;
    return domain_access(c, table, c->st->helo_name, &found, c->st->helo_name, CHK_HELO, def_acl);
}

int chk_mail_access(struct chk *c, const char *table, const char *addr, const char *reply_class,
                    enum chk_acl def_acl)
{
    struct chk_resolved res;
    struct buf why = BUF_INIT, user = BUF_INIT, ext = BUF_INIT, domain = BUF_INIT, key = BUF_INIT;
    int found = 0, rc = SMTPD_CHECK_DUNNO, split;
    const char *full, *dom;

    /* The null sender is looked up under smtpd_null_access_lookup_key. */
    if (*addr == 0) {
        rc = lookup(c, table, chk_cf.null_key, 0, &found, "", reply_class, def_acl);
        buf_free(&why);
        return rc;
    }
    chk_resolved_init(&res);
    if (chk_resolve(addr, &res, &why) < 0) {
        rc = chk_lookup_failed(c, addr, "address resolver", why.data);
        goto done;
    }
    full = res.addr.data;
    dom = full + res.at + 1;
    split = addr_split_ext(full, chk_cf.rcpt_delim, &user, &ext, &domain);

    /* user+ext@domain, then user@domain */
    rc = lookup(c, table, full, 0, &found, addr, reply_class, def_acl);
    if (!found && split) {
        buf_printf(&key, "%s@%s", user.data, dom);
        rc = lookup(c, table, key.data, 1, &found, addr, reply_class, def_acl);
    }
    /* the domain, then its parents */
    for (const char *name = dom; !found && *name != 0;) {
        const char *next;
        rc = lookup(c, table, name, 1, &found, addr, reply_class, def_acl);
        if (found || *dom == '[' || (next = strchr(name + 1, '.')) == NULL)
            break;
        name = chk_cf.access_parent ? next + 1 : next;
    }
    /* user+ext@, then user@ */
    if (!found) {
        buf_reset(&key);
        buf_append(&key, full, res.at + 1);
        rc = lookup(c, table, key.data, 1, &found, addr, reply_class, def_acl);
    }
    if (!found && split) {
        buf_reset(&key);
        buf_printf(&key, "%s@", user.data);
        rc = lookup(c, table, key.data, 1, &found, addr, reply_class, def_acl);
    }
    /* Sender-specified routing to elsewhere is too suspicious for an OK
     * (Postfix: a recipient whose local part still routes). */
    if (rc == SMTPD_CHECK_OK && strcmp(reply_class, CHK_RECIPIENT) == 0 && res.routed &&
        !chk_cf.allow_untrusted_routing)
        rc = SMTPD_CHECK_DUNNO;
done:
    chk_resolved_free(&res);
    buf_free(&why);
    buf_free(&user);
    buf_free(&ext);
    buf_free(&domain);
    buf_free(&key);
    return rc;
}
