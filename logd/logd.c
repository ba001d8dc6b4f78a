/* logd: the agent's log writer process (logring.h says why it exists).
 *
 * A static program with no libc: the agent carries it inside its own file
 * and starts it with execveat from a memfd (agent/logclient.c), so it works
 * in any chroot or container the program runs in and shares nothing with
 * the program but the ring. argv: "pymemtrace-logd", the ring's descriptor,
 * nothing else; no environment.
 *
 * It is not the program's child (it is started through a short-lived middle
 * process, and the kernel gives it to init or the nearest subreaper), so the
 * program's wait() and SIGCHLD never see it. It holds the log files, nothing
 * else: at start it maps the ring and closes every descriptor it inherited.
 * It ignores every signal a terminal or a supervisor sends to the program's
 * group (the program decides when it ends; the writer follows), and ends
 * when the program asks it to or has ended, after writing every line
 * published. A second thread of its own waits for the program's end on a
 * pidfd and wakes the first; where there are no pidfds (before Linux 5.3)
 * the first looks every LD_POLL_NS. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "agent/rawthread.h" /* pmt_sys6 */
#include "logd/logopen.h"
#include "logd/logring.h"

/* The compiler may call these for struct copies and loops. */
void *memcpy(void *d, const void *s, size_t n)
{
    char *dc = d;
    const char *sc = s;
    while (n--)
        *dc++ = *sc++;
    return d;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *dc = d;
    while (n--)
        *dc++ = (unsigned char)c;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    char *dc = d;
    const char *sc = s;
    if (dc < sc)
        while (n--)
            *dc++ = *sc++;
    else
        while (n--)
            dc[n] = sc[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

#define LD_SPIN_NS 200000LL      /* watch this long before sleeping, after a short idle spell */
#define LD_IDLE_NS 1000000000LL  /* write what is published at least this often */
#define LD_POLL_NS 50000000LL    /* without a pidfd, look at the program this often */

static struct pmt_ring *ld_ring;
static int ld_fd[PMT_RING_SLOTS];      /* the slot's file, -1: none */
static int ld_regular[PMT_RING_SLOTS]; /* a regular file: watch for truncation */
static int ld_busy;
static int ld_watched;   /* the watcher thread runs */
static int ld_gone;      /* the program has ended (a futex word for no one: set, then wake) */

static long long ld_now(void)
{
    struct timespec ts = {0, 0};
    pmt_sys3(SYS_clock_gettime, CLOCK_MONOTONIC, &ts, 0);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void ld_exit(int code)
{
    for (;;)
        pmt_sys3(SYS_exit_group, code, 0, 0);
}

static int ld_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        long rc = pmt_sys3(SYS_write, fd, p, n);
        if (rc == -EINTR)
            continue;
        if (rc <= 0)
            return rc < 0 ? (int)-rc : ENOSPC;
        p += rc;
        n -= (size_t)rc;
    }
    return 0;
}

/* Appends n bytes of slot k. If another program emptied the file since the
 * last write (copytruncate rotation), the log's head comes first again, so
 * that what follows is a log a reader can parse. The file is appended to
 * (no NULs, whenever the truncation comes); a truncation is seen after the
 * write, from where the write ended: if the file held only what was just
 * written, it is emptied again and written head first (a truncation just
 * before a write, seen by no check before it, is then mended too). */
static void ld_out(unsigned k, const char *p, size_t n)
{
    struct pmt_ring_slot *s = &ld_ring->slot[k];
    int fd = ld_fd[k];
    if (s->werr || fd < 0)
        return;
    int err = ld_write_all(fd, p, n);
    if (err) {
        __atomic_store_n(&s->werr, err, __ATOMIC_RELEASE);
        return;
    }
    long end = ld_regular[k] ? pmt_sys3(SYS_lseek, fd, 0, SEEK_CUR) : -1;
    if (end < 0 || (uint64_t)end >= s->size + n) {
        s->size += n;
        return;
    }
    s->truncated++;
    s->size = (uint64_t)end;
    if ((uint64_t)end != n || !s->head_len)
        return; /* cut somewhere else than at 0: the lines go on from there */
    if (pmt_sys3(SYS_ftruncate, fd, 0, 0) == 0) {
        err = ld_write_all(fd, s->head, s->head_len);
        if (!err)
            err = ld_write_all(fd, p, n);
        if (err)
            __atomic_store_n(&s->werr, err, __ATOMIC_RELEASE);
        else
            s->size = s->head_len + n;
    }
}

/* Writes what slot k has published; 1 if there was anything. partial: the
 * buffer being filled too (else full buffers only: the agent wakes the
 * writer when it wants lines out at once, and a busy log's lines go out
 * in whole buffers, not a write per line). */
static int ld_drain(unsigned k, int partial)
{
    struct pmt_ring_slot *s = &ld_ring->slot[k];
    int did = 0;
    for (;;) {
        uint32_t p = __atomic_load_n(&s->pseq, __ATOMIC_ACQUIRE);
        uint32_t h = s->hseq, i = h % s->nbuf;
        if (p == h && !partial)
            return did;
        uint32_t len = __atomic_load_n(&s->len[i], __ATOMIC_ACQUIRE);
        if (len > PMT_RING_BUF)
            len = PMT_RING_BUF;
        if (len > s->hoff) {
            ld_out(k, pmt_ring_buf(ld_ring, k, i) + s->hoff, len - s->hoff);
            __atomic_store_n(&s->hoff, len, __ATOMIC_RELEASE);
            did = 1;
        }
        if (p == h)
            return did;
        /* Buffer h is complete (its final length was published before
         * pseq moved): free it for the producer. */
        __atomic_store_n(&s->len[i], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->hoff, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->hseq, h + 1, __ATOMIC_RELEASE);
        did = 1;
    }
}

static int ld_drain_all(int partial)
{
    int did = 0;
    for (unsigned k = 0; k < PMT_RING_SLOTS; k++)
        if (ld_fd[k] >= 0)
            did |= ld_drain(k, partial);
    return did;
}

static void ld_close(unsigned k)
{
    if (ld_fd[k] < 0)
        return;
    ld_drain(k, 1);
    pmt_sys3(SYS_close, ld_fd[k], 0, 0);
    ld_fd[k] = -1;
    __atomic_store_n(&ld_ring->slot[k].open, 0, __ATOMIC_RELEASE);
}

static void ld_end(int code)
{
    for (unsigned k = 0; k < PMT_RING_SLOTS; k++)
        ld_close(k);
    ld_exit(code);
}

static void ld_open(unsigned k)
{
    struct pmt_ring *r = ld_ring;
    struct pmt_ring_slot *s = &r->slot[k];
    int why = 0;
    ld_close(k);
    r->req.path[PMT_RING_PATH_MAX - 1] = '\0';
    pmt_sys3(SYS_umask, r->req.mode & 0777, 0, 0);
    int fd = pmt_log_open(r->req.path, r->req.flags & PMT_RING_EXCL, 0666, &why);
    r->resp.why = why;
    r->resp.err = fd < 0 ? -fd : 0;
    if (fd < 0)
        return;
    struct stat st;
    ld_regular[k] = pmt_sys3(SYS_fstat, fd, &st, 0) == 0 && S_ISREG(st.st_mode);
    ld_fd[k] = fd;
    if (s->nbuf < 1 || s->nbuf > PMT_RING_NBUF)
        s->nbuf = 1;
    s->hseq = s->pseq;
    s->hoff = 0;
    s->werr = 0;
    s->size = 0;
    s->truncated = 0;
    __atomic_store_n(&s->open, 1, __ATOMIC_RELEASE);
}

/* One request, answered. */
static void ld_request(void)
{
    struct pmt_ring *r = ld_ring;
    uint32_t seq = __atomic_load_n(&r->req_seq, __ATOMIC_ACQUIRE);
    if (seq == r->resp_seq)
        return;
    unsigned k = r->req.slot;
    r->resp.err = 0;
    r->resp.why = 0;
    r->resp.size = 0;
    switch (r->req.op) {
    case PMT_RING_OPEN:
        if (k < PMT_RING_SLOTS)
            ld_open(k);
        else
            r->resp.err = EINVAL;
        break;
    case PMT_RING_CLOSE:
        if (k < PMT_RING_SLOTS) {
            ld_close(k);
            r->resp.err = r->slot[k].werr;
            r->resp.size = r->slot[k].size;
        }
        break;
    case PMT_RING_END:
        ld_drain_all(1);
        __atomic_store_n(&r->resp_seq, seq, __ATOMIC_RELEASE);
        pmt_sys6(SYS_futex, (long)&r->resp_seq, FUTEX_WAKE, 1, 0, 0, 0);
        ld_end(0);
        break;
    default:
        r->resp.err = EINVAL;
    }
    __atomic_store_n(&r->resp_seq, seq, __ATOMIC_RELEASE);
    pmt_sys6(SYS_futex, (long)&r->resp_seq, FUTEX_WAKE, 1, 0, 0, 0);
    ld_busy = 1;
}

static int ld_parent_gone(void)
{
    if (__atomic_load_n(&ld_gone, __ATOMIC_ACQUIRE))
        return 1;
    if (ld_watched)
        return 0;
    /* No watcher: signal 0 tells whether the pid still runs (a pid reused
     * by then would only keep the writer waiting, never lose a line). */
    return pmt_sys3(SYS_kill, ld_ring->parent, 0, 0) == -ESRCH;
}

static int ld_seen_wake; /* the agent's wake counter when last looked at */

/* Something to do: a request, a wake from the agent, a full buffer. */
static int ld_pending(void)
{
    struct pmt_ring *r = ld_ring;
    if (__atomic_load_n(&r->req_seq, __ATOMIC_SEQ_CST) != r->resp_seq ||
        __atomic_load_n(&r->wake, __ATOMIC_SEQ_CST) != ld_seen_wake)
        return 1;
    for (unsigned k = 0; k < PMT_RING_SLOTS; k++)
        if (ld_fd[k] >= 0 &&
            __atomic_load_n(&r->slot[k].pseq, __ATOMIC_SEQ_CST) != r->slot[k].hseq)
            return 1;
    return 0;
}

/* Until the agent bumps wake, the parent goes, or a while has passed. */
/* Sleeps until something is to do; 1 if it slept its whole time (then
 * whatever is published goes out, full buffer or not). */
static int ld_may_spin; /* two CPUs or more: watching costs the program nothing */

static int ld_sleep(void)
{
    struct pmt_ring *r = ld_ring;
    long long t0 = ld_now();
    if (ld_busy && ld_may_spin) {
        while (ld_now() - t0 < LD_SPIN_NS) {
            for (int i = 0; i < 64; i++) {
                if (ld_pending())
                    return 0;
                __builtin_ia32_pause();
            }
        }
    }
    int seen = __atomic_load_n(&r->wake, __ATOMIC_SEQ_CST);
    __atomic_store_n(&r->sleeping, 1, __ATOMIC_SEQ_CST);
    long rc = 0;
    if (!ld_pending() && !ld_parent_gone()) {
        long long ns = ld_watched ? LD_IDLE_NS : LD_POLL_NS;
        struct timespec rel = {ns / 1000000000LL, ns % 1000000000LL};
        rc = pmt_sys6(SYS_futex, (long)&r->wake, FUTEX_WAIT, seen, (long)&rel, 0, 0);
    }
    __atomic_store_n(&r->sleeping, 0, __ATOMIC_SEQ_CST);
    ld_busy = ld_now() - t0 < LD_SPIN_NS;
    return rc == -ETIMEDOUT;
}

/* The CPUs this process may run on (its affinity). */
static int ld_cpus(void)
{
    uint64_t mask[16];
    long n = pmt_sys3(SYS_sched_getaffinity, 0, sizeof mask, mask);
    int cpus = 0;
    for (long i = 0; i < n / 8; i++)
        for (uint64_t m = mask[i]; m; m &= m - 1) /* no libgcc here: counted by hand */
            cpus++;
    return cpus;
}

/* ---- the watcher ---------------------------------------------------------- */

#define LD_WATCH_STACK 8192
static char ld_watch_stack[LD_WATCH_STACK] __attribute__((aligned(16)));
static int ld_pidfd = -1;

/* long ld_thread(flags, stack_top, fn): a thread of this process running
 * fn() on stack_top, then ending; the parent gets its id or -errno. */
long ld_thread(long flags, void *stack_top, void (*fn)(void));
__asm__(".text\n.globl ld_thread\n.type ld_thread,@function\nld_thread:\n"
        "\tsub $16, %rsi\n\tmov %rdx, (%rsi)\n"
        "\txor %edx, %edx\n\txor %r10d, %r10d\n\txor %r8d, %r8d\n"
        "\tmov $56, %eax\n\tsyscall\n"
        "\ttest %rax, %rax\n\tjnz 1f\n"
        "\tpop %rax\n\tand $-16, %rsp\n\tcall *%rax\n"
        "\tmov $60, %eax\n\txor %edi, %edi\n\tsyscall\n\thlt\n"
        "1:\tret\n");

struct ld_pollfd {
    int fd;
    short events, revents;
};

static void ld_watch(void)
{
    struct ld_pollfd p = {ld_pidfd, 1 /* POLLIN */, 0};
    while (pmt_sys3(SYS_poll, &p, 1, -1) != 1 || !p.revents)
        ;
    __atomic_store_n(&ld_gone, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&ld_ring->wake, 1, __ATOMIC_SEQ_CST);
    pmt_sys6(SYS_futex, (long)&ld_ring->wake, FUTEX_WAKE, 1, 0, 0, 0);
}

/* The program's end, watched on a pidfd by a thread of its own. */
static void ld_watch_start(void)
{
    ld_pidfd = (int)pmt_sys3(SYS_pidfd_open, ld_ring->parent, 0, 0);
    if (ld_pidfd < 0)
        return;
    long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    ld_watched = ld_thread(flags, ld_watch_stack + LD_WATCH_STACK, ld_watch) > 0;
}

/* ---- start -------------------------------------------------------------- */

struct ld_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};
#define LD_SA_RESTORER 0x04000000

void ld_restorer(void);
__asm__(".text\n.globl ld_restorer\n.type ld_restorer,@function\nld_restorer:\n"
        "\tmov $15, %eax\n\tsyscall\n\thlt\n");

static void ld_signals(void)
{
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct ld_sigaction sa = {SIG_IGN, LD_SA_RESTORER, ld_restorer, 0};
        /* Faults keep their default: a bug here ends the writer, visibly. */
        if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGABRT)
            continue;
        pmt_sys6(SYS_rt_sigaction, sig, (long)&sa, 0, 8, 0, 0);
    }
    uint64_t none = 0;
    pmt_sys6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8, 0, 0);
}

static unsigned ld_number(const char *s)
{
    unsigned n = 0;
    while (s && *s >= '0' && *s <= '9')
        n = n * 10 + (unsigned)(*s++ - '0');
    return n;
}

/* Every descriptor but the ring's, which goes after mapping. */
static void ld_close_inherited(void)
{
    if (pmt_sys3(SYS_close_range, 0, ~0U, 0) == 0)
        return;
    for (int fd = 0; fd < 65536; fd++) /* kernels before 5.9 */
        pmt_sys3(SYS_close, fd, 0, 0);
}

__attribute__((used)) void ld_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    ld_signals();
    pmt_sys6(SYS_prctl, PR_SET_NAME, (long)"pymemtrace-log", 0, 0, 0, 0);
    if (argc < 2)
        ld_exit(2);
    int rfd = (int)ld_number(argv[1]);
    long p = pmt_sys6(SYS_mmap, 0, (long)PMT_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
    ld_close_inherited();
    if (p < 0 && p > -4096)
        ld_exit(3);
    ld_ring = (struct pmt_ring *)p;
    if (ld_ring->magic != PMT_RING_MAGIC)
        ld_exit(4);
    for (unsigned k = 0; k < PMT_RING_SLOTS; k++)
        ld_fd[k] = -1;
    ld_watch_start();
    __atomic_store_n(&ld_ring->writer, (uint32_t)pmt_sys3(SYS_getpid, 0, 0, 0), __ATOMIC_RELEASE);
    __atomic_store_n(&ld_ring->ready, 1, __ATOMIC_RELEASE);
    pmt_sys6(SYS_futex, (long)&ld_ring->ready, FUTEX_WAKE, 1, 0, 0, 0);
    ld_may_spin = ld_cpus() >= 2;
    int idle = 0;
    for (;;) {
        ld_request();
        int wake = __atomic_load_n(&ld_ring->wake, __ATOMIC_SEQ_CST);
        int kicked = wake != ld_seen_wake;
        ld_seen_wake = wake;
        int did = ld_drain_all(kicked || idle);
        if (ld_parent_gone()) {
            ld_drain_all(1);
            ld_end(0);
        }
        idle = did ? 0 : ld_sleep();
    }
}

__asm__(".text\n.globl _start\n.type _start,@function\n_start:\n"
        "\txor %ebp, %ebp\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall ld_main\n\thlt\n");
