/* agent: the state shared by the entry points, the install logic and the hooks. */
#ifndef PMT_AGENT_H
#define PMT_AGENT_H

#include <sys/types.h>

#include "agent/tracelog.h"
#include "config/config.h"
#include "shim/shim.h"

enum { PMT_LOG_PROFILE, PMT_LOG_TRACE, PMT_NLOGS };

struct pmt_agent {
    struct pmt_config cfg;
    struct pmt_shim py;
    int python_main;        /* the python executable: install at cpython.run_* */
    int installed;          /* hooks set (once per process image) */
    volatile int active;    /* hooks log events */
    pid_t owner;            /* the process the logs belong to */
    unsigned ordinal;       /* next log number of this process */
    struct pmt_log logs[PMT_NLOGS];
    struct pmt_log_env env;
    char info[512];         /* first MSG: line */
};

extern struct pmt_agent pmt;

/* Per-thread re-entrancy guard: set while the agent itself runs Python code
 * (installing, the atexit callback) so the audit hook and the trampolines
 * ignore what that code does. */
extern __thread int pmt_busy __attribute__((tls_model("initial-exec")));

/* hooks.c */
int pmt_profile_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
int pmt_trace_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
void pmt_hooks_record(int log, pmt_frame *frame, int what, pmt_obj *arg);
int pmt_hooks_line(const struct pmt_site *site, int lasti);
void pmt_hooks_after_fork(void);

/* entry.c: whether free/realloc are glibc's (their unmaps are then seen) */
int pmt_glibc_malloc(void);

/* install.c */
int pmt_audit_hook(const char *event, pmt_obj *args, void *data);
void pmt_finish(int python_usable);  /* LAST/EOF on every log, STOP on the sampler's; idempotent */
void pmt_fork_prepare(void);         /* pthread_atfork handlers: agent threads end before */
void pmt_fork_parent(void);          /* a fork and start again after it */

#endif
