/* postdrop - the setgid helper that puts a locally submitted message into
 * the maildrop queue (Postfix postdrop(1)).
 *
 *   postdrop [-rv] [-c config_dir]
 *
 * Installed setgid group setgid_group (postdrop), so that any local user
 * can create a file in maildrop/ (mode 1730: the group may create, not
 * list). Standard input is the record stream of maildrop.h, written by
 * sendmail(1); it is hostile input, checked record by record before it is
 * copied. postdrop adds the arrival time and the submitting uid itself.
 *
 * The file is created mode 0444 and owned by the submitting user, as
 * Postfix's postdrop does: pickup(8) opens it with that user's rights and
 * takes the file owner as the submitter, whatever a record claims. Exit
 * status 0 only after qf_commit() (fsync, rename, fsync of the directory):
 * then the mail is safe.
 *
 * Which configuration a set-gid run may use, and what it keeps of the
 * caller's environment, is conf/setgid_conf.h's decision.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "conf/setgid_conf.h"
#include "mail/maildrop.h"
#include "mail/queue_file.h"
#include "util/buf.h"
#include "util/iostuff.h"
#include "util/msg.h"
#include "util/sock.h"

#define PICKUP_TRIGGER "public/pickup"

/* The temporary file, for the signal handler: only async-signal-safe use. */
static char tmp_path[PATH_MAX];

static void remove_tmp(void)
{
    if (tmp_path[0])
        (void)unlink(tmp_path);
}

static void on_signal(int sig)
{
    remove_tmp();
    _exit(EX_TEMPFAIL);
}

/* trigger_pickup - wake pickup(8) with Postfix's wakeup request "W". A
 * pickup that is not running is no error: its periodic scan finds the file. */
static void trigger_pickup(void)
{
    struct stat st;
    int fd = -1;

    if (stat(PICKUP_TRIGGER, &st) < 0) {
        if (msg_verbose)
            msg_warn("%s: %s (pickup will find the file at its next scan)", PICKUP_TRIGGER,
                     strerror(errno));
        return;
    }
    if (S_ISFIFO(st.st_mode))
        fd = open(PICKUP_TRIGGER, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    else if (S_ISSOCK(st.st_mode))
        fd = unix_connect(PICKUP_TRIGGER, (int)conf_time("trigger_timeout"));
    else
        errno = EINVAL;
    if (fd < 0 || write_full(fd, "W", 1, (int)conf_time("trigger_timeout")) < 0) {
        if (msg_verbose)
            msg_warn("trigger %s: %s", PICKUP_TRIGGER, strerror(errno));
    }
    if (fd >= 0)
        (void)close(fd);
}

__attribute__((noreturn)) static void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: postdrop [-rv] [-c config_dir]");
}

int main(int argc, char **argv)
{
    const char *conf_arg = NULL;
    struct buf why = BUF_INIT, data = BUF_INIT;
    char id[QUEUE_ID_LEN + 1];
    int c;

    /* A caller that closed 0-2 must not get the maildrop file or the log
     * on one of them (Postfix's postdrop does the same). */
    setgid_conf_stdio();
    msg_init("postdrop");
    msg_set_cleanup(remove_tmp); /* no fatal exit leaves a half-written maildrop file */
    umask(022);
    /* A low RLIMIT_FSIZE set by the caller must fail a write, not kill us
     * with a half-written file left behind. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    while ((c = getopt(argc, argv, "c:rv")) != -1) {
        switch (c) {
        case 'c':
            conf_arg = optarg;
            break;
        case 'r': /* Postfix's "internal protocol" flag; the stream is always ours */
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    /* Also drops the environment of a set-gid caller. */
    setgid_conf_read(conf_arg);
    setgid_conf_log("postdrop");

    const char *queue_dir = conf_str("queue_directory");
    if (chdir(queue_dir) < 0)
        msg_fatal_status(errno == EACCES ? EX_NOPERM : EX_TEMPFAIL, "chdir %s: %s", queue_dir,
                         strerror(errno));

    long size_limit = conf_int("message_size_limit");
    struct maildrop_check chk;
    maildrop_check_init(&chk, size_limit > 0 ? (size_t)size_limit : 0);

    /* The arrival time is postdrop's own, never the caller's. */
    struct timeval now;
    gettimeofday(&now, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGHUP);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGQUIT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGTERM);
    /* Blocked until the path is known, so a signal cannot strand the file. */
    sigprocmask(SIG_BLOCK, &block, &old);
    struct qf_writer *w = qf_create("maildrop", 0444, id, &why);
    if (w == NULL) {
        int saved = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        msg_fatal_status(saved == EACCES || saved == EPERM ? EX_NOPERM : EX_TEMPFAIL, "%s",
                         buf_cstr(&why));
    }
    snprintf(tmp_path, sizeof(tmp_path), "%s", qf_writer_path(w));
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);

    struct buf text = BUF_INIT;
    buf_printf(&text, "%lld.%06ld", (long long)now.tv_sec, (long)now.tv_usec);
    int werr = qf_put_str(w, QF_TIME, text.data);
    buf_reset(&text);
    buf_printf(&text, "uid=%lu", (unsigned long)getuid());
    werr |= qf_put_str(w, QF_ATTR, text.data);
    buf_free(&text);

    for (;;) {
        unsigned char hdr[MAILDROP_HDR_LEN];
        int type, eof, ret;
        size_t len;

        if (read_full(0, hdr, sizeof(hdr), -1, &eof) < 0)
            msg_fatal_status(EX_DATAERR, "%s%s",
                             eof ? "premature end of input: no end record"
                                 : "read standard input: ",
                             eof ? "" : strerror(errno));
        if (maildrop_header(&chk, hdr, &type, &len, &why) < 0)
            msg_fatal_status(EX_DATAERR, "uid=%lu: %s", (unsigned long)getuid(), buf_cstr(&why));
        buf_reset(&data);
        buf_reserve(&data, len);
        if (len > 0 && read_full(0, data.data, len, -1, &eof) < 0)
            msg_fatal_status(EX_DATAERR, "%s%s",
                             eof ? "premature end of input in a record" : "read standard input: ",
                             eof ? "" : strerror(errno));
        data.len = len;
        data.data[len] = 0;
        ret = maildrop_record(&chk, type, data.data, len, &why);
        if (ret < 0)
            msg_fatal_status(EX_DATAERR, "uid=%lu: %s", (unsigned long)getuid(), buf_cstr(&why));
        if (ret == 1)
            break;
        if (werr == 0)
            werr = (type == QF_CONTENT) ? qf_put_content(w, data.data, len)
                                        : qf_put(w, type, data.data, len);
    }
    unsigned char extra;
    ssize_t got = read(0, &extra, 1);
    if (got > 0)
        msg_fatal_status(EX_DATAERR, "data after the end record");
    buf_free(&data);

    /* A write failure sticks in w; qf_commit reports it and removes the file. */
    (void)werr;
    if (qf_commit(w, NULL, &why) < 0)
        msg_fatal_status(EX_TEMPFAIL, "%s", buf_cstr(&why));
    tmp_path[0] = 0;
    if (msg_verbose)
        msg_info("%s: uid=%lu queued in maildrop", id, (unsigned long)getuid());
    trigger_pickup();
    buf_free(&why);
    return EX_OK;
}
