/* pycall: see pycall.h. */
#include "agent/pycall.h"

#include <string.h>

#include "agent/agent.h"

/* Whether a module the agent imported may leave sys.modules again, so that
 * the program does not see it imported: builtin modules whose state is the
 * interpreter's, which a later import of the program's own finds again (gc;
 * atexit from 3.10, whose callbacks lived in the module's state before and
 * would be lost to a second import). */
static int pc_may_forget(const char *module)
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
    if (mod && !had && pc_may_forget(module) && api->PyDict_DelItemString(modules, module) != 0)
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

int pmt_call_with(const char *module, const char *attr, struct pmt_methoddef *def)
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

/* PyCFunctionObject: m_ml at 16, m_self at 24, m_module at 32. */
#define PC_CF_ML 16
#define PC_CF_MODULE 32

pmt_obj *pmt_lookalike(pmt_obj *orig, struct pmt_methoddef *def, pmt_obj *owner)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (!orig || shim_type_of(orig) != api->cfunction_type)
        return NULL;
    const struct pmt_methoddef *ml = *(const struct pmt_methoddef *const *)((const char *)orig + PC_CF_ML);
    pmt_obj *module = *(pmt_obj *const *)((const char *)orig + PC_CF_MODULE);
    def->ml_doc = ml->ml_doc;
    pmt_obj *w = api->PyCFunction_NewEx(def, owner, module);
    if (!w)
        api->PyErr_Clear();
    return w;
}
