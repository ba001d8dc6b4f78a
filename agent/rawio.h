/* rawio: the agent's lowest I/O services: writing a whole buffer, reading a
 * small file and saying one line on stderr, by raw system call (no stdio, no malloc, errno
 * untouched), so that every layer above may use them, the agent's threads
 * glibc does not know (rawthread.h) and signal handlers included. */
#ifndef PMT_RAWIO_H
#define PMT_RAWIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all of buf: write(), or pwrite() at off when off >= 0. Retries
 * EINTR. Returns 0, or the errno value of the failure (ENOSPC for a write
 * that wrote nothing). */
int pmt_write_all(int fd, const char *buf, size_t len, off_t off);

/* A small file (/proc, /sys) into buf, NUL-terminated; returns its length
 * (0: unread). */
size_t pmt_read_small(const char *path, char *buf, size_t cap);

/* strerror's text without strerror's allocation. */
const char *pmt_errtext(int err);

/* One line on stderr: "pymemtrace: " + the NULL-terminated list of pieces +
 * "\n", in one write(2). */
void pmt_say(const char *first, ...);

#endif
