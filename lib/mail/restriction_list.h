/* restriction_list - split a Postfix restriction list into restrictions
 * with their arguments:
 *
 *     "permit_mynetworks, check_client_access hash:/etc/access,
 *      reject_rbl_client zen.example=127.0.0.[2..11], sleep 5, my_class"
 *
 * Words are separated by commas and white space; "{ ... }" is one word
 * (braces kept), so "inline:{ a=OK, b=REJECT }" stays one table. Which
 * names exist and which take an argument is the caller's knowledge, asked
 * through a callback, so the same parser serves the smtpd_*_restrictions
 * parameters, smtpd_restriction_classes and restriction lists found in
 * access tables. A bare "type:name" where a name is expected is the
 * short-hand for the stage's check_*_access: name "" and arg the table.
 *
 * Pure: no I/O. Bounded: at most RESTRICTION_LIST_MAX words.
 */
#ifndef MAIL_RESTRICTION_LIST_H
#define MAIL_RESTRICTION_LIST_H

#include <stddef.h>

#include "util/argv.h"
#include "util/buf.h"

#define RESTRICTION_LIST_MAX 1000

/* What a name takes (the callback's answer). */
enum restriction_arg {
    RESTRICTION_UNKNOWN = -1, /* no such restriction */
    RESTRICTION_NO_ARG = 0,
    RESTRICTION_TABLE,  /* "type:name" (check_*_access) */
    RESTRICTION_WORD,   /* any word (reject_rbl_client zone[=pattern]) */
    RESTRICTION_NUMBER, /* decimal digits (sleep) */
};

typedef enum restriction_arg (*restriction_arg_fn)(void *ctx, const char *name);

struct restriction {
    char *name; /* as written ("" for a bare table) */
    char *arg;  /* the argument, or NULL */
};

struct restriction_list {
    struct restriction *items;
    size_t count;
};

/* restriction_list_split - the words of text into out (appended). 0, or -1
 * + why (unbalanced braces, too many words). */
int restriction_list_split(const char *text, struct argv *out, struct buf *why);

/* restriction_list_parse - parse text into out (which must be empty or
 * freed). 0, or -1 + why, naming the offending word:
 *   "unknown restriction: NAME"
 *   "restriction NAME: missing argument"
 *   "restriction NAME: bad argument \"X\": need maptype:mapname"
 *   "restriction NAME: bad argument \"X\": need a number"
 * Nothing is left allocated in out on failure. */
int restriction_list_parse(const char *text, restriction_arg_fn arg_of, void *ctx,
                           struct restriction_list *out, struct buf *why);
void restriction_list_free(struct restriction_list *l);

#endif
