/* buf - a growable byte buffer that is always NUL-terminated.
 *
 * Holds counted data (which may contain NUL) and text alike: `len` is the
 * authority, and data[len] == 0 always holds so text can be passed to libc.
 * Growth is checked; running out of memory ends the process (alloc.h).
 */
#ifndef UTIL_BUF_H
#define UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

/* clang-format off */ /* clang-format 14 splits this over four lines */
#define BUF_INIT {NULL, 0, 0}
/* clang-format on */

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* buf_reset - empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* buf_reserve - make room for `more` bytes past len (plus the NUL). */
void buf_reserve(struct buf *b, size_t more);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, int c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* buf_set - replace contents with a copy of s. */
void buf_set(struct buf *b, const char *s);
/* buf_setf - replace the contents with formatted text: the one way modules
 * write a failure reason into a caller's `why`. A NULL b is ignored, and
 * errno is preserved, so a caller can report first and read errno after. */
void buf_setf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* buf_truncate - shorten to n bytes (no-op if n >= len). */
void buf_truncate(struct buf *b, size_t n);
/* buf_cstr - the contents as a C string; never NULL. */
const char *buf_cstr(const struct buf *b);
/* buf_steal - hand the malloc'ed contents to the caller and reset b. */
char *buf_steal(struct buf *b);
/* buf_has_nul - 1 if the counted contents contain a NUL byte. */
int buf_has_nul(const struct buf *b);

#endif
