/* hooks: the profile and trace functions CPython calls for every event.
 *
 * Hot path rules (STYLE.md): one load decides whether there is anything to
 * do; no malloc, no stdio, no locks (CPython calls these with the GIL held,
 * which serialises them); a code object's file and function are resolved
 * once, when the code object is first seen, and kept with a strong
 * reference so that a PREV or LAST line written later still finds them. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/native.h"
#include "agent/rss.h"

static __thread uint32_t hk_tid __attribute__((tls_model("initial-exec")));

static uint32_t hk_thread(void)
{
    if (__builtin_expect(!hk_tid, 0)) {
        hk_tid = (uint32_t)syscall(SYS_gettid);
        pmt_rss_dirty = 1; /* a new thread's start moves RSS without faults (rss.h) */
    }
    return hk_tid;
}

/* ---- sites: one per code object ---------------------------------------- */

#define SITE_CHUNK 4096

/* Sites live in chunks that never move (events point at them); the hash
 * table of pointers is rebuilt larger when half full. Memory comes from mmap
 * so that no hook ever calls malloc. */
static struct pmt_site *site_chunk;
static size_t site_chunk_used = SITE_CHUNK;
static struct pmt_site **site_table;
static size_t site_mask; /* table size - 1 */
static size_t site_count;
static const struct pmt_site *site_last;

static void *site_map(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static size_t site_hash(const void *code)
{
    uintptr_t x = (uintptr_t)code >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 17);
}

static int site_grow(void)
{
    size_t size = site_table ? (site_mask + 1) * 2 : 1024;
    struct pmt_site **t = site_map(size * sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; site_table && i <= site_mask; i++) {
        if (!site_table[i])
            continue;
        size_t j = site_hash(site_table[i]->code) & (size - 1);
        while (t[j])
            j = (j + 1) & (size - 1);
        t[j] = site_table[i];
    }
    if (site_table)
        munmap(site_table, (site_mask + 1) * sizeof *site_table);
    site_table = t;
    site_mask = size - 1;
    return 0;
}

static const char *site_utf8(pmt_obj *s)
{
    const char *u = s ? pmt.py.api.PyUnicode_AsUTF8(s) : NULL;
    if (!u)
        pmt.py.api.PyErr_Clear();
    return u ? u : "?";
}

static const struct pmt_site *site_add(pmt_obj *code)
{
    if ((site_count + 1) * 2 > site_mask + 1 && site_grow() != 0)
        return NULL;
    if (site_chunk_used == SITE_CHUNK) {
        struct pmt_site *c = site_map(SITE_CHUNK * sizeof *c);
        if (!c)
            return NULL;
        site_chunk = c;
        site_chunk_used = 0;
    }
    struct pmt_site *s = &site_chunk[site_chunk_used++];
    /* Resolving may set an exception (a filename that is not valid UTF-8);
     * keep the traced program's own pending exception untouched. */
    pmt_obj *et, *ev, *etb;
    pmt.py.api.PyErr_Fetch(&et, &ev, &etb);
    pmt.py.api.Py_IncRef(code);
    s->code = code;
    s->file = site_utf8(shim_code_filename(&pmt.py, code));
    s->func = site_utf8(shim_code_name(&pmt.py, code));
    s->file_len = strlen(s->file);
    s->func_len = strlen(s->func);
    s->match = -1; /* decided by agent/function.c when it first evaluates the code */
    pmt.py.api.PyErr_Restore(et, ev, etb);
    size_t i = site_hash(code) & site_mask;
    while (site_table[i])
        i = (i + 1) & site_mask;
    site_table[i] = s;
    site_count++;
    return s;
}

static const struct pmt_site *site_of(pmt_obj *code)
{
    if (__builtin_expect(site_last && site_last->code == code, 1))
        return site_last;
    if (site_table) {
        for (size_t i = site_hash(code) & site_mask; site_table[i]; i = (i + 1) & site_mask)
            if (site_table[i]->code == code)
                return site_last = site_table[i];
    }
    const struct pmt_site *s = site_add(code);
    if (s)
        site_last = s;
    return s;
}

/* Line numbers, cached by (code object, instruction offset). 3.12+ (and
 * 3.8/3.9) walk the line table on each PyCode_Addr2Line call, O(offset), so
 * a long function's lines cost microseconds each (CPYTHON-NOTES §4); logged
 * lines repeat (loops), so a direct-mapped cache answers most of them. Code
 * objects in sites are never freed, so a (code, offset) key never goes stale. */
#define LINE_CACHE 4096

static struct {
    const void *code;
    int lasti;
    int line;
} hk_lines[LINE_CACHE];

int pmt_hooks_line(const struct pmt_site *site, int lasti)
{
    size_t i = (site_hash(site->code) ^ (size_t)lasti * 0x9E37u) & (LINE_CACHE - 1);
    if (hk_lines[i].code == site->code && hk_lines[i].lasti == lasti)
        return hk_lines[i].line;
    int line = pmt.py.api.PyCode_Addr2Line((pmt_obj *)site->code, lasti);
    hk_lines[i].code = site->code;
    hk_lines[i].lasti = lasti;
    hk_lines[i].line = line;
    return line;
}

/* ---- events -------------------------------------------------------------- */

/* A forked child's first event opens all its logs, in the parent's order,
 * so that their numbers do not depend on which hook fires first; each keeps
 * its depth (a traced function's call nested in another). */
int pmt_hooks_reopen(struct pmt_log *lg)
{
    for (int i = 0; i < PMT_NLOGS; i++) {
        struct pmt_log *l = &pmt.logs[i];
        if (l->state == PMT_LOG_REOPEN)
            tracelog_open_at(l, &pmt.env, l->letter, l->depth, l->mode_name, pmt_hooks_line,
                             pmt_ticks_us, &pmt.ordinal, pmt_clock_us(), hk_thread());
    }
    return lg->state == PMT_LOG_OPEN ? 0 : -1;
}

const struct pmt_site *pmt_hooks_site(pmt_obj *code)
{
    return site_of(code);
}

uint32_t pmt_hooks_thread(void)
{
    return hk_thread();
}

/* Fills an event's Python-side fields. */
static inline __attribute__((always_inline)) void hk_fill(struct pmt_event *e, pmt_frame *frame,
                                                          int what, pmt_obj *arg)
{
    e->site = frame ? site_of(shim_frame_code(&pmt.py, frame)) : NULL;
    e->lasti = frame ? shim_frame_lasti(&pmt.py, frame) : -1;
    e->what = what;
    e->cfunc = what >= PMT_WHAT_C_CALL && what <= PMT_WHAT_C_RETURN && arg ? shim_cfunc_name(arg)
                                                                          : NULL;
    e->thread = hk_thread();
}

/* Everything but a quiet event: a log to (re)open, RSS to re-read, a line
 * to write. Out of line, so that the common case needs no stack frame.
 * rss_known: rss_quiet() said rss.cached is this event's RSS. */
static __attribute__((noinline)) void hk_record_slow(int log, pmt_frame *frame, int what,
                                                     pmt_obj *arg, int rss_known)
{
    struct pmt_log *lg = &pmt.logs[log];
    if (lg->state != PMT_LOG_OPEN) {
        if (lg->state != PMT_LOG_REOPEN || pmt_log_failed || pmt_hooks_reopen(lg) != 0)
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

void pmt_hooks_after_fork(void)
{
    hk_tid = 0; /* the child's only thread has an id of its own */
}
