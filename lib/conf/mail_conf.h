/* mail_conf - the configuration of this process: where it comes from and
 * typed access to parameters.
 *
 * The directory is, in order: the -c DIR argument, $MAIL_CONFIG, the
 * compiled-in default (/etc/postern). mail_conf_read() loads DIR/main.cf,
 * checks every known parameter's value against its type, and warns about
 * unknown parameters that nothing references (as postconf does). A bad value
 * is fatal and names FILE:LINE and the parameter, so no program ever runs
 * half-configured. master.cf "-o name=value" overrides go in through
 * mail_conf_override() before the typed getters are used.
 */
#ifndef CONF_MAIL_CONF_H
#define CONF_MAIL_CONF_H

#include "conf/config.h"
#include "util/buf.h"

/* The configuration in use (NULL before mail_conf_read). */
extern struct config *mail_conf;

/* mail_conf_dir - pick the directory: arg (from -c) if non-NULL, else
 * $MAIL_CONFIG, else the default. Remembered for mail_conf_read. */
const char *mail_conf_dir(const char *arg);
/* mail_conf_read - load DIR/main.cf (fatal on any error, naming FILE:LINE). */
void mail_conf_read(void);
/* mail_conf_load - the non-fatal form: 0, or -1 + why. Also checks types. */
int mail_conf_load(const char *dir, struct buf *why);
/* mail_conf_unknown - append "FILE: unused parameter: name=value" (Postfix's
 * wording) for each unknown parameter that no value, no name in
 * smtpd_restriction_classes and nothing in extra_refs_text (e.g. master.cf)
 * references, one per line; returns how many. Per-transport forms of known
 * settings (smtp_destination_rate_delay) count as known. */
int mail_conf_unknown(const struct config *c, const char *extra_refs_text, struct buf *out);
/* mail_conf_override - set name=value from "master.cf -o" (or the command
 * line); the value is checked against its type on use. */
void mail_conf_override(const char *name, const char *value, const char *origin);

/* Typed getters: the expanded value of a parameter (its setting, else its
 * default). A value that does not parse is fatal with FILE:LINE. Asking for a
 * name that is not in the table is a programming error (panic). The returned
 * string stays valid until the next mail_conf_read/override. */
const char *conf_str(const char *name);
long conf_int(const char *name);
int conf_bool(const char *name);
long conf_time(const char *name); /* seconds */

/* mail_log_setup - route this program's logs per main.cf: maillog_file when
 * set, else syslog with syslog_facility; syslog_name prefixes the program
 * name. Call after mail_conf_read and before giving up privileges. */
void mail_log_setup(const char *progname, int keep_stderr);

#endif
