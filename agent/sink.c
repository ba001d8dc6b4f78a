/* sink: see sink.h. */
#include "agent/sink.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/rawio.h"
#include "agent/rss.h"
#include "agent/writer.h"

int sink_init(struct pmt_sink *s, pmt_sink_fail fail, void *ctx)
{
    char *mem = s->mem;
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->fail = fail;
    s->ctx = ctx;
    if (!mem) {
        mem = mmap(NULL, PMT_SINK_NBUF * PMT_SINK_BUF, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            return -1;
    }
    s->mem = mem;
    s->buf = mem;
    s->cap = PMT_SINK_BUF;
    return 0;
}

void sink_attach(struct pmt_sink *s, int fd)
{
    s->fd = fd;
}

void sink_go_async(struct pmt_sink *s)
{
    struct stat st;
    if (fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        s->offset = lseek(s->fd, 0, SEEK_CUR);
        s->async = s->offset >= 0;
    }
}

void sink_touch(struct pmt_sink *s)
{
    rss_touch(s->mem, (s->async ? PMT_SINK_NBUF : 1) * (size_t)s->cap);
    if (s->async)
        writer_start_now();
}

/* On the writer thread. */
static void sk_async_fail(void *ctx, int err)
{
    struct pmt_sink *s = ctx;
    s->werr = err;
    s->fail(s->ctx, err);
}

/* Hands the full buffer to the writer and moves to the next free one. */
static int sk_hand_over(struct pmt_sink *s)
{
    if (writer_submit(s->fd, s->buf, s->len, s->offset, &s->busy[s->cur], sk_async_fail, s) != 0)
        return -1;
    s->offset += (off_t)s->len;
    s->len = 0;
    s->cur = (s->cur + 1) % PMT_SINK_NBUF;
    s->buf = s->mem + (size_t)s->cur * s->cap;
    writer_wait(&s->busy[s->cur]); /* every buffer queued: the disk sets the pace */
    return 0;
}

int sink_flush(struct pmt_sink *s)
{
    if (s->async && s->len && sk_hand_over(s) == 0)
        return 0;
    /* Here: write(), or, for an async sink without its thread, pwrite() at
     * the offset the file has reached. */
    int err = pmt_write_all(s->fd, s->buf, s->len, s->async ? s->offset : -1);
    if (err) {
        s->len = 0;
        return err;
    }
    s->offset += (off_t)s->len;
    s->len = 0;
    return 0;
}

void sink_drain(struct pmt_sink *s)
{
    if (s->async)
        writer_drain();
}

void sink_close(struct pmt_sink *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

void sink_forget(struct pmt_sink *s)
{
    if (s->fd >= 0)
        close(s->fd); /* the child's descriptor only: the parent's stays open */
    s->fd = -1;
    s->len = 0;
    for (int i = 0; i < PMT_SINK_NBUF; i++)
        s->busy[i] = 0; /* the parent's writes are the parent's */
}
