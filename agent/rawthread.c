/* rawthread: see rawthread.h. */
#include "agent/rawthread.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if !PMT_RAWTHREAD_NATIVE
#include <pthread.h>
#include <stdlib.h>
#endif

#define RT_GUARD 4096
/* A thread block of its own above the stack (rawthread.h): the zeroed room
 * below the thread pointer, where initial-exec TLS lives, then the TCB. */
#if PMT_RAWTHREAD_NATIVE
#define RT_TLS_ROOM (64 * 1024)
#define RT_TLS_SIZE (RT_TLS_ROOM + 4096)
#else
#define RT_TLS_SIZE 0
#endif
#define PMT_STR_(x) #x
#define PMT_STR(x) PMT_STR_(x)

long long rawthread_clock_ns(int clock)
{
    struct timespec ts = {0, 0};
    pmt_sys3(SYS_clock_gettime, clock, &ts, 0);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void rt_ns_to_ts(long long ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
}

void rawthread_wait(int *word, int expected, long long deadline_ns)
{
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, so an
     * interrupted or spurious wake does not stretch the sleep. */
    struct timespec at;
    rt_ns_to_ts(deadline_ns, &at);
    pmt_sys6(SYS_futex, (long)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, (long)&at,
             0, (long)FUTEX_BITSET_MATCH_ANY);
}

void rawthread_wake(int *word)
{
    pmt_sys3(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, 1);
}

int rawthread_join(struct pmt_rawthread *t, long long timeout_ns)
{
    long long deadline = rawthread_clock_ns(CLOCK_MONOTONIC) + timeout_ns;
    for (;;) {
        int tid = __atomic_load_n(&t->tid, __ATOMIC_ACQUIRE);
        if (tid == 0)
            break;
        long long left = deadline - rawthread_clock_ns(CLOCK_MONOTONIC);
        if (left <= 0)
            return ETIMEDOUT;
        struct timespec rel;
        rt_ns_to_ts(left, &rel);
        /* Not a private futex: the kernel's wake at the thread's end
         * (CLONE_CHILD_CLEARTID) is a shared one. */
        pmt_sys6(SYS_futex, (long)&t->tid, FUTEX_WAIT, tid, (long)&rel, 0, 0);
    }
#if !PMT_RAWTHREAD_NATIVE
    pthread_join(*(pthread_t *)t->impl, NULL);
    free(t->impl);
    t->impl = NULL;
#endif
    /* The kernel clears tid only once the thread no longer uses its stack. */
    munmap(t->stack, t->size);
    t->stack = NULL;
    return 0;
}

static void *rt_map_stack(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    mprotect(p, RT_GUARD, PROT_NONE); /* an overflow faults instead of writing below */
    return p;
}

/* Touches the stack below the caller to the depth the thread will use; its
 * own frame is gone when the thread's work reuses that stack. */
static __attribute__((noinline)) void rt_settle(size_t settle)
{
    volatile char *depth = __builtin_alloca(settle);
    for (size_t i = 0; i < settle; i += 512)
        depth[i] = 0;
}

/* The new thread's first C frame: settle, say so, run. Called from the
 * clone trampoline below. */
__attribute__((visibility("hidden"), used)) int rt_run(void *p);
int rt_run(void *p)
{
    struct pmt_rawthread *t = p;
    rt_settle(t->settle);
    __atomic_store_n(&t->ready, 1, __ATOMIC_RELEASE);
    rawthread_wake(&t->ready);
    return t->fn(t->arg);
}

/* In the starting thread: until the new one has settled. */
static void rt_wait_ready(struct pmt_rawthread *t)
{
    while (!__atomic_load_n(&t->ready, __ATOMIC_ACQUIRE))
        rawthread_wait(&t->ready, 0, rawthread_clock_ns(CLOCK_MONOTONIC) + 100000000LL);
}

static int rt_prepare(struct pmt_rawthread *t, int (*fn)(void *), void *arg, size_t stack_size,
                      size_t settle)
{
    *t = (struct pmt_rawthread){.fn = fn, .arg = arg, .settle = settle,
                                .size = RT_GUARD + stack_size + RT_TLS_SIZE};
    t->stack = rt_map_stack(t->size);
    return t->stack ? 0 : ENOMEM;
}

#if PMT_RAWTHREAD_NATIVE

/* clone(2) with the new thread's first frame made here, since it starts on
 * its own stack and cannot return into the C caller's frame. In: rdi flags,
 * rsi stack top, rdx parent tid word, rcx child tid word, r8 the thread
 * pointer (CLONE_SETTLS), r9 the struct pmt_rawthread. Returns the new
 * thread's id or -errno in the caller; the new thread calls rt_run(t) and
 * ends with exit(2) (that thread only), which clears the child tid word and
 * wakes its futex. The CFI marks the new thread's first frame as the
 * outermost one, for debuggers and profilers. */
int pmt_rawthread_clone(unsigned long flags, void *stack_top, int *ptid, int *ctid, void *tls,
                        struct pmt_rawthread *t);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl pmt_rawthread_clone\n"
        ".hidden pmt_rawthread_clone\n"
        ".type pmt_rawthread_clone, @function\n"
        "pmt_rawthread_clone:\n"
        ".cfi_startproc\n"
        "    and $-16, %rsi\n"
        "    sub $16, %rsi\n"
        "    movq $0, (%rsi)\n"
        "    mov %r9, 8(%rsi)\n"
        "    mov %rcx, %r10\n"
        "    mov $" PMT_STR(SYS_clone) ", %eax\n"
        "    syscall\n"
        "    test %rax, %rax\n"
        "    jz 1f\n"
        "    ret\n"
        "1:\n"
        ".cfi_undefined rip\n"
        "    xor %ebp, %ebp\n"
        "    pop %rax\n"
        "    pop %rdi\n"
        "    call rt_run\n"
        "    mov %eax, %edi\n"
        "    mov $" PMT_STR(SYS_exit) ", %eax\n"
        "    syscall\n"
        "    ud2\n"
        ".cfi_endproc\n"
        ".size pmt_rawthread_clone, .-pmt_rawthread_clone\n");

/* x86-64's thread control block as glibc lays it out (tcbhead_t) and as
 * the compiler's stack protector reads it: the fields a thread pointer must
 * offer. */
struct rt_tcb {
    void *tcb;                 /* %fs:0, the block's own address */
    void *dtv;
    void *self;
    int multiple_threads;
    int gscope_flag;
    uintptr_t sysinfo;
    uintptr_t stack_guard;     /* %fs:0x28 */
    uintptr_t pointer_guard;   /* %fs:0x30 */
};
_Static_assert(offsetof(struct rt_tcb, stack_guard) == 0x28, "the stack protector's offset");

/* The new thread's own thread block, at the top of its mapping: it shares
 * nothing with the thread that starts it, which may end first (glibc then
 * unmaps or reuses that thread's stack, TCB included). It carries the
 * starting thread's stack and pointer guards, so that code built with a
 * stack protector runs on it; everything below it is zeroed and its own. */
static void *rt_tls_block(struct pmt_rawthread *t)
{
    struct rt_tcb *tcb = (struct rt_tcb *)((char *)t->stack + t->size - 4096);
    uintptr_t guard, pointer_guard;
    __asm__("mov %%fs:0x28, %0" : "=r"(guard));
    __asm__("mov %%fs:0x30, %0" : "=r"(pointer_guard));
    *tcb = (struct rt_tcb){.tcb = tcb, .self = tcb, .multiple_threads = 1,
                           .stack_guard = guard, .pointer_guard = pointer_guard};
    t->tls = tcb;
    return tcb;
}

int rawthread_start(struct pmt_rawthread *t, int (*fn)(void *), void *arg, size_t stack_size,
                    size_t settle)
{
    if (rt_prepare(t, fn, arg, stack_size, settle) != 0)
        return ENOMEM;
    /* The new thread inherits the mask, so no signal can reach it before its
     * first instruction: all of them, including those glibc keeps for itself
     * and will not block through sigprocmask. */
    uint64_t all = ~(uint64_t)0, old = 0;
    pmt_sys6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&old, sizeof all, 0, 0);
    const unsigned long flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
                                CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID |
                                CLONE_CHILD_CLEARTID;
    void *tls = rt_tls_block(t);
    int rc = pmt_rawthread_clone(flags, (char *)tls - RT_TLS_ROOM, &t->tid, &t->tid, tls, t);
    pmt_sys6(SYS_rt_sigprocmask, SIG_SETMASK, (long)&old, 0, sizeof old, 0, 0);
    if (rc < 0) {
        munmap(t->stack, t->size);
        t->stack = NULL;
        t->tid = 0;
        return -rc;
    }
    rt_wait_ready(t);
    return 0;
}

#else /* an ordinary pthread, with the same interface */

long pmt_sys6(long nr, long a, long b, long c, long d, long e, long f)
{
    long rc = syscall(nr, a, b, c, d, e, f);
    return rc == -1 ? -errno : rc;
}

static void *rt_main(void *p)
{
    struct pmt_rawthread *t = p;
    rt_run(t);
    __atomic_store_n(&t->tid, 0, __ATOMIC_RELEASE);
    pmt_sys3(SYS_futex, &t->tid, FUTEX_WAKE, 1);
    return NULL;
}

int rawthread_start(struct pmt_rawthread *t, int (*fn)(void *), void *arg, size_t stack_size,
                    size_t settle)
{
    pthread_attr_t attr;
    if (rt_prepare(t, fn, arg, stack_size, settle) != 0)
        return ENOMEM;
    t->impl = malloc(sizeof(pthread_t));
    if (!t->impl || pthread_attr_init(&attr) != 0) {
        free(t->impl);
        munmap(t->stack, t->size);
        return ENOMEM;
    }
    pthread_attr_setstack(&attr, (char *)t->stack + RT_GUARD, stack_size);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    t->tid = 1;
    int rc = pthread_create((pthread_t *)t->impl, &attr, rt_main, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        t->tid = 0;
        free(t->impl);
        munmap(t->stack, t->size);
        return rc;
    }
    rt_wait_ready(t);
    return 0;
}

#endif
