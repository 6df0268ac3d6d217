/* attr - the attribute protocol that carries every request and reply
 * between Postern processes.
 *
 * A message is a sequence of named, typed attributes with explicit
 * lengths, ended by an end marker, so no value can smuggle a delimiter:
 *
 *   attribute := type:1 namelen:1 name:namelen value
 *   type 'I'   value := int64, 8 bytes big-endian
 *   type 'S'   value := len:4 (big-endian) bytes   -- text: no NUL allowed
 *   type 'D'   value := len:4 (big-endian) bytes   -- data: any bytes
 *   type 'E'   namelen 0, no value                  -- end of message
 *
 * Names are 1..ATTR_NAME_MAX bytes of [a-z0-9_]. Limits on the number of
 * attributes and on the total size are checked while reading, before any
 * allocation, so a peer cannot make the reader allocate without bound.
 * Readers check a message against a spec: in strict mode (the default) an
 * attribute that is not in the spec, one that appears twice, one of the
 * wrong type, or a required one that is missing rejects the whole message.
 */
#ifndef MAIL_ATTR_H
#define MAIL_ATTR_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/stream.h"

#define ATTR_NAME_MAX  64
#define ATTR_COUNT_MAX 1024       /* attributes per message */
#define ATTR_SIZE_MAX  (4u << 20) /* bytes per message, default limit */

enum attr_type { ATTR_INT = 'I', ATTR_STR = 'S', ATTR_DATA = 'D' };

struct attr {
    enum attr_type type;
    char name[ATTR_NAME_MAX + 1];
    int64_t num; /* ATTR_INT */
    char *val;   /* ATTR_STR / ATTR_DATA: malloc'ed, NUL-terminated copy */
    size_t len;  /* ATTR_STR / ATTR_DATA: length without the NUL */
};

struct attr_list {
    struct attr *v;
    size_t count;
    size_t cap;
};

void attr_list_init(struct attr_list *l);
void attr_list_free(struct attr_list *l); /* frees contents; l may be reused */
void attr_add_int(struct attr_list *l, const char *name, int64_t v);
void attr_add_str(struct attr_list *l, const char *name, const char *s);
void attr_add_data(struct attr_list *l, const char *name, const void *p, size_t n);

/* attr_encode - append the wire form of l (with its end marker) to out. */
void attr_encode(const struct attr_list *l, struct buf *out);
/* attr_decode - parse one message from p[0..n). Returns 1 and sets *used
 * when a whole message was parsed, 0 when more bytes are needed, -1 on a
 * malformed or oversized message (reason in why). max_size 0 = default. */
int attr_decode(const void *p, size_t n, size_t max_size, struct attr_list *l, size_t *used,
                struct buf *why);

/* attr_write - send l on s and flush. 0 or -1. */
int attr_write(struct stream *s, const struct attr_list *l) __attribute__((warn_unused_result));
/* attr_read - read one message from s (bounded by max_size, 0 = default).
 * 0, or -1 with a reason (EOF, timeout, malformed). */
int attr_read(struct stream *s, size_t max_size, struct attr_list *l, struct buf *why)
    __attribute__((warn_unused_result));

/* What a reader expects. */
struct attr_spec {
    const char *name;
    enum attr_type type;
    int required;
};
#define ATTR_SPEC_END                                                                              \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

#define ATTR_FLAG_LAX 1 /* allow attributes that are not in the spec (ignored) */

/* attr_check - check l against spec (terminated by ATTR_SPEC_END). 0, or -1 +
 * why naming the attribute (unknown, duplicate, wrong type, missing). */
int attr_check(const struct attr_list *l, const struct attr_spec *spec, int flags, struct buf *why);
/* Getters: the attribute by name and type, or NULL / -1 when absent. */
const struct attr *attr_get(const struct attr_list *l, const char *name);
int attr_get_int(const struct attr_list *l, const char *name, int64_t *out);
const char *attr_get_str(const struct attr_list *l, const char *name); /* STR or DATA */

#endif
