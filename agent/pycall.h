/* pycall: the agent calling into Python (gc, atexit), leaving no trace in
 * the program's sys.modules or its pending exception.
 *
 * Python-access layer: reads the resolved C API (pmt.py); GIL held. */
#ifndef PMT_PYCALL_H
#define PMT_PYCALL_H

#include "shim/shim.h"

/* module.attr(arg), or module.attr() when arg is NULL: a new reference or
 * NULL (the error cleared). The caller keeps any pending exception of the
 * program's aside. */
pmt_obj *pmt_call(const char *module, const char *attr, pmt_obj *arg);

/* module.attr(f) with f a new C function object made from def; 0 on success. */
int pmt_call_with(const char *module, const char *attr, struct pmt_methoddef *def);

/* A look-alike of builtin function orig (the agent's function in its
 * place): def, given orig's documentation (the same text and signature),
 * made into a function with owner as __self__ and orig's __module__. A new
 * reference, or NULL (nothing made, no error left) if orig is not a
 * builtin function. */
pmt_obj *pmt_lookalike(pmt_obj *orig, struct pmt_methoddef *def, pmt_obj *owner);

#endif
