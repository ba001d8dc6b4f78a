/* monitor: see monitor.h. */
#include "agent/monitor.h"

#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/chain.h"
#include "agent/hooks.h"
#include "agent/logset.h"
#include "agent/modes.h"
#include "agent/pycall.h"
#include "agent/threads.h"

#define MON_NCB 16
#define MON_NAME "pymemtrace"

static const int mon_order[] = {4, 3, 5, 2, 1, 0};

static struct {
    pmt_obj *mod;            /* sys.monitoring */
    int id;                  /* the agent's tool id, -1: none */
    long mask;               /* the events set */
    long ev[MON_NCB];        /* each callback's event, as sys.monitoring.events says */
    pmt_obj *fn[MON_NCB];    /* each callback's function object, NULL: not used */
    pmt_obj *register_callback, *set_events; /* sys.monitoring's own */
} mon = {.id = -1};

int pmt_monitor_on(void)
{
    return mon.id >= 0;
}

/* ---- calling sys.monitoring --------------------------------------------- */

/* f(a, b[, c]) with a, b ints and c an object; 0 unless it raised (cleared). */
static int mon_call(pmt_obj *f, long a, long b, pmt_obj *c, int with_b)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *x = api->PyLong_FromLong(a);
    pmt_obj *y = with_b ? api->PyLong_FromLong(b) : NULL;
    pmt_obj *res = NULL;
    if (x && (y || !with_b))
        res = c ? api->PyObject_CallFunctionObjArgs(f, x, y, c, NULL)
                : api->PyObject_CallFunctionObjArgs(f, x, y, NULL);
    if (x)
        api->Py_DecRef(x);
    if (y)
        api->Py_DecRef(y);
    if (!res) {
        api->PyErr_Clear();
        return -1;
    }
    api->Py_DecRef(res);
    return 0;
}

/* The original of one of the functions made to give way (below). */
enum { MON_USE, MON_FREE, MON_CLEAR, MON_GET, MON_NWRAP };
static const char *const mon_wrapped_names[MON_NWRAP] = {"use_tool_id", "free_tool_id",
                                                         "clear_tool_id", "get_tool"};
static pmt_obj *mon_orig[MON_NWRAP];

/* The tool at id (get_tool): 1 in use, 0 free, -1 unknown. */
static int mon_in_use(int id)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *x = api->PyLong_FromLong(id);
    pmt_obj *res = x ? api->PyObject_CallFunctionObjArgs(mon_orig[MON_GET], x, NULL) : NULL;
    if (x)
        api->Py_DecRef(x);
    if (!res) {
        api->PyErr_Clear();
        return -1;
    }
    int used = res != api->none;
    api->Py_DecRef(res);
    return used;
}

/* The agent's callbacks with tool id: 0, or -1 with nothing left behind. */
static int mon_register(int id)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *name = api->PyUnicode_FromString(MON_NAME);
    pmt_obj *x = api->PyLong_FromLong(id);
    pmt_obj *res = name && x ? api->PyObject_CallFunctionObjArgs(mon_orig[MON_USE], x, name, NULL)
                             : NULL;
    if (name)
        api->Py_DecRef(name);
    if (x)
        api->Py_DecRef(x);
    if (!res) {
        api->PyErr_Clear();
        return -1;
    }
    api->Py_DecRef(res);
    int ok = 1;
    for (size_t i = 0; i < pmt_mon_ncallbacks && ok; i++)
        if (mon.fn[i])
            ok = mon_call(mon.register_callback, id, mon.ev[i], mon.fn[i], 1) == 0;
    if (ok && mon_call(mon.set_events, id, mon.mask, NULL, 1) == 0)
        return 0;
    for (size_t i = 0; i < pmt_mon_ncallbacks; i++)
        if (mon.fn[i])
            mon_call(mon.register_callback, id, mon.ev[i], api->none, 1);
    mon_call(mon_orig[MON_FREE], id, 0, NULL, 0);
    return -1;
}

/* No event, no callback, the id free (3.12 and 3.13's free_tool_id keeps
 * both). */
static void mon_unregister(int id)
{
    const struct pmt_capi *api = &pmt.py.api;
    mon_call(mon.set_events, id, 0, NULL, 1);
    for (size_t i = 0; i < pmt_mon_ncallbacks; i++)
        if (mon.fn[i])
            mon_call(mon.register_callback, id, mon.ev[i], api->none, 1);
    mon_call(mon_orig[MON_FREE], id, 0, NULL, 0);
}

static void mon_say(const char *text)
{
    for (int i = 0; i < PMT_NLOGS; i++)
        if (pmt_mon.logs & (1u << i))
            pmt_logs_msg(&pmt.logs[i], text);
}

/* The legacy hooks on every thread, as without sys.monitoring. */
static void mon_to_legacy(void)
{
    pmt_chain_begin();
    for (size_t i = 0; i < pmt_nmodes; i++) {
        const struct pmt_mode_row *row = &pmt_modes[i];
        pmt_tracefunc hook = pmt_mode_hook(row);
        if (hook && row->log >= 0 && (pmt_mon.logs & (1u << row->log)))
            pmt_chain_set_all(row, hook);
    }
    pmt_chain_check();
    pmt_threads_watch();
}

/* The program asked for the agent's id: the agent moves out of its way. */
static void mon_give_way(int wanted)
{
    char text[256];
    int old = mon.id;
    for (size_t i = 0; i < sizeof mon_order / sizeof mon_order[0]; i++) {
        int id = mon_order[i];
        if (id == old || mon_in_use(id) != 0 || mon_register(id) != 0)
            continue;
        mon_unregister(old);
        mon.id = id;
        snprintf(text, sizeof text,
                 "the program asked for sys.monitoring tool id %d, which the agent held: the agent "
                 "now uses id %d",
                 wanted, id);
        mon_say(text);
        return;
    }
    /* None free: the legacy hooks first, so that no event is lost. */
    mon.id = -1;
    pmt.monitoring = 0;
    mon_to_legacy();
    mon_unregister(old);
    snprintf(text, sizeof text,
             "the program asked for sys.monitoring tool id %d, which the agent held, and no other "
             "is free: the agent now uses the legacy profile and trace hooks",
             wanted);
    mon_say(text);
}

/* ---- the functions that give way ------------------------------------------ */

/* The tool id a call names (its first argument), or -1. */
static int mon_id_arg(pmt_obj *args)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_obj *a = api->PyTuple_GetItem(args, 0);
    if (!a) {
        api->PyErr_Clear();
        return -1;
    }
    long id = api->PyLong_AsLong(a);
    if (id == -1)
        api->PyErr_Clear();
    return id >= 0 && id <= 5 ? (int)id : -1;
}

static pmt_obj *mon_forward(int which, pmt_obj *args, pmt_obj *kwargs)
{
    return pmt.py.api.PyObject_Call(mon_orig[which], args, kwargs);
}

static pmt_obj *mon_use_tool_id(pmt_obj *self, pmt_obj *args, pmt_obj *kwargs)
{
    (void)self;
    int id = mon_id_arg(args);
    if (id >= 0 && id == mon.id && !pmt_busy) {
        pmt_busy++;
        mon_give_way(id);
        pmt_busy--;
    }
    return mon_forward(MON_USE, args, kwargs);
}

/* The agent's id looks free: get_tool says None for it, and free_tool_id
 * and clear_tool_id of it do nothing, as of a free id. Others go to the
 * original (which). */
static pmt_obj *mon_as_free(int which, pmt_obj *args, pmt_obj *kwargs)
{
    int id = mon_id_arg(args);
    if (id >= 0 && id == mon.id && !kwargs) {
        pmt.py.api.Py_IncRef(pmt.py.api.none);
        return pmt.py.api.none;
    }
    return mon_forward(which, args, kwargs);
}

static pmt_obj *mon_free_tool_id(pmt_obj *self, pmt_obj *args, pmt_obj *kwargs)
{
    (void)self;
    return mon_as_free(MON_FREE, args, kwargs);
}

static pmt_obj *mon_clear_tool_id(pmt_obj *self, pmt_obj *args, pmt_obj *kwargs)
{
    (void)self;
    return mon_as_free(MON_CLEAR, args, kwargs);
}

static pmt_obj *mon_get_tool(pmt_obj *self, pmt_obj *args, pmt_obj *kwargs)
{
    (void)self;
    return mon_as_free(MON_GET, args, kwargs);
}

static struct pmt_methoddef mon_defs[MON_NWRAP] = {
    {"use_tool_id", (void *)mon_use_tool_id, PMT_METH_VARARGS | PMT_METH_KEYWORDS, NULL},
    {"free_tool_id", (void *)mon_free_tool_id, PMT_METH_VARARGS | PMT_METH_KEYWORDS, NULL},
    {"clear_tool_id", (void *)mon_clear_tool_id, PMT_METH_VARARGS | PMT_METH_KEYWORDS, NULL},
    {"get_tool", (void *)mon_get_tool, PMT_METH_VARARGS | PMT_METH_KEYWORDS, NULL},
};

/* Puts the wrappers in place of sys.monitoring's functions; the originals
 * kept. clear_tool_id exists from 3.14. 0, or -1 with none replaced. */
static int mon_wrap(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    for (int i = 0; i < MON_NWRAP; i++) {
        mon_orig[i] = api->PyObject_GetAttrString(mon.mod, mon_wrapped_names[i]);
        if (!mon_orig[i]) {
            api->PyErr_Clear();
            if (i != MON_CLEAR)
                return -1;
            continue;
        }
        if (shim_type_of(mon_orig[i]) != pmt_mon.cfunction_type)
            return -1; /* already replaced by someone: leave them alone */
    }
    for (int i = 0; i < MON_NWRAP; i++) {
        pmt_obj *w = pmt_lookalike(mon_orig[i], &mon_defs[i], mon.mod);
        if (w && api->PyObject_SetAttrString(mon.mod, mon_wrapped_names[i], w) != 0)
            api->PyErr_Clear();
        if (w)
            api->Py_DecRef(w);
    }
    return 0;
}

static void mon_unwrap(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    for (int i = 0; i < MON_NWRAP; i++) {
        if (!mon_orig[i])
            continue;
        if (api->PyObject_SetAttrString(mon.mod, mon_wrapped_names[i], mon_orig[i]) != 0)
            api->PyErr_Clear();
        api->Py_DecRef(mon_orig[i]);
        mon_orig[i] = NULL;
    }
}

/* ---- start and stop ----------------------------------------------------- */

/* 3.12+'s compact ints, read in place by the callbacks (hooks.h), checked
 * against the C API on a few values first. */
static int mon_ints_check(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    static const long values[] = {0, 7, 254, 1000, 65534, 1 << 29, -3};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        pmt_obj *o = api->PyLong_FromLong(values[i]);
        if (!o)
            return api->PyErr_Clear(), 0;
        uintptr_t tag = *(const uintptr_t *)((const char *)o + PMT_MON_LONG_TAG);
        long got = tag < (2u << 3)
                       ? (1 - (long)(tag & 3)) * (long)*(const uint32_t *)((const char *)o + PMT_MON_LONG_DIGIT)
                       : -999999;
        api->Py_DecRef(o);
        if (got != values[i])
            return 0;
    }
    return 1;
}

/* ---- the callback objects ------------------------------------------------
 * CPython calls a monitoring callback through its vectorcall slot. A
 * builtin function object (PyCFunction) gets there through CPython's
 * dispatch on its flags and a recursion check; an object of a small type of
 * the agent's own, whose vectorcall pointer is the callback itself, gets
 * there directly, as CPython's own legacy hooks do. The callbacks take
 * (self, args, nargs) and ignore the rest, which fits both calls. The type
 * is made with PyType_FromSpec (stable ABI): a header and the pointer,
 * __vectorcalloffset__ saying where it is. Where it cannot be made, builtin
 * function objects serve. */

struct mon_member { /* PyMemberDef */
    const char *name;
    int type;
    ptrdiff_t offset;
    int flags;
    const char *doc;
};
struct mon_slot { /* PyType_Slot */
    int slot;
    void *pfunc;
};
struct mon_spec { /* PyType_Spec */
    const char *name;
    int basicsize, itemsize;
    unsigned int flags;
    struct mon_slot *slots;
};
#define MON_T_PYSSIZET 19
#define MON_READONLY 1
#define MON_TP_CALL 50
#define MON_TP_MEMBERS 72
#define MON_TPFLAGS_DEFAULT (1u << 18)
#define MON_TPFLAGS_HAVE_VECTORCALL (1u << 11)
#define MON_VECTORCALL_AT 16 /* after PyObject_HEAD */

static struct mon_member mon_members[] = {
    {"__vectorcalloffset__", MON_T_PYSSIZET, MON_VECTORCALL_AT, MON_READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};
static struct mon_slot mon_slots[] = {
    {MON_TP_MEMBERS, mon_members},
    {MON_TP_CALL, NULL}, /* PyVectorcall_Call, set at run time */
    {0, NULL},
};
static struct mon_spec mon_spec = {"pymemtrace.callback", MON_VECTORCALL_AT + (int)sizeof(void *), 0,
                                   MON_TPFLAGS_DEFAULT | MON_TPFLAGS_HAVE_VECTORCALL, mon_slots};
static pmt_obj *mon_callback_type;

static pmt_obj *mon_callback_object(const struct pmt_mon_callback *cb)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (!mon_callback_type && api->PyType_FromSpec && api->PyVectorcall_Call &&
        api->PyType_GenericAlloc) {
        mon_slots[1].pfunc = (void *)api->PyVectorcall_Call;
        mon_callback_type = api->PyType_FromSpec(&mon_spec);
        if (!mon_callback_type)
            api->PyErr_Clear();
    }
    pmt_obj *o = mon_callback_type ? api->PyType_GenericAlloc(mon_callback_type, 0) : NULL;
    if (o) {
        *(void **)((char *)o + MON_VECTORCALL_AT) = cb->def.ml_meth;
        return o;
    }
    api->PyErr_Clear();
    return api->PyCFunction_NewEx((struct pmt_methoddef *)&cb->def, NULL, NULL);
}

static pmt_obj *mon_attr(pmt_obj *o, const char *name)
{
    pmt_obj *a = pmt.py.api.PyObject_GetAttrString(o, name);
    if (!a)
        pmt.py.api.PyErr_Clear();
    return a;
}

int pmt_monitor_start(unsigned logs, char *why, size_t whylen)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (pmt.py.version.minor < 12) {
        snprintf(why, whylen, "sys.monitoring needs Python 3.12 or newer");
        return -1;
    }
    pmt_obj *sys = api->PyImport_ImportModule("sys");
    mon.mod = sys ? mon_attr(sys, "monitoring") : NULL;
    if (sys)
        api->Py_DecRef(sys);
    pmt_obj *events = mon.mod ? mon_attr(mon.mod, "events") : NULL;
    pmt_mon.missing = mon.mod ? mon_attr(mon.mod, "MISSING") : NULL;
    pmt_mon.disable = mon.mod ? mon_attr(mon.mod, "DISABLE") : NULL;
    mon.register_callback = mon.mod ? mon_attr(mon.mod, "register_callback") : NULL;
    mon.set_events = mon.mod ? mon_attr(mon.mod, "set_events") : NULL;
    pmt_mon.cfunction_type = (const pmt_obj *)pmt.py.api.cfunction_type;
    pmt_mon.cmethod_type = (const pmt_obj *)pmt.py.api.cmethod_type;
    pmt_mon.method_descr_type = (const pmt_obj *)pmt.py.api.method_descr_type;
    pmt_mon.bound_method_type =
        pmt.py.version.minor == 13 ? (const pmt_obj *)pmt.py.api.method_type : NULL;
    if (!events || !pmt_mon.missing || !pmt_mon.disable || !mon.register_callback ||
        !mon.set_events || !pmt_mon.cfunction_type || !pmt_mon.method_descr_type) {
        snprintf(why, whylen, "sys.monitoring lacks what the agent uses");
        goto fail;
    }
    pmt_mon.compact_ints = mon_ints_check();
    pmt_mon.logs = logs;
    mon.mask = 0;
    for (size_t i = 0; i < pmt_mon_ncallbacks && i < MON_NCB; i++) {
        const struct pmt_mon_callback *cb = &pmt_mon_callbacks[i];
        if (!(cb->logs & logs))
            continue;
        pmt_obj *e = mon_attr(events, cb->event);
        long v = e ? api->PyLong_AsLong(e) : -1;
        if (e)
            api->Py_DecRef(e);
        if (v <= 0) {
            api->PyErr_Clear();
            snprintf(why, whylen, "sys.monitoring.events has no %s", cb->event);
            goto fail;
        }
        mon.ev[i] = v;
        mon.mask |= v;
        mon.fn[i] = mon_callback_object(cb);
        if (!mon.fn[i]) {
            api->PyErr_Clear();
            snprintf(why, whylen, "cannot make the sys.monitoring callbacks");
            goto fail;
        }
    }
    if (mon_wrap() != 0) {
        snprintf(why, whylen, "sys.monitoring's functions are not the interpreter's own");
        goto fail;
    }
    for (size_t i = 0; i < sizeof mon_order / sizeof mon_order[0]; i++) {
        int id = mon_order[i];
        if (mon_in_use(id) == 0 && mon_register(id) == 0) {
            mon.id = id;
            pmt.monitoring = 1;
            api->Py_DecRef(events);
            return 0;
        }
    }
    snprintf(why, whylen, "every sys.monitoring tool id is taken");
fail:
    mon_unwrap();
    if (events)
        api->Py_DecRef(events);
    for (size_t i = 0; i < MON_NCB; i++) {
        if (mon.fn[i])
            api->Py_DecRef(mon.fn[i]);
        mon.fn[i] = NULL;
    }
    return -1;
}

void pmt_monitor_stop(void)
{
    if (!mon.mod)
        return;
    if (mon.id >= 0)
        mon_unregister(mon.id);
    mon.id = -1;
    pmt.monitoring = 0;
    mon_unwrap();
}
