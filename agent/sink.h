/* sink: where a log's bytes leave the agent.
 *
 * A log formats its lines into the sink's current buffer (buf + len, room
 * for cap bytes) and asks it to flush; the sink decides how the bytes reach
 * the file: write() at once, or, for a regular file that takes every event
 * (sink_go_async), pwrite() by the writer thread at an offset fixed when the
 * buffer was handed over, while the log fills the next of its PMT_SINK_NBUF
 * buffers. Another way of writing (a mapped file, a pipe) is another sink
 * behind the same calls; the formatters and the log's rules do not change.
 *
 * Log layer: no Python. The caller serialises calls (the GIL does). */
#ifndef PMT_SINK_H
#define PMT_SINK_H

#include <stddef.h>
#include <sys/types.h>

#define PMT_SINK_NBUF 4
#define PMT_SINK_BUF (64u << 10) /* each buffer */

/* A background write failed (errno value): called once, on the writer
 * thread (rawthread.h's rules: no stdio, no malloc). */
typedef void (*pmt_sink_fail)(void *ctx, int err);

struct pmt_sink {
    int fd;               /* -1: none */
    char *mem;            /* PMT_SINK_NBUF buffers of cap bytes, mapped once, kept across opens */
    char *buf;            /* the one being filled */
    size_t len, cap;
    int cur;
    int async;            /* full buffers go to the writer thread (writer.h) */
    off_t offset;         /* file offset of buf's first byte: what the file holds after a flush */
    volatile int busy[PMT_SINK_NBUF]; /* buffer i is being written */
    volatile int werr;    /* errno of a failed background write */
    pmt_sink_fail fail;
    void *ctx;
};

/* Makes s empty, without a file, keeping its buffers (mapped now if it has
 * none): 0, or -1 when they cannot be mapped. */
int sink_init(struct pmt_sink *s, pmt_sink_fail fail, void *ctx);
/* The file the bytes go to, at its current offset. */
void sink_attach(struct pmt_sink *s, int fd);
/* What this sink will use made resident now (rss_touch): its buffers (all
 * with the writer, else the first), and the writer thread started. */
void sink_touch(struct pmt_sink *s);
/* Full buffers go to the writer thread from now on, where the file is a
 * regular one (a FIFO or a terminal keeps write()). */
void sink_go_async(struct pmt_sink *s);

/* Writes buf[0..len) out (or hands it to the writer) and starts an empty
 * buffer: 0, or the errno of a failed write (nothing more is written). */
int sink_flush(struct pmt_sink *s);
/* Waits until the writer has written everything handed over. */
void sink_drain(struct pmt_sink *s);
/* Closes the file (after sink_flush and sink_drain). */
void sink_close(struct pmt_sink *s);
/* In a forked child: drops the parent's buffer and file without writing. */
void sink_forget(struct pmt_sink *s);

#endif
