/* smtpd_check_init - reading the restriction configuration once per
 * process (smtpd_check_init, smtpd_check_free): the restriction lists and
 * classes, every table they name (opened here, before chroot), the host
 * and domain lists, the recipient tables and the reply codes.
 */
#include "smtpd_check_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/mail_conf.h"
#include "maps/map_proxy.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/msg.h"

/* ---- init ----------------------------------------------------------------- */

int smtpd_check_mynetworks(struct smtpd_state *st)
{
    struct buf why = BUF_INIT;
    int m;
    if (!chk_ready)
        return 0;
    m = match_list_host(chk_cf.mynetworks, st->name, st->addr, &why);
    if (m < 0)
        msg_warn("mynetworks: %s", buf_cstr(&why));
    buf_free(&why);
    return m;
}

static int in_list(const char *list, const char *word)
{
    struct argv *a = argv_split(list, ", \t\r\n");
    int found = 0;
    for (size_t i = 0; i < a->argc && !found; i++)
        found = strcasecmp(a->argv[i], word) == 0;
    argv_free(a);
    return found;
}

static int code(const char *name)
{
    long v = conf_int(name);
    return v < 0 || v > 999 ? 0 : (int)v; /* chk_reject reports a bad code */
}

static int parse_list(const char *param, const char *value, struct restriction_list *out,
                      struct buf *why)
{
    struct buf w = BUF_INIT;
    if (restriction_list_parse(value, chk_arg_of, NULL, out, &w) < 0) {
        buf_setf(why, "%s: %s", param, w.data);
        buf_free(&w);
        return -1;
    }
    buf_free(&w);
    for (size_t i = 0; i < out->count; i++) {
        const struct restriction *r = &out->items[i];
        if ((r->name[0] == 0 || chk_arg_of(NULL, r->name) == RESTRICTION_TABLE) &&
            chk_table_open(param, r->arg, why) < 0)
            return -1;
        /* DNS list arguments "zone=pattern": check the pattern now. */
        if (r->name[0] != 0 && chk_arg_of(NULL, r->name) == RESTRICTION_WORD &&
            strchr(r->arg, '=') != NULL && chk_ip_match(strchr(r->arg, '=') + 1, "0.0.0.0") < 0) {
            buf_setf(why, "%s: %s %s: bad reply pattern", param, r->name, r->arg);
            return -1;
        }
    }
    return 0;
}

/* has_relay_control - Postfix insists that the relay or recipient
 * restrictions can refuse mail (has_required). */
static int has_relay_control(const struct restriction_list *l, int depth)
{
    if (depth > 20)
        return 0;
    for (size_t i = 0; i < l->count; i++) {
        const struct restriction *r = &l->items[i];
        const struct chk_class_def *cls;
        if (r->name[0] == 0)
            continue;
        if (strcasecmp(r->name, "warn_if_reject") == 0 && i + 1 < l->count) {
            i++;
            continue;
        }
        if (strcasecmp(r->name, "permit") == 0)
            return 0;
        if (chk_relay_control(r->name))
            return 1;
        if ((cls = chk_find_class(r->name)) != NULL && has_relay_control(&cls->list, depth + 1))
            return 1;
    }
    return 0;
}

static int open_domains(struct match_list **out, const char *param, const char *parent_list,
                        struct buf *why)
{
    struct buf w = BUF_INIT;
    int flags = in_list(parent_list, param) ? MATCH_FLAG_PARENT : 0;
    *out = match_list_create(param, conf_str(param), flags, &w);
    if (*out == NULL) {
        buf_setf(why, "%s", w.data);
        buf_free(&w);
        return -1;
    }
    buf_free(&w);
    return 0;
}

static int read_classes(struct buf *why)
{
    struct argv *names = argv_split(conf_str("smtpd_restriction_classes"), ", \t\r\n");
    struct buf value = BUF_INIT, w = BUF_INIT;
    int rc = 0;

    chk_cf.classes = xcalloc(names->argc ? names->argc : 1, sizeof(*chk_cf.classes));
    for (size_t i = 0; i < names->argc; i++) {
        chk_cf.classes[chk_cf.nclasses].name = xstrdup(names->argv[i]);
        chk_cf.nclasses++;
    }
    for (size_t i = 0; i < chk_cf.nclasses && rc == 0; i++) {
        const char *name = chk_cf.classes[i].name;
        if (config_lookup(mail_conf, name, &value, &w) < 0 || value.len == 0) {
            buf_setf(why, "smtpd_restriction_classes: restriction class `%s' needs a definition",
                     name);
            rc = -1;
        } else {
            rc = parse_list(name, value.data, &chk_cf.classes[i].list, why);
        }
    }
    argv_free(names);
    buf_free(&value);
    buf_free(&w);
    return rc;
}

static int open_maps(struct maps *m, const char *param, struct buf *why)
{
    return chk_maps_open(m, param, conf_str(param), why);
}

int smtpd_check_init(struct buf *why)
{
    const char *parent = conf_str("parent_domain_matches_subdomains");
    struct resolve_params rp = {0};
    struct buf w = BUF_INIT;
    struct maps *maps[] = {&chk_cf.local_rcpt,     &chk_cf.virt_alias, &chk_cf.virt_mailbox,
                           &chk_cf.relay_rcpt,     &chk_cf.canonical,  &chk_cf.rcpt_canonical,
                           &chk_cf.send_canonical, &chk_cf.rbl_reply,  &chk_cf.sender_login};
    const char *map_params[] = {
        "local_recipient_maps",  "virtual_alias_maps", "virtual_mailbox_maps",
        "relay_recipient_maps",  "canonical_maps",     "recipient_canonical_maps",
        "sender_canonical_maps", "rbl_reply_maps",     "smtpd_sender_login_maps"};

    smtpd_check_free();
    buf_init(&sess_dip.text);
    /* The chrooted server reaches passwd and other outside tables through
     * proxy: (local_recipient_maps' default); a no-op once map_types.c
     * lists the type among the built-in ones. */
    if (map_find_type("proxy") == NULL)
        map_register(&map_proxy_ops);

    chk_cf.delay_reject = conf_bool("smtpd_delay_reject");
    chk_cf.helo_required = conf_bool("smtpd_helo_required");
    chk_cf.reject_unlisted_rcpt = conf_bool("smtpd_reject_unlisted_recipient");
    chk_cf.reject_unlisted_sender = conf_bool("smtpd_reject_unlisted_sender");
    chk_cf.show_unk_table = conf_bool("show_user_unknown_table_name");
    chk_cf.allow_untrusted_routing = conf_bool("allow_untrusted_routing");
    chk_cf.percent_hack = conf_bool("allow_percent_hack");
    chk_cf.swap_bangpath = conf_bool("swap_bangpath");
    chk_cf.resolve_dequoted = conf_bool("resolve_dequoted_address");
    chk_cf.resolve_numeric = conf_bool("resolve_numeric_domain");
    chk_cf.sasl_enable = conf_bool("smtpd_sasl_auth_enable");
    chk_cf.soft_bounce = conf_bool("soft_bounce");
    chk_cf.access_parent = in_list(parent, "smtpd_access_maps");
    chk_cf.access_map_reject_code = code("access_map_reject_code");
    chk_cf.access_map_defer_code = code("access_map_defer_code");
    chk_cf.reject_code = code("reject_code");
    chk_cf.defer_code = code("defer_code");
    chk_cf.relay_code = code("relay_domains_reject_code");
    chk_cf.unk_local_code = code("unknown_local_recipient_reject_code");
    chk_cf.unk_relay_code = code("unknown_relay_recipient_reject_code");
    chk_cf.unk_valias_code = code("unknown_virtual_alias_reject_code");
    chk_cf.unk_vmailbox_code = code("unknown_virtual_mailbox_reject_code");
    chk_cf.unk_addr_code = code("unknown_address_reject_code");
    chk_cf.unk_client_code = code("unknown_client_reject_code");
    chk_cf.unk_hostname_code = code("unknown_hostname_reject_code");
    chk_cf.maps_rbl_code = code("maps_rbl_reject_code");
    chk_cf.non_fqdn_code = code("non_fqdn_reject_code");
    chk_cf.bad_name_code = code("invalid_hostname_reject_code");
    chk_cf.null_key = xstrdup(conf_str("smtpd_null_access_lookup_key"));
    chk_cf.rcpt_delim = xstrdup(conf_str("recipient_delimiter"));
    chk_cf.def_rbl_reply = xstrdup(conf_str("default_rbl_reply"));
    chk_cf.myhostname = xstrdup(conf_str("myhostname"));
    chk_cf.myorigin = xstrdup(conf_str("myorigin"));
    chk_cf.empty_addr = xstrdup(conf_str("empty_address_recipient"));
    chk_cf.double_bounce = xstrdup(conf_str("double_bounce_sender"));
    chk_cf.permit_log = argv_split(conf_str("smtpd_log_access_permit_actions"), ", \t\r\n");
    chk_cf.message_size_limit =
        (uint64_t)(conf_int("message_size_limit") > 0 ? conf_int("message_size_limit") : 0);
    chk_cf.queue_minfree =
        (uint64_t)(conf_int("queue_minfree") > 0 ? conf_int("queue_minfree") : 0);

    if (open_domains(&chk_cf.mynetworks, "mynetworks", parent, why) < 0 ||
        open_domains(&chk_cf.relay_domains, "relay_domains", parent, why) < 0 ||
        open_domains(&chk_cf.virt_alias_doms, "virtual_alias_domains", parent, why) < 0 ||
        open_domains(&chk_cf.virt_mailbox_doms, "virtual_mailbox_domains", parent, why) < 0)
        goto fail;

    rp.mydestination = conf_str("mydestination");
    rp.local_transport = conf_str("local_transport");
    rp.default_transport = conf_str("default_transport");
    rp.relayhost = conf_str("relayhost");
    rp.myhostname = conf_str("myhostname");
    if ((chk_cf.resolver = resolver_create(&rp, &w)) == NULL) {
        buf_setf(why, "%s", w.data);
        goto fail;
    }
    if (chk_own_addrs_init(why) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
        if (open_maps(maps[i], map_params[i], why) < 0)
            goto fail;

    /* Class names first: lists may name classes, classes other classes. */
    if (read_classes(why) < 0 ||
        parse_list("smtpd_client_restrictions", conf_str("smtpd_client_restrictions"),
                   &chk_cf.client, why) < 0 ||
        parse_list("smtpd_helo_restrictions", conf_str("smtpd_helo_restrictions"), &chk_cf.helo,
                   why) < 0 ||
        parse_list("smtpd_sender_restrictions", conf_str("smtpd_sender_restrictions"),
                   &chk_cf.sender, why) < 0 ||
        parse_list("smtpd_relay_restrictions", conf_str("smtpd_relay_restrictions"), &chk_cf.relay,
                   why) < 0 ||
        parse_list("smtpd_recipient_restrictions", conf_str("smtpd_recipient_restrictions"),
                   &chk_cf.recipient, why) < 0 ||
        parse_list("smtpd_data_restrictions", conf_str("smtpd_data_restrictions"), &chk_cf.data,
                   why) < 0)
        goto fail;
    if (!has_relay_control(&chk_cf.recipient, 0) && !has_relay_control(&chk_cf.relay, 0)) {
        buf_setf(why, "in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, "
                      "specify at least one working instance of: reject_unauth_destination, "
                      "defer_unauth_destination, reject, defer or defer_if_permit");
        goto fail;
    }
    buf_free(&w);
    chk_ready = 1;
    return 0;
fail:
    buf_free(&w);
    smtpd_check_free();
    return -1;
}

void smtpd_check_free(void)
{
    struct restriction_list *lists[] = {&chk_cf.client, &chk_cf.helo,      &chk_cf.sender,
                                        &chk_cf.relay,  &chk_cf.recipient, &chk_cf.data};
    struct maps *maps[] = {&chk_cf.local_rcpt,     &chk_cf.virt_alias, &chk_cf.virt_mailbox,
                           &chk_cf.relay_rcpt,     &chk_cf.canonical,  &chk_cf.rcpt_canonical,
                           &chk_cf.send_canonical, &chk_cf.rbl_reply,  &chk_cf.sender_login};

    chk_ready = 0;
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        restriction_list_free(lists[i]);
    for (size_t i = 0; i < chk_cf.nclasses; i++) {
        free(chk_cf.classes[i].name);
        restriction_list_free(&chk_cf.classes[i].list);
    }
    free(chk_cf.classes);
    chk_tables_free();
    for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
        chk_maps_free(maps[i]);
    if (chk_cf.mynetworks)
        match_list_free(chk_cf.mynetworks);
    if (chk_cf.relay_domains)
        match_list_free(chk_cf.relay_domains);
    if (chk_cf.virt_alias_doms)
        match_list_free(chk_cf.virt_alias_doms);
    if (chk_cf.virt_mailbox_doms)
        match_list_free(chk_cf.virt_mailbox_doms);
    if (chk_cf.resolver)
        resolver_free(chk_cf.resolver);
    chk_own_addrs_free();
    free(chk_cf.null_key);
    free(chk_cf.rcpt_delim);
    free(chk_cf.def_rbl_reply);
    free(chk_cf.myhostname);
    free(chk_cf.myorigin);
    free(chk_cf.empty_addr);
    free(chk_cf.double_bounce);
    if (chk_cf.permit_log)
        argv_free(chk_cf.permit_log);
    memset(&chk_cf, 0, sizeof(chk_cf));
    buf_free(&sess_dip.text);
    memset(&sess_dip, 0, sizeof(sess_dip));
}
