/* logring: the memory the agent and its log writer process share.
 *
 * Why a process: a log line the agent formatted must reach the file even if
 * the program is killed the next instant (SIGKILL, the OOM killer, a crash
 * in a C extension), and the program's own file descriptors must never be
 * the agent's (a daemon's closerange/dup2 would hand the program's files to
 * the agent, or the agent's to the program). So the agent formats its lines
 * into shared memory (a memfd, mapped, its descriptor closed at once) and a
 * small process of its own (logd.c, started with exec, no Python, no libc)
 * holds every log file and copies the lines into them. Lines published in
 * the ring outlive the program; the writer drains them and ends when the
 * program has gone.
 *
 * Layout: one header page area (struct pmt_ring), then PMT_RING_SLOTS slots
 * of PMT_RING_NBUF buffers of PMT_RING_BUF bytes. A slot is one log file.
 *
 * Per slot, one producer (the agent, under the GIL or the sampler thread)
 * and one consumer (the writer). Buffers are numbered by sequence: the
 * producer fills buffer pseq (at pseq % nbuf) and publishes its length in
 * len[] after each line (release); it moves to pseq + 1 only when the writer
 * has finished pseq + 1 - nbuf (hseq past it). The writer reads pseq
 * (acquire), then len[hseq % nbuf] (acquire): when pseq > hseq that length
 * is final. Everything published is written, in order.
 *
 * Requests (open, close, end) go one at a time through req/resp: the agent
 * fills req, bumps req_seq; the writer answers in resp and sets resp_seq to
 * req_seq (a futex word). Pure data and constants: both programs include it. */
#ifndef PMT_LOGRING_H
#define PMT_LOGRING_H

#include <stdint.h>

#define PMT_RING_MAGIC 0x31676f6c746d70ULL /* "pmtlog1" */
#define PMT_RING_SLOTS 104                 /* 32 depths of PYMEMTRACE_FUNCTION x 3 logs, and more */
#define PMT_RING_NBUF 4
#define PMT_RING_BUF (64u << 10)
#define PMT_RING_HEAD_MAX 16384 /* a log's head (message, SOF, HDR, first MSG), written again
                                   after another program truncated the file */
#define PMT_RING_PATH_MAX 4096

enum pmt_ring_op {
    PMT_RING_OPEN = 1,   /* open req.path for req.slot (req.flags: PMT_RING_EXCL) */
    PMT_RING_CLOSE,      /* write what the slot holds, close its file; resp.size */
    PMT_RING_END,        /* write everything, close every file, exit */
};

#define PMT_RING_EXCL 1 /* a new file only; else the rules for a file the user named */

/* Why an existing file was refused (resp.why), texts in logopen.h. */
struct pmt_ring_slot {
    /* the producer's */
    uint32_t pseq;                 /* buffer being filled */
    uint32_t nbuf;                 /* buffers in use, 1..PMT_RING_NBUF, fixed while open */
    uint32_t len[PMT_RING_NBUF];   /* bytes published in each */
    uint32_t head_len;             /* bytes of head[] */
    char head[PMT_RING_HEAD_MAX];
    /* the writer's */
    uint32_t hseq;                 /* buffer being written */
    uint32_t hoff;                 /* bytes of it written */
    int32_t werr;                  /* errno of a failed write: nothing more is written */
    uint32_t open;                 /* the slot has a file */
    uint64_t size;                 /* bytes the file holds, as far as the writer knows */
    uint32_t truncated;            /* times another program emptied the file */
    uint32_t pad;
};

struct pmt_ring {
    uint64_t magic;
    uint32_t parent;   /* the program's pid: the writer ends when its parent is no longer it */
    uint32_t writer;   /* the writer's pid, once it runs */
    int32_t ready;     /* the writer runs (a futex word) */
    int32_t wake;      /* bumped by the agent when there is something to write (a futex word) */
    int32_t sleeping;  /* the writer is about to sleep on wake */
    uint32_t req_seq;
    uint32_t resp_seq; /* a futex word */
    uint32_t pad;
    struct {
        uint32_t op, slot, flags, mode; /* mode: permission bits, the program's umask applied */
        char path[PMT_RING_PATH_MAX];
    } req;
    struct {
        int32_t err;   /* 0, or an errno value */
        int32_t why;   /* a refusal (logopen.h), or 0 */
        uint64_t size;
    } resp;
    struct pmt_ring_slot slot[PMT_RING_SLOTS];
};

#define PMT_RING_BUF_OFFSET ((sizeof(struct pmt_ring) + 4095) & ~(uint64_t)4095)
#define PMT_RING_SIZE (PMT_RING_BUF_OFFSET + (uint64_t)PMT_RING_SLOTS * PMT_RING_NBUF * PMT_RING_BUF)

static inline char *pmt_ring_buf(struct pmt_ring *r, unsigned slot, unsigned i)
{
    return (char *)r + PMT_RING_BUF_OFFSET + ((uint64_t)slot * PMT_RING_NBUF + i) * PMT_RING_BUF;
}

#endif
