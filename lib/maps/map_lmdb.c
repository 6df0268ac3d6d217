/* map_lmdb - lmdb: tables (also used for hash: and btree:), stored in
 * NAME.lmdb, one LMDB environment in a single file (MDB_NOSUBDIR).
 *
 * Storage: keys and values are the bytes of the text, without a trailing
 * NUL (a value containing a NUL is reported as a broken table).
 *
 * Replacement, never in-place writing: every change (a rebuild, or an edit
 * such as postmap -d, which starts from a copy) is written into a
 * temporary file in the same directory, synced, and renamed over NAME.lmdb.
 * A file that readers can see is therefore never written again, which is
 * what makes it safe for readers to open it MDB_RDONLY|MDB_NOLOCK: there is
 * no lock file to create (daemons may not be allowed to write next to the
 * table) and no writer to coordinate with. A reader keeps its mapping of
 * the old file until map.c notices the new inode and reopens. Two writers
 * at once do not corrupt anything; the last rename wins. The mode and
 * owner of the table being replaced are kept (a 0600 table stays 0600);
 * a new table takes its owner from the source file and is no more
 * readable than it.
 *
 * Speed: a build is a few large write transactions (not one per key, no
 * sync until the end), in a map sized from the source up front; keys that
 * arrive in order (map_file_build sorts them) are appended.
 */
#include "maps/map.h"
#include "maps/map_types.h"

#include "util/alloc.h"
#include "util/iostuff.h"

#include <errno.h>
#include <stdint.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LMDB_SUFFIX   ".lmdb"
#define LMDB_INIT_MAP (16UL * 1024 * 1024)
#define LMDB_MAX_MAP  (sizeof(size_t) > 4 ? (size_t)64 << 30 : (size_t)1 << 30)
/* A build is one write transaction per this many bytes of changes. Fewer
 * commits mean less copy-on-write of the same pages (a 1M-entry build in
 * batches of 1000 wrote ~4 GB); the bound keeps the replay log (below)
 * and LMDB's dirty pages in memory bounded. */
#define LMDB_BATCH_BYTES (8UL * 1024 * 1024)
/* A source text of N bytes makes a table of at most ~6N (one-byte keys
 * and values in half-full pages): map that much at once, so the map
 * rarely has to grow. Address space only: the file grows as pages are
 * written. */
#define LMDB_SRC_FACTOR 8

struct lmdb_map {
    MDB_env *env;
    MDB_dbi dbi;
    char *path;
    /* MAP_UPDATE only */
    char *tmp;
    MDB_txn *txn;
    size_t mapsize;
    /* The changes since the last commit, to replay in a bigger map when
     * LMDB reports MDB_MAP_FULL (which aborts the transaction): records of
     * an op byte ('p' put, 'd' delete), the key and the value, each
     * NUL-terminated. */
    struct buf pending;
    /* The greatest key ever stored: a key above it can be appended
     * (MDB_APPEND: no search, full pages), which makes building from
     * sorted input and copying a table (postmap -d) fast. */
    struct buf max_key;
    int have_max;
};

static void lmdb_free(struct lmdb_map *l)
{
    if (l->txn != NULL)
        mdb_txn_abort(l->txn);
    if (l->env != NULL)
        mdb_env_close(l->env);
    if (l->tmp != NULL)
        (void)unlink(l->tmp);
    free(l->tmp);
    free(l->path);
    buf_free(&l->pending);
    buf_free(&l->max_key);
    free(l);
}

/* open_reader - the environment of an existing table, read-only. */
static int open_reader(const char *path, MDB_env **envp, MDB_dbi *dbi, struct buf *why)
{
    MDB_env *env;
    MDB_txn *txn;
    int rc;
    if ((rc = mdb_env_create(&env)) != 0) {
        buf_printf(why, "open database %s: %s", path, mdb_strerror(rc));
        return -1;
    }
    /* A tiny map size is rounded up to the data in the file, so a reader
     * maps what is there rather than the writer's generous reservation. */
    rc = mdb_env_set_mapsize(env, 1);
    if (rc == 0)
        rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NORDAHEAD, 0644);
    if (rc == 0 && (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) == 0) {
        if ((rc = mdb_dbi_open(txn, NULL, 0, dbi)) == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc != 0) {
        buf_printf(why, "open database %s: %s", path, mdb_strerror(rc));
        mdb_env_close(env);
        return -1;
    }
    *envp = env;
    return 0;
}

/* apply - one change inside the write transaction: an MDB error code. */
static int apply(struct lmdb_map *l, int op, const char *key, size_t klen, const char *value,
                 int may_append)
{
    MDB_val k = {klen, (void *)key};
    if (op == 'd')
        return mdb_del(l->txn, l->dbi, &k, NULL);
    MDB_val v = {strlen(value), (void *)value};
    unsigned flags = MDB_NOOVERWRITE;
    if (may_append && (!l->have_max || strcmp(key, buf_cstr(&l->max_key)) > 0))
        flags |= MDB_APPEND;
    return mdb_put(l->txn, l->dbi, &k, &v, flags);
}

static int begin(struct lmdb_map *l, struct buf *why)
{
    int rc = mdb_txn_begin(l->env, NULL, 0, &l->txn);
    if (rc == 0)
        rc = mdb_dbi_open(l->txn, NULL, 0, &l->dbi);
    if (rc != 0) {
        buf_printf(why, "%s: begin transaction: %s", l->tmp, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

/* grow - the map is full: start the batch again in a bigger map. */
static int grow(struct lmdb_map *l, struct buf *why)
{
    for (;;) {
        if (l->txn != NULL)
            mdb_txn_abort(l->txn);
        l->txn = NULL;
        if (l->mapsize >= LMDB_MAX_MAP) {
            buf_printf(why, "%s: table larger than %zu bytes", l->tmp, (size_t)LMDB_MAX_MAP);
            return -1;
        }
        l->mapsize = l->mapsize > LMDB_MAX_MAP / 2 ? LMDB_MAX_MAP : l->mapsize * 2;
        int rc = mdb_env_set_mapsize(l->env, l->mapsize);
        if (rc != 0) {
            buf_printf(why, "%s: set map size: %s", l->tmp, mdb_strerror(rc));
            return -1;
        }
        if (begin(l, why) < 0)
            return -1;
        /* Replay without MDB_APPEND: max_key already counts these keys. */
        const char *p = l->pending.data, *end = p + l->pending.len;
        rc = 0;
        while (p < end) {
            int op = *p++;
            const char *key = p;
            size_t klen = strlen(key);
            const char *value = key + klen + 1;
            p = value + strlen(value) + 1;
            rc = apply(l, op, key, klen, value, 0);
            if (rc == MDB_MAP_FULL)
                break;
            if (rc != 0 && rc != MDB_KEYEXIST && rc != MDB_NOTFOUND) {
                buf_printf(why, "%s: %s", l->tmp, mdb_strerror(rc));
                return -1;
            }
        }
        if (rc != MDB_MAP_FULL)
            return 0;
    }
}

/* commit_batch - commit the write transaction; reopen one unless final. */
static int commit_batch(struct lmdb_map *l, int final, struct buf *why)
{
    for (;;) {
        int rc = mdb_txn_commit(l->txn);
        l->txn = NULL;
        if (rc == 0)
            break;
        if (rc != MDB_MAP_FULL) {
            buf_printf(why, "%s: commit: %s", l->tmp, mdb_strerror(rc));
            return -1;
        }
        if (grow(l, why) < 0)
            return -1;
    }
    buf_reset(&l->pending);
    return final ? 0 : begin(l, why);
}

/* change - apply op with retries on a full map: 0 done, 1 no change (key
 * already there for a put, absent for a delete), -1 + why. */
static int change(struct lmdb_map *l, int op, const char *key, const char *value, struct buf *why)
{
    size_t klen = strlen(key);
    if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(l->env)) {
        buf_printf(why, "%s: key length %zu is out of range (1..%d)", l->path, klen,
                   mdb_env_get_maxkeysize(l->env));
        return -1;
    }
    int rc;
    while ((rc = apply(l, op, key, klen, value, 1)) == MDB_MAP_FULL)
        if (grow(l, why) < 0)
            return -1;
    if (rc != 0 && rc != MDB_KEYEXIST && rc != MDB_NOTFOUND) {
        buf_printf(why, "%s: %s", l->tmp, mdb_strerror(rc));
        return -1;
    }
    if (rc == 0) {
        if (op == 'p' && (!l->have_max || strcmp(key, buf_cstr(&l->max_key)) > 0)) {
            buf_reset(&l->max_key);
            buf_append(&l->max_key, key, klen);
            l->have_max = 1;
        }
        buf_putc(&l->pending, op);
        buf_append(&l->pending, key, klen + 1);
        buf_append(&l->pending, value, strlen(value) + 1);
        if (l->pending.len >= LMDB_BATCH_BYTES && commit_batch(l, 0, why) < 0)
            return -1;
    }
    return rc == 0 ? 0 : 1;
}

static int copy_existing(struct lmdb_map *l, struct buf *why)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    if (open_reader(l->path, &env, &dbi, why) < 0)
        return -1;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0 && (rc = mdb_cursor_open(txn, dbi, &cur)) == 0) {
        int ret = 0;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            char *ks = xmemdup(k.mv_data, k.mv_size), *vs = xmemdup(v.mv_data, v.mv_size);
            ret = change(l, 'p', ks, vs, why) < 0 ? -1 : 0;
            free(ks);
            free(vs);
        }
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        mdb_env_close(env);
        if (ret < 0)
            return -1;
        if (rc == MDB_NOTFOUND)
            return 0;
    } else if (rc == 0) {
        mdb_txn_abort(txn);
        mdb_env_close(env);
    } else {
        mdb_env_close(env);
    }
    buf_printf(why, "read %s: %s", l->path, mdb_strerror(rc));
    return -1;
}

/* initial_mapsize - room for the old table twice over (an edit) and for
 * what the source text (the table's name, when it is a file) can make. */
static size_t initial_mapsize(const char *source, const struct stat *old)
{
    size_t size = LMDB_INIT_MAP;
    struct stat st;
    if (old != NULL && old->st_size > 0 && (uintmax_t)old->st_size < LMDB_MAX_MAP / 2)
        size += (size_t)old->st_size * 2;
    else if (old != NULL && old->st_size > 0)
        return LMDB_MAX_MAP;
    if (stat(source, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uintmax_t)st.st_size >= (LMDB_MAX_MAP - size) / LMDB_SRC_FACTOR)
            return LMDB_MAX_MAP;
        size += (size_t)st.st_size * LMDB_SRC_FACTOR;
    }
    return size;
}

static int open_writer(struct map *m, struct lmdb_map *l, struct buf *why)
{
    struct stat old;
    int have_old = stat(l->path, &old) == 0;
    if (!have_old && (m->flags & MAP_EDIT)) {
        buf_printf(why, "open database %s: %s", l->path, strerror(errno));
        return -1;
    }
    struct buf tmp = BUF_INIT;
    buf_printf(&tmp, "%s.tmpXXXXXX", l->path);
    l->tmp = buf_steal(&tmp);
    int fd = mkstemp(l->tmp);
    if (fd < 0) {
        buf_printf(why, "create %s: %s", l->tmp, strerror(errno));
        free(l->tmp);
        l->tmp = NULL;
        return -1;
    }
    mode_t mode;
    struct stat src;
    if (have_old) {
        mode = old.st_mode & 0777;
        (void)!fchown(fd, old.st_uid, old.st_gid); /* works as root; else ours */
    } else {
        mode_t mask = umask(0);
        umask(mask);
        mode = 0644 & ~mask;
        /* A new table is no more readable than its source, and belongs to
         * the source's owner (as Postfix's postmap, which runs as that
         * owner): sasl_passwd at 0600 must not become a 0644 table. */
        if (stat(m->name, &src) == 0 && S_ISREG(src.st_mode)) {
            mode &= 0600 | (src.st_mode & 077);
            (void)!fchown(fd, src.st_uid, src.st_gid); /* works as root; else ours */
        }
    }
    if (fchmod(fd, mode) < 0) {
        buf_printf(why, "chmod %s: %s", l->tmp, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    l->mapsize = initial_mapsize(m->name, have_old ? &old : NULL);
    int rc = mdb_env_create(&l->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(l->env, l->mapsize);
    /* NOSYNC: one explicit sync before the rename is all that matters. */
    if (rc == 0)
        rc = mdb_env_open(l->env, l->tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0644);
    if (rc != 0) {
        buf_printf(why, "create database %s: %s", l->tmp, mdb_strerror(rc));
        return -1;
    }
    if (begin(l, why) < 0)
        return -1;
    if ((m->flags & MAP_EDIT) && copy_existing(l, why) < 0)
        return -1;
    return 0;
}

static int lmdb_open(struct map *m, struct buf *why)
{
    struct lmdb_map *l = xcalloc(1, sizeof(*l));
    struct buf p = BUF_INIT;
    if (m->name[0] == 0) {
        buf_printf(why, "%s: missing file name", m->spec);
        free(l);
        return -1;
    }
    buf_printf(&p, "%s%s", m->name, LMDB_SUFFIX);
    l->path = buf_steal(&p);
    if (m->flags & MAP_UPDATE) {
        if (open_writer(m, l, why) < 0) {
            lmdb_free(l);
            return -1;
        }
    } else {
        /* Watch first: a replacement racing with the open is seen next time. */
        map_watch(m, l->path);
        if (open_reader(l->path, &l->env, &l->dbi, why) < 0) {
            lmdb_free(l);
            return -1;
        }
    }
    m->priv = l;
    return 0;
}

static int lmdb_lookup(struct map *m, const char *key, struct buf *value)
{
    struct lmdb_map *l = m->priv;
    if (l->env == NULL)
        return map_set_error(m, "%s: table is closed", l->path);
    size_t klen = strlen(key);
    if (klen == 0 || klen > (size_t)mdb_env_get_maxkeysize(l->env))
        return 0; /* could never have been stored */
    MDB_txn *txn = l->txn;
    int rc = 0;
    if (txn == NULL && (rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0)
        return map_set_error(m, "%s: %s", l->path, mdb_strerror(rc));
    MDB_val k = {klen, (void *)key}, v;
    rc = mdb_get(txn, l->dbi, &k, &v);
    int r;
    if (rc == MDB_NOTFOUND) {
        r = 0;
    } else if (rc != 0) {
        r = map_set_error(m, "%s: lookup \"%s\": %s", l->path, key, mdb_strerror(rc));
    } else if (memchr(v.mv_data, 0, v.mv_size) != NULL) {
        r = map_set_error(m, "%s: corrupt value for \"%s\" (NUL byte)", l->path, key);
    } else {
        buf_append(value, v.mv_data, v.mv_size);
        r = 1;
    }
    if (txn != l->txn)
        mdb_txn_abort(txn);
    return r;
}

static int lmdb_update(struct map *m, const char *key, const char *value, struct buf *why)
{
    return change(m->priv, 'p', key, value, why);
}

static int lmdb_delete(struct map *m, const char *key, struct buf *why)
{
    int rc = change(m->priv, 'd', key, "", why);
    return rc < 0 ? -1 : !rc;
}

static int lmdb_iterate(struct map *m, map_iter_fn fn, void *ctx, struct buf *why)
{
    struct lmdb_map *l = m->priv;
    MDB_txn *txn = l->txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = 0, ret = 0;
    if (l->env == NULL) {
        buf_printf(why, "%s: table is closed", l->path);
        return -1;
    }
    if (txn == NULL && (rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0) {
        buf_printf(why, "%s: %s", l->path, mdb_strerror(rc));
        return -1;
    }
    if ((rc = mdb_cursor_open(txn, l->dbi, &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ret == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            char *ks = xmemdup(k.mv_data, k.mv_size), *vs = xmemdup(v.mv_data, v.mv_size);
            ret = fn(ctx, ks, vs);
            free(ks);
            free(vs);
        }
        mdb_cursor_close(cur);
    }
    if (txn != l->txn)
        mdb_txn_abort(txn);
    if (ret != 0)
        return ret;
    if (rc != MDB_NOTFOUND) {
        buf_printf(why, "%s: %s", l->path, mdb_strerror(rc));
        return -1;
    }
    return 0;
}

static int lmdb_commit(struct map *m, struct buf *why)
{
    struct lmdb_map *l = m->priv;
    if (l->tmp == NULL) {
        buf_printf(why, "%s: already committed", l->path);
        return -1;
    }
    if (commit_batch(l, 1, why) < 0)
        return -1;
    int rc = mdb_env_sync(l->env, 1);
    if (rc != 0) {
        buf_printf(why, "%s: sync: %s", l->tmp, mdb_strerror(rc));
        return -1;
    }
    mdb_env_close(l->env);
    l->env = NULL;
    if (rename(l->tmp, l->path) < 0) {
        buf_printf(why, "rename %s to %s: %s", l->tmp, l->path, strerror(errno));
        return -1;
    }
    free(l->tmp);
    l->tmp = NULL;
    if (fsync_dir(l->path) < 0) {
        buf_printf(why, "fsync directory of %s: %s", l->path, strerror(errno));
        return -1;
    }
    return 0;
}

static void lmdb_close(struct map *m)
{
    if (m->priv != NULL)
        lmdb_free(m->priv);
    m->priv = NULL;
}

#define LMDB_OPS(name)                                                                             \
    {                                                                                              \
        .type = name, .flags = MAP_OPS_NAME_IS_FILE, .open = lmdb_open, .lookup = lmdb_lookup,     \
        .update = lmdb_update, .delete = lmdb_delete, .iterate = lmdb_iterate,                     \
        .commit = lmdb_commit, .close = lmdb_close,                                                \
    }

const struct map_ops map_lmdb_ops = LMDB_OPS("lmdb");
const struct map_ops map_hash_ops = LMDB_OPS("hash");
const struct map_ops map_btree_ops = LMDB_OPS("btree");
