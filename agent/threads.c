/* threads: see threads.h. */
#include "agent/threads.h"

#include <string.h>

#include "agent/agent.h"
#include "agent/hooks.h"

/* ---- setting a hook on every thread ------------------------------------- */

/* The setter of another thread's hook for a row, or NULL. */
static int (*th_setter(const struct pmt_mode_row *row))(pmt_tstate *, pmt_tracefunc, pmt_obj *)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (!api->PyThreadState_GetID || row->slot == PMT_HOOK_NONE)
        return NULL;
    return row->slot == PMT_HOOK_PROFILE ? api->_PyEval_SetProfile : api->_PyEval_SetTrace;
}

/* Setting a hook raises the sys.setprofile or sys.settrace audit event,
 * which the program's own audit hooks (sys.addaudithook) would take for
 * the program's doing. 3.9-3.11 raise it in the context of the current
 * thread state and skip it when there is none, and the setter does nothing
 * else that needs one (it sets the thread state's fields): it is called
 * with the current thread state set aside (the GIL stays held). Not on
 * 3.12, whose setter may instrument code and allocate, which needs the
 * current thread state. The setter's one failure (3.10, 3.11: another
 * thread is installing one, gh-98257) is set on the target thread's state,
 * and cleared there. Returns 0, -2 when the setter failed, -1 where this
 * cannot be done (3.8, 3.12+). */
static int th_set_quietly(const struct pmt_mode_row *row, pmt_tstate *ts, pmt_tracefunc f)
{
    const struct pmt_capi *api = &pmt.py.api;
    int (*set)(pmt_tstate *, pmt_tracefunc, pmt_obj *) = th_setter(row);
    if (!set || pmt.py.version.minor < 9 || pmt.py.version.minor > 11)
        return -1;
    pmt_tstate *self = api->PyThreadState_Swap(NULL);
    int rc = set(ts, f, NULL);
    if (rc < 0) {
        api->PyThreadState_Swap(ts);
        api->PyErr_Clear();
    }
    api->PyThreadState_Swap(self);
    return rc < 0 ? -2 : 0;
}

void pmt_threads_set_current(const struct pmt_mode_row *row, pmt_tracefunc f)
{
    if (row->slot == PMT_HOOK_NONE ||
        th_set_quietly(row, pmt.py.api.PyThreadState_Get(), f) != -1)
        return;
    if (row->slot == PMT_HOOK_PROFILE)
        pmt.py.api.PyEval_SetProfile(f, NULL);
    else
        pmt.py.api.PyEval_SetTrace(f, NULL);
}

void pmt_threads_set_on(const struct pmt_mode_row *row, pmt_tstate *ts, pmt_tracefunc f)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_tstate *self = api->PyThreadState_Get();
    int (*one)(pmt_tstate *, pmt_tracefunc, pmt_obj *) = th_setter(row);
    if (row->slot == PMT_HOOK_NONE)
        return;
    if (ts == self) {
        pmt_threads_set_current(row, f);
    } else if (th_set_quietly(row, ts, f) != -1) {
        return;
    } else if (one) {
        if (one(ts, f, NULL) < 0)
            api->PyErr_Clear();
    } else {
        api->PyThreadState_Swap(ts);
        pmt_threads_set_current(row, f);
        api->PyThreadState_Swap(self);
    }
}

/* Every thread that exists now. 3.12+ has an API for it; 3.9-3.11 export
 * _PyEval_SetProfile/_PyEval_SetTrace(tstate, ...); 3.8 has neither, so the
 * current thread state is swapped to each thread in turn (the GIL is held
 * throughout, and the other threads are blocked waiting for it). */
void pmt_threads_set_all(const struct pmt_mode_row *row, pmt_tracefunc f)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (row->slot == PMT_HOOK_NONE)
        return;
    int profile = row->slot == PMT_HOOK_PROFILE;
    void (*all)(pmt_tracefunc, pmt_obj *) =
        profile ? api->PyEval_SetProfileAllThreads : api->PyEval_SetTraceAllThreads;
    if (all) {
        all(f, NULL);
        return;
    }
    pmt_interp *interp = api->PyInterpreterState_Main();
    for (pmt_tstate *ts = api->PyInterpreterState_ThreadHead(interp); ts;
         ts = api->PyThreadState_Next(ts))
        pmt_threads_set_on(row, ts, f);
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

static int th_what_of(pmt_obj *name)
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

const struct pmt_mode_row *pmt_threads_row_of_slot(enum pmt_hook_slot slot)
{
    for (size_t i = 0; i < pmt_nmodes; i++)
        if (pmt_modes[i].slot == slot && (pmt.cfg.modes & pmt_modes[i].bit))
            return &pmt_modes[i];
    return NULL;
}

static pmt_obj *th_first_event(enum pmt_hook_slot slot, pmt_obj *args)
{
    const struct pmt_mode_row *row = pmt_threads_row_of_slot(slot);
    if (!pmt_busy && row) {
        pmt_threads_set_current(row, pmt_mode_hook(row));
        if (pmt.active && !pmt_log_failed) {
            pmt_obj *frame = pmt.py.api.PyTuple_GetItem(args, 0);
            pmt_obj *what = pmt.py.api.PyTuple_GetItem(args, 1);
            if (frame && what)
                pmt_hooks_record(row->log, (pmt_frame *)frame, th_what_of(what), NULL);
            else
                pmt.py.api.PyErr_Clear();
        }
    }
    pmt.py.api.Py_IncRef(pmt.py.api.none);
    return pmt.py.api.none;
}

static pmt_obj *th_first_profile(pmt_obj *self, pmt_obj *args)
{
    (void)self;
    return th_first_event(PMT_HOOK_PROFILE, args);
}

static pmt_obj *th_first_trace(pmt_obj *self, pmt_obj *args)
{
    (void)self;
    return th_first_event(PMT_HOOK_TRACE, args);
}

/* By slot: what threading's global is set to. */
static struct pmt_methoddef th_defs[] = {
    [PMT_HOOK_PROFILE] = {"_pymemtrace_thread_profile", (void *)th_first_profile,
                          PMT_METH_VARARGS, NULL},
    [PMT_HOOK_TRACE] = {"_pymemtrace_thread_trace", (void *)th_first_trace, PMT_METH_VARARGS,
                        NULL},
};

/* PyCFunctionObject.m_ml */
#define TH_CF_ML 16

int pmt_threads_own(pmt_obj *o)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (!o || shim_type_of(o) != api->cfunction_type)
        return 0;
    const void *ml = *(const void *const *)((const char *)o + TH_CF_ML);
    return ml == &th_defs[PMT_HOOK_PROFILE] || ml == &th_defs[PMT_HOOK_TRACE];
}

/* Whether a row has a hook to give new threads. */
static int th_hooked(const struct pmt_mode_row *row)
{
    return row->slot != PMT_HOOK_NONE && row->log >= 0 &&
           pmt.logs[row->log].state == PMT_LOG_OPEN && !pmt.cfg.function && !pmt.monitoring;
}

void (*pmt_threads_new_tstate)(pmt_tstate *ts);

/* Thread states up to this id have the hooks (or were there at install). */
static uint64_t th_tstates_seen;

static void th_hook_new_tstates(void)
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
        if (api->PyThreadState_GetID(ts) <= th_tstates_seen)
            break;
        fresh[n++] = ts;
    }
    while (n-- > 0) {
        if (pmt_threads_new_tstate)
            pmt_threads_new_tstate(fresh[n]);
        for (size_t i = 0; i < pmt_nmodes; i++) {
            const struct pmt_mode_row *row = &pmt_modes[i];
            int (*set)(pmt_tstate *, pmt_tracefunc, pmt_obj *) = th_setter(row);
            if (!th_hooked(row) || !set)
                continue;
            int rc = th_set_quietly(row, fresh[n], pmt_mode_hook(row));
            if (rc == -1 && (rc = set(fresh[n], pmt_mode_hook(row), NULL)) < 0)
                api->PyErr_Clear();
            if (rc < 0)
                return; /* gh-98257's flag (above): the next look tries again */
        }
        th_tstates_seen = api->PyThreadState_GetID(fresh[n]);
    }
}

static int th_threading_done;

/* Whether a row's new threads get their hook through threading's global. */
static int th_by_threading(const struct pmt_mode_row *row)
{
    return th_hooked(row) && !th_setter(row) && row->threading_global;
}

static void th_hook_threading(void)
{
    static pmt_obj *fns[3];
    const struct pmt_capi *api = &pmt.py.api;
    int wanted = 0;
    for (size_t i = 0; i < pmt_nmodes; i++)
        wanted |= th_by_threading(&pmt_modes[i]);
    if (!wanted) {
        th_threading_done = 1;
        return;
    }
    pmt_obj *mod = api->PyDict_GetItemString(api->PyImport_GetModuleDict(), "threading");
    pmt_obj *dict = mod ? api->PyModule_GetDict(mod) : NULL;
    if (!dict) {
        api->PyErr_Clear();
        return;
    }
    for (size_t i = 0; i < pmt_nmodes; i++) {
        const struct pmt_mode_row *row = &pmt_modes[i];
        if (th_by_threading(row) && !api->PyDict_GetItemString(dict, row->threading_global))
            return; /* still being imported: the globals come after its own imports */
    }
    th_threading_done = 1;
    for (size_t i = 0; i < pmt_nmodes; i++) {
        const struct pmt_mode_row *row = &pmt_modes[i];
        if (!th_by_threading(row))
            continue;
        if (api->PyDict_GetItemString(dict, row->threading_global) != api->none)
            continue; /* the program's own */
        if (!fns[row->slot])
            fns[row->slot] = api->PyCFunction_NewEx(&th_defs[row->slot], NULL, NULL);
        if (!fns[row->slot] ||
            api->PyDict_SetItemString(dict, row->threading_global, fns[row->slot]) != 0)
            api->PyErr_Clear();
    }
}

void pmt_hook_new_threads(void)
{
    if (!pmt.active || pmt.cfg.function)
        return;
    if (!th_threading_done)
        th_hook_threading();
    th_hook_new_tstates();
}

int pmt_new_threads_watched(void)
{
    /* No getpid() here (a system call per audit event): a forked child's
     * own logs are reopened at its first event, and its threads are its. */
    if (!pmt.active || pmt.cfg.function || pmt_busy)
        return 0;
    for (size_t i = 0; i < pmt_nmodes; i++)
        if (th_hooked(&pmt_modes[i]))
            return 1;
    return 0;
}

void pmt_threads_watch(void)
{
    if (pmt.py.api.PyThreadState_GetID)
        th_tstates_seen = pmt.py.api.PyThreadState_GetID(
            pmt.py.api.PyInterpreterState_ThreadHead(pmt.py.api.PyInterpreterState_Main()));
    pmt_hook_new_threads();
}

void pmt_threads_before_create(void)
{
    /* Thread.start comes here with the GIL held, after CPython made the new
     * thread's state and before the thread runs Python: its hooks go in now. */
    if (pmt_new_threads_watched() && pmt.py.api.PyGILState_Check &&
        pmt.py.api.PyGILState_Check()) {
        pmt_busy++;
        pmt_hook_new_threads();
        pmt_busy--;
    }
}
