/* postqueue - the unprivileged queue commands (Postfix postqueue(1)); also
 * mailq when invoked under that name.
 *
 *   postqueue [-v] [-c config_dir] -p | -j | -f | -s site | -i queue_id
 *
 * -p and -j list the queue from showq(8) (public/showq) in Postfix's mailq
 * text form or as JSON lines (showq_format.h); -f asks qmgr(8) to retry all
 * deferred mail and wakes pickup(8), as Postfix's does. -s site asks qmgr
 * to deliver now the deferred mail with a recipient in that domain
 * (Postfix asks its flush(8) service; Postern's qmgr scans deferred/ for
 * the site itself). A per-message flush needs Postfix's flush(8) service,
 * which Postern does not have: -i says so and fails.
 *
 * Installed setgid setgid_group (postdrop) so that any user can reach the
 * public sockets; nothing else is gained by the group. As in postdrop(1)
 * (conf/setgid_conf.h), a set-id caller may name only the default
 * configuration directory, one listed in alternate_config_directories, or
 * one only root can have written, and loses its environment (except TZ)
 * before anything is opened. Who may list or flush is decided by
 * authorized_mailq_users and authorized_flush_users (root and mail_owner
 * always may).
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "conf/setgid_conf.h"
#include "mail/attr.h"
#include "mail/mail_proto.h"
#include "mail/queue_id.h"
#include "mail/showq_format.h"
#include "maps/map.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/iostuff.h"
#include "util/msg.h"
#include "util/sock.h"
#include "util/stream.h"

enum pq_mode { PQ_NONE, PQ_LIST, PQ_JSON, PQ_FLUSH, PQ_FLUSH_SITE, PQ_FLUSH_ID };

#define OUT_FLUSH_AT 65536 /* bytes of listing buffered before a write */

/* next_item - the next element of a match list: separated by commas and
 * white space, except inside the braces of inline:{ ... }. */
static char *next_item(const char **sp)
{
    const char *s = *sp;
    int depth = 0;

    s += strspn(s, ", \t\r\n");
    if (*s == 0)
        return NULL;
    const char *start = s;
    for (; *s; s++) {
        if (*s == '{')
            depth++;
        else if (*s == '}' && depth > 0)
            depth--;
        else if (depth == 0 && strchr(", \t\r\n", *s))
            break;
    }
    *sp = s;
    return xstrndup(start, (size_t)(s - start));
}

/* user_allowed - Postfix's authorized_*_users: a list of login names and
 * type:table lookups (a table that finds the login name matches, so
 * static:anyone matches everyone), "!" negates; the first match decides
 * and no match denies. A table that cannot be read denies, loudly. */
static int user_allowed(const char *param, const char *login)
{
    const char *list = conf_str(param);
    struct buf why = BUF_INIT, value = BUF_INIT;
    char *item;
    int verdict = 0, decided = 0;

    while (!decided && (item = next_item(&list)) != NULL) {
        const char *name = item;
        int negate = 0, match = 0;
        while (*name == '!') {
            negate = !negate;
            name++;
        }
        if (strchr(name, ':') != NULL) {
            struct map *m = map_open(name, MAP_FOLD_CASE, &why);
            if (m == NULL)
                msg_fatal_status(EX_CONFIG, "%s: %s", param, buf_cstr(&why));
            int got = map_lookup(m, login, &value);
            if (got < 0)
                msg_fatal_status(EX_TEMPFAIL, "%s: %s: %s", param, name, map_error(m));
            match = got == 1;
            map_close(m);
        } else {
            match = strcmp(name, login) == 0;
        }
        if (match) {
            verdict = !negate;
            decided = 1;
        }
        free(item);
    }
    buf_free(&why);
    buf_free(&value);
    return verdict;
}

/* check_access - refuse, like Postfix, users that param does not allow. */
static void check_access(const char *param, const char *what)
{
    uid_t uid = getuid();
    struct passwd *pw;
    char login[256];

    if (uid == 0)
        return;
    if ((pw = getpwnam(conf_str("mail_owner"))) != NULL && pw->pw_uid == uid)
        return;
    pw = getpwuid(uid);
    snprintf(login, sizeof(login), "%s", pw ? pw->pw_name : "unknown");
    if (!user_allowed(param, login))
        msg_fatal_status(EX_NOPERM, "User %s(%ld) is not allowed to %s", login, (long)uid, what);
}

/* out_write - write the listing; a reader that went away (mailq | head) is
 * no error. */
static void out_write(struct buf *out, int final)
{
    if (out->len == 0 || (!final && out->len < OUT_FLUSH_AT))
        return;
    if (write_full(1, out->data, out->len, -1) < 0) {
        if (errno == EPIPE)
            exit(EX_OK);
        msg_fatal_status(EX_IOERR, "output write error: %m");
    }
    buf_reset(out);
}

static void show_queue(enum pq_mode mode)
{
    int timeout = (int)conf_time("ipc_timeout");
    struct buf why = BUF_INIT, out = BUF_INIT;
    struct showq_text text;
    struct attr_list l;

    check_access("authorized_mailq_users", "view the mail queue");
    int fd = unix_connect(MAIL_SOCK_SHOWQ, timeout);
    if (fd < 0) {
        /* No permission is not the same as a mail system that is down. */
        if (errno == EACCES || errno == EPERM)
            msg_fatal_status(EX_SOFTWARE, "Connect to the Postern %s service: %m",
                             conf_str("showq_service_name"));
        msg_fatal_status(EX_UNAVAILABLE,
                         "Queue report unavailable - mail system is down"
                         " (Connect to the Postern %s service: %m)",
                         conf_str("showq_service_name"));
    }
    struct stream *s = stream_open(fd, timeout);
    showq_text_init(&text);
    attr_list_init(&l);
    for (;;) {
        struct showq_msg m;
        int got;

        if (attr_read(s, 0, &l, &why) < 0 || (got = showq_decode(&l, &m, &why)) < 0)
            msg_fatal_status(EX_SOFTWARE, "malformed showq server response: %s", buf_cstr(&why));
        if (got == 0)
            break;
        if (mode == PQ_JSON)
            showq_json_message(&m, &out);
        else
            showq_text_message(&text, &m, &out);
        showq_msg_release(&m);
        attr_list_free(&l);
        out_write(&out, 0);
    }
    attr_list_free(&l);
    (void)stream_close(s);
    if (mode == PQ_LIST)
        showq_text_end(&text, &out);
    out_write(&out, 1);
    buf_free(&out);
    buf_free(&why);
}

/* trigger - send bytes to a trigger service (FIFO or UNIX socket). */
static int trigger(const char *path, const char *bytes, size_t n)
{
    int timeout = (int)conf_time("trigger_timeout");
    struct stat st;
    int fd = -1, ret;

    if (stat(path, &st) < 0)
        return -1;
    if (S_ISFIFO(st.st_mode)) {
        /* O_NONBLOCK: without a reader (service down) open fails at once */
        fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    } else if (S_ISSOCK(st.st_mode)) {
        fd = unix_connect(path, timeout);
    } else {
        errno = EINVAL;
        return -1;
    }
    if (fd < 0)
        return -1;
    ret = write_full(fd, bytes, n, timeout);
    int saved = errno;
    (void)close(fd);
    errno = saved;
    return ret;
}

static void flush_queue(void)
{
    /* Like Postfix's: forget dead destinations, then scan deferred and
     * incoming; and wake pickup for whatever waits in maildrop. */
    static const char qmgr_request[] = {QMGR_REQ_FLUSH_DEAD, QMGR_REQ_SCAN_DEFERRED,
                                        QMGR_REQ_SCAN_INCOMING};

    check_access("authorized_flush_users", "flush the mail queue");
    if (trigger(MAIL_SOCK_QMGR, qmgr_request, sizeof(qmgr_request)) < 0 ||
        trigger(MAIL_SOCK_PICKUP, "W", 1) < 0)
        msg_fatal_status(EX_UNAVAILABLE, "Cannot flush mail queue - mail system is down");
}

/* flush_site - qmgr's 'S' trigger: the byte, then the domain
 * (mail_proto.h), in one write. */
static void flush_site(const char *site)
{
    char req[1 + 255];
    size_t n = strlen(site);

    check_access("authorized_flush_users", "flush the mail queue");
    req[0] = QMGR_REQ_FLUSH_SITE;
    memcpy(req + 1, site, n);
    if (trigger(MAIL_SOCK_QMGR, req, 1 + n) < 0)
        msg_fatal_status(EX_UNAVAILABLE, "Cannot flush mail queue - mail system is down");
}

/* site_ok - a host name or an address literal, as -s accepts them. */
static int site_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 255)
        return 0;
    if (s[0] == '[')
        return n > 2 && s[n - 1] == ']' && strspn(s + 1, "0123456789abcdefABCDEF.:IPVipv") == n - 2;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n &&
           s[0] != '.' && s[0] != '-';
}

__attribute__((noreturn)) static void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: postqueue -f | postqueue -i queueid | postqueue -j | "
                               "postqueue -p | postqueue -s site");
}

int main(int argc, char **argv)
{
    enum pq_mode mode = PQ_NONE;
    const char *conf_arg = NULL, *site = NULL, *flush_id = NULL;
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    int c;

    /* Anything we open must not become a caller's stdin/stdout/stderr. */
    setgid_conf_stdio();
    umask(022);
    /* The process name is not the caller's to choose, except for mailq. */
    msg_init(strcmp(base, "mailq") == 0 ? "mailq" : "postqueue");

    while ((c = getopt(argc, argv, "c:fi:jps:v")) != -1) {
        if (c != 'c' && c != 'v' && mode != PQ_NONE)
            usage();
        switch (c) {
        case 'c':
            conf_arg = optarg;
            break;
        case 'f':
            mode = PQ_FLUSH;
            break;
        case 'i':
            mode = PQ_FLUSH_ID;
            flush_id = optarg;
            break;
        case 'j':
            mode = PQ_JSON;
            break;
        case 'p':
            mode = PQ_LIST;
            break;
        case 's':
            mode = PQ_FLUSH_SITE;
            site = optarg;
            break;
        case 'v':
            if (getuid() == 0)
                msg_verbose++;
            break;
        default:
            usage();
        }
    }
    if (optind != argc)
        usage();
    if (mode == PQ_NONE && strcmp(base, "mailq") == 0)
        mode = PQ_LIST;
    if (mode == PQ_NONE)
        usage();

    /* Also drops the environment of a set-gid caller. */
    setgid_conf_read(conf_arg);
    setgid_conf_log("postqueue");
    const char *queue_dir = conf_str("queue_directory");
    if (chdir(queue_dir) < 0)
        msg_fatal_status(EX_UNAVAILABLE, "chdir %s: %m", queue_dir);
    signal(SIGPIPE, SIG_IGN);

    switch (mode) {
    case PQ_LIST:
    case PQ_JSON:
        show_queue(mode);
        break;
    case PQ_FLUSH:
        flush_queue();
        break;
    case PQ_FLUSH_SITE:
        if (!site_ok(site))
            msg_fatal_status(EX_USAGE,
                             "Cannot flush mail queue - invalid destination: \"%.100s%s\"", site,
                             strlen(site) > 100 ? "..." : "");
        flush_site(site);
        break;
    case PQ_FLUSH_ID:
        if (!queue_id_valid(flush_id))
            msg_fatal_status(EX_USAGE, "Cannot flush queue ID - invalid name: \"%.100s%s\"",
                             flush_id, strlen(flush_id) > 100 ? "..." : "");
        check_access("authorized_flush_users", "flush the mail queue");
        msg_fatal_status(EX_UNAVAILABLE,
                         "Cannot flush queue ID %s: Postern has no per-message flush service; "
                         "use postqueue -f",
                         flush_id);
    case PQ_NONE:
        usage();
    }
    return EX_OK;
}
