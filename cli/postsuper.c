/* postsuper - queue maintenance for the superuser (Postfix postsuper(1)).
 *
 *   postsuper [-psv] [-c config_dir] [-d queue_id] [-h queue_id]
 *             [-H queue_id] [-r queue_id] [queue ...]
 *
 * -d deletes messages (and their bounce, defer and trace logs), -h puts
 * them on hold, -H releases them from hold into deferred/ (due at once),
 * -r requeues them: into incoming/, where qmgr(8) takes them as new and
 * resolves every open recipient again. A queue_id of "ALL" means every
 * message in the queues, "-" reads IDs from standard input; each option may
 * be repeated. -s moves files to where hash_queue_names / hash_queue_depth
 * want them and removes hash directories no longer needed; -p removes
 * temporary files (".ID.tmp") left by a crash more than a day ago. Without
 * options, -s and -p are done, as Postfix does.
 *
 * Only root may run it. It works directly on the queue directory, after
 * giving up root for mail_owner, so every file and directory it creates is
 * owned as the daemons expect and a compromised queue cannot lead it
 * outside. Moves never replace a file (queue_move); every ID is checked
 * with queue_id_valid before it becomes part of a path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/mail_proto.h"
#include "mail/mail_server.h"
#include "mail/queue_dirs.h"
#include "mail/queue_id.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/iostuff.h"
#include "util/msg.h"
#include "util/sock.h"

#define TEMP_MAX_AGE (24 * 3600) /* -p: older temporary files are crash debris */
#define ID_LINE_MAX  256         /* "-": longer input lines are not queue IDs */

enum op { OP_DELETE, OP_REQUEUE, OP_HOLD, OP_RELEASE, OP_COUNT };

/* Per operation: what it is called in reports, where it looks by default,
 * which queues it never takes from. */
static const struct op_info {
    const char *done;    /* log line: "ID: removed" */
    const char *summary; /* "Deleted: N messages" */
    const char *const *defaults;
    const char *const *skip;
} ops[OP_COUNT] = {
    [OP_DELETE] = {"removed", "Deleted",
                   (const char *const[]){"hold", "incoming", "active", "deferred", NULL},
                   (const char *const[]){NULL}},
    [OP_REQUEUE] = {"requeued", "Requeued",
                    (const char *const[]){"hold", "incoming", "active", "deferred", NULL},
                    (const char *const[]){"corrupt", NULL}},
    [OP_HOLD] = {"placed on hold", "Placed on hold",
                 (const char *const[]){"incoming", "active", "deferred", NULL},
                 (const char *const[]){"hold", "corrupt", NULL}},
    [OP_RELEASE] = {"released from hold", "Released from hold", (const char *const[]){"hold", NULL},
                    (const char *const[]){"incoming", "active", "deferred", "corrupt", NULL}},
};

/* Queues a command line may name; corrupt/ only ever by name. */
static const char *const message_queues[] = {"incoming", "active",  "deferred",
                                             "hold",     "corrupt", NULL};
/* -s / -p: log directories first, so their files are in place before the
 * message files (as Postfix orders it). maildrop is flat: purge only. */
static const char *const structure_queues[] = {"bounce",   "defer",  "trace",    "maildrop",
                                               "incoming", "active", "deferred", "hold",
                                               "corrupt",  NULL};
static const char *const log_queues[] = {"bounce", "defer", "trace", NULL};

static int failures;        /* operations that failed: exit status */
static int count[OP_COUNT]; /* messages done per operation */

static int listed(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return 1;
    return 0;
}

/* find_in - the path of id in queue, hashed as configured or flat. */
static int find_in(const char *queue, const char *id, struct buf *path)
{
    struct buf why = BUF_INIT;
    struct stat st;
    int found = 0;

    if (queue_path(queue, id, 0, path, &why) == 0 && lstat(path->data, &st) == 0 &&
        S_ISREG(st.st_mode))
        found = 1;
    if (!found) {
        buf_reset(path);
        buf_printf(path, "%s/%s", queue, id);
        found = lstat(path->data, &st) == 0 && S_ISREG(st.st_mode);
    }
    buf_free(&why);
    return found ? 0 : -1;
}

/* touch - make a file due now: qmgr takes a deferred file's time stamp
 * as the time of its next attempt. */
static void touch(const char *queue, const char *id)
{
    struct buf path = BUF_INIT, why = BUF_INIT;

    if (queue_path(queue, id, 0, &path, &why) < 0 ||
        utimensat(AT_FDCWD, path.data, NULL, AT_SYMLINK_NOFOLLOW) < 0)
        msg_warn("%s: cannot update the time stamp of %s: %m", id, path.data);
    buf_free(&path);
    buf_free(&why);
}

/* unlink_logs - the per-message logs of id, hashed and flat. */
static void unlink_logs(const char *id)
{
    struct buf path = BUF_INIT, why = BUF_INIT;

    for (const char *const *q = log_queues; *q; q++) {
        if (queue_path(*q, id, 0, &path, &why) == 0 && unlink(path.data) < 0 && errno != ENOENT)
            msg_warn("%s: remove %s: %m", id, path.data);
        buf_reset(&path);
        buf_printf(&path, "%s/%s", *q, id);
        if (unlink(path.data) < 0 && errno != ENOENT)
            msg_warn("%s: remove %s: %m", id, path.data);
    }
    buf_free(&path);
    buf_free(&why);
}

/* apply - one operation on the file of id at path in queue. 1 done, 0 not
 * (the file went away meanwhile: qmgr finished it), -1 failed. */
static int apply(enum op op, const char *queue, const char *id, const char *path)
{
    struct buf why = BUF_INIT;
    struct stat st;
    int ret = 1;

/* Gone meanwhile (qmgr finished it): not a failure, and not counted. */
#define GONE_OR_FAILED() ((lstat(path, &st) < 0 && errno == ENOENT) ? 0 : -1)
    switch (op) {
    case OP_DELETE:
        /* Logs first, and only while the message exists, as Postfix does. */
        unlink_logs(id);
        if (unlink(path) < 0) {
            buf_setf(&why, "remove %s: %m", path);
            ret = GONE_OR_FAILED();
        }
        break;
    case OP_REQUEUE:
        if (strcmp(queue, "incoming") != 0 && queue_move(path, "incoming", id, &why) < 0)
            ret = GONE_OR_FAILED();
        else
            touch("incoming", id);
        break;
    case OP_HOLD:
        if (queue_move(path, "hold", id, &why) < 0)
            ret = GONE_OR_FAILED();
        break;
    case OP_RELEASE:
        if (queue_move(path, "deferred", id, &why) < 0)
            ret = GONE_OR_FAILED();
        else
            touch("deferred", id);
        break;
    case OP_COUNT:
        break;
    }
#undef GONE_OR_FAILED
    if (ret == 1) {
        msg_info("%s: %s", id, ops[op].done);
        count[op]++;
    } else if (ret < 0) {
        msg_warn("%s: %s", id, buf_cstr(&why));
        failures++;
    }
    buf_free(&why);
    return ret;
}

/* by_id - one operation on one ID, in the first of queues that has it. */
static void by_id(enum op op, const char *const *queues, const char *id)
{
    struct buf path = BUF_INIT;

    if (!queue_id_valid(id)) {
        struct buf shown = BUF_INIT;
        for (const char *p = id; *p && shown.len < 64; p++)
            buf_putc(&shown, (*p > 0x20 && *p < 0x7f) ? *p : '?');
        msg_warn("invalid mail queue id: %s", shown.data ? shown.data : "");
        buf_free(&shown);
        return;
    }
    for (const char *const *q = queues; *q; q++) {
        if (!listed(message_queues, *q) || listed(ops[op].skip, *q) || find_in(*q, id, &path) < 0)
            continue;
        if (apply(op, *q, id, path.data) != 0)
            break; /* done, or failed; 0 means it moved away: look on */
    }
    buf_free(&path);
}

/* by_stream - IDs from standard input, one per line. */
static void by_stream(enum op op, const char *const *queues)
{
    static int used;
    char line[ID_LINE_MAX];

    /* Standard input can be read once; "-d - -h -" would get nothing. */
    if (used++)
        msg_fatal_status(EX_USAGE, "queue ID \"-\" (standard input) may be given only once");
    while (fgets(line, sizeof(line), stdin) != NULL) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] != '\n' && !feof(stdin)) {
            int c;
            while ((c = getchar()) != EOF && c != '\n')
                ;
            msg_warn("invalid mail queue id: line longer than %d bytes", ID_LINE_MAX - 2);
            continue;
        }
        /* The whole line is the ID, as in Postfix; only the white space
         * around it goes. */
        char *s = line + strspn(line, " \t");
        size_t len = strlen(s);
        while (len > 0 && strchr(" \t\r\n", s[len - 1]))
            s[--len] = 0;
        if (*s)
            by_id(op, queues, s);
    }
    if (ferror(stdin))
        msg_fatal_status(EX_IOERR, "read standard input: %m");
}

/* ---- walking a queue ------------------------------------------------------ */

static int is_hash_name(const char *name)
{
    return name[0] && name[1] == 0 && strchr(QUEUE_ID_ALPHABET, name[0]) != NULL;
}

/* is_temp_name - ".ID.tmp", the name writers give a file being built. */
static int is_temp_name(const char *name)
{
    char id[QUEUE_ID_LEN + 1];

    if (strlen(name) != QUEUE_ID_LEN + 5 || name[0] != '.' ||
        strcmp(name + 1 + QUEUE_ID_LEN, ".tmp"))
        return 0;
    memcpy(id, name + 1, QUEUE_ID_LEN);
    id[QUEUE_ID_LEN] = 0;
    return queue_id_valid(id);
}

/* What to do to every file of a walk. */
struct walk {
    const char *queue;
    int mass_op;              /* an op, or -1 */
    int structure;            /* -s: move files to their hashed place */
    int purge;                /* -p: remove old temporary files */
    long depth;               /* the hash depth this queue should have */
    struct argv *ids, *paths; /* mass operation: collected, done after the walk */
};

static void walk_dir(struct walk *w, const char *dir, int level)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;
    struct buf path = BUF_INIT, want = BUF_INIT, why = BUF_INIT;

    if (d == NULL) {
        if (errno != ENOENT || level == 0)
            msg_warn("open directory %s: %m", dir);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        buf_reset(&path);
        buf_printf(&path, "%s/%s", dir, name);
        if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (!is_hash_name(name) || level >= QUEUE_ID_HASH_MAX ||
                strcmp(w->queue, "maildrop") == 0)
                continue;
            walk_dir(w, path.data, level + 1);
            /* A level the configuration no longer has goes once empty. */
            if (w->structure && level + 1 > w->depth && rmdir(path.data) == 0 && msg_verbose)
                msg_info("removed directory %s", path.data);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (is_temp_name(name)) {
            if (w->purge && time(NULL) > st.st_mtime + TEMP_MAX_AGE) {
                if (unlink(path.data) == 0)
                    msg_info("%s: removed old temporary file", path.data);
                else if (errno != ENOENT)
                    msg_warn("remove %s: %m", path.data);
            }
            continue;
        }
        if (!queue_id_valid(name))
            continue;
        if (w->mass_op >= 0) {
            argv_add(w->ids, name);
            argv_add(w->paths, path.data);
        } else if (w->structure && strcmp(w->queue, "maildrop") != 0) {
            if (queue_path(w->queue, name, 0, &want, &why) == 0 &&
                strcmp(want.data, path.data) != 0) {
                if (queue_move(path.data, w->queue, name, &why) == 0) {
                    msg_info("%s: moved to %s", path.data, want.data);
                } else if (errno != ENOENT) {
                    msg_warn("%s: %s", path.data, buf_cstr(&why));
                    failures++;
                }
            }
        }
    }
    closedir(d);
    buf_free(&path);
    buf_free(&want);
    buf_free(&why);
}

static long hash_depth(const char *queue)
{
    struct argv *names = argv_split(conf_str("hash_queue_names"), ", \t\r\n");
    int hashed = 0;

    for (size_t i = 0; i < names->argc; i++)
        hashed |= strcmp(names->argv[i], queue) == 0;
    argv_free(names);
    return hashed ? conf_int("hash_queue_depth") : 0;
}

static void walk_queue(const char *queue, int mass_op, int structure, int purge)
{
    struct walk w = {queue, mass_op, structure, purge, hash_depth(queue), NULL, NULL};

    w.ids = argv_alloc();
    w.paths = argv_alloc();
    walk_dir(&w, queue, 0);
    /* The walk is over before files move, so none is met twice. */
    for (size_t i = 0; i < w.ids->argc; i++)
        (void)apply((enum op)mass_op, queue, w.ids->argv[i], w.paths->argv[i]);
    argv_free(w.ids);
    argv_free(w.paths);
}

/* trigger_qmgr - tell qmgr that incoming/ has work; it scans periodically
 * anyway, so a qmgr that is not running is no error. */
static void trigger_qmgr(void)
{
    static const char req = QMGR_REQ_SCAN_INCOMING;
    int timeout = (int)conf_time("trigger_timeout");
    struct stat st;
    int fd = -1;

    if (stat(MAIL_SOCK_QMGR, &st) == 0) {
        if (S_ISFIFO(st.st_mode))
            fd = open(MAIL_SOCK_QMGR, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        else if (S_ISSOCK(st.st_mode))
            fd = unix_connect(MAIL_SOCK_QMGR, timeout);
    }
    if ((fd < 0 || write_full(fd, &req, 1, timeout) < 0) && msg_verbose)
        msg_info("cannot wake up qmgr (%s): %m; it will find the mail at its next scan",
                 MAIL_SOCK_QMGR);
    if (fd >= 0)
        (void)close(fd);
}

__attribute__((noreturn)) static void usage(void)
{
    msg_fatal_status(EX_USAGE, "usage: postsuper [-d queue_id (delete)] [-h queue_id (hold)] "
                               "[-H queue_id (un-hold)] [-p (purge temporary files)] "
                               "[-r queue_id (requeue)] [-s (structure fix)] [-v (verbose)] "
                               "[-c config_dir] [queue...]");
}

int main(int argc, char **argv)
{
    static const char opt_of[] = "drhH"; /* indexed by enum op */
    struct argv *names[OP_COUNT];
    int all[OP_COUNT] = {0};
    int structure = 0, purge = 0, c;
    const char *conf_arg = NULL;
    struct buf why = BUF_INIT;
    struct stat st;

    for (int fd = 0; fd < 3; fd++)
        if (fstat(fd, &st) < 0 && open("/dev/null", O_RDWR) != fd)
            msg_fatal_status(EX_OSERR, "open /dev/null: %m");
    umask(022);
    msg_init("postsuper");
    if (getuid() != 0)
        msg_fatal_status(EX_NOPERM, "use of this command is reserved for the superuser");

    for (int i = 0; i < OP_COUNT; i++)
        names[i] = argv_alloc();
    while ((c = getopt(argc, argv, "c:d:h:H:pr:sv")) != -1) {
        int op = -1;
        switch (c) {
        case 'c':
            conf_arg = optarg;
            break;
        case 'p':
            purge = 1;
            break;
        case 's':
            structure = 1;
            break;
        case 'v':
            msg_verbose++;
            break;
        case 'd':
        case 'r':
        case 'h':
        case 'H':
            op = (int)(strchr(opt_of, c) - opt_of);
            if (strcmp(optarg, "ALL") == 0)
                all[op] = 1;
            else
                argv_add(names[op], optarg);
            break;
        default:
            usage();
        }
    }
    int any = structure || purge;
    for (int i = 0; i < OP_COUNT; i++)
        any |= all[i] || names[i]->argc > 0;
    if (!any)
        structure = purge = 1; /* Postfix: plain "postsuper" checks the queue */

    if (mail_conf_load(mail_conf_dir(conf_arg), &why) < 0)
        msg_fatal_status(EX_CONFIG, "%s", buf_cstr(&why));
    mail_log_setup("postsuper", 1);

    const char *const *cmdline_queues = NULL;
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            if (!listed(message_queues, argv[i]) &&
                !((structure || purge) && listed(structure_queues, argv[i])))
                msg_fatal_status(EX_USAGE, "invalid directory name: %.100s", argv[i]);
        cmdline_queues = (const char *const *)argv + optind;
    }
    for (int i = 0; i < OP_COUNT; i++)
        if (all[i] && names[i]->argc > 0)
            msg_warn("option \"-%c ALL\" will ignore other command line queue IDs", opt_of[i]);

    const char *queue_dir = conf_str("queue_directory");
    if (chdir(queue_dir) < 0)
        msg_fatal_status(EX_CONFIG, "chdir %s: %m", queue_dir);
    /* From here on we are the mail system's owner, like its daemons. */
    server_drop_privileges(conf_str("mail_owner"), NULL);

    if (structure || purge)
        for (const char *const *q = cmdline_queues ? cmdline_queues : structure_queues; *q; q++)
            walk_queue(*q, -1, structure, purge);

    for (int op = 0; op < OP_COUNT; op++) {
        const char *const *queues = cmdline_queues ? cmdline_queues : ops[op].defaults;
        if (all[op]) {
            for (const char *const *q = queues; *q; q++)
                if (!listed(ops[op].skip, *q) && listed(message_queues, *q))
                    walk_queue(*q, op, 0, 0);
            continue;
        }
        for (size_t i = 0; i < names[op]->argc; i++) {
            if (strcmp(names[op]->argv[i], "-") == 0)
                by_stream((enum op)op, queues);
            else
                by_id((enum op)op, queues, names[op]->argv[i]);
        }
    }
    if (count[OP_REQUEUE] > 0)
        trigger_qmgr();

    /* Postfix's order and wording. */
    static const enum op report_order[] = {OP_REQUEUE, OP_DELETE, OP_HOLD, OP_RELEASE};
    for (size_t i = 0; i < sizeof(report_order) / sizeof(report_order[0]); i++) {
        enum op op = report_order[i];
        if (count[op] > 0)
            msg_info("%s: %d message%s", ops[op].summary, count[op], count[op] > 1 ? "s" : "");
    }
    for (int i = 0; i < OP_COUNT; i++)
        argv_free(names[i]);
    buf_free(&why);
    if (failures > 0)
        msg_fatal_status(EX_TEMPFAIL, "%d operation%s failed; see the warnings above", failures,
                         failures > 1 ? "s" : "");
    return EX_OK;
}
