/* deliver_request - qmgr <-> delivery agent request and reply; see
 * deliver_request.h and mail_proto.h. */
#include "mail/deliver_request.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "mail/attr.h"
#include "mail/mail_proto.h"
#include "util/alloc.h"
#include "util/msg.h"

#define TEXT_MAX 4096 /* longest address, sender, nexthop or reason */

_Static_assert(DELIVER_FIXED_ATTR + DELIVER_RCPT_ATTR * DELIVER_RCPT_MAX <= ATTR_COUNT_MAX,
               "a request must fit one attribute message");

void deliver_request_init(struct deliver_request *r)
{
    memset(r, 0, sizeof(*r));
}

void deliver_request_free(struct deliver_request *r)
{
    for (size_t i = 0; i < r->rcpt_count; i++) {
        free(r->rcpt[i].address);
        free(r->rcpt[i].orcpt);
    }
    free(r->rcpt);
    free(r->queue_dir);
    free(r->sender);
    free(r->nexthop);
    free(r->envid);
    memset(r, 0, sizeof(*r));
}

void deliver_request_add_rcpt(struct deliver_request *r, const char *address, const char *orcpt,
                              int64_t offset)
{
    r->rcpt = xreallocarray(r->rcpt, r->rcpt_count + 1, sizeof(*r->rcpt));
    struct deliver_rcpt *rc = &r->rcpt[r->rcpt_count++];
    rc->address = xstrdup(address);
    rc->orcpt = xstrdup(orcpt ? orcpt : "");
    rc->offset = offset;
    rc->notify = 0;
}

/* text_ok - envelope text: bounded, no control characters at all. */
static int text_ok(const char *s, size_t len)
{
    if (len > TEXT_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

int deliver_request_write(struct stream *s, const struct deliver_request *r)
{
    struct attr_list l;
    char name[48];
    attr_list_init(&l);
    attr_add_str(&l, "queue_id", r->queue_id);
    attr_add_str(&l, "queue_dir", r->queue_dir);
    attr_add_int(&l, "size", r->size);
    attr_add_str(&l, "sender", r->sender);
    attr_add_str(&l, "nexthop", r->nexthop);
    attr_add_int(&l, "arrival", r->arrival);
    attr_add_int(&l, "flags", r->flags);
    attr_add_str(&l, "envid", r->envid ? r->envid : "");
    attr_add_int(&l, "ret", r->ret);
    attr_add_int(&l, "rcpt_count", (int64_t)r->rcpt_count);
    for (size_t i = 0; i < r->rcpt_count; i++) {
        snprintf(name, sizeof(name), "rcpt_addr_%zu", i);
        attr_add_str(&l, name, r->rcpt[i].address);
        snprintf(name, sizeof(name), "rcpt_orcpt_%zu", i);
        attr_add_str(&l, name, r->rcpt[i].orcpt);
        snprintf(name, sizeof(name), "rcpt_offset_%zu", i);
        attr_add_int(&l, name, r->rcpt[i].offset);
        snprintf(name, sizeof(name), "rcpt_notify_%zu", i);
        attr_add_int(&l, name, r->rcpt[i].notify);
    }
    int rc = attr_write(s, &l);
    attr_list_free(&l);
    return rc;
}

/* get_text - a required STR attribute that passes text_ok. */
static const char *get_text(const struct attr_list *l, const char *name, struct buf *why)
{
    const struct attr *a = attr_get(l, name);
    if (a == NULL || a->type != ATTR_STR) {
        buf_setf(why, "missing text attribute %s", name);
        return NULL;
    }
    if (!text_ok(a->val, a->len)) {
        buf_setf(why, "attribute %s: too long or control characters", name);
        return NULL;
    }
    return a->val;
}

/* get_num - a required INT attribute in [0, INT64_MAX]. */
static int get_num(const struct attr_list *l, const char *name, int64_t *out, struct buf *why)
{
    if (attr_get_int(l, name, out) < 0) {
        buf_setf(why, "missing number attribute %s", name);
        return -1;
    }
    if (*out < 0) {
        buf_setf(why, "attribute %s: negative", name);
        return -1;
    }
    return 0;
}

int deliver_request_read(struct stream *s, struct deliver_request *r, struct buf *why)
{
    struct attr_list l;
    attr_list_init(&l);
    int ret = -1;
    int64_t count;
    const char *id, *dir, *sender, *nexthop, *envid;
    int64_t retv;
    char name[48];

    if (attr_read(s, 0, &l, why) < 0)
        goto out;
    if ((id = get_text(&l, "queue_id", why)) == NULL ||
        (dir = get_text(&l, "queue_dir", why)) == NULL ||
        (sender = get_text(&l, "sender", why)) == NULL ||
        (nexthop = get_text(&l, "nexthop", why)) == NULL ||
        (envid = get_text(&l, "envid", why)) == NULL || get_num(&l, "ret", &retv, why) < 0 ||
        get_num(&l, "size", &r->size, why) < 0 || get_num(&l, "arrival", &r->arrival, why) < 0 ||
        get_num(&l, "flags", &r->flags, why) < 0 || get_num(&l, "rcpt_count", &count, why) < 0)
        goto out;
    if (!queue_id_valid(id)) {
        buf_setf(why, "bad queue ID");
        goto out;
    }
    if (strcmp(dir, "active") != 0) {
        buf_setf(why, "queue_dir must be active");
        goto out;
    }
    if (count < 1 || count > DELIVER_RCPT_MAX) {
        buf_setf(why, "recipient count %" PRId64 " out of range", count);
        goto out;
    }
    if (retv > DELIVER_RET_HDRS) {
        buf_setf(why, "bad ret %" PRId64, retv);
        goto out;
    }
    if (strlen(envid) > 100) { /* RFC 3461 4.4: at most 100 characters */
        buf_setf(why, "envid too long");
        goto out;
    }
    /* Exactly the expected attributes. */
    if (l.count != DELIVER_FIXED_ATTR + DELIVER_RCPT_ATTR * (size_t)count) {
        buf_setf(why, "unexpected attributes in request");
        goto out;
    }
    memcpy(r->queue_id, id, QUEUE_ID_LEN + 1);
    r->queue_dir = xstrdup(dir);
    r->sender = xstrdup(sender);
    r->nexthop = xstrdup(nexthop);
    r->envid = xstrdup(envid);
    r->ret = (int)retv;
    for (int64_t i = 0; i < count; i++) {
        const char *addr, *orcpt;
        int64_t off, notify;
        snprintf(name, sizeof(name), "rcpt_addr_%" PRId64, i);
        if ((addr = get_text(&l, name, why)) == NULL)
            goto out;
        snprintf(name, sizeof(name), "rcpt_orcpt_%" PRId64, i);
        if ((orcpt = get_text(&l, name, why)) == NULL)
            goto out;
        snprintf(name, sizeof(name), "rcpt_offset_%" PRId64, i);
        if (get_num(&l, name, &off, why) < 0)
            goto out;
        snprintf(name, sizeof(name), "rcpt_notify_%" PRId64, i);
        if (get_num(&l, name, &notify, why) < 0)
            goto out;
        if (notify > 0x0f) {
            buf_setf(why, "bad %s", name);
            goto out;
        }
        if (*addr == 0) {
            buf_setf(why, "empty recipient address");
            goto out;
        }
        deliver_request_add_rcpt(r, addr, orcpt, off);
        r->rcpt[r->rcpt_count - 1].notify = (int)notify;
    }
    ret = 0;
out:
    attr_list_free(&l);
    return ret;
}

void deliver_result_set(struct deliver_result *res, int status, const char *dsn, const char *fmt,
                        ...)
{
    va_list ap;
    char *text = NULL;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        msg_fatal("out of memory");
    va_end(ap);
    for (char *cp = text; *cp; cp++)
        if ((unsigned char)*cp < 0x20 || *cp == 0x7f)
            *cp = ' ';
    if (strlen(text) > TEXT_MAX)
        text[TEXT_MAX] = 0;
    free(res->reason);
    res->reason = text;
    res->status = status;
    snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
}

static char *clean_copy(const char *s)
{
    char *t = xstrdup(s);
    for (char *cp = t; *cp; cp++)
        if ((unsigned char)*cp < 0x20 || *cp == 0x7f)
            *cp = ' ';
    if (strlen(t) > TEXT_MAX)
        t[TEXT_MAX] = 0;
    return t;
}

void deliver_result_remote(struct deliver_result *res, const char *mta, const char *diag)
{
    if (mta) {
        free(res->mta);
        res->mta = clean_copy(mta);
    }
    if (diag) {
        free(res->diag);
        res->diag = clean_copy(diag);
    }
}

void deliver_result_free(struct deliver_result *res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(res[i].reason);
        free(res[i].mta);
        free(res[i].diag);
        res[i].reason = res[i].mta = res[i].diag = NULL;
    }
}

int deliver_reply_write(struct stream *s, const struct deliver_request *r,
                        const struct deliver_result *res, int site_fail)
{
    struct attr_list l;
    char name[48];
    int all_ok = 1;
    attr_list_init(&l);
    for (size_t i = 0; i < r->rcpt_count; i++)
        if (res[i].status != DELIVER_OK)
            all_ok = 0;
    attr_add_int(&l, "status", all_ok ? 0 : 1);
    for (size_t i = 0; i < r->rcpt_count; i++) {
        snprintf(name, sizeof(name), "rcpt_status_%zu", i);
        attr_add_int(&l, name, res[i].status);
        snprintf(name, sizeof(name), "rcpt_dsn_%zu", i);
        attr_add_str(&l, name, res[i].dsn);
        snprintf(name, sizeof(name), "rcpt_reason_%zu", i);
        attr_add_str(&l, name, res[i].reason ? res[i].reason : "");
    }
    if (site_fail)
        attr_add_int(&l, "site_fail", 1);
    int rc = attr_write(s, &l);
    attr_list_free(&l);
    return rc;
}

/* dsn_ok - "x.y.z" per RFC 3463 section 2: class 2, 4 or 5 matching the
 * status, subject and detail 1-3 digits. */
static int dsn_ok(const char *dsn, int status)
{
    int want = status == DELIVER_OK ? '2' : status == DELIVER_DEFER ? '4' : '5';
    if (dsn[0] != want || dsn[1] != '.')
        return 0;
    const char *cp = dsn + 2;
    for (int part = 0; part < 2; part++) {
        int n = 0;
        while (*cp >= '0' && *cp <= '9' && n < 3) {
            cp++;
            n++;
        }
        if (n == 0 || (part == 0 && *cp++ != '.'))
            return 0;
    }
    return *cp == 0;
}

int deliver_reply_read(struct stream *s, size_t n, struct deliver_result *res, int *site_fail,
                       struct buf *why)
{
    struct attr_list l;
    char name[48];
    int64_t v;
    int ret = -1;
    attr_list_init(&l);
    if (attr_read(s, 0, &l, why) < 0)
        goto out;
    int64_t sf = 0;
    size_t extra = 0;
    if (attr_get(&l, "site_fail") != NULL) {
        if (attr_get_int(&l, "site_fail", &sf) < 0 || (sf != 0 && sf != 1)) {
            buf_setf(why, "bad site_fail");
            goto out;
        }
        extra = 1;
    }
    if (attr_get_int(&l, "status", &v) < 0 || l.count != 1 + extra + 3 * n) {
        buf_setf(why, "malformed delivery reply");
        goto out;
    }
    if (site_fail)
        *site_fail = (int)sf;
    for (size_t i = 0; i < n; i++) {
        const char *dsn, *reason;
        snprintf(name, sizeof(name), "rcpt_status_%zu", i);
        if (attr_get_int(&l, name, &v) < 0 ||
            (v != DELIVER_OK && v != DELIVER_DEFER && v != DELIVER_BOUNCE)) {
            buf_setf(why, "bad or missing %s", name);
            goto out;
        }
        snprintf(name, sizeof(name), "rcpt_dsn_%zu", i);
        if ((dsn = get_text(&l, name, why)) == NULL)
            goto out;
        if (strlen(dsn) >= sizeof(res[i].dsn) || !dsn_ok(dsn, (int)v)) {
            buf_setf(why, "bad %s \"%.20s\"", name, dsn);
            goto out;
        }
        snprintf(name, sizeof(name), "rcpt_reason_%zu", i);
        if ((reason = get_text(&l, name, why)) == NULL)
            goto out;
        res[i].status = (int)v;
        snprintf(res[i].dsn, sizeof(res[i].dsn), "%s", dsn);
        free(res[i].reason);
        res[i].reason = xstrdup(reason);
    }
    ret = 0;
out:
    attr_list_free(&l);
    return ret;
}

void deliver_log(const struct deliver_request *r, const struct deliver_rcpt *rc, const char *relay,
                 const struct deliver_result *res)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    double delay = (double)now.tv_sec + now.tv_usec / 1e6 - (double)r->arrival;
    if (delay < 0)
        delay = 0;
    const char *status = res->status == DELIVER_OK      ? "sent"
                         : res->status == DELIVER_DEFER ? "deferred"
                                                        : "bounced";
    int orig = rc->orcpt[0] && strcasecmp(rc->orcpt, rc->address) != 0;
    msg_info("%s: to=<%s>%s%s%s, relay=%s, delay=%.*f, dsn=%s, status=%s (%s)", r->queue_id,
             rc->address, orig ? ", orig_to=<" : "", orig ? rc->orcpt : "", orig ? ">" : "", relay,
             delay < 10 ? 2 : 0, delay, res->dsn, status, res->reason ? res->reason : "");
}
