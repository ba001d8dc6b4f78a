/* hooks: the profile and trace functions CPython calls for every event.
 *
 * Hot path rules (STYLE.md): one load decides whether there is anything to
 * do; no malloc, no stdio, no locks (CPython calls these with the GIL held,
 * which serialises them); a code object's file and function are resolved
 * once, when the code object is first seen (sites.h). */
#include "agent/hooks.h"

#include <stdint.h>

#include "agent/agent.h"
#include "agent/logset.h"
#include "agent/native.h"
#include "agent/rss.h"
#include "agent/sites.h"

/* ---- events -------------------------------------------------------------- */

/* Fills an event's Python-side fields. */
static inline __attribute__((always_inline)) void hk_fill(struct pmt_event *e, pmt_frame *frame,
                                                          int what, pmt_obj *arg)
{
    e->site = frame ? pmt_site_of(shim_frame_code(&pmt.py, frame)) : NULL;
    e->lasti = frame ? shim_frame_lasti(&pmt.py, frame) : -1;
    e->what = what;
    e->cfunc = what >= PMT_WHAT_C_CALL && what <= PMT_WHAT_C_RETURN && arg ? shim_cfunc_name(arg)
                                                                          : NULL;
    e->thread = pmt_thread_id();
}

/* Everything but a quiet event: a log to (re)open, RSS to re-read, a line
 * to write. Out of line, so that the common case needs no stack frame.
 * rss_known: rss_quiet() said rss.cached is this event's RSS. */
void (*pmt_hooks_look)(void);
static unsigned hk_slow_count;

static __attribute__((noinline)) void hk_record_slow(int log, pmt_frame *frame, int what,
                                                     pmt_obj *arg, int rss_known)
{
    struct pmt_log *lg = &pmt.logs[log];
    if (__builtin_expect(!(++hk_slow_count & (PMT_HOOKS_LOOK_EVERY - 1)), 0) && pmt_hooks_look)
        pmt_hooks_look();
    if (lg->state != PMT_LOG_OPEN) {
        if (lg->state != PMT_LOG_REOPEN || pmt_log_failed || pmt_logs_reopen(lg) != 0)
            return;
        rss_known = 0;
    }
    uint64_t ticks = pmt_ticks();
    uint64_t rss_now = rss_known ? rss.cached : rss_read();
    struct pmt_event ev, *e = tracelog_quiet_slot(lg, rss_now);
    if (!e) {
        e = &ev;
        e->n = lg->nevents;
        e->rss = rss_now;
    }
    e->ticks = ticks;
    hk_fill(e, frame, what, arg);
    if (e == &ev) {
        struct pmt_native_frame frames[PMT_NATIVE_MAX];
        ev.native = frames;
        ev.nnative = 0;
        if (pmt.cfg.native_stack && lg->have_first) /* a NEXT (quiet_slot said) */
            ev.nnative = native_capture(frames, pmt.cfg.native_stack);
        pmt_write_begin();
        tracelog_event(lg, &ev);
        pmt_write_end();
    }
}

/* A quiet event reads the clock once in PMT_CLOCK_EVERY (rss.h). */
static unsigned hk_clock_count;

/* One event. The common case, an open log and an RSS that nothing can have
 * moved (rss.h) within the trigger of the last line, is written in place
 * into the log's PREV slot; the rest goes to hk_record_slow. */
static inline __attribute__((always_inline)) void hk_record(int log, pmt_frame *frame, int what,
                                                            pmt_obj *arg)
{
    struct pmt_log *lg = &pmt.logs[log];
    int quiet = lg->state == PMT_LOG_OPEN && rss_quiet();
    if (__builtin_expect(quiet, 1)) {
        struct pmt_event *e = tracelog_quiet_slot(lg, rss.cached);
        if (__builtin_expect(e != NULL, 1)) {
            /* The slot still holds the time of the last reading (a quiet
             * event's, or the last written event's: tracelog_event leaves
             * it there), which is what it keeps between readings. */
            if (__builtin_expect(!(++hk_clock_count & (PMT_CLOCK_EVERY - 1)), 0))
                e->ticks = pmt_ticks();
            hk_fill(e, frame, what, arg);
            return;
        }
    }
    hk_record_slow(log, frame, what, arg, quiet);
}

void pmt_hooks_record(int log, pmt_frame *frame, int what, pmt_obj *arg)
{
    hk_record(log, frame, what, arg);
}

/* The benchmark's floor (bench/): the same library, installed the same way,
 * with hooks that return at once: what CPython's hook machinery costs. */
#ifdef PMT_NOOP_HOOKS
#define HK_ACTIVE 0
#else
#define HK_ACTIVE (pmt.active && !pmt_log_failed)
#endif

int pmt_profile_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    (void)obj;
    if (__builtin_expect(HK_ACTIVE, 1))
        hk_record(PMT_LOG_PROFILE, frame, what, arg);
    return 0;
}

int pmt_trace_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    (void)obj;
    if (__builtin_expect(HK_ACTIVE, 1))
        hk_record(PMT_LOG_TRACE, frame, what, arg);
    return 0;
}
