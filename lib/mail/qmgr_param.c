/* qmgr_param - <transport>_<suffix> parameters with the default_<suffix>
 * fallback (qmgr_param.h).
 */
#include "mail/qmgr_param.h"

#include <stdio.h>
#include <string.h>

#include "conf/params.h"
#include "util/strutil.h"

#define QMGR_PARAM_NAME_MAX 200

/* lookup_long - one parameter's expanded value as a number in range. */
static int lookup_long(const struct config *c, const char *name, long min, long max, long *out,
                       struct buf *why)
{
    struct buf value = BUF_INIT;
    int rc = config_lookup(c, name, &value, why);
    if (rc == 0) {
        char *v = str_trim(value.data);
        if (str_to_long(v, min, max, out) < 0) {
            buf_setf(why, "%s = %s: expected a number from %ld to %ld", name, v, min, max);
            rc = -1;
        }
    }
    buf_free(&value);
    return rc;
}

int qmgr_param_long(const struct config *c, const char *transport, const char *suffix, long min,
                    long max, long *out, struct buf *why)
{
    char name[QMGR_PARAM_NAME_MAX];
    int n = snprintf(name, sizeof(name), "%s_%s", transport, suffix);
    /* A service name such as "smtp-out" cannot be a parameter name, so it
     * can only have the default. */
    if (n > 0 && (size_t)n < sizeof(name) && config_valid_name(name, (size_t)n) &&
        (config_find(c, name) != NULL || param_find(name) != NULL))
        return lookup_long(c, name, min, max, out, why);
    n = snprintf(name, sizeof(name), "default_%s", suffix);
    if (n < 0 || (size_t)n >= sizeof(name)) {
        buf_setf(why, "bad parameter suffix \"%s\"", suffix);
        return -1;
    }
    return lookup_long(c, name, min, max, out, why);
}
