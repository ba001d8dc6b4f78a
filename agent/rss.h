/* rss: the two numbers every event carries, Resident Set Size and clock.
 *
 * Reading /proc/self/statm costs ~0.3 us and the process CPU-time clock
 * ~0.18 us, against ~60 ns for CPython's own hook machinery per event, so
 * neither can be read at every event. Instead:
 *
 * - RSS only rises through page faults. The kernel writes a record into a
 *   ring buffer for each page fault of this process (a perf_event software
 *   event per CPU, inherited by threads started later); a ring's data_head
 *   moves with each record, so "no fault since the last read" is a few plain
 *   loads. RSS falls through munmap/madvise/mremap and glibc's free/realloc
 *   of mmapped chunks or trimming; the interposed functions (entry.c) set
 *   pmt_rss_dirty. statm is read only when something moved, and at least
 *   every 65536 events for what the kernel does on its own (swap-out;
 *   khugepaged filling the missing pages of a would-be huge page, which
 *   raises RSS with no fault of the process: 3.15 asks for huge pages on
 *   its arenas).
 * - The clock is wall time since the agent was loaded: rdtsc (7 ns) where
 *   the CPU's TSC is invariant, calibrated against CLOCK_MONOTONIC from the
 *   agent's load and again at each statm read, never going backwards;
 *   CLOCK_MONOTONIC itself (vDSO, 16 ns) elsewhere. Even rdtsc is most of
 *   what a quiet event costs beyond CPython's own hook machinery, so a quiet
 *   event reads it once in PMT_CLOCK_EVERY and otherwise keeps the time of
 *   the last reading; quiet events are written only as PREV or LAST lines,
 *   whose Clock may so be up to PMT_CLOCK_EVERY - 1 events early. Every other
 *   line's time is read at its event.
 *
 * PYMEMTRACE_RSS=statm reads statm at every event; =check does both and
 * counts the events where the fast value differed (the exactness tests). */
#ifndef PMT_RSS_H
#define PMT_RSS_H

#include <linux/perf_event.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <x86intrin.h>

/* The decimal number at *p after any spaces or tabs (0 if none); *p moves
 * past it. For /proc files' fields; pure, so the agent's threads glibc does
 * not know may use it (rawthread.h). */
static inline uint64_t rss_decimal(const char **p)
{
    const char *s = *p;
    uint64_t v = 0;
    while (*s == ' ' || *s == '\t')
        s++;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    *p = s;
    return v;
}

#define RSS_MAX_RINGS 64
/* statm is re-read after this many events without a reason to, for what the
 * kernel changes on its own: a few milliseconds of a busy program, and
 * counting events keeps the clock out of the hot path's dependencies. */
#define RSS_MAX_AGE_EVENTS 65536u
/* A quiet event reads the clock once in this many (a power of two). */
#define PMT_CLOCK_EVERY 8u

enum rss_mode { RSS_STATM, RSS_FAULTS, RSS_CHECK };

struct rss_state {
    enum rss_mode mode;
    int nrings;
    volatile struct perf_event_mmap_page *rings[RSS_MAX_RINGS];
    uint64_t heads;     /* sum of data_head at the last statm read */
    uint64_t cached;    /* RSS in bytes at the last statm read */
    uint32_t age;       /* events since the last statm read */
    uint64_t checked, mismatches;
    uint64_t first_mismatch, first_fast, first_truth; /* the first, for the log */
    volatile uint64_t settle_until;  /* ticks: read statm at every event until then */
    volatile int threads;            /* other threads that can fault meanwhile */
    uint64_t pending_heads, pending_since; /* a ring position not yet settled */
};

struct rss_clock {
    int tsc;             /* 1: rdtsc, calibrated against CLOCK_MONOTONIC */
    double ns_per_tick;
    double us_per_tick;  /* ns_per_tick / 1000: a multiply per line, not a divide */
    uint64_t tsc_base;   /* rdtsc at the last calibration */
    uint64_t base_us;    /* clock value at the last calibration */
    uint64_t tsc0;       /* rdtsc when the agent was loaded */
    uint64_t mono0_ns;   /* CLOCK_MONOTONIC when the agent was loaded */
};

extern struct rss_state rss;
extern struct rss_clock rss_clk;
/* Set by the interposed unmap-family functions: RSS may have fallen. */
extern volatile int pmt_rss_dirty;
/* A thread's start and end move RSS partly without counted faults, and not
 * at a moment the agent sees (glibc maps the unwinder in pthread_exit, for
 * one): after either, statm is read at every event for RSS_SETTLE_MS. */
#define RSS_SETTLE_MS 20
void rss_settle(void);
/* The kernel reports a page fault when it starts, and a huge page is zeroed
 * before it counts in RSS: when other threads may be faulting, a moved ring
 * keeps statm read at every event until a read RSS_INFLIGHT_US later. */
#define RSS_INFLIGHT_US 2000
void rss_thread_started(void);
void rss_thread_ended(void);

/* Makes [p, p + n) resident now, a write to each page (contents kept): the
 * agent's own buffers and tables are touched before FRST, so that no event
 * is blamed for the agent's first use of a page. */
void rss_touch(void *p, size_t n);

/* The calling thread's native id, from a per-thread cache. A thread's first
 * call says RSS may have moved: its start did so without faults (above). */
extern __thread uint32_t pmt_tid __attribute__((tls_model("initial-exec")));
uint32_t pmt_thread_id_slow(void);
static inline uint32_t pmt_thread_id(void)
{
    return __builtin_expect(pmt_tid != 0, 1) ? pmt_tid : pmt_thread_id_slow();
}
/* In a forked child: its only thread has an id of its own. */
static inline void pmt_thread_id_forget(void)
{
    pmt_tid = 0;
}
/* Set when free/realloc may look at glibc's chunk header (glibc's malloc). */
extern int pmt_watch_alloc;

void rss_clock_init(void);  /* at load: the clock's origin */
/* Opens the RSS source for source (PMT_RSS_*); glibc_malloc says whether
 * free()'s falls can be seen. Writes what was chosen into desc. 0, or -1 if
 * not even statm can be read. */
int rss_open(int source, int glibc_malloc, char *desc, size_t desclen);
/* In a forked child; writes what was chosen into desc, as rss_open. */
void rss_reopen_after_fork(int glibc_malloc, char *desc, size_t desclen);
uint64_t rss_refresh(uint64_t heads);
/* pmt_ticks() per microsecond (rdtsc's rate as last calibrated, or 1000). */
uint64_t pmt_ticks_per_us(void);
uint64_t rss_read_slow(void);

/* The raw clock, as cheap as it gets: rdtsc ticks, or CLOCK_MONOTONIC
 * nanoseconds. Events keep ticks; only written lines turn them into time. */
static inline uint64_t pmt_ticks(void)
{
    if (__builtin_expect(rss_clk.tsc, 1))
        return __rdtsc();
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Microseconds since the agent was loaded. */
static inline uint64_t pmt_ticks_us(uint64_t t)
{
    if (rss_clk.tsc) {
        double us_since = (double)(int64_t)(t - rss_clk.tsc_base) * rss_clk.us_per_tick;
        int64_t us = (int64_t)rss_clk.base_us + (int64_t)us_since;
        return us > 0 ? (uint64_t)us : 0;
    }
    return (t - rss_clk.mono0_ns) / 1000u;
}

static inline uint64_t pmt_clock_us(void)
{
    return pmt_ticks_us(pmt_ticks());
}

static inline uint64_t rss_heads(void)
{
    uint64_t h = 0;
    for (int i = 0; i < rss.nrings; i++)
        h += rss.rings[i]->data_head;
    return h;
}

/* Whether RSS is known to be rss.cached at this event without a read: the
 * fault rings have not moved and nothing unmapped. Counts the event. */
static inline int rss_quiet(void)
{
    return rss.mode == RSS_FAULTS && rss_heads() == rss.heads && !pmt_rss_dirty &&
           ++rss.age < RSS_MAX_AGE_EVENTS;
}

/* RSS in bytes at this event (0 if unreadable). */
static inline uint64_t rss_read(void)
{
    if (__builtin_expect(rss.mode == RSS_FAULTS, 1)) {
        uint64_t h = rss_heads();
        if (__builtin_expect(h == rss.heads && !pmt_rss_dirty && ++rss.age < RSS_MAX_AGE_EVENTS, 1))
            return rss.cached;
        return rss_refresh(h);
    }
    return rss_read_slow();
}

#endif
