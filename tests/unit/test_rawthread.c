/* rawthread: a thread glibc does not know has a thread pointer of its own,
 * so it outlives the thread that started it. Before, it shared that
 * thread's; the writer is started by whichever Python thread fills a
 * buffer, and once that thread ended and glibc unmapped its stack (thread
 * block included), the first stack-protector check on the writer (any build
 * with -fstack-protector, the default of several distributions) read
 * unmapped memory and killed the program. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "agent/rawthread.h"

#if PMT_RAWTHREAD_NATIVE

struct probe {
    int go;            /* futex word: 1 once the probe may look */
    uintptr_t fs0;     /* %fs:0 on the raw thread: its thread block */
    uintptr_t guard;   /* %fs:0x28: the stack protector's guard */
};

static uintptr_t fs_word(long offset)
{
    uintptr_t v;
    if (offset == 0)
        __asm__ volatile("mov %%fs:0, %0" : "=r"(v));
    else
        __asm__ volatile("mov %%fs:0x28, %0" : "=r"(v));
    return v;
}

static int probe_main(void *arg)
{
    struct probe *p = arg;
    while (!__atomic_load_n(&p->go, __ATOMIC_ACQUIRE))
        rawthread_wait(&p->go, 0, rawthread_clock_ns(CLOCK_MONOTONIC) + 100000000LL);
    p->fs0 = fs_word(0);
    p->guard = fs_word(0x28);
    return 0;
}

static void release(struct probe *p)
{
    __atomic_store_n(&p->go, 1, __ATOMIC_RELEASE);
    rawthread_wake(&p->go);
}

Test(rawthread, a_thread_pointer_of_its_own)
{
    struct pmt_rawthread t;
    struct probe p = {0};
    cr_assert_eq(rawthread_start(&t, probe_main, &p, 64 * 1024, 4096), 0);
    release(&p);
    cr_assert_eq(rawthread_join(&t, 2000000000LL), 0);
    cr_assert_neq(p.fs0, fs_word(0), "the raw thread shares this thread's thread pointer");
    cr_assert_eq(p.fs0, (uintptr_t)t.tls);
    cr_assert_eq(p.guard, fs_word(0x28), "the stack protector's guard was not copied");
}

/* A pthread on a stack of ours starts the raw thread and ends; its stack,
 * where glibc keeps its thread block, is unmapped; only then does the raw
 * thread read through its thread pointer. */
struct starter {
    struct pmt_rawthread t;
    struct probe p;
    int rc;
};

static void *starter_main(void *arg)
{
    struct starter *s = arg;
    s->rc = rawthread_start(&s->t, probe_main, &s->p, 64 * 1024, 4096);
    return NULL;
}

Test(rawthread, outlives_the_thread_that_started_it)
{
    static struct starter s;
    size_t size = 1 << 20;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(stack, MAP_FAILED);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, stack, size);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, &attr, starter_main, &s), 0);
    pthread_join(th, NULL);
    cr_assert_eq(s.rc, 0);
    cr_assert_eq(munmap(stack, size), 0); /* the starter's thread block is gone */
    release(&s.p);
    cr_assert_eq(rawthread_join(&s.t, 2000000000LL), 0, "the raw thread did not end");
    cr_assert_eq(s.p.guard, fs_word(0x28));
}

#else

Test(rawthread, a_thread_pointer_of_its_own)
{
    cr_skip_test("raw threads are x86-64 only; this build makes pthreads");
}

#endif
