/* rss: RSS sources and the clock. See rss.h for why it works this way. */
#include "agent/rss.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/rawio.h"
#include "config/config.h"

struct rss_state rss;
struct rss_clock rss_clk;
volatile int pmt_rss_dirty;
__thread uint32_t pmt_tid __attribute__((tls_model("initial-exec")));

uint32_t pmt_thread_id_slow(void)
{
    pmt_tid = (uint32_t)syscall(SYS_gettid);
    pmt_rss_dirty = 1; /* a new thread's start moves RSS without faults */
    return pmt_tid;
}
int pmt_watch_alloc;

static int rss_statm_fd = -1;
static unsigned long long rss_statm_ino; /* what rss_statm_fd names, to know it is still ours */
static uint64_t rss_page;
static size_t rss_ring_bytes;
static int rss_want; /* PMT_RSS_* asked for */

static uint64_t rss_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Invariant TSC (constant rate, running in every C-state) and the kernel
 * itself timing with it: then rdtsc is a clock. */
static int rss_tsc_usable(void)
{
    char buf[4096];
    int fd = open("/proc/cpuinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *flags = strstr(buf, "\nflags");
    if (!flags || !strstr(flags, " constant_tsc") || !strstr(flags, " nonstop_tsc"))
        return 0;
    fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
              O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n >= 3 && memcmp(buf, "tsc", 3) == 0;
}

void rss_clock_init(void)
{
    rss_clk.tsc0 = __rdtsc();
    rss_clk.mono0_ns = rss_mono_ns();
}

/* Re-anchor the TSC clock on CLOCK_MONOTONIC, with the rate measured over
 * everything since the agent was loaded. The clock never goes back. */
static void rss_clock_sync(void)
{
    uint64_t mono = rss_mono_ns() - rss_clk.mono0_ns;
    uint64_t tsc = __rdtsc();
    if (tsc <= rss_clk.tsc0 || mono < 1000000u)
        return; /* less than a millisecond to measure a rate on */
    uint64_t now_us = rss_clk.tsc ? pmt_ticks_us(tsc) : 0;
    rss_clk.ns_per_tick = (double)mono / (double)(tsc - rss_clk.tsc0);
    rss_clk.us_per_tick = rss_clk.ns_per_tick / 1000.0;
    rss_clk.tsc_base = tsc;
    rss_clk.base_us = mono / 1000u > now_us ? mono / 1000u : now_us;
    rss_clk.tsc = 1;
}

/* /proc/self/statm, held where a program does not look for free numbers:
 * near the top of the first thousand descriptors (or of a lower limit).
 * Under a limit below 64 nothing is held: it is opened at each read. */
static void rss_statm_open(void)
{
    rss_statm_fd = -1;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < 64)
        return;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    long top = rl.rlim_cur < 1024 ? (long)rl.rlim_cur : 1024;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, top - 16);
    close(fd);
    struct stat st;
    if (high >= 0 && fstat(high, &st) == 0) {
        rss_statm_fd = high;
        rss_statm_ino = (unsigned long long)st.st_ino;
    } else if (high >= 0) {
        close(high);
    }
}

/* Whether rss_statm_fd still names the statm this process opened: a program
 * may close every descriptor (closerange) or reuse the number (dup2). */
static int rss_statm_ours(void)
{
    struct stat st;
    return rss_statm_fd >= 0 && fstat(rss_statm_fd, &st) == 0 &&
           (unsigned long long)st.st_ino == rss_statm_ino;
}

static ssize_t rss_statm_read(char *buf, size_t cap)
{
    ssize_t n = rss_statm_fd >= 0 ? pread(rss_statm_fd, buf, cap, 0) : -1;
    if (n > 0 && buf[0] >= '0' && buf[0] <= '9')
        return n;
    /* Taken from the agent: never closed here if it is the program's now. */
    if (rss_statm_fd >= 0 && rss_statm_ours())
        close(rss_statm_fd);
    rss_statm_open();
    if (rss_statm_fd >= 0)
        return pread(rss_statm_fd, buf, cap, 0);
    return (ssize_t)pmt_read_small("/proc/self/statm", buf, cap);
}

static uint64_t rss_statm(void)
{
    char buf[128];
    int saved = errno;
    ssize_t n = rss_statm_read(buf, sizeof buf - 1);
    errno = saved;
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "size resident shared text lib data dt": the second field */
    const char *p = buf;
    rss_decimal(&p);
    return rss_decimal(&p) * rss_page;
}

uint64_t pmt_ticks_per_us(void)
{
    return rss_clk.tsc ? (uint64_t)(1e3 / rss_clk.ns_per_tick) : 1000u;
}

static void rss_settle_for(uint64_t us)
{
    uint64_t until = pmt_ticks() + us * pmt_ticks_per_us();
    if (until > rss.settle_until)
        rss.settle_until = until;
}

void rss_touch(void *p, size_t n)
{
    volatile char *c = p;
    for (size_t i = 0; i < n; i += 4096)
        c[i] = c[i];
    if (n)
        c[n - 1] = c[n - 1];
}

void rss_thread_started(void)
{
    __atomic_add_fetch(&rss.threads, 1, __ATOMIC_RELAXED);
}

void rss_thread_ended(void)
{
    __atomic_sub_fetch(&rss.threads, 1, __ATOMIC_RELAXED);
}

/* Whether a ring position may be taken as seen. With other threads, one of
 * them may be inside a fault the ring already reports but RSS does not yet
 * count (a huge page being zeroed): a new position is seen only once statm
 * was read RSS_INFLIGHT_US or more after it first showed. */
static int rss_heads_settled(uint64_t heads, uint64_t now)
{
    if (rss.threads <= 0)
        return 1;
    if (heads != rss.pending_heads) {
        rss.pending_heads = heads;
        rss.pending_since = now;
        return 0;
    }
    return now - rss.pending_since >= RSS_INFLIGHT_US * pmt_ticks_per_us();
}

uint64_t rss_refresh(uint64_t heads)
{
    /* Heads first, then statm: a fault after this snapshot moves a head
     * again and is seen at the next event. */
    uint64_t now = pmt_ticks();
    int settled = heads == rss.heads || rss_heads_settled(heads, now);
    pmt_rss_dirty = !settled || (rss.settle_until && now < rss.settle_until);
    if (rss_clk.tsc)
        rss_clock_sync();
    rss.heads = heads;
    rss.age = 0;
    rss.cached = rss_statm();
    return rss.cached;
}

void rss_settle(void)
{
    rss_settle_for(RSS_SETTLE_MS * 1000u);
    pmt_rss_dirty = 1;
}

uint64_t rss_read_slow(void)
{
    if (rss.mode == RSS_STATM)
        return rss_statm();
    /* RSS_CHECK: the fast answer, then the truth. Another thread may fault
     * between the two reads (the writer thread touching its stack, say):
     * then a ring moved or the flag went up meanwhile, the fast path will
     * see it at the next event, and the difference is not a miss. */
    uint64_t h = rss_heads();
    uint64_t fast = h == rss.heads && !pmt_rss_dirty && ++rss.age < RSS_MAX_AGE_EVENTS
                        ? rss.cached
                        : rss_refresh(h);
    uint64_t truth = rss_statm();
    rss.checked++;
    if (fast != truth && rss_heads() == h && !pmt_rss_dirty) {
        if (!rss.mismatches++) {
            rss.first_mismatch = rss.checked;
            rss.first_fast = fast;
            rss.first_truth = truth;
        }
        rss.cached = truth;
    }
    return truth;
}

/* ---- page-fault rings --------------------------------------------------- */

static int rss_open_event(pid_t tid, int cpu, int inherit_thread)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_PAGE_FAULTS;
    a.sample_period = 1; /* a record, so a head move, for every fault */
    a.sample_type = 0;   /* the record header is all we need */
    a.inherit = 1;       /* threads started later count too */
    a.inherit_thread = (unsigned)inherit_thread; /* not forked children */
    /* exclude_kernel stays 0: faults taken in the kernel on user memory
     * (read() into a fresh buffer) raise RSS too. Where that is refused
     * (perf_event_paranoid for unprivileged users), statm is used. */
    int fd = (int)syscall(SYS_perf_event_open, &a, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
    if (fd < 0 && errno == EINVAL && inherit_thread)
        return rss_open_event(tid, cpu, 0); /* kernels before 5.13 */
    return fd;
}

static void rss_close_rings(void)
{
    for (int i = 0; i < rss.nrings; i++)
        munmap((void *)rss.rings[i], rss_ring_bytes);
    rss.nrings = 0;
}

static int rss_add_ring(pid_t tid, int cpu)
{
    if (rss.nrings == RSS_MAX_RINGS)
        return -1;
    int fd = rss_open_event(tid, cpu, 1);
    if (fd < 0)
        return cpu >= 0 && errno == ENODEV ? 0 : -1; /* an offline CPU */
    /* Read-only: the kernel overwrites old records and data_head keeps
     * moving; nothing ever has to be consumed. */
    void *p = mmap(NULL, rss_ring_bytes, PROT_READ, MAP_SHARED, fd, 0);
    /* The mapping keeps the event counting: no descriptor stays open (a
     * program sees none of the agent's, however many CPUs and threads). */
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    rss.rings[rss.nrings++] = p;
    return 0;
}

/* Every CPU for the calling thread (and threads it starts), and the same for
 * every other thread that exists already. */
static int rss_open_rings(void)
{
    long ncpu = sysconf(_SC_NPROCESSORS_CONF);
    pid_t self = (pid_t)syscall(SYS_gettid);
    if (ncpu < 1)
        return -1;
    for (int cpu = 0; cpu < ncpu; cpu++)
        if (rss_add_ring(0, cpu) != 0)
            return -1;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(d));) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || tid == self)
            continue;
        rss_thread_started();
        for (int cpu = 0; rc == 0 && cpu < ncpu; cpu++)
            rc = rss_add_ring(tid, cpu);
    }
    closedir(d);
    return rc;
}

static void rss_choose(char *desc, size_t desclen)
{
    rss_close_rings();
    rss.threads = 0;
    rss.mode = RSS_STATM;
    rss_clk.tsc = 0;
    const char *why = NULL;
    if (rss_want == PMT_RSS_STATM)
        why = "PYMEMTRACE_RSS=statm";
    else if (!pmt_watch_alloc)
        why = "the allocator is not glibc's, so its unmaps cannot be seen";
    else if (rss_open_rings() != 0)
        why = "page-fault events are not available here";
    if (why) {
        rss_close_rings();
        pmt_watch_alloc = 0;
        snprintf(desc, desclen,
                 "RSS from /proc/self/statm at every event (%s); "
                 "Clock is wall time in seconds since the agent was loaded",
                 why);
        return;
    }
    rss.mode = rss_want == PMT_RSS_CHECK ? RSS_CHECK : RSS_FAULTS;
    if (rss_tsc_usable())
        rss_clock_sync();
    rss_refresh(rss_heads());
    snprintf(desc, desclen,
             "RSS from /proc/self/statm when page-fault events (%d rings) or unmaps say it moved%s; "
             "Clock is wall time in seconds since the agent was loaded (%s%s)",
             rss.nrings, rss.mode == RSS_CHECK ? ", checked against statm at every event" : "",
             rss_clk.tsc ? "rdtsc" : "CLOCK_MONOTONIC",
             rss.mode == RSS_FAULTS ? ", on PREV and LAST lines up to 7 events early" : "");
    _Static_assert(PMT_CLOCK_EVERY == 8, "the text above says 7");
}

int rss_open(int source, int glibc_malloc, char *desc, size_t desclen)
{
    rss_page = (uint64_t)sysconf(_SC_PAGESIZE);
    rss_ring_bytes = 2 * rss_page;
    rss_want = source;
    char probe[128];
    rss_statm_open();
    if (rss_statm_read(probe, sizeof probe - 1) <= 0)
        return -1;
    pmt_watch_alloc = glibc_malloc;
    rss_choose(desc, desclen);
    return 0;
}

void rss_reopen_after_fork(int glibc_malloc, char *desc, size_t desclen)
{
    if (!rss_page)
        return;
    /* The parent's rings are not mapped in a child (perf maps are not
     * copied) and its statm descriptor names the parent's /proc entry. */
    rss.nrings = 0;
    if (rss_statm_ours())
        close(rss_statm_fd);
    rss_statm_open();
    pmt_watch_alloc = glibc_malloc;
    rss_choose(desc, desclen);
}
