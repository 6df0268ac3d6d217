/* queue_id - queue IDs: unique, time-ordered, safe in a file name.
 *
 * An ID is QUEUE_ID_LEN characters from a 32-symbol alphabet: the digits,
 * the 21 upper-case consonants B-Z without vowels, and '_' (QUEUE_ID_ALPHABET;
 * the symbols are in ASCII order, so string order = numeric order, and with no
 * vowels no word is spelled by accident). '_' is the 32nd symbol because it
 * is safe in file names and shell words, is matched by \w in log tools, and,
 * unlike a lower-case letter, cannot collide with an upper-case one on a
 * case-insensitive file system. Fixed-width base-32 fields, most significant
 * symbol first:
 *
 *   7 for the seconds (32^7 s: good until the year 3058),
 *   4 for the microseconds (32^4 = 1048576 > 999999),
 *   5 for the process ID (32^5 = 33554432 > 2^22, Linux's largest pid_max).
 *
 * Sorting IDs as strings sorts them by time. Two calls in one process never
 * return the same ID (the microsecond field is advanced if the clock has not
 * moved past the last ID), and two processes differ in the PID field. Callers
 * still create queue files with O_EXCL, so even a clock stepped backwards
 * cannot overwrite one.
 */
#ifndef MAIL_QUEUE_ID_H
#define MAIL_QUEUE_ID_H

#include <stddef.h>
#include <sys/time.h>

#define QUEUE_ID_LEN      16
#define QUEUE_ID_ALPHABET "0123456789BCDFGHJKLMNPQRSTVWXYZ_"
/* deepest hash queue_id_hash() gives: one level per microsecond symbol */
#define QUEUE_ID_HASH_MAX 4

/* queue_id_new - write a new ID and its NUL into out[QUEUE_ID_LEN + 1]. */
void queue_id_new(char *out);
/* queue_id_from - the ID for a given time and pid (for tests and tools). */
void queue_id_from(const struct timeval *tv, long pid, char *out);
/* queue_id_valid - 1 if s is exactly one well-formed ID. */
int queue_id_valid(const char *s);
/* queue_id_time - the arrival time encoded in a valid ID. 0 / -1. */
int queue_id_time(const char *id, struct timeval *tv);
/* queue_id_hash - hashed subdirectory path ("A/B" for depth 2) taken from
 * the fast-changing microsecond digits, least significant first; written
 * into out (depth*2 bytes with the NUL). depth is limited to
 * QUEUE_ID_HASH_MAX and to what fits in outlen; an invalid ID gives "". */
void queue_id_hash(const char *id, int depth, char *out, size_t outlen);

#endif
