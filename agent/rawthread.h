/* rawthread: a background thread that glibc does not know about.
 *
 * Why: once a process has made a second thread with pthread_create, glibc
 * takes its locks and atomic operations in malloc and free for good (its
 * "single thread" fast paths are switched off). A program that allocates a
 * lot through malloc (numpy) then runs ~2-3% slower, which is more than the
 * sampler may cost. A thread made here is a kernel thread of the process
 * (clone with CLONE_THREAD) that glibc never hears of, so the process keeps
 * glibc's single-thread paths.
 *
 * The price is strict rules for the code that runs on such a thread:
 * - no glibc function that keeps state, takes a lock or sets errno (no
 *   malloc, stdio, localtime, open/read/write wrappers, syscall()): only the
 *   raw system calls below and pure functions (string and memory functions,
 *   the agent's formatters);
 * - it has a thread pointer of its own (CLONE_SETTLS): a block above its
 *   stack with the fields x86-64 code expects at %fs:0 (the block itself)
 *   and %fs:0x28 (the stack protector's guard, copied from the starting
 *   thread) and zeroed room below, so that it depends on no other thread's
 *   memory: the thread that starts it (the writer is started by whichever
 *   Python thread fills a buffer) may end first, and glibc then unmaps or
 *   reuses that thread's block. No TLS variable may be used: the room is
 *   not the program's TLS, only a place where a stray access harms no one;
 * - every signal is blocked on it, from its first instruction;
 * - it must not outlive what it uses: rawthread_join waits for its end.
 *
 * x86-64 only; elsewhere the same interface makes an ordinary pthread (the
 * rules then cost nothing and gain nothing). */
#ifndef PMT_RAWTHREAD_H
#define PMT_RAWTHREAD_H

#include <stddef.h>
#include <stdint.h>

#ifndef PMT_RAWTHREAD_NATIVE /* -DPMT_RAWTHREAD_NATIVE=0 builds the pthread form anywhere */
#if defined(__x86_64__) && defined(__linux__)
#define PMT_RAWTHREAD_NATIVE 1
#else
#define PMT_RAWTHREAD_NATIVE 0
#endif
#endif

/* Raw system calls: the result, or -errno. Nothing else is touched. */
#if PMT_RAWTHREAD_NATIVE
static inline long pmt_sys6(long nr, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
long pmt_sys6(long nr, long a, long b, long c, long d, long e, long f);
#endif

#define pmt_sys3(nr, a, b, c) pmt_sys6((nr), (long)(a), (long)(b), (long)(c), 0, 0, 0)

struct pmt_rawthread {
    int tid;     /* the thread's id while it runs; the kernel sets 0 as it ends */
    int ready;   /* set by the thread once its stack is settled (a futex word) */
    void *stack; /* its stack mapping, with a guard page below */
    size_t size;
    size_t settle;
    int (*fn)(void *);
    void *arg;
    void *impl;  /* the pthread where there is no native implementation */
    void *tls;   /* its thread pointer (native: inside the stack mapping) */
};

/* Starts fn(arg) on a new thread with a stack of stack_size bytes and every
 * signal blocked, and returns once the thread runs and its memory has
 * settled: it touched the settle bytes of stack it will ever use, so that
 * it takes no page fault later that the event logs would have to account
 * for (the caller then raises pmt_rss_dirty). Returns 0 or an errno value. */
int rawthread_start(struct pmt_rawthread *t, int (*fn)(void *), void *arg, size_t stack_size,
                    size_t settle);

/* Waits up to timeout_ns for the thread to end (fn returned); then its stack
 * is unmapped and 0 returned. ETIMEDOUT: still running; the thread and its
 * stack are left alone for good. */
int rawthread_join(struct pmt_rawthread *t, long long timeout_ns);

/* For code on the thread: sleeps until *word is no longer `expected`, or
 * until the CLOCK_MONOTONIC time deadline_ns, whichever comes first. */
void rawthread_wait(int *word, int expected, long long deadline_ns);

/* Wakes a rawthread_wait on word (after the caller changed *word). */
void rawthread_wake(int *word);

/* CLOCK_MONOTONIC and other clocks, in ns, by raw system call. */
long long rawthread_clock_ns(int clock);

#endif
