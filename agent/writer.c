/* writer: see writer.h. One producer at a time (the GIL serialises the
 * hooks; close and fork run with it too), one consumer thread. */
#include "agent/writer.h"

#include "agent/rss.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WR_QUEUE 16
#define WR_STACK (64 * 1024)
#define WR_STACK_USED (40 * 1024)

struct wr_job {
    int fd;
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
static sem_t wr_items;
static pthread_t wr_thread;
static int wr_running;
static volatile int wr_stop;

static void wr_write(const struct wr_job *j)
{
    size_t done = 0;
    while (done < j->len) {
        ssize_t rc = pwrite(j->fd, j->buf + done, j->len - done, j->off + (off_t)done);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            j->fail(j->ctx, rc < 0 ? errno : ENOSPC);
            break;
        }
        done += (size_t)rc;
    }
}

static volatile int wr_ready;

/* The writer's own memory settles before its creator returns: its stack is
 * touched to the depth it will ever use, then the creator raises
 * pmt_rss_dirty. Creating a thread moves RSS partly without a page fault
 * the rings count (measured: a page, now and then, with PYMEMTRACE_RSS=
 * check), so it must not happen at an unknown later moment. */
static void wr_settle(void)
{
    volatile char depth[WR_STACK_USED];
    for (size_t i = 0; i < sizeof depth; i += 512)
        depth[i] = 0;
    __atomic_store_n(&wr_ready, 1, __ATOMIC_RELEASE);
}

static void *wr_main(void *arg)
{
    (void)arg;
    wr_settle();
    rss_thread_ended(); /* settled: it takes no page fault from here on */
    for (;;) {
        while (sem_wait(&wr_items) != 0 && errno == EINTR)
            ;
        unsigned tail = __atomic_load_n(&wr_tail, __ATOMIC_RELAXED);
        if (tail == __atomic_load_n(&wr_head, __ATOMIC_ACQUIRE)) {
            if (wr_stop) {
                rss_thread_started(); /* balances the wrapper's count at return */
                return NULL;
            }
            continue;
        }
        const struct wr_job *j = &wr_q[tail % WR_QUEUE];
        wr_write(j);
        __atomic_store_n(j->busy, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&wr_tail, tail + 1, __ATOMIC_RELEASE);
    }
}

static void wr_pause(void)
{
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
}

static int wr_start(void)
{
    sigset_t all, old;
    pthread_attr_t attr;
    sigfillset(&all);
    if (sem_init(&wr_items, 0, 0) != 0 || pthread_attr_init(&attr) != 0)
        return -1;
    pthread_attr_setstacksize(&attr, WR_STACK);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited by the thread */
    wr_stop = 0;
    wr_ready = 0;
    int rc = pthread_create(&wr_thread, &attr, wr_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    wr_running = rc == 0;
    if (rc != 0)
        return -1;
    while (!__atomic_load_n(&wr_ready, __ATOMIC_ACQUIRE))
        wr_pause();
    pmt_rss_dirty = 1;
    return 0;
}


int writer_submit(int fd, const char *buf, size_t len, off_t off, volatile int *busy,
                  pmt_writer_fail fail, void *ctx)
{
    if (!wr_running && wr_start() != 0)
        return -1;
    while (wr_head - __atomic_load_n(&wr_tail, __ATOMIC_ACQUIRE) >= WR_QUEUE)
        wr_pause(); /* the disk is behind: wait for it, as write() would */
    struct wr_job *j = &wr_q[wr_head % WR_QUEUE];
    *j = (struct wr_job){fd, buf, len, off, busy, fail, ctx};
    *busy = 1;
    __atomic_store_n(&wr_head, wr_head + 1, __ATOMIC_RELEASE);
    sem_post(&wr_items);
    return 0;
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
    wr_stop = 1;
    sem_post(&wr_items);
    pthread_join(wr_thread, NULL);
    sem_destroy(&wr_items);
    wr_running = 0;
    pmt_rss_dirty = 1; /* glibc releases an ended thread's stack internally */
}

void writer_after_fork_child(void)
{
    wr_running = 0;
    wr_head = wr_tail = 0;
}
