/* setgid_conf - choosing the configuration, and cleaning up the process,
 * in a set-gid program (postdrop, postqueue).
 *
 * The threat: postdrop(1) and postqueue(1) are installed setgid
 * setgid_group so that any local user can create files in maildrop/ and
 * reach the public/ sockets. main.cf decides where they write and what
 * they open (queue_directory, maillog_file, tables), so a caller who could
 * point them at a main.cf of its own, with -c or MAIL_CONFIG, would use the
 * group's rights on files of its choosing. As in Postfix, a set-id caller
 * other than root may therefore name only the default directory, one the
 * administrator listed in alternate_config_directories of the default
 * main.cf, or one that only root can have written. Nothing else the caller
 * controls should reach the program either: its environment is dropped
 * (except TZ) once the configuration is chosen, and closed descriptors 0-2
 * are taken by /dev/null so that no file opened later can become a
 * caller's standard output or error.
 */
#ifndef CONF_SETGID_CONF_H
#define CONF_SETGID_CONF_H

#include <limits.h>
#include <sys/types.h>

/* setgid_conf_privileged_ids - 1 when these ids mean a set-id run by someone
 * other than root (real and effective ids differ), so the caller may not
 * choose the configuration. setgid_conf_privileged() asks for this process. */
int setgid_conf_privileged_ids(uid_t ruid, uid_t euid, gid_t rgid, gid_t egid);
int setgid_conf_privileged(void);

/* setgid_conf_dir_listed - 1 if dir is, to the byte, one of the directories
 * in list (an alternate_config_directories value: separated by commas and
 * white space). */
int setgid_conf_dir_listed(const char *list, const char *dir);

/* setgid_conf_dir_trusted - 1 if only root can have written dir/main.cf:
 * every component of the resolved path is a directory owned by root and not
 * writable by group or others (a sticky directory on the way is allowed,
 * since others cannot replace root's entries in it; the last component
 * may not be one), and main.cf is a regular file (not a link) owned by root
 * and writable by root only. The resolved path goes into resolved; 0 for
 * anything else, including a directory that does not exist. */
int setgid_conf_dir_trusted(const char *dir, char resolved[static PATH_MAX]);

/* setgid_conf_read - load the configuration from arg (-c), else
 * $MAIL_CONFIG, else the default directory, refusing (exit EX_NOPERM) a
 * privileged caller's directory that is neither the default, nor listed,
 * nor trusted; a name longer than PATH_MAX - 16 exits EX_USAGE, a main.cf
 * that does not load EX_CONFIG. Then, for a privileged caller, the
 * environment is cleaned (setgid_conf_env_clean). */
void setgid_conf_read(const char *arg);

/* setgid_conf_log - log as SYSLOG_NAME/name to maillog_file, else syslog,
 * and always to stderr too. Unlike mail_log_setup(), a maillog_file this
 * user may not append to is no error: the caller is still told on stderr. */
void setgid_conf_log(const char *name);

/* setgid_conf_env_clean - drop every environment variable except TZ (kept
 * with its value, even an empty one). */
void setgid_conf_env_clean(void);

/* setgid_conf_stdio - open /dev/null on whichever of descriptors 0, 1 and 2
 * are closed; exits EX_UNAVAILABLE when that fails. Call it first. */
void setgid_conf_stdio(void);

#endif
