/* fail_table - recent authentication failures per client address, for
 * auth's failure delay: a bounded table in memory.
 *
 * At most max entries; when full, the client whose last failure is the
 * oldest is forgotten. A client without a failure for forget_after seconds
 * starts from zero again; a success forgets it at once. Keys longer than
 * FAIL_TABLE_KEY_MAX bytes are cut (addresses are shorter). Times are
 * passed in, so the table is deterministic under test.
 */
#ifndef AUTH_FAIL_TABLE_H
#define AUTH_FAIL_TABLE_H

#include <stddef.h>

#define FAIL_TABLE_KEY_MAX 64

struct fail_table;

struct fail_table *fail_table_create(size_t max, long forget_after);
void fail_table_free(struct fail_table *t);
/* fail_table_failure - record a failure of key at now; returns the number
 * of recent failures, this one included (at least 1, at most UINT_MAX). */
unsigned fail_table_failure(struct fail_table *t, const char *key, long now);
/* fail_table_count - the recent failures of key as of now (0 if none). */
unsigned fail_table_count(struct fail_table *t, const char *key, long now);
/* fail_table_success - forget key. */
void fail_table_success(struct fail_table *t, const char *key);
/* fail_table_size - entries held now (expired ones may still count). */
size_t fail_table_size(const struct fail_table *t);
/* fail_table_delay - base * 2^(failures-1), at most 8 * base (0 for no
 * failures), in the units of base; never overflows. */
long fail_table_delay(long base, unsigned failures);

#endif
