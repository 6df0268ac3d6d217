/* pickup_filter - the record filter of pickup(8); see pickup_filter.h. */
#include "mail/pickup_filter.h"

#include <string.h>

#include "mail/queue_file.h"

#define UID_PREFIX     "uid="
#define EXTRACT_PREFIX MAILDROP_ATTR_EXTRACT "="

void pickup_filter_init(struct pickup_filter *f, size_t size_limit)
{
    memset(f, 0, sizeof(*f));
    maildrop_check_init(&f->check, size_limit);
}

static int has_prefix(const void *p, size_t n, const char *prefix)
{
    size_t len = strlen(prefix);
    return n >= len && memcmp(p, prefix, len) == 0;
}

int pickup_filter_record(struct pickup_filter *f, int type, const void *p, size_t n,
                         struct buf *why)
{
    /* postdrop writes exactly one arrival time and one uid, before anything
     * the user supplied; the same records elsewhere are not its work. */
    int before_user = f->check.state == MAILDROP_ENVELOPE && !f->check.sender_seen &&
                      f->check.rcpt_count == 0 && f->check.attr_seen == 0;
    if (type == QF_TIME) {
        if (f->time_seen || !before_user) {
            buf_setf(why, "unexpected arrival time record");
            return -1;
        }
        f->time_seen = 1;
        return PICKUP_DROP;
    }
    if (type == QF_ATTR && has_prefix(p, n, UID_PREFIX)) {
        if (f->uid_seen || !before_user) {
            buf_setf(why, "unexpected uid attribute");
            return -1;
        }
        f->uid_seen = 1;
        return PICKUP_DROP;
    }
    if (type != QF_END && (!f->time_seen || !f->uid_seen)) {
        buf_setf(why, "no arrival time or uid record from postdrop");
        return -1;
    }

    /* The user's part: exactly postdrop's checks, header first. */
    unsigned char hdr[MAILDROP_HDR_LEN];
    hdr[0] = (unsigned char)type;
    hdr[1] = (unsigned char)(n >> 24);
    hdr[2] = (unsigned char)(n >> 16);
    hdr[3] = (unsigned char)(n >> 8);
    hdr[4] = (unsigned char)n;
    int htype;
    size_t hlen;
    if (n > 0xffffffffu || maildrop_header(&f->check, hdr, &htype, &hlen, why) < 0)
        return -1;
    int r = maildrop_record(&f->check, type, p, n, why);
    if (r < 0)
        return -1;
    if (r == 1) {
        if (!f->time_seen || !f->uid_seen) {
            buf_setf(why, "no arrival time or uid record from postdrop");
            return -1;
        }
        return PICKUP_END;
    }
    /* extract_recipients travels as CLEANUP_FLAG_EXTRACT_RCPT, not as a record. */
    if (type == QF_ATTR && has_prefix(p, n, EXTRACT_PREFIX))
        return PICKUP_DROP;
    return PICKUP_FORWARD;
}

int pickup_filter_extract(const struct pickup_filter *f)
{
    return f->check.extract;
}
