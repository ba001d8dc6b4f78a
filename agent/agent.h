/* agent: the state of the agent in this process, one struct.
 *
 * Defined in state.c (data only, below every module that reads it); its
 * life-cycle fields (installed, active, owner) change only in lifecycle.c,
 * which owns start, install, fork, exec, signals and the end. Every mode's
 * hooks read it: CPython calls them with the GIL held, which serialises them;
 * the agent's threads (writer, sampler) never touch it. */
#ifndef PMT_AGENT_H
#define PMT_AGENT_H

#include <stdint.h>
#include <sys/types.h>

#include "agent/tracelog.h"
#include "config/config.h"
#include "shim/shim.h"

/* Slots of the event logs in pmt.logs, one per mode with an event log (its
 * row in the table of modes, modes.h, names its slot); the sampler keeps a
 * log of its own. */
enum { PMT_LOG_PROFILE, PMT_LOG_TRACE, PMT_LOG_REF, PMT_NLOGS };

struct pmt_agent {
    struct pmt_config cfg;  /* the settings (config.h) */
    struct pmt_shim py;     /* the interpreter's C API and layouts (shim.h) */
    int python_main;        /* the python executable: install at cpython.run_* */
    int installed;          /* hooks set (once per process image) */
    volatile int active;    /* hooks log events */
    int monitoring;         /* events come through sys.monitoring (monitor.c owns it) */
    pid_t owner;            /* the process the logs belong to */
    unsigned ordinal;       /* next log number of this process */
    struct pmt_log logs[PMT_NLOGS]; /* the event logs, by slot */
    struct pmt_log_env env; /* what every log shares */
    char info[640];         /* first MSG line */
};

extern struct pmt_agent pmt;

/* Per-thread re-entrancy guard: set while the agent itself runs Python code
 * (installing, the atexit callback) so the audit hook and the trampolines
 * ignore what that code does. */
extern __thread int pmt_busy __attribute__((tls_model("initial-exec")));

#endif
