/* sampler: see sampler.h. */
#include "agent/sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/logclient.h"
#include "agent/logfmt.h"
#include "agent/rawthread.h"
#include "agent/rss.h"

/* The thread is a rawthread (rawthread.h): a thread glibc does not know, so
 * that the program's malloc keeps its single-thread fast paths. Everything
 * it runs, from sm_main down, keeps that header's rules: raw system calls,
 * pure functions, no errno. The control functions run on the program's
 * threads and use glibc as usual. */

#define SM_STACK (64 * 1024)
#define SM_STACK_USED (24 * 1024) /* /proc buffers and the line, with room */
/* How long an ending thread is waited for. It ends within microseconds
 * unless a write blocks (a log on a stalled network file system or a full
 * pipe); then it is left behind rather than hanging the program. */
#define SM_END_WAIT_NS 2000000000LL
/* Local time: the UTC offsets in force from the thread's start, found with
 * localtime_r by the thread that starts it, since the thread itself may not
 * call localtime_r. Transitions are looked for one day apart, far enough
 * ahead for any process (a restart after a fork looks again); an offset in
 * force for less than a day between two probes would be missed, which no
 * real zone's rules do. */
#define SM_ZONE_DAYS 400
#define SM_ZONES 16

enum sm_state { SM_NONE, SM_OPEN, SM_CLOSED, SM_FAILED };

struct sm_zone {
    int64_t from; /* in force from this time (seconds since the epoch) */
    long offset;  /* seconds east of UTC */
};

static struct {
    enum sm_state state;
    struct pmt_sink sink;
    pid_t owner;              /* the process whose log this is */
    long long interval_ns;
    const struct pmt_log_env *env;
    const struct pmt_log_kind *kind;
    uint64_t page;
    uint64_t clk_tck;
    struct pmt_rawthread thread;
    int running;              /* a thread was started and not yet ended */
    int stuck;                /* one did not end in time: no more threads, no STOP */
    int paused;               /* ended for a fork: the parent starts it again */
    int stop;                 /* asks the thread to end (a futex word) */
    volatile int failed;      /* a write failed (said once): no more lines */
    int err;                  /* its errno value */
    uint64_t peak;            /* the highest RSS this log has shown */
    int nzones;
    struct sm_zone zones[SM_ZONES];
    char path[4096];
} sm;

static pthread_mutex_t sm_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- local time ------------------------------------------------------------- */

static long sm_offset_at(time_t t)
{
    struct tm tm;
    return localtime_r(&t, &tm) ? tm.tm_gmtoff : 0;
}

/* On the starting thread: the offset now and its changes ahead. */
static void sm_zones_find(void)
{
    time_t now = time(NULL);
    long current = sm_offset_at(now);
    sm.zones[0] = (struct sm_zone){INT64_MIN, current};
    sm.nzones = 1;
    for (int day = 1; day <= SM_ZONE_DAYS && sm.nzones < SM_ZONES; day++) {
        time_t hi = now + (time_t)day * 86400, lo = hi - 86400;
        long offset = sm_offset_at(hi);
        if (offset == current)
            continue;
        while (hi - lo > 1) { /* the first second of the new offset */
            time_t mid = lo + (hi - lo) / 2;
            if (sm_offset_at(mid) == current)
                lo = mid;
            else
                hi = mid;
        }
        current = sm_offset_at(hi);
        sm.zones[sm.nzones++] = (struct sm_zone){(int64_t)hi, current};
    }
}

static void sm_localtime(int64_t secs, struct tm *tm)
{
    long offset = sm.zones[0].offset;
    for (int i = 1; i < sm.nzones && sm.zones[i].from <= secs; i++)
        offset = sm.zones[i].offset;
    memset(tm, 0, sizeof *tm);
    fmt_civil_time(secs + offset, tm);
    tm->tm_gmtoff = offset;
}

/* ---- one sample (on any thread, under rawthread.h's rules) ----------------- */

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
    if (!pmt_read_small("/proc/self/stat", buf, sizeof buf))
        return;
    const char *p = strrchr(buf, ')');
    if (!p)
        return;
    p++;
    for (int field = 3; field <= 42 && *p; field++) {
        while (*p == ' ')
            p++;
        const char *start = p;
        uint64_t v = rss_decimal(&p);
        if (field == 22)
            *start_ticks = v;
        else if (field == 42)
            *blkio_ticks = v;
        if (p == start) /* the state letter, or a '-' */
            p += strcspn(p, " ");
    }
}

static void sm_collect(struct pmt_sample_fields *f)
{
    char buf[2048];
    memset(f, 0, sizeof *f);
    long long real = rawthread_clock_ns(CLOCK_REALTIME);
    long long boot = rawthread_clock_ns(CLOCK_BOOTTIME);
    sm_localtime(real / 1000000000LL, &f->local);
    f->usec = (uint32_t)(real % 1000000000LL / 1000);
    f->pid = sm.owner;

    /* psutil's memory_info on Linux: statm's seven fields, in pages. */
    uint64_t *const statm[] = {&f->vms, &f->rss, &f->shared, &f->text, &f->lib, &f->data, &f->dirty};
    const char *p = buf;
    pmt_read_small("/proc/self/statm", buf, sizeof buf);
    for (size_t i = 0; i < sizeof statm / sizeof statm[0]; i++)
        *statm[i] = rss_decimal(&p) * sm.page;
    pmt_read_small("/proc/self/status", buf, sizeof buf);
    const char *hwm = strstr(buf, "\nVmHWM:");
    if (hwm) {
        hwm += 7;
        f->peak_rss = rss_decimal(&hwm) * 1024u;
    }

    uint64_t start_ticks, blkio_ticks;
    sm_stat(&start_ticks, &blkio_ticks);
    f->iowait_us = blkio_ticks * 1000000u / sm.clk_tck;
    /* The start time counts from boot (CLOCK_BOOTTIME), as psutil's
     * create_time does once the boot time is added back. */
    uint64_t now_us = (uint64_t)boot / 1000u;
    uint64_t start_us = start_ticks * 1000000u / sm.clk_tck;
    f->elapsed_us = now_us > start_us ? now_us - start_us : 0;

    struct rusage self, children;
    memset(&self, 0, sizeof self);
    memset(&children, 0, sizeof children);
    pmt_sys3(SYS_getrusage, RUSAGE_SELF, &self, 0);
    pmt_sys3(SYS_getrusage, RUSAGE_CHILDREN, &children, 0);
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
    sm.err = err;
    /* Said by the log client when its writer ended; at open, by the opener. */
    if (!logclient_lost && sm.state == SM_OPEN)
        pmt_say("cannot write ", sm.path, ": ", pmt_errtext(err), "; sampling stopped", NULL);
}

/* One line, written at once (sink_flush: one write, or the writer woken). */
static int sm_write_line(const char *mark)
{
    struct pmt_sample_fields f;
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
    int err = sm.sink.werr;
    if (!err && sm.sink.cap - sm.sink.len < PMT_SAMPLE_LINE_MAX)
        err = sink_flush_line(&sm.sink);
    if (!err) {
        sink_added(&sm.sink, fmt_sample_line(sm.sink.buf + sm.sink.len, mark, &f));
        err = sink_flush_line(&sm.sink);
    }
    if (err)
        sm_fail(err);
    return err ? -1 : 0;
}

/* ---- the thread ------------------------------------------------------------ */

/* Sleeps to absolute deadlines, so the interval does not drift by the time a
 * sample takes. The sleep is a futex wait on the stop word, which ends it at
 * once when the thread must go (exit, fork). */
static int sm_main(void *arg)
{
    (void)arg;
    long long next = rawthread_clock_ns(CLOCK_MONOTONIC);
    for (;;) {
        next += sm.interval_ns;
        long long now;
        while (!__atomic_load_n(&sm.stop, __ATOMIC_ACQUIRE) &&
               (now = rawthread_clock_ns(CLOCK_MONOTONIC)) < next)
            rawthread_wait(&sm.stop, 0, next);
        if (__atomic_load_n(&sm.stop, __ATOMIC_ACQUIRE) || sm_write_line(PMT_SAMPLE_MARK) != 0)
            break;
        /* Behind by more than an interval (the process was stopped, the
         * machine suspended): go on from now instead of a burst of lines. */
        now = rawthread_clock_ns(CLOCK_MONOTONIC);
        if (now - next > sm.interval_ns)
            next = now;
    }
    return 0;
}

static void sm_start_thread_locked(void)
{
    if (sm.running || sm.stuck || sm.failed || sm.state != SM_OPEN)
        return;
    sm.stop = 0;
    int rc = rawthread_start(&sm.thread, sm_main, NULL, SM_STACK, SM_STACK_USED);
    if (rc != 0) {
        /* The log keeps its START and gets its STOP; there are no samples between. */
        pmt_say("cannot start the sampler thread: ", pmt_errtext(rc), "; no samples", NULL);
        return;
    }
    pmt_rss_dirty = 1; /* the thread's stack moved RSS */
    sm.running = 1;
}

static void sm_end_thread_locked(void)
{
    if (!sm.running)
        return;
    sm.running = 0;
    __atomic_store_n(&sm.stop, 1, __ATOMIC_RELEASE);
    rawthread_wake(&sm.stop);
    if (rawthread_join(&sm.thread, SM_END_WAIT_NS) != 0) {
        /* Blocked in a write: leave it, with its stack and the log's
         * descriptor, which it may still use. */
        sm.stuck = 1;
        return;
    }
    pmt_rss_dirty = 1; /* its stack is gone */
}

/* ---- control --------------------------------------------------------------- */

static int sm_open_locked(const struct pmt_log_env *env, const struct pmt_log_kind *kind,
                          unsigned *ordinal)
{
    tzset(); /* the first call reads the zone file */
    sm_zones_find();
    sm.env = env;
    sm.interval_ns = env->cfg->sample_interval_ns;
    sm.page = (uint64_t)sysconf(_SC_PAGESIZE);
    sm.clk_tck = (uint64_t)sysconf(_SC_CLK_TCK);
    sm.running = sm.stuck = sm.paused = sm.failed = 0;
    sm.peak = 0;
    sm.state = SM_FAILED;
    sm.kind = kind;
    if (sink_init(&sm.sink, NULL, NULL, PMT_SAMPLE_LINE_MAX) != 0) {
        pmt_say("cannot allocate a log buffer; not sampling", NULL);
        return -1;
    }
    if (tracelog_create(env, kind, ordinal, &sm.sink, sm.path, sizeof sm.path, "; not sampling") != 0)
        return -1;
    sm.owner = getpid();
    const char *message = env->cfg->message;
    if (message) { /* cut to what the buffer holds with room for the START line */
        size_t n = strlen(message);
        if (n > sm.sink.cap / 2)
            n = sm.sink.cap / 2;
        memcpy(sm.sink.buf, message, n);
        sm.sink.buf[n] = '\n';
        sink_added(&sm.sink, n + 1);
    }
    /* Written now: an unwritable target shows at once, in the one line said. */
    int err = sm_write_line(PMT_SAMPLE_MARK_START) != 0 ? sm.err : sink_drain(&sm.sink);
    if (err || sm.failed) {
        if (!logclient_lost)
            pmt_say("cannot write ", sm.path, ": ", pmt_errtext(err ? err : EIO), "; not sampling",
                    NULL);
        sm.failed = 1;
        uint64_t size;
        sink_close(&sm.sink, &size);
        if (!env->cfg->log_file) /* a file of the agent's own, left empty: removed */
            unlink(sm.path);
        return -1;
    }
    sm.state = SM_OPEN;
    if (!env->cfg->quiet)
        pmt_say(kind->name, " log: ", sm.path, NULL);
    sm_start_thread_locked();
    return 0;
}

int sampler_open(const struct pmt_log_env *env, const struct pmt_log_kind *kind,
                 unsigned *ordinal)
{
    pthread_mutex_lock(&sm_lock);
    int rc = sm_open_locked(env, kind, ordinal);
    pthread_mutex_unlock(&sm_lock);
    return rc;
}

void sampler_finish(void)
{
    pthread_mutex_lock(&sm_lock);
    if (sm.state == SM_OPEN && sm.owner == getpid()) {
        sm_end_thread_locked();
        /* A child about to exec that closed every descriptor first
         * (subprocess's close_fds, between fork and exec): the log was
         * closed by its owner, nothing to say. */
        int closed = !sm.sink.shared && fcntl(sm.sink.fd, F_GETFD) < 0 && errno == EBADF;
        if (!sm.stuck && !closed) {
            uint64_t size;
            sm_write_line(PMT_SAMPLE_MARK_STOP);
            int err = sink_close(&sm.sink, &size);
            if (err)
                sm_fail(err);
        }
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
        sm_zones_find();
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
        sink_forget(&sm.sink); /* the child's descriptor only */
        sm.state = SM_NONE;
        if (ordinal) /* NULL: PYMEMTRACE_CHILDREN=0, the child is not sampled */
            sm_open_locked(sm.env, sm.kind, ordinal);
    }
    pthread_mutex_unlock(&sm_lock);
}

int sampler_hold(void)
{
    pthread_mutex_lock(&sm_lock);
    int held = 0;
    if (sm.state == SM_OPEN && sm.owner == getpid() && sm.running) {
        sm_end_thread_locked();
        held = !sm.stuck;
    }
    pthread_mutex_unlock(&sm_lock);
    return held;
}

void sampler_release(int held)
{
    if (!held)
        return;
    pthread_mutex_lock(&sm_lock);
    if (sm.state == SM_OPEN && sm.owner == getpid())
        sm_start_thread_locked();
    pthread_mutex_unlock(&sm_lock);
}
