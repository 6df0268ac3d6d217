/* sys_exits - what the exit status of a delivery command means: the
 * sendmail-compatible <sysexits.h> codes with the DSN code (RFC 3463) and
 * text Postfix gives each, and the verdict on a finished command the way
 * Postfix's pipe_command() reaches it (exit status, signal, time limit,
 * a "D.S.N text" at the start of the command's output). Pure: unit-tested
 * without running anything.
 *
 *   64 EX_USAGE 5.3.0        69 EX_UNAVAILABLE 5.3.0   74 EX_IOERR 5.3.0
 *   65 EX_DATAERR 5.6.0      70 EX_SOFTWARE 5.3.0      75 EX_TEMPFAIL 4.3.0
 *   66 EX_NOINPUT 5.3.0      71 EX_OSERR 4.3.0         76 EX_PROTOCOL 5.5.0
 *   67 EX_NOUSER 5.1.1       72 EX_OSFILE 5.3.0        77 EX_NOPERM 5.7.0
 *   68 EX_NOHOST 5.1.2       73 EX_CANTCREAT 5.2.0     78 EX_CONFIG 5.3.5
 *
 * A code outside the table is 5.3.0 "unknown mail system error N", a
 * permanent error, as in Postfix. Class 4 codes defer, class 5 bounce.
 */
#ifndef MAIL_SYS_EXITS_H
#define MAIL_SYS_EXITS_H

#include <stddef.h>

#include "util/buf.h"

#define SYS_EXITS_BASE 64 /* EX__BASE */
#define SYS_EXITS_MAX  78 /* EX__MAX */

/* Bytes of command output kept for a reason (Postfix: one stream buffer). */
#define SYS_EXITS_OUTPUT_MAX 4096

struct sys_exits_detail {
    int status;       /* the exit status */
    const char *dsn;  /* RFC 3463 code */
    const char *text; /* Postfix's words */
};

/* sys_exits_is_code - 1 when code is one of the <sysexits.h> codes. */
int sys_exits_is_code(int code);
/* sys_exits_find - the table entry for code, NULL when it has none. */
const struct sys_exits_detail *sys_exits_find(int code);
/* sys_exits_dsn - the DSN code for code ("5.3.0" when unknown). */
const char *sys_exits_dsn(int code);
/* sys_exits_text - the text for code into out (reset first):
 * "unknown mail system error N" when unknown. */
void sys_exits_text(int code, struct buf *out);
/* sys_exits_softerror - 1 when code is a temporary error (class 4). */
int sys_exits_softerror(int code);
/* sys_exits_status - DELIVER_DEFER for a temporary code, else
 * DELIVER_BOUNCE (mail_proto.h). */
int sys_exits_status(int code);

/* sys_exits_output - Postfix's cleaning of captured command output for a
 * reason: at most SYS_EXITS_OUTPUT_MAX bytes, tab and newline become
 * spaces, every other control or non-ASCII byte becomes '_', trailing
 * white space goes. Into out (reset first). */
void sys_exits_output(const char *p, size_t n, struct buf *out);

/* sys_exits_command - the outcome of a delivery command, as Postfix's
 * local(8) and pipe(8) judge it:
 *   timed_out (killed at command_time_limit): bounce 5.3.0
 *       "Command time limit exceeded: "CMD""
 *   killed by a signal: defer 4.3.0 "Command died with signal N: "CMD""
 *   exit 0: DELIVER_OK 2.0.0 "delivered to command: CMD"
 *   non-zero and the output starts with "D.S.N text" (class 4 or 5): that
 *       code and text, class 4 defers
 *   a <sysexits.h> code: its DSN and text, class 4 defers
 *   any other status: bounce 5.3.0 "Command died with status N: "CMD""
 * The cleaned output (sys_exits_output) is appended to failure reasons as
 * ". Command output: ...". wait_status is as waitpid(2) returns it.
 * Returns DELIVER_OK, DELIVER_DEFER or DELIVER_BOUNCE; dsn[16] and reason
 * (reset first) are filled. */
int sys_exits_command(int wait_status, int timed_out, const char *command, const char *output,
                      size_t output_len, char *dsn, struct buf *reason);

#endif
