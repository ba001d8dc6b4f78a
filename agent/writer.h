/* writer: a background thread that writes full log buffers, for logs that
 * record every event (PYMEMTRACE_D_RSS_TRIGGER=0). Copying gigabytes into
 * the page cache is the largest cost of such logs; on another core it
 * overlaps with the program. Each buffer is written with pwrite at an
 * offset fixed when it was handed over, so order does not matter.
 *
 * The thread exists only while there is something to write for: it is
 * started at the first hand-over and ended before any fork (pthread_atfork
 * prepare handler), so that os.fork() on 3.12+ never sees an extra thread
 * (it warns about forking a multi-threaded process); it starts again at
 * the next hand-over. It blocks every signal. */
#ifndef PMT_WRITER_H
#define PMT_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Called on the writer thread when a write fails (errno value). */
typedef void (*pmt_writer_fail)(void *ctx, int err);

/* Queues buf[0..len) for pwrite(fd, ..., off); *busy is 1 until it is
 * written. The write is made only while fd still names the file (dev, ino):
 * a program may close or replace the descriptor meanwhile; then the job
 * fails with EBADF. Returns 0, or -1 if no thread could be started (the
 * caller then writes itself). */
int writer_submit(int fd, uint64_t dev, uint64_t ino, const char *buf, size_t len, off_t off,
                  volatile int *busy, pmt_writer_fail fail, void *ctx);
/* Starts the thread now rather than at the first hand-over (a log that
 * must not see its start in RSS later). 0, or -1 (it starts then). */
int writer_start_now(void);
/* Waits until everything queued is written. */
void writer_drain(void);
/* Waits until *busy (a job's flag, writer_submit) is 0: its buffer written. */
void writer_wait(volatile int *busy);
/* Drains and ends the thread (before fork). */
void writer_stop(void);
/* In a forked child: there is no thread; forget the queue. */
void writer_after_fork_child(void);

#endif
