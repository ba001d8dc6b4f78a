/* threadstart: see threadstart.h.
 *
 * The records come from a fixed pool, never from malloc: a free() written
 * in the agent binds to the agent's own free (-fno-semantic-interposition),
 * which forwards to the definition after the agent, while malloc is the
 * first definition in the process. With another allocator preloaded before
 * the agent (jemalloc, tcmalloc, a sanitizer's), a record malloc'd by it was
 * freed by glibc's free on the new thread, into that thread's tcache, which
 * glibc then freed again at the thread's end: a crash (ASan's runtime
 * preloaded first showed it, in tcache_thread_shutdown). A record is held
 * only until the new thread has copied it. */
#include "agent/threadstart.h"

#include "agent/rss.h"

struct ts_start {
    void *(*fn)(void *);
    void *arg;
};

#define TS_STARTS 256
static struct ts_start ts_starts[TS_STARTS];
static int ts_used[TS_STARTS];

void *pmt_thread_wrap(void *(*fn)(void *), void *arg)
{
    static unsigned next;
    for (int tries = 0; tries < TS_STARTS; tries++) {
        unsigned k = __atomic_fetch_add(&next, 1u, __ATOMIC_RELAXED) % TS_STARTS;
        int free_slot = 0;
        if (__atomic_compare_exchange_n(&ts_used[k], &free_slot, 1, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            ts_starts[k].fn = fn;
            ts_starts[k].arg = arg;
            return &ts_starts[k];
        }
    }
    return NULL;
}

void pmt_thread_unwrap(void *record)
{
    __atomic_store_n(&ts_used[(struct ts_start *)record - ts_starts], 0, __ATOMIC_RELEASE);
}

void pmt_thread_wrap_reset(void)
{
    for (int i = 0; i < TS_STARTS; i++)
        ts_used[i] = 0;
}

void *pmt_thread_main(void *record)
{
    struct ts_start start = *(struct ts_start *)record;
    pmt_thread_unwrap(record);
    rss_thread_started();
    void *rc = start.fn(start.arg);
    rss_thread_ended();
    rss_settle(); /* only started when PYMEMTRACE is set */
    return rc;
}
