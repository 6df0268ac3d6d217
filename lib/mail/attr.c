/* attr - the attribute protocol: encoding, a pure decoder, stream I/O and
 * checking a message against what the reader expects.
 *
 * The decoder and the stream reader share one set of header checks, and
 * both check every length against the message size limit before anything
 * is allocated or read, so a peer that claims a 4 GiB value costs us
 * nothing. attr_decode validates the whole message before it allocates, so
 * a truncated or malformed message never leaves anything behind.
 */
#include "mail/attr.h"
#include "util/alloc.h"
#include "util/msg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ATTR_END 'E'

void attr_list_init(struct attr_list *l)
{
    l->v = NULL;
    l->count = 0;
    l->cap = 0;
}

void attr_list_free(struct attr_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->v[i].val);
    free(l->v);
    attr_list_init(l);
}

static int name_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int name_ok(const char *name, size_t n)
{
    if (n == 0 || n > ATTR_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok((unsigned char)name[i]))
            return 0;
    return 1;
}

/* Names are program constants, so a bad one is a bug, not bad input. */
static struct attr *attr_new(struct attr_list *l, const char *name, enum attr_type type)
{
    size_t n = strlen(name);
    if (!name_ok(name, n))
        msg_panic("attr: invalid attribute name \"%.*s\"", ATTR_NAME_MAX, name);
    if (l->count == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
    }
    struct attr *a = &l->v[l->count++];
    memset(a, 0, sizeof(*a));
    a->type = type;
    memcpy(a->name, name, n + 1);
    return a;
}

void attr_add_int(struct attr_list *l, const char *name, int64_t v)
{
    attr_new(l, name, ATTR_INT)->num = v;
}

void attr_add_str(struct attr_list *l, const char *name, const char *s)
{
    struct attr *a = attr_new(l, name, ATTR_STR);
    a->len = strlen(s);
    a->val = xmemdup(s, a->len);
}

void attr_add_data(struct attr_list *l, const char *name, const void *p, size_t n)
{
    struct attr *a = attr_new(l, name, ATTR_DATA);
    a->len = n;
    a->val = xmemdup(n ? p : "", n);
}

/* ---- wire form ----------------------------------------------------------------- */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(unsigned char *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static int64_t get_be64(const unsigned char *p)
{
    uint64_t u = (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
    /* two's complement without implementation-defined conversion */
    if (u <= INT64_MAX)
        return (int64_t)u;
    return -(int64_t)(~u) - 1;
}

void attr_encode(const struct attr_list *l, struct buf *out)
{
    unsigned char hdr[2 + ATTR_NAME_MAX + 8];
    for (size_t i = 0; i < l->count; i++) {
        const struct attr *a = &l->v[i];
        size_t nlen = strlen(a->name);
        hdr[0] = (unsigned char)a->type;
        hdr[1] = (unsigned char)nlen;
        memcpy(hdr + 2, a->name, nlen);
        size_t h = 2 + nlen;
        if (a->type == ATTR_INT) {
            put_be64(hdr + h, (uint64_t)a->num);
            buf_append(out, hdr, h + 8);
            continue;
        }
        if (a->len > UINT32_MAX)
            msg_panic("attr_encode: attribute %s: value of %zu bytes", a->name, a->len);
        put_be32(hdr + h, (uint32_t)a->len);
        buf_append(out, hdr, h + 4);
        buf_append(out, a->val, a->len);
    }
    hdr[0] = ATTR_END;
    hdr[1] = 0;
    buf_append(out, hdr, 2);
}

/* ---- checks shared by the decoder and the stream reader ------------------------------- */

static int bad(struct buf *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* bad - set the reason (why may be NULL) and return -1. */
static int bad(struct buf *why, const char *fmt, ...)
{
    if (why) {
        va_list ap;
        va_start(ap, fmt);
        buf_reset(why);
        buf_vprintf(why, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* A type byte, and the namelen that follows it. */
static int check_type(int type, size_t count, struct buf *why)
{
    if (type != ATTR_INT && type != ATTR_STR && type != ATTR_DATA && type != ATTR_END)
        return bad(why, "attribute #%zu: bad type byte 0x%02x", count + 1, type & 0xff);
    if (type != ATTR_END && count >= ATTR_COUNT_MAX)
        return bad(why, "more than %d attributes", ATTR_COUNT_MAX);
    return 0;
}

static int check_namelen(int type, size_t namelen, size_t count, struct buf *why)
{
    if (type == ATTR_END ? namelen == 0 : (namelen >= 1 && namelen <= ATTR_NAME_MAX))
        return 0;
    return bad(why, "attribute #%zu: bad name length %zu", count + 1, namelen);
}

/* grow - add n to *size, keeping the message within max; why names the
 * attribute (NULL: the end marker). */
static int grow(size_t *size, size_t n, size_t max, const char *name, struct buf *why)
{
    size_t s;
    if (!size_add_ok(*size, n, &s) || s > max) {
        if (name == NULL)
            return bad(why, "message larger than %zu bytes", max);
        return bad(why, "attribute %s: message larger than %zu bytes", name, max);
    }
    *size = s;
    return 0;
}

/* scan - walk one message in p[0..n) without allocating. 1 + *used when
 * complete, 0 when so far valid but incomplete, -1 when malformed. */
static int scan(const unsigned char *p, size_t n, size_t max, size_t *used, struct buf *why)
{
    size_t off = 0, count = 0;
    char name[ATTR_NAME_MAX + 1];
    for (;;) {
        if (off == n)
            return 0;
        int type = p[off];
        if (check_type(type, count, why) < 0)
            return -1;
        if (off + 1 == n)
            return 0;
        size_t namelen = p[off + 1];
        if (check_namelen(type, namelen, count, why) < 0)
            return -1;
        size_t size = off;
        if (type == ATTR_END) {
            if (grow(&size, 2, max, NULL, why) < 0)
                return -1;
            *used = size;
            return 1;
        }
        off += 2;
        size_t have = n - off < namelen ? n - off : namelen;
        for (size_t i = 0; i < have; i++)
            if (!name_char_ok(p[off + i]))
                return bad(why, "attribute #%zu: bad character in name", count + 1);
        memcpy(name, p + off, have);
        name[have] = 0;
        if (have < namelen)
            return 0;
        off += namelen;
        size = off;
        /* every attribute is followed at least by the end marker */
        if (type == ATTR_INT) {
            if (grow(&size, 8 + 2, max, name, why) < 0)
                return -1;
            if (n - off < 8)
                return 0;
            off += 8;
        } else {
            if (grow(&size, 4 + 2, max, name, why) < 0)
                return -1;
            if (n - off < 4)
                return 0;
            size_t vlen = get_be32(p + off);
            off += 4;
            if (grow(&size, vlen, max, name, why) < 0)
                return -1;
            have = n - off < vlen ? n - off : vlen;
            if (type == ATTR_STR && memchr(p + off, 0, have) != NULL)
                return bad(why, "attribute %s: NUL in text value", name);
            if (have < vlen)
                return 0;
            off += vlen;
        }
        count++;
    }
}

int attr_decode(const void *p, size_t n, size_t max_size, struct attr_list *l, size_t *used,
                struct buf *why)
{
    const unsigned char *u = p;
    size_t total = 0;
    attr_list_free(l);
    if (max_size == 0)
        max_size = ATTR_SIZE_MAX;
    int rc = scan(u, n, max_size, &total, why);
    if (rc != 1)
        return rc;
    /* scan accepted the message: every length below is known to be in range */
    size_t off = 0;
    while (u[off] != ATTR_END) {
        char name[ATTR_NAME_MAX + 1];
        int type = u[off];
        size_t namelen = u[off + 1];
        memcpy(name, u + off + 2, namelen);
        name[namelen] = 0;
        off += 2 + namelen;
        struct attr *a = attr_new(l, name, (enum attr_type)type);
        if (type == ATTR_INT) {
            a->num = get_be64(u + off);
            off += 8;
        } else {
            a->len = get_be32(u + off);
            off += 4;
            a->val = xmemdup(u + off, a->len);
            off += a->len;
        }
    }
    *used = total;
    return 1;
}

/* ---- stream I/O ---------------------------------------------------------------------- */

int attr_write(struct stream *s, const struct attr_list *l)
{
    if (l->count > ATTR_COUNT_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    for (size_t i = 0; i < l->count; i++) {
        if (l->v[i].type != ATTR_INT && l->v[i].len > UINT32_MAX) {
            errno = EMSGSIZE;
            return -1;
        }
    }
    struct buf out = BUF_INIT;
    attr_encode(l, &out);
    stream_write(s, out.data, out.len);
    buf_free(&out);
    return stream_flush(s);
}

static int read_fail(struct stream *s, int first, struct buf *why)
{
    buf_reset(why);
    if (s->flags & STREAM_F_TIMEOUT)
        buf_puts(why, "timeout while reading attributes");
    else if (s->flags & STREAM_F_ERR)
        buf_printf(why, "read error: %s", strerror(s->err ? s->err : EIO));
    else if (first)
        buf_puts(why, "end of file");
    else
        buf_puts(why, "unexpected end of file in attribute message");
    return -1;
}

int attr_read(struct stream *s, size_t max_size, struct attr_list *l, struct buf *why)
{
    size_t size = 0;
    int started = 0;
    attr_list_free(l);
    if (max_size == 0)
        max_size = ATTR_SIZE_MAX;
    for (;;) {
        unsigned char hdr[2];
        char name[ATTR_NAME_MAX + 1];
        unsigned char num[8];
        if (stream_read(s, hdr, 1) < 0)
            goto eof;
        started = 1;
        if (check_type(hdr[0], l->count, why) < 0)
            goto err;
        if (stream_read(s, hdr + 1, 1) < 0)
            goto eof;
        if (check_namelen(hdr[0], hdr[1], l->count, why) < 0)
            goto err;
        if (hdr[0] == ATTR_END) {
            if (grow(&size, 2, max_size, NULL, why) < 0)
                goto err;
            return 0;
        }
        if (stream_read(s, name, hdr[1]) < 0)
            goto eof;
        name[hdr[1]] = 0;
        if (!name_ok(name, hdr[1])) {
            bad(why, "attribute #%zu: bad character in name", l->count + 1);
            goto err;
        }
        if (grow(&size, 2 + (size_t)hdr[1], max_size, name, why) < 0)
            goto err;
        size_t want = hdr[0] == ATTR_INT ? 8 : 4;
        size_t after = size;
        if (grow(&after, want + 2, max_size, name, why) < 0)
            goto err;
        if (stream_read(s, num, want) < 0)
            goto eof;
        size += want;
        if (hdr[0] == ATTR_INT) {
            attr_new(l, name, ATTR_INT)->num = get_be64(num);
            continue;
        }
        size_t vlen = get_be32(num);
        /* the size limit is checked before the value is allocated or read */
        after = size;
        if (grow(&after, vlen, max_size, name, why) < 0 || grow(&after, 2, max_size, name, why) < 0)
            goto err;
        /* Memory grows with the bytes that arrive, not with what the peer
         * claims, so idle peers that announce big values cost little. */
        struct buf vb = BUF_INIT;
        while (vb.len < vlen) {
            size_t chunk = vlen - vb.len < 65536 ? vlen - vb.len : 65536;
            buf_reserve(&vb, chunk);
            if (stream_read(s, vb.data + vb.len, chunk) < 0) {
                buf_free(&vb);
                goto eof;
            }
            vb.len += chunk;
            vb.data[vb.len] = 0;
        }
        char *val = buf_steal(&vb);
        if (hdr[0] == ATTR_STR && memchr(val, 0, vlen) != NULL) {
            free(val);
            bad(why, "attribute %s: NUL in text value", name);
            goto err;
        }
        size += vlen;
        struct attr *a = attr_new(l, name, (enum attr_type)hdr[0]);
        a->val = val;
        a->len = vlen;
    }
eof:
    read_fail(s, !started, why);
err:
    attr_list_free(l);
    return -1;
}

/* ---- what the reader expects ----------------------------------------------------------- */

static const char *type_name(int type)
{
    switch (type) {
    case ATTR_INT:
        return "int";
    case ATTR_STR:
        return "text";
    case ATTR_DATA:
        return "data";
    default:
        return "unknown";
    }
}

static int cmp_name(const void *a, const void *b)
{
    const struct attr *x = *(const struct attr *const *)a;
    const struct attr *y = *(const struct attr *const *)b;
    return strcmp(x->name, y->name);
}

int attr_check(const struct attr_list *l, const struct attr_spec *spec, int flags, struct buf *why)
{
    for (size_t i = 0; i < l->count; i++) {
        const struct attr *a = &l->v[i];
        const struct attr_spec *sp = spec;
        while (sp->name && strcmp(sp->name, a->name) != 0)
            sp++;
        if (sp->name == NULL) {
            if (flags & ATTR_FLAG_LAX)
                continue;
            return bad(why, "unexpected attribute: %s", a->name);
        }
        if (sp->type != a->type)
            return bad(why, "attribute %s: expected %s, got %s", a->name, type_name(sp->type),
                       type_name(a->type));
    }
    /* A duplicate would let sender and reader disagree on which one counts
     * (the getters return the first), so it rejects the message in every mode.
     * Sorting keeps this O(n log n) for a message of ATTR_COUNT_MAX attributes. */
    if (l->count > 1) {
        const struct attr **v = xreallocarray(NULL, l->count, sizeof(*v));
        for (size_t i = 0; i < l->count; i++)
            v[i] = &l->v[i];
        qsort(v, l->count, sizeof(*v), cmp_name);
        for (size_t i = 1; i < l->count; i++) {
            if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
                bad(why, "duplicate attribute: %s", v[i]->name);
                free(v);
                return -1;
            }
        }
        free(v);
    }
    for (const struct attr_spec *sp = spec; sp->name; sp++)
        if (sp->required && attr_get(l, sp->name) == NULL)
            return bad(why, "missing attribute: %s", sp->name);
    return 0;
}

const struct attr *attr_get(const struct attr_list *l, const char *name)
{
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

int attr_get_int(const struct attr_list *l, const char *name, int64_t *out)
{
    const struct attr *a = attr_get(l, name);
    if (a == NULL || a->type != ATTR_INT)
        return -1;
    *out = a->num;
    return 0;
}

const char *attr_get_str(const struct attr_list *l, const char *name)
{
    const struct attr *a = attr_get(l, name);
    if (a == NULL || (a->type != ATTR_STR && a->type != ATTR_DATA))
        return NULL;
    return a->val;
}
