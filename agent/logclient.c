/* logclient: see logclient.h. */
#include "agent/logclient.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/rawio.h"
#include "agent/rawthread.h"
#include "agent/rss.h"
#include "logd/logring.h"

#if defined(__x86_64__) && defined(__linux__) && !defined(PMT_NO_LOGD)
#define LC_HAVE_LOGD 1
extern const unsigned char pmt_logd_image[];
extern const size_t pmt_logd_size;
#else
#define LC_HAVE_LOGD 0
#endif

#define LC_READY_NS 5000000000LL  /* for the writer to start */
#define LC_STALL_NS 30000000000LL /* a writer that moves nothing this long: a stalled file system */
#define LC_STACK 16384

volatile int logclient_lost;
static struct pmt_ring *lc_ring; /* its address, fixed once mapped */
static pid_t lc_pid;             /* the writer; 0: none */
static char lc_why[160];         /* set once starting failed for good */
static unsigned char lc_used[PMT_RING_SLOTS];
static int lc_requesting;

static long long lc_now(void)
{
    return rawthread_clock_ns(CLOCK_MONOTONIC);
}

static void lc_sleep_on(uint32_t *word, uint32_t seen, long long ns)
{
    struct timespec rel = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    pmt_sys6(SYS_futex, (long)word, FUTEX_WAIT, (long)seen, (long)&rel, 0, 0);
}

/* Whether the writer has ended. It is not the program's child (lc_spawn),
 * so signal 0 asks, and its /proc entry tells a zombie (ended, not yet
 * reaped by init) from a live one. A pid reused meanwhile would only make
 * a wait last until LC_STALL_NS. Raw calls and pure functions only: the
 * sampler's thread may wait. */
static int lc_ended(void)
{
    if (!lc_pid)
        return 1;
    if (pmt_sys3(SYS_kill, lc_pid, 0, 0) == -ESRCH) {
        lc_pid = 0;
        return 1;
    }
    char path[32] = "/proc/", digits[12], stat[256];
    size_t n = 0, k = 6;
    for (unsigned v = (unsigned)lc_pid; v; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    while (n)
        path[k++] = digits[--n];
    memcpy(path + k, "/stat", 6);
    if (!pmt_read_small(path, stat, sizeof stat))
        return 0;
    const char *state = strrchr(stat, ')'); /* "pid (comm) S ..." */
    if (state && (state[2] == 'Z' || state[2] == 'X')) {
        lc_pid = 0;
        return 1;
    }
    return 0;
}

/* The writer went without being asked: said once; the logs stop. */
static void lc_lose(void)
{
    if (logclient_lost)
        return;
    logclient_lost = 1;
    pmt_say("the log writer process ended; lines not yet written are lost; tracing stopped",
            NULL);
}

/* ---- the ring ------------------------------------------------------------ */

/* A new, empty ring at the ring's address (anywhere the first time): its
 * descriptor, for the writer to inherit; -1 on failure. */
static int lc_map(void)
{
    int fd = (int)syscall(SYS_memfd_create, "pymemtrace-logs", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    void *p = MAP_FAILED;
    if (ftruncate(fd, (off_t)PMT_RING_SIZE) == 0)
        p = mmap(lc_ring, PMT_RING_SIZE, PROT_READ | PROT_WRITE,
                 MAP_SHARED | (lc_ring ? MAP_FIXED : 0), fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    lc_ring = p;
    lc_ring->magic = PMT_RING_MAGIC;
    lc_ring->parent = (uint32_t)getpid();
    return fd;
}

struct lc_child {
    int ring_fd, image_fd;
    char *const *argv;
    char *const *envp;
    char *stack;       /* the writer's stack until it execs */
    volatile long err; /* set by either process on failure */
    volatile int pid;  /* the writer's */
};

/* The writer, sharing the program's memory until it execs (vfork's way: the
 * middle process waits meanwhile): raw system calls only. The ring's
 * descriptor is made inheritable in its own descriptor table. */
/* No sanitizer in these two: they run on a bare stack, in a process the
 * sanitizer's runtime never heard of. */
#define LC_BARE __attribute__((no_sanitize("address", "undefined"), noinline))

LC_BARE static int lc_writer_main(void *p)
{
    struct lc_child *c = p;
    long rc = pmt_sys3(SYS_fcntl, c->ring_fd, F_SETFD, 0);
    if (rc == 0)
        rc = pmt_sys6(SYS_execveat, c->image_fd, (long)"", (long)c->argv, (long)c->envp,
                      AT_EMPTY_PATH, 0);
    c->err = rc < 0 ? -rc : EINVAL;
    for (;;)
        pmt_sys3(SYS_exit, 127, 0, 0);
    return 127;
}

/* The middle process: starts the writer and ends, so that the writer is
 * orphaned at once and never the program's child. Neither has an exit
 * signal (the program gets no SIGCHLD) and this one never execs, so only a
 * wait with __WALL for its pid sees it: the program's wait() does not. */
LC_BARE static int lc_middle_main(void *p)
{
    struct lc_child *c = p;
    int pid = clone(lc_writer_main, c->stack + LC_STACK, CLONE_VM | CLONE_VFORK, c);
    if (pid < 0)
        c->err = EAGAIN;
    else
        c->pid = pid;
    for (;;)
        pmt_sys3(SYS_exit, 0, 0, 0);
    return 0;
}

static int lc_why_set(const char *what, int err)
{
    snprintf(lc_why, sizeof lc_why, "%s: %s", what, pmt_errtext(err));
    return -1;
}

/* Starts the writer on the ring whose descriptor is ring_fd. */
static int lc_spawn(int ring_fd)
{
#if LC_HAVE_LOGD
    int image = (int)syscall(SYS_memfd_create, "pymemtrace-logd", MFD_CLOEXEC);
    if (image < 0)
        return lc_why_set("no memfd for the log writer", errno);
    int err = pmt_write_all(image, (const char *)pmt_logd_image, pmt_logd_size, -1);
    if (err) {
        close(image);
        return lc_why_set("cannot write the log writer", err);
    }
    char num[16];
    snprintf(num, sizeof num, "%d", ring_fd);
    char *argv[] = {"pymemtrace-logd", num, NULL};
    char *envp[] = {NULL};
    char *stacks = mmap(NULL, 2 * LC_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                        -1, 0);
    if (stacks == MAP_FAILED) {
        close(image);
        return lc_why_set("no stack to start the log writer", errno);
    }
    struct lc_child c = {ring_fd, image, argv, envp, stacks + LC_STACK, 0, 0};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int middle = clone(lc_middle_main, stacks + LC_STACK, CLONE_VM | CLONE_VFORK, &c);
    err = errno;
    if (middle > 0)
        while (pmt_sys6(SYS_wait4, middle, 0, __WALL, 0, 0, 0) == -EINTR)
            ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stacks, 2 * LC_STACK);
    close(image);
    if (middle < 0)
        return lc_why_set("cannot start the log writer process", err);
    pmt_rss_dirty = 1; /* the stacks came and went */
    if (c.err)
        return lc_why_set(c.pid ? "cannot run the log writer" : "cannot start the log writer process",
                          (int)c.err);
    /* Its pid from the ring (where a tool runs the program, valgrind, the
     * middle process may not share c's memory). */
    lc_pid = c.pid;
    long long until = lc_now() + LC_READY_NS;
    while (!__atomic_load_n(&lc_ring->ready, __ATOMIC_ACQUIRE)) {
        if (lc_pid && lc_ended())
            return lc_why_set("the log writer ended as it started", ECHILD);
        if (lc_now() > until) {
            if (lc_pid)
                kill(lc_pid, SIGKILL);
            lc_pid = 0;
            return lc_why_set("the log writer did not start", ETIMEDOUT);
        }
        lc_sleep_on((uint32_t *)&lc_ring->ready, 0, 10000000LL);
    }
    lc_pid = (pid_t)__atomic_load_n(&lc_ring->writer, __ATOMIC_ACQUIRE);
    return 0;
#else
    (void)ring_fd;
    snprintf(lc_why, sizeof lc_why, "no log writer process on this machine");
    return -1;
#endif
}

int logclient_start(const char **why)
{
    *why = lc_why;
    if (lc_pid)
        return 0;
    if (lc_why[0] || logclient_lost)
        return -1;
    int fd = lc_map();
    if (fd < 0)
        return lc_why_set("no shared memory for the logs", errno);
    int rc = lc_spawn(fd);
    close(fd);
    return rc;
}

struct pmt_ring *logclient_ring(void)
{
    return lc_ring;
}

int logclient_slot_new(void)
{
    if (!lc_pid)
        return -1;
    for (int k = 0; k < PMT_RING_SLOTS; k++)
        if (!lc_used[k]) {
            lc_used[k] = 1;
            return k;
        }
    return -1;
}

int logclient_slot_of(const char *mem)
{
    if (!lc_ring || !mem)
        return -1;
    const char *base = pmt_ring_buf(lc_ring, 0, 0);
    if (mem < base || mem >= base + (size_t)PMT_RING_SLOTS * PMT_RING_NBUF * PMT_RING_BUF)
        return -1;
    return (int)((size_t)(mem - base) / ((size_t)PMT_RING_NBUF * PMT_RING_BUF));
}

/* ---- talking to the writer ------------------------------------------------ */

void logclient_kick(void)
{
    struct pmt_ring *r = lc_ring;
    if (!lc_pid)
        return;
    __atomic_add_fetch(&r->wake, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&r->sleeping, __ATOMIC_SEQ_CST))
        pmt_sys6(SYS_futex, (long)&r->wake, FUTEX_WAKE, 1, 0, 0, 0);
}

static int lc_done(const uint32_t *count, uint32_t want, const uint32_t *b, const uint32_t *c)
{
    return (int32_t)(__atomic_load_n(count, __ATOMIC_ACQUIRE) - want) >= 0 &&
           (!b || __atomic_load_n(b, __ATOMIC_ACQUIRE) == __atomic_load_n(c, __ATOMIC_ACQUIRE));
}

int logclient_wait(const uint32_t *count, uint32_t want, const uint32_t *b, const uint32_t *c)
{
    long long start = 0;
    for (int spins = 0; !lc_done(count, want, b, c); spins++) {
        if (spins < 2000) {
            __builtin_ia32_pause();
            continue;
        }
        if (spins % 64 == 0 && lc_ended()) { /* every millisecond or so */
            lc_lose();
            return EPIPE;
        }
        long long now = lc_now();
        if (!start)
            start = now;
        else if (now - start > LC_STALL_NS)
            return ETIMEDOUT;
        struct timespec ts = {0, 20000};
        pmt_sys3(SYS_nanosleep, &ts, 0, 0);
    }
    return 0;
}

/* One request: fill r->req first. 0, or an errno value (EBUSY: another
 * request is running on this thread, interrupted by a signal handler). */
static int lc_request(void)
{
    struct pmt_ring *r = lc_ring;
    if (!lc_pid)
        return logclient_lost ? EPIPE : ENOENT;
    uint32_t seq = r->req_seq + 1;
    __atomic_store_n(&r->req_seq, seq, __ATOMIC_SEQ_CST);
    logclient_kick();
    return logclient_wait(&r->resp_seq, seq, NULL, NULL);
}

static int lc_claim(void)
{
    return __atomic_exchange_n(&lc_requesting, 1, __ATOMIC_ACQUIRE) ? EBUSY : 0;
}

static void lc_release(void)
{
    __atomic_store_n(&lc_requesting, 0, __ATOMIC_RELEASE);
}

/* The program's umask, without setting it: /proc/self/status's Umask line. */
static unsigned lc_umask(void)
{
    char buf[512];
    pmt_read_small("/proc/self/status", buf, sizeof buf);
    const char *u = strstr(buf, "\nUmask:");
    if (!u)
        return 022;
    unsigned m = 0;
    for (u += 7; *u == '\t' || *u == ' '; u++)
        ;
    for (; *u >= '0' && *u <= '7'; u++)
        m = m * 8 + (unsigned)(*u - '0');
    return m & 0777;
}

int logclient_open(unsigned k, const char *path, int excl, int *why)
{
    struct pmt_ring *r = lc_ring;
    *why = 0;
    size_t n = strlen(path);
    if (n >= PMT_RING_PATH_MAX)
        return ENAMETOOLONG;
    if (lc_claim())
        return EBUSY;
    r->req.op = PMT_RING_OPEN;
    r->req.slot = k;
    r->req.flags = excl ? PMT_RING_EXCL : 0;
    r->req.mode = lc_umask();
    memcpy(r->req.path, path, n + 1);
    int err = lc_request();
    if (!err) {
        err = r->resp.err;
        *why = r->resp.why;
    }
    lc_release();
    return err;
}

int logclient_close(unsigned k, uint64_t *size)
{
    struct pmt_ring *r = lc_ring;
    *size = 0;
    if (lc_claim())
        return EBUSY;
    r->req.op = PMT_RING_CLOSE;
    r->req.slot = k;
    int err = lc_request();
    if (!err) {
        err = r->resp.err;
        *size = r->resp.size;
    }
    lc_release();
    return err;
}

void logclient_end(void)
{
    if (!lc_pid || lc_claim())
        return;
    lc_ring->req.op = PMT_RING_END;
    lc_request(); /* answered as it ends: not the program's child, nothing to reap */
    lc_pid = 0;
    lc_release();
}

void logclient_after_fork_child(void)
{
    lc_pid = 0;
    lc_requesting = 0;
    if (lc_ring) /* the parent's ring, cut off: memory of the child's own */
        mmap(lc_ring, PMT_RING_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
}
