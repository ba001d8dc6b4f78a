/* function: PYMEMTRACE_FUNCTION. See function.h.
 *
 * Why an evaluation function and not the profile hook everywhere: the hook
 * machinery alone costs CPython 1.7x (bench/, "floor profile"), where a
 * frame-evaluation function that finds the code in a cache and calls the
 * default evaluator costs a few nanoseconds per Python call.
 *
 * Sessions. A matching frame on a thread with no session opens one: logs
 * at depth 0 (one per mode), the hooks set on that thread only
 * (PyEval_SetProfile/SetTrace), so the first event is the function's own
 * CALL and, after the frame has returned or raised, the last is its
 * RETURN. A matching frame inside a session on the same thread (recursion,
 * or two listed functions nesting) sets the current logs aside with a MSG
 * line, opens logs one level deeper (the name's depth field), and when it
 * returns closes them and puts the outer ones back with another MSG line:
 * each log holds its own call, as with nested pymemtrace decorators. A
 * matching frame on another thread while a session runs is not traced (a
 * MSG line in the running log says so): the hooks write to one set of logs.
 * Generators and coroutines: each resume is a frame evaluation, so each
 * resume of a matching one is a call of its own (its log runs from the
 * resume to the next yield or the end).
 *
 * How calls are seen. On 3.11+ any frame-evaluation function stops CPython
 * from inlining Python-to-Python calls, which costs call-heavy code up to
 * 1.8x even where no listed function is ever called. So on 3.12+, which
 * have function watchers, the agent installs none (except on 3.14, see
 * shim.h's watch_calls): a watcher sees each
 * function object made (and those already made, once, at start), decides
 * its code once, and gives only a matching function a vectorcall of the
 * agent's own (PyFunction_SetVectorcall, which also keeps the interpreter
 * from specialising or inlining calls to it). That wrapper brackets the
 * call exactly as the evaluation function does. Generators and coroutines
 * need every resume, which only an evaluation function sees: the first
 * matching one switches to it (as on 3.8-3.11), and the wrappers then step
 * aside. */
#include "agent/function.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/logset.h"
#include "agent/modes.h"
#include "agent/pycall.h"
#include "agent/rss.h"
#include "agent/sites.h"
#include "agent/threads.h"
#include "agent/writer.h"
#include "config/funcspec.h"

#define FN_MAX_DEPTH 32  /* deeper matching calls stay in the depth-31 log */
#define FN_ANNOUNCE 16   /* calls whose log paths are said on stderr */

/* A session opens the logs of the modes with an event log (pmt.logs, by
 * slot); a mode with a per-thread hook has it set on the session's thread,
 * one with session steps (reftrace's tracer) takes them. */

static struct fs_spec fn_spec;
static void *fn_prev;          /* the evaluation function ours replaced, called by ours */
static int fn_installed;       /* ours is the evaluation function */
static int fn_watcher = -1;    /* the function watcher (3.12+), while no evaluation function */
static int fn_finished;        /* the process is ending: no more sessions */
static pmt_vectorcall_fn fn_plain_vectorcall; /* a Python function's own */
static int fn_broken;          /* a log could not be created: said once, no more sessions */
static pmt_tstate *fn_owner;   /* the thread of the running session */
static int fn_depth;           /* sessions open on fn_owner, 0: none */
static int fn_capped;          /* the deepest log said a deeper call stays in it */
static int fn_deep_said;       /* the running session said its hooks paused (deep recursion) */
static char *fn_session_sp;    /* the C stack where the running session began */
static unsigned fn_sessions;   /* sessions opened in this process */
/* fn_saved[d]: the logs of the call at depth d while a deeper one runs;
 * fn_mem[d]: the buffers of depth d's logs, mapped once, reused. */
static struct pmt_log fn_saved[FN_MAX_DEPTH][PMT_NLOGS];
static char *fn_mem[FN_MAX_DEPTH][PMT_NLOGS];

static struct pmt_log *fn_log(int i)
{
    return &pmt.logs[i];
}

static const struct pmt_mode_row *fn_row(int i)
{
    return pmt_mode_of_log(i);
}

static int fn_mode_on(int i)
{
    return (pmt.cfg.modes & fn_row(i)->bit) != 0;
}

/* Each traced call's session steps of the modes that have them. */
static void fn_sessions_step(int begin, int outermost)
{
    for (int i = 0; i < PMT_NLOGS; i++) {
        const struct pmt_mode_row *row = fn_row(i);
        void (*step)(int) = begin ? row->session_begin : row->session_end;
        if (fn_mode_on(i) && step)
            step(outermost);
    }
}

/* ---- the decision, once per code object ------------------------------------ */

static const char *fn_copy_utf8(pmt_obj *s, char *buf, size_t cap)
{
    const char *u = s ? pmt.py.api.PyUnicode_AsUTF8(s) : NULL;
    if (!u || strlen(u) >= cap)
        return NULL;
    return memcpy(buf, u, strlen(u) + 1);
}

/* 3.8-3.10 code objects have no co_qualname: the function object that runs
 * the code has it, found among the code's referrers (gc.get_referrers, once
 * per candidate code object: one whose co_name is a listed last component). */
static const char *fn_qualname_of_function(pmt_obj *code, char *buf, size_t cap)
{
    const struct pmt_capi *api = &pmt.py.api;
    const char *q = NULL;
    pmt_obj *list = pmt_call("gc", "get_referrers", code);
    ptrdiff_t n = list ? api->PyList_Size(list) : 0;
    for (ptrdiff_t i = 0; i < n && !q; i++) {
        pmt_obj *f = api->PyList_GetItem(list, i);
        if (!f || shim_type_of(f) != api->function_type)
            continue;
        pmt_obj *c = api->PyObject_GetAttrString(f, "__code__");
        if (c == code) {
            pmt_obj *name = api->PyObject_GetAttrString(f, "__qualname__");
            q = fn_copy_utf8(name, buf, cap);
            if (name)
                api->Py_DecRef(name);
        }
        if (c)
            api->Py_DecRef(c);
    }
    if (list)
        api->Py_DecRef(list);
    return q;
}

static const char *fn_qualname(pmt_obj *code, char *buf, size_t cap)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *q = api->PyObject_GetAttrString(code, "co_qualname"); /* 3.11+ */
    if (!q) {
        api->PyErr_Clear();
        return fn_qualname_of_function(code, buf, cap);
    }
    const char *s = fn_copy_utf8(q, buf, cap);
    api->Py_DecRef(q);
    return s;
}

/* The module: the globals' __name__ (the frame's or the function's), when
 * the code is first seen. */
static const char *fn_module(pmt_obj *globals, char *buf, size_t cap)
{
    pmt_obj *name = globals ? pmt.py.api.PyDict_GetItemString(globals, "__name__") : NULL;
    return fn_copy_utf8(name, buf, cap);
}

/* site->match values besides -1 (undecided) and 0 */
enum { FN_MATCH = 1, FN_MATCH_GENERATOR = 2 };

/* Generators, coroutines and async generators (co_flags CO_GENERATOR 0x20,
 * CO_COROUTINE 0x80, CO_ASYNC_GENERATOR 0x200): their calls are not
 * sessions, their resumes are (see the top of this file). */
static int fn_is_generator(pmt_obj *code)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_busy++;
    pmt_obj *flags = api->PyObject_GetAttrString(code, "co_flags");
    long v = flags ? api->PyLong_AsLong(flags) : 0;
    if (flags)
        api->Py_DecRef(flags);
    api->PyErr_Clear();
    pmt_busy--;
    return v > 0 && (v & (0x20 | 0x80 | 0x200)) != 0;
}

static __attribute__((noinline)) int fn_decide(struct pmt_site *site, pmt_obj *code,
                                               pmt_obj *globals)
{
    unsigned need = fs_needs(&fn_spec, site->func);
    if (!need)
        return site->match = 0;
    const struct pmt_capi *api = &pmt.py.api;
    char qbuf[1024], mbuf[512];
    const char *qualname = NULL, *module = NULL;
    pmt_obj *et, *ev, *etb;
    pmt_busy++;
    api->PyErr_Fetch(&et, &ev, &etb);
    if (need & FS_NEED_QUALNAME)
        qualname = fn_qualname(code, qbuf, sizeof qbuf);
    if (need & FS_NEED_MODULE)
        module = fn_module(globals, mbuf, sizeof mbuf);
    int generator = fn_is_generator(code);
    api->PyErr_Clear();
    api->PyErr_Restore(et, ev, etb);
    pmt_busy--;
    /* A relative co_filename (3.8's __main__, run as "python app.py") is
     * taken relative to the current folder, so that a path suffix with a
     * folder in it still matches. */
    const char *file = site->file;
    char abs[4096];
    if (file[0] != '/' && file[0] != '<' && getcwd(abs, sizeof abs)) {
        size_t n = strlen(abs);
        if (n + 1 + strlen(file) < sizeof abs) {
            abs[n] = '/';
            strcpy(abs + n + 1, file);
            file = abs;
        }
    }
    if (!fs_match(&fn_spec, site->func, qualname, module, file))
        return site->match = 0;
    return site->match = generator ? FN_MATCH_GENERATOR : FN_MATCH;
}

/* The hot path: a matching frame's site, else NULL. */
static inline __attribute__((always_inline)) const struct pmt_site *fn_wanted(const void *frame)
{
    if (__builtin_expect(pmt_busy || !pmt.active, 0))
        return NULL;
    pmt_obj *code = shim_eval_code(&pmt.py, frame);
    const struct pmt_site *site = code ? pmt_site_of(code) : NULL;
    if (__builtin_expect(!site, 0))
        return NULL;
    int match = site->match;
    if (__builtin_expect(match < 0, 0)) /* sites are the hooks' writable memory */
        match = fn_decide((struct pmt_site *)site, code, shim_eval_globals(&pmt.py, frame));
    /* 3.11+ evaluate a generator function's call up to RETURN_GENERATOR, an
     * empty session: only its resumes (frames the generator owns) count. */
    if (match == FN_MATCH_GENERATOR && shim_eval_frame_owned_by_thread(&pmt.py, frame))
        return NULL;
    return match ? site : NULL;
}

/* ---- sessions --------------------------------------------------------------- */

static void fn_set_hooks(int on)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *et, *ev, *etb;
    pmt_busy++; /* PyEval_SetProfile raises an audit event */
    api->PyErr_Fetch(&et, &ev, &etb);
    for (int i = 0; i < PMT_NLOGS; i++) {
        pmt_tracefunc hook = pmt_mode_hook(fn_row(i));
        if (fn_mode_on(i) && hook)
            pmt_threads_set_current(fn_row(i), on ? hook : NULL);
    }
    api->PyErr_Clear();
    api->PyErr_Restore(et, ev, etb);
    pmt_busy--;
}

static void fn_msg_all(const char *text)
{
    for (int i = 0; i < PMT_NLOGS; i++)
        if (fn_mode_on(i))
            pmt_logs_msg(fn_log(i), text);
}

/* Opens the logs of a call at depth into pmt.logs; 0, or -1 with none open. */
static int fn_open(unsigned depth)
{
    uint32_t tid = pmt_thread_id();
    pmt_logs_info_for_thread(tid);
    int quiet = pmt.cfg.quiet;
    pmt.cfg.quiet = quiet || fn_sessions >= FN_ANNOUNCE;
    int rc = 0;
    for (int i = 0; i < PMT_NLOGS && rc == 0; i++) {
        if (!fn_mode_on(i))
            continue;
        struct pmt_log *lg = fn_log(i);
        lg->sink.mem = fn_mem[depth][i];
        rc = tracelog_open(lg, &pmt.env, &fn_row(i)->kind, depth, pmt_site_line, pmt_ticks_us,
                           &pmt.ordinal, pmt_clock_us(), tid);
        fn_mem[depth][i] = lg->sink.mem;
        if (rc != 0)
            for (int j = 0; j < i; j++)
                if (fn_mode_on(j))
                    tracelog_close(fn_log(j));
    }
    pmt.cfg.quiet = quiet;
    if (rc != 0) {
        fn_broken = 1; /* said by tracelog_open */
        return -1;
    }
    if (++fn_sessions == FN_ANNOUNCE && !quiet)
        pmt_say("further PYMEMTRACE_FUNCTION logs go to the same folder without being announced",
                NULL);
    return 0;
}

static void fn_close_all(void)
{
    for (int i = 0; i < PMT_NLOGS; i++)
        if (fn_mode_on(i))
            tracelog_close(fn_log(i));
}

/* Sets the current logs aside (depth fn_depth - 1) and opens deeper ones. */
static int fn_detach(const struct pmt_site *site)
{
    char text[400];
    unsigned outer = (unsigned)fn_depth - 1, inner = (unsigned)fn_depth;
    snprintf(text, sizeof text, "detached: %s called on this thread; its call is logged at depth %u",
             site->func, inner);
    fn_msg_all(text);
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (!fn_mode_on(i))
            continue;
        tracelog_flush(fn_log(i));
        sink_drain(&fn_log(i)->sink); /* the writer holds pointers into pmt.logs */
        fn_saved[outer][i] = *fn_log(i);
    }
    if (fn_open(inner) == 0)
        return 0;
    for (int i = 0; i < PMT_NLOGS; i++)
        if (fn_mode_on(i))
            *fn_log(i) = fn_saved[outer][i];
    fn_broken = 0; /* the outer call goes on being logged */
    fn_msg_all("the deeper call could not be logged; it is part of this log");
    return -1;
}

static void fn_reattach(void)
{
    unsigned outer = (unsigned)fn_depth - 2;
    char text[160];
    fn_capped = 0;
    fn_close_all();
    writer_drain();
    struct pmt_log *reopen = NULL;
    for (int i = 0; i < PMT_NLOGS; i++)
        if (fn_mode_on(i)) {
            *fn_log(i) = fn_saved[outer][i];
            if (!reopen && fn_log(i)->state == PMT_LOG_REOPEN)
                reopen = fn_log(i);
        }
    if (reopen && !pmt_log_failed) /* a fork child's own logs of the outer call, all opened now */
        pmt_logs_reopen(reopen);
    snprintf(text, sizeof text, "re-attached: the call logged at depth %u returned", outer + 1);
    fn_msg_all(text);
}

static pmt_tstate *fn_current_tstate(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    return api->_PyThreadState_UncheckedGet ? api->_PyThreadState_UncheckedGet()
                                            : api->PyThreadState_GetUnchecked();
}

/* A matching frame is about to be evaluated: 1 if a session (or a deeper
 * one) began, and fn_leave must end it. */
static __attribute__((noinline)) int fn_enter(pmt_tstate *ts, const struct pmt_site *site)
{
    if (pmt_log_failed || fn_broken || fn_finished)
        return 0;
    if (fn_depth == 0) {
        if (fn_open(0) != 0)
            return 0;
        fn_deep_said = 0;
        fn_session_sp = __builtin_frame_address(0);
        fn_owner = ts;
        fn_depth = 1;
        fn_set_hooks(1);
        fn_sessions_step(1, 1);
        return 1;
    }
    if (ts != fn_owner) {
        char text[400];
        snprintf(text, sizeof text,
                 "not traced: %s called on another thread (native id %u) while this log traces "
                 "this call",
                 site->func, pmt_thread_id());
        fn_msg_all(text);
        return 0;
    }
    if (fn_depth >= FN_MAX_DEPTH) {
        /* Once per deepest log, not once per call: deep recursion would
         * otherwise write a line per level. */
        if (!fn_capped) {
            char text[400];
            snprintf(text, sizeof text,
                     "not detached: %s called at depth %d, past the %d nested logs a thread may "
                     "have; this and deeper calls are part of this log",
                     site->func, fn_depth, FN_MAX_DEPTH);
            fn_msg_all(text);
            fn_capped = 1;
        }
        return 0;
    }
    if (fn_detach(site) != 0)
        return 0;
    fn_depth++;
    return 1;
}

static __attribute__((noinline)) void fn_leave(void)
{
    if (fn_depth == 0) /* ended meanwhile (exit, a failed write) */
        return;
    fn_sessions_step(0, fn_depth == 1); /* still tracing: gc.collect, live counts */
    if (fn_depth == 1) {
        fn_set_hooks(0);
        fn_close_all();
        fn_owner = NULL;
    } else {
        fn_reattach();
    }
    fn_depth--;
}

/* ---- deep recursion ------------------------------------------------------------
 * The evaluation function makes every Python call a C call (3.11+ stop
 * inlining Python-to-Python calls while one is set) and the vectorcall
 * wrapper is one: a recursion 20,000 deep that runs without the agent
 * overflowed the C stack (3.11) or met CPython's C recursion limit (3.12:
 * RecursionError at ~750 frames). So the agent steps aside below a deep
 * frame until it returns: on 3.11+ once a thread's C stack below its first
 * evaluated frame passes FN_DEEP_STACK, the evaluation function leaves the
 * interpreter (every thread's deeper calls are then inlined again and not
 * looked at: a listed function first called there is not traced); past
 * FN_NEST_WRAP nested calls through the wrapper, the wrapped function gets
 * CPython's own vectorcall back. Before 3.11 every Python call is a C call
 * anyway, but a profile function costs C stack on every frame too (158
 * bytes on 3.10, as under cProfile): there the agent steps aside only in a
 * session, FN_DEEP_HOOKED below the session's first frame, and the
 * session's hooks pause below that frame: its events are not logged (the
 * log says so once); an RSS change made there shows at the next logged
 * event. A session's calls deeper than FN_MAX_DEPTH were in its deepest log
 * anyway. The common path stays a tail call: no stack of the agent's per
 * frame. */
#define FN_DEEP_STACK (256 * 1024)
#define FN_DEEP_HOOKED (48 * 1024)
#define FN_NEST_WRAP 200
static __thread char *fn_stack_base __attribute__((tls_model("initial-exec")));
static __thread int fn_nest __attribute__((tls_model("initial-exec")));
static int fn_aside;          /* the evaluation function is out for a deep frame */
static int fn_hooks_paused;   /* a session's hooks are out below a deep frame */

typedef pmt_obj *(*fn_eval_ts)(pmt_tstate *ts, void *frame, int throwflag);
typedef pmt_obj *(*fn_eval_frame)(void *frame, int throwflag);
static pmt_obj *fn_eval_with_tstate(pmt_tstate *ts, void *frame, int throwflag);
static pmt_obj *fn_eval_frame_only(void *frame, int throwflag);

static void *fn_evaluator(void)
{
    return pmt.py.layout.eval_kind == PMT_EVAL_FRAME_ONLY ? (void *)fn_eval_frame_only
                                                          : (void *)fn_eval_with_tstate;
}

/* Whether to step aside at this frame (sp: the evaluation function's own). */
static inline int fn_deep(char *sp)
{
    if (pmt.py.version.minor >= 11) {
        if (__builtin_expect(!fn_stack_base, 0))
            fn_stack_base = sp;
        return fn_stack_base - sp > FN_DEEP_STACK && !fn_aside;
    }
    return __builtin_expect(fn_depth > 0, 0) && fn_session_sp - sp > FN_DEEP_HOOKED && !fn_hooks_paused &&
           fn_current_tstate() == fn_owner;
}

static __attribute__((noinline)) pmt_obj *fn_eval_deep(pmt_tstate *ts, void *frame, int throwflag,
                                                       int with_ts)
{
    int took = fn_installed && !fn_aside;
    if (took) {
        shim_eval_remove(&pmt.py, fn_evaluator(), fn_prev);
        fn_aside = 1;
    }
    if (!ts)
        ts = fn_current_tstate();
    int paused = fn_depth > 0 && ts == fn_owner && pmt.py.version.minor < 11 && !fn_hooks_paused;
    if (paused) {
        if (!fn_deep_said) {
            fn_msg_all("not logged: the calls below this point of a deep recursion (the C stack is "
                       "the program's); their RSS changes show at the next logged event");
            fn_deep_said = 1;
        }
        fn_hooks_paused = 1;
        fn_set_hooks(0);
    }
    pmt_obj *res = with_ts ? ((fn_eval_ts)fn_prev)(ts, frame, throwflag)
                           : ((fn_eval_frame)fn_prev)(frame, throwflag);
    if (paused) {
        fn_hooks_paused = 0;
        if (fn_depth > 0 && ts == fn_owner)
            fn_set_hooks(1);
    }
    if (took && fn_aside) {
        fn_aside = 0;
        if (!fn_finished) {
            void *prev;
            char why[8];
            shim_eval_install(&pmt.py, fn_evaluator(), &prev, why, sizeof why);
        }
    }
    return res;
}

static pmt_obj *fn_eval_with_tstate(pmt_tstate *ts, void *frame, int throwflag)
{
    if (__builtin_expect(fn_deep(__builtin_frame_address(0)), 0))
        return fn_eval_deep(ts, frame, throwflag, 1);
    const struct pmt_site *site = fn_wanted(frame);
    if (__builtin_expect(!site, 1))
        return ((fn_eval_ts)fn_prev)(ts, frame, throwflag);
    shim_keep_calls_generic(&pmt.py, frame);
    int entered = fn_enter(ts, site);
    pmt_obj *res = ((fn_eval_ts)fn_prev)(ts, frame, throwflag);
    if (entered)
        fn_leave(); /* res NULL: it raised; the exception stays set */
    return res;
}

static pmt_obj *fn_eval_frame_only(void *frame, int throwflag)
{
    if (__builtin_expect(fn_deep(__builtin_frame_address(0)), 0))
        return fn_eval_deep(NULL, frame, throwflag, 0);
    const struct pmt_site *site = fn_wanted(frame);
    if (__builtin_expect(!site, 1))
        return ((fn_eval_frame)fn_prev)(frame, throwflag);
    int entered = fn_enter(fn_current_tstate(), site);
    pmt_obj *res = ((fn_eval_frame)fn_prev)(frame, throwflag);
    if (entered)
        fn_leave();
    return res;
}

/* ---- 3.12+: a vectorcall of our own on matching functions only ----------- */

static pmt_obj *fn_vectorcall(pmt_obj *func, pmt_obj *const *args, size_t nargsf, pmt_obj *kwnames)
{
    const struct pmt_site *site = NULL;
    if (!fn_installed && !pmt_busy && pmt.active) {
        pmt_obj *code = pmt.py.api.PyFunction_GetCode(func);
        site = code ? pmt_site_of(code) : NULL;
    }
    if (!site || site->match != FN_MATCH)
        return fn_plain_vectorcall(func, args, nargsf, kwnames);
    /* Again at each call: 3.12+'s MAKE_FUNCTION gives the function its
     * version after the watcher saw it, and a valid version lets the
     * interpreter specialise __getitem__, property getters and
     * __getattribute__ into inline calls that skip any vectorcall; setting
     * the vectorcall clears the version. A site's first execution is never
     * specialised, and comes here. */
    if (__builtin_expect(fn_nest >= FN_NEST_WRAP, 0)) {
        /* Deep recursion (above): deeper calls of this function go to
         * CPython's own vectorcall, which 3.12+ inline again. */
        pmt.py.api.PyFunction_SetVectorcall(func, fn_plain_vectorcall);
        pmt_obj *res = fn_plain_vectorcall(func, args, nargsf, kwnames);
        if (!fn_finished)
            pmt.py.api.PyFunction_SetVectorcall(func, fn_vectorcall);
        return res;
    }
    pmt.py.api.PyFunction_SetVectorcall(func, fn_vectorcall);
    fn_nest++;
    int entered = fn_enter(fn_current_tstate(), site);
    pmt_obj *res = fn_plain_vectorcall(func, args, nargsf, kwnames);
    if (entered)
        fn_leave(); /* res NULL: it raised; the exception stays set */
    fn_nest--;
    return res;
}

/* From here on the evaluation function sees every call (3.8-3.11 from the
 * start). 0, or -1 with the reason said. */
static int fn_use_evaluator(void)
{
    char why[256];
    if (fn_installed)
        return 0;
    if (shim_eval_install(&pmt.py, fn_evaluator(), &fn_prev, why, sizeof why) != 0) {
        pmt_say("PYMEMTRACE_FUNCTION: ", why, "; not tracing", NULL);
        return -1;
    }
    fn_installed = 1;
    return 0;
}

/* A function object with this code: decided once per code object; a
 * matching plain function gets our vectorcall, a matching generator or
 * coroutine function (or one whose vectorcall is already someone else's)
 * switches to the evaluation function; a function whose code changed to
 * one that does not match gets its own vectorcall back. */
static void fn_consider(pmt_obj *func, pmt_obj *code)
{
    const struct pmt_capi *api = &pmt.py.api;
    struct pmt_site *site = code ? (struct pmt_site *)pmt_site_of(code) : NULL;
    if (!site)
        return;
    int match = site->match >= 0 ? site->match : fn_decide(site, code, api->PyFunction_GetGlobals(func));
    pmt_vectorcall_fn now = shim_function_vectorcall(&pmt.py, func);
    if (!match) {
        if (now == fn_vectorcall)
            api->PyFunction_SetVectorcall(func, fn_plain_vectorcall);
        return;
    }
    if (now == fn_vectorcall)
        return;
    if (!fn_plain_vectorcall)
        fn_plain_vectorcall = now;
    if (match == FN_MATCH_GENERATOR || now != fn_plain_vectorcall) {
        if (fn_use_evaluator() != 0)
            fn_broken = 1;
        return;
    }
    api->PyFunction_SetVectorcall(func, fn_vectorcall);
}

static int fn_watch(int event, pmt_obj *func, pmt_obj *new_value)
{
    if (fn_installed || fn_finished || pmt_busy || !pmt.active || fn_broken)
        return 0;
    if (event == PMT_FUNC_EVENT_CREATE)
        fn_consider(func, pmt.py.api.PyFunction_GetCode(func));
    else if (event == PMT_FUNC_EVENT_MODIFY_CODE)
        fn_consider(func, new_value);
    return 0;
}

/* The functions made before the watcher, once (gc.get_objects()). */
static void fn_consider_existing(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_busy++;
    pmt_obj *list = pmt_call("gc", "get_objects", NULL);
    pmt_busy--;
    ptrdiff_t n = list ? api->PyList_Size(list) : 0;
    for (ptrdiff_t i = 0; i < n && !fn_installed && !fn_broken; i++) {
        pmt_obj *f = api->PyList_GetItem(list, i);
        if (f && shim_type_of(f) == api->function_type)
            fn_consider(f, api->PyFunction_GetCode(f));
    }
    if (list)
        api->Py_DecRef(list);
}

/* 0 when calls are watched this way; -1: use the evaluation function. */
static int fn_watch_functions(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (!pmt.py.layout.watch_calls || !api->PyFunction_AddWatcher || !api->PyFunction_ClearWatcher ||
        !api->PyFunction_SetVectorcall ||
        !api->PyFunction_GetCode || !api->PyFunction_GetGlobals)
        return -1;
    pmt_obj *et, *ev, *etb;
    api->PyErr_Fetch(&et, &ev, &etb);
    fn_watcher = api->PyFunction_AddWatcher(fn_watch);
    api->PyErr_Clear(); /* all watcher ids taken: the evaluation function instead */
    api->PyErr_Restore(et, ev, etb);
    if (fn_watcher < 0)
        return -1;
    fn_consider_existing();
    return 0;
}

/* ---- life cycle --------------------------------------------------------------- */

int fn_install(void)
{
    if (fs_parse(pmt.cfg.function, &fn_spec) != 0) { /* cfg_parse checked the count */
        pmt_say("PYMEMTRACE_FUNCTION: too many names; not tracing", NULL);
        return -1;
    }
    if (!pmt.py.api.function_type ||
        (!pmt.py.api._PyThreadState_UncheckedGet && !pmt.py.api.PyThreadState_GetUnchecked)) {
        pmt_say("PYMEMTRACE_FUNCTION: Python ", pmt.py.version.text,
                " lacks PyFunction_Type or a thread-state getter; not tracing", NULL);
        return -1;
    }
    if (fn_watch_functions() == 0)
        return fn_broken ? -1 : 0;
    return fn_use_evaluator();
}

void fn_finish(int python_usable)
{
    if (fn_depth > 0) {
        while (fn_depth > 1) {
            fn_msg_all("tracing ended (the process is ending) inside this call");
            fn_reattach();
            fn_depth--;
        }
        fn_msg_all("tracing ended (the process is ending) inside this call");
        fn_depth = 0;
        fn_owner = NULL;
    }
    fn_finished = 1; /* our vectorcalls now only forward */
    if (python_usable && fn_watcher >= 0) {
        pmt.py.api.PyFunction_ClearWatcher(fn_watcher);
        fn_watcher = -1;
    }
    if (python_usable && fn_installed) {
        shim_eval_remove(&pmt.py, fn_evaluator(), fn_prev);
        fn_installed = 0;
    }
}

void fn_before_exec(void)
{
    for (int d = 0; d + 1 < fn_depth; d++)
        for (int i = 0; i < PMT_NLOGS; i++)
            if (fn_mode_on(i))
                tracelog_close(&fn_saved[d][i]);
}

/* The outer calls' logs set aside are the parent's: in the child they are
 * to be opened anew (the child's pid in the name, the same depth) when
 * their call is re-attached, as the current ones are at the child's first
 * event. */
void fn_after_fork_child(void)
{
    for (int d = 0; d + 1 < fn_depth; d++)
        for (int i = 0; i < PMT_NLOGS; i++)
            if (fn_mode_on(i))
                tracelog_forget_after_fork(&fn_saved[d][i]);
}
