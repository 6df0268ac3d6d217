/* sasl_client - the client side of SMTP AUTH with PLAIN and LOGIN:
 * credentials from smtp_sasl_password_maps, the mechanism choice, and the
 * base64 responses (sasl_client.h). */
#include "auth/sasl_client.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/sasl_base64.h"
#include "util/alloc.h"

#define CRED_MAX      1024 /* user name or password */
#define CHALLENGE_MAX 1024 /* decoded 334 text */
#define KEY_MAX       1024 /* a table key we build */
#define OFFERED_SHOW  200  /* bytes of the server's AUTH list in a reason */

/* wipe_free - free a string that held a password. */
static void wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* wipe_buf - empty a buffer that held a password (or its encoding). */
static void wipe_buf(struct buf *b)
{
    if (b->data != NULL && b->cap != 0)
        explicit_bzero(b->data, b->cap);
    b->len = 0;
}

void sasl_client_cred_free(struct sasl_client_cred *cred)
{
    wipe_free(cred->username);
    wipe_free(cred->password);
    cred->username = cred->password = NULL;
}

/* find_key - one key; 1 found (cred set), 0 not found, -1 + why. */
static int find_key(struct maps *maps, const char *key, struct sasl_client_cred *cred,
                    struct buf *why)
{
    struct buf value = BUF_INIT;
    int rc;

    if (strlen(key) > KEY_MAX)
        return 0;
    rc = maps_find(maps, key, 0, &value);
    if (rc < 0) {
        buf_setf(why, "SASL password lookup for %s: %s", key, maps_error(maps));
    } else if (rc > 0) {
        /* "user:password"; the password may hold ':'; no ':' is an empty
         * password (Postfix smtp_sasl_passwd_lookup) */
        char *colon = memchr(value.data, ':', value.len);
        size_t ulen = colon ? (size_t)(colon - value.data) : value.len;
        cred->username = xmemdup(value.data, ulen);
        cred->password = colon ? xmemdup(colon + 1, value.len - ulen - 1) : xstrdup("");
    }
    wipe_buf(&value);
    buf_free(&value);
    return rc;
}

int sasl_client_find_cred(struct maps *maps, const char *nexthop, const char *host,
                          struct sasl_client_cred *cred, struct buf *why)
{
    int rc = 0;

    cred->username = cred->password = NULL;
    if (maps == NULL || maps->n == 0)
        return 0;
    /* Postfix order: the server host name, then the next hop as written */
    if (host != NULL && *host != 0)
        rc = find_key(maps, host, cred, why);
    if (rc == 0 && nexthop != NULL && *nexthop != 0)
        rc = find_key(maps, nexthop, cred, why);
    return rc;
}

/* show_offered - the server's list for a reason: bounded, printable. */
static void show_offered(struct buf *out, const char *offered)
{
    size_t i;

    for (i = 0; offered[i] != 0 && i < OFFERED_SHOW; i++) {
        unsigned char c = (unsigned char)offered[i];
        buf_putc(out, c >= 0x20 && c < 0x7f ? c : '?');
    }
    if (offered[i] != 0)
        buf_puts(out, "...");
}

/* Cyrus SASL security properties that PLAIN and LOGIN cannot meet. */
static const char *const excluding_options[] = {
    "noplaintext", "noactive", "nodictionary", "mutual_auth", "forward_secrecy",
};

const char *sasl_client_choose(const char *offered, const char *security_options, struct buf *why)
{
    static const char *const preference[] = {"PLAIN", "LOGIN"};
    const char *refused = NULL;
    char *copy, *cp, *opt;

    copy = xstrdup(security_options ? security_options : "");
    for (cp = copy; (opt = strsep(&cp, " \t\r\n,")) != NULL;) {
        int known = strcasecmp(opt, "noanonymous") == 0 || *opt == 0;
        for (size_t i = 0; i < sizeof(excluding_options) / sizeof(excluding_options[0]); i++) {
            if (strcasecmp(opt, excluding_options[i]) == 0) {
                known = 1;
                if (refused == NULL)
                    refused = excluding_options[i];
            }
        }
        if (!known) {
            buf_setf(why, "unknown SASL security option \"%.50s\"", opt);
            free(copy);
            return NULL;
        }
    }
    free(copy);

    const char *chosen = NULL;
    if (refused == NULL) {
        for (size_t p = 0; chosen == NULL && p < sizeof(preference) / sizeof(preference[0]); p++) {
            const char *s = offered ? offered : "";
            size_t mlen = strlen(preference[p]);
            while (*s) {
                size_t n;
                s += strspn(s, " \t");
                n = strcspn(s, " \t");
                if (n == mlen && strncasecmp(s, preference[p], n) == 0) {
                    chosen = preference[p];
                    break;
                }
                s += n;
            }
        }
    }
    if (chosen == NULL && why != NULL) {
        struct buf r = BUF_INIT;
        buf_puts(&r, "no mechanism available: server offered \"");
        show_offered(&r, offered ? offered : "");
        buf_puts(&r, "\"");
        if (refused != NULL)
            buf_printf(&r, ", and %s excludes PLAIN and LOGIN", refused);
        buf_setf(why, "%s", r.data);
        buf_free(&r);
    }
    return chosen;
}

/* check_cred - bounded, NUL-free (they are C strings), a non-empty name. */
static int check_cred(const struct sasl_client_cred *cred, struct buf *why)
{
    if (cred == NULL || cred->username == NULL || cred->password == NULL) {
        buf_setf(why, "no SASL credentials");
        return -1;
    }
    if (*cred->username == 0) {
        buf_setf(why, "empty SASL user name");
        return -1;
    }
    if (strlen(cred->username) > CRED_MAX || strlen(cred->password) > CRED_MAX) {
        buf_setf(why, "SASL user name or password longer than %d bytes", CRED_MAX);
        return -1;
    }
    return 0;
}

/* plain_response - base64("" NUL user NUL password), RFC 4616 2, appended
 * to line. */
static void plain_response(const struct sasl_client_cred *cred, struct buf *line)
{
    struct buf raw = BUF_INIT, enc = BUF_INIT;

    buf_putc(&raw, 0);
    buf_puts(&raw, cred->username);
    buf_putc(&raw, 0);
    buf_puts(&raw, cred->password);
    sasl_base64_encode(raw.data, raw.len, &enc);
    buf_append(line, enc.data, enc.len);
    wipe_buf(&raw);
    wipe_buf(&enc);
    buf_free(&raw);
    buf_free(&enc);
}

/* encode_into - line = base64(s). */
static void encode_into(const char *s, struct buf *line)
{
    buf_reset(line);
    sasl_base64_encode(s, strlen(s), line);
}

int sasl_client_initial(const char *mech, const struct sasl_client_cred *cred, struct buf *line,
                        struct buf *why)
{
    buf_reset(line);
    if (check_cred(cred, why) < 0)
        return -1;
    if (mech != NULL && strcasecmp(mech, "PLAIN") == 0) {
        buf_puts(line, "AUTH PLAIN ");
        plain_response(cred, line);
        return 0;
    }
    if (mech != NULL && strcasecmp(mech, "LOGIN") == 0) {
        buf_puts(line, "AUTH LOGIN");
        return 0;
    }
    buf_setf(why, "unsupported SASL mechanism");
    return -1;
}

/* prompt_wants_user - a LOGIN prompt asking for the user name
 * ("Username:", "User Name", "login:"). */
static int prompt_wants_user(const struct buf *prompt)
{
    static const char *const words[] = {"user", "name", "login"};

    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        size_t n = strlen(words[w]);
        for (size_t i = 0; i + n <= prompt->len; i++)
            if (strncasecmp(prompt->data + i, words[w], n) == 0)
                return 1;
    }
    return 0;
}

int sasl_client_step(const char *mech, const struct sasl_client_cred *cred, const char *challenge,
                     struct buf *line, struct buf *why)
{
    struct buf prompt = BUF_INIT, reason = BUF_INIT;
    size_t len;
    int rc = 0;

    buf_reset(line);
    if (check_cred(cred, why) < 0)
        return -1;
    if (challenge == NULL)
        challenge = "";
    /* tolerate the trailing blanks some servers put after the text */
    len = strnlen(challenge, (CHALLENGE_MAX + 2) / 3 * 4 + 64);
    while (len > 0 && (challenge[len - 1] == ' ' || challenge[len - 1] == '\t'))
        len--;
    if (len > (CHALLENGE_MAX + 2) / 3 * 4) {
        buf_setf(why, "SASL challenge too long");
        return -1;
    }
    if (sasl_base64_decode(challenge, len, CHALLENGE_MAX, &prompt, &reason) < 0) {
        buf_setf(why, "malformed SASL challenge: %s", buf_cstr(&reason));
        rc = -1;
    } else if (mech != NULL && strcasecmp(mech, "PLAIN") == 0) {
        /* RFC 4422 5: the server may ask for the initial response with an
         * empty challenge; PLAIN has nothing else to say */
        if (prompt.len != 0) {
            buf_setf(why, "unexpected non-empty PLAIN challenge");
            rc = -1;
        } else {
            plain_response(cred, line);
        }
    } else if (mech != NULL && strcasecmp(mech, "LOGIN") == 0) {
        encode_into(prompt_wants_user(&prompt) ? cred->username : cred->password, line);
    } else {
        buf_setf(why, "unsupported SASL mechanism");
        rc = -1;
    }
    buf_free(&prompt);
    buf_free(&reason);
    return rc;
}
