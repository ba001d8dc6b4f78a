/* debugoffsets: reading _Py_DebugOffsets (see debugoffsets.h). */
#include "shim/debugoffsets.h"

#include <stdio.h>
#include <string.h>

/* Word positions (64-bit words from the start of the table; the cookie is
 * word 0, the version word 1, free_threaded word 2) of the fields read, per
 * minor version. Counted from each version's Include/internal header
 * (pycore_runtime.h in 3.13, pycore_debug_offsets.h from 3.14) and checked
 * against the tables of 3.13.0, 3.13.18, 3.14.10 and 3.15.2 (CPYTHON-NOTES
 * §8). Between them: 3.14 added threads_main, code_object_generation and
 * tlbc_generation to the interpreter state, stackpointer and tlbc_index to
 * the frame, co_tlbc to the code object; 3.15 added seven thread-state
 * fields and an exception-stack-item section before the frame's. */
struct do_row {
    int minor;
    int ts_size, ts_frame;
    int if_size, if_previous, if_code, if_instr, if_owner;
    int co_size, co_filename, co_name, co_qualname, co_firstlineno;
    int ob_size, ob_type;
    int tp_size, tp_name, tp_flags;
};

static const struct do_row do_rows[] = {
    {13, 19, 23, 28, 29, 30, 31, 33, 34, 35, 36, 37, 39, 44, 45, 46, 47, 49},
    {14, 22, 26, 31, 32, 33, 34, 36, 39, 40, 41, 42, 44, 50, 51, 52, 53, 55},
    {15, 22, 26, 39, 40, 41, 42, 44, 47, 48, 49, 50, 52, 58, 59, 60, 61, 63},
};
#define DO_NROWS (sizeof do_rows / sizeof do_rows[0])

int shim_debug_newest_format(void)
{
    return do_rows[DO_NROWS - 1].minor;
}

static const struct do_row *do_row_for(int minor)
{
    if (minor > do_rows[DO_NROWS - 1].minor)
        return &do_rows[DO_NROWS - 1];
    for (size_t i = 0; i < DO_NROWS; i++)
        if (do_rows[i].minor == minor)
            return &do_rows[i];
    return NULL;
}

size_t shim_debug_table_words(int minor)
{
    const struct do_row *r = do_row_for(minor);
    return r ? (size_t)r->tp_flags + 1 : 0;
}

/* One published offset: inside its struct's published size (which must look
 * like a size), and small enough for an int. */
static int do_field(const uint64_t *w, int size_word, int word, const char *name, int *out, char *why,
                    size_t whylen)
{
    uint64_t size = w[size_word], off = w[word];
    if (size == 0 || size > (1u << 20) || off >= size) {
        snprintf(why, whylen, "its _Py_DebugOffsets give %s as %llu in a struct of %llu bytes", name,
                 (unsigned long long)off, (unsigned long long)size);
        return -1;
    }
    *out = (int)off;
    return 0;
}

int shim_debug_read(const void *table, int major, int minor, struct shim_published *out, char *why,
                    size_t whylen)
{
    memset(out, 0, sizeof *out);
    const struct do_row *r = major == 3 ? do_row_for(minor) : NULL;
    if (!r) {
        snprintf(why, whylen, "the agent knows no _Py_DebugOffsets layout for Python %d.%d", major, minor);
        return -1;
    }
    if (!table || memcmp(table, SHIM_DEBUG_COOKIE, 8) != 0) {
        snprintf(why, whylen, "its _Py_DebugOffsets do not start with the cookie \"%s\"", SHIM_DEBUG_COOKIE);
        return -1;
    }
    const uint64_t *w = table;
    out->version = w[1];
    int vmajor = (int)(w[1] >> 24 & 0xff), vminor = (int)(w[1] >> 16 & 0xff);
    if (vmajor != major || vminor != minor) {
        snprintf(why, whylen, "its _Py_DebugOffsets are those of Python %d.%d (version word 0x%llx)", vmajor,
                 vminor, (unsigned long long)w[1]);
        return -1;
    }
    if (w[2] != 0) {
        snprintf(why, whylen, "it is a free-threaded build (its _Py_DebugOffsets say so)");
        return -1;
    }
    out->format_minor = r->minor;
    struct {
        int size, word;
        const char *name;
        int *out;
    } fields[] = {
        {r->ts_size, r->ts_frame, "PyThreadState.current_frame", &out->tstate_frame},
        {r->if_size, r->if_previous, "_PyInterpreterFrame.previous", &out->iframe_previous},
        {r->if_size, r->if_code, "_PyInterpreterFrame.f_executable", &out->iframe_code},
        {r->if_size, r->if_instr, "_PyInterpreterFrame.instr_ptr", &out->iframe_instr},
        {r->if_size, r->if_owner, "_PyInterpreterFrame.owner", &out->iframe_owner},
        {r->co_size, r->co_filename, "PyCodeObject.co_filename", &out->co_filename},
        {r->co_size, r->co_name, "PyCodeObject.co_name", &out->co_name},
        {r->co_size, r->co_qualname, "PyCodeObject.co_qualname", &out->co_qualname},
        {r->co_size, r->co_firstlineno, "PyCodeObject.co_firstlineno", &out->co_firstlineno},
        {r->ob_size, r->ob_type, "PyObject.ob_type", &out->ob_type},
        {r->tp_size, r->tp_name, "PyTypeObject.tp_name", &out->tp_name},
        {r->tp_size, r->tp_flags, "PyTypeObject.tp_flags", &out->tp_flags},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (do_field(w, fields[i].size, fields[i].word, fields[i].name, fields[i].out, why, whylen) != 0)
            return -1;
    return 0;
}
