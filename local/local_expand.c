/* local_expand - one local recipient, as Postfix's local(8) resolves it:
 * alias_maps, then the user's .forward (forward_path), then the mailbox.
 * Alias values, .forward and :include: files become tokens (local_token.h);
 * local addresses among them are delivered recursively in this process,
 * other addresses are collected and forwarded at the end as one new
 * message per Delivered-To: address (cleanup_client.h).
 *
 * Rights (Postfix local(8) DELIVERY RIGHTS): destinations from a .forward
 * act as its user; from an alias as the owner of the alias table, or with
 * no rights yet when root owns it -- local_deliver then acts as
 * default_privs; from an :include: file with the rights in effect, except
 * that with no rights yet a file owned by someone else than root lends its
 * owner's rights (users must not gain a victim's rights by including the
 * victim's file).
 *
 * Loops: a recipient already named in a Delivered-To: header bounces
 * (5.4.6); nesting is bounded (LOCAL_DEPTH_MAX); an alias, .forward or
 * include file is expanded at most once per recipient, and a name that
 * reappears inside its own expansion ("user: user, other") skips that
 * step: the alias's own user gets the mail in the mailbox.
 */
#include "local.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/addr.h"
#include "mail/cleanup_client.h"
#include "mail/local_addr.h"
#include "mail/local_token.h"
#include "mail/mail_proto.h"
#include "mail/queue_file.h"
#include "util/alloc.h"
#include "util/msg.h"

#define PW_BUF_MAX (1 << 20) /* getpw*_r buffer we are willing to grow to */

/* Recipient flags. */
#define RCPT_NOALIAS   1 /* skip alias_maps */
#define RCPT_NOFORWARD 2 /* skip .forward (\user) */

/* Cleanup rejections that resubmitting cannot cure. */
#define CLEANUP_STAT_PERMANENT                                                                     \
    (CLEANUP_STAT_BAD | CLEANUP_STAT_SIZE | CLEANUP_STAT_HOPS | CLEANUP_STAT_RCPT |                \
     CLEANUP_STAT_HDR)

/* ---- a set of strings: what this recipient's expansion has done -------- */

struct local_seen {
    char **slot;
    size_t cap; /* power of two */
    size_t count;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static struct local_seen *seen_new(void)
{
    struct local_seen *s = xmalloc(sizeof(*s));
    s->cap = 64;
    s->count = 0;
    s->slot = xcalloc(s->cap, sizeof(char *));
    return s;
}

static void seen_free(struct local_seen *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
    free(s);
}

static size_t seen_find(const struct local_seen *s, const char *key)
{
    size_t i = (size_t)hash_str(key) & (s->cap - 1);
    while (s->slot[i] && strcmp(s->slot[i], key) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

/* seen_add - 1 when key is new (and now remembered), 0 when seen before. */
static int seen_add(struct local_seen *s, const char *key)
{
    size_t i = seen_find(s, key);
    if (s->slot[i])
        return 0;
    s->slot[i] = xstrdup(key);
    if (++s->count * 2 > s->cap) {
        char **old = s->slot;
        size_t ocap = s->cap;
        s->cap *= 2;
        s->slot = xcalloc(s->cap, sizeof(char *));
        for (size_t j = 0; j < ocap; j++)
            if (old[j])
                s->slot[seen_find(s, old[j])] = old[j];
        free(old);
    }
    return 1;
}

static int seen_has(const struct local_seen *s, const char *key)
{
    return s->slot[seen_find(s, key)] != NULL;
}

/* key - "kind:uid:text" in a caller's buffer. */
static const char *key(struct buf *b, const char *kind, long uid, const char *text)
{
    buf_reset(b);
    buf_printf(b, "%s:%ld:%s", kind, uid, text);
    return b->data;
}

/* ---- rights --------------------------------------------------------- */

struct priv {
    struct local_priv p;
    char *user, *home, *shell;
};

/* priv_none - no rights yet: local_deliver acts as default_privs. */
static void priv_none(struct priv *pv)
{
    memset(pv, 0, sizeof(*pv));
}

static void priv_free(struct priv *pv)
{
    free(pv->user);
    free(pv->home);
    free(pv->shell);
    priv_none(pv);
}

/* pw_lookup - the account called name, or with uid when name is NULL.
 * 1 found (pv filled), 0 no such account, -1 + why (try again later). */
static int pw_lookup(const char *name, uid_t uid, struct priv *pv, struct buf *why)
{
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t n = hint > 0 && hint < PW_BUF_MAX ? (size_t)hint : 16384;

    for (;;) {
        struct passwd pw, *res = NULL;
        char *b = xmalloc(n);
        int e = name ? getpwnam_r(name, &pw, b, n, &res) : getpwuid_r(uid, &pw, b, n, &res);
        if (e == ERANGE && n < PW_BUF_MAX) {
            free(b);
            n *= 2;
            continue;
        }
        if (res != NULL) {
            priv_none(pv);
            pv->p.uid = res->pw_uid;
            pv->p.gid = res->pw_gid;
            pv->p.user = pv->user = xstrdup(res->pw_name);
            pv->p.home = pv->home = xstrdup(res->pw_dir ? res->pw_dir : "");
            pv->p.shell = pv->shell = xstrdup(res->pw_shell ? res->pw_shell : "");
            free(b);
            return 1;
        }
        free(b);
        /* getpwnam(3): these mean "not found" on various libcs */
        if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
            return 0;
        buf_setf(why, "%s", strerror(e));
        return -1;
    }
}

/* ---- expansion context ----------------------------------------------- */

/* One expansion in progress, for self references and include loops. */
struct frame {
    int type; /* LOCAL_EXP_* */
    const char *name;
    const struct frame *up;
};

struct ctx {
    int type;                         /* LOCAL_EXP_* the tokens came from */
    const struct priv *priv;          /* uid 0: no rights yet */
    const char *owner;                /* the address whose expansion this is */
    const struct local_addr *owner_a; /* its pieces */
    const struct frame *chain;
    int depth;
};

static int in_chain(const struct frame *f, int type, const char *name)
{
    for (; f; f = f->up)
        if (f->type == type && strcmp(f->name, name) == 0)
            return 1;
    return 0;
}

/* ---- outcomes --------------------------------------------------------- */

static void keep_first(int *have, struct deliver_result *dst, const struct deliver_result *src)
{
    if (*have)
        return;
    *have = 1;
    dst->status = src->status;
    snprintf(dst->dsn, sizeof(dst->dsn), "%s", src->dsn);
    dst->reason = xstrdup(src->reason ? src->reason : "");
}

void local_leaf(struct local_state *st, const char *address, const struct deliver_result *res)
{
    struct deliver_rcpt rc = {(char *)address, (char *)st->orig, st->rcpt->offset,
                              st->rcpt->notify};
    deliver_log(st->req, &rc, "local", res);
    st->leaves++;
    if (res->status == DELIVER_OK)
        keep_first(&st->have_ok, &st->ok, res);
    else if (res->status == DELIVER_BOUNCE)
        keep_first(&st->have_bounce, &st->bounce, res);
    else
        keep_first(&st->have_defer, &st->defer, res);
}

static void leaf(struct local_state *st, const char *address, int status, const char *dsn,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void leaf(struct local_state *st, const char *address, int status, const char *dsn,
                 const char *fmt, ...)
{
    struct deliver_result res = {0};
    struct buf text = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    deliver_result_set(&res, status, dsn, "%s", buf_cstr(&text));
    local_leaf(st, address, &res);
    deliver_result_free(&res, 1);
    buf_free(&text);
}

static void config_error(struct local_state *st, const char *address)
{
    leaf(st, address, DELIVER_BOUNCE, "5.3.5", "mail system configuration error");
}

static void rcpt_for(const struct local_state *st, const struct ctx *c, struct local_rcpt *r)
{
    r->recipient = c->owner;
    r->orig = st->orig;
    r->user = c->priv->p.user ? c->priv->p.user : local_conf.default_privs;
    r->local = buf_cstr(&c->owner_a->local);
    r->extension = c->owner_a->has_ext ? buf_cstr(&c->owner_a->extension) : "";
    r->domain = buf_cstr(&c->owner_a->domain);
}

/* ---- tables ----------------------------------------------------------- */

static struct map *alias_map(size_t i, struct buf *why)
{
    if (local_conf.alias_maps[i] == NULL)
        local_conf.alias_maps[i] = map_open(local_conf.alias_specs->argv[i], MAP_FOLD_CASE, why);
    return local_conf.alias_maps[i];
}

/* alias_owner - whose rights an alias table's destinations get: the owner
 * of its file; none (uid 0) for root or tables without a file. */
static int alias_owner(const struct map *m, struct priv *pv, struct buf *why)
{
    struct stat sb;
    priv_none(pv);
    if (m->watch_path == NULL || stat(m->watch_path, &sb) < 0 || sb.st_uid == 0)
        return 0;
    int r = pw_lookup(NULL, sb.st_uid, pv, why);
    if (r == 0) {
        /* An owner without a passwd entry still has a uid and gid. */
        pv->p.uid = sb.st_uid;
        pv->p.gid = sb.st_gid;
    }
    return r < 0 ? -1 : 0;
}

static struct resolver *resolver(struct buf *why)
{
    if (local_conf.resolver == NULL) {
        struct resolve_params p = {conf_str("mydestination"), conf_str("local_transport"),
                                   conf_str("default_transport"), conf_str("relayhost"),
                                   conf_str("myhostname")};
        local_conf.resolver = resolver_create(&p, why);
    }
    return local_conf.resolver;
}

/* ---- the recursion ---------------------------------------------------- */

static void expand_recipient(struct local_state *st, const char *addr, int flags,
                             const struct ctx *up);

static void expand_tokens(struct local_state *st, const struct local_tokens *t,
                          const struct ctx *c);

static void add_forward(struct local_state *st, const char *delivered_to, const char *addr)
{
    struct buf k = BUF_INIT;
    buf_printf(&k, "forward-to:%s", addr);
    for (size_t i = 0; i < k.len; i++)
        if (k.data[i] >= 'A' && k.data[i] <= 'Z')
            k.data[i] = (char)(k.data[i] - 'A' + 'a');
    if (seen_add(st->seen, k.data)) {
        size_t g = 0;
        while (g < st->nfwd && strcasecmp(st->fwd[g].delivered_to, delivered_to) != 0)
            g++;
        if (g == st->nfwd) {
            st->fwd = xreallocarray(st->fwd, st->nfwd + 1, sizeof(*st->fwd));
            st->fwd[g].delivered_to = xstrdup(delivered_to);
            st->fwd[g].rcpts = argv_alloc();
            st->nfwd++;
        }
        argv_add(st->fwd[g].rcpts, addr);
    }
    buf_free(&k);
}

/* expand_address - an address token: deliver here when it is ours (our
 * transport per the resolver, as Postfix compares), else forward. */
static void expand_address(struct local_state *st, const char *text, int noalias,
                           const struct ctx *c)
{
    struct buf q = BUF_INIT, why = BUF_INIT;
    struct resolve_result rr;
    resolve_result_init(&rr);

    if (strlen(text) > ADDR_MAX_BYTES || text[0] == '@') {
        msg_warn("%s: bad address \"%.100s\" in the expansion of %s", st->req->queue_id, text,
                 c->owner);
        leaf(st, c->owner, DELIVER_BOUNCE, "5.1.3", "bad address syntax: %.100s", text);
        goto out;
    }
    addr_qualify(text, local_conf.myorigin, &q);
    addr_fold_domain(q.data);
    struct resolver *r = resolver(&why);
    if (r == NULL) {
        msg_warn("%s: cannot resolve addresses: %s", st->req->queue_id, buf_cstr(&why));
        leaf(st, q.data, DELIVER_DEFER, "4.3.5", "mail system configuration error");
        goto out;
    }
    if (resolve_addr(r, q.data, &rr, &why) < 0) {
        msg_warn("%s: resolve %s: %s", st->req->queue_id, q.data, buf_cstr(&why));
        leaf(st, q.data, DELIVER_DEFER, "4.3.0", "address resolver failure");
        goto out;
    }
    if (rr.class == RESOLVE_CLASS_LOCAL && strcmp(buf_cstr(&rr.transport), local_conf.service) == 0)
        expand_recipient(st, q.data, noalias ? RCPT_NOALIAS | RCPT_NOFORWARD : 0, c);
    else
        add_forward(st, c->owner, q.data);
out:
    resolve_result_free(&rr);
    buf_free(&q);
    buf_free(&why);
}

static void deliver_command(struct local_state *st, const char *cmd, const struct ctx *c)
{
    struct buf k = BUF_INIT;
    if ((local_conf.cmd_mask & c->type) == 0) {
        leaf(st, c->owner, DELIVER_BOUNCE, "5.7.1", "mail to command is restricted");
    } else if (*cmd == 0) {
        msg_warn("%s: empty |command in the expansion of %s", st->req->queue_id, c->owner);
        config_error(st, c->owner);
    } else if (seen_add(st->seen, key(&k, "command", (long)c->priv->p.uid, cmd))) {
        struct local_rcpt r;
        struct deliver_result res = {0};
        rcpt_for(st, c, &r);
        local_deliver_command(st->msg, &c->priv->p, &r, cmd, &res);
        local_leaf(st, c->owner, &res);
        deliver_result_free(&res, 1);
    }
    buf_free(&k);
}

static void deliver_file(struct local_state *st, const char *path, const struct ctx *c)
{
    struct buf k = BUF_INIT;
    if ((local_conf.file_mask & c->type) == 0) {
        leaf(st, c->owner, DELIVER_BOUNCE, "5.7.1", "mail to file is restricted");
    } else if (seen_add(st->seen, key(&k, "file", (long)c->priv->p.uid, path))) {
        struct local_rcpt r;
        struct deliver_result res = {0};
        rcpt_for(st, c, &r);
        local_deliver_file(st->msg, &c->priv->p, &r, path, &res);
        local_leaf(st, c->owner, &res);
        deliver_result_free(&res, 1);
    }
    buf_free(&k);
}

static void deliver_home_file(struct local_state *st, const char *rest, const struct ctx *c)
{
    const char *home = c->priv->p.home;
    if (rest[0] != '/') {
        msg_warn("%s: bad home directory syntax for: ~%.100s", st->req->queue_id, rest);
        config_error(st, c->owner);
    } else if (home == NULL || *home == 0) {
        msg_warn("%s: unknown home directory for: ~%.100s", st->req->queue_id, rest);
        config_error(st, c->owner);
    } else {
        struct buf path = BUF_INIT;
        buf_printf(&path, "%s%s", strcmp(home, "/") == 0 ? "" : home, rest);
        deliver_file(st, path.data, c);
        buf_free(&path);
    }
}

/* same_file - the file read is the file checked (no swap in between). */
static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_uid == b->st_uid &&
           a->st_mode == b->st_mode && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void expand_include(struct local_state *st, const char *path, const struct ctx *c)
{
    const char *qid = st->req->queue_id;
    struct buf k = BUF_INIT, data = BUF_INIT, why = BUF_INIT;
    struct local_tokens t;
    struct priv owner;
    struct stat before, after;
    local_tokens_init(&t);
    priv_none(&owner);

    if (path[0] != '/') {
        msg_warn("%s: :include:%.100s uses a relative path", qid, path);
        config_error(st, c->owner);
        goto out;
    }
    /* Already being expanded (a loop) or expanded before: nothing to add. */
    if (in_chain(c->chain, LOCAL_EXP_INCLUDE, path) ||
        !seen_add(st->seen, key(&k, "include", (long)c->priv->p.uid, path)))
        goto out;
    if (c->depth + 1 > LOCAL_DEPTH_MAX) {
        msg_warn("%s: :include: nesting deeper than %d for %s", qid, LOCAL_DEPTH_MAX, c->owner);
        leaf(st, c->owner, DELIVER_BOUNCE, "5.4.6", "mail forwarding loop for %s", c->owner);
        goto out;
    }
    /* Read first, with the rights in effect: what root's stat() sees only
     * matters once those rights could read the file (no existence oracle
     * for paths the user cannot reach). The stat() before and after makes
     * sure the owner we take the rights of owns what was read. */
    int have_before = stat(path, &before) == 0;
    int r = local_read_file(&c->priv->p, path, LOCAL_INCLUDE_MAX, 0, &data, &why);
    if (r == 0) {
        msg_warn("%s: unable to lookup :include: file %s: no such file", qid, path);
        config_error(st, c->owner);
        goto out;
    }
    if (r < 0) {
        msg_warn("%s: cannot read :include: file %s: %s", qid, path, buf_cstr(&why));
        leaf(st, c->owner, DELIVER_DEFER, "4.3.5", "mail system configuration error");
        goto out;
    }
    if (!have_before || stat(path, &after) < 0 || !same_file(&before, &after)) {
        msg_warn("%s: :include: file %s changed while being read", qid, path);
        leaf(st, c->owner, DELIVER_DEFER, "4.3.0", ":include: file changed while being read");
        goto out;
    }
    /* Postfix: a world-writable include file is anybody's to fill. */
    if (before.st_mode & S_IWOTH) {
        msg_warn("%s: :include: file %s is world writable", qid, path);
        config_error(st, c->owner);
        goto out;
    }
    const struct priv *rights = c->priv;
    if (c->priv->p.uid == 0 && before.st_uid != 0) {
        r = pw_lookup(NULL, before.st_uid, &owner, &why);
        if (r <= 0) {
            msg_warn("%s: cannot find the user name of :include: file %s owner uid %lu%s%s", qid,
                     path, (unsigned long)before.st_uid, r < 0 ? ": " : "",
                     r < 0 ? buf_cstr(&why) : "");
            leaf(st, c->owner, DELIVER_DEFER, "4.3.5", "mail system configuration error");
            goto out;
        }
        rights = &owner;
    }
    if (local_token_parse_file(data.data, data.len, &t, &why) < 0) {
        msg_warn("%s: :include: file %s: %s", qid, path, buf_cstr(&why));
        leaf(st, c->owner, DELIVER_DEFER, "4.3.5", "mail system configuration error");
        goto out;
    }
    struct frame f = {LOCAL_EXP_INCLUDE, path, c->chain};
    struct ctx ic = {LOCAL_EXP_INCLUDE, rights, c->owner, c->owner_a, &f, c->depth + 1};
    expand_tokens(st, &t, &ic);
out:
    local_tokens_free(&t);
    priv_free(&owner);
    buf_free(&k);
    buf_free(&data);
    buf_free(&why);
}

static void expand_tokens(struct local_state *st, const struct local_tokens *t, const struct ctx *c)
{
    for (size_t i = 0; i < t->count; i++) {
        if (++st->work > LOCAL_WORK_MAX) {
            if (st->work == LOCAL_WORK_MAX + 1) {
                msg_warn("%s: %s expands to more than %d destinations", st->req->queue_id,
                         st->rcpt->address, LOCAL_WORK_MAX);
                leaf(st, c->owner, DELIVER_BOUNCE, "5.3.0",
                     "too many destinations in the expansion of %s", st->rcpt->address);
            }
            return;
        }
        const char *text = t->tok[i].text;
        switch (t->tok[i].type) {
        case LOCAL_TOKEN_ADDR:
            expand_address(st, text, 0, c);
            break;
        case LOCAL_TOKEN_NOALIAS:
            expand_address(st, text, 1, c);
            break;
        case LOCAL_TOKEN_COMMAND:
            deliver_command(st, text, c);
            break;
        case LOCAL_TOKEN_FILE:
            deliver_file(st, text, c);
            break;
        case LOCAL_TOKEN_HOME:
            deliver_home_file(st, text, c);
            break;
        case LOCAL_TOKEN_INCLUDE:
            expand_include(st, text, c);
            break;
        }
    }
}

/* try_alias - 1 when alias_maps decided the recipient's fate (expanded,
 * deferred, or expanded before), 0 when it is no alias here. Postfix looks
 * up the local part with its extension first, then without. */
static int try_alias(struct local_state *st, const char *addr, const struct local_addr *a,
                     const struct ctx *up, int depth)
{
    const char *names[2] = {buf_cstr(&a->local), a->has_ext ? buf_cstr(&a->user) : NULL};
    const char *qid = st->req->queue_id;
    struct buf value = BUF_INIT, why = BUF_INIT, k = BUF_INIT;
    int done = 0;

    for (int n = 0; n < 2 && !done; n++) {
        if (names[n] == NULL || *names[n] == 0)
            continue;
        for (size_t i = 0; i < local_conf.alias_specs->argc && !done; i++) {
            struct map *m = alias_map(i, &why);
            int r = m ? map_lookup(m, names[n], &value) : -1;
            if (r < 0) {
                msg_warn("%s: %s: alias table lookup problem: %s", qid,
                         local_conf.alias_specs->argv[i], m ? map_error(m) : buf_cstr(&why));
                leaf(st, addr, DELIVER_DEFER, "4.3.0", "alias database unavailable");
                done = 1;
            } else if (r == 1) {
                /* "user: user, other": the user's own name inside the
                 * expansion is the user, not the alias again. */
                if (in_chain(up ? up->chain : NULL, LOCAL_EXP_ALIAS, names[n]))
                    goto out;
                done = 1;
                if (seen_add(st->seen, key(&k, "alias", 0, names[n]))) {
                    struct priv rights;
                    struct local_tokens t;
                    local_tokens_init(&t);
                    if (alias_owner(m, &rights, &why) < 0) {
                        msg_warn("%s: alias table %s owner: %s", qid,
                                 local_conf.alias_specs->argv[i], buf_cstr(&why));
                        leaf(st, addr, DELIVER_DEFER, "4.3.0", "alias database unavailable");
                    } else if ((r = local_token_parse_value(value.data, value.len, &t, &why)) <=
                               0) {
                        msg_warn("%s: alias %s in %s: %s", qid, names[n],
                                 local_conf.alias_specs->argv[i],
                                 r < 0 ? buf_cstr(&why) : "expands to nothing");
                        leaf(st, addr, DELIVER_DEFER, "4.3.5", "mail system configuration error");
                    } else {
                        struct frame f = {LOCAL_EXP_ALIAS, names[n], up ? up->chain : NULL};
                        struct ctx c = {LOCAL_EXP_ALIAS, &rights, addr, a, &f, depth};
                        expand_tokens(st, &t, &c);
                    }
                    local_tokens_free(&t);
                    priv_free(&rights);
                }
            }
        }
    }
out:
    buf_free(&value);
    buf_free(&why);
    buf_free(&k);
    return done;
}

/* try_forward - 1 when a .forward decided the recipient's fate, 0 when
 * there is none (or it is being expanded: "user" in user's own .forward
 * means the mailbox). The first forward_path entry that names an existing
 * file wins; entries naming an undefined $name are skipped (Postfix). */
static int try_forward(struct local_state *st, const char *addr, const struct local_addr *a,
                       const struct priv *pv, const struct ctx *up, int depth)
{
    const char *qid = st->req->queue_id;
    struct buf path = BUF_INIT, data = BUF_INIT, why = BUF_INIT, k = BUF_INIT;
    struct argv *entries = argv_split(local_conf.forward_path, ", \t\r\n");
    struct local_tokens t;
    int done = 0;
    local_tokens_init(&t);

    if (in_chain(up ? up->chain : NULL, LOCAL_EXP_FORWARD, pv->user))
        goto out;
    if (seen_has(st->seen, key(&k, "forward", 0, pv->user))) {
        done = 1; /* expanded already for this recipient */
        goto out;
    }
    struct local_expand_attr ea = {pv->user,
                                   pv->home,
                                   pv->shell,
                                   addr,
                                   a->has_ext ? buf_cstr(&a->extension) : NULL,
                                   buf_cstr(&a->domain),
                                   buf_cstr(&a->local),
                                   a->has_ext ? a->delim : NULL};
    for (size_t i = 0; i < entries->argc && !done; i++) {
        int r = local_addr_expand(entries->argv[i], &ea, LOCAL_EXPAND_FILTER_DEFAULT, &path, &why);
        if (r < 0)
            msg_warn("bad forward_path entry \"%s\": %s", entries->argv[i], buf_cstr(&why));
        if (r != 0)
            continue;
        if (path.data[0] != '/') {
            msg_warn("forward_path entry \"%s\" is not an absolute path: %s", entries->argv[i],
                     path.data);
            continue;
        }
        r = local_read_file(&pv->p, path.data, LOCAL_FORWARD_MAX, 1, &data, &why);
        if (r == 0)
            continue;
        done = 1;
        seen_add(st->seen, k.data);
        if (r < 0) {
            /* e.g. a group-writable .forward: rather late than to the wrong place */
            msg_warn("%s: %s", qid, buf_cstr(&why));
            leaf(st, addr, DELIVER_DEFER, "4.3.0", "%s", buf_cstr(&why));
        } else if (local_token_parse_file(data.data, data.len, &t, &why) < 0) {
            msg_warn("%s: %s: %s", qid, path.data, buf_cstr(&why));
            leaf(st, addr, DELIVER_DEFER, "4.3.0", "error in forward file: %s", buf_cstr(&why));
        } else if (t.count == 0) {
            done = 0; /* nothing in it: the mailbox, as if there were no file */
        } else {
            struct frame f = {LOCAL_EXP_FORWARD, pv->user, up ? up->chain : NULL};
            struct ctx c = {LOCAL_EXP_FORWARD, pv, addr, a, &f, depth};
            expand_tokens(st, &t, &c);
        }
    }
out:
    local_tokens_free(&t);
    argv_free(entries);
    buf_free(&path);
    buf_free(&data);
    buf_free(&why);
    buf_free(&k);
    return done;
}

static void deliver_mailbox(struct local_state *st, const char *addr, const struct local_addr *a,
                            const struct priv *pv)
{
    struct buf k = BUF_INIT;
    if (seen_add(st->seen, key(&k, "mailbox", 0, pv->user))) {
        struct local_rcpt r = {addr,
                               st->orig,
                               pv->user,
                               buf_cstr(&a->local),
                               a->has_ext ? buf_cstr(&a->extension) : "",
                               buf_cstr(&a->domain)};
        struct deliver_result res = {0};
        local_deliver_mailbox(st->msg, &pv->p, &r, &res);
        local_leaf(st, addr, &res);
        deliver_result_free(&res, 1);
    }
    buf_free(&k);
}

static void expand_recipient(struct local_state *st, const char *addr, int flags,
                             const struct ctx *up)
{
    int depth = up ? up->depth + 1 : 0;
    struct local_addr a;
    struct priv pv;
    struct buf why = BUF_INIT;

    if (depth > LOCAL_DEPTH_MAX) {
        msg_warn("%s: possible mail forwarding loop for %s: nesting deeper than %d",
                 st->req->queue_id, addr, LOCAL_DEPTH_MAX);
        leaf(st, addr, DELIVER_BOUNCE, "5.4.6", "mail forwarding loop for %s", addr);
        return;
    }
    if (local_addr_delivered_find(st->delivered, addr)) {
        leaf(st, addr, DELIVER_BOUNCE, "5.4.6", "mail forwarding loop for %s", addr);
        return;
    }
    local_addr_init(&a);
    priv_none(&pv);
    local_addr_split(addr, local_conf.delimiter, &a);
    if ((flags & RCPT_NOALIAS) == 0 && try_alias(st, addr, &a, up, depth))
        goto out;
    int r = pw_lookup(buf_cstr(&a.user), 0, &pv, &why);
    if (r < 0) {
        msg_warn("%s: user lookup for %s: %s", st->req->queue_id, buf_cstr(&a.user),
                 buf_cstr(&why));
        leaf(st, addr, DELIVER_DEFER, "4.3.0", "user lookup error");
        goto out;
    }
    if (r == 0) {
        leaf(st, addr, DELIVER_BOUNCE, "5.1.1", "unknown user: \"%s\"", buf_cstr(&a.user));
        goto out;
    }
    if ((flags & RCPT_NOFORWARD) == 0 && try_forward(st, addr, &a, &pv, up, depth))
        goto out;
    deliver_mailbox(st, addr, &a, &pv);
out:
    priv_free(&pv);
    local_addr_free(&a);
    buf_free(&why);
}

/* ---- forwarding ------------------------------------------------------- */

/* copy_content - the message bytes of the queue file to cleanup. */
static int copy_content(struct qf_reader *qf, struct cleanup_client *cc, struct buf *why)
{
    struct buf data = BUF_INIT;
    int type, rc;
    off_t off;

    if (qf_rewind(qf) < 0) {
        buf_setf(why, "cannot rewind queue file: %m");
        return -1;
    }
    while ((rc = qf_read(qf, &type, &data, &off, why)) > 0)
        if (type == QF_CONTENT)
            cleanup_client_content(cc, data.data, data.len);
    buf_free(&data);
    if (qf_rewind(qf) < 0 && rc == 0) {
        buf_setf(why, "cannot rewind queue file: %m");
        rc = -1;
    }
    return rc;
}

/* forward_group - one new message for the addresses of g. Its recipients
 * succeed only when cleanup says the message is safe in incoming/. */
static void forward_group(struct local_state *st, const struct local_fwd *g)
{
    char id[QUEUE_ID_LEN + 1] = "";
    struct buf why = BUF_INIT, head = BUF_INIT, ext = BUF_INIT;
    int status = DELIVER_DEFER;
    const char *dsn = "4.3.0";

    struct cleanup_client *cc = cleanup_client_open(0, local_conf.ipc_timeout, id, &why);
    if (cc == NULL) {
        msg_warn("%s: cannot forward: %s", st->req->queue_id, buf_cstr(&why));
    } else {
        /* DSN data travels with the forwarded copy (RFC 3461 6.2.7). */
        if (st->req->envid && st->req->envid[0]) {
            buf_setf(&ext, "dsn_envid=%s", st->req->envid);
            cleanup_client_str(cc, QF_ATTR, ext.data);
        }
        if (st->req->ret != DELIVER_RET_NONE)
            cleanup_client_str(cc, QF_ATTR,
                               st->req->ret == DELIVER_RET_FULL ? "dsn_ret=FULL" : "dsn_ret=HDRS");
        cleanup_client_str(cc, QF_SENDER, st->req->sender);
        for (size_t i = 0; i < g->rcpts->argc; i++) {
            cleanup_client_str(cc, QF_ORCPT, st->orig);
            if (st->rcpt->notify) {
                buf_setf(&ext, "%d", st->rcpt->notify);
                cleanup_client_str(cc, QF_NOTIFY, ext.data);
            }
            cleanup_client_str(cc, QF_RCPT, g->rcpts->argv[i]);
        }
        buf_reset(&ext);
        /* The loop check of the next local(8) on the way needs this. */
        if (local_conf.forward_delivered_to) {
            if (addr_quote_local(g->delivered_to, &ext, &why) < 0)
                buf_set(&ext, g->delivered_to);
            buf_printf(&head, "Delivered-To: %s\n", ext.data);
            cleanup_client_content(cc, head.data, head.len);
        }
        if (copy_content(st->msg->qf, cc, &why) < 0) {
            msg_warn("%s: cannot forward: %s", st->req->queue_id, buf_cstr(&why));
            cleanup_client_abort(cc);
        } else {
            int cs = cleanup_client_close(cc, &why);
            if (cs == CLEANUP_STAT_OK) {
                status = DELIVER_OK;
                dsn = "2.0.0";
            } else if ((cs & CLEANUP_STAT_PERMANENT) && !(cs & CLEANUP_STAT_WRITE)) {
                status = DELIVER_BOUNCE;
                dsn = "5.3.0";
            }
        }
    }
    for (size_t i = 0; i < g->rcpts->argc; i++) {
        if (status == DELIVER_OK)
            leaf(st, g->rcpts->argv[i], status, dsn, "forwarded as %s", id);
        else
            leaf(st, g->rcpts->argv[i], status, dsn, "cannot forward: %s", buf_cstr(&why));
    }
    buf_free(&why);
    buf_free(&head);
    buf_free(&ext);
}

static void submit_forwards(struct local_state *st)
{
    for (size_t g = 0; g < st->nfwd; g++) {
        if (st->have_defer) {
            /* The recipient is tried again as a whole: forwarding now
             * would send these copies twice. */
            for (size_t i = 0; i < st->fwd[g].rcpts->argc; i++)
                leaf(st, st->fwd[g].rcpts->argv[i], DELIVER_DEFER, "4.3.0",
                     "not forwarded yet: other destinations of %s were deferred",
                     st->rcpt->address);
        } else {
            forward_group(st, &st->fwd[g]);
        }
    }
}

/* ---- per request recipient -------------------------------------------- */

void local_state_init(struct local_state *st, const struct deliver_request *req,
                      const struct deliver_rcpt *rcpt, const struct local_msg *msg,
                      const struct argv *delivered)
{
    memset(st, 0, sizeof(*st));
    st->req = req;
    st->rcpt = rcpt;
    st->msg = msg;
    st->delivered = delivered;
    st->orig = rcpt->orcpt[0] ? rcpt->orcpt : rcpt->address;
    st->seen = seen_new();
}

void local_state_free(struct local_state *st)
{
    seen_free(st->seen);
    for (size_t g = 0; g < st->nfwd; g++) {
        free(st->fwd[g].delivered_to);
        argv_free(st->fwd[g].rcpts);
    }
    free(st->fwd);
    deliver_result_free(&st->ok, 1);
    deliver_result_free(&st->bounce, 1);
    deliver_result_free(&st->defer, 1);
    memset(st, 0, sizeof(*st));
}

static void copy_result(struct deliver_result *dst, const struct deliver_result *src)
{
    deliver_result_set(dst, src->status, src->dsn, "%s", src->reason ? src->reason : "");
}

void local_expand(struct local_state *st, struct deliver_result *res)
{
    expand_recipient(st, st->rcpt->address, 0, NULL);
    submit_forwards(st);
    if (st->have_defer) {
        copy_result(res, &st->defer);
    } else if (st->have_bounce) {
        copy_result(res, &st->bounce);
    } else if (st->have_ok) {
        copy_result(res, &st->ok);
    } else {
        /* e.g. an alias whose only member is an :include: loop */
        msg_warn("%s: the expansion of %s reached no destination", st->req->queue_id,
                 st->rcpt->address);
        deliver_result_set(res, DELIVER_DEFER, "4.3.5", "mail system configuration error");
        local_leaf(st, st->rcpt->address, res);
    }
}
