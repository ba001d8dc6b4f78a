/* chain: see chain.h. */
#include "agent/chain.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/hooks.h"
#include "agent/logset.h"
#include "agent/pycall.h"
#include "agent/realsym.h"
#include "agent/threads.h"

/* ---- the links ------------------------------------------------------------
 * One per thread state whose slot holds the program's function behind the
 * agent's: the function, and the object it was set with (CPython keeps it in
 * the thread state and passes it to the agent's hook; a hook called with
 * another object is not the one the link was made for: a thread state made
 * at a freed one's address, or the agent's hook set again plainly). */

#define CH_MAX 64
struct ch_link {
    pmt_tstate *ts;
    pmt_obj *obj;
    pmt_tracefunc fn;
};

static struct {
    int usable;                     /* this Python's thread state layout is known and checked */
    pmt_tracefunc hook[3];          /* by slot: the agent's hook there, NULL: no chaining */
    struct ch_link link[3][CH_MAX]; /* by slot, pmt_hooks_chained[slot] of them */
    /* By slot: thread states whose program's function could not be chained
     * (an ERR line said so; a MSG line when it is removed). */
    pmt_tstate *paused[3][CH_MAX];
    unsigned npaused[3];
    int said;                       /* stderr line given */
    /* The C_RETURN of sys.setprofile that set the program's first function
     * in that thread: without the agent CPython gives it to no one. */
    pmt_tstate *skip_ts;
    pmt_obj *skip_arg;
} ch;


static pmt_tracefunc *ch_fnp(pmt_tstate *ts, enum pmt_hook_slot slot)
{
    return (pmt_tracefunc *)((char *)ts + pmt.py.layout.tstate_hooks +
                             (slot == PMT_HOOK_TRACE ? 8 : 0));
}

static pmt_obj **ch_objp(pmt_tstate *ts, enum pmt_hook_slot slot)
{
    return (pmt_obj **)((char *)ts + pmt.py.layout.tstate_hooks + 16 +
                        (slot == PMT_HOOK_TRACE ? 8 : 0));
}

static int ch_find(enum pmt_hook_slot slot, pmt_tstate *ts)
{
    for (unsigned i = 0; i < pmt_hooks_chained[slot]; i++)
        if (ch.link[slot][i].ts == ts)
            return (int)i;
    return -1;
}

static void ch_drop(enum pmt_hook_slot slot, int i)
{
    if (i < 0)
        return;
    ch.link[slot][i] = ch.link[slot][--pmt_hooks_chained[slot]];
}

static int ch_on(enum pmt_hook_slot slot)
{
    return slot != PMT_HOOK_NONE && ch.hook[slot] != NULL;
}



/* Links of thread states that no longer exist (threads that ended with the
 * program's function set) go when the table is full. */
static void ch_purge(enum pmt_hook_slot slot)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_interp *interp = api->PyInterpreterState_Main();
    for (unsigned i = pmt_hooks_chained[slot]; i-- > 0;) {
        pmt_tstate *ts = api->PyInterpreterState_ThreadHead(interp);
        while (ts && ts != ch.link[slot][i].ts)
            ts = api->PyThreadState_Next(ts);
        if (!ts)
            ch_drop(slot, (int)i);
    }
}

/* ---- saying so ------------------------------------------------------------ */

/* The mode's name (profile, trace): what the slot is called too. */
static const char *ch_word(enum pmt_hook_slot slot)
{
    const struct pmt_mode_row *row = pmt_threads_row_of_slot(slot);
    return row ? row->kind.name : "?";
}

static void ch_line(enum pmt_hook_slot slot, int err, const char *text)
{
    const struct pmt_mode_row *row = pmt_threads_row_of_slot(slot);
    if (!row || row->log < 0)
        return;
    if (err)
        pmt_logs_err(&pmt.logs[row->log], text);
    else
        pmt_logs_msg(&pmt.logs[row->log], text);
}

/* Whether ts is paused in slot; with drop, no longer. */
static int ch_paused(enum pmt_hook_slot slot, pmt_tstate *ts, int drop)
{
    for (unsigned i = 0; i < ch.npaused[slot]; i++) {
        if (ch.paused[slot][i] != ts)
            continue;
        if (drop)
            ch.paused[slot][i] = ch.paused[slot][--ch.npaused[slot]];
        return 1;
    }
    return 0;
}

static void ch_forget(pmt_tstate *ts)
{
    for (int slot = PMT_HOOK_PROFILE; slot <= PMT_HOOK_TRACE; slot++) {
        ch_drop((enum pmt_hook_slot)slot, ch_find((enum pmt_hook_slot)slot, ts));
        ch_paused((enum pmt_hook_slot)slot, ts, 1);
    }
}

/* The program's function keeps ts's slot alone: the log has no events of
 * that thread until the program removes it. Said once per thread. */
static void ch_cannot(enum pmt_hook_slot slot, pmt_tstate *ts, const char *why)
{
    char text[320];
    if (ch_paused(slot, ts, 0))
        return;
    if (ch.npaused[slot] < CH_MAX)
        ch.paused[slot][ch.npaused[slot]++] = ts;
    snprintf(text, sizeof text,
             "the program set its own %s function, which the agent cannot call in turn (%s): no "
             "events of that thread until the program removes it",
             ch_word(slot), why);
    ch_line(slot, 1, text);
    if (!ch.said)
        pmt_say(ch_word(slot), ": ", text, NULL);
    ch.said = 1;
}

/* ---- after the program set a slot ------------------------------------------ */

/* ts's slot may have been set by the program (its setter returned): the
 * agent's hook goes back in front, the program's function behind it. */
/* The program removed its function from ts's slot: the agent's hook alone
 * again. */
static void ch_removed(enum pmt_hook_slot slot, pmt_tstate *ts)
{
    const struct pmt_mode_row *row = pmt_threads_row_of_slot(slot);
    pmt_busy++;
    pmt_threads_set_on(row, ts, ch.hook[slot]);
    pmt_busy--;
    if (ch_paused(slot, ts, 1)) {
        char text[160];
        snprintf(text, sizeof text,
                 "the program removed its own %s function: that thread's events are logged again",
                 ch_word(slot));
        ch_line(slot, 0, text);
    }
}

/* A set where the thread state cannot be read (a layout the agent does not
 * know): what was set is all there is to go by. */
static void ch_set_unread(enum pmt_hook_slot slot, pmt_tstate *ts, int removed)
{
    if (!ch.hook[slot] || !ts)
        return;
    if (removed)
        ch_removed(slot, ts);
    else
        ch_cannot(slot, ts, "this Python's thread state is laid out as no version the agent knows");
}

static void ch_after_set(enum pmt_hook_slot slot, pmt_tstate *ts)
{
    pmt_tracefunc ours = ch.hook[slot];
    if (!ours || !ts || !ch.usable)
        return;
    pmt_tracefunc f = *ch_fnp(ts, slot);
    if (f == ours)
        return; /* the setter failed, or set nothing new */
    ch_drop(slot, ch_find(slot, ts));
    if (!f) {
        ch_removed(slot, ts);
        return;
    }
    if (pmt_hooks_chained[slot] >= CH_MAX)
        ch_purge(slot);
    if (pmt_hooks_chained[slot] >= CH_MAX) {
        ch_cannot(slot, ts, "more than 64 threads have one");
        return;
    }
    ch.link[slot][pmt_hooks_chained[slot]++] = (struct ch_link){ts, *ch_objp(ts, slot), f};
    /* Only the function changes: the program's object stays where
     * sys.getprofile()/gettrace() read it, and both being set leaves
     * CPython's tracing state as the program's setter made it. */
    *ch_fnp(ts, slot) = ours;
}

static int ch_in_front(enum pmt_hook_slot slot, pmt_tstate *ts, pmt_tracefunc f)
{
    if (!ch_on(slot) || !ch.usable || f != ch.hook[slot])
        return 0;
    pmt_tracefunc cur = *ch_fnp(ts, slot);
    if (!cur)
        return 0;
    if (cur != f)
        ch_after_set(slot, ts);
    return 1; /* in front, or there already (set again, it would drop the program's object) */
}

static int ch_give_back(enum pmt_hook_slot slot, pmt_tstate *ts)
{
    if (!ch.usable)
        return ch_paused(slot, ts, 0); /* the program's alone: left as it is */
    if (*ch_fnp(ts, slot) != ch.hook[slot])
        return 1; /* the program's alone (paused), or nothing: left as it is */
    int i = ch_find(slot, ts);
    if (i < 0)
        return 0;
    struct ch_link l = ch.link[slot][i];
    ch_drop(slot, i);
    if (*ch_fnp(ts, slot) != ch.hook[slot] || *ch_objp(ts, slot) != l.obj)
        return 0;
    *ch_fnp(ts, slot) = l.fn;
    return 1;
}

void pmt_chain_set_all(const struct pmt_mode_row *row, pmt_tracefunc f)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (!ch_on(row->slot)) {
        pmt_threads_set_all(row, f);
        return;
    }
    pmt_interp *interp = api->PyInterpreterState_Main();
    for (pmt_tstate *ts = api->PyInterpreterState_ThreadHead(interp); ts;
         ts = api->PyThreadState_Next(ts))
        if (!(f ? ch_in_front(row->slot, ts, f) : ch_give_back(row->slot, ts)))
            pmt_threads_set_on(row, ts, f);
}

/* ---- the hooks' call -------------------------------------------------------- */

static void ch_patch_loaded(void);
static int ch_patching; /* C setters are reached through patched entries */

static int ch_call(int s, pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    enum pmt_hook_slot slot = (enum pmt_hook_slot)s;
    if (pmt_hooks_loaded) {
        pmt_hooks_loaded = 0;
        if (ch_patching)
            ch_patch_loaded();
    }
    if (!pmt_hooks_chained[slot])
        return 0;
    pmt_tstate *ts = pmt.py.api.PyThreadState_Get();
    if (ch.skip_ts) {
        int skip = ts == ch.skip_ts && arg == ch.skip_arg &&
                   (what == PMT_WHAT_C_RETURN || what == PMT_WHAT_C_EXCEPTION);
        if (ts == ch.skip_ts)
            ch.skip_ts = NULL;
        if (skip)
            return 0;
    }
    int i = ch_find(slot, ts);
    if (i < 0)
        return 0;
    if (ch.link[slot][i].obj != obj) {
        ch_drop(slot, i); /* not the thread state it was made for */
        return 0;
    }
    int rc = ch.link[slot][i].fn(obj, frame, what, arg);
    /* A failing Python function is taken out by CPython's trampoline
     * (both slot fields NULL); C code may set the slot from inside. */
    if (*ch_fnp(ts, slot) != ch.hook[slot] || *ch_objp(ts, slot) != obj)
        ch_after_set(slot, ts);
    return rc;
}

/* ---- sys.setprofile and sys.settrace ----------------------------------------- */

static const char *const ch_names[3] = {NULL, "setprofile", "settrace"};
static pmt_obj *ch_sys;
static pmt_obj *ch_orig[3];    /* sys's own */
static pmt_obj *ch_wrapper[3]; /* the look-alikes */

/* With sys.monitoring (3.12+) the program's functions have the slots to
 * themselves, but a profile function set while the agent watches calls
 * would get the C_RETURN of sys.setprofile itself: the call site is
 * instrumented for the agent's tool, and CPython gives the event to every
 * tool on at the return. Without the agent no one gets it. So the first
 * function set on a thread goes in behind ch_first, which puts it in its
 * own place at the first event and drops that event if it is that one. */
static pmt_tracefunc ch_first_before; /* the slot before the setter ran */
static pmt_tracefunc ch_first_next;   /* CPython's trampoline (the same for every thread) */

static int ch_first(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg)
{
    pmt_tstate *ts = pmt.py.api.PyThreadState_Get();
    pmt_tracefunc next = ch_first_next;
    if (*ch_fnp(ts, PMT_HOOK_PROFILE) == ch_first)
        *ch_fnp(ts, PMT_HOOK_PROFILE) = next;
    if ((what == PMT_WHAT_C_RETURN || what == PMT_WHAT_C_EXCEPTION) &&
        arg == ch_wrapper[PMT_HOOK_PROFILE])
        return 0;
    return next(obj, frame, what, arg);
}

static int ch_first_wanted(enum pmt_hook_slot slot, pmt_tstate *ts, pmt_obj *res)
{
    if (!pmt.monitoring)
        return 0;
    if (!ch.usable)
        return 1;
    pmt_tracefunc *fp = ch_fnp(ts, slot);
    if (res && slot == PMT_HOOK_PROFILE && !ch_first_before && *fp && *fp != ch_first &&
        (!ch_first_next || ch_first_next == *fp)) {
        ch_first_next = *fp;
        *fp = ch_first;
    }
    return 1;
}

static pmt_obj *ch_set(enum pmt_hook_slot slot, pmt_obj *args, pmt_obj *kwargs)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_tstate *ts = api->PyThreadState_Get();
    int had = ch_find(slot, ts) >= 0;
    ch_first_before = ch.usable ? *ch_fnp(ts, slot) : NULL;
    pmt_obj *res = api->PyObject_Call(ch_orig[slot], args, kwargs);
    pmt_obj *f = api->PyTuple_GetItem(args, 0);
    if (!f && res)
        api->PyErr_Clear();
    if (ch_first_wanted(slot, ts, res))
        return res;
    /* threading's hooks that the agent set (threads.c) install the agent's
     * own hook from their first event. */
    if (pmt_busy || !ch.hook[slot] || pmt_threads_own(f))
        return res;
    if (!ch.usable) {
        if (res)
            ch_set_unread(slot, ts, f == pmt.py.api.none);
        return res;
    }
    ch_after_set(slot, ts);
    if (res && slot == PMT_HOOK_PROFILE && !had && ch_find(slot, ts) >= 0) {
        ch.skip_ts = ts;
        ch.skip_arg = ch_wrapper[slot];
    }
    return res;
}

static pmt_obj *ch_setprofile(pmt_obj *self, pmt_obj *args, pmt_obj *kwargs)
{
    (void)self;
    return ch_set(PMT_HOOK_PROFILE, args, kwargs);
}

static pmt_obj *ch_settrace(pmt_obj *self, pmt_obj *args, pmt_obj *kwargs)
{
    (void)self;
    return ch_set(PMT_HOOK_TRACE, args, kwargs);
}

static struct pmt_methoddef ch_defs[3] = {
    [PMT_HOOK_PROFILE] = {"setprofile", (void *)ch_setprofile,
                          PMT_METH_VARARGS | PMT_METH_KEYWORDS, NULL},
    [PMT_HOOK_TRACE] = {"settrace", (void *)ch_settrace, PMT_METH_VARARGS | PMT_METH_KEYWORDS,
                        NULL},
};

static void ch_wrap(enum pmt_hook_slot slot)
{
    const struct pmt_capi *api = &pmt.py.api;
    if (ch_orig[slot] || !ch_sys)
        return;
    pmt_obj *orig = api->PyObject_GetAttrString(ch_sys, ch_names[slot]);
    if (!orig)
        api->PyErr_Clear();
    /* None if replaced by someone already: left alone. */
    pmt_obj *w = pmt_lookalike(orig, &ch_defs[slot], ch_sys);
    if (!w || api->PyObject_SetAttrString(ch_sys, ch_names[slot], w) != 0) {
        api->PyErr_Clear();
        if (w)
            api->Py_DecRef(w);
        if (orig)
            api->Py_DecRef(orig);
        return;
    }
    ch_orig[slot] = orig;
    ch_wrapper[slot] = w;
}

void pmt_chain_stop(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    for (int slot = PMT_HOOK_PROFILE; slot <= PMT_HOOK_TRACE; slot++) {
        if (!ch_orig[slot])
            continue;
        pmt_obj *cur = api->PyObject_GetAttrString(ch_sys, ch_names[slot]);
        if (!cur)
            api->PyErr_Clear();
        if (cur == ch_wrapper[slot] &&
            api->PyObject_SetAttrString(ch_sys, ch_names[slot], ch_orig[slot]) != 0)
            api->PyErr_Clear();
        if (cur)
            api->Py_DecRef(cur);
        /* Kept: the program may hold the look-alike, which calls it. */
    }
}

/* ---- C setters ----------------------------------------------------------------
 * A C tool (cProfile before 3.12, coverage's C tracer, yappi) calls
 * PyEval_SetProfile/SetTrace, or _PyEval_SetProfile/SetTrace(tstate, ...)
 * (3.9+). The agent defines them: each calls the interpreter's, then puts
 * the agent's hook back in front. With a shared libpython an extension
 * module's call reaches these first (the agent is earlier in the global
 * scope). In a static interpreter (and wherever the interpreter's come
 * first) the executable's are found instead, so the entries of those names
 * in each loaded object's relocations (its GOT) are pointed here: at the
 * start, and after each dlopen (a trampoline raises pmt_hooks_loaded; the
 * next hook call patches, with the GIL held, before the new module can have
 * run more than its import). */

typedef void (*ch_set_fn)(pmt_tracefunc, pmt_obj *);
typedef int (*ch_set_ts_fn)(pmt_tstate *, pmt_tracefunc, pmt_obj *);

enum { CH_SET_PROFILE, CH_SET_TRACE, CH_SET_TS_PROFILE, CH_SET_TS_TRACE, CH_NSETTERS };
static const char *const ch_setter_names[CH_NSETTERS] = {"PyEval_SetProfile", "PyEval_SetTrace",
                                                         "_PyEval_SetProfile", "_PyEval_SetTrace"};
static void *ch_real[CH_NSETTERS];

static void *ch_real_of(int which, void *caller)
{
    if (!ch_real[which])
        ch_real[which] = pmt_real_symbol(ch_setter_names[which], caller);
    return ch_real[which];
}

/* After a C setter: the agent's hook in front again, unless it was the
 * agent's own call. */
static void ch_after_c_set(enum pmt_hook_slot slot, pmt_tstate *ts, pmt_tracefunc f, pmt_obj *o)
{
    /* (sys.setprofile/settrace come here too where libpython calls these
     * through its PLT, 3.8: threading's hooks of the agent's stay alone.) */
    if (!ch.hook[slot] || pmt_busy || f == ch.hook[slot] || pmt_threads_own(o))
        return;
    ts = ts ? ts : pmt.py.api.PyThreadState_Get();
    if (ch.usable)
        ch_after_set(slot, ts);
    else
        ch_set_unread(slot, ts, f == NULL);
}

__attribute__((visibility("default"))) void PyEval_SetProfile(pmt_tracefunc f, pmt_obj *o)
{
    ch_set_fn real = (ch_set_fn)ch_real_of(CH_SET_PROFILE, __builtin_return_address(0));
    if (real)
        real(f, o);
    ch_after_c_set(PMT_HOOK_PROFILE, NULL, f, o);
}

__attribute__((visibility("default"))) void PyEval_SetTrace(pmt_tracefunc f, pmt_obj *o)
{
    ch_set_fn real = (ch_set_fn)ch_real_of(CH_SET_TRACE, __builtin_return_address(0));
    if (real)
        real(f, o);
    ch_after_c_set(PMT_HOOK_TRACE, NULL, f, o);
}

__attribute__((visibility("default"))) int _PyEval_SetProfile(pmt_tstate *ts, pmt_tracefunc f,
                                                              pmt_obj *o)
{
    ch_set_ts_fn real = (ch_set_ts_fn)ch_real_of(CH_SET_TS_PROFILE, __builtin_return_address(0));
    int rc = real ? real(ts, f, o) : -1;
    ch_after_c_set(PMT_HOOK_PROFILE, ts, f, o);
    return rc;
}

__attribute__((visibility("default"))) int _PyEval_SetTrace(pmt_tstate *ts, pmt_tracefunc f,
                                                            pmt_obj *o)
{
    ch_set_ts_fn real = (ch_set_ts_fn)ch_real_of(CH_SET_TS_TRACE, __builtin_return_address(0));
    int rc = real ? real(ts, f, o) : -1;
    ch_after_c_set(PMT_HOOK_TRACE, ts, f, o);
    return rc;
}

/* The definitions above by their own addresses (the names resolve to the
 * first definition in the global scope, which may be the interpreter's). */
extern __typeof__(PyEval_SetProfile) ch_own_set_profile
    __attribute__((alias("PyEval_SetProfile"), visibility("hidden")));
extern __typeof__(PyEval_SetTrace) ch_own_set_trace
    __attribute__((alias("PyEval_SetTrace"), visibility("hidden")));
extern __typeof__(_PyEval_SetProfile) ch_own_set_ts_profile
    __attribute__((alias("_PyEval_SetProfile"), visibility("hidden")));
extern __typeof__(_PyEval_SetTrace) ch_own_set_ts_trace
    __attribute__((alias("_PyEval_SetTrace"), visibility("hidden")));

static void *const ch_own[CH_NSETTERS] = {(void *)ch_own_set_profile, (void *)ch_own_set_trace,
                                          (void *)ch_own_set_ts_profile,
                                          (void *)ch_own_set_ts_trace};

/* The interpreter's setter as the global scope has it: ours (shared
 * libpython), or its own (the interpreter's comes first). */
static void **ch_api_slot(int which)
{
    struct pmt_capi *api = &pmt.py.api;
    switch (which) {
    case CH_SET_PROFILE:
        return (void **)&api->PyEval_SetProfile;
    case CH_SET_TRACE:
        return (void **)&api->PyEval_SetTrace;
    case CH_SET_TS_PROFILE:
        return (void **)&api->_PyEval_SetProfile;
    default:
        return (void **)&api->_PyEval_SetTrace;
    }
}

/* ---- pointing loaded objects' entries at the agent's setters ---------------- */

#define CH_SEEN_MAX 1024
static struct {
    ElfW(Addr) base[CH_SEEN_MAX];
    int n;
} ch_seen;

static int ch_seen_before(ElfW(Addr) base)
{
    for (int i = 0; i < ch_seen.n; i++)
        if (ch_seen.base[i] == base)
            return 1;
    if (ch_seen.n < CH_SEEN_MAX)
        ch_seen.base[ch_seen.n++] = base;
    return 0;
}

static void ch_write(const struct dl_phdr_info *info, void **slot, void *value)
{
    uintptr_t a = (uintptr_t)slot;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type != PT_GNU_RELRO || a < lo || a >= hi)
            continue;
        /* Read-only after relocation: writable for the one word. */
        long page = sysconf(_SC_PAGESIZE);
        void *p = (void *)(a & ~(uintptr_t)(page - 1));
        if (mprotect(p, (size_t)page, PROT_READ | PROT_WRITE) != 0)
            return;
        __atomic_store_n(slot, value, __ATOMIC_RELEASE);
        mprotect(p, (size_t)page, PROT_READ);
        return;
    }
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
}

/* The relocations in [rel, rel + size) of one object: entries of the
 * setters that hold the interpreter's now point at the agent's. */
static void ch_patch_relocs(const struct dl_phdr_info *info, const ElfW(Rela) *rel, size_t size,
                            const ElfW(Sym) *symtab, const char *strtab)
{
    for (size_t k = 0; k < size / sizeof *rel; k++) {
        unsigned type = ELF64_R_TYPE(rel[k].r_info);
        if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT)
            continue;
        const char *name = strtab + symtab[ELF64_R_SYM(rel[k].r_info)].st_name;
        for (int w = 0; w < CH_NSETTERS; w++) {
            if (strcmp(name, ch_setter_names[w]) != 0 || !ch_real[w])
                continue;
            void **slot = (void **)(info->dlpi_addr + rel[k].r_offset);
            /* Bound already (the interpreter's), or not yet (lazy: the
             * PLT's own stub, resolving to the interpreter's). */
            if (*slot != ch_own[w])
                ch_write(info, slot, ch_own[w]);
        }
    }
}

static int ch_patch_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    static int first = 1;
    if (first) {
        first = 0; /* the executable: the interpreter itself */
        return 0;
    }
    Dl_info self;
    if (!info->dlpi_name || !info->dlpi_name[0] || ch_seen_before(info->dlpi_addr) ||
        (dladdr((void *)ch_patch_object, &self) && (ElfW(Addr))self.dli_fbase == info->dlpi_addr))
        return 0;
    const ElfW(Dyn) *dyn = NULL;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (!dyn)
        return 0;
    const ElfW(Rela) *jmprel = NULL, *rela = NULL;
    size_t jmpsz = 0, relasz = 0;
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        switch (dyn->d_tag) {
        case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn->d_un.d_ptr; break;
        case DT_PLTRELSZ: jmpsz = dyn->d_un.d_val; break;
        case DT_RELA: rela = (const ElfW(Rela) *)dyn->d_un.d_ptr; break;
        case DT_RELASZ: relasz = dyn->d_un.d_val; break;
        case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn->d_un.d_ptr; break;
        case DT_STRTAB: strtab = (const char *)dyn->d_un.d_ptr; break;
        default: break;
        }
    }
    /* glibc has relocated these dynamic entries to addresses already. */
    if (!symtab || !strtab)
        return 0;
    if (jmprel)
        ch_patch_relocs(info, jmprel, jmpsz, symtab, strtab);
    if (rela)
        ch_patch_relocs(info, rela, relasz, symtab, strtab);
    return 0;
}

static void ch_patch_loaded(void)
{
    dl_iterate_phdr(ch_patch_object, NULL);
}

/* ---- start ---------------------------------------------------------------- */

static void ch_import_sys(void)
{
    if (!ch_sys && !(ch_sys = pmt.py.api.PyImport_ImportModule("sys")))
        pmt.py.api.PyErr_Clear();
}

/* Before anything is written at the table's offsets: the objects there on
 * this thread are what sys.getprofile()/gettrace() return (None: NULL), and
 * a function is there with an object. (After the hooks are in,
 * pmt_chain_check looks again, at the agent's own hook.) */
static int ch_layout_ok(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    static const char *const getters[3] = {NULL, "getprofile", "gettrace"};
    pmt_tstate *ts = api->PyThreadState_Get();
    ch_import_sys();
    if (!ch_sys)
        return 0;
    for (int slot = PMT_HOOK_PROFILE; slot <= PMT_HOOK_TRACE; slot++) {
        pmt_obj *get = api->PyObject_GetAttrString(ch_sys, getters[slot]);
        pmt_obj *got = get ? api->PyObject_CallFunctionObjArgs(get, NULL) : NULL;
        pmt_obj *obj = *ch_objp(ts, (enum pmt_hook_slot)slot);
        int ok = got && (obj ? obj == got && *ch_fnp(ts, (enum pmt_hook_slot)slot)
                             : got == api->none);
        if (get)
            api->Py_DecRef(get);
        if (got)
            api->Py_DecRef(got);
        else
            api->PyErr_Clear();
        if (!ok)
            return 0;
    }
    return 1;
}

void pmt_chain_begin(void)
{
    struct pmt_capi *api = &pmt.py.api;
    int patch = 0;
    pmt_hooks_next = ch_call;
    pmt_threads_new_tstate = ch_forget;
    for (int w = 0; w < CH_NSETTERS; w++) {
        void **slot = ch_api_slot(w);
        if (!*slot)
            continue;
        if (*slot == ch_own[w]) {
            /* Ours comes first: the interpreter's is the next one. */
            *slot = pmt_real_symbol(ch_setter_names[w], NULL);
            ch_real[w] = *slot;
        } else {
            ch_real[w] = *slot;
            patch = 1;
        }
    }
    ch.usable = pmt.py.layout.tstate_hooks > 0 && api->PyThreadState_Get && ch_layout_ok();
    for (int slot = PMT_HOOK_PROFILE; slot <= PMT_HOOK_TRACE; slot++) {
        const struct pmt_mode_row *row = pmt_threads_row_of_slot((enum pmt_hook_slot)slot);
        ch.hook[slot] = row && row->log >= 0 && pmt.logs[row->log].state == PMT_LOG_OPEN &&
                                !pmt.cfg.function
                            ? pmt_mode_hook(row)
                            : NULL;
    }
    if (patch && !ch_patching && (ch.hook[PMT_HOOK_PROFILE] || ch.hook[PMT_HOOK_TRACE])) {
        ch_patching = 1;
        ch_patch_loaded();
    }
}

void pmt_chain_monitoring(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    ch.usable = pmt.py.layout.tstate_hooks > 0 && api->PyThreadState_Get;
    if (!ch.usable || !(pmt_mon.logs & (1u << PMT_LOG_PROFILE)))
        return;
    ch_import_sys();
    ch_wrap(PMT_HOOK_PROFILE);
}

void pmt_chain_check(void)
{
    const struct pmt_capi *api = &pmt.py.api;
    pmt_tstate *ts = api->PyThreadState_Get();
    for (int slot = PMT_HOOK_PROFILE; slot <= PMT_HOOK_TRACE; slot++) {
        if (!ch.hook[slot])
            continue;
        if (ch.usable && *ch_fnp(ts, (enum pmt_hook_slot)slot) != ch.hook[slot]) {
            ch.usable = 0; /* not where the table says: say so when it matters */
            pmt_hooks_chained[PMT_HOOK_PROFILE] = pmt_hooks_chained[PMT_HOOK_TRACE] = 0;
        }
    }
    ch_import_sys();
    for (int slot = PMT_HOOK_PROFILE; slot <= PMT_HOOK_TRACE; slot++)
        if (ch.hook[slot])
            ch_wrap((enum pmt_hook_slot)slot);
}
