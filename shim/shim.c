/* shim: run-time lookup of the C API and the per-version layout table. */
#include "shim/shim.h"

#include <stdio.h>
#include <string.h>

/* Offsets measured against each version's headers (CPYTHON-NOTES.md §4) and
 * re-checked by the end-to-end tests, which compare the lines we compute with
 * the source of the traced programs. 3.11 moved the code object from the
 * frame object into the interpreter frame; 3.12 moved it to offset 0 there. */
static const struct { int minor; struct pmt_layout layout; } shim_layouts[] = {
#define SHIM_NO_FRAMES .ts_frame = -1, .iframe_previous = -1, .iframe_instr = -1
    {8, {.frame_code = 32, .frame_iframe = -1, .iframe_code = -1, .frame_lasti = 104,
         .lasti_scale = 1, .co_filename = 104, .co_name = 112,
         .fork_count = PMT_FORK_COUNT_NONE, SHIM_NO_FRAMES}},
    {9, {.frame_code = 32, .frame_iframe = -1, .iframe_code = -1, .frame_lasti = 104,
         .lasti_scale = 1, .co_filename = 104, .co_name = 112,
         .fork_count = PMT_FORK_COUNT_NONE, SHIM_NO_FRAMES}},
    {10, {.frame_code = 32, .frame_iframe = -1, .iframe_code = -1, .frame_lasti = 96,
          .lasti_scale = 2, .co_filename = 104, .co_name = 112,
          .fork_count = PMT_FORK_COUNT_NONE, SHIM_NO_FRAMES}},
    {11, {.frame_code = -1, .frame_iframe = 24, .iframe_code = 32, .frame_lasti = -1,
          .lasti_scale = 1, .co_filename = 112, .co_name = 120,
          .fork_count = PMT_FORK_COUNT_NONE, SHIM_NO_FRAMES}},
    /* 3.12 os.fork: fork(), warn_about_fork_with_threads(), then
     * PyOS_AfterFork_Parent(); 3.13 swapped the last two. Measured: a thread
     * started from an os.register_at_fork(after_in_parent=...) callback
     * makes 3.13 warn and not 3.12. */
    {12, {.frame_code = -1, .frame_iframe = 24, .iframe_code = 0, .frame_lasti = -1,
          .lasti_scale = 1, .co_filename = 112, .co_name = 120,
          .fork_count = PMT_FORK_COUNT_FIRST, SHIM_NO_FRAMES}},
    /* PyThreadState.current_frame, _PyInterpreterFrame.previous and
     * .instr_ptr (offsetof against the 3.13.0 internal headers; also in
     * _Py_DebugOffsets). */
    {13, {.frame_code = -1, .frame_iframe = 24, .iframe_code = 0, .frame_lasti = -1,
          .lasti_scale = 1, .co_filename = 112, .co_name = 120,
          .fork_count = PMT_FORK_COUNT_LATE, .ts_frame = 72, .iframe_previous = 8,
          .iframe_instr = 56}},
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

struct shim_sym {
    const char *name;
    size_t offset;  /* in struct pmt_capi */
    int optional;
};

#define SHIM_REQ(field) {#field, offsetof(struct pmt_capi, field), 0}
#define SHIM_OPT(field) {#field, offsetof(struct pmt_capi, field), 1}

static const struct shim_sym shim_syms[] = {
    SHIM_REQ(Py_IsInitialized), SHIM_REQ(Py_GetVersion), SHIM_REQ(PySys_AddAuditHook),
    SHIM_REQ(PyEval_SetProfile), SHIM_REQ(PyEval_SetTrace), SHIM_OPT(_PyEval_SetProfile),
    SHIM_OPT(_PyEval_SetTrace), SHIM_OPT(PyEval_SetProfileAllThreads),
    SHIM_OPT(PyEval_SetTraceAllThreads), SHIM_REQ(PyCode_Addr2Line), SHIM_OPT(PyFrame_GetLasti),
    SHIM_REQ(PyUnicode_AsUTF8), SHIM_REQ(Py_IncRef),
    SHIM_REQ(Py_DecRef), SHIM_REQ(PyErr_Fetch), SHIM_REQ(PyErr_Restore), SHIM_REQ(PyErr_Clear),
    SHIM_REQ(PyTuple_GetItem),
    SHIM_REQ(PyImport_ImportModule), SHIM_REQ(PyObject_GetAttrString),
    SHIM_REQ(PyObject_CallFunctionObjArgs), SHIM_REQ(PyCFunction_NewEx),
    SHIM_REQ(PyThreadState_Get), SHIM_REQ(PyThreadState_Swap), SHIM_REQ(PyInterpreterState_Main),
    SHIM_REQ(PyInterpreterState_ThreadHead), SHIM_REQ(PyThreadState_Next),
    SHIM_REQ(PyGILState_Check), SHIM_OPT(Py_AddPendingCall), SHIM_OPT(PyThreadState_GetUnchecked),
};

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
    if (!pyv_supported(&out->version) || !layout) {
        snprintf(why, whylen, "Python %s%s is not supported (CPython 3.8 to 3.13 are)",
                 out->version.text, out->version.free_threaded ? " (free-threaded build)" : "");
        return -1;
    }
    out->layout = *layout;
    for (size_t i = 0; i < sizeof shim_syms / sizeof shim_syms[0]; i++) {
        void *p = lookup(handle, shim_syms[i].name);
        if (!p && !shim_syms[i].optional) {
            snprintf(why, whylen, "Python %s lacks %s", out->version.text, shim_syms[i].name);
            return -1;
        }
        memcpy((char *)&out->api + shim_syms[i].offset, &p, sizeof p);
    }
    out->api.none = (pmt_obj *)lookup(handle, "_Py_NoneStruct");
    if (!out->api.none || (out->layout.frame_lasti < 0 && !out->api.PyFrame_GetLasti)) {
        snprintf(why, whylen, "Python %s lacks _Py_NoneStruct or PyFrame_GetLasti",
                 out->version.text);
        return -1;
    }
    return 0;
}
