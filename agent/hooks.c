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

/* Where an event happened: a code object (NULL: no Python frame) and the
 * byte offset of its instruction (or a line, PMT_LASTI_OF_LINE), and for
 * a C event where the C function's name is. The legacy hooks read them
 * from the frame CPython passes, the sys.monitoring callbacks get them as
 * arguments. */
struct hk_where {
    pmt_obj *code;
    int lasti;
    const char *const *cfunc;
};

static inline __attribute__((always_inline)) struct hk_where hk_of_frame(pmt_frame *frame, int what,
                                                                         pmt_obj *arg)
{
    struct hk_where w = {NULL, -1, NULL};
    if (frame) {
        w.code = shim_frame_code(&pmt.py, frame);
        w.lasti = shim_frame_lasti(&pmt.py, frame);
    }
    if (what >= PMT_WHAT_C_CALL && what <= PMT_WHAT_C_RETURN && arg)
        w.cfunc = shim_cfunc_name(arg);
    return w;
}

/* Fills an event's Python-side fields. */
static inline __attribute__((always_inline)) void hk_fill(struct pmt_event *e,
                                                          const struct hk_where *w, int what)
{
    e->site = w->code ? pmt_site_of(w->code) : NULL;
    e->lasti = w->lasti;
    e->what = what;
    e->cfunc = w->cfunc;
    e->thread = pmt_thread_id();
}

/* Everything but a quiet event: a log to (re)open, RSS to re-read, a line
 * to write. Out of line, so that the common case needs no stack frame.
 * rss_known: rss_quiet() said rss.cached is this event's RSS. */
void (*pmt_hooks_look)(void);
static unsigned hk_slow_count;

static __attribute__((noinline)) void hk_record_slow(int log, const struct hk_where *w, int what,
                                                     int rss_known)
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
    hk_fill(e, w, what);
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
static inline __attribute__((always_inline)) void hk_record(int log, const struct hk_where *w,
                                                            int what)
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
            hk_fill(e, w, what);
            return;
        }
    }
    hk_record_slow(log, w, what, quiet);
}

void pmt_hooks_record(int log, pmt_frame *frame, int what, pmt_obj *arg)
{
    struct hk_where w = hk_of_frame(frame, what, arg);
    hk_record(log, &w, what);
}

unsigned pmt_hooks_chained[3];
volatile unsigned char pmt_hooks_loaded;

/* Until chain.c sets its own: nothing chained, a load to forget. */
static int hk_no_next(int slot, pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    (void)slot, (void)obj, (void)frame, (void)what, (void)arg;
    pmt_hooks_loaded = 0;
    return 0;
}

int (*pmt_hooks_next)(int slot, pmt_obj *obj, pmt_frame *frame, int what,
                      pmt_obj *arg) = hk_no_next;

/* The benchmark's floor (bench/): the same library, installed the same way,
 * with hooks that return at once: what CPython's hook machinery costs.
 * Either calls the program's own profile or trace function in turn, if it
 * set one (hooks.h, chain.h). */
#ifdef PMT_NOOP_HOOKS
#define HK_ACTIVE 0
#else
#define HK_ACTIVE (pmt.active && !pmt_log_failed)
#endif

int pmt_profile_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    if (__builtin_expect(HK_ACTIVE, 1)) {
        struct hk_where w = hk_of_frame(frame, what, arg);
        hk_record(PMT_LOG_PROFILE, &w, what);
    }
    if (__builtin_expect(pmt_hooks_chained[PMT_HOOK_PROFILE] | pmt_hooks_loaded, 0))
        return pmt_hooks_next(PMT_HOOK_PROFILE, obj, frame, what, arg);
    return 0;
}

int pmt_trace_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    if (__builtin_expect(HK_ACTIVE, 1)) {
        struct hk_where w = hk_of_frame(frame, what, arg);
        hk_record(PMT_LOG_TRACE, &w, what);
    }
    if (__builtin_expect(pmt_hooks_chained[PMT_HOOK_TRACE] | pmt_hooks_loaded, 0))
        return pmt_hooks_next(PMT_HOOK_TRACE, obj, frame, what, arg);
    return 0;
}

/* ---- sys.monitoring (3.12+) ----------------------------------------------
 * The same events from PEP 669 callbacks, as CPython's own legacy hooks
 * (Python/legacy_tracing.c, tools 6 and 7) derive them, so that the log is
 * the one the profile and trace functions give: PY_START, PY_RESUME and
 * PY_THROW are a call; PY_RETURN, PY_YIELD and PY_UNWIND a return; CALL,
 * C_RETURN and C_RAISE the C events of a builtin function or of a method
 * descriptor called with its self (the profile log); RAISE and
 * STOP_ITERATION an exception, LINE a line, and a backward jump within one
 * line a line again (the trace log). Callbacks are METH_FASTCALL C
 * functions: (code, instruction offset in bytes or line, ...). They return
 * None (immortal from 3.12 on: no reference to take), or DISABLE for a jump
 * that can never be a line event, so CPython stops calling for it. */

struct pmt_mon_cfg pmt_mon;

/* An int the interpreter passes (an offset, a line): 3.12+'s compact ints
 * are read in place, others through the C API. */
static inline __attribute__((always_inline)) int hk_int(pmt_obj *o)
{
    const uintptr_t tag = *(const uintptr_t *)((const char *)o + PMT_MON_LONG_TAG);
    if (__builtin_expect(pmt_mon.compact_ints && tag < (2u << 3), 1))
        return (int)(1 - (int)(tag & 3)) * (int)*(const uint32_t *)((const char *)o + PMT_MON_LONG_DIGIT);
    return (int)pmt.py.api.PyLong_AsLong(o);
}

#define HK_MON_WANTS(log) (pmt_mon.logs & (1u << (log)))

static inline __attribute__((always_inline)) void hk_mon_both(pmt_obj *const *args, int what)
{
    if (__builtin_expect(HK_ACTIVE, 1)) {
        struct hk_where w = {args[0], hk_int(args[1]), NULL};
        if (HK_MON_WANTS(PMT_LOG_PROFILE))
            hk_record(PMT_LOG_PROFILE, &w, what);
        if (HK_MON_WANTS(PMT_LOG_TRACE))
            hk_record(PMT_LOG_TRACE, &w, what);
    }
}

static pmt_obj *hk_mon_start(pmt_obj *self, pmt_obj *const *args, ptrdiff_t nargs)
{
    (void)self, (void)nargs;
    hk_mon_both(args, PMT_WHAT_CALL);
    return pmt.py.api.none;
}

static pmt_obj *hk_mon_return(pmt_obj *self, pmt_obj *const *args, ptrdiff_t nargs)
{
    (void)self, (void)nargs;
    hk_mon_both(args, PMT_WHAT_RETURN);
    return pmt.py.api.none;
}

/* The name of a callable the legacy profile function reports as a C call,
 * or NULL: a builtin function (PyCFunction_Check), a method descriptor
 * called with its self (arg0 not MISSING), on 3.13 a bound method of a
 * builtin function. */
static inline const char *const *hk_mon_cfunc(pmt_obj *callable, pmt_obj *arg0)
{
    const pmt_obj *type = shim_type_of(callable);
    if (type == pmt_mon.cfunction_type || type == pmt_mon.cmethod_type)
        return shim_cfunc_name(callable);
    if (type == pmt_mon.method_descr_type)
        return arg0 != pmt_mon.missing ? shim_method_descr_name(callable) : NULL;
    if (type == pmt_mon.bound_method_type) {
        pmt_obj *func = shim_bound_method_func(callable);
        const pmt_obj *ft = shim_type_of(func);
        if (ft == pmt_mon.cfunction_type || ft == pmt_mon.cmethod_type)
            return shim_cfunc_name(func);
    }
    return NULL;
}

static inline __attribute__((always_inline)) void hk_mon_c(pmt_obj *const *args, int what)
{
    if (__builtin_expect(HK_ACTIVE, 1)) {
        const char *const *name = hk_mon_cfunc(args[2], args[3]);
        if (name) {
            struct hk_where w = {args[0], hk_int(args[1]), name};
            hk_record(PMT_LOG_PROFILE, &w, what);
        }
    }
}

static pmt_obj *hk_mon_call(pmt_obj *self, pmt_obj *const *args, ptrdiff_t nargs)
{
    (void)self, (void)nargs;
    hk_mon_c(args, PMT_WHAT_C_CALL);
    return pmt.py.api.none;
}

static pmt_obj *hk_mon_c_return(pmt_obj *self, pmt_obj *const *args, ptrdiff_t nargs)
{
    (void)self, (void)nargs;
    hk_mon_c(args, PMT_WHAT_C_RETURN);
    return pmt.py.api.none;
}

static pmt_obj *hk_mon_c_raise(pmt_obj *self, pmt_obj *const *args, ptrdiff_t nargs)
{
    (void)self, (void)nargs;
    hk_mon_c(args, PMT_WHAT_C_EXCEPTION);
    return pmt.py.api.none;
}

static pmt_obj *hk_mon_raise(pmt_obj *self, pmt_obj *const *args, ptrdiff_t nargs)
{
    (void)self, (void)nargs;
    if (__builtin_expect(HK_ACTIVE, 1)) {
        struct hk_where w = {args[0], hk_int(args[1]), NULL};
        hk_record(PMT_LOG_TRACE, &w, PMT_WHAT_EXCEPTION);
    }
    return pmt.py.api.none;
}

static pmt_obj *hk_mon_line(pmt_obj *self, pmt_obj *const *args, ptrdiff_t nargs)
{
    (void)self, (void)nargs;
    if (__builtin_expect(HK_ACTIVE, 1)) {
        struct hk_where w = {args[0], PMT_LASTI_OF_LINE(hk_int(args[1])), NULL};
        hk_record(PMT_LOG_TRACE, &w, PMT_WHAT_LINE);
    }
    return pmt.py.api.none;
}

static pmt_obj *hk_mon_jump(pmt_obj *self, pmt_obj *const *args, ptrdiff_t nargs)
{
    (void)self, (void)nargs;
    int from = hk_int(args[1]), to = hk_int(args[2]);
    if (to > from)
        return pmt_mon.disable; /* forward: a new line is LINE's */
    const struct pmt_site *site = pmt_site_of(args[0]);
    int line = pmt_site_line(site, to);
    if (line != pmt_site_line(site, from))
        return pmt_mon.disable; /* backward to another line: LINE's too */
    if (__builtin_expect(HK_ACTIVE, 1)) {
        struct hk_where w = {args[0], to, NULL};
        hk_record(PMT_LOG_TRACE, &w, PMT_WHAT_LINE);
    }
    return pmt.py.api.none;
}

#define HK_P (1u << PMT_LOG_PROFILE)
#define HK_T (1u << PMT_LOG_TRACE)
#define HK_CB(event, logs, name, fn) {event, logs, {name, (void *)fn, PMT_METH_FASTCALL, NULL}}

const struct pmt_mon_callback pmt_mon_callbacks[] = {
    HK_CB("PY_START", HK_P | HK_T, "_pymemtrace_call", hk_mon_start),
    HK_CB("PY_RESUME", HK_P | HK_T, "_pymemtrace_call", hk_mon_start),
    HK_CB("PY_THROW", HK_P | HK_T, "_pymemtrace_call", hk_mon_start),
    HK_CB("PY_RETURN", HK_P | HK_T, "_pymemtrace_return", hk_mon_return),
    HK_CB("PY_YIELD", HK_P | HK_T, "_pymemtrace_return", hk_mon_return),
    HK_CB("PY_UNWIND", HK_P | HK_T, "_pymemtrace_return", hk_mon_return),
    HK_CB("CALL", HK_P, "_pymemtrace_c_call", hk_mon_call),
    HK_CB("C_RETURN", HK_P, "_pymemtrace_c_return", hk_mon_c_return),
    HK_CB("C_RAISE", HK_P, "_pymemtrace_c_raise", hk_mon_c_raise),
    HK_CB("RAISE", HK_T, "_pymemtrace_exception", hk_mon_raise),
    HK_CB("STOP_ITERATION", HK_T, "_pymemtrace_exception", hk_mon_raise),
    HK_CB("LINE", HK_T, "_pymemtrace_line", hk_mon_line),
    HK_CB("JUMP", HK_T, "_pymemtrace_jump", hk_mon_jump),
};
const size_t pmt_mon_ncallbacks = sizeof pmt_mon_callbacks / sizeof pmt_mon_callbacks[0];
