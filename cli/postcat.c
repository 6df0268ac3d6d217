/* postcat - print queue files in readable form (Postfix postcat(1)).
 *
 *   postcat [-c config_dir] [-behv] FILE ...
 *   postcat [-c config_dir] [-behv] -q QUEUEID ...
 *
 * Sections are framed as Postfix frames them ("*** ENVELOPE RECORDS path
 * ***", "*** MESSAGE CONTENTS path ***", "*** MESSAGE FILE END path ***"),
 * so scripts that parse postcat output keep working. A damaged file is
 * printed as far as it could be read, then reported as fatal (exit 1).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/queue_file.h"
#include "mail/queue_id.h"
#include "mail/smtp_cmd.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/msg.h"

#define SHOW_ENV  1
#define SHOW_HEAD 2
#define SHOW_BODY 4

/* Queues that -q searches, in Postfix's order of likelihood. */
static const char *const search_queues[] = {"incoming", "active",   "deferred",
                                            "hold",     "maildrop", "corrupt"};

static void out_write(const void *p, size_t n)
{
    if (n > 0 && fwrite(p, 1, n, stdout) != n)
        msg_fatal("write error on standard output: %s", strerror(errno));
}

static void print_time(const char *label, const char *value)
{
    long long secs;
    char stamp[64];
    char *end;

    errno = 0;
    secs = strtoll(value, &end, 10);
    if (errno == 0 && end != value && (*end == 0 || *end == '.')) {
        time_t t = (time_t)secs;
        struct tm tm;
        if (localtime_r(&t, &tm) != NULL &&
            strftime(stamp, sizeof(stamp), "%a %b %e %H:%M:%S %Y", &tm) > 0) {
            printf("%s: %s\n", label, stamp);
            return;
        }
    }
    printf("%s: %s\n", label, value);
}

/* print_notify - a QF_NOTIFY record as its RFC 3461 keywords. */
static void print_notify(const struct buf *data)
{
    int v;
    if (qf_notify_parse(data->data, data->len, &v) < 0) {
        printf("dsn_notify: %s\n", data->data);
        return;
    }
    if (v & SMTP_NOTIFY_NEVER) {
        printf("dsn_notify: NEVER\n");
        return;
    }
    printf("dsn_notify: %s%s%s%s%s\n", (v & SMTP_NOTIFY_SUCCESS) ? "SUCCESS" : "",
           (v & SMTP_NOTIFY_SUCCESS) && (v & (SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY)) ? "," : "",
           (v & SMTP_NOTIFY_FAILURE) ? "FAILURE" : "",
           (v & SMTP_NOTIFY_FAILURE) && (v & SMTP_NOTIFY_DELAY) ? "," : "",
           (v & SMTP_NOTIFY_DELAY) ? "DELAY" : "");
}

/* print_warn - a QF_WARN record: the time a delay warning is due, or 0
 * when none is (any more). */
static void print_warn(const struct buf *data)
{
    long long when;
    if (qf_warn_parse(data->data, data->len, &when) == 0 && when == 0)
        printf("warning_message_time: 0\n");
    else
        print_time("warning_message_time", data->data);
}

/* Split content into header and body at the first empty line (RFC 5322
 * 2.1), across record boundaries. */
struct content_state {
    int in_header;
    int at_line_start;
};

static void print_content(struct content_state *cs, int show, const char *p, size_t n)
{
    if ((show & (SHOW_HEAD | SHOW_BODY)) == (SHOW_HEAD | SHOW_BODY)) {
        out_write(p, n);
        return;
    }
    size_t i = 0;
    while (i < n && cs->in_header) {
        const char *lf = memchr(p + i, '\n', n - i);
        size_t end = lf ? (size_t)(lf - p) + 1 : n;
        if (cs->at_line_start && p[i] == '\n') {
            cs->in_header = 0; /* the empty line belongs to neither part */
            i++;
            break;
        }
        if (show & SHOW_HEAD)
            out_write(p + i, end - i);
        cs->at_line_start = (lf != NULL);
        i = end;
    }
    if (i < n && !cs->in_header && (show & SHOW_BODY))
        out_write(p + i, n - i);
}

/* postcat_file - print one queue file; a file that cannot be read to its
 * end is fatal, as in Postfix. */
static void postcat_file(const char *path, int show)
{
    struct buf why = BUF_INIT, data = BUF_INIT;
    struct content_state cs = {1, 1};
    int type, ret, in_content = 0;
    off_t off;

    struct qf_reader *r = qf_open(path, 0, &why);
    if (r == NULL)
        msg_fatal("%s", buf_cstr(&why));
    if (show & SHOW_ENV)
        printf("*** ENVELOPE RECORDS %s ***\n", path);
    while ((ret = qf_read(r, &type, &data, &off, &why)) > 0) {
        if (type == QF_CONTENT) {
            if (!in_content && (show & (SHOW_HEAD | SHOW_BODY)))
                printf("*** MESSAGE CONTENTS %s ***\n", path);
            in_content = 1;
            if (show & (SHOW_HEAD | SHOW_BODY)) {
                fflush(stdout);
                print_content(&cs, show, data.data, data.len);
            }
            continue;
        }
        if (!(show & SHOW_ENV))
            continue;
        switch (type) {
        case QF_TIME:
            print_time("message_arrival_time", data.data);
            break;
        case QF_SIZE:
            printf("message_size: %s\n", data.data);
            break;
        case QF_ATTR:
            printf("named_attribute: %s\n", data.data);
            break;
        case QF_SENDER:
            printf("sender: %s\n", data.data);
            break;
        case QF_ORCPT:
            printf("original_recipient: %s\n", data.data);
            break;
        case QF_NOTIFY:
            print_notify(&data);
            break;
        case QF_WARN:
            print_warn(&data);
            break;
        case QF_RCPT:
            printf("recipient: %s\n", data.data);
            break;
        case QF_DONE:
            printf("done_recipient: %s\n", data.data);
            break;
        default:
            printf("record type %c: %s\n", type, data.data);
            break;
        }
    }
    if (ret == 0) {
        if (!in_content && (show & (SHOW_HEAD | SHOW_BODY)))
            printf("*** MESSAGE CONTENTS %s ***\n", path);
        printf("*** MESSAGE FILE END %s ***\n", path);
    }
    if (fflush(stdout) != 0)
        msg_fatal("write error on standard output: %s", strerror(errno));
    qf_close(r);
    buf_free(&data);
    /* What was readable is out; now say why the rest is not. */
    if (ret < 0)
        msg_fatal("%s", buf_cstr(&why));
    buf_free(&why);
}

/* find_queue_file - the path of a queue ID, relative to queue_directory,
 * into path; 0 or -1. Hashed queues are searched at the configured depth
 * and flat, since hash_queue_depth may have changed since the file was
 * written. */
static int find_queue_file(const char *id, struct buf *path)
{
    struct argv *hashed = argv_split(conf_str("hash_queue_names"), ", \t\r\n");
    long depth = conf_int("hash_queue_depth");
    struct stat st;
    int found = -1;

    for (size_t q = 0; q < sizeof(search_queues) / sizeof(search_queues[0]) && found < 0; q++) {
        int is_hashed = 0;
        for (size_t i = 0; i < hashed->argc; i++)
            if (strcmp(hashed->argv[i], search_queues[q]) == 0)
                is_hashed = 1;
        if (is_hashed && depth > 0) {
            char hash[2 * QUEUE_ID_HASH_MAX + 1];
            queue_id_hash(id, (int)depth, hash, sizeof(hash));
            buf_reset(path);
            buf_printf(path, "%s/%s/%s", search_queues[q], hash, id);
            if (lstat(path->data, &st) == 0 && S_ISREG(st.st_mode)) {
                found = 0;
                break;
            }
        }
        buf_reset(path);
        buf_printf(path, "%s/%s", search_queues[q], id);
        if (lstat(path->data, &st) == 0 && S_ISREG(st.st_mode))
            found = 0;
    }
    argv_free(hashed);
    return found;
}

__attribute__((noreturn)) static void usage(void)
{
    msg_fatal("usage: postcat [-c config_dir] [-behv] [-q] file|queue_id ...");
}

int main(int argc, char **argv)
{
    const char *conf_arg = NULL;
    struct buf why = BUF_INIT;
    int show = 0, by_id = 0, c;

    msg_init("postcat");
    while ((c = getopt(argc, argv, "bc:ehqv")) != -1) {
        switch (c) {
        case 'b':
            show |= SHOW_BODY;
            break;
        case 'c':
            conf_arg = optarg;
            break;
        case 'e':
            show |= SHOW_ENV;
            break;
        case 'h':
            show |= SHOW_HEAD;
            break;
        case 'q':
            by_id = 1;
            break;
        case 'v':
            msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    if (show == 0)
        show = SHOW_ENV | SHOW_HEAD | SHOW_BODY;

    if (by_id) {
        const char *dir = mail_conf_dir(conf_arg);
        if (mail_conf_load(dir, &why) < 0)
            msg_fatal("%s", buf_cstr(&why));
        const char *queue_dir = conf_str("queue_directory");
        if (chdir(queue_dir) < 0)
            msg_fatal("chdir %s: %s", queue_dir, strerror(errno));
    }
    for (int i = optind; i < argc; i++) {
        if (!by_id) {
            postcat_file(argv[i], show);
            continue;
        }
        struct buf path = BUF_INIT;
        if (!queue_id_valid(argv[i]))
            msg_fatal("%.64s: not a valid queue ID", argv[i]);
        if (find_queue_file(argv[i], &path) < 0)
            msg_fatal("open queue file %s: no such file in %s", argv[i],
                      conf_str("queue_directory"));
        postcat_file(path.data, show);
        buf_free(&path);
    }
    buf_free(&why);
    return 0;
}
