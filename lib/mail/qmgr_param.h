/* qmgr_param - per-transport queue manager settings.
 *
 * Postfix names some settings after the master.cf service that uses them:
 * <transport>_destination_recipient_limit, <transport>_destination_
 * concurrency_limit, ... For a transport the parameter table knows (local,
 * smtp, virtual) the table gives the default; for any other name the value
 * is taken from main.cf (or a -o override) when it is set there, else from
 * the fallback parameter: default_<suffix>, as in Postfix, or a named one
 * (<transport>_initial_destination_concurrency falls back to
 * initial_destination_concurrency). A transport whose name cannot be part
 * of a parameter name ("smtp-out") gets the fallback.
 */
#ifndef MAIL_QMGR_PARAM_H
#define MAIL_QMGR_PARAM_H

#include "conf/config.h"
#include "util/buf.h"

/* qmgr_param_long - the integer <transport>_<suffix> in c, within
 * [min, max]; when neither set nor known, default_<suffix>. 0 and *out, or
 * -1 + why (a value that is not a number in range, an expansion error) so
 * the caller can warn and use a safe value. */
int qmgr_param_long(const struct config *c, const char *transport, const char *suffix, long min,
                    long max, long *out, struct buf *why);

/* qmgr_param_str - the expanded text of <transport>_<suffix>, else of
 * fallback (NULL: default_<suffix>), into out (trimmed). 0 or -1 + why
 * (which names the parameter). */
int qmgr_param_str(const struct config *c, const char *transport, const char *suffix,
                   const char *fallback, struct buf *out, struct buf *why);

/* qmgr_param_long_or - qmgr_param_long with a named fallback (NULL:
 * default_<suffix>). */
int qmgr_param_long_or(const struct config *c, const char *transport, const char *suffix,
                       const char *fallback, long min, long max, long *out, struct buf *why);

#endif
