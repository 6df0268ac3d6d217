/* qmgr_scan - the queue directories as qmgr sees them: scans of incoming/
 * and deferred/ (hashed subdirectories included), the crash recovery of
 * active/, and moves between queues.
 *
 * A scan reads the names first and acts afterwards, so the directory is
 * never changed under readdir(). Only regular files named by a valid queue
 * ID count: temporary files (".ID.tmp") belong to their writers. A scan
 * that stops at the active limit resumes when a message leaves memory.
 *
 * A site scan (postqueue -s) walks deferred/ like a flush, but activates
 * only the messages with an open recipient in the site's domain; it
 * revives the destinations those recipients resolve to first, so that
 * a dead destination does not defer them again at once.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mail/queue_dirs.h"
#include "mail/queue_file.h"
#include "mail/queue_id.h"
#include "qmgr.h"
#include "util/alloc.h"
#include "util/argv.h"
#include "util/buf.h"
#include "util/events.h"
#include "util/msg.h"

#define SCAN_BATCH 50 /* messages activated per event loop pass */

int qmgr_move(const char *from, const char *to_queue, const char *id, struct buf *why)
{
    if (queue_move(from, to_queue, id, why) == 0)
        return 0;
    int err = errno;
    struct buf to = BUF_INIT, w2 = BUF_INIT;
    struct stat st;
    int moved = 0;
    /* The rename may have happened before a later step failed. */
    if (lstat(from, &st) < 0 && errno == ENOENT && queue_path(to_queue, id, 0, &to, &w2) == 0 &&
        lstat(to.data, &st) == 0) {
        msg_warn("%s: %s (the file was moved)", id, buf_cstr(why));
        moved = 1;
    }
    buf_free(&to);
    buf_free(&w2);
    errno = err;
    return moved ? 0 : -1;
}

/* is_hash_dir - a hashed subdirectory name: one symbol of the ID alphabet. */
static int is_hash_dir(const char *name)
{
    return name[0] != 0 && name[1] == 0 && strchr(QUEUE_ID_ALPHABET, name[0]) != NULL;
}

/* walk - collect "path" names of queue files below dir (hashed levels up
 * to QUEUE_ID_HASH_MAX deep, whatever hash_queue_depth says now, so files
 * from an earlier setting are found too). With due set, only files whose
 * mtime (the retry time) is not in the future. */
static void walk(const char *dir, int depth, time_t due, struct argv *paths)
{
    DIR *d = opendir(dir);
    struct argv *subdirs = argv_alloc();
    struct buf path = BUF_INIT;
    struct dirent *e;
    struct stat st;

    if (d == NULL) {
        if (depth == 0 || errno != ENOENT)
            msg_warn("open directory %s: %m", dir);
        argv_free(subdirs);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        int id = queue_id_valid(e->d_name);
        if (!id && !(depth < QUEUE_ID_HASH_MAX && is_hash_dir(e->d_name)))
            continue;
        buf_reset(&path);
        buf_printf(&path, "%s/%s", dir, e->d_name);
        if (lstat(path.data, &st) < 0)
            continue;
        if (id && S_ISREG(st.st_mode)) {
            if (due == 0 || st.st_mtime <= due)
                argv_add(paths, path.data);
        } else if (!id && S_ISDIR(st.st_mode)) {
            argv_add(subdirs, path.data);
        }
    }
    closedir(d);
    for (size_t i = 0; i < subdirs->argc; i++)
        walk(subdirs->argv[i], depth + 1, due, paths);
    argv_free(subdirs);
    buf_free(&path);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(base_name(*(char *const *)a), base_name(*(char *const *)b));
}

/* One scan per queue at a time. Its names are activated in batches, one
 * batch per event loop pass, so a burst of new mail does not keep agent
 * replies waiting. A scan asked for while one runs is done after it. */
struct scan {
    const char *queue;
    struct argv *paths; /* NULL: no scan in progress */
    size_t next;
    int ignore_time; /* this scan takes deferred mail whatever its retry time */
    int blocked;     /* stopped at the active limit */
    int again;       /* another scan was asked for: 1 due files, 2 all */
    char *site;      /* a site scan: its domain */
};

static struct scan incoming = {"incoming", NULL, 0, 0, 0, 0, NULL};
static struct scan deferred = {"deferred", NULL, 0, 0, 0, 0, NULL};
static struct scan site_scan = {"deferred", NULL, 0, 1, 0, 0, NULL};
static struct argv *sites_waiting; /* site scans asked for while one runs */

static void scan_run(void *ctx);

static void scan_start(struct scan *s, int ignore_time)
{
    if (s->paths != NULL) {
        if (s->again < 1 + ignore_time)
            s->again = 1 + ignore_time;
        return;
    }
    s->paths = argv_alloc();
    s->next = 0;
    s->ignore_time = ignore_time;
    s->blocked = 0;
    walk(s->queue, 0, s == &deferred && !ignore_time ? time(NULL) : 0, s->paths);
    /* Queue IDs sort by time: oldest mail first, across hash directories. */
    qsort(s->paths->argv, s->paths->argc, sizeof(*s->paths->argv), by_id);
    event_timer(scan_run, s, 0);
}

/* still_due - a deferred file named at the start of a long scan may have
 * been tried and deferred again since. */
static int still_due(const struct scan *s, const char *path)
{
    struct stat st;
    if (s != &deferred || s->ignore_time)
        return 1;
    return lstat(path, &st) == 0 && st.st_mtime <= time(NULL);
}

/* rcpt_in_site - addr's domain is site (no case). */
static int rcpt_in_site(const char *addr, const char *site)
{
    const char *at = strrchr(addr, '@');
    return at != NULL && strcasecmp(at + 1, site) == 0;
}

/* site_wanted - path has an open recipient in s->site; the destinations
 * of those recipients are revived. A file that cannot be read is left for
 * the next ordinary scan. */
static int site_wanted(const struct scan *s, const char *path)
{
    struct buf why = BUF_INIT, data = BUF_INIT;
    struct resolve_result rr;
    struct qf_reader *r;
    int wanted = 0;

    if (s->site == NULL)
        return 1;
    if ((r = qf_open(path, 0, &why)) == NULL) {
        buf_free(&why);
        return 0;
    }
    resolve_result_init(&rr);
    for (;;) {
        int type;
        off_t off;
        if (qf_read(r, &type, &data, &off, &why) <= 0)
            break;
        if (type != QF_RCPT || !rcpt_in_site(data.data, s->site))
            continue;
        wanted = 1;
        if (resolve_addr(qmgr_set.resolver, data.data, &rr, &why) == 0)
            qmgr_revive_dest(rr.transport.data, rr.nexthop.data);
    }
    qf_close(r);
    resolve_result_free(&rr);
    buf_free(&why);
    buf_free(&data);
    return wanted;
}

static void scan_run(void *ctx)
{
    struct scan *s = ctx;
    if (s->paths == NULL)
        return;
    for (int n = 0; n < SCAN_BATCH && s->next < s->paths->argc; n++) {
        const char *path = s->paths->argv[s->next];
        if (still_due(s, path) && site_wanted(s, path) &&
            qmgr_message_activate(s->queue, path, base_name(path)) < 0) {
            s->blocked = 1; /* qmgr_scan_room() resumes */
            return;
        }
        s->next++;
    }
    if (s->next < s->paths->argc) {
        event_timer(scan_run, s, 0);
        return;
    }
    argv_free(s->paths);
    s->paths = NULL;
    if (s == &site_scan) {
        free(s->site);
        s->site = NULL;
        /* the first starts a scan, the others wait again, in order */
        struct argv *waiting = sites_waiting;
        sites_waiting = NULL;
        for (size_t i = 0; waiting != NULL && i < waiting->argc; i++)
            qmgr_scan_site(waiting->argv[i]);
        if (waiting != NULL)
            argv_free(waiting);
        return;
    }
    if (s->again) {
        int all = s->again == 2;
        s->again = 0;
        scan_start(s, all);
    }
}

void qmgr_scan_incoming(void)
{
    scan_start(&incoming, 0);
}

void qmgr_scan_deferred(int ignore_time)
{
    scan_start(&deferred, ignore_time);
}

void qmgr_scan_site(const char *site)
{
    msg_info("flush site %s", site);
    /* The next hop of the usual route for a domain is the domain itself:
     * revive that now, even when nothing is queued for it. */
    qmgr_revive_dest(NULL, site);
    if (site_scan.paths != NULL) {
        if (strcasecmp(site_scan.site, site) == 0)
            return;
        if (sites_waiting == NULL)
            sites_waiting = argv_alloc();
        for (size_t i = 0; i < sites_waiting->argc; i++)
            if (strcasecmp(sites_waiting->argv[i], site) == 0)
                return;
        argv_add(sites_waiting, site);
        return;
    }
    site_scan.site = xstrdup(site);
    scan_start(&site_scan, 1);
}

void qmgr_scan_room(void)
{
    /* From a timer, not inline: the caller is in the middle of finishing a
     * message, and activating others may finish them too. */
    if (incoming.blocked) {
        incoming.blocked = 0;
        event_timer(scan_run, &incoming, 0);
    }
    if (deferred.blocked) {
        deferred.blocked = 0;
        event_timer(scan_run, &deferred, 0);
    }
    if (site_scan.blocked) {
        site_scan.blocked = 0;
        event_timer(scan_run, &site_scan, 0);
    }
}

void qmgr_recover_active(void)
{
    struct argv *paths = argv_alloc();
    struct buf why = BUF_INIT;

    walk("active", 0, 0, paths);
    for (size_t i = 0; i < paths->argc; i++) {
        const char *id = base_name(paths->argv[i]);
        if (qmgr_move(paths->argv[i], "incoming", id, &why) < 0)
            msg_warn("%s: cannot move %s back to incoming: %s", id, paths->argv[i], buf_cstr(&why));
        else if (msg_verbose)
            msg_info("%s: moved from active back to incoming", id);
    }
    argv_free(paths);
    buf_free(&why);
}
