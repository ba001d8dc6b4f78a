/* debugoffsets: what a CPython 3.13+ interpreter publishes about its own
 * layout. _PyRuntime, an exported symbol, starts with _Py_DebugOffsets (for
 * out-of-process debuggers): a cookie, the version, whether the build is
 * free-threaded, then one section per struct (its size, then offsets of its
 * fields), all as 64-bit words. The sections grow from one minor version to
 * the next (fields are inserted, not only appended), so where a word is
 * depends on the minor version: one row per version here.
 *
 * Pure: it reads only the bytes it is given, so it is unit-tested with
 * fabricated tables. */
#ifndef PMT_DEBUGOFFSETS_H
#define PMT_DEBUGOFFSETS_H

#include <stddef.h>
#include <stdint.h>

#define SHIM_DEBUG_COOKIE "xdebugpy"

/* The offsets the agent takes from the table. */
struct shim_published {
    uint64_t version; /* PY_VERSION_HEX of the interpreter that wrote it */
    int tstate_frame;     /* PyThreadState.current_frame */
    int iframe_previous;  /* _PyInterpreterFrame.previous */
    int iframe_code;      /* .f_executable */
    int iframe_instr;     /* .instr_ptr */
    int iframe_owner;     /* .owner */
    int co_filename, co_name, co_qualname, co_firstlineno;
    int ob_type;          /* PyObject.ob_type */
    int tp_name, tp_flags;
    int format_minor;     /* the minor version whose word positions were used */
};

/* The newest minor version whose table layout the agent knows. */
int shim_debug_newest_format(void);

/* Reads the table at table (the first bytes of _PyRuntime; at least
 * shim_debug_table_words(minor) 64-bit words must be readable) of a Python
 * 3.minor. A minor newer than any known is read with the newest known
 * layout, and must then pass every check too. Checks: the cookie, the
 * version's major and minor, a GIL build, and each offset inside its
 * struct's published size. Returns 0, or -1 with why (one clause, e.g.
 * "its _Py_DebugOffsets cookie is wrong") filled in. */
int shim_debug_read(const void *table, int major, int minor, struct shim_published *out, char *why,
                    size_t whylen);

/* How many words shim_debug_read reads for a minor version. */
size_t shim_debug_table_words(int minor);

#endif
