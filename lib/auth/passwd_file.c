/* passwd_file - parse and reload Dovecot passwd-files (passwd_file.h). */
#include "auth/passwd_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/pw_scheme.h"
#include "auth/sasl_mech.h"
#include "util/alloc.h"

#define ID_DIGITS_MAX 10 /* uid_t and gid_t are 32 bits */

static void warn(struct argv *warnings, const char *name, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void warn(struct argv *warnings, const char *name, unsigned long line, const char *fmt, ...)
{
    if (warnings == NULL)
        return;
    struct buf b = BUF_INIT;
    va_list ap;
    if (line)
        buf_printf(&b, "%s:%lu: ", name, line);
    else
        buf_printf(&b, "%s: ", name);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    argv_add(warnings, buf_cstr(&b));
    buf_free(&b);
}

static int has_control(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return 1;
    return 0;
}

/* id_field_ok - empty, or 1 to 10 digits that fit 32 bits */
static int id_field_ok(const char *p, size_t n)
{
    if (n == 0)
        return 1;
    if (n > ID_DIGITS_MAX)
        return 0;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        v = v * 10 + (unsigned)(p[i] - '0');
    }
    return v <= 0xffffffffULL;
}

/* field - the next ':'-separated field of p[*pos..n); 1 if there was one */
static int field(const char *p, size_t n, size_t *pos, const char **f, size_t *flen)
{
    if (*pos > n)
        return 0;
    const char *start = p + *pos;
    const char *colon = memchr(start, ':', n - *pos);
    *f = start;
    *flen = colon ? (size_t)(colon - start) : n - *pos;
    *pos += *flen + 1; /* past the colon, or one past the end */
    return 1;
}

static void table_add(struct passwd_file_table *t, const char *user, size_t ulen, const char *pw,
                      size_t plen, unsigned long line)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
    }
    t->v[t->n].user = xmemdup(user, ulen);
    t->v[t->n].password = xmemdup(pw, plen);
    t->v[t->n].line = line;
    t->n++;
}

/* parse_line - one line without its terminator; adds an entry or warns */
static void parse_line(const char *name, const char *p, size_t n, unsigned long line,
                       struct passwd_file_table *t, struct argv *warnings)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n == 0 || p[0] == '#')
        return;
    if (n > PASSWD_FILE_LINE_MAX) {
        warn(warnings, name, line, "line longer than %d bytes, skipped", PASSWD_FILE_LINE_MAX);
        return;
    }
    if (memchr(p, 0, n) != NULL) {
        warn(warnings, name, line, "NUL byte in line, skipped");
        return;
    }
    size_t pos = 0, ulen, plen, len;
    const char *user, *pw, *f;
    field(p, n, &pos, &user, &ulen);
    if (!field(p, n, &pos, &pw, &plen)) {
        warn(warnings, name, line, "missing password field, line skipped");
        return;
    }
    struct buf why = BUF_INIT;
    if (!sasl_name_valid(user, ulen, &why)) {
        warn(warnings, name, line, "%s, line skipped", buf_cstr(&why));
        buf_free(&why);
        return;
    }
    buf_free(&why);
    if (has_control(pw, plen)) {
        warn(warnings, name, line, "control character in password field, line skipped");
        return;
    }
    static const char *const id_names[] = {"uid", "gid"};
    for (int i = 0; i < 2 && field(p, n, &pos, &f, &len); i++) {
        if (!id_field_ok(f, len)) {
            warn(warnings, name, line, "bad %s field, line skipped", id_names[i]);
            return;
        }
    }
    table_add(t, user, ulen, pw, plen, line);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct passwd_file_entry *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    if (c)
        return c;
    return x->line < y->line ? -1 : x->line > y->line;
}

size_t passwd_file_parse(const char *name, const char *text, size_t len,
                         struct passwd_file_table *t, struct argv *warnings)
{
    unsigned long line = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - text - pos) : len - pos;
        parse_line(name, text + pos, n, ++line, t, warnings);
        pos += n + 1;
    }
    if (t->n == 0)
        return 0;
    /* Sorted by user and then line: the first line of a user stays. */
    qsort(t->v, t->n, sizeof(*t->v), entry_cmp);
    size_t out = 1;
    for (size_t i = 1; i < t->n; i++) {
        if (strcmp(t->v[i].user, t->v[out - 1].user) == 0) {
            warn(warnings, name, t->v[i].line, "user %s already listed at line %lu, line skipped",
                 t->v[i].user, t->v[out - 1].line);
            free(t->v[i].user);
            free(t->v[i].password);
            continue;
        }
        t->v[out++] = t->v[i];
    }
    t->n = out;
    return t->n;
}

const struct passwd_file_entry *passwd_file_table_lookup(const struct passwd_file_table *t,
                                                         const char *user)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(user, t->v[mid].user);
        if (c == 0)
            return &t->v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void passwd_file_table_free(struct passwd_file_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].user);
        free(t->v[i].password);
    }
    free(t->v);
    memset(t, 0, sizeof(*t));
}

struct passwd_file *passwd_file_open(const char *path)
{
    struct passwd_file *pf = xcalloc(1, sizeof(*pf));
    pf->path = xstrdup(path);
    return pf;
}

void passwd_file_close(struct passwd_file *pf)
{
    if (pf == NULL)
        return;
    passwd_file_table_free(&pf->table);
    free(pf->path);
    free(pf);
}

static int same_file(const struct passwd_file *pf, const struct stat *st)
{
    return pf->dev == st->st_dev && pf->ino == st->st_ino && pf->size == st->st_size &&
           pf->mtime.tv_sec == st->st_mtim.tv_sec && pf->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           pf->ctime.tv_sec == st->st_ctim.tv_sec && pf->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static void remember(struct passwd_file *pf, const struct stat *st)
{
    pf->dev = st->st_dev;
    pf->ino = st->st_ino;
    pf->size = st->st_size;
    pf->mtime = st->st_mtim;
    pf->ctime = st->st_ctim;
}

static void drop(struct passwd_file *pf)
{
    passwd_file_table_free(&pf->table);
    pf->loaded = 0;
}

/* read_file - the whole file into text, and its stat as of the read */
static int read_file(const char *path, struct buf *text, struct stat *st, struct buf *why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        buf_setf(why, "open %s: %m", path);
        return -1;
    }
    int rc = -1;
    if (fstat(fd, st) < 0) {
        buf_setf(why, "fstat %s: %m", path);
        goto out;
    }
    if (!S_ISREG(st->st_mode)) {
        buf_setf(why, "%s is not a regular file", path);
        goto out;
    }
    if ((unsigned long long)st->st_size > PASSWD_FILE_SIZE_MAX) {
        buf_setf(why, "%s is larger than %u bytes", path, PASSWD_FILE_SIZE_MAX);
        goto out;
    }
    buf_reset(text);
    buf_reserve(text, (size_t)st->st_size);
    for (;;) {
        char chunk[65536];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            buf_setf(why, "read %s: %m", path);
            goto out;
        }
        if (n == 0)
            break;
        if (text->len + (size_t)n > PASSWD_FILE_SIZE_MAX) {
            buf_setf(why, "%s is larger than %u bytes", path, PASSWD_FILE_SIZE_MAX);
            goto out;
        }
        buf_append(text, chunk, (size_t)n);
    }
    /* A file being rewritten in place: read it again next time. */
    struct stat after;
    if (fstat(fd, &after) < 0 || after.st_size != st->st_size ||
        after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != st->st_mtim.tv_nsec || text->len != (size_t)st->st_size) {
        buf_setf(why, "%s changed while it was read", path);
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

int passwd_file_refresh(struct passwd_file *pf, struct argv *warnings, struct buf *why)
{
    struct stat st;
    if (stat(pf->path, &st) < 0) {
        buf_setf(why, "stat %s: %m", pf->path);
        drop(pf);
        return -1;
    }
    if (pf->loaded && same_file(pf, &st))
        return 0;
    drop(pf);
    struct buf text = BUF_INIT;
    /* A writer that is not done yet gets a few more chances. */
    int rc = -1;
    for (int tries = 0; tries < 3 && rc < 0; tries++)
        rc = read_file(pf->path, &text, &st, why);
    if (rc < 0) {
        buf_free(&text);
        return -1;
    }
    passwd_file_parse(pf->path, text.data ? text.data : "", text.len, &pf->table, warnings);
    buf_free(&text);
    remember(pf, &st);
    pf->loaded = 1;

    int plain = 0;
    for (size_t i = 0; i < pf->table.n; i++) {
        const struct passwd_file_entry *e = &pf->table.v[i];
        struct buf reason = BUF_INIT;
        const char *hash;
        enum pw_scheme_id id =
            pw_scheme_parse(e->password, PASSWD_FILE_DEFAULT_SCHEME, &hash, &reason);
        if (id == PW_SCHEME_UNKNOWN)
            warn(warnings, pf->path, e->line, "%s (user %s cannot log in)", buf_cstr(&reason),
                 e->user);
        plain |= pw_scheme_is_plain(id);
        buf_free(&reason);
    }
    if (plain && !pf->plain_warned) {
        warn(warnings, pf->path, 0,
             "PLAIN passwords are in use: meant for tests only, use ARGON2ID or SHA512-CRYPT");
        pf->plain_warned = 1;
    }
    return 1;
}

const struct passwd_file_entry *passwd_file_lookup(const struct passwd_file *pf, const char *user)
{
    if (!pf->loaded)
        return NULL;
    return passwd_file_table_lookup(&pf->table, user);
}
