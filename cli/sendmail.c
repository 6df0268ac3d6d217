/* sendmail - the Sendmail-compatible mail submission interface (Postfix
 * sendmail(1)); also mailq when invoked under that name.
 *
 *   sendmail [options] [--] recipient ...
 *
 * Reads a message from standard input, turns CRLF line ends into LF, stops
 * at a line with a single "." unless -i/-oi was given (Sendmail's rule; no
 * other dot handling is done on local input), and hands sender, recipients
 * and content to the setgid postdrop(1) as a maildrop.h record stream
 * through a pipe. postdrop is executed directly, never through a shell, and
 * its exit status becomes ours: 0 means the message is safely queued.
 * -bp, -q and -bi run postqueue and newaliases from command_directory.
 */
#include <errno.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/maildrop.h"
#include "mail/queue_file.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/iostuff.h"
#include "util/msg.h"

enum sm_mode { SM_DELIVER, SM_MAILQ, SM_FLUSH, SM_FLUSH_SITE, SM_NEWALIASES };

struct sm_opts {
    enum sm_mode mode;
    const char *conf_dir; /* from -C (directory of the file), else NULL */
    const char *sender;   /* -f / -r */
    const char *fullname; /* -F */
    const char *notify;   /* -N */
    const char *ret;      /* -R */
    const char *envid;    /* -V */
    const char *site;     /* -qR */
    int extract;          /* -t */
    int ignore_dots;      /* -i, -oi */
};

__attribute__((noreturn)) static void usage(void)
{
    msg_fatal_status(EX_USAGE,
                     "usage: sendmail [-bm|-bp|-bi] [-t] [-i] [-f sender] [-F fullname] "
                     "[-N dsn] [-R ret] [-V envid] [-C config_file] [-v] [--] recipient ...");
}

/* envelope_text_ok - command-line text that may go into an envelope
 * record: bounded, no control characters (DESIGN.md invariant 2). */
static void check_envelope_text(const char *what, const char *s, int may_be_empty)
{
    size_t n = strlen(s);

    if (n == 0 && !may_be_empty)
        msg_fatal_status(EX_USAGE, "empty %s", what);
    if (n > MAILDROP_TEXT_MAX - 64)
        msg_fatal_status(EX_USAGE, "%s too long: %.64s...", what, s);
    if (!maildrop_text_ok(s, n))
        msg_fatal_status(EX_USAGE, "%s contains a control character (newline?): %.64s", what, s);
}

static void parse_args(int argc, char **argv, struct sm_opts *o)
{
    static char conf_buf[4096];
    int c;

    /* "+": options end at the first recipient, as with Sendmail. */
    while ((c = getopt(argc, argv, "+B:C:F:GIL:N:R:UV:b:f:h:inq::r:to:v")) != -1) {
        switch (c) {
        case 'B': /* RFC 6152 body type: cleanup works this out from the content */
            if (strcasecmp(optarg, "7BIT") != 0 && strcasecmp(optarg, "8BITMIME") != 0)
                msg_fatal_status(EX_USAGE, "-B: bad body type: %.64s", optarg);
            break;
        case 'C': {
            struct stat st;
            snprintf(conf_buf, sizeof(conf_buf), "%s", optarg);
            /* Postfix: "-C config_file": main.cf is in that file's directory. */
            if (stat(conf_buf, &st) == 0 && S_ISDIR(st.st_mode))
                o->conf_dir = conf_buf;
            else
                o->conf_dir = dirname(conf_buf);
            break;
        }
        case 'F':
            o->fullname = optarg;
            break;
        case 'G': /* gateway submission, -U initial submission, -n no aliasing: */
        case 'U': /* accepted and ignored, as Postfix does */
        case 'n':
        case 'h': /* hop count */
        case 'L': /* syslog label */
            break;
        case 'I':
            o->mode = SM_NEWALIASES;
            break;
        case 'N':
            o->notify = optarg;
            break;
        case 'R':
            if (strcasecmp(optarg, "full") != 0 && strcasecmp(optarg, "hdrs") != 0)
                msg_fatal_status(EX_USAGE, "-R option requires full or hdrs: %.64s", optarg);
            o->ret = strcasecmp(optarg, "full") == 0 ? "FULL" : "HDRS";
            break;
        case 'V': { /* RFC 3461 4.4 ENVID */
            struct maildrop_check mc;
            struct buf attr = BUF_INIT, why = BUF_INIT;
            check_envelope_text("-V envid", optarg, 0);
            buf_printf(&attr, "%s=%s", MAILDROP_ATTR_ENVID, optarg);
            maildrop_check_init(&mc, 0);
            if (maildrop_record(&mc, QF_ATTR, attr.data, attr.len, &why) < 0)
                msg_fatal_status(EX_USAGE, "-V: %s", buf_cstr(&why));
            buf_free(&attr);
            buf_free(&why);
            o->envid = optarg;
            break;
        }
        case 'b':
            if (strcmp(optarg, "m") == 0)
                o->mode = SM_DELIVER;
            else if (strcmp(optarg, "p") == 0)
                o->mode = SM_MAILQ;
            else if (strcmp(optarg, "i") == 0)
                o->mode = SM_NEWALIASES;
            else
                msg_fatal_status(EX_USAGE, "-b%.16s: unsupported mode", optarg);
            break;
        case 'f':
        case 'r':
            o->sender = optarg;
            break;
        case 'i':
            o->ignore_dots = 1;
            break;
        case 'o': /* Sendmail -oX options: only -oi means anything here */
            if (strcmp(optarg, "i") == 0)
                o->ignore_dots = 1;
            break;
        case 'q':
            if (optarg == NULL || *optarg == 0) {
                o->mode = SM_FLUSH;
            } else if (optarg[0] == 'R' && optarg[1]) {
                o->mode = SM_FLUSH_SITE;
                o->site = optarg + 1;
            } else {
                msg_fatal_status(EX_USAGE, "-q%.32s: unsupported (use -q or -qRsite)", optarg);
            }
            break;
        case 't':
            o->extract = 1;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
}

/* run_command - replace this process with command_directory/NAME args. */
__attribute__((noreturn)) static void run_command(const struct sm_opts *o, const char *name,
                                                  const char *a1, const char *a2)
{
    struct buf path = BUF_INIT;
    char *args[8];
    int n = 0;

    buf_printf(&path, "%s/%s", conf_str("command_directory"), name);
    if (access(path.data, X_OK) < 0)
        msg_fatal_status(EX_UNAVAILABLE, "%s: %s (is %s installed in command_directory?)",
                         path.data, strerror(errno), name);
    args[n++] = (char *)name;
    if (o->conf_dir != NULL) {
        args[n++] = "-c";
        args[n++] = (char *)o->conf_dir;
    }
    if (a1)
        args[n++] = (char *)a1;
    if (a2)
        args[n++] = (char *)a2;
    args[n] = NULL;
    execv(path.data, args);
    msg_fatal_status(EX_UNAVAILABLE, "execute %s: %s", path.data, strerror(errno));
}

/* add_line - one input line (without its LF) to the content. */
static void add_line(struct buf *content, const char *p, size_t n, int had_lf, size_t limit)
{
    /* CRLF -> LF: the queue holds LF line ends (postern-queue(5)). */
    if (had_lf && n > 0 && p[n - 1] == '\r')
        n--;
    if (limit > 0 && (content->len + n + 1 > limit))
        msg_fatal_status(EX_DATAERR, "message file too big");
    buf_append(content, p, n);
    if (had_lf)
        buf_putc(content, '\n');
}

/* read_message - standard input up to EOF, or to a "." line unless dots
 * are ignored. */
static void read_message(struct buf *content, int ignore_dots, size_t limit)
{
    struct buf line = BUF_INIT;
    char chunk[65536];

    for (;;) {
        ssize_t got = read(0, chunk, sizeof(chunk));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            msg_fatal_status(EX_IOERR, "read standard input: %s", strerror(errno));
        }
        if (got == 0)
            break;
        const char *cp = chunk, *end = chunk + got;
        while (cp < end) {
            const char *lf = memchr(cp, '\n', (size_t)(end - cp));
            size_t n = lf ? (size_t)(lf - cp) : (size_t)(end - cp);
            buf_append(&line, cp, n);
            cp += n;
            if (limit > 0 && line.len > limit)
                msg_fatal_status(EX_DATAERR, "message file too big");
            if (lf == NULL)
                break;
            cp++;
            if (!ignore_dots &&
                (strcmp(buf_cstr(&line), ".") == 0 || strcmp(buf_cstr(&line), ".\r") == 0)) {
                buf_free(&line);
                return;
            }
            add_line(content, line.data, line.len, 1, limit);
            buf_reset(&line);
        }
    }
    if (line.len > 0 && !(!ignore_dots && strcmp(buf_cstr(&line), ".") == 0))
        add_line(content, line.data, line.len, 0, limit);
    buf_free(&line);
}

/* The envelope sender, owned here for the life of the process. */
static struct buf sender_buf = BUF_INIT;

static const char *default_sender(void)
{
    struct passwd *pw = getpwuid(getuid());

    if (pw == NULL)
        msg_fatal_status(EX_NOUSER, "no login name found for user ID %lu", (unsigned long)getuid());
    buf_set(&sender_buf, pw->pw_name);
    return sender_buf.data;
}

/* normalize_notify - "never" or a comma list of success, failure, delay,
 * upper-cased for the record (RFC 3461 4.1). */
static char *normalize_notify(const char *s)
{
    char *v = xstrdup(s);
    for (char *p = v; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    struct buf attr = BUF_INIT;
    buf_printf(&attr, "%s=%s", MAILDROP_ATTR_NOTIFY, v);
    struct maildrop_check c;
    struct buf why = BUF_INIT;
    maildrop_check_init(&c, 0);
    if (maildrop_record(&c, QF_ATTR, attr.data, attr.len, &why) < 0)
        msg_fatal_status(EX_USAGE,
                         "-N option requires never or a list of success, failure, delay: %.64s", s);
    buf_free(&why);
    buf_free(&attr);
    return v;
}

static int write_record(int fd, int type, const void *p, size_t n)
{
    struct buf rec = BUF_INIT;
    int ret;

    maildrop_put(&rec, type, p, n);
    ret = write_full(fd, rec.data, rec.len, -1);
    buf_free(&rec);
    return ret;
}

/* send_stream - the envelope and content as postdrop reads them. -1 when
 * postdrop went away (its status says why). */
static int send_stream(int fd, const struct sm_opts *o, const char *sender, char **rcpts, int nrcpt,
                       const struct buf *content)
{
    struct buf env = BUF_INIT;

    if (o->fullname) {
        buf_reset(&env);
        buf_printf(&env, "%s=%s", MAILDROP_ATTR_FULLNAME, o->fullname);
        if (write_record(fd, QF_ATTR, env.data, env.len) < 0)
            goto fail;
    }
    if (o->extract && write_record(fd, QF_ATTR, MAILDROP_ATTR_EXTRACT "=1",
                                   strlen(MAILDROP_ATTR_EXTRACT "=1")) < 0)
        goto fail;
    if (o->notify) {
        buf_reset(&env);
        buf_printf(&env, "%s=%s", MAILDROP_ATTR_NOTIFY, o->notify);
        if (write_record(fd, QF_ATTR, env.data, env.len) < 0)
            goto fail;
    }
    if (o->ret) {
        buf_reset(&env);
        buf_printf(&env, "%s=%s", MAILDROP_ATTR_DSN_RET, o->ret);
        if (write_record(fd, QF_ATTR, env.data, env.len) < 0)
            goto fail;
    }
    if (o->envid) {
        buf_reset(&env);
        buf_printf(&env, "%s=%s", MAILDROP_ATTR_ENVID, o->envid);
        if (write_record(fd, QF_ATTR, env.data, env.len) < 0)
            goto fail;
    }
    if (write_record(fd, QF_SENDER, sender, strlen(sender)) < 0)
        goto fail;
    for (int i = 0; i < nrcpt; i++)
        if (write_record(fd, QF_RCPT, rcpts[i], strlen(rcpts[i])) < 0)
            goto fail;
    for (size_t off = 0; off < content->len; off += QF_CONTENT_CHUNK) {
        size_t n = content->len - off;
        if (n > QF_CONTENT_CHUNK)
            n = QF_CONTENT_CHUNK;
        if (write_record(fd, QF_CONTENT, content->data + off, n) < 0)
            goto fail;
    }
    if (write_record(fd, QF_END, NULL, 0) < 0)
        goto fail;
    buf_free(&env);
    return 0;
fail:
    buf_free(&env);
    return -1;
}

int main(int argc, char **argv)
{
    struct sm_opts o;
    struct buf why = BUF_INIT;
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

    msg_init("sendmail");
    memset(&o, 0, sizeof(o));
    if (strcmp(base, "mailq") == 0) {
        msg_init("mailq");
        o.mode = SM_MAILQ;
    }
    parse_args(argc, argv, &o);

    const char *dir = mail_conf_dir(o.conf_dir);
    if (mail_conf_load(dir, &why) < 0)
        msg_fatal_status(EX_CONFIG, "%s", buf_cstr(&why));
    if (o.conf_dir == NULL && getenv("MAIL_CONFIG") != NULL && *getenv("MAIL_CONFIG"))
        o.conf_dir = dir;

    switch (o.mode) {
    case SM_MAILQ:
        run_command(&o, "postqueue", "-p", NULL);
    case SM_FLUSH:
        run_command(&o, "postqueue", "-f", NULL);
    case SM_FLUSH_SITE:
        run_command(&o, "postqueue", "-s", o.site);
    case SM_NEWALIASES:
        run_command(&o, "newaliases", NULL, NULL);
    case SM_DELIVER:
        break;
    }

    char **rcpts = argv + optind;
    int nrcpt = argc - optind;
    for (int i = 0; i < nrcpt; i++)
        check_envelope_text("recipient", rcpts[i], 0);
    if (nrcpt == 0 && !o.extract)
        msg_fatal_status(EX_USAGE, "no recipients specified");

    const char *sender = o.sender ? o.sender : default_sender();
    /* "<>" is the null sender (RFC 5321 4.5.5); other angle brackets go. */
    if (strcmp(sender, "<>") == 0) {
        sender = "";
    } else if (sender[0] == '<' && sender[strlen(sender) - 1] == '>' && strlen(sender) > 1) {
        struct buf inner = BUF_INIT;
        buf_append(&inner, sender + 1, strlen(sender) - 2);
        buf_free(&sender_buf);
        sender_buf = inner;
        sender = sender_buf.data;
    }
    check_envelope_text("sender", sender, 1);
    if (o.fullname)
        check_envelope_text("full name", o.fullname, 1);
    else if (getenv("NAME") && *getenv("NAME") &&
             maildrop_text_ok(getenv("NAME"), strlen(getenv("NAME"))) &&
             strlen(getenv("NAME")) < MAILDROP_TEXT_MAX - 64)
        o.fullname = getenv("NAME");
    if (o.notify)
        o.notify = normalize_notify(o.notify);

    long limit = conf_int("message_size_limit");
    struct buf content = BUF_INIT;
    read_message(&content, o.ignore_dots, limit > 0 ? (size_t)limit : 0);

    struct buf postdrop = BUF_INIT;
    buf_printf(&postdrop, "%s/postdrop", conf_str("command_directory"));
    int pfd[2];
    if (pipe(pfd) < 0)
        msg_fatal_status(EX_OSERR, "pipe: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    pid_t pid = fork();
    if (pid < 0)
        msg_fatal_status(EX_OSERR, "fork: %s", strerror(errno));
    if (pid == 0) {
        char *args[6];
        int n = 0;
        (void)close(pfd[1]);
        if (dup2(pfd[0], 0) < 0)
            _exit(EX_OSERR);
        if (pfd[0] != 0)
            (void)close(pfd[0]);
        args[n++] = "postdrop";
        if (o.conf_dir) {
            args[n++] = "-c";
            args[n++] = (char *)o.conf_dir;
        }
        if (msg_verbose)
            args[n++] = "-v";
        args[n] = NULL;
        signal(SIGPIPE, SIG_DFL);
        execv(postdrop.data, args);
        msg_error("execute %s: %s", postdrop.data, strerror(errno));
        _exit(errno == ENOENT ? EX_UNAVAILABLE : EX_OSERR);
    }
    (void)close(pfd[0]);
    int sent = send_stream(pfd[1], &o, sender, rcpts, nrcpt, &content);
    int saved = errno;
    (void)close(pfd[1]);

    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            msg_fatal_status(EX_OSERR, "waitpid: %s", strerror(errno));
    if (WIFSIGNALED(status))
        msg_fatal_status(EX_TEMPFAIL, "%s terminated with signal %d", postdrop.data,
                         WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        exit(WEXITSTATUS(status)); /* postdrop told the user why */
    if (sent < 0)
        msg_fatal_status(EX_TEMPFAIL, "write to %s: %s", postdrop.data, strerror(saved));
    buf_free(&content);
    buf_free(&postdrop);
    buf_free(&why);
    return EX_OK;
}
