/* sasl_mech - PLAIN and LOGIN exchanges, server side (sasl_mech.h). */
#include "auth/sasl_mech.h"

#include <string.h>
#include <strings.h>

#include "auth/sasl_base64.h"

/* exchange states */
enum {
    ST_NEW,        /* nothing seen yet */
    ST_PLAIN,      /* PLAIN: waiting for the response to the empty challenge */
    ST_LOGIN_USER, /* LOGIN: "Username:" sent */
    ST_LOGIN_PASS, /* LOGIN: "Password:" sent */
    ST_DONE,       /* success or failure: nothing more is accepted */
};

enum sasl_mech_id sasl_mech_by_name(const char *name)
{
    if (name == NULL)
        return SASL_MECH_NONE;
    if (strcasecmp(name, "PLAIN") == 0)
        return SASL_MECH_PLAIN;
    if (strcasecmp(name, "LOGIN") == 0)
        return SASL_MECH_LOGIN;
    return SASL_MECH_NONE;
}

const char *sasl_mech_name(enum sasl_mech_id id)
{
    switch (id) {
    case SASL_MECH_PLAIN:
        return "PLAIN";
    case SASL_MECH_LOGIN:
        return "LOGIN";
    default:
        return "";
    }
}

/* wipe - overwrite a buffer that may have held a password, then empty it */
static void wipe(struct buf *b)
{
    if (b->data && b->cap)
        explicit_bzero(b->data, b->cap);
    b->len = 0;
}

void sasl_exchange_init(struct sasl_exchange *x, enum sasl_mech_id mech)
{
    memset(x, 0, sizeof(*x));
    x->mech = mech;
    x->state = ST_NEW;
    buf_init(&x->authzid);
    buf_init(&x->authcid);
    buf_init(&x->passwd);
    buf_init(&x->scratch);
}

void sasl_exchange_free(struct sasl_exchange *x)
{
    wipe(&x->passwd);
    wipe(&x->scratch);
    buf_free(&x->authzid);
    buf_free(&x->authcid);
    buf_free(&x->passwd);
    buf_free(&x->scratch);
    x->state = ST_DONE;
}

/* utf8_len - length of the valid UTF-8 sequence at p (at most n bytes
 * available), or 0 (RFC 3629 4: no overlongs, no surrogates, <= U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return len;
}

int sasl_name_valid(const char *p, size_t n, struct buf *why)
{
    if (n == 0) {
        buf_setf(why, "empty user name");
        return 0;
    }
    if (n > SASL_NAME_MAX) {
        buf_setf(why, "user name longer than %d bytes", SASL_NAME_MAX);
        return 0;
    }
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x20 || u[i] == 0x7f) {
            buf_setf(why, "control character in user name");
            return 0;
        }
        size_t k = utf8_len(u + i, n - i);
        if (k == 0) {
            buf_setf(why, "user name is not valid UTF-8");
            return 0;
        }
        /* C1 controls (U+0080..U+009F) are controls too */
        if (k == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0) {
            buf_setf(why, "control character in user name");
            return 0;
        }
        i += k;
    }
    return 1;
}

static int passwd_valid(const char *p, size_t n, struct buf *why)
{
    if (n == 0) {
        buf_setf(why, "empty password");
        return 0;
    }
    if (n > SASL_PASS_MAX) {
        buf_setf(why, "password longer than %d bytes", SASL_PASS_MAX);
        return 0;
    }
    if (memchr(p, 0, n) != NULL) {
        buf_setf(why, "NUL byte in password");
        return 0;
    }
    return 1;
}

int sasl_plain_parse(const char *p, size_t n, struct buf *authzid, struct buf *authcid,
                     struct buf *passwd, struct buf *why)
{
    const char *nul1 = memchr(p, 0, n);
    const char *nul2 = nul1 ? memchr(nul1 + 1, 0, n - (size_t)(nul1 + 1 - p)) : NULL;
    if (nul2 == NULL) {
        buf_setf(why, "malformed PLAIN response (expected authzid NUL authcid NUL passwd)");
        return -1;
    }
    size_t zlen = (size_t)(nul1 - p);
    size_t clen = (size_t)(nul2 - nul1 - 1);
    size_t plen = n - (size_t)(nul2 + 1 - p);
    /* a third NUL would make the password end early: passwd_valid refuses it */
    if (!sasl_name_valid(nul1 + 1, clen, why) || !passwd_valid(nul2 + 1, plen, why))
        return -1;
    if (zlen > 0) {
        if (!sasl_name_valid(p, zlen, why))
            return -1;
        /* RFC 4616 2: acting as another identity is not supported */
        if (zlen != clen || memcmp(p, nul1 + 1, clen) != 0) {
            buf_setf(why, "authorization identity differs from authentication identity");
            return -1;
        }
    }
    buf_reset(authzid);
    buf_append(authzid, p, zlen);
    buf_reset(authcid);
    buf_append(authcid, nul1 + 1, clen);
    wipe(passwd);
    buf_append(passwd, nul2 + 1, plen);
    return 0;
}

static enum sasl_result fail(struct sasl_exchange *x)
{
    x->state = ST_DONE;
    wipe(&x->passwd);
    wipe(&x->scratch);
    return SASL_FAIL;
}

static enum sasl_result challenge_with(struct sasl_exchange *x, int state, const char *text,
                                       struct buf *challenge)
{
    x->state = state;
    sasl_base64_encode(text, strlen(text), challenge);
    return SASL_CONTINUE;
}

/* decode - wire text into x->scratch; -1 + why */
static int decode(struct sasl_exchange *x, const char *s, size_t len, struct buf *why)
{
    wipe(&x->scratch);
    if (len > SASL_WIRE_MAX) {
        buf_setf(why, "response longer than %d bytes", SASL_WIRE_MAX);
        return -1;
    }
    struct buf reason = BUF_INIT;
    int rc = sasl_base64_decode(s, len, SASL_WIRE_MAX, &x->scratch, &reason);
    if (rc < 0)
        buf_setf(why, "malformed response: %s", buf_cstr(&reason));
    buf_free(&reason);
    return rc;
}

/* consume - act on one decoded response in the current state */
static enum sasl_result consume(struct sasl_exchange *x, struct buf *challenge, struct buf *why)
{
    switch (x->state) {
    case ST_PLAIN:
        if (sasl_plain_parse(x->scratch.data ? x->scratch.data : "", x->scratch.len, &x->authzid,
                             &x->authcid, &x->passwd, why) < 0)
            return fail(x);
        wipe(&x->scratch);
        x->state = ST_DONE;
        return SASL_DONE;
    case ST_LOGIN_USER:
        if (!sasl_name_valid(x->scratch.data, x->scratch.len, why))
            return fail(x);
        buf_reset(&x->authcid);
        buf_append(&x->authcid, x->scratch.data, x->scratch.len);
        return challenge_with(x, ST_LOGIN_PASS, "Password:", challenge);
    case ST_LOGIN_PASS:
        if (!passwd_valid(x->scratch.data, x->scratch.len, why))
            return fail(x);
        wipe(&x->passwd);
        buf_append(&x->passwd, x->scratch.data, x->scratch.len);
        wipe(&x->scratch);
        x->state = ST_DONE;
        return SASL_DONE;
    default:
        buf_setf(why, "unexpected response");
        return fail(x);
    }
}

enum sasl_result sasl_exchange_start(struct sasl_exchange *x, const char *initial, size_t len,
                                     struct buf *challenge, struct buf *why)
{
    buf_reset(challenge);
    if (x->state != ST_NEW) {
        buf_setf(why, "exchange already started");
        return fail(x);
    }
    if (x->mech != SASL_MECH_PLAIN && x->mech != SASL_MECH_LOGIN) {
        buf_setf(why, "unsupported mechanism");
        return fail(x);
    }
    int first = x->mech == SASL_MECH_PLAIN ? ST_PLAIN : ST_LOGIN_USER;
    if (initial == NULL || len == 0) {
        /* RFC 4616 2: PLAIN starts with an empty challenge; LOGIN asks */
        return challenge_with(x, first, x->mech == SASL_MECH_PLAIN ? "" : "Username:", challenge);
    }
    if (len == 1 && initial[0] == '*') {
        buf_setf(why, "authentication cancelled");
        return fail(x);
    }
    x->state = first;
    if (len == 1 && initial[0] == '=') {
        /* RFC 4954 4: "=" is an initial response of zero length */
        wipe(&x->scratch);
    } else if (decode(x, initial, len, why) < 0) {
        return fail(x);
    }
    return consume(x, challenge, why);
}

enum sasl_result sasl_exchange_step(struct sasl_exchange *x, const char *response, size_t len,
                                    struct buf *challenge, struct buf *why)
{
    buf_reset(challenge);
    if (x->state == ST_NEW || x->state == ST_DONE) {
        buf_setf(why, "unexpected response");
        return fail(x);
    }
    if (response == NULL)
        response = "";
    /* RFC 4954 4: "*" cancels the exchange */
    if (len == 1 && response[0] == '*') {
        buf_setf(why, "authentication cancelled");
        return fail(x);
    }
    if (decode(x, response, len, why) < 0)
        return fail(x);
    return consume(x, challenge, why);
}
