/* pyversion: what Py_GetVersion() says, parsed. Pure, so it is unit-tested. */
#ifndef PMT_PYVERSION_H
#define PMT_PYVERSION_H

#include <stddef.h>

struct pmt_pyversion {
    int major, minor, micro;
    int free_threaded;  /* "experimental free-threading build" (3.13t) */
    char text[32];      /* PY_VERSION, e.g. "3.11.2" or "3.13.0rc1": up to the first space */
};

/* Parses Py_GetVersion()'s "3.11.2 (main, Apr 28 2025, ...) [GCC 12.2.0]".
 * Returns 0, or -1 if it does not start with "<major>.<minor>". */
int pyv_parse(const char *version, struct pmt_pyversion *out);

/* The newest minor version the agent knows. */
#define PYV_NEWEST_MINOR 15

/* 1 if the agent knows how this interpreter looks (3.8 to 3.15, GIL builds). */
int pyv_supported(const struct pmt_pyversion *v);
/* 1 for a Python 3 newer than any the agent knows (GIL builds): it may still
 * be read from what it publishes (debugoffsets.h). */
int pyv_newer(const struct pmt_pyversion *v);

#endif
