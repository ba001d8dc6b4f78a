/* shim: everything that knows how a given CPython looks.
 *
 * The agent includes no Python header and links no libpython: the C API is
 * looked up at run time in the interpreter that is running (the executable
 * itself for Debian's static python3, libpython for shared builds, or a
 * handle from dlopen for an embedding host), and the few struct offsets the
 * hot path reads are taken from the interpreter's own _Py_DebugOffsets where
 * it publishes them (3.13+, debugoffsets.h) and from one table per minor
 * version for the rest. Nothing outside shim/ knows a CPython version number. */
#ifndef PMT_SHIM_H
#define PMT_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "shim/debugoffsets.h"
#include "shim/pyversion.h"

/* Opaque stand-ins for CPython's types. */
typedef struct pmt_pyobj pmt_obj;       /* PyObject */
typedef struct pmt_pyframe pmt_frame;   /* PyFrameObject */
typedef struct pmt_pytstate pmt_tstate; /* PyThreadState */
typedef struct pmt_pyinterp pmt_interp; /* PyInterpreterState */

/* vectorcallfunc, and PyFunction_WatchCallback with its events (3.12+:
 * PyFunction_EVENT_CREATE 0, _DESTROY 1, _MODIFY_CODE 2, ...) */
typedef pmt_obj *(*pmt_vectorcall_fn)(pmt_obj *callable, pmt_obj *const *args, size_t nargsf,
                                      pmt_obj *kwnames);
typedef int (*pmt_func_watch_fn)(int event, pmt_obj *func, pmt_obj *new_value);
enum { PMT_FUNC_EVENT_CREATE = 0, PMT_FUNC_EVENT_MODIFY_CODE = 2 };

/* Py_tracefunc and Py_AuditHookFunction */
typedef int (*pmt_tracefunc)(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
typedef int (*pmt_audithook)(const char *event, pmt_obj *args, void *data);
/* PyRefTracer (3.13+): event 0 PyRefTracer_CREATE, 1 PyRefTracer_DESTROY;
 * 3.15 adds 2 PyRefTracer_TRACKER_REMOVED, with obj NULL, sent once to a
 * tracer when another replaces it. */
typedef int (*pmt_reftracer)(pmt_obj *obj, int event, void *data);
enum { PMT_REF_CREATE, PMT_REF_DESTROY, PMT_REF_TRACKER_REMOVED };

/* PyTrace_* event codes (stable since Python 2) */
enum { PMT_WHAT_CALL, PMT_WHAT_EXCEPTION, PMT_WHAT_LINE, PMT_WHAT_RETURN,
       PMT_WHAT_C_CALL, PMT_WHAT_C_EXCEPTION, PMT_WHAT_C_RETURN, PMT_WHAT_OPCODE };

/* PyMethodDef, part of the stable ABI */
struct pmt_methoddef {
    const char *ml_name;
    void *ml_meth;
    int ml_flags;
    const char *ml_doc;
};
#define PMT_METH_VARARGS 0x0001
#define PMT_METH_NOARGS 0x0004
#define PMT_METH_KEYWORDS 0x0002
#define PMT_METH_FASTCALL 0x0080

/* The C API the agent calls, resolved once. Entries marked optional are NULL
 * on versions that lack them. */
struct pmt_capi {
    int (*Py_IsInitialized)(void);
    const char *(*Py_GetVersion)(void);
    int (*PySys_AddAuditHook)(pmt_audithook hook, void *data);
    int (*PyType_IsSubtype)(const pmt_obj *type, const pmt_obj *base);
    void (*PyEval_SetProfile)(pmt_tracefunc f, pmt_obj *arg);
    void (*PyEval_SetTrace)(pmt_tracefunc f, pmt_obj *arg);
    int (*_PyEval_SetProfile)(pmt_tstate *ts, pmt_tracefunc f, pmt_obj *arg); /* optional: 3.9+ */
    int (*_PyEval_SetTrace)(pmt_tstate *ts, pmt_tracefunc f, pmt_obj *arg);   /* optional: 3.9-3.12 */
    void (*PyEval_SetProfileAllThreads)(pmt_tracefunc f, pmt_obj *arg);       /* optional: 3.12+ */
    void (*PyEval_SetTraceAllThreads)(pmt_tracefunc f, pmt_obj *arg);         /* optional: 3.12+ */
    int (*PyCode_Addr2Line)(pmt_obj *code, int byte_offset);
    int (*PyFrame_GetLasti)(pmt_frame *f);                                    /* optional: 3.11+ */
    const char *(*PyUnicode_AsUTF8)(pmt_obj *s);
    void (*Py_IncRef)(pmt_obj *o);
    void (*Py_DecRef)(pmt_obj *o);
    void (*PyErr_Fetch)(pmt_obj **t, pmt_obj **v, pmt_obj **tb);
    void (*PyErr_Restore)(pmt_obj *t, pmt_obj *v, pmt_obj *tb);
    void (*PyErr_Clear)(void);
    pmt_obj *(*PyTuple_GetItem)(pmt_obj *tuple, ptrdiff_t i);
    pmt_obj *(*PyImport_ImportModule)(const char *name);
    pmt_obj *(*PyObject_GetAttrString)(pmt_obj *o, const char *name);
    pmt_obj *(*PyObject_CallFunctionObjArgs)(pmt_obj *callable, ...);
    pmt_obj *(*PyObject_Call)(pmt_obj *callable, pmt_obj *args, pmt_obj *kwargs);
    int (*PyObject_SetAttrString)(pmt_obj *o, const char *name, pmt_obj *value);
    pmt_obj *(*PyUnicode_FromString)(const char *s);
    pmt_obj *(*PyType_FromSpec)(void *spec);
    pmt_obj *(*PyType_GenericAlloc)(pmt_obj *type, ptrdiff_t nitems);
    pmt_obj *(*PyVectorcall_Call)(pmt_obj *callable, pmt_obj *tuple, pmt_obj *dict);
    pmt_obj *(*PyCFunction_NewEx)(struct pmt_methoddef *def, pmt_obj *self, pmt_obj *module);
    pmt_tstate *(*PyThreadState_Get)(void);
    pmt_tstate *(*PyThreadState_Swap)(pmt_tstate *ts);
    pmt_interp *(*PyInterpreterState_Main)(void);
    pmt_tstate *(*PyInterpreterState_ThreadHead)(pmt_interp *interp);
    pmt_tstate *(*PyThreadState_Next)(pmt_tstate *ts);
    uint64_t (*PyThreadState_GetID)(pmt_tstate *ts);                           /* optional: 3.9+ */
    int (*PyGILState_Check)(void);
    pmt_obj *(*PyLong_FromLong)(long v);
    long (*PyLong_AsLong)(pmt_obj *o);
    pmt_obj *(*PyImport_GetModuleDict)(void);
    pmt_obj *(*PyDict_GetItemString)(pmt_obj *d, const char *key);
    int (*PyDict_SetItemString)(pmt_obj *d, const char *key, pmt_obj *item);
    int (*PyDict_DelItemString)(pmt_obj *d, const char *key);
    /* 3.12+: a callback before each change of a watched dict (event: 0
     * added, 1 modified, 2 deleted, 3 cloned, 4 cleared, 5 deallocated). */
    int (*PyDict_AddWatcher)(int (*cb)(int event, pmt_obj *dict, pmt_obj *key, pmt_obj *value));
    int (*PyDict_ClearWatcher)(int id);
    int (*PyDict_Watch)(int id, pmt_obj *dict);
    pmt_obj *(*PyModule_GetDict)(pmt_obj *module);
    int (*Py_AddPendingCall)(int (*func)(void *), void *arg);
    /* reference tracing, 3.13's frames (optional: 3.13+) */
    int (*PyRefTracer_SetTracer)(pmt_reftracer f, void *data);
    pmt_reftracer (*PyRefTracer_GetTracer)(void **data);
    pmt_tstate *(*PyThreadState_GetUnchecked)(void);
    int (*PyUnstable_InterpreterFrame_GetLasti)(void *iframe);
    /* PEP 523 frame evaluation (PYMEMTRACE_FUNCTION): the default
     * evaluator (all), the setter/getter (optional: 3.9+), the current
     * thread state without a check (3.8-3.12; 3.13 has
     * PyThreadState_GetUnchecked) */
    void *_PyEval_EvalFrameDefault;
    void (*_PyInterpreterState_SetEvalFrameFunc)(pmt_interp *interp, void *fn);
    void *(*_PyInterpreterState_GetEvalFrameFunc)(pmt_interp *interp);
    pmt_tstate *(*_PyThreadState_UncheckedGet)(void);
    /* Function watchers and per-function vectorcall (optional: 3.12+):
     * PYMEMTRACE_FUNCTION's calls without a frame-evaluation function */
    int (*PyFunction_AddWatcher)(pmt_func_watch_fn cb);
    int (*PyFunction_ClearWatcher)(int id);
    void (*PyFunction_SetVectorcall)(pmt_obj *func, pmt_vectorcall_fn vectorcall);
    pmt_obj *(*PyFunction_GetCode)(pmt_obj *func);
    pmt_obj *(*PyFunction_GetGlobals)(pmt_obj *func);
    ptrdiff_t (*PyList_Size)(pmt_obj *list);
    pmt_obj *(*PyList_GetItem)(pmt_obj *list, ptrdiff_t i);
    pmt_obj *none;  /* &_Py_NoneStruct */
    pmt_obj *false_obj;  /* &_Py_FalseStruct */
    pmt_obj *code_type;  /* &PyCode_Type */
    pmt_obj *frame_type; /* &PyFrame_Type */
    pmt_obj *function_type; /* &PyFunction_Type */
    pmt_obj *cfunction_type;     /* &PyCFunction_Type */
    pmt_obj *cmethod_type;       /* &PyCMethod_Type, 3.9+ */
    pmt_obj *method_descr_type;  /* &PyMethodDescr_Type */
    pmt_obj *method_type;        /* &PyMethod_Type */
};

/* The types reference tracing calls builtin (README: the list; shim.c:
 * cPyMemTrace's rule), as far as this interpreter exports them: exact, an
 * object of that very type; bases, of that type or a subclass. */
#define SHIM_MAX_BUILTIN_TYPES 32
struct pmt_builtin_types {
    const pmt_obj *exact[SHIM_MAX_BUILTIN_TYPES];
    const pmt_obj *bases[SHIM_MAX_BUILTIN_TYPES];
    int nexact, nbases;
};

/* Where the hot path finds a frame's code object and last instruction. */
struct pmt_layout {
    /* PyThreadState.c_profilefunc; c_tracefunc, c_profileobj and c_traceobj
     * follow it on every version (chain.c checks it at run time). */
    int tstate_hooks;
    int frame_code;    /* PyFrameObject.f_code (3.8-3.10), or -1 */
    int frame_iframe;  /* PyFrameObject.f_frame (3.11+), or -1 */
    int iframe_code;   /* _PyInterpreterFrame.f_code / f_executable (3.11+) */
    int frame_lasti;   /* PyFrameObject.f_lasti (3.8-3.10), or -1: PyFrame_GetLasti */
    int lasti_scale;   /* bytes per f_lasti unit: 1 (3.8, 3.9), 2 (3.10: instructions) */
    int co_filename;
    int co_name;
    /* os.fork() on 3.12+ warns when the process has another thread (NOTES
     * §6): when it counts them, PMT_FORK_COUNT_*. */
    int fork_count;
    /* 3.13+ (else -1): the thread state's current interpreter frame, a
     * frame's caller and instruction (reference tracing's location; whether
     * os.fork() has returned), its owner, and the first owner value that is
     * not a Python frame's (3.13: FRAME_OWNED_BY_CSTACK 3; 3.14:
     * FRAME_OWNED_BY_INTERPRETER 3 and CSTACK 4; 3.15: INTERPRETER 3). The
     * offsets come from _Py_DebugOffsets, the owner value from the table. */
    int tstate_frame;
    int iframe_previous;
    int iframe_instr;
    int iframe_owner;
    int owner_not_python;
    /* PEP 523: how the frame-evaluation function is called (PMT_EVAL_*),
     * and where the frame it gets keeps its globals (PyFrameObject.f_globals
     * on 3.8-3.10, _PyInterpreterFrame.f_globals on 3.11+). */
    int eval_kind;
    int eval_globals;
    /* 3.11+ (else -1): _PyInterpreterFrame.owner, FRAME_OWNED_BY_THREAD (0)
     * for a frame being called, FRAME_OWNED_BY_GENERATOR (1) for a resumed
     * generator or coroutine. A generator function's call is evaluated
     * too, up to RETURN_GENERATOR, before its body ever runs. */
    int eval_owner;
    /* 3.11.0-3.11.3 (else -1): _PyInterpreterFrame.f_func. Their
     * BINARY_SUBSCR_GETITEM calls a Python __getitem__ inline without the
     * frame-evaluation function (gh-104405, fixed in 3.11.4), once the site
     * is specialised; see shim_keep_calls_generic. */
    int eval_func;
    /* 1 where function watchers and a function's own vectorcall see every
     * call of it (3.12, 3.13, 3.15: an inline call checks the function's
     * version, which setting the vectorcall clears); 0 before 3.12 (no
     * watchers) and on 3.14, whose LOAD_ATTR_PROPERTY calls a property's
     * getter inline whatever its version: PYMEMTRACE_FUNCTION then uses
     * the frame-evaluation function. */
    int watch_calls;
};

enum {
    PMT_EVAL_FRAME_ONLY,   /* 3.8: (PyFrameObject *, int), set in PyInterpreterState.eval_frame */
    PMT_EVAL_FRAMEOBJ,     /* 3.9, 3.10: (PyThreadState *, PyFrameObject *, int) */
    PMT_EVAL_IFRAME,       /* 3.11+: (PyThreadState *, _PyInterpreterFrame *, int) */
};

enum {
    PMT_FORK_COUNT_NONE,  /* 3.8-3.11: no warning */
    PMT_FORK_COUNT_FIRST, /* 3.12: right after fork(), before any Python code runs */
    PMT_FORK_COUNT_LATE,  /* 3.13: after the os.register_at_fork after_in_parent callbacks */
};

/* PyObject and PyTypeObject fields every supported (non-free-threaded)
 * version shares. */
#define SHIM_OB_TYPE 8
#define SHIM_TP_NAME 24
#define SHIM_TP_FLAGS 168
#define SHIM_TPFLAGS_BASE_EXC_SUBCLASS (1ul << 30)
#define SHIM_TPFLAGS_TYPE_SUBCLASS (1ul << 31)

static inline const pmt_obj *shim_type_of(const pmt_obj *o)
{
    return *(const pmt_obj *const *)((const char *)o + SHIM_OB_TYPE);
}

static inline const char *shim_type_name(const pmt_obj *type)
{
    return *(const char *const *)((const char *)type + SHIM_TP_NAME);
}

static inline unsigned long shim_type_flags(const pmt_obj *type)
{
    return *(const unsigned long *)((const char *)type + SHIM_TP_FLAGS);
}

struct pmt_shim {
    struct pmt_capi api;
    struct pmt_layout layout;
    struct pmt_pyversion version;
    struct pmt_builtin_types builtins;
    /* 1 for a Python newer than any the agent knows whose _Py_DebugOffsets
     * check out: what it does not publish (the frame object's layout, frame
     * owners, frame evaluation) is unknown, so only the modes that read no
     * interpreter frames run (sample); why_partial says what is missing. */
    int partial;
    char why_partial[256];
};

/* Resolves the C API through lookup(handle, name) (the real dlsym: the agent
 * interposes dlsym itself) with handle RTLD_DEFAULT or a dlopen handle.
 * Returns 0, or -1 with why filled in (a missing symbol, an unknown version,
 * published offsets that do not check out). */
typedef void *(*pmt_lookup)(void *handle, const char *name);
int shim_resolve(pmt_lookup lookup, void *handle, struct pmt_shim *out, char *why, size_t whylen);

/* The layout table entry for a minor version, NULL if unknown. Exposed for tests. */
const struct pmt_layout *shim_layout_for(int major, int minor);

/* Takes what a 3.13+ interpreter publishes (table: the start of its
 * _PyRuntime) into out->layout, for out->version. Returns 0, or -1 with why
 * filled in ("Python 3.14.10: its _Py_DebugOffsets ..."). Exposed for tests. */
int shim_apply_published(struct pmt_shim *out, const void *table, char *why, size_t whylen);

/* A code object pointer as a frame holds it: 3.14+ keep f_executable as a
 * _PyStackRef, a pointer with tag bits in its two low bits (1 for immortal
 * objects); object pointers are 8-aligned on every version, so clearing
 * them is right everywhere. */
static inline pmt_obj *shim_untag(pmt_obj *const *slot)
{
    return (pmt_obj *)((uintptr_t)*slot & ~(uintptr_t)3);
}

/* Hot-path accessors: plain loads, no calls into Python apart from 3.11+'s
 * PyFrame_GetLasti (an exported leaf function). */
static inline pmt_obj *shim_frame_code(const struct pmt_shim *s, pmt_frame *f)
{
    const char *p = (const char *)f;
    if (s->layout.frame_code >= 0)
        return *(pmt_obj *const *)(p + s->layout.frame_code);
    const char *iframe = *(const char *const *)(p + s->layout.frame_iframe);
    return shim_untag((pmt_obj *const *)(iframe + s->layout.iframe_code));
}

/* Offset in bytes of the frame's current instruction; negative before the first. */
static inline int shim_frame_lasti(const struct pmt_shim *s, pmt_frame *f)
{
    if (s->layout.frame_lasti >= 0)
        return *(const int *)((const char *)f + s->layout.frame_lasti) * s->layout.lasti_scale;
    return s->api.PyFrame_GetLasti(f);
}

/* The code object and instruction offset of the Python code running on the
 * thread whose state is ts, without allocating (CPYTHON-NOTES §5): the
 * innermost interpreter frame that is a Python frame (not the C stack's or
 * the interpreter's entry frame). 3.13+ only (layout.tstate_frame >= 0).
 * Returns the code object or NULL. */
static inline pmt_obj *shim_current_code(const struct pmt_shim *s, pmt_tstate *ts, int *lasti)
{
    const char *f = ts ? *(const char *const *)((const char *)ts + s->layout.tstate_frame) : NULL;
    while (f && *(const signed char *)(f + s->layout.iframe_owner) >= s->layout.owner_not_python)
        f = *(const char *const *)(f + s->layout.iframe_previous);
    if (!f)
        return NULL;
    pmt_obj *code = shim_untag((pmt_obj *const *)(f + s->layout.iframe_code));
    if (!code || shim_type_of(code) != s->api.code_type)
        return NULL;
    *lasti = s->api.PyUnstable_InterpreterFrame_GetLasti((void *)f);
    return code;
}

static inline pmt_obj *shim_code_filename(const struct pmt_shim *s, pmt_obj *code)
{
    return *(pmt_obj *const *)((const char *)code + s->layout.co_filename);
}

static inline pmt_obj *shim_code_name(const struct pmt_shim *s, pmt_obj *code)
{
    return *(pmt_obj *const *)((const char *)code + s->layout.co_name);
}

/* The code object of the frame a PEP 523 evaluation function was given
 * (PMT_EVAL_*: a PyFrameObject before 3.11, an interpreter frame since), or
 * NULL when it is not a code object (3.13+'s f_executable may be another
 * object for frames the agent never sees, checked anyway). */
static inline pmt_obj *shim_eval_code(const struct pmt_shim *s, const void *frame)
{
    int off = s->layout.eval_kind == PMT_EVAL_IFRAME ? s->layout.iframe_code : s->layout.frame_code;
    pmt_obj *code = shim_untag((pmt_obj *const *)((const char *)frame + off));
    return code && shim_type_of(code) == s->api.code_type ? code : NULL;
}

/* 1 if the frame is a generator's or coroutine's own (3.11+), not a call. */
static inline int shim_eval_frame_owned_by_thread(const struct pmt_shim *s, const void *frame)
{
    return s->layout.eval_owner >= 0 && *((const signed char *)frame + s->layout.eval_owner) == 0;
}

static inline pmt_obj *shim_eval_globals(const struct pmt_shim *s, const void *frame)
{
    return *(pmt_obj *const *)((const char *)frame + s->layout.eval_globals);
}

/* Where a function object keeps its vectorcall pointer: the offset
 * PyFunction_Type says (tp_vectorcall_offset, the eighth word of a type
 * object, 3.8+), as PyVectorcall_Function reads it. func_version, a
 * uint32_t, follows it (3.11-3.13). */
static inline ptrdiff_t shim_function_vectorcall_offset(const struct pmt_shim *s)
{
    return *(const ptrdiff_t *)((const char *)s->api.function_type + 7 * sizeof(void *));
}

static inline pmt_vectorcall_fn shim_function_vectorcall(const struct pmt_shim *s, pmt_obj *func)
{
    return *(pmt_vectorcall_fn *)((char *)func + shim_function_vectorcall_offset(s));
}

/* Keeps a function from being called inline by a specialised instruction
 * that would skip the frame-evaluation function (3.11.0-3.11.3, eval_func):
 * that specialisation stores the function's version in 16 bits and gives
 * up on a larger one, so the function of frame gets a version above any
 * CPython hands out (which count up from 1), one of its own. Afterwards
 * CPython sets the version anew only when the function changes. */
void shim_keep_calls_generic(const struct pmt_shim *s, void *frame);

/* Installs fn as the main interpreter's frame-evaluation function (its
 * signature per layout.eval_kind) and returns the one it replaces in *prev,
 * which fn calls; 3.8 has no setter: the field is found by its value, the
 * default evaluator. Returns 0, or -1 with why filled in. */
int shim_eval_install(struct pmt_shim *s, void *fn, void **prev, char *why, size_t whylen);
/* Puts prev back (if fn is still the one installed). */
void shim_eval_remove(struct pmt_shim *s, void *fn, void *prev);

/* 3.13+'s interpreter frames (layout.tstate_frame >= 0), as plain loads of the
 * thread's own data; the caller holds the GIL. */
static inline const void *shim_ts_frame(const struct pmt_shim *s, pmt_tstate *ts)
{
    return *(const void *const *)((const char *)ts + s->layout.tstate_frame);
}

static inline const void *shim_iframe_previous(const struct pmt_shim *s, const void *f)
{
    return *(const void *const *)((const char *)f + s->layout.iframe_previous);
}

static inline const void *shim_iframe_instr(const struct pmt_shim *s, const void *f)
{
    return *(const void *const *)((const char *)f + s->layout.iframe_instr);
}

/* Where a C event's function name is. Every C_CALL/C_RETURN/C_EXCEPTION
 * callable is a PyCFunctionObject on 3.8-3.13 (3.12+ turns method
 * descriptors into bound builtin methods first, NOTES §4); its m_ml, a
 * static PyMethodDef whose first field is ml_name, sits at offset 16 on
 * every version. A pointer to it stays valid after the callable is gone. */
static inline const char *const *shim_cfunc_name(pmt_obj *cfunc)
{
    return *(const char *const *const *)((const char *)cfunc + 16);
}

/* A method descriptor's PyMethodDef (PyMethodDescrObject.d_method, after
 * PyObject_HEAD, d_type, d_name and d_qualname: offset 40 on every version),
 * by its ml_name as above. */
static inline const char *const *shim_method_descr_name(pmt_obj *descr)
{
    return *(const char *const *const *)((const char *)descr + 40);
}

/* A bound method's function (PyMethodObject.im_func, after PyObject_HEAD). */
static inline pmt_obj *shim_bound_method_func(pmt_obj *method)
{
    return *(pmt_obj *const *)((const char *)method + 16);
}

#endif
