/* shim: run-time lookup of the C API and the per-version layout table. */
#include "shim/shim.h"

#include <stdio.h>
#include <string.h>

/* Offsets measured against each version's headers (CPYTHON-NOTES.md §4) and
 * re-checked by the end-to-end tests, which compare the lines we compute with
 * the source of the traced programs. 3.11 moved the code object from the
 * frame object into the interpreter frame; 3.12 moved it to offset 0 there. */
static const struct { int minor; struct pmt_layout layout; } shim_layouts[] = {
#define SHIM_NO_FRAMES .tstate_frame = -1, .iframe_previous = -1, .iframe_instr = -1
    {8, {.tstate_hooks = 56, .frame_code = 32, .frame_iframe = -1, .iframe_code = -1, .frame_lasti = 104,
         .lasti_scale = 1, .co_filename = 104, .co_name = 112,
         .fork_count = PMT_FORK_COUNT_NONE, SHIM_NO_FRAMES, .eval_kind = PMT_EVAL_FRAME_ONLY,
         .eval_globals = 48, .eval_owner = -1}},
    {9, {.tstate_hooks = 56, .frame_code = 32, .frame_iframe = -1, .iframe_code = -1, .frame_lasti = 104,
         .lasti_scale = 1, .co_filename = 104, .co_name = 112,
         .fork_count = PMT_FORK_COUNT_NONE, SHIM_NO_FRAMES, .eval_kind = PMT_EVAL_FRAMEOBJ,
         .eval_globals = 48, .eval_owner = -1}},
    {10, {.tstate_hooks = 56, .frame_code = 32, .frame_iframe = -1, .iframe_code = -1, .frame_lasti = 96,
          .lasti_scale = 2, .co_filename = 104, .co_name = 112,
          .fork_count = PMT_FORK_COUNT_NONE, SHIM_NO_FRAMES, .eval_kind = PMT_EVAL_FRAMEOBJ,
          .eval_globals = 48, .eval_owner = -1}},
    {11, {.tstate_hooks = 64, .frame_code = -1, .frame_iframe = 24, .iframe_code = 32, .frame_lasti = -1,
          .lasti_scale = 1, .co_filename = 112, .co_name = 120,
          .fork_count = PMT_FORK_COUNT_NONE, SHIM_NO_FRAMES, .eval_kind = PMT_EVAL_IFRAME,
          .eval_globals = 8, .eval_owner = 69}},
    /* 3.12 os.fork: fork(), warn_about_fork_with_threads(), then
     * PyOS_AfterFork_Parent(); 3.13 swapped the last two. Measured: a thread
     * started from an os.register_at_fork(after_in_parent=...) callback
     * makes 3.13 warn and not 3.12. */
    {12, {.tstate_hooks = 64, .frame_code = -1, .frame_iframe = 24, .iframe_code = 0, .frame_lasti = -1,
          .lasti_scale = 1, .co_filename = 112, .co_name = 120,
          .fork_count = PMT_FORK_COUNT_FIRST, SHIM_NO_FRAMES, .eval_kind = PMT_EVAL_IFRAME,
          .eval_globals = 24, .eval_owner = 70,
          .watch_calls = 1}},
    /* 3.13+: the offsets that _Py_DebugOffsets publishes (thread state's
     * current frame, the interpreter frame's previous, f_executable,
     * instr_ptr and owner, the code object's names) are taken from it at run
     * time; the values here are what 3.13.0, 3.14.10 and 3.15.2 publish
     * (CPYTHON-NOTES §8) and are overwritten. What is not published:
     * PyFrameObject.f_frame (24), _PyInterpreterFrame.f_globals (24), the
     * owner values (3.13: CSTACK 3; 3.14: INTERPRETER 3, CSTACK 4; 3.15:
     * INTERPRETER 3, so from 3 up on all three), how os.fork warns. */
    {13, {.tstate_hooks = 80, .frame_code = -1, .frame_iframe = 24, .iframe_code = 0, .frame_lasti = -1,
          .lasti_scale = 1, .co_filename = 112, .co_name = 120,
          .fork_count = PMT_FORK_COUNT_LATE, .tstate_frame = 72, .iframe_previous = 8,
          .iframe_instr = 56, .iframe_owner = 70, .owner_not_python = 3,
          .eval_kind = PMT_EVAL_IFRAME, .eval_globals = 24, .eval_owner = 70,
          .watch_calls = 1}},
    {14, {.tstate_hooks = 80, .frame_code = -1, .frame_iframe = 24, .iframe_code = 0, .frame_lasti = -1,
          .lasti_scale = 1, .co_filename = 112, .co_name = 120,
          .fork_count = PMT_FORK_COUNT_LATE, .tstate_frame = 72, .iframe_previous = 8,
          .iframe_instr = 56, .iframe_owner = 74, .owner_not_python = 3,
          .eval_kind = PMT_EVAL_IFRAME, .eval_globals = 24, .eval_owner = 74}},
    {15, {.tstate_hooks = 104, .frame_code = -1, .frame_iframe = 24, .iframe_code = 0, .frame_lasti = -1,
          .lasti_scale = 1, .co_filename = 112, .co_name = 120,
          .fork_count = PMT_FORK_COUNT_LATE, .tstate_frame = 72, .iframe_previous = 8,
          .iframe_instr = 56, .iframe_owner = 74, .owner_not_python = 3,
          .eval_kind = PMT_EVAL_IFRAME, .eval_globals = 24, .eval_owner = 74,
          .watch_calls = 1}},
#undef SHIM_NO_FRAMES
};

const struct pmt_layout *shim_layout_for(int major, int minor)
{
    if (major != 3)
        return NULL;
    for (size_t i = 0; i < sizeof shim_layouts / sizeof shim_layouts[0]; i++)
        if (shim_layouts[i].minor == minor)
            return &shim_layouts[i].layout;
    return NULL;
}

int shim_apply_published(struct pmt_shim *out, const void *table, char *why, size_t whylen)
{
    struct shim_published pub;
    char clause[160];
    if (shim_debug_read(table, out->version.major, out->version.minor, &pub, clause, sizeof clause) != 0) {
        snprintf(why, whylen, "Python %s: %s", out->version.text, clause);
        return -1;
    }
    /* Object and type headers are read with fixed offsets everywhere. */
    if (pub.ob_type != SHIM_OB_TYPE || pub.tp_name != SHIM_TP_NAME || pub.tp_flags != SHIM_TP_FLAGS) {
        snprintf(why, whylen,
                 "Python %s lays out objects as no version the agent knows (its _Py_DebugOffsets: ob_type "
                 "at %d, tp_name at %d, tp_flags at %d)",
                 out->version.text, pub.ob_type, pub.tp_name, pub.tp_flags);
        return -1;
    }
    struct pmt_layout *l = &out->layout;
    l->tstate_frame = pub.tstate_frame;
    l->iframe_previous = pub.iframe_previous;
    l->iframe_code = pub.iframe_code;
    l->iframe_instr = pub.iframe_instr;
    l->iframe_owner = pub.iframe_owner;
    l->eval_owner = pub.iframe_owner;
    l->co_filename = pub.co_filename;
    l->co_name = pub.co_name;
    return 0;
}

struct shim_sym {
    const char *name;
    size_t offset;  /* in struct pmt_capi */
    int optional;
};

#define SHIM_REQ(field) {#field, offsetof(struct pmt_capi, field), 0}
#define SHIM_OPT(field) {#field, offsetof(struct pmt_capi, field), 1}

static const struct shim_sym shim_syms[] = {
    SHIM_REQ(Py_IsInitialized), SHIM_REQ(Py_GetVersion), SHIM_REQ(PySys_AddAuditHook),
    SHIM_REQ(PyType_IsSubtype),
    SHIM_REQ(PyEval_SetProfile), SHIM_REQ(PyEval_SetTrace), SHIM_OPT(_PyEval_SetProfile),
    SHIM_OPT(_PyEval_SetTrace), SHIM_OPT(PyEval_SetProfileAllThreads),
    SHIM_OPT(PyEval_SetTraceAllThreads), SHIM_REQ(PyCode_Addr2Line), SHIM_OPT(PyFrame_GetLasti),
    SHIM_REQ(PyUnicode_AsUTF8), SHIM_REQ(Py_IncRef),
    SHIM_REQ(Py_DecRef), SHIM_REQ(PyErr_Fetch), SHIM_REQ(PyErr_Restore), SHIM_REQ(PyErr_Clear),
    SHIM_REQ(PyTuple_GetItem),
    SHIM_REQ(PyImport_ImportModule), SHIM_REQ(PyObject_GetAttrString),
    SHIM_REQ(PyObject_CallFunctionObjArgs), SHIM_REQ(PyCFunction_NewEx),
    SHIM_REQ(PyObject_Call), SHIM_REQ(PyObject_SetAttrString), SHIM_REQ(PyUnicode_FromString),
    SHIM_OPT(PyType_FromSpec), SHIM_OPT(PyType_GenericAlloc), SHIM_OPT(PyVectorcall_Call),
    SHIM_REQ(PyThreadState_Get), SHIM_REQ(PyThreadState_Swap), SHIM_REQ(PyInterpreterState_Main),
    SHIM_REQ(PyInterpreterState_ThreadHead), SHIM_REQ(PyThreadState_Next), SHIM_OPT(PyThreadState_GetID),
    SHIM_REQ(PyGILState_Check), SHIM_REQ(PyLong_FromLong), SHIM_REQ(PyLong_AsLong), SHIM_REQ(PyImport_GetModuleDict),
    SHIM_REQ(PyDict_GetItemString), SHIM_REQ(PyDict_SetItemString), SHIM_REQ(PyDict_DelItemString),
    SHIM_REQ(PyModule_GetDict),
    SHIM_OPT(Py_AddPendingCall),
    SHIM_OPT(PyRefTracer_SetTracer), SHIM_OPT(PyRefTracer_GetTracer),
    SHIM_OPT(PyThreadState_GetUnchecked), SHIM_OPT(PyUnstable_InterpreterFrame_GetLasti),
    SHIM_OPT(_PyEval_EvalFrameDefault), SHIM_OPT(_PyInterpreterState_SetEvalFrameFunc),
    SHIM_OPT(_PyInterpreterState_GetEvalFrameFunc), SHIM_OPT(_PyThreadState_UncheckedGet),
    SHIM_OPT(PyFunction_AddWatcher), SHIM_OPT(PyFunction_ClearWatcher),
    SHIM_OPT(PyFunction_SetVectorcall), SHIM_OPT(PyFunction_GetCode),
    SHIM_OPT(PyFunction_GetGlobals), SHIM_REQ(PyList_Size), SHIM_REQ(PyList_GetItem),
    SHIM_OPT(PyDict_AddWatcher), SHIM_OPT(PyDict_ClearWatcher), SHIM_OPT(PyDict_Watch),
};

/* What reference tracing skips unless PYMEMTRACE_INCLUDE_BUILTINS=1 (the
 * README lists them by Python name): numbers, strings and bytes, the
 * containers and their views and iterators, slices and ranges, functions
 * and methods, cells, generators and coroutines, modules, weak references,
 * tracebacks, memoryview, pickle buffers, and on 3.15 frozendict and lazy
 * imports' placeholders. Exception instances are skipped
 * by their type's flag. Names a version does not export are left out. */
/* cPyMemTrace's ReferenceTracing with include_builtins=False skips an object
 * when one of CPython's type checks says it is of a builtin type: some
 * checks match the type only (PyBool_Check, PySlice_Check, ...), the others
 * its subclasses too (PyLong_Check matches bool and IntEnum members,
 * PyTuple_Check named tuples and structseqs, PyDict_Check defaultdict).
 * The same lists here, as far as this interpreter exports the types; the
 * iterators are not in them but for PySeqIter's and PyCallIter's, so
 * list_iterator, enumerate or zip objects are logged, as there. */
static const char *const shim_builtin_exact_names[] = {
    "PyBool_Type", "PySlice_Type", "PyRange_Type", "PyMethod_Type", "PyInstanceMethod_Type",
    "PyCell_Type", "PyFunction_Type", "PySeqIter_Type", "PyCallIter_Type", "PyFrame_Type",
    "PyFrameLocalsProxy_Type", "PyCode_Type", "PyTraceBack_Type", "PyPickleBuffer_Type",
    "PyMemoryView_Type", "_PyWeakref_ProxyType", "_PyWeakref_CallableProxyType",
};
static const char *const shim_builtin_subclass_names[] = {
    "PyFloat_Type", "PyLong_Type", "PyComplex_Type", "PyUnicode_Type", "PyBytes_Type",
    "PyByteArray_Type", "PyTuple_Type", "PyList_Type", "PyDict_Type", "PyDictKeys_Type",
    "PyDictValues_Type", "PyDictItems_Type", "PyODict_Type", "PyFrozenSet_Type", "PySet_Type",
    "PyCMethod_Type", "PyGen_Type", "PyModule_Type", "_PyWeakref_RefType", "PyCFunction_Type",
};
_Static_assert(sizeof shim_builtin_exact_names / sizeof shim_builtin_exact_names[0] <=
                       SHIM_MAX_BUILTIN_TYPES &&
                   sizeof shim_builtin_subclass_names / sizeof shim_builtin_subclass_names[0] <=
                       SHIM_MAX_BUILTIN_TYPES,
               "room for every builtin type");

int shim_resolve(pmt_lookup lookup, void *handle, struct pmt_shim *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    /* Py_GetVersion is safe before Py_Initialize on every version (NOTES §1). */
    const char *(*getversion)(void) = (const char *(*)(void))lookup(handle, "Py_GetVersion");
    if (!getversion) {
        snprintf(why, whylen, "no Py_GetVersion in this process");
        return -1;
    }
    const char *text = getversion();
    if (pyv_parse(text, &out->version) != 0) {
        snprintf(why, whylen, "cannot read the Python version from '%.40s'", text);
        return -1;
    }
    const struct pmt_layout *layout = shim_layout_for(out->version.major, out->version.minor);
    int newer = pyv_newer(&out->version);
    if (!newer && (!pyv_supported(&out->version) || !layout)) {
        snprintf(why, whylen, "Python %s%s is not supported (CPython 3.8 to 3.%d are)", out->version.text,
                 out->version.free_threaded ? " (free-threaded build)" : "", PYV_NEWEST_MINOR);
        return -1;
    }
    if (newer) /* what it publishes decides; the rest is unknown (partial) */
        layout = shim_layout_for(3, PYV_NEWEST_MINOR);
    out->layout = *layout;
    if (out->version.minor >= 13) {
        const void *runtime = lookup(handle, "_PyRuntime");
        char clause[200];
        if (!runtime)
            snprintf(clause, sizeof clause, "Python %s exports no _PyRuntime, where it publishes its layout",
                     out->version.text);
        if (!runtime || shim_apply_published(out, runtime, clause, sizeof clause) != 0) {
            if (newer)
                snprintf(why, whylen, "%s (the agent knows CPython 3.8 to 3.%d)", clause, PYV_NEWEST_MINOR);
            else
                snprintf(why, whylen, "%s", clause);
            return -1;
        }
    }
    if (newer) {
        out->partial = 1;
        snprintf(out->why_partial, sizeof out->why_partial,
                 "Python %s is newer than the agent knows (CPython 3.8 to 3.%d): its _Py_DebugOffsets check "
                 "out, but the frame object's layout, the frame owners and frame evaluation are not "
                 "published, so only sample mode runs",
                 out->version.text, PYV_NEWEST_MINOR);
    }
    out->layout.eval_func = -1;
    if (out->version.minor == 11 && out->version.micro < 4)
        out->layout.eval_func = 0; /* f_func leads 3.11's _PyInterpreterFrame */
    for (size_t i = 0; i < sizeof shim_syms / sizeof shim_syms[0]; i++) {
        void *p = lookup(handle, shim_syms[i].name);
        if (!p && !shim_syms[i].optional) {
            snprintf(why, whylen, "Python %s lacks %s", out->version.text, shim_syms[i].name);
            return -1;
        }
        memcpy((char *)&out->api + shim_syms[i].offset, &p, sizeof p);
    }
    out->api.false_obj = (pmt_obj *)lookup(handle, "_Py_FalseStruct");
    out->api.code_type = (pmt_obj *)lookup(handle, "PyCode_Type");
    out->api.frame_type = (pmt_obj *)lookup(handle, "PyFrame_Type");
    out->api.function_type = (pmt_obj *)lookup(handle, "PyFunction_Type");
    out->api.cfunction_type = (pmt_obj *)lookup(handle, "PyCFunction_Type");
    out->api.cmethod_type = (pmt_obj *)lookup(handle, "PyCMethod_Type");
    out->api.method_descr_type = (pmt_obj *)lookup(handle, "PyMethodDescr_Type");
    out->api.method_type = (pmt_obj *)lookup(handle, "PyMethod_Type");
    for (size_t i = 0; i < sizeof shim_builtin_exact_names / sizeof shim_builtin_exact_names[0];
         i++) {
        const pmt_obj *t = (const pmt_obj *)lookup(handle, shim_builtin_exact_names[i]);
        if (t)
            out->builtins.exact[out->builtins.nexact++] = t;
    }
    for (size_t i = 0;
         i < sizeof shim_builtin_subclass_names / sizeof shim_builtin_subclass_names[0]; i++) {
        const pmt_obj *t = (const pmt_obj *)lookup(handle, shim_builtin_subclass_names[i]);
        if (t)
            out->builtins.bases[out->builtins.nbases++] = t;
    }
    out->api.none = (pmt_obj *)lookup(handle, "_Py_NoneStruct");
    if (!out->api.none || (out->layout.frame_lasti < 0 && !out->api.PyFrame_GetLasti)) {
        snprintf(why, whylen, "Python %s lacks _Py_NoneStruct or PyFrame_GetLasti",
                 out->version.text);
        return -1;
    }
    return 0;
}

/* PEP 523. 3.9+ have a setter (3.11+ store NULL for the default and the
 * getter returns the default then). 3.8 has none: PyInterpreterState.eval_frame
 * is initialised to _PyEval_EvalFrameDefault by PyInterpreterState_New, so
 * the field is the one pointer-aligned word of the state holding that
 * address (the state is a few hundred bytes; 2 KiB are searched, and a
 * second hit is refused rather than guessed). */
#define SHIM_INTERP_SCAN 2048

static long shim_eval_slot = -1;

int shim_eval_install(struct pmt_shim *s, void *fn, void **prev, char *why, size_t whylen)
{
    pmt_interp *interp = s->api.PyInterpreterState_Main();
    if (s->api._PyInterpreterState_SetEvalFrameFunc && s->api._PyInterpreterState_GetEvalFrameFunc) {
        *prev = s->api._PyInterpreterState_GetEvalFrameFunc(interp);
        if (!*prev)
            *prev = s->api._PyEval_EvalFrameDefault;
        if (!*prev) {
            snprintf(why, whylen, "Python %s exports no _PyEval_EvalFrameDefault", s->version.text);
            return -1;
        }
        s->api._PyInterpreterState_SetEvalFrameFunc(interp, fn);
        return 0;
    }
    void *def = s->api._PyEval_EvalFrameDefault;
    void **words = (void **)interp;
    long found = -1;
    for (long i = 0; def && i < SHIM_INTERP_SCAN / (long)sizeof(void *); i++) {
        if (words[i] != def)
            continue;
        if (found >= 0) {
            found = -2;
            break;
        }
        found = i;
    }
    if (found < 0) {
        snprintf(why, whylen,
                 "cannot find the frame-evaluation function of Python %s (another tool may have "
                 "replaced it)", s->version.text);
        return -1;
    }
    shim_eval_slot = found;
    *prev = def;
    __atomic_store_n(&words[found], fn, __ATOMIC_RELEASE);
    return 0;
}

void shim_eval_remove(struct pmt_shim *s, void *fn, void *prev)
{
    pmt_interp *interp = s->api.PyInterpreterState_Main();
    if (s->api._PyInterpreterState_SetEvalFrameFunc && s->api._PyInterpreterState_GetEvalFrameFunc) {
        if (s->api._PyInterpreterState_GetEvalFrameFunc(interp) == fn)
            s->api._PyInterpreterState_SetEvalFrameFunc(interp, prev);
        return;
    }
    void **words = (void **)interp;
    if (shim_eval_slot >= 0 && words[shim_eval_slot] == fn)
        __atomic_store_n(&words[shim_eval_slot], prev, __ATOMIC_RELEASE);
}

void shim_keep_calls_generic(const struct pmt_shim *s, void *frame)
{
    static uint32_t next = 0x80000000u;
    if (s->layout.eval_func < 0)
        return;
    pmt_obj *func = *(pmt_obj **)((char *)frame + s->layout.eval_func);
    if (!func || shim_type_of(func) != s->api.function_type)
        return;
    uint32_t *version = (uint32_t *)((char *)func + shim_function_vectorcall_offset(s) + sizeof(void *));
    if (*version < 0x80000000u && next != 0)
        *version = next++;
}
