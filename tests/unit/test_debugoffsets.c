/* _Py_DebugOffsets: fabricated tables in the layouts of 3.13, 3.14 and 3.15
 * (values as those interpreters publish them, CPYTHON-NOTES §8), read by
 * shim/debugoffsets.c and taken into a layout by shim_resolve, with the
 * exact refusal lines. */
#include <criterion/criterion.h>
#include <string.h>

#include "shim/debugoffsets.h"
#include "shim/shim.h"

/* A table as Python 3.minor would publish it: word positions of its
 * sections' sizes and fields (debugoffsets.c counts the same from the
 * headers; these are written out from each header by hand). */
struct fab {
    uint64_t w[80];
};

static void fab_set(struct fab *t, int word, uint64_t v)
{
    cr_assert(word < 80);
    t->w[word] = v;
}

/* Sizes and offsets as 3.14.10 publishes them; minor picks the positions. */
static struct fab fab_table(int minor, uint64_t version)
{
    struct fab t;
    memset(&t, 0, sizeof t);
    memcpy(t.w, "xdebugpy", 8);
    t.w[1] = version;
    t.w[2] = 0;
    /* {thread state, frame, code, object, type}: size word, then fields */
    int ts, fr, co, ob, tp;
    if (minor == 13) {
        ts = 19, fr = 28, co = 34, ob = 44, tp = 46;
    } else if (minor == 14) {
        ts = 22, fr = 31, co = 39, ob = 50, tp = 52;
    } else {
        ts = 22, fr = 39, co = 47, ob = 58, tp = 60;
    }
    fab_set(&t, ts, 832);
    fab_set(&t, ts + 4, 72);     /* current_frame */
    fab_set(&t, fr, 88);
    fab_set(&t, fr + 1, 8);      /* previous */
    fab_set(&t, fr + 2, 0);      /* executable */
    fab_set(&t, fr + 3, 56);     /* instr_ptr */
    fab_set(&t, fr + 5, minor == 13 ? 70 : 74); /* owner */
    fab_set(&t, co, 216);
    fab_set(&t, co + 1, 112);    /* filename */
    fab_set(&t, co + 2, 120);    /* name */
    fab_set(&t, co + 3, 128);    /* qualname */
    fab_set(&t, co + 5, 68);     /* firstlineno */
    fab_set(&t, ob, 16);
    fab_set(&t, ob + 1, 8);      /* ob_type */
    fab_set(&t, tp, 416);
    fab_set(&t, tp + 1, 24);     /* tp_name */
    fab_set(&t, tp + 3, 168);    /* tp_flags */
    return t;
}

Test(debugoffsets, each_known_layout)
{
    static const struct { int minor; uint64_t version; int owner; } v[] = {
        {13, 0x030d12f0, 70}, {14, 0x030e0af0, 74}, {15, 0x030f02f0, 74}};
    for (size_t i = 0; i < 3; i++) {
        struct fab t = fab_table(v[i].minor, v[i].version);
        struct shim_published p;
        char why[200] = "";
        cr_assert_eq(shim_debug_read(t.w, 3, v[i].minor, &p, why, sizeof why), 0, "3.%d: %s", v[i].minor, why);
        cr_assert_eq(p.version, v[i].version);
        cr_assert_eq(p.format_minor, v[i].minor);
        cr_assert_eq(p.tstate_frame, 72);
        cr_assert_eq(p.iframe_previous, 8);
        cr_assert_eq(p.iframe_code, 0);
        cr_assert_eq(p.iframe_instr, 56);
        cr_assert_eq(p.iframe_owner, v[i].owner);
        cr_assert_eq(p.co_filename, 112);
        cr_assert_eq(p.co_name, 120);
        cr_assert_eq(p.co_qualname, 128);
        cr_assert_eq(p.co_firstlineno, 68);
        cr_assert_eq(p.ob_type, 8);
        cr_assert_eq(p.tp_name, 24);
        cr_assert_eq(p.tp_flags, 168);
        cr_assert_eq(shim_debug_table_words(v[i].minor), (size_t)(v[i].minor == 13 ? 50 : v[i].minor == 14 ? 56 : 64));
    }
}

Test(debugoffsets, offsets_that_moved_are_taken)
{
    struct fab t = fab_table(15, 0x030f02f0);
    t.w[39 + 5] = 77;  /* owner */
    t.w[47 + 1] = 104; /* co_filename */
    struct shim_published p;
    char why[200];
    cr_assert_eq(shim_debug_read(t.w, 3, 15, &p, why, sizeof why), 0);
    cr_assert_eq(p.iframe_owner, 77);
    cr_assert_eq(p.co_filename, 104);
}

static void refused(const struct fab *t, int minor, const char *expected)
{
    struct shim_published p;
    char why[200] = "";
    cr_assert_eq(shim_debug_read(t->w, 3, minor, &p, why, sizeof why), -1);
    cr_assert_str_eq(why, expected);
}

Test(debugoffsets, wrong_cookie)
{
    struct fab t = fab_table(14, 0x030e0af0);
    memcpy(t.w, "xdebugpz", 8);
    refused(&t, 14, "its _Py_DebugOffsets do not start with the cookie \"xdebugpy\"");
}

Test(debugoffsets, another_version)
{
    struct fab t = fab_table(14, 0x030d12f0);
    refused(&t, 14, "its _Py_DebugOffsets are those of Python 3.13 (version word 0x30d12f0)");
}

Test(debugoffsets, free_threaded)
{
    struct fab t = fab_table(14, 0x030e0af0);
    t.w[2] = 1;
    refused(&t, 14, "it is a free-threaded build (its _Py_DebugOffsets say so)");
}

Test(debugoffsets, offset_outside_its_struct)
{
    struct fab t = fab_table(14, 0x030e0af0);
    t.w[31] = 64; /* the frame is 64 bytes; its owner at 74 */
    refused(&t, 14, "its _Py_DebugOffsets give _PyInterpreterFrame.owner as 74 in a struct of 64 bytes");
    t = fab_table(14, 0x030e0af0);
    t.w[22] = 0; /* no size */
    refused(&t, 14, "its _Py_DebugOffsets give PyThreadState.current_frame as 72 in a struct of 0 bytes");
}

Test(debugoffsets, no_layout_before_313)
{
    struct fab t = fab_table(13, 0x030c01f0);
    refused(&t, 12, "the agent knows no _Py_DebugOffsets layout for Python 3.12");
}

Test(debugoffsets, newer_minor_read_with_the_newest_layout)
{
    struct fab t = fab_table(15, 0x031000a0);
    struct shim_published p;
    char why[200];
    cr_assert_eq(shim_debug_read(t.w, 3, 16, &p, why, sizeof why), 0, "%s", why);
    cr_assert_eq(p.format_minor, 15);
    cr_assert_eq(shim_debug_newest_format(), 15);
}

/* ---- through shim_resolve, with a fake interpreter ---------------------- */

static const char *fake_version;
static struct fab fake_runtime;
static int fake_has_runtime;

static const char *fake_get_version(void)
{
    return fake_version;
}

static void fake_function(void)
{
}

static char fake_object[512];

static void *fake_lookup(void *handle, const char *name)
{
    (void)handle;
    if (!strcmp(name, "Py_GetVersion"))
        return (void *)fake_get_version;
    if (!strcmp(name, "_PyRuntime"))
        return fake_has_runtime ? (void *)fake_runtime.w : NULL;
    if (!strcmp(name, "_PyEval_SetTrace") || !strcmp(name, "_PyThreadState_UncheckedGet"))
        return NULL; /* gone in 3.13+ */
    if (!strncmp(name, "Py", 2) && strstr(name, "_Type"))
        return fake_object;
    if (!strncmp(name, "_Py_", 4) && strstr(name, "Struct"))
        return fake_object;
    return (void *)fake_function;
}

static int resolve(const char *version, struct pmt_shim *s, char *why, size_t whylen)
{
    fake_version = version;
    return shim_resolve(fake_lookup, NULL, s, why, whylen);
}

Test(debugoffsets, resolve_takes_the_published_offsets)
{
    static struct pmt_shim s;
    char why[300] = "";
    fake_runtime = fab_table(14, 0x030e0af0);
    fake_runtime.w[31 + 5] = 75; /* owner somewhere else than in the table */
    fake_has_runtime = 1;
    cr_assert_eq(resolve("3.14.10 (main, Nov 2 2026) [GCC 15.2.0]", &s, why, sizeof why), 0, "%s", why);
    cr_assert_eq(s.layout.iframe_owner, 75);
    cr_assert_eq(s.layout.eval_owner, 75);
    cr_assert_eq(s.layout.tstate_frame, 72);
    cr_assert_eq(s.layout.owner_not_python, 3);
    cr_assert_eq(s.partial, 0);
}

Test(debugoffsets, resolve_refuses_a_wrong_cookie)
{
    static struct pmt_shim s;
    char why[300] = "";
    fake_runtime = fab_table(15, 0x030f02f0);
    memcpy(fake_runtime.w, "XDEBUGPY", 8);
    fake_has_runtime = 1;
    cr_assert_eq(resolve("3.15.2 (main)", &s, why, sizeof why), -1);
    cr_assert_str_eq(why, "Python 3.15.2: its _Py_DebugOffsets do not start with the cookie \"xdebugpy\"");
}

Test(debugoffsets, resolve_refuses_other_object_headers)
{
    static struct pmt_shim s;
    char why[300] = "";
    fake_runtime = fab_table(14, 0x030e0af0);
    fake_runtime.w[50] = 32; /* PyObject as a free-threaded build has it */
    fake_runtime.w[51] = 24;
    fake_has_runtime = 1;
    cr_assert_eq(resolve("3.14.10", &s, why, sizeof why), -1);
    cr_assert_str_eq(why, "Python 3.14.10 lays out objects as no version the agent knows (its "
                          "_Py_DebugOffsets: ob_type at 24, tp_name at 24, tp_flags at 168)");
}

Test(debugoffsets, resolve_refuses_without_runtime)
{
    static struct pmt_shim s;
    char why[300] = "";
    fake_has_runtime = 0;
    cr_assert_eq(resolve("3.13.18", &s, why, sizeof why), -1);
    cr_assert_str_eq(why, "Python 3.13.18 exports no _PyRuntime, where it publishes its layout");
}

Test(debugoffsets, newer_python_partial_when_its_table_checks_out)
{
    static struct pmt_shim s;
    char why[300] = "";
    fake_runtime = fab_table(15, 0x031000f0);
    fake_has_runtime = 1;
    cr_assert_eq(resolve("3.16.0 (main)", &s, why, sizeof why), 0, "%s", why);
    cr_assert_eq(s.partial, 1);
    cr_assert_str_eq(s.why_partial,
                     "Python 3.16.0 is newer than the agent knows (CPython 3.8 to 3.15): its _Py_DebugOffsets "
                     "check out, but the frame object's layout, the frame owners and frame evaluation are not "
                     "published, so only sample mode runs");
}

Test(debugoffsets, newer_python_refused_when_its_table_does_not)
{
    static struct pmt_shim s;
    char why[300] = "";
    fake_runtime = fab_table(15, 0x031000f0);
    fake_runtime.w[39] = 0; /* the frame section moved: no size where 3.15 has it */
    fake_has_runtime = 1;
    cr_assert_eq(resolve("3.16.0 (main)", &s, why, sizeof why), -1);
    cr_assert_str_eq(why, "Python 3.16.0: its _Py_DebugOffsets give _PyInterpreterFrame.previous as 8 in a "
                          "struct of 0 bytes (the agent knows CPython 3.8 to 3.15)");
}
