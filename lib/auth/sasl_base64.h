/* sasl_base64 - the base64 of SASL exchanges (RFC 4648 section 4, as
 * RFC 4954 and RFC 4422 use it), decoded strictly.
 *
 * A client's response is hostile input, so the decoder accepts exactly the
 * canonical encoding: the standard alphabet, a length that is a multiple of
 * four, padding that is present and only at the end, and pad bits that are
 * zero (RFC 4648 3.5). No white space, no line breaks, no URL alphabet.
 * Every length is bounded by the caller before anything is allocated.
 */
#ifndef AUTH_SASL_BASE64_H
#define AUTH_SASL_BASE64_H

#include <stddef.h>

#include "util/buf.h"

/* sasl_base64_encode - replace out with the encoding of p[0..n). */
void sasl_base64_encode(const void *p, size_t n, struct buf *out);
/* sasl_base64_decode - replace out with the decoding of s[0..len); at most
 * max_out decoded bytes. 0, or -1 + why (out is then empty). "" decodes to
 * nothing. */
int sasl_base64_decode(const char *s, size_t len, size_t max_out, struct buf *out, struct buf *why);

#endif
