/* sink: see sink.h. */
#include "agent/sink.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/logclient.h"
#include "agent/rawio.h"
#include "agent/rawthread.h"
#include "agent/rss.h"
#include "agent/writer.h"
#include "logd/logopen.h"
#include "logd/logring.h"

_Static_assert(PMT_SINK_NBUF == PMT_RING_NBUF && PMT_SINK_BUF == PMT_RING_BUF,
               "a sink's buffers are a ring slot's");

int pmt_sink_use_writer;
static uint32_t sk_ids;

static struct pmt_ring_slot *sk_slot(const struct pmt_sink *s)
{
    return &logclient_ring()->slot[s->slot];
}

int sink_init(struct pmt_sink *s, pmt_sink_fail fail, void *ctx, size_t room)
{
    char *mem = s->mem;
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->fail = fail;
    s->ctx = ctx;
    s->room = room;
    if (!mem && pmt_sink_use_writer) {
        const char *why;
        int k = logclient_start(&why) == 0 ? logclient_slot_new() : -1;
        if (k >= 0)
            mem = pmt_ring_buf(logclient_ring(), (unsigned)k, 0);
    }
    if (!mem) {
        mem = mmap(NULL, PMT_SINK_NBUF * PMT_SINK_BUF, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            return -1;
    }
    s->slot = logclient_slot_of(mem);
    s->mem = mem;
    s->buf = mem;
    s->cap = PMT_SINK_BUF;
    return 0;
}

/* Through the writer: the slot made empty, then the writer opens the file. */
static int sk_open_shared(struct pmt_sink *s, const char *path, int excl, int every, int *why)
{
    struct pmt_ring_slot *sl = sk_slot(s);
    sl->nbuf = every ? PMT_RING_NBUF : 1;
    sl->pseq = 0;
    memset(sl->len, 0, sizeof sl->len);
    sl->head_len = 0;
    sl->werr = 0;
    int err = logclient_open((unsigned)s->slot, path, excl, why);
    if (err)
        return err;
    s->shared = 1;
    s->nbuf = sl->nbuf;
    s->seq = 0;
    s->buf = s->mem;
    s->pub = &sl->len[0];
    return 0;
}

int sink_open(struct pmt_sink *s, const char *path, int excl, int every, int *why)
{
    const char *unused;
    s->id = ++sk_ids;
    if (pmt_sink_use_writer && s->slot >= 0 && logclient_start(&unused) == 0)
        return sk_open_shared(s, path, excl, every, why);
    int fd = pmt_log_open(path, excl, 0666, why);
    if (fd < 0)
        return -fd;
    s->fd = fd;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        s->fdev = (uint64_t)st.st_dev;
        s->fino = (uint64_t)st.st_ino;
    }
    /* Every event into a regular file: let a thread do the copying. */
    if (every && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        s->offset = lseek(fd, 0, SEEK_END);
        s->async = s->offset >= 0;
    }
    return 0;
}

void sink_keep_head(struct pmt_sink *s)
{
    if (!s->shared)
        return; /* here, O_APPEND alone: after a truncation the lines go on at the start */
    struct pmt_ring_slot *sl = sk_slot(s);
    size_t n = s->len <= sizeof sl->head ? s->len : 0;
    memcpy(sl->head, s->buf, n);
    sl->head_len = (uint32_t)n;
}

void sink_touch(struct pmt_sink *s)
{
    size_t nbuf = s->shared ? s->nbuf : s->async ? PMT_SINK_NBUF : 1;
    rss_touch(s->mem, nbuf * (size_t)s->cap);
    if (s->shared) { /* the words the writer sets, read later: mapped now, only read */
        const volatile char *sl = (const volatile char *)sk_slot(s);
        for (size_t i = 0; i < sizeof(struct pmt_ring_slot); i += 4096)
            (void)sl[i];
        (void)sl[sizeof(struct pmt_ring_slot) - 1];
    }
    if (s->async)
        writer_start_now();
}

/* ---- through the writer process ------------------------------------------- */

static int sk_shared_failed(struct pmt_sink *s)
{
    int err = __atomic_load_n(&sk_slot(s)->werr, __ATOMIC_ACQUIRE);
    if (!err && logclient_lost)
        err = EPIPE;
    if (err) {
        s->werr = err;
        s->len = 0;
        s->pub = NULL;
    }
    return err;
}

/* The next buffer, once the writer is done with what it last held. */
static int sk_next(struct pmt_sink *s)
{
    struct pmt_ring_slot *sl = sk_slot(s);
    uint32_t next = s->seq + 1;
    __atomic_store_n(&sl->pseq, next, __ATOMIC_RELEASE);
    logclient_kick();
    /* Free once the writer has moved past the buffer's last use. */
    int err = logclient_wait(&sl->hseq, next + 1 - s->nbuf, NULL, NULL);
    if (err) {
        s->werr = err;
        s->pub = NULL;
        s->len = 0;
        return err;
    }
    s->offset += (off_t)s->len;
    s->seq = next;
    s->buf = s->mem + (size_t)(next % s->nbuf) * s->cap;
    s->pub = &sl->len[next % s->nbuf];
    s->len = 0;
    return 0;
}

static int sk_flush_shared(struct pmt_sink *s)
{
    int err = sk_shared_failed(s);
    if (err)
        return err;
    if (s->cap - s->len < s->room)
        return sk_next(s);
    logclient_kick();
    return 0;
}

/* ---- here ------------------------------------------------------------------ */

/* On the writer thread. */
static void sk_async_fail(void *ctx, int err)
{
    struct pmt_sink *s = ctx;
    s->werr = err;
    s->fail(s->ctx, err);
}

/* Whether fd still names the log: a program that closes every descriptor
 * (a daemon's closerange) and opens its own files gets the log's number;
 * then nothing more is written there (EBADF). Only the writer process's
 * logs are out of the program's reach; this narrows the window here. */
static int sk_still_ours(const struct pmt_sink *s)
{
    struct stat st;
    return pmt_sys3(SYS_fstat, s->fd, &st, 0) == 0 && (uint64_t)st.st_dev == s->fdev &&
           (uint64_t)st.st_ino == s->fino;
}

/* Hands the full buffer to the writer and moves to the next free one. */
static int sk_hand_over(struct pmt_sink *s)
{
    if (writer_submit(s->fd, s->fdev, s->fino, s->buf, s->len, s->offset, &s->busy[s->cur], sk_async_fail,
                      s) != 0)
        return -1;
    s->offset += (off_t)s->len;
    s->len = 0;
    s->cur = (s->cur + 1) % PMT_SINK_NBUF;
    s->buf = s->mem + (size_t)s->cur * s->cap;
    writer_wait(&s->busy[s->cur]); /* every buffer queued: the disk sets the pace */
    return 0;
}

/* Here, at once: write() (the file is O_APPEND). */
static int sk_write_now(struct pmt_sink *s)
{
    if (s->len && !sk_still_ours(s)) {
        s->len = 0;
        return EBADF;
    }
    int err = pmt_write_all(s->fd, s->buf, s->len, -1);
    if (err) {
        s->len = 0;
        return err;
    }
    s->offset += (off_t)s->len;
    s->len = 0;
    return 0;
}

int sink_flush_line(struct pmt_sink *s)
{
    return s->shared ? sk_flush_shared(s) : sk_write_now(s);
}

int sink_flush(struct pmt_sink *s)
{
    if (s->shared)
        return sk_flush_shared(s);
    if (s->async && s->len && sk_still_ours(s) && sk_hand_over(s) == 0)
        return 0;
    return sk_write_now(s);
}

int sink_drain(struct pmt_sink *s)
{
    if (s->shared) {
        int err = sk_shared_failed(s);
        if (err)
            return err;
        logclient_kick();
        struct pmt_ring_slot *sl = sk_slot(s);
        err = logclient_wait(&sl->hseq, s->seq, &sl->hoff, s->pub);
        return err ? err : sk_shared_failed(s);
    }
    if (s->async)
        writer_drain();
    return s->werr;
}

int sink_close(struct pmt_sink *s, uint64_t *size)
{
    *size = (uint64_t)-1;
    int err = 0;
    if (s->shared) {
        err = sk_shared_failed(s);
        uint64_t held;
        int cerr = logclient_close((unsigned)s->slot, &held);
        if (!err && cerr != EBUSY)
            err = cerr;
        if (!cerr)
            *size = held;
        s->offset += (off_t)s->len;
        s->len = 0;
        s->shared = 0;
        s->pub = NULL;
        return err;
    }
    if (s->async)
        writer_drain();
    err = s->werr;
    struct stat st;
    if (s->fd >= 0 && !sk_still_ours(s)) {
        s->fd = -1; /* the program's now: never closed by the agent */
        return err ? err : EBADF;
    }
    if (s->fd >= 0 && fstat(s->fd, &st) == 0 && S_ISREG(st.st_mode))
        *size = (uint64_t)st.st_size;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    return err;
}

void sink_forget(struct pmt_sink *s)
{
    if (s->fd >= 0 && sk_still_ours(s))
        close(s->fd); /* the child's descriptor only: the parent's stays open */
    s->fd = -1;
    s->shared = 0; /* the parent's writer: the child writes nothing there */
    s->pub = NULL;
    s->len = 0;
    for (int i = 0; i < PMT_SINK_NBUF; i++)
        s->busy[i] = 0; /* the parent's writes are the parent's */
}
