/* install: when and how the hooks go in and come out.
 *
 * The audit hook (added before Py_Initialize, see entry.c) watches for the
 * moment user code is about to run: in the python executable the "exec" of
 * the main code announced by a cpython.run_* event (CPYTHON-NOTES §2), in a
 * host that embeds Python the first event once the interpreter is
 * initialised. There, with the
 * GIL held on the main thread, the logs are opened and the profile/trace
 * functions set on every existing thread and, through threading.setprofile /
 * settrace, on every threading.Thread started later. An atexit callback
 * registered first (so it runs last of the atexit callbacks) closes the logs
 * at the last point Python is still usable (NOTES §6). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/function.h"
#include "agent/native.h"
#include "agent/reftrace.h"
#include "agent/rss.h"
#include "agent/sampler.h"
#include "agent/selfcheck.h"
#include "agent/writer.h"

__thread int pmt_busy __attribute__((tls_model("initial-exec")));

/* The hook of each log (selfcheck.h: the checked ones with PYMEMTRACE_CHECK). */
#define in_hooks(log) chk_hook(log)
static const unsigned in_modes[PMT_NLOGS] = {PMT_MODE_PROFILE, PMT_MODE_TRACE,
                                             PMT_MODE_REFTRACE};

/* ---- setting a hook on every thread ------------------------------------- */

static void in_set_current(int log, pmt_tracefunc f)
{
    if (log == PMT_LOG_PROFILE)
        pmt.py.api.PyEval_SetProfile(f, NULL);
    else
        pmt.py.api.PyEval_SetTrace(f, NULL);
}

/* Every thread that exists now. 3.12+ has an API for it; 3.9-3.11 export
 * _PyEval_SetProfile/_PyEval_SetTrace(tstate, ...); 3.8 has neither, so the
 * current thread state is swapped to each thread in turn (the GIL is held
 * throughout, and the other threads are blocked waiting for it). */
static void in_set_all_threads(int log, pmt_tracefunc f)
{
    const struct pmt_capi *api = &pmt.py.api;
    void (*all)(pmt_tracefunc, pmt_obj *) =
        log == PMT_LOG_PROFILE ? api->PyEval_SetProfileAllThreads : api->PyEval_SetTraceAllThreads;
    if (all) {
        all(f, NULL);
        return;
    }
    int (*one)(pmt_tstate *, pmt_tracefunc, pmt_obj *) =
        log == PMT_LOG_PROFILE ? api->_PyEval_SetProfile : api->_PyEval_SetTrace;
    pmt_tstate *self = api->PyThreadState_Get();
    pmt_interp *interp = api->PyInterpreterState_Main();
    for (pmt_tstate *ts = api->PyInterpreterState_ThreadHead(interp); ts;
         ts = api->PyThreadState_Next(ts)) {
        if (ts == self) {
            in_set_current(log, f);
        } else if (one) {
            if (one(ts, f, NULL) < 0)
                api->PyErr_Clear();
        } else {
            api->PyThreadState_Swap(ts);
            in_set_current(log, f);
            api->PyThreadState_Swap(self);
        }
    }
}

/* ---- threads started later ------------------------------------------------
 * Where the interpreter has a setter for another thread's hook
 * (_PyEval_SetProfile: 3.9+; _PyEval_SetTrace: 3.9-3.12), a new thread gets
 * the C hook on its thread state before it runs any Python: CPython makes a
 * new thread's state in the thread that starts it, before pthread_create,
 * so the agent's pthread_create (GIL held) finds it at the head of the
 * interpreter's list, newer than any it has seen (thread state ids only
 * grow). Every audit event looks again, for thread states made otherwise
 * (a C thread's PyGILState_Ensure). This also covers threads started with
 * _thread.start_new_thread, and leaves threading's module globals alone.
 *
 * It replaces threading's hooks there for a reason: with threading's
 * _profile_hook/_trace_hook set, every new thread calls sys.setprofile/
 * settrace, and on 3.10 and 3.11 those keep one process-wide "being
 * installed" flag (CPython gh-98257, fixed in 3.12): when a Python audit
 * hook lets another thread run meanwhile (CPython's regrtest adds one), a
 * thread starting then dies in Thread._bootstrap_inner with "RuntimeError:
 * Cannot install a trace function while another trace function is being
 * installed" before its target runs. Seen in test_threading under trace
 * mode on 3.10. A setter call of the agent's that meets that flag fails
 * instead, quietly, and is tried again at the next look.
 *
 * Elsewhere (3.8; trace on 3.13+) threading's hooks remain: Thread.
 * _bootstrap_inner calls sys.setprofile(threading._profile_hook) (settrace
 * with _trace_hook) in each new thread; the first event there reaches a C
 * callable of ours through CPython's Python-level trampoline, which we then
 * replace by the C hook itself, recording that first event. The agent never
 * imports threading itself: a program may depend on being the one that
 * imports it (CPython's test_threading checks that a thread started with
 * _thread can be the first to import it, and importing it early pulled a
 * dozen modules into sys.modules). The two module globals are set, as
 * threading.setprofile/settrace would set them, once threading is imported
 * and has defined them: at install when it already is, then at each import
 * audit event and in pthread_create (which Thread.start reaches with the
 * GIL held, before the new thread runs any Python) until done. A hook the
 * program set there itself is left alone. */

/* The setter of another thread's hook for a log, or NULL. */
static int (*in_thread_setter(int log))(pmt_tstate *, pmt_tracefunc, pmt_obj *)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (!api->PyThreadState_GetID)
        return NULL;
    return log == PMT_LOG_PROFILE ? api->_PyEval_SetProfile : api->_PyEval_SetTrace;
}

static int in_what_of(pmt_obj *name)
{
    static const char *const names[] = {"call", "exception", "line", "return",
                                        "c_call", "c_exception", "c_return", "opcode"};
    const char *s = name ? pmt.py.api.PyUnicode_AsUTF8(name) : NULL;
    for (int i = 0; s && i < 8; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    if (!s)
        pmt.py.api.PyErr_Clear();
    return PMT_WHAT_CALL;
}

static pmt_obj *in_first_event(int log, pmt_obj *args)
{
    if (!pmt_busy) {
        in_set_current(log, in_hooks(log));
        if (pmt.active && !pmt_log_failed) {
            pmt_obj *frame = pmt.py.api.PyTuple_GetItem(args, 0);
            pmt_obj *what = pmt.py.api.PyTuple_GetItem(args, 1);
            if (frame && what)
                pmt_hooks_record(log, (pmt_frame *)frame, in_what_of(what), NULL);
            else
                pmt.py.api.PyErr_Clear();
        }
    }
    pmt.py.api.Py_IncRef(pmt.py.api.none);
    return pmt.py.api.none;
}

static pmt_obj *in_thread_profile(pmt_obj *self, pmt_obj *args)
{
    (void)self;
    return in_first_event(PMT_LOG_PROFILE, args);
}

static pmt_obj *in_thread_trace(pmt_obj *self, pmt_obj *args)
{
    (void)self;
    return in_first_event(PMT_LOG_TRACE, args);
}

static pmt_obj *in_atexit(pmt_obj *self, pmt_obj *unused)
{
    (void)self;
    (void)unused;
    pmt_finish(1);
    pmt.py.api.Py_IncRef(pmt.py.api.none);
    return pmt.py.api.none;
}

static struct pmt_methoddef in_defs[] = {
    {"_pymemtrace_thread_profile", (void *)in_thread_profile, PMT_METH_VARARGS, NULL},
    {"_pymemtrace_thread_trace", (void *)in_thread_trace, PMT_METH_VARARGS, NULL},
    {"_pymemtrace_atexit", (void *)in_atexit, PMT_METH_NOARGS, NULL},
};

/* Which logs have hooks to give new threads. */
static int in_hooked(int log)
{
    return in_hooks(log) && pmt.logs[log].state == PMT_LOG_OPEN && !pmt.cfg.function;
}

/* Thread states up to this id have the hooks (or were there at install). */
static uint64_t in_tstates_seen;

static void in_hook_new_tstates(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    enum { MAX_NEW = 64 };
    pmt_tstate *fresh[MAX_NEW];
    int n = 0;
    if (!api->PyThreadState_GetID)
        return; /* 3.8: threading's hooks only */
    /* Newest first: collect those not seen, then hook them oldest first,
     * so that a failed call leaves the rest for the next look. */
    for (pmt_tstate *ts = api->PyInterpreterState_ThreadHead(api->PyInterpreterState_Main());
         ts && n < MAX_NEW; ts = api->PyThreadState_Next(ts)) {
        if (api->PyThreadState_GetID(ts) <= in_tstates_seen)
            break;
        fresh[n++] = ts;
    }
    while (n-- > 0) {
        for (int log = 0; log < PMT_NLOGS; log++) {
            int (*set)(pmt_tstate *, pmt_tracefunc, pmt_obj *) = in_thread_setter(log);
            if (in_hooked(log) && set && set(fresh[n], in_hooks(log), NULL) < 0) {
                api->PyErr_Clear(); /* gh-98257's flag (above): the next look tries again */
                return;
            }
        }
        in_tstates_seen = api->PyThreadState_GetID(fresh[n]);
    }
}

static int in_threading_done;

static void in_hook_threading(void)
{
    static const char *const globals[PMT_NLOGS] = {"_profile_hook", "_trace_hook", NULL};
    static pmt_obj *fns[PMT_NLOGS];
    const struct pmt_capi *api = &pmt.py.api;
    int wanted = 0;
    for (int i = 0; i < PMT_NLOGS; i++)
        wanted |= in_hooked(i) && !in_thread_setter(i);
    if (!wanted) {
        in_threading_done = 1;
        return;
    }
    pmt_obj *mod = api->PyDict_GetItemString(api->PyImport_GetModuleDict(), "threading");
    pmt_obj *dict = mod ? api->PyModule_GetDict(mod) : NULL;
    if (!dict) {
        api->PyErr_Clear();
        return;
    }
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (in_hooked(i) && !in_thread_setter(i) && !api->PyDict_GetItemString(dict, globals[i]))
            return; /* still being imported: the globals come after its own imports */
    }
    in_threading_done = 1;
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (!in_hooked(i) || in_thread_setter(i))
            continue;
        if (api->PyDict_GetItemString(dict, globals[i]) != api->none)
            continue; /* the program's own */
        if (!fns[i])
            fns[i] = api->PyCFunction_NewEx(&in_defs[i], NULL, NULL);
        if (!fns[i] || api->PyDict_SetItemString(dict, globals[i], fns[i]) != 0)
            api->PyErr_Clear();
    }
}

void pmt_hook_new_threads(void)
{
    if (!pmt.active || pmt.cfg.function)
        return;
    if (!in_threading_done)
        in_hook_threading();
    in_hook_new_tstates();
}

int pmt_new_threads_watched(void)
{
    /* No getpid() here (a system call per audit event): a forked child's
     * own logs are reopened at its first event, and its threads are its. */
    return pmt.active && !pmt.cfg.function && !pmt_busy &&
           (pmt.logs[PMT_LOG_PROFILE].state == PMT_LOG_OPEN ||
            pmt.logs[PMT_LOG_TRACE].state == PMT_LOG_OPEN);
}

/* Whether a module the agent imported may leave sys.modules again, so that
 * the program does not see it imported: builtin modules whose state is the
 * interpreter's, which a later import of the program's own finds again (gc;
 * atexit from 3.10, whose callbacks lived in the module's state before and
 * would be lost to a second import). */
static int in_may_forget(const char *module)
{
    return strcmp(module, "gc") == 0 ||
           (strcmp(module, "atexit") == 0 && pmt.py.version.minor >= 10);
}

pmt_obj *pmt_call(const char *module, const char *attr, pmt_obj *arg)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *modules = api->PyImport_GetModuleDict();
    int had = api->PyDict_GetItemString(modules, module) != NULL;
    pmt_obj *mod = api->PyImport_ImportModule(module);
    if (mod && !had && in_may_forget(module) && api->PyDict_DelItemString(modules, module) != 0)
        api->PyErr_Clear();
    pmt_obj *fn = mod ? api->PyObject_GetAttrString(mod, attr) : NULL;
    pmt_obj *res = !fn ? NULL
                   : arg ? api->PyObject_CallFunctionObjArgs(fn, arg, NULL)
                         : api->PyObject_CallFunctionObjArgs(fn, NULL);
    if (!res)
        api->PyErr_Clear();
    if (fn)
        api->Py_DecRef(fn);
    if (mod)
        api->Py_DecRef(mod);
    return res;
}

/* module.attr(fn) with a new C function object; 0 on success. */
static int in_call_with(const char *module, const char *attr, struct pmt_methoddef *def)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *fn = api->PyCFunction_NewEx(def, NULL, NULL);
    pmt_obj *res = fn ? pmt_call(module, attr, fn) : NULL;
    if (fn)
        api->Py_DecRef(fn);
    if (res)
        api->Py_DecRef(res);
    return res ? 0 : -1;
}

/* Our atexit callback, registered before any of the program's, so that it
 * runs last of them. */
static void in_register_atexit(void)
{
    in_call_with("atexit", "register", &in_defs[2]);
}

/* ---- SIGTERM ---------------------------------------------------------------
 * A process ended by SIGTERM with its default action (multiprocessing's
 * Pool.terminate(), a service manager) runs neither atexit nor destructors.
 * Where the program leaves SIGTERM at its default, the agent's handler
 * completes the logs (a MSG line saying so, LAST, EOF; no Python API), puts
 * the default back and raises the signal again, so the process still dies
 * of it. Python's signal module, which read the disposition at start-up,
 * goes on reporting SIG_DFL; a handler the program sets replaces ours. */

volatile int pmt_signal_pending;

static void in_end_by_signal(void)
{
    if (pmt.active && getpid() == pmt.owner) {
        for (int i = 0; i < PMT_NLOGS; i++) {
            const char *text = "killed by signal 15 (SIGTERM)";
            if (pmt.logs[i].ref)
                tracelog_ref_msg(&pmt.logs[i], "MSG", pmt_clock_us(), text);
            else
                tracelog_msg(&pmt.logs[i], pmt_clock_us(), text);
        }
        pmt_finish(0);
    }
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM); /* delivered once signals are unblocked: the default action */
}

static void in_on_sigterm(int sig)
{
    (void)sig;
    int saved = errno;
    /* A line being written when the signal came (on this thread or another):
     * its buffer is the interrupted code's; the writer finishes the line,
     * then pmt_write_end comes back here. */
    if (pmt_log_writing)
        pmt_signal_pending = 1;
    else
        in_end_by_signal();
    errno = saved;
}

void pmt_signal_resume(void)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pmt_signal_pending = 0;
    in_end_by_signal();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void in_watch_sigterm(void)
{
    struct sigaction old, sa;
    if (sigaction(SIGTERM, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) ||
        old.sa_handler != SIG_DFL)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = in_on_sigterm;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
}

/* ---- install ------------------------------------------------------------ */

static char in_rss_source[320];

void pmt_set_info(const char *rss_source, uint32_t tid)
{
    if (rss_source != in_rss_source)
        snprintf(in_rss_source, sizeof in_rss_source, "%s", rss_source);
    snprintf(pmt.info, sizeof pmt.info,
             "pymemtrace agent %s, pid %d, Python %s; %s; thread native_id=%u", PMT_VERSION,
             (int)getpid(), pmt.py.version.text, rss_source, tid);
}

void pmt_info_for_thread(uint32_t tid)
{
    pmt_set_info(in_rss_source, tid);
}

/* PYMEMTRACE_CHECK: each log ends with the self-check's summary. */
static void in_log_ending(struct pmt_log *lg)
{
    char text[320];
    chk_log_ending(lg);
    chk_summary(text, sizeof text);
    if (lg->ref)
        tracelog_ref_msg(lg, "MSG", pmt_clock_us(), text);
    else
        tracelog_msg(lg, pmt_clock_us(), text);
}

static void in_install(void)
{
    static const char *const names[PMT_NLOGS] = {"profile", "trace", "reftrace"};
    static const char letters[PMT_NLOGS] = {'P', 'T', 'O'};
    uint32_t tid = (uint32_t)syscall(SYS_gettid);
    int any = 0;

    pmt.installed = 1;
    pmt.owner = getpid();
    if (pmt.cfg.check) {
        pmt_log_ending_hook = in_log_ending;
        pmt_log_closed_hook = chk_log_closed;
    }
    if (pmt.cfg.modes & (PMT_MODE_PROFILE | PMT_MODE_TRACE | PMT_MODE_REFTRACE)) {
        char source[320];
        if (rss_open(pmt.cfg.rss_source, pmt_glibc_malloc(), source, sizeof source) != 0) {
            pmt_say("cannot open /proc/self/statm to read RSS; not tracing", NULL);
            return;
        }
        if (pmt.cfg.native_stack) {
            char why[128];
            size_t n = strlen(source);
            if (native_open(why, sizeof why) != 0) {
                pmt_say("PYMEMTRACE_NATIVE_STACK: ", why, "; logging without native stacks",
                        NULL);
                pmt.cfg.native_stack = 0;
            } else {
                snprintf(source + n, sizeof source - n,
                         "; NAT lines: up to %d native frames (libunwind)", pmt.cfg.native_stack);
            }
        }
        pmt_set_info(source, tid);
    }
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (!(pmt.cfg.modes & in_modes[i]))
            continue;
        if (pmt.cfg.function) {
            any = 1; /* opened by each call of the function (function.c) */
            continue;
        }
        if (tracelog_open(&pmt.logs[i], &pmt.env, letters[i], names[i], pmt_hooks_line,
                          pmt_ticks_us, &pmt.ordinal, pmt_clock_us(), tid) != 0) {
            /* Said on stderr. Nothing is installed: close what was opened. */
            for (int j = 0; j < i; j++)
                tracelog_close(&pmt.logs[j]);
            return;
        }
        any = 1;
    }
    /* After the event logs, which it must not delay: their numbers come first. */
    int sampling = (pmt.cfg.modes & PMT_MODE_SAMPLE) &&
                   sampler_open(&pmt.env, pmt.cfg.sample_interval_ns, &pmt.ordinal) == 0;
    if (!any && !sampling)
        return;
    /* The Python-level calls first, so that none of them is logged: the
     * first event of a log belongs to the program. */
    in_register_atexit();
    if (!any)
        return;
    if (pmt.cfg.function) {
        /* No hook anywhere until a traced function is called. */
        pmt.active = fn_install() == 0;
        if (pmt.active)
            in_watch_sigterm();
        return;
    }
    pmt.active = 1;
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (in_hooks(i) && pmt.logs[i].state == PMT_LOG_OPEN)
            in_set_all_threads(i, in_hooks(i));
    }
    /* The threads that exist now have the hooks; later ones get them as
     * they come (above). */
    if (pmt.py.api.PyThreadState_GetID)
        in_tstates_seen = pmt.py.api.PyThreadState_GetID(
            pmt.py.api.PyInterpreterState_ThreadHead(pmt.py.api.PyInterpreterState_Main()));
    pmt_hook_new_threads();
    if (pmt.logs[PMT_LOG_REF].state == PMT_LOG_OPEN)
        rt_start(rss_read());
    in_watch_sigterm();
}

void pmt_finish(int python_usable)
{
    sampler_finish();
    if (!pmt.active || getpid() != pmt.owner)
        return;
    if (pmt.cfg.modes & PMT_MODE_REFTRACE) {
        /* Still tracing: objects the collector frees show as DEL. */
        pmt_busy++;
        rt_finish(python_usable);
        pmt_busy--;
    }
    pmt.active = 0;
    if (pmt.cfg.function)
        fn_finish(python_usable); /* calls still running: the deeper logs first */
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (rss.mode == RSS_CHECK) {
            char text[256];
            int n = snprintf(text, sizeof text, "RSS check: %llu events, %llu differed from statm",
                             (unsigned long long)rss.checked, (unsigned long long)rss.mismatches);
            if (rss.mismatches && n > 0 && (size_t)n < sizeof text)
                snprintf(text + n, sizeof text - (size_t)n,
                         " (first at check %llu: %llu bytes, statm %llu)",
                         (unsigned long long)rss.first_mismatch,
                         (unsigned long long)rss.first_fast, (unsigned long long)rss.first_truth);
            if (pmt.logs[i].ref)
                tracelog_ref_msg(&pmt.logs[i], "MSG", pmt_clock_us(), text);
            else
                tracelog_msg(&pmt.logs[i], pmt_clock_us(), text);
        }
        tracelog_close(&pmt.logs[i]);
    }
    if (!python_usable)
        return;
    /* Take the hooks out: threads still running after atexit (daemons)
     * should not pay for a hook that no longer logs. */
    pmt_busy++;
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (in_hooks(i) && (pmt.cfg.modes & in_modes[i]))
            in_set_all_threads(i, NULL);
    }
    pmt_busy--;
}

/* exec replaces the image and runs no destructor: the log must be complete on
 * disk before. If exec fails, the program goes on and a new log opens. */
static void in_before_exec(void)
{
    sampler_finish(); /* not restarted if exec fails: the sampler has ended */
    if (!pmt.active || getpid() != pmt.owner)
        return;
    if (pmt.cfg.function)
        fn_before_exec();
    for (int i = 0; i < PMT_NLOGS; i++) {
        if (pmt.logs[i].state != PMT_LOG_OPEN)
            continue;
        tracelog_close(&pmt.logs[i]);
        if (pmt.logs[i].state == PMT_LOG_CLOSED)
            pmt.logs[i].state = PMT_LOG_REOPEN;
    }
}

/* What the python executable is about to run, from its cpython.run_* event:
 * the main code object's filename, "" for whatever is exec'd first, NULL
 * while no run_* event was seen. */
static const char *in_armed;

/* 1 when it is time to install. The python executable says what it will run
 * (cpython.run_*), compiles it, then raises "exec" with the code object just
 * before running it (3.8-3.13): installing there makes the main code's own
 * CALL the first event, after Python's preparations (the __main__ loader for
 * a script, 3.13's import of linecache for -c). For -m, runpy finds the
 * module, so tracing starts at run_module and runpy's events come first. */
static int in_time_to_install(const char *event, pmt_obj *args)
{
    if (!pmt.python_main)
        return pmt.py.api.Py_IsInitialized();
    if (strncmp(event, "cpython.run_", 12) == 0) {
        const char *what = event + 12;
        if (strcmp(what, "file") == 0)
            in_armed = "";
        else if (strcmp(what, "command") == 0)
            in_armed = "<string>";
        else if (strcmp(what, "stdin") == 0)
            in_armed = "<stdin>";
        else
            return 1; /* module, startup, interactivehook */
        return 0;
    }
    if (!in_armed || strcmp(event, "exec") != 0)
        return 0;
    if (!*in_armed)
        return 1;
    pmt_obj *code = pmt.py.api.PyTuple_GetItem(args, 0);
    const char *file = code ? pmt.py.api.PyUnicode_AsUTF8(shim_code_filename(&pmt.py, code)) : NULL;
    if (!file)
        pmt.py.api.PyErr_Clear();
    return file && strcmp(file, in_armed) == 0;
}

int pmt_audit_hook(const char *event, pmt_obj *args, void *data)
{
    (void)data;
    if (pmt_busy)
        return 0;
    if (__builtin_expect(pmt.installed, 1)) {
        if (event[0] == 'o' && strcmp(event, "os.exec") == 0)
            in_before_exec();
        if (pmt_new_threads_watched()) {
            pmt_busy++;
            pmt_hook_new_threads();
            pmt_busy--;
        }
        if (pmt.cfg.modes & PMT_MODE_REFTRACE) {
            pmt_busy++;
            rt_poll();
            pmt_busy--;
        }
        return 0;
    }
    pmt_busy++;
    if (in_time_to_install(event, args))
        in_install();
    pmt_busy--;
    return 0;
}

/* ---- agent threads across fork() -------------------------------------------
 * On 3.12+ os.fork() warns when the process has another thread (NOTES §6), so
 * the writer and the sampler end in the prepare handler. The writer starts
 * again at its next hand-over. The sampler is started again once os.fork()
 * has counted the threads: at once where it never warns (3.8-3.11); else
 * from a pending call, which runs on the main thread at a bytecode boundary.
 * 3.12 counts right after fork(), before any Python code can run, so the
 * first such boundary is late enough. 3.13 counts after the
 * os.register_at_fork(after_in_parent=...) callbacks, whose Python code
 * (logging's, for one) reaches such boundaries: there the pending call puts
 * itself back while the frame that called os.fork() is still in that call
 * (on the stack below the current frame, at the same instruction). */

static int in_sampler_paused;
static pmt_tstate *in_fork_ts;
static const void *in_fork_frame, *in_fork_instr;

void pmt_fork_prepare(void)
{
    const struct pmt_shim *py = &pmt.py;
    writer_stop();
    in_fork_frame = NULL;
    in_sampler_paused = sampler_before_fork();
    if (!in_sampler_paused || py->layout.tstate_frame < 0 || !py->api.PyThreadState_GetUnchecked)
        return;
    /* A thread state of its own: a Python thread with the GIL, in os.fork(). */
    in_fork_ts = py->api.PyThreadState_GetUnchecked();
    in_fork_frame = in_fork_ts ? shim_ts_frame(py, in_fork_ts) : NULL;
    in_fork_instr = in_fork_frame ? shim_iframe_instr(py, in_fork_frame) : NULL;
}

static int in_fork_counted(void)
{
    const struct pmt_shim *py = &pmt.py;
    if (!in_fork_frame || py->api.PyThreadState_GetUnchecked() != in_fork_ts)
        return 1; /* the main thread did not fork: the process has two threads anyway */
    const void *cur = shim_ts_frame(py, in_fork_ts);
    for (const void *f = cur; f; f = shim_iframe_previous(py, f))
        if (f == in_fork_frame)
            return f == cur || shim_iframe_instr(py, f) != in_fork_instr;
    return 1; /* the caller of os.fork() has returned */
}

static int in_resume_sampler(void *arg)
{
    (void)arg;
    if (!in_fork_counted() && pmt.py.api.Py_AddPendingCall(in_resume_sampler, NULL) == 0)
        return 0;
    in_fork_frame = NULL;
    sampler_resume();
    return 0;
}

void pmt_fork_parent(void)
{
    sampler_after_fork_parent();
    if (!in_sampler_paused)
        return;
    if (pmt.py.layout.fork_count == PMT_FORK_COUNT_NONE || !pmt.py.api.Py_AddPendingCall ||
        pmt.py.api.Py_AddPendingCall(in_resume_sampler, NULL) != 0)
        sampler_resume();
}
