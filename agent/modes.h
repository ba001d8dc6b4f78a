/* modes: the table of the agent's modes, one row per mode.
 *
 * Everything that differs between profile, trace, reftrace and sample is in
 * its row: the name users write in PYMEMTRACE and the letter of its log
 * files, the log slot and the per-thread hook it uses, and what it does at
 * each step of the agent's life (lifecycle.c calls these; NULL: nothing to
 * do). Config parsing, install, FUNCTION scoping and log naming read the
 * table; a new mode is a new row (and the functions it points to). The
 * model is CPython _lsprof.c's callback table. */
#ifndef PMT_MODES_H
#define PMT_MODES_H

#include <stddef.h>

#include "agent/agent.h" /* the log slots */
#include "agent/hooks.h"  /* the hook slots */
#include "agent/tracelog.h"
#include "config/config.h"
#include "shim/shim.h"


struct pmt_mode_row {
    struct pmt_log_kind kind;  /* name (PYMEMTRACE's word), log letter, line kind */
    unsigned bit;              /* PMT_MODE_* (config.h) */
    int log;                   /* slot in pmt.logs, or -1: the mode keeps a log of its own */
    int reads_frames;          /* needs the interpreter's frame layout (shim.h partial) */
    /* A per-thread hook: set on every thread (threads.c) or, with
     * PYMEMTRACE_FUNCTION, on the thread of a traced call. */
    enum pmt_hook_slot slot;
    pmt_tracefunc hook;
    pmt_tracefunc checked_hook;      /* its PYMEMTRACE_CHECK wrapper (selfcheck.h) */
    const char *threading_global;    /* threading's global that new threads install */
    /* At attach, with the C API found: whether it can run here; if not,
     * the reason, for one stderr line. */
    int (*usable)(char *why, size_t cap);
    /* A log of its own, opened at install after the event logs: 0, or -1
     * after one stderr line. */
    int (*open)(const struct pmt_log_env *env, const struct pmt_log_kind *kind,
                unsigned *ordinal);
    void (*start)(void);                /* the hooks are in and its log open */
    /* A look at whether something took its place: at the hooks' look now
     * and then (hooks.h), and at each audit event while the agent's audit
     * hook is in. needs_audit: that look needs the audit events (nothing
     * else would notice in time), so the audit hook stays. */
    void (*poll)(void);
    int (*needs_audit)(void);
    void (*stop)(void);                 /* the end, exec or os._exit, active or not */
    void (*finish)(int python_usable);  /* the end, still tracing, logs still open */
    void (*session_begin)(int outermost); /* FUNCTION: a traced call begins */
    void (*session_end)(int outermost);   /* ... and ends (Python usable) */
    /* Agent threads across fork (pthread_atfork) and set*id: before_fork
     * and hold return 1 when they ended a thread that resume/release(1)
     * start again. */
    int (*before_fork)(void);
    void (*after_fork_parent)(void);
    void (*after_fork_child)(unsigned *ordinal); /* NULL ordinal: the child is not traced */
    void (*resume)(void);
    int (*hold)(void);
    void (*release)(int held);
};

extern const struct pmt_mode_row pmt_modes[];
extern const size_t pmt_nmodes;

/* The row of a PMT_MODE_* bit, or of a log slot; NULL if none. */
const struct pmt_mode_row *pmt_mode_of(unsigned bit);
const struct pmt_mode_row *pmt_mode_of_log(int log);

/* The hook to install for a row: its own, or its checked wrapper with
 * PYMEMTRACE_CHECK=1; NULL for a mode without a per-thread hook. */
pmt_tracefunc pmt_mode_hook(const struct pmt_mode_row *row);

#endif
