/* qmgr_param - <transport>_<suffix> parameters with the default_<suffix>
 * (or a named) fallback (qmgr_param.h).
 */
#include "mail/qmgr_param.h"

#include <stdio.h>
#include <string.h>

#include "conf/params.h"
#include "util/strutil.h"

#define QMGR_PARAM_NAME_MAX 200

/* param_name - which parameter holds transport's setting: name[] gets
 * <transport>_<suffix> when that is set or known, else the fallback. 0 or
 * -1 + why (a name too long). */
static int param_name(const struct config *c, const char *transport, const char *suffix,
                      const char *fallback, char name[QMGR_PARAM_NAME_MAX], struct buf *why)
{
    int n = snprintf(name, QMGR_PARAM_NAME_MAX, "%s_%s", transport, suffix);
    /* A service name such as "smtp-out" cannot be a parameter name, so it
     * can only have the default. */
    if (n > 0 && n < QMGR_PARAM_NAME_MAX && config_valid_name(name, (size_t)n) &&
        (config_find(c, name) != NULL || param_find(name) != NULL))
        return 0;
    if (fallback != NULL)
        n = snprintf(name, QMGR_PARAM_NAME_MAX, "%s", fallback);
    else
        n = snprintf(name, QMGR_PARAM_NAME_MAX, "default_%s", suffix);
    if (n < 0 || n >= QMGR_PARAM_NAME_MAX) {
        buf_setf(why, "bad parameter suffix \"%s\"", suffix);
        return -1;
    }
    return 0;
}

int qmgr_param_str(const struct config *c, const char *transport, const char *suffix,
                   const char *fallback, struct buf *out, struct buf *why)
{
    char name[QMGR_PARAM_NAME_MAX];
    struct buf value = BUF_INIT;

    if (param_name(c, transport, suffix, fallback, name, why) < 0)
        return -1;
    int rc = config_lookup(c, name, &value, why);
    if (rc == 0)
        buf_set(out, str_trim(value.data));
    buf_free(&value);
    return rc;
}

int qmgr_param_long_or(const struct config *c, const char *transport, const char *suffix,
                       const char *fallback, long min, long max, long *out, struct buf *why)
{
    char name[QMGR_PARAM_NAME_MAX];
    struct buf value = BUF_INIT;

    if (param_name(c, transport, suffix, fallback, name, why) < 0)
        return -1;
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
    return qmgr_param_long_or(c, transport, suffix, NULL, min, max, out, why);
}
