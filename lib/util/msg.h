/* msg - logging in Postfix's line format.
 *
 * Every line reads "postern/PROGRAM[PID]: text" (syslog adds time and host),
 * or, in a log file, "Mon DD HH:MM:SS host postern/PROGRAM[PID]: text", so
 * tools written for Postfix logs work unchanged. Levels: info (no prefix),
 * "warning: ", "error: ", "fatal: " (exit 1), "panic: " (abort).
 *
 * Sinks are chosen by the program: stderr (commands, and anyone before the
 * configuration is read), syslog facility mail, and/or an append-only log
 * file that is opened before the process gives up its privileges.
 */
#ifndef UTIL_MSG_H
#define UTIL_MSG_H

#include <stdarg.h>

extern int msg_verbose;

/* msg_init - set the program name; logs go to stderr until told otherwise. */
void msg_init(const char *progname);
/* msg_set_ident - the syslog ident, e.g. "postern/submission" (default postern/PROG). */
void msg_set_ident(const char *ident);
const char *msg_ident(void);
const char *msg_progname(void);
/* msg_set_stderr - also (or no longer) write "PROG: level: text" to stderr. */
void msg_set_stderr(int on);
/* msg_syslog_open - log to syslog with the named facility ("mail", "local0", ...).
 * Opens the socket now, so it keeps working after chroot. -1 on a bad facility. */
int msg_syslog_open(const char *facility);
void msg_syslog_close(void);
/* msg_logfile_open - append to PATH (created 0644). -1 and errno on failure. */
int msg_logfile_open(const char *path);
void msg_logfile_close(void);
/* msg_set_hostname - the host name written into log-file lines. */
void msg_set_hostname(const char *host);
/* msg_set_cleanup - run before a fatal exit (remove a half-written file, ...). */
void msg_set_cleanup(void (*fn)(void));

void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* msg_fatal_status - like msg_fatal, but exit with status (a sysexits.h
 * code, for commands whose callers act on it: sendmail, postdrop). */
void msg_fatal_status(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void msg_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

enum { MSG_INFO, MSG_WARN, MSG_ERROR, MSG_FATAL, MSG_PANIC };

#endif
