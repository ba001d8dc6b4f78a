/* reftrace: reference tracing logs. See reftrace.h. */
#include "agent/reftrace.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "agent/agent.h"
#include "agent/logfmt.h"
#include "agent/logset.h"
#include "agent/pycall.h"
#include "agent/realsym.h"
#include "agent/rss.h"
#include "agent/sites.h"
#include "config/typefilter.h"

/* ---- per-type entries ------------------------------------------------------
 * Open addressing in memory from mmap (never malloc inside the tracer); a
 * removed entry becomes a tombstone. Only the thread holding the GIL calls
 * the tracer, which serialises everything here. */

struct rt_type {
    const pmt_obj *type; /* NULL: empty; RT_GONE: removed */
    int64_t live;        /* objects alive after the last logged event */
    unsigned char log;   /* its objects are logged */
    unsigned char meta;  /* its objects are types: their destruction removes entries */
    unsigned char exc_classes; /* meta, by the builtins rule: skip exception classes */
};

#define RT_GONE ((const pmt_obj *)1)

static struct rt_type *rt_table;
static size_t rt_mask;  /* size - 1 */
static size_t rt_used;  /* entries and tombstones */

typedef int (*rt_setter)(pmt_reftracer f, void *data);
/* The program's tracer, called in turn by ours (tracemalloc's, while it
 * runs): CPython has one slot; the agent's stays in it and passes every
 * event on, so both see every object. */
static pmt_reftracer rt_next;
static void *rt_next_data;
static rt_setter rt_real_set_fn; /* the interpreter's PyRefTracer_SetTracer */
static int rt_on;                    /* our tracer is meant to be set */
static uint64_t rt_last_rss;
static __thread int rt_busy __attribute__((tls_model("initial-exec")));

static inline size_t rt_hash(const pmt_obj *type)
{
    uintptr_t x = (uintptr_t)type >> 4;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 20);
}

static inline struct rt_type *rt_find(const pmt_obj *type)
{
    if (__builtin_expect(!rt_table, 0))
        return NULL;
    for (size_t i = rt_hash(type) & rt_mask;; i = (i + 1) & rt_mask) {
        struct rt_type *e = &rt_table[i];
        if (e->type == type)
            return e;
        if (!e->type)
            return NULL;
    }
}

static int rt_grow(void)
{
    size_t size = rt_table ? (rt_mask + 1) * 2 : 4096;
    struct rt_type *t = mmap(NULL, size * sizeof *t, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return -1;
    size_t used = 0;
    for (size_t i = 0; rt_table && i <= rt_mask; i++) {
        if (!rt_table[i].type || rt_table[i].type == RT_GONE)
            continue;
        size_t j = rt_hash(rt_table[i].type) & (size - 1);
        while (t[j].type)
            j = (j + 1) & (size - 1);
        t[j] = rt_table[i];
        used++;
    }
    if (rt_table)
        munmap(rt_table, (rt_mask + 1) * sizeof *rt_table);
    rt_table = t;
    rt_mask = size - 1;
    rt_used = used;
    return 0;
}

/* cPyMemTrace's rule (shim.c has the lists): the type itself, or a
 * subclass of one of the bases; exception instances are PyExceptionInstance
 * _Check's. Called once per type. */
static int rt_is_builtin(const pmt_obj *type)
{
    const struct pmt_builtin_types *b = &pmt.py.builtins;
    if (shim_type_flags(type) & SHIM_TPFLAGS_BASE_EXC_SUBCLASS)
        return 1;
    for (int i = 0; i < b->nexact; i++)
        if (b->exact[i] == type)
            return 1;
    for (int i = 0; i < b->nbases; i++)
        if (b->bases[i] == type || pmt.py.api.PyType_IsSubtype(type, b->bases[i]))
            return 1;
    return 0;
}

/* The first object of a type seen: decide, once. */
static struct rt_type *rt_add(const pmt_obj *type)
{
    if ((rt_used + 1) * 2 > rt_mask + 1 || !rt_table) {
        if (rt_grow() != 0)
            return NULL;
    }
    const char *name = shim_type_name(type);
    int never = type == pmt.py.api.code_type || type == pmt.py.api.frame_type;
    size_t i = rt_hash(type) & rt_mask;
    while (rt_table[i].type && rt_table[i].type != RT_GONE)
        i = (i + 1) & rt_mask;
    struct rt_type *e = &rt_table[i];
    if (!e->type)
        rt_used++;
    e->type = type;
    e->live = 0;
    e->log = (unsigned char)rt_type_wanted(name ? name : "", rt_is_builtin(type), never,
                                           pmt.cfg.include_builtins, pmt.cfg.include_types,
                                           pmt.cfg.exclude_types);
    e->meta = (shim_type_flags(type) & SHIM_TPFLAGS_TYPE_SUBCLASS) != 0;
    /* cPyMemTrace's PyExceptionClass_Check looks at the object, a class: at
     * its creation its flags are still 0 (the NEW line is written), at its
     * destruction they say whether it is an exception class. */
    e->exc_classes = e->meta && !pmt.cfg.include_builtins && !pmt.cfg.include_types;
    return e;
}

/* In front of the table, the common answer in one probe: a direct-mapped
 * cache of types whose objects are skipped (neither logged nor types). */
#define RT_SKIP_SLOTS 4096
static const pmt_obj *rt_skip[RT_SKIP_SLOTS];

static inline size_t rt_skip_slot(const pmt_obj *type)
{
    return ((uintptr_t)type >> 4) & (RT_SKIP_SLOTS - 1);
}

static void rt_forget(const pmt_obj *type)
{
    struct rt_type *e = rt_find(type);
    if (e)
        e->type = RT_GONE;
    if (rt_skip[rt_skip_slot(type)] == type)
        rt_skip[rt_skip_slot(type)] = NULL;
}

/* ---- lines ------------------------------------------------------------- */

static void rt_say_line(const char *prefix, const char *text)
{
    tracelog_ref_msg(&pmt.logs[PMT_LOG_REF], prefix, pmt_clock_us(), text);
}

static void rt_line(pmt_obj *obj, int event, const pmt_obj *type, struct rt_type *e)
{
    struct pmt_log *lg = &pmt.logs[PMT_LOG_REF];
    if (lg->state != PMT_LOG_OPEN) {
        if (lg->state != PMT_LOG_REOPEN || pmt_log_failed || pmt_logs_reopen(lg) != 0)
            return;
    }
    e->live += event == PMT_REF_CREATE ? 1 : -1;
    const char *file = "", *func = "";
    size_t file_len = 0, func_len = 0;
    int line = 0, lasti = -1;
    pmt_obj *code = shim_current_code(&pmt.py, pmt.py.api.PyThreadState_GetUnchecked(), &lasti);
    const struct pmt_site *site = code ? pmt_site_of(code) : NULL;
    if (site) {
        file = site->file;
        func = site->func;
        file_len = site->file_len;
        func_len = site->func_len;
        line = pmt_site_line(site, lasti);
    }
    uint64_t rss_now = rss_read();
    const char *name = shim_type_name(type);
    struct pmt_ref_fields f = {
        .clock_us = pmt_clock_us(),
        .address = obj,
        .live = e->live,
        .type = name ? name : "?",
        .file = file,
        .line = line,
        .func = func,
        .rss = rss_now,
        .drss = (int64_t)(rss_now - rt_last_rss),
        .file_len = file_len,
        .func_len = func_len,
    };
    rt_last_rss = rss_now;
    pmt_write_begin();
    tracelog_ref_line(lg, event == PMT_REF_CREATE ? "NEW" : "DEL", &f, pmt_thread_id());
    pmt_write_end();
}

/* ---- the tracer ---------------------------------------------------------- */

static __attribute__((noinline)) int rt_slow(pmt_obj *obj, int event, const pmt_obj *type,
                                             struct rt_type *e)
{
    if (rt_busy)
        return 0; /* our own allocations (a name resolved, a line) */
    rt_busy = 1;
    if (!e)
        e = rt_add(type);
    if (e && !e->log && !e->meta)
        rt_skip[rt_skip_slot(type)] = type;
    if (e) {
        if (e->meta && event == PMT_REF_DESTROY)
            rt_forget(obj); /* obj is a type: its address may host another */
        if (e->log && pmt.active && !pmt_log_failed &&
            !(e->exc_classes && (shim_type_flags(obj) & SHIM_TPFLAGS_BASE_EXC_SUBCLASS)))
            rt_line(obj, event, type, e);
    }
    rt_busy = 0;
    return 0;
}

static void rt_removed(void);

static int rt_tracer(pmt_obj *obj, int event, void *data)
{
    (void)data;
#ifdef PMT_NOOP_HOOKS
    /* The benchmark's floor: what CPython's reference tracer machinery
     * costs with a tracer that does nothing. */
    (void)obj;
    (void)event;
    return 0;
#endif
    if (__builtin_expect(rt_next != NULL, 0) && (unsigned)event <= PMT_REF_DESTROY)
        rt_next(obj, event, rt_next_data); /* the program's (tracemalloc's) first */
    /* 3.15 tells a tracer that another replaced it: event 2, obj NULL. Any
     * other event a later version adds is not ours to log. */
    if (__builtin_expect((unsigned)event > PMT_REF_DESTROY || !obj, 0)) {
        if (event == PMT_REF_TRACKER_REMOVED)
            rt_removed();
        return 0;
    }
    const pmt_obj *type = shim_type_of(obj);
    if (__builtin_expect(rt_skip[rt_skip_slot(type)] == type, 1))
        return 0;
    struct rt_type *e = rt_find(type);
    if (e && !e->log && !e->meta) {
        rt_skip[rt_skip_slot(type)] = type; /* the slot was another type's */
        return 0;
    }
    return rt_slow(obj, event, type, e);
}

/* ---- the interposed setter ------------------------------------------------
 * tracemalloc (3.13) sets its own reference tracer when it starts and
 * removes it when it stops; libpython calls PyRefTracer_SetTracer through
 * its PLT, so this definition sees both. Another tracer is let in (taking
 * it away would break tracemalloc), said once; when it is removed, ours goes
 * back. Where the call is not seen (a static interpreter), rt_poll notices
 * the same at the next audit event. */

static rt_setter rt_real_set(void *caller)
{
    if (!rt_real_set_fn)
        rt_real_set_fn = (rt_setter)pmt_real_symbol("PyRefTracer_SetTracer", caller);
    return rt_real_set_fn;
}

static int rt_self_set; /* the agent is setting the slot itself */

static int rt_set_slot(pmt_reftracer f, void *data)
{
    rt_self_set = 1;
    int rc = pmt.py.api.PyRefTracer_SetTracer(f, data);
    rt_self_set = 0;
    return rc;
}

/* A tracer set by the program while ours is on (f NULL: removed): ours calls
 * it from now on. */
static void rt_chain(pmt_reftracer f, void *data)
{
    rt_next = f == rt_tracer ? NULL : f;
    rt_next_data = data;
}

__attribute__((visibility("default"))) int PyRefTracer_SetTracer(pmt_reftracer f, void *data)
{
    rt_setter real = rt_real_set(__builtin_return_address(0));
    if (!real)
        return -1;
    if (!rt_on || rt_self_set || f == rt_tracer)
        return real(f, data);
    /* tracemalloc.start() and stop() (3.13+), or another tool: the slot
     * keeps ours, which calls theirs. */
    rt_chain(f, data);
    return 0;
}

/* The definition above by its own address, whatever the global scope
 * resolves the name to. */
extern __typeof__(PyRefTracer_SetTracer) rt_own_setter
    __attribute__((alias("PyRefTracer_SetTracer"), visibility("hidden")));

static int rt_poll_pending(void *arg)
{
    (void)arg;
    rt_poll();
    return 0;
}

/* 3.15's notice that our tracer was replaced, by a call inside a static
 * interpreter the setter above did not see (tracemalloc's): the poll puts
 * it back in front at the main thread's next bytecode boundary. */
static __attribute__((noinline, cold)) void rt_removed(void)
{
    if (rt_on && !rt_self_set && pmt.py.api.Py_AddPendingCall)
        pmt.py.api.Py_AddPendingCall(rt_poll_pending, NULL);
}

/* ---- tracemalloc's start and stop, seen ------------------------------------
 * In a static interpreter nothing tells the agent in time that tracemalloc
 * set the slot (its setter calls are internal; 3.15 says so afterwards). _tracemalloc's
 * start and stop are replaced by look-alikes (name, doc, signature,
 * __self__) that put the agent's tracer back in front right after, calling
 * tracemalloc's in turn: no object missed, no ERR line, as the setter above
 * does with a shared libpython. The module is caught as it enters
 * sys.modules (a dict watcher on sys.modules, 3.12+, cleared at the end),
 * or at start when it is there already. Without either, the audit hook
 * stays for rt_poll (rt_needs_audit). */

static int rt_interposed; /* the program's setter calls reach ours */

enum { RT_TM_START, RT_TM_STOP, RT_TM_N };
static const char *const rt_tm_names[RT_TM_N] = {"start", "stop"};
static pmt_obj *rt_tm_orig[RT_TM_N];
static int rt_tm_seen;     /* _tracemalloc's calls come through the look-alikes */
static int rt_watcher = -1; /* on sys.modules */

/* Ours in front again of whatever is in the slot now. */
static void rt_take_back(void)
{
    void *data;
    pmt_reftracer cur = pmt.py.api.PyRefTracer_GetTracer(&data);
    if (cur == rt_tracer)
        return;
    rt_chain(cur, data);
    rt_set_slot(rt_tracer, NULL);
}

static pmt_obj *rt_tm_call(int which, pmt_obj *args, pmt_obj *kwargs)
{
    pmt_obj *res = pmt.py.api.PyObject_Call(rt_tm_orig[which], args, kwargs);
    if (rt_on)
        rt_take_back();
    return res;
}

static pmt_obj *rt_tm_start(pmt_obj *self, pmt_obj *args, pmt_obj *kwargs)
{
    (void)self;
    return rt_tm_call(RT_TM_START, args, kwargs);
}

static pmt_obj *rt_tm_stop(pmt_obj *self, pmt_obj *args, pmt_obj *kwargs)
{
    (void)self;
    return rt_tm_call(RT_TM_STOP, args, kwargs);
}

static struct pmt_methoddef rt_tm_defs[RT_TM_N] = {
    {"start", (void *)rt_tm_start, PMT_METH_VARARGS | PMT_METH_KEYWORDS, NULL},
    {"stop", (void *)rt_tm_stop, PMT_METH_VARARGS | PMT_METH_KEYWORDS, NULL},
};

/* The look-alikes into module _tracemalloc (an exception set meanwhile is
 * cleared; the caller's is kept). */
static void rt_tm_wrap(pmt_obj *mod)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *et, *ev, *etb;
    api->PyErr_Fetch(&et, &ev, &etb);
    int ok = 1;
    for (int i = 0; i < RT_TM_N && ok; i++) {
        rt_tm_orig[i] = api->PyObject_GetAttrString(mod, rt_tm_names[i]);
        ok = rt_tm_orig[i] && shim_type_of(rt_tm_orig[i]) == api->cfunction_type;
    }
    for (int i = 0; i < RT_TM_N && ok; i++) {
        pmt_obj *w = pmt_lookalike(rt_tm_orig[i], &rt_tm_defs[i], mod);
        ok = w && api->PyObject_SetAttrString(mod, rt_tm_names[i], w) == 0;
        if (w)
            api->Py_DecRef(w);
    }
    api->PyErr_Clear();
    api->PyErr_Restore(et, ev, etb);
    rt_tm_seen = ok; /* else (someone replaced them) the audit hook's poll stays */
}

static int rt_modules_changed(int event, pmt_obj *dict, pmt_obj *key, pmt_obj *value)
{
    (void)dict;
    if (event != 0 || rt_tm_seen || !key || !value || rt_busy)
        return 0;
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *et, *ev, *etb;
    api->PyErr_Fetch(&et, &ev, &etb);
    const char *name = api->PyUnicode_AsUTF8(key);
    int ours = name && strcmp(name, "_tracemalloc") == 0;
    api->PyErr_Clear();
    api->PyErr_Restore(et, ev, etb);
    if (ours) {
        rt_busy++;
        rt_tm_wrap(value);
        rt_busy--;
    }
    return 0;
}

/* At start, where the interpreter's calls are not seen (static, before
 * 3.15). */
static void rt_tm_watch(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (rt_tm_seen || rt_watcher >= 0 || rt_interposed)
        return;
    pmt_obj *modules = api->PyImport_GetModuleDict();
    pmt_obj *tm = modules ? api->PyDict_GetItemString(modules, "_tracemalloc") : NULL;
    if (tm) {
        rt_tm_wrap(tm);
        return;
    }
    if (!modules || !api->PyDict_AddWatcher || !api->PyDict_Watch)
        return;
    rt_watcher = api->PyDict_AddWatcher(rt_modules_changed);
    if (rt_watcher < 0) {
        api->PyErr_Clear(); /* all eight taken: the audit hook stays */
        return;
    }
    if (api->PyDict_Watch(rt_watcher, modules) != 0) {
        api->PyErr_Clear();
        api->PyDict_ClearWatcher(rt_watcher);
        rt_watcher = -1;
    }
}

static void rt_tm_unwatch(void)
{
    if (rt_watcher >= 0 && pmt.py.api.PyDict_ClearWatcher(rt_watcher) != 0)
        pmt.py.api.PyErr_Clear();
    rt_watcher = -1;
}

void rt_poll(void)
{
    static int said;
    if (!rt_on || !pmt.py.api.PyRefTracer_GetTracer)
        return;
    void *data;
    pmt_reftracer cur = pmt.py.api.PyRefTracer_GetTracer(&data);
    if (cur == rt_tracer)
        return;
    /* A static interpreter set its slot unseen (tracemalloc.start() or
     * stop()): ours goes back in front and calls what is there. Objects
     * made meanwhile were seen by the other tracer only. */
    rt_chain(cur, data);
    if (rt_set_slot(rt_tracer, NULL) != 0)
        return;
    const char *text = cur ? "another reference tracer (tracemalloc?) took the agent's place: objects made "
                             "since were not logged; the agent's tracer is back and calls it in turn"
                           : "another reference tracer (tracemalloc?) took the agent's place and was removed: "
                             "objects made meanwhile were not logged; the agent's tracer is back";
    rt_say_line("ERR", text);
    if (!said)
        pmt_say("reftrace: ", text, NULL);
    said = 1;
}

/* ---- start and finish ---------------------------------------------------- */

int rt_supported(const struct pmt_shim *py, char *why, size_t whylen)
{
    if (py->layout.tstate_frame >= 0 && py->api.PyRefTracer_SetTracer &&
        py->api.PyRefTracer_GetTracer && py->api.PyThreadState_GetUnchecked &&
        py->api.PyUnstable_InterpreterFrame_GetLasti && py->api.code_type)
        return 1;
    snprintf(why, whylen, "reference tracing needs Python 3.13 or newer; this is %s",
             py->version.text);
    return 0;
}


int rt_needs_audit(void)
{
    /* 3.15 tells a replaced tracer (rt_removed): no need to look; nor
     * where tracemalloc's calls are seen (above). */
    return rt_on && !rt_interposed && pmt.py.version.minor < 15 && !rt_tm_seen && rt_watcher < 0;
}

int rt_usable(char *why, size_t whylen)
{
    /* With a shared libpython our own PyRefTracer_SetTracer comes first in
     * the global scope (libpython calls it through its PLT): the agent calls
     * the real one, the next definition. A static interpreter's own comes
     * before ours and is the real one. Compared with our definition's own
     * address (rt_own_setter): the plain name would resolve, like any
     * exported name, to the first definition, the executable's there, and
     * the next one after the agent is then none. */
    if ((void *)pmt.py.api.PyRefTracer_SetTracer == (void *)rt_own_setter) {
        pmt.py.api.PyRefTracer_SetTracer =
            (int (*)(pmt_reftracer, void *))pmt_dlsym(RTLD_NEXT, "PyRefTracer_SetTracer");
        rt_interposed = 1;
    }
    dlerror(); /* a failed lookup must leave no error for the program */
    return rt_supported(&pmt.py, why, whylen);
}

void rt_start_now(void)
{
    rt_start(rss_read());
}

void rt_start(uint64_t rss_at_start)
{
    rt_last_rss = rss_at_start;
    rt_real_set_fn = pmt.py.api.PyRefTracer_SetTracer;
    const struct pmt_pyversion *v = &pmt.py.version;
    if (v->major == 3 && v->minor == 13 && v->micro < 3) {
        char text[320];
        snprintf(text, sizeof text,
                 "Python %s does not report the destruction of objects freed by its specialised "
                 "instructions (CPython gh-130382, fixed in 3.13.3): DEL lines and live counts "
                 "miss them, mostly for builtin types",
                 v->text);
        rt_say_line("MSG", text);
    }
    rt_on = 1;
    void *data;
    pmt_reftracer cur = pmt.py.api.PyRefTracer_GetTracer(&data);
    rt_chain(cur, data); /* tracemalloc started first (-X tracemalloc): called in turn */
    rt_set_slot(rt_tracer, NULL);
    rt_tm_watch();
}

static void rt_summary(int python_usable, int at_exit);
static void rt_stop(int python_usable);

/* PYMEMTRACE_FUNCTION (function.c): each traced call is a session. The
 * outermost one starts the tracer with live counts from 0; each one ends
 * with the collection (if asked) and the live counts in its own log, the
 * outermost also takes the tracer out. Python is usable; an exception may
 * be set (the call raised) and is kept. */
void rt_session_begin(int outermost)
{
    if (!outermost)
        return;
    for (size_t i = 0; rt_table && i <= rt_mask; i++)
        rt_table[i].live = 0;
    rt_start(rss_read());
}

void rt_session_end(int outermost)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *et, *ev, *etb;
    api->PyErr_Fetch(&et, &ev, &etb);
    rt_summary(1, 0);
    if (outermost)
        rt_stop(1);
    api->PyErr_Restore(et, ev, etb);
}

static int rt_by_count(const void *a, const void *b)
{
    const struct rt_type *x = *(const struct rt_type *const *)a;
    const struct rt_type *y = *(const struct rt_type *const *)b;
    if (x->live != y->live)
        return x->live > y->live ? -1 : 1;
    return strcmp(shim_type_name(x->type), shim_type_name(y->type));
}

/* "live <count> <type>" for every logged type with objects alive. */
static void rt_live_counts(void)
{
    size_t n = 0;
    for (size_t i = 0; rt_table && i <= rt_mask; i++)
        n += rt_table[i].type && rt_table[i].type != RT_GONE && rt_table[i].log &&
             rt_table[i].live > 0;
    char head[96];
    snprintf(head, sizeof head, "objects alive at the end, per type: %zu type%s", n,
             n == 1 ? "" : "s");
    rt_say_line("MSG", head);
    if (!n)
        return;
    struct rt_type **v = mmap(NULL, n * sizeof *v, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED)
        return;
    size_t k = 0;
    for (size_t i = 0; i <= rt_mask; i++)
        if (rt_table[i].type && rt_table[i].type != RT_GONE && rt_table[i].log &&
            rt_table[i].live > 0)
            v[k++] = &rt_table[i];
    qsort(v, k, sizeof *v, rt_by_count);
    for (size_t i = 0; i < k; i++) {
        char text[PMT_FIELD_MAX];
        const char *name = shim_type_name(v[i]->type);
        snprintf(text, sizeof text, "live %lld %s", (long long)v[i]->live, name ? name : "?");
        rt_say_line("MSG", text);
    }
    munmap(v, n * sizeof *v);
}

static void rt_collect(int generation)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *gen = api->PyLong_FromLong(generation);
    pmt_obj *res = gen ? pmt_call("gc", "collect", gen) : NULL;
    if (res)
        api->Py_DecRef(res);
    if (gen)
        api->Py_DecRef(gen);
    else
        api->PyErr_Clear();
}

/* Python threads other than the caller's that still have a thread state. */
static int rt_other_threads(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_tstate *self = api->PyThreadState_Get();
    int n = 0;
    for (pmt_tstate *ts = api->PyInterpreterState_ThreadHead(api->PyInterpreterState_Main()); ts;
         ts = api->PyThreadState_Next(ts))
        n += ts != self;
    return n;
}

/* The end of a log: gc.collect while still tracing, then the live counts.
 * At exit (the agent's atexit callback, the last one to run) the only
 * threads left are daemon threads (and C threads' states): CPython stops
 * them before its own final collection. Collecting now instead would run
 * finalizers while they still run, and a finalizer that joins one would
 * wait for ever (test_threading's PythonFinalizationError case on 3.14):
 * then the collection is left to CPython and the line says why. */
static void rt_summary(int python_usable, int at_exit)
{
    if (python_usable) {
        rt_poll();
        if (pmt.cfg.gc_collect_on_exit >= 0) {
            char text[200];
            int others = at_exit ? rt_other_threads() : 0;
            if (others)
                snprintf(text, sizeof text,
                         "gc.collect(%d) not run: %d other Python thread%s still alive at exit (daemon), "
                         "which finalizers run now could wait for",
                         pmt.cfg.gc_collect_on_exit, others, others == 1 ? " is" : "s are");
            else
                snprintf(text, sizeof text, "gc.collect(%d)", pmt.cfg.gc_collect_on_exit);
            rt_say_line("MSG", text);
            if (!others)
                rt_collect(pmt.cfg.gc_collect_on_exit);
        }
    }
    rt_live_counts();
}

static void rt_stop(int python_usable)
{
    rt_on = 0;
    if (python_usable) {
        rt_tm_unwatch();
        void *data;
        /* The program's tracer, if any, gets the slot back. */
        if (pmt.py.api.PyRefTracer_GetTracer(&data) == rt_tracer)
            rt_set_slot(rt_next, rt_next_data);
    }
    rt_next = NULL;
}

void rt_finish(int python_usable)
{
    if (!rt_on)
        return;
    rt_summary(python_usable, 1);
    rt_stop(python_usable);
}
