/* sink: where a log's bytes leave the agent.
 *
 * A log formats its lines into the sink's current buffer (buf + len, room
 * for cap bytes), tells the sink after each line (sink_added), and asks it
 * to flush; the sink decides how the bytes reach the file:
 *
 * - through the log writer process (logclient.h), the usual way: the
 *   buffers are in the ring shared with it, a line is safe from the moment
 *   it is added (the writer writes it even if the program is killed the
 *   next instant), and the file is the writer's, never a descriptor of the
 *   program's process;
 * - here, when there is no writer (it could not start, or
 *   PYMEMTRACE_WRITER=thread): write() at once, or, for a regular file that
 *   takes every event, pwrite() by the writer thread (writer.h) at an offset
 *   fixed when the buffer was handed over, while the log fills the next of
 *   its PMT_SINK_NBUF buffers. A killed process loses what was not written.
 *
 * The formatters and the log's rules do not change with the way.
 * Log layer: no Python. The caller serialises calls (the GIL does). */
#ifndef PMT_SINK_H
#define PMT_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PMT_SINK_NBUF 4
#define PMT_SINK_BUF (64u << 10) /* each buffer */

/* A background write failed (errno value): called once, on the writer
 * thread (rawthread.h's rules: no stdio, no malloc). */
typedef void (*pmt_sink_fail)(void *ctx, int err);

struct pmt_sink {
    int fd;               /* here: the file; -1: none */
    uint64_t fdev, fino;  /* here: what fd named when opened (a program may close or reuse it) */
    int slot;             /* the ring slot whose buffers mem is, or -1 */
    int shared;           /* open through the writer process */
    uint32_t id;          /* a number of this open, new at each */
    char *mem;            /* PMT_SINK_NBUF buffers of cap bytes, mapped once, kept across opens */
    char *buf;            /* the one being filled */
    size_t len, cap;
    size_t room;          /* the most one line may need: a new buffer when less is left */
    int cur;
    int async;            /* full buffers go to the writer thread (writer.h) */
    off_t offset;         /* bytes before buf's first: what the file holds after a flush */
    uint32_t *pub;        /* shared: where buf's length is published */
    uint32_t seq;         /* shared: buf's number in the ring slot */
    unsigned nbuf;        /* shared: buffers in turn */
    volatile int busy[PMT_SINK_NBUF]; /* buffer i is being written */
    volatile int werr;    /* errno of a failed background write */
    pmt_sink_fail fail;
    void *ctx;
};

/* Whether logs go through the writer process when it can run (set once by
 * the lifecycle from PYMEMTRACE_WRITER). */
extern int pmt_sink_use_writer;

/* Makes s empty, without a file, keeping its buffers (a ring slot's where
 * the writer runs, else mapped now if it has none): 0, or -1 when there are
 * none. room: the most one line may need. */
int sink_init(struct pmt_sink *s, pmt_sink_fail fail, void *ctx, size_t room);
/* Opens path (logd/logopen.h's rules; excl: a new file only). every: the
 * log takes every event (its buffers all in turn; here, the writer thread).
 * 0, or an errno value with *why a refusal (logopen.h). */
int sink_open(struct pmt_sink *s, const char *path, int excl, int every, int *why);
/* The bytes so far are the log's head: written again first if another
 * program empties the file (copytruncate rotation). */
void sink_keep_head(struct pmt_sink *s);
/* n bytes were formatted at buf + len: they are the log's now. */
static inline void sink_added(struct pmt_sink *s, size_t n)
{
    s->len += n;
    if (s->pub)
        __atomic_store_n(s->pub, (uint32_t)s->len, __ATOMIC_RELEASE);
}
/* What this sink will use made resident now (rss_touch): its buffers (all
 * in turn, else the first), and the writer thread started. */
void sink_touch(struct pmt_sink *s);

/* Makes buf[0..len) reach the file soon (the writer is woken; here, written
 * or handed to the writer thread) and, when little room is left, starts an
 * empty buffer: 0, or the errno of a failed write (nothing more is written). */
int sink_flush(struct pmt_sink *s);
/* sink_flush for a sink that never takes every event (no writer thread):
 * what the sampler's thread calls (rawthread.h's rules hold on its path). */
int sink_flush_line(struct pmt_sink *s);
/* Waits until everything added has been written: 0, or the errno of a
 * failed write. */
int sink_drain(struct pmt_sink *s);
/* Writes what is left and closes the file: 0 or the errno of a failed
 * write; *size what the file holds then ((uint64_t)-1: not a regular file). */
int sink_close(struct pmt_sink *s, uint64_t *size);
/* In a forked child: drops the parent's buffer and file without writing. */
void sink_forget(struct pmt_sink *s);

#endif
