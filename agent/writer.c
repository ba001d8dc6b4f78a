/* writer: see writer.h. One producer at a time (the GIL serialises the
 * hooks; close and fork run with it too), one consumer thread.
 *
 * The thread is a rawthread (rawthread.h), one glibc does not know, so that
 * the program's malloc keeps its single-thread paths while every event is
 * logged. What it runs keeps that header's rules: pmt_write_all's raw
 * pwrite, the failure said by pmt_say, no errno, no semaphore. Its sleep
 * is a futex wait on wr_signal, which the producer bumps with each job and
 * wakes only when the writer said it sleeps. */
#include "agent/writer.h"

#include "agent/rawio.h"
#include "agent/rawthread.h"
#include "agent/rss.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#define WR_QUEUE 16
#define WR_STACK (64 * 1024)
#define WR_STACK_USED (40 * 1024)
/* A writer blocked longer than this in a write (a stalled file system) is
 * left behind at the end rather than hanging the program. */
#define WR_END_WAIT_NS 30000000000LL

struct wr_job {
    int fd;
    uint64_t dev, ino;
    const char *buf;
    size_t len;
    off_t off;
    volatile int *busy;
    pmt_writer_fail fail;
    void *ctx;
};

static struct wr_job wr_q[WR_QUEUE];
static unsigned wr_head; /* next job to fill (producer) */
static unsigned wr_tail; /* next job to write (writer) */
static struct pmt_rawthread wr_thread;
static int wr_running;
static int wr_stop;      /* asks the writer to end, once the queue is empty */
static int wr_signal;    /* bumped by the producer: a futex word */
static int wr_sleeping;  /* the writer is about to wait on wr_signal */

static void wr_write(const struct wr_job *j)
{
    struct stat st;
    int err = pmt_sys3(SYS_fstat, j->fd, &st, 0) == 0 && (uint64_t)st.st_dev == j->dev &&
                      (uint64_t)st.st_ino == j->ino
                  ? pmt_write_all(j->fd, j->buf, j->len, j->off)
                  : EBADF;
    if (err)
        j->fail(j->ctx, err);
}

/* While the program logs every event a buffer comes every 50-100 us, and
 * waking a sleeping writer costs the producer several microseconds each
 * time (an interrupt to an idle CPU: 12% of the main thread's time at
 * trigger 0, measured on 3.13). So a writer whose last idle spell was short
 * watches the queue for WR_SPIN_NS before it sleeps, and a busy log never
 * has to wake it. Only where the process has two CPUs or more to itself
 * (wr_may_spin): on one, the watching would take the producer's time. */
#define WR_SPIN_NS 200000LL
static int wr_may_spin; /* set before the thread starts */
static int wr_busy;     /* the writer's own: its last idle spell was short */

static int wr_idle(void)
{
    return __atomic_load_n(&wr_tail, __ATOMIC_RELAXED) == __atomic_load_n(&wr_head, __ATOMIC_SEQ_CST) &&
           !__atomic_load_n(&wr_stop, __ATOMIC_SEQ_CST);
}

static int wr_spin(long long until)
{
    do {
        for (int i = 0; i < 64; i++) {
            if (!wr_idle())
                return 1;
            __builtin_ia32_pause();
        }
    } while (rawthread_clock_ns(CLOCK_MONOTONIC) < until);
    return 0;
}

/* Sleeps until the producer bumps wr_signal. The producer bumps, then reads
 * wr_sleeping; the writer sets wr_sleeping, then reads wr_signal and the
 * queue: one of them sees the other (sequentially consistent), so a job is
 * never left unwritten with the writer asleep. */
static void wr_sleep(void)
{
    long long t0 = rawthread_clock_ns(CLOCK_MONOTONIC);
    if (wr_busy && wr_spin(t0 + WR_SPIN_NS))
        return;
    int seen = __atomic_load_n(&wr_signal, __ATOMIC_SEQ_CST);
    __atomic_store_n(&wr_sleeping, 1, __ATOMIC_SEQ_CST);
    if (wr_idle())
        rawthread_wait(&wr_signal, seen, rawthread_clock_ns(CLOCK_MONOTONIC) + 1000000000LL);
    __atomic_store_n(&wr_sleeping, 0, __ATOMIC_SEQ_CST);
    wr_busy = wr_may_spin && rawthread_clock_ns(CLOCK_MONOTONIC) - t0 < WR_SPIN_NS;
}

static int wr_main(void *arg)
{
    (void)arg;
    for (;;) {
        unsigned tail = __atomic_load_n(&wr_tail, __ATOMIC_RELAXED);
        if (tail == __atomic_load_n(&wr_head, __ATOMIC_ACQUIRE)) {
            if (__atomic_load_n(&wr_stop, __ATOMIC_ACQUIRE))
                return 0;
            wr_sleep();
            continue;
        }
        const struct wr_job *j = &wr_q[tail % WR_QUEUE];
        wr_write(j);
        __atomic_store_n(j->busy, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&wr_tail, tail + 1, __ATOMIC_RELEASE);
    }
}

static void wr_signal_writer(void)
{
    __atomic_add_fetch(&wr_signal, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&wr_sleeping, __ATOMIC_SEQ_CST))
        rawthread_wake(&wr_signal);
}

static void wr_pause(void)
{
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
}

/* At most n, or the quota of the process's own cgroup (v2 cpu.max: "max
 * PERIOD" or "QUOTA PERIOD") in CPUs. */
static double wr_cpus_of_cgroup(double n)
{
    char buf[512], path[600];
    if (pmt_read_small("/proc/self/cgroup", buf, sizeof buf) <= 3)
        return n;
    char *g = memcmp(buf, "0::", 3) == 0 ? buf : strstr(buf, "\n0::");
    if (!g)
        return n;
    g += g == buf ? 3 : 4;
    g[strcspn(g, "\n")] = '\0';
    size_t k = strlen(g);
    memcpy(path, "/sys/fs/cgroup", 14);
    memcpy(path + 14, g, k);
    memcpy(path + 14 + k, "/cpu.max", 9);
    if (!pmt_read_small(path, buf, sizeof buf) || buf[0] < '0' || buf[0] > '9')
        return n; /* "max", or no controller */
    const char *p = buf;
    uint64_t quota = rss_decimal(&p), period = rss_decimal(&p);
    double q = period ? (double)quota / (double)period : n;
    return q < n ? q : n;
}

/* The CPUs the process may use: its affinity, and its cgroup's quota. */
static double wr_cpus(void)
{
    int saved = errno; /* may run in a hook, after a fork */
    cpu_set_t set;
    double n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    errno = saved;
    return wr_cpus_of_cgroup(n);
}

static int wr_start(void)
{
    wr_stop = 0;
    wr_sleeping = 0;
    wr_may_spin = wr_busy = wr_cpus() >= 2.0;
    /* Its memory settles before this returns (rawthread_start): creating a
     * thread moves RSS partly without a page fault the rings count
     * (measured: a page, now and then, with PYMEMTRACE_RSS=check), so it
     * must not happen at an unknown later moment. */
    if (rawthread_start(&wr_thread, wr_main, NULL, WR_STACK, WR_STACK_USED) != 0)
        return -1;
    wr_running = 1;
    pmt_rss_dirty = 1;
    return 0;
}

int writer_start_now(void)
{
    return wr_running || wr_start() == 0 ? 0 : -1;
}

int writer_submit(int fd, uint64_t dev, uint64_t ino, const char *buf, size_t len, off_t off,
                  volatile int *busy, pmt_writer_fail fail, void *ctx)
{
    if (!wr_running && wr_start() != 0)
        return -1;
    while (wr_head - __atomic_load_n(&wr_tail, __ATOMIC_ACQUIRE) >= WR_QUEUE)
        wr_pause(); /* the disk is behind: wait for it, as write() would */
    struct wr_job *j = &wr_q[wr_head % WR_QUEUE];
    *j = (struct wr_job){fd, dev, ino, buf, len, off, busy, fail, ctx};
    *busy = 1;
    __atomic_store_n(&wr_head, wr_head + 1, __ATOMIC_SEQ_CST);
    wr_signal_writer();
    return 0;
}

void writer_wait(volatile int *busy)
{
    /* The writer is at it now: a few microseconds, mostly. A sleep rounds
     * up to the timer slack (50 us), so first watch, where a CPU is ours. */
    long long until = wr_may_spin ? rawthread_clock_ns(CLOCK_MONOTONIC) + WR_SPIN_NS : 0;
    while (__atomic_load_n(busy, __ATOMIC_ACQUIRE)) {
        if (until && rawthread_clock_ns(CLOCK_MONOTONIC) < until) {
            for (int i = 0; i < 64 && __atomic_load_n(busy, __ATOMIC_ACQUIRE); i++)
                __builtin_ia32_pause();
        } else {
            wr_pause();
        }
    }
}

void writer_drain(void)
{
    while (wr_running && __atomic_load_n(&wr_tail, __ATOMIC_ACQUIRE) != wr_head)
        wr_pause();
}

void writer_stop(void)
{
    if (!wr_running)
        return;
    writer_drain();
    __atomic_store_n(&wr_stop, 1, __ATOMIC_SEQ_CST);
    wr_signal_writer();
    rawthread_join(&wr_thread, WR_END_WAIT_NS); /* on a timeout it is left, with its stack */
    wr_running = 0;
    pmt_rss_dirty = 1; /* its stack is gone */
}

void writer_after_fork_child(void)
{
    wr_running = 0;
    wr_head = wr_tail = 0;
}
