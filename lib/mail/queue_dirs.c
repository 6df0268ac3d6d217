/* queue_dirs - the queue directory's subdirectories, their owners and modes,
 * and the check that creates what is missing and reports what is wrong.
 *
 * Everything below queue_directory is reached through a descriptor of the
 * queue directory and never through a symlink, so a planted link cannot make
 * root chown or chmod something outside the queue. Existing directories are
 * never changed: a wrong owner or mode is reported for the admin to judge,
 * because "fixing" it silently could hide a break-in.
 */
#include "mail/queue_dirs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/mail_conf.h"
#include "mail/queue_id.h"
#include "util/argv.h"
#include "util/iostuff.h"

const struct queue_dir_spec queue_dirs[] = {
    /* postdrop (setgid group) may create files but not list them (01730). */
    {"maildrop", QD_MAIL_OWNER, QD_GROUP_SETGID, 01730},
    {"incoming", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"active", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"deferred", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"hold", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"corrupt", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"bounce", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"defer", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"trace", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"flush", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"saved", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    {"private", QD_MAIL_OWNER, QD_GROUP_OWNER, 0700},
    /* The setgid commands reach public sockets (pickup, showq) via the group. */
    {"public", QD_MAIL_OWNER, QD_GROUP_SETGID, 0710},
    /* Only master, as root, writes the lock; anyone may read who runs it. */
    {"pid", QD_ROOT, QD_GROUP_OWNER, 0755},
    /* Copies of the system files that name lookups need inside the chroot
     * (queue_dirs_sync_etc); root's, readable by all. */
    {"etc", QD_ROOT, QD_GROUP_OWNER, 0755},
};

const size_t queue_dir_count = sizeof(queue_dirs) / sizeof(queue_dirs[0]);

/* Ownership wanted for one spec; group (gid_t)-1 means "not checked". */
struct want {
    uid_t uid;
    gid_t gid;
    const char *user;
    const char *group;
};

static void problem(struct buf *problems, int *count, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct buf *problems, int *count, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(problems, fmt, ap);
    va_end(ap);
    buf_putc(problems, '\n');
    (*count)++;
}

static const char *user_name(uid_t uid, char *tmp, size_t len)
{
    struct passwd *pw = getpwuid(uid);

    if (pw)
        return pw->pw_name;
    snprintf(tmp, len, "UID %ld", (long)uid);
    return tmp;
}

static const char *group_name(gid_t gid, char *tmp, size_t len)
{
    struct group *gr = getgrgid(gid);

    if (gr)
        return gr->gr_name;
    snprintf(tmp, len, "GID %ld", (long)gid);
    return tmp;
}

/* check_owner_mode - one problem line per difference from what should be. */
static void check_owner_mode(const char *path, const struct stat *st, const struct want *w,
                             mode_t mode, struct buf *problems, int *count)
{
    char tmp[32];

    if (st->st_uid != w->uid)
        problem(problems, count, "%s: owned by %s, should be owned by %s", path,
                user_name(st->st_uid, tmp, sizeof(tmp)), w->user);
    if (w->gid != (gid_t)-1 && st->st_gid != w->gid)
        problem(problems, count, "%s: group is %s, should be %s", path,
                group_name(st->st_gid, tmp, sizeof(tmp)), w->group);
    if ((st->st_mode & 07777) != mode)
        problem(problems, count, "%s: mode is %04o, should be %04o", path,
                (unsigned)(st->st_mode & 07777), (unsigned)mode);
}

/* create_dir - mkdir name under dfd with exactly w and mode. The new
 * directory is opened without following links and changed through that
 * descriptor, so nothing swapped in after mkdir gets our chown. */
static int create_dir(int dfd, const char *path, const char *name, const struct want *w,
                      mode_t mode, int as_root, struct buf *problems, int *count)
{
    int fd;

    /* An umask that removes our own access would keep us from opening the
     * new directory to set its mode (as non-root); 077 always leaves it. */
    mode_t old_umask = umask(077);
    int err = mkdirat(dfd, name, 0700) < 0 ? errno : 0;
    umask(old_umask);
    if (err) {
        problem(problems, count, "%s: cannot create: %s", path, strerror(err));
        return -1;
    }
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        problem(problems, count, "%s: cannot open after creating it: %s", path, strerror(errno));
        return -1;
    }
    /* chown first: it may clear set-id bits, and chmod sets the exact mode
     * regardless of the umask. */
    if (as_root && fchown(fd, w->uid, w->gid) < 0) {
        problem(problems, count, "%s: cannot chown to %s: %s", path, w->user, strerror(errno));
        close(fd);
        return -1;
    }
    if (fchmod(fd, mode) < 0) {
        problem(problems, count, "%s: cannot chmod %04o: %s", path, (unsigned)mode,
                strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int queue_dirs_check(const char *queue_dir, const char *mail_owner, const char *setgid_group,
                     int create, struct buf *problems)
{
    int as_root = geteuid() == 0;
    struct want root_want = {0}, owner_want = {0}, setgid_want = {0};
    int have_owner = 1, have_group = 1;
    char self_name[64], owner_group[64];
    struct stat st;
    int count = 0;
    int dfd;

    if (as_root) {
        struct passwd *pw = getpwnam(mail_owner);

        root_want = (struct want){0, 0, "root", "root"};
        if (pw == NULL) {
            problem(problems, &count,
                    "mail_owner account %s does not exist; create it with: useradd --system "
                    "--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin %s",
                    mail_owner, mail_owner);
            have_owner = 0;
        } else {
            /* Copy the name: getgrnam() below reuses getgrgid()'s storage. */
            char tmp[32];
            snprintf(owner_group, sizeof(owner_group), "%s",
                     group_name(pw->pw_gid, tmp, sizeof(tmp)));
            owner_want = (struct want){pw->pw_uid, pw->pw_gid, mail_owner, owner_group};
        }
        struct group *gr = getgrnam(setgid_group);
        if (gr == NULL) {
            problem(problems, &count,
                    "setgid_group %s does not exist; create it with: groupadd --system %s",
                    setgid_group, setgid_group);
            have_group = 0;
        } else if (have_owner) {
            setgid_want = (struct want){owner_want.uid, gr->gr_gid, mail_owner, setgid_group};
        }
    } else {
        /* A development instance: one user owns everything, groups are moot. */
        uid_t me = geteuid();
        struct passwd *pw = getpwuid(me);

        snprintf(self_name, sizeof(self_name), "%s", pw ? pw->pw_name : "the current user");
        root_want = (struct want){me, (gid_t)-1, self_name, NULL};
        owner_want = root_want;
        setgid_want = root_want;
    }

    /* The queue directory itself may be a symlink (a spool moved to another
     * disk), so it is followed; what it leads to must not be writable by
     * anyone but its owner. */
    if (stat(queue_dir, &st) < 0) {
        if (errno != ENOENT || !create) {
            problem(problems, &count, "%s: %s", queue_dir, strerror(errno));
            return -1;
        }
        if (mkdir(queue_dir, 0755) < 0 || chmod(queue_dir, 0755) < 0 || stat(queue_dir, &st) < 0) {
            problem(problems, &count, "%s: cannot create: %s", queue_dir, strerror(errno));
            return -1;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        problem(problems, &count, "%s: not a directory", queue_dir);
        return -1;
    }
    if (st.st_uid != root_want.uid) {
        char tmp[32];
        problem(problems, &count, "%s: owned by %s, should be owned by %s", queue_dir,
                user_name(st.st_uid, tmp, sizeof(tmp)), root_want.user);
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        problem(problems, &count, "%s: writable by group or other (mode %04o)", queue_dir,
                (unsigned)(st.st_mode & 07777));

    dfd = open(queue_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        problem(problems, &count, "%s: %s", queue_dir, strerror(errno));
        return -1;
    }

    for (size_t i = 0; i < queue_dir_count; i++) {
        const struct queue_dir_spec *spec = &queue_dirs[i];
        const struct want *w;
        struct buf path = BUF_INIT;

        if (spec->owner == QD_ROOT) {
            w = &root_want;
        } else if (!have_owner || (spec->group == QD_GROUP_SETGID && !have_group)) {
            continue; /* already reported: the account to compare with is missing */
        } else {
            w = spec->group == QD_GROUP_SETGID ? &setgid_want : &owner_want;
        }
        buf_printf(&path, "%s/%s", queue_dir, spec->name);

        if (fstatat(dfd, spec->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                problem(problems, &count, "%s: %s", path.data, strerror(errno));
            else if (!create)
                problem(problems, &count, "%s: missing", path.data);
            else
                (void)create_dir(dfd, path.data, spec->name, w, spec->mode, as_root, problems,
                                 &count);
        } else if (S_ISLNK(st.st_mode)) {
            problem(problems, &count, "%s: is a symbolic link, should be a directory", path.data);
        } else if (!S_ISDIR(st.st_mode)) {
            problem(problems, &count, "%s: not a directory", path.data);
        } else {
            check_owner_mode(path.data, &st, w, spec->mode, problems, &count);
        }
        buf_free(&path);
    }
    close(dfd);
    return count;
}

/* is_hashed - whether queue is listed in hash_queue_names. */
static int is_hashed(const char *queue)
{
    struct argv *names = argv_split(conf_str("hash_queue_names"), ", \t\r\n");
    int found = 0;
    for (size_t i = 0; i < names->argc && !found; i++)
        found = strcmp(names->argv[i], queue) == 0;
    argv_free(names);
    return found;
}

int queue_path(const char *queue, const char *id, int mkdir_hash, struct buf *out, struct buf *why)
{
    if (!queue_id_valid(id)) {
        buf_setf(why, "bad queue ID");
        return -1;
    }
    buf_reset(out);
    buf_printf(out, "%s/", queue);
    long depth = is_hashed(queue) ? conf_int("hash_queue_depth") : 0;
    if (depth > 0) {
        char hash[2 * QUEUE_ID_HASH_MAX + 1];
        queue_id_hash(id, (int)depth, hash, sizeof(hash));
        /* hash is "A" or "A/B": create each level below queue/. */
        for (char *cp = hash; *cp; cp++) {
            if (*cp == '/')
                continue;
            buf_putc(out, *cp);
            if (mkdir_hash && mkdir(out->data, 0700) < 0 && errno != EEXIST) {
                buf_setf(why, "mkdir %s: %m", out->data);
                return -1;
            }
            buf_putc(out, '/');
        }
    }
    buf_printf(out, "%s", id);
    return 0;
}

int queue_find(const char *id, const char **queue, struct buf *path)
{
    static const char *const queues[] = {"incoming", "active", "deferred", "hold", "corrupt"};
    struct buf why = BUF_INIT;
    struct stat st;
    int found = -1;
    for (size_t q = 0; q < sizeof(queues) / sizeof(queues[0]) && found < 0; q++) {
        /* Hashed as configured, then flat: the depth may have changed. */
        if (queue_path(queues[q], id, 0, path, &why) == 0 && lstat(path->data, &st) == 0 &&
            S_ISREG(st.st_mode))
            found = (int)q;
        if (found < 0 && queue_id_valid(id)) {
            buf_reset(path);
            buf_printf(path, "%s/%s", queues[q], id);
            if (lstat(path->data, &st) == 0 && S_ISREG(st.st_mode))
                found = (int)q;
        }
    }
    buf_free(&why);
    if (found >= 0 && queue)
        *queue = queues[found];
    return found < 0 ? -1 : 0;
}

int queue_move(const char *from_path, const char *to_queue, const char *id, struct buf *why)
{
    struct buf to = BUF_INIT;
    int ret = -1;
    if (queue_path(to_queue, id, 1, &to, why) < 0)
        goto out;
    if (renameat2(AT_FDCWD, from_path, AT_FDCWD, to.data, RENAME_NOREPLACE) < 0) {
        /* File systems without RENAME_NOREPLACE: link() never replaces. */
        if (errno != EINVAL && errno != ENOSYS) {
            buf_setf(why, "rename %s to %s: %m", from_path, to.data);
            goto out;
        }
        if (link(from_path, to.data) < 0 || unlink(from_path) < 0) {
            buf_setf(why, "move %s to %s: %m", from_path, to.data);
            goto out;
        }
    }
    /* No fsync: the file's bytes were made durable when it was queued, and
     * a rename within the queue is atomic, so after a crash the file is in
     * one queue or the other, and every queue is scanned (Postfix does not
     * sync these moves either). */
    ret = 0;
out:
    buf_free(&to);
    return ret;
}

/* The files glibc reads for host and service lookups; a chrooted smtpd
 * finds them at the same paths under the queue directory. Debian's
 * Postfix copies the same set when it starts. */
static const char *const etc_files[] = {
    "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/services",
    "/etc/localtime",   NULL};

static int same_content(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = getc(fa), cb = getc(fb);
        if (ca != cb)
            same = 0;
        else if (ca == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

int queue_dirs_sync_etc(const char *queue_dir, struct buf *problems)
{
    int errors = 0;
    for (int i = 0; etc_files[i]; i++) {
        struct buf dst = BUF_INIT, tmp = BUF_INIT;
        buf_printf(&dst, "%s%s", queue_dir, etc_files[i]);
        buf_printf(&tmp, "%s.tmp", dst.data);
        FILE *in = fopen(etc_files[i], "rb");
        if (in == NULL) {
            (void)unlink(dst.data); /* gone from the system: gone from the chroot */
        } else if (!same_content(etc_files[i], dst.data)) {
            FILE *out = fopen(tmp.data, "wb");
            int ok = out != NULL;
            char b[8192];
            size_t n;
            while (ok && (n = fread(b, 1, sizeof(b), in)) > 0)
                ok = fwrite(b, 1, n, out) == n;
            ok = ok && !ferror(in);
            if (out && fclose(out) != 0)
                ok = 0;
            if (ok && (chmod(tmp.data, 0644) < 0 || rename(tmp.data, dst.data) < 0))
                ok = 0;
            if (!ok) {
                buf_printf(problems, "cannot copy %s to %s: %s\n", etc_files[i], dst.data,
                           strerror(errno));
                (void)unlink(tmp.data);
                errors++;
            }
        }
        if (in)
            fclose(in);
        buf_free(&dst);
        buf_free(&tmp);
    }
    return errors;
}
