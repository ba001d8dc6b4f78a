/* sampler: see sampler.h. */
#include "agent/sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "agent/logfmt.h"
#include "agent/rss.h"

#define SM_STACK (64 * 1024)
#define SM_STACK_USED (24 * 1024) /* /proc buffers and the line, with room */
/* How long an ending thread is waited for. It ends within microseconds
 * unless a write blocks (a log on a stalled network file system or a full
 * pipe); then it is left behind rather than hanging the program. */
#define SM_END_WAIT_NS 2000000000LL

enum sm_state { SM_NONE, SM_OPEN, SM_CLOSED, SM_FAILED };

static struct {
    enum sm_state state;
    int fd;
    pid_t owner;              /* the process whose log this is */
    long long interval_ns;
    const struct pmt_log_env *env;
    uint64_t page;
    uint64_t clk_tck;
    pthread_t thread;
    int running;              /* a thread was started and not yet ended */
    int stuck;                /* one did not end in time: no more threads, no STOP */
    int paused;               /* ended for a fork: the parent starts it again */
    volatile int stop;        /* asks the thread to end */
    volatile int failed;      /* a write failed (said once): no more lines */
    uint64_t peak;            /* the highest RSS this log has shown */
    sem_t wake;               /* posted to end the thread's sleep at once */
    sem_t done;               /* posted by the thread as it ends */
    sem_t ready;              /* posted by the thread once its stack is touched */
    char path[4096];
} sm = {.fd = -1};

static pthread_mutex_t sm_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- one sample ------------------------------------------------------------ */

/* A small /proc file into buf, NUL-terminated; returns its length (0: unread). */
static size_t sm_read(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    if (fd < 0) {
        buf[0] = '\0';
        return 0;
    }
    while (n < cap - 1) {
        ssize_t rc = read(fd, buf + n, cap - 1 - n);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        n += (size_t)rc;
    }
    close(fd);
    buf[n] = '\0';
    return n;
}

static uint64_t sm_us(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* /proc/self/stat: fields 22 (start time) and 42 (block I/O delay), in clock
 * ticks. The command name (field 2) may hold spaces and parentheses, so
 * fields are counted from the last ')'. */
static void sm_stat(uint64_t *start_ticks, uint64_t *blkio_ticks)
{
    char buf[1024];
    *start_ticks = *blkio_ticks = 0;
    if (!sm_read("/proc/self/stat", buf, sizeof buf))
        return;
    const char *p = strrchr(buf, ')');
    if (!p)
        return;
    p++;
    for (int field = 3; field <= 42 && *p; field++) {
        while (*p == ' ')
            p++;
        char *end;
        uint64_t v = strtoull(p, &end, 10);
        if (field == 22)
            *start_ticks = v;
        else if (field == 42)
            *blkio_ticks = v;
        p = end == p ? p + strcspn(p, " ") : end; /* the state letter is not a number */
    }
}

static void sm_collect(struct pmt_sample_fields *f)
{
    struct timespec real, boot;
    char buf[2048];
    memset(f, 0, sizeof *f);
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    time_t secs = real.tv_sec;
    localtime_r(&secs, &f->local);
    f->usec = (uint32_t)(real.tv_nsec / 1000);
    f->pid = getpid();

    /* psutil's memory_info on Linux: statm's seven fields, in pages. */
    uint64_t *const statm[] = {&f->vms, &f->rss, &f->shared, &f->text, &f->lib, &f->data, &f->dirty};
    const char *p = buf;
    sm_read("/proc/self/statm", buf, sizeof buf);
    for (size_t i = 0; i < sizeof statm / sizeof statm[0]; i++) {
        char *end;
        *statm[i] = strtoull(p, &end, 10) * sm.page;
        p = end;
    }
    sm_read("/proc/self/status", buf, sizeof buf);
    const char *hwm = strstr(buf, "\nVmHWM:");
    if (hwm)
        f->peak_rss = strtoull(hwm + 7, NULL, 10) * 1024u;

    uint64_t start_ticks, blkio_ticks;
    sm_stat(&start_ticks, &blkio_ticks);
    f->iowait_us = blkio_ticks * 1000000u / sm.clk_tck;
    /* The start time counts from boot (CLOCK_BOOTTIME), as psutil's
     * create_time does once the boot time is added back. */
    uint64_t now_us = (uint64_t)boot.tv_sec * 1000000u + (uint64_t)boot.tv_nsec / 1000u;
    uint64_t start_us = start_ticks * 1000000u / sm.clk_tck;
    f->elapsed_us = now_us > start_us ? now_us - start_us : 0;

    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    f->user_us = sm_us(self.ru_utime);
    f->system_us = sm_us(self.ru_stime);
    f->children_user_us = sm_us(children.ru_utime);
    f->children_system_us = sm_us(children.ru_stime);
    f->pfaults = (uint64_t)self.ru_minflt + (uint64_t)self.ru_majflt;
    f->pageins = (uint64_t)self.ru_majflt;
}

/* Said once; afterwards nothing more is written to the log. */
static void sm_fail(int err)
{
    if (sm.failed)
        return;
    sm.failed = 1;
    pmt_say("cannot write ", sm.path, ": ", pmt_errtext(err), "; sampling stopped", NULL);
}

/* One line, in one write so that a line is never torn. */
static int sm_write_line(const char *mark)
{
    struct pmt_sample_fields f;
    char line[PMT_SAMPLE_LINE_MAX];
    if (sm.failed)
        return -1;
    sm_collect(&f);
    /* The kernel's RSS counters are per-CPU approximations, and VmHWM is
     * updated lazily from them: it can read a few pages below an RSS read a
     * moment before. A peak never falls and is never below RSS. */
    if (f.peak_rss < f.rss)
        f.peak_rss = f.rss;
    if (f.peak_rss < sm.peak)
        f.peak_rss = sm.peak;
    sm.peak = f.peak_rss;
    int err = pmt_write_all(sm.fd, line, fmt_sample_line(line, mark, &f), -1);
    if (err)
        sm_fail(err);
    return err ? -1 : 0;
}

/* ---- the thread ------------------------------------------------------------ */

static void sm_add_ns(struct timespec *t, long long ns)
{
    long long sum = t->tv_nsec + ns % 1000000000LL;
    t->tv_sec += (time_t)(ns / 1000000000LL + sum / 1000000000LL);
    t->tv_nsec = (long)(sum % 1000000000LL);
}

static long long sm_diff_ns(const struct timespec *a, const struct timespec *b)
{
    return (long long)(a->tv_sec - b->tv_sec) * 1000000000LL + (a->tv_nsec - b->tv_nsec);
}

/* The thread's memory settles before its creator returns (as the writer's
 * does, writer.c): its stack is touched to the depth it uses, so that it
 * takes no page fault the event logs would have to account for later. */
static void sm_settle(void)
{
    volatile char depth[SM_STACK_USED];
    for (size_t i = 0; i < sizeof depth; i += 512)
        depth[i] = 0;
}

/* Sleeps to absolute deadlines, so the interval does not drift by the time a
 * sample takes. The sleep is a semaphore's timed wait rather than
 * clock_nanosleep: the thread blocks every signal, and the semaphore is what
 * ends its sleep at once when it must go (exit, fork). */
static void *sm_main(void *arg)
{
    (void)arg;
    sm_settle();
    rss_thread_ended(); /* settled: no page fault from here on */
    sem_post(&sm.ready);
    struct timespec next, now;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        sm_add_ns(&next, sm.interval_ns);
        int rc;
        while ((rc = sem_clockwait(&sm.wake, CLOCK_MONOTONIC, &next)) != 0 && errno == EINTR)
            ;
        if (rc == 0 || sm.stop || sm_write_line(PMT_SAMPLE_MARK) != 0)
            break;
        /* Behind by more than an interval (the process was stopped, the
         * machine suspended): go on from now instead of a burst of lines. */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (sm_diff_ns(&now, &next) > sm.interval_ns)
            next = now;
    }
    rss_thread_started(); /* balances the pthread_create wrapper's count at return */
    sem_post(&sm.done);
    return NULL;
}

static void sm_start_thread_locked(void)
{
    if (sm.running || sm.stuck || sm.failed || sm.state != SM_OPEN)
        return;
    sigset_t all, old;
    pthread_attr_t attr;
    if (sem_init(&sm.wake, 0, 0) != 0 || sem_init(&sm.done, 0, 0) != 0 ||
        sem_init(&sm.ready, 0, 0) != 0 || pthread_attr_init(&attr) != 0)
        return;
    pthread_attr_setstacksize(&attr, SM_STACK);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited by the thread */
    sm.stop = 0;
    int rc = pthread_create(&sm.thread, &attr, sm_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        /* The log keeps its START and gets its STOP; there are no samples between. */
        pmt_say("cannot start the sampler thread: ", pmt_errtext(rc), "; no samples", NULL);
        return;
    }
    while (sem_wait(&sm.ready) != 0 && errno == EINTR)
        ;
    pmt_rss_dirty = 1; /* creating a thread moves RSS partly without faults */
    sm.running = 1;
}

static void sm_end_thread_locked(void)
{
    if (!sm.running)
        return;
    sm.running = 0;
    sm.stop = 1;
    sem_post(&sm.wake);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    sm_add_ns(&deadline, SM_END_WAIT_NS);
    int rc;
    while ((rc = sem_clockwait(&sm.done, CLOCK_MONOTONIC, &deadline)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        /* Blocked in a write: leave it, with its semaphores and the log's
         * descriptor, which it may still use. */
        pthread_detach(sm.thread);
        sm.stuck = 1;
        return;
    }
    pthread_join(sm.thread, NULL);
    sem_destroy(&sm.wake);
    sem_destroy(&sm.done);
    sem_destroy(&sm.ready);
    pmt_rss_dirty = 1; /* glibc releases an ended thread's stack internally */
}

/* ---- control --------------------------------------------------------------- */

static int sm_open_locked(const struct pmt_log_env *env, long long interval_ns, unsigned *ordinal)
{
    tzset(); /* here, not on the thread: the first call reads the zone file */
    sm.env = env;
    sm.interval_ns = interval_ns;
    sm.page = (uint64_t)sysconf(_SC_PAGESIZE);
    sm.clk_tck = (uint64_t)sysconf(_SC_CLK_TCK);
    sm.running = sm.stuck = sm.paused = sm.failed = 0;
    sm.peak = 0;
    sm.state = SM_FAILED;
    sm.fd = tracelog_create(env, 'S', "sample", ordinal, sm.path, sizeof sm.path,
                            "; not sampling");
    if (sm.fd < 0)
        return -1;
    sm.owner = getpid();
    int err = 0;
    if (env->message)
        err = pmt_write_all(sm.fd, env->message, strlen(env->message), -1);
    if (env->message && !err)
        err = pmt_write_all(sm.fd, "\n", 1, -1);
    if (err)
        sm_fail(err);
    /* Written now: an unwritable target shows at once, in the one line said. */
    if (err || sm_write_line(PMT_SAMPLE_MARK_START) != 0) {
        close(sm.fd);
        sm.fd = -1;
        return -1;
    }
    sm.state = SM_OPEN;
    if (!env->quiet)
        pmt_say("sample log: ", sm.path, NULL);
    sm_start_thread_locked();
    return 0;
}

int sampler_open(const struct pmt_log_env *env, long long interval_ns, unsigned *ordinal)
{
    pthread_mutex_lock(&sm_lock);
    int rc = sm_open_locked(env, interval_ns, ordinal);
    pthread_mutex_unlock(&sm_lock);
    return rc;
}

void sampler_finish(void)
{
    pthread_mutex_lock(&sm_lock);
    if (sm.state == SM_OPEN && sm.owner == getpid()) {
        sm_end_thread_locked();
        if (!sm.stuck) {
            sm_write_line(PMT_SAMPLE_MARK_STOP);
            close(sm.fd);
        }
        sm.fd = -1;
        sm.state = SM_CLOSED;
    }
    pthread_mutex_unlock(&sm_lock);
}

/* The lock is held from here to the parent's or the child's handler, so
 * that no other thread starts a sampler across the fork. */
int sampler_before_fork(void)
{
    pthread_mutex_lock(&sm_lock);
    sm.paused = 0;
    if (sm.state == SM_OPEN && sm.owner == getpid() && sm.running) {
        sm_end_thread_locked();
        sm.paused = !sm.stuck;
    }
    return sm.paused;
}

void sampler_after_fork_parent(void)
{
    pthread_mutex_unlock(&sm_lock);
}

void sampler_resume(void)
{
    pthread_mutex_lock(&sm_lock);
    if (sm.paused && sm.state == SM_OPEN && sm.owner == getpid()) {
        sm.paused = 0;
        sm_start_thread_locked();
    }
    pthread_mutex_unlock(&sm_lock);
}

/* The forking thread is the child's only thread and holds the lock. A child
 * of a sampled process gets a log and a thread of its own; the parent's log
 * stays the parent's. */
void sampler_after_fork_child(unsigned *ordinal)
{
    int sampled = sm.paused && sm.state == SM_OPEN;
    sm.paused = 0;
    if (sampled) {
        close(sm.fd); /* the child's descriptor only */
        sm.fd = -1;
        sm.state = SM_NONE;
        if (ordinal) /* NULL: PYMEMTRACE_CHILDREN=0, the child is not sampled */
            sm_open_locked(sm.env, sm.interval_ns, ordinal);
    }
    pthread_mutex_unlock(&sm_lock);
}
