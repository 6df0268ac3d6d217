/* iostuff - file-descriptor helpers: blocking mode, close-on-exec, and reads
 * and writes bounded by a timeout, so no peer can hold a process forever. */
#ifndef UTIL_IOSTUFF_H
#define UTIL_IOSTUFF_H

#include <stddef.h>
#include <sys/types.h>

#define IO_RESULT __attribute__((warn_unused_result))

int set_nonblock(int fd, int on) IO_RESULT;
int set_cloexec(int fd, int on) IO_RESULT;
/* read_wait / write_wait - wait up to timeout seconds (<0: forever) until fd is
 * readable / writable. 0 ready, -1 with errno ETIMEDOUT or the poll error. */
int read_wait(int fd, int timeout) IO_RESULT;
int write_wait(int fd, int timeout) IO_RESULT;
/* timed_read - one read() after read_wait; like read() otherwise. */
ssize_t timed_read(int fd, void *p, size_t n, int timeout) IO_RESULT;
/* timed_write - one write after write_wait that cannot block past the
 * timeout even on a blocking descriptor (and never raises SIGPIPE on a
 * socket: EPIPE instead). Returns the bytes written, or -1 with errno. */
ssize_t timed_write(int fd, const void *p, size_t n, int timeout) IO_RESULT;
/* write_full - write all n bytes, each chunk within timeout; 0 or -1. */
int write_full(int fd, const void *p, size_t n, int timeout) IO_RESULT;
/* read_full - read exactly n bytes; 0, or -1 (errno; EPIPE-like 0 for EOF via *eof). */
int read_full(int fd, void *p, size_t n, int timeout, int *eof) IO_RESULT;
/* fsync_dir - fsync the directory that holds path (for a rename to be durable);
 * where that directory is write-only for us, fsync path itself (see iostuff.c). */
int fsync_dir(const char *path) IO_RESULT;

#endif
