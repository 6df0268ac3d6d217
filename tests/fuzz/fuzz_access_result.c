/* fuzz_access_result - libFuzzer target for access(5) values and
 * restriction lists (lib/mail/access_result, lib/mail/restriction_list).
 * Every input is some action; codes are 4xx/5xx only for ACCESS_CODE; an
 * enhanced status is well formed or empty; restriction lists parse or fail
 * with a reason and leave nothing allocated. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/access_result.h"
#include "mail/restriction_list.h"

static enum restriction_arg arg_of(void *ctx, const char *name)
{
    (void)ctx;
    if (strcasecmp(name, "check_client_access") == 0)
        return RESTRICTION_TABLE;
    if (strcasecmp(name, "reject_rbl_client") == 0)
        return RESTRICTION_WORD;
    if (strcasecmp(name, "sleep") == 0)
        return RESTRICTION_NUMBER;
    if (strcasecmp(name, "permit") == 0 || strcasecmp(name, "reject") == 0)
        return RESTRICTION_NO_ARG;
    return RESTRICTION_UNKNOWN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct access_result r;
    struct restriction_list l;
    struct buf why = BUF_INIT;
    char dsn[ACCESS_DSN_MAX];

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = 0; /* a table value is a C string */

    access_result_init(&r);
    access_result_parse(s, &r);
    if ((r.action == ACCESS_CODE) != (r.code != 0))
        abort();
    if (r.code != 0 && (r.code < 400 || r.code > 599))
        abort();
    if (r.dsn[0] != 0 && *access_dsn_split(r.dsn, dsn) != 0)
        abort();
    if (r.text.len > strlen(s) || strlen(r.word) >= ACCESS_WORD_MAX)
        abort();
    access_result_free(&r);

    if (restriction_list_parse(s, arg_of, NULL, &l, &why) == 0) {
        if (l.count > RESTRICTION_LIST_MAX)
            abort();
        for (size_t i = 0; i < l.count; i++) {
            const struct restriction *x = &l.items[i];
            if (x->name[0] == 0 && (x->arg == NULL || strchr(x->arg, ':') == NULL))
                abort();
            if (x->name[0] != 0 &&
                (arg_of(NULL, x->name) == RESTRICTION_NO_ARG) != (x->arg == NULL))
                abort();
        }
        restriction_list_free(&l);
    } else if (why.len == 0 || l.items != NULL) {
        abort();
    }
    buf_free(&why);
    free(s);
    return 0;
}
