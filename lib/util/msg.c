/* msg - Postfix-format log lines to stderr, syslog and/or a log file. */
#include "util/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int msg_verbose;

static char progname[64] = "postern";
static char ident[128] = "postern";
static char hostname[256];
static int to_stderr = 1;
static int to_syslog;
static int syslog_facility = LOG_MAIL;
static int logfile_fd = -1;
static void (*cleanup_fn)(void);

static const struct {
    const char *name;
    int value;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
    {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

void msg_init(const char *name)
{
    const char *slash = strrchr(name, '/');
    char copy[sizeof(progname)];
    /* name may be msg_progname() itself: copy before overwriting. */
    snprintf(copy, sizeof(copy), "%s", slash ? slash + 1 : name);
    memcpy(progname, copy, sizeof(progname));
    snprintf(ident, sizeof(ident), "postern/%s", progname);
    if (!hostname[0] && gethostname(hostname, sizeof(hostname) - 1) < 0)
        snprintf(hostname, sizeof(hostname), "localhost");
}

void msg_set_ident(const char *id)
{
    snprintf(ident, sizeof(ident), "%s", id);
    /* Re-announce the ident but keep the socket: closing it here would end
     * syslog logging for good in a process that has already chroot()ed. */
    if (to_syslog)
        openlog(ident, LOG_PID | LOG_NDELAY, syslog_facility);
}

const char *msg_ident(void)
{
    return ident;
}

const char *msg_progname(void)
{
    return progname;
}

void msg_set_stderr(int on)
{
    to_stderr = on;
}

int msg_syslog_open(const char *facility)
{
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++) {
        if (strcasecmp(facility, facilities[i].name) == 0) {
            syslog_facility = facilities[i].value;
            openlog(ident, LOG_PID | LOG_NDELAY, syslog_facility);
            to_syslog = 1;
            return 0;
        }
    }
    return -1;
}

void msg_syslog_close(void)
{
    if (to_syslog)
        closelog();
    to_syslog = 0;
}

int msg_logfile_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -1;
    if (logfile_fd >= 0)
        close(logfile_fd);
    logfile_fd = fd;
    return 0;
}

void msg_logfile_close(void)
{
    if (logfile_fd >= 0)
        close(logfile_fd);
    logfile_fd = -1;
}

void msg_set_hostname(const char *host)
{
    snprintf(hostname, sizeof(hostname), "%s", host);
}

void msg_set_cleanup(void (*fn)(void))
{
    cleanup_fn = fn;
}

static const char *level_prefix(int level)
{
    switch (level) {
    case MSG_WARN:
        return "warning: ";
    case MSG_ERROR:
        return "error: ";
    case MSG_FATAL:
        return "fatal: ";
    case MSG_PANIC:
        return "panic: ";
    default:
        return "";
    }
}

/* Replace control characters so one log call is always exactly one line. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

void msg_vlog(int level, const char *fmt, va_list ap)
{
    int saved_errno = errno;
    char text[2048];
    va_list cp;

    if (level < MSG_INFO || level > MSG_PANIC)
        level = MSG_PANIC; /* a bad level is a bug; don't index past prio[] */

    va_copy(cp, ap);
    vsnprintf(text, sizeof(text), fmt, cp);
    va_end(cp);
    sanitize(text);
    const char *prefix = level_prefix(level);

    if (to_stderr)
        fprintf(stderr, "%s: %s%s\n", progname, prefix, text);
    if (to_syslog) {
        static const int prio[] = {LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT, LOG_CRIT};
        syslog(prio[level], "%s%s", prefix, text);
    }
    if (logfile_fd >= 0) {
        char line[2600], stamp[32];
        /* A log file line always names the host, even without msg_init. */
        if (!hostname[0] && gethostname(hostname, sizeof(hostname) - 1) < 0)
            snprintf(hostname, sizeof(hostname), "localhost");
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        int n = snprintf(line, sizeof(line), "%s %s %s[%ld]: %s%s\n", stamp, hostname, ident,
                         (long)getpid(), prefix, text);
        if (n > 0) {
            size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
            if (len == sizeof(line) - 1)
                line[len - 1] = '\n';
            /* One write per line: O_APPEND keeps lines from many processes whole. */
            if (write(logfile_fd, line, len) < 0) {
                /* the log is where we would report this */
            }
        }
    }
    errno = saved_errno;
}

void msg_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(MSG_INFO, fmt, ap);
    va_end(ap);
}

void msg_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(MSG_WARN, fmt, ap);
    va_end(ap);
}

void msg_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(MSG_ERROR, fmt, ap);
    va_end(ap);
}

static void fatal_exit(int status) __attribute__((noreturn));

static void fatal_exit(int status)
{
    if (cleanup_fn) {
        void (*fn)(void) = cleanup_fn;
        cleanup_fn = NULL;
        fn();
    }
    exit(status);
}

void msg_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(MSG_FATAL, fmt, ap);
    va_end(ap);
    fatal_exit(1);
}

void msg_fatal_status(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(MSG_FATAL, fmt, ap);
    va_end(ap);
    fatal_exit(status);
}

void msg_panic(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_vlog(MSG_PANIC, fmt, ap);
    va_end(ap);
    abort();
}
