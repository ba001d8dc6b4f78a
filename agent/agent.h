/* agent: the state shared by the entry points, the install logic and the hooks. */
#ifndef PMT_AGENT_H
#define PMT_AGENT_H

#include <stdint.h>
#include <sys/types.h>

#include "agent/tracelog.h"
#include "config/config.h"
#include "shim/shim.h"

enum { PMT_LOG_PROFILE, PMT_LOG_TRACE, PMT_LOG_REF, PMT_NLOGS };

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
const struct pmt_site *pmt_hooks_site(pmt_obj *code);
uint32_t pmt_hooks_thread(void);  /* native id of the calling thread */
int pmt_hooks_reopen(struct pmt_log *lg); /* a forked child's logs; 0 if lg is open */
void pmt_hooks_after_fork(void);

/* entry.c: whether free/realloc are glibc's (their unmaps are then seen) */
int pmt_glibc_malloc(void);
/* entry.c: the definition of name that the agent's own interposes: the next
 * one after the agent, else the one caller's object sees. */
void *pmt_real_symbol(const char *name, void *caller);

/* install.c: a SIGTERM that came while a line was being written waits for
 * the line: pmt_write_end then completes the logs and raises it again. */
extern volatile int pmt_signal_pending;
void pmt_signal_resume(void);
static inline void pmt_write_begin(void)
{
    pmt_log_writing++;
}
static inline void pmt_write_end(void)
{
    if (--pmt_log_writing == 0 && __builtin_expect(pmt_signal_pending, 0))
        pmt_signal_resume();
}

/* install.c: module.attr(arg), or module.attr() when arg is NULL: a new
 * reference or NULL (the error cleared).
 * GIL held; the caller keeps any pending exception of the program's aside. */
pmt_obj *pmt_call(const char *module, const char *attr, pmt_obj *arg);

/* install.c: the hooks of threads started since the last call (their
 * thread states, or threading's module globals; see install.c). GIL held. */
void pmt_hook_new_threads(void);
/* Whether there are hooks to give new threads (pthread_create asks). */
int pmt_new_threads_watched(void);

/* install.c */
int pmt_audit_hook(const char *event, pmt_obj *args, void *data);
void pmt_finish(int python_usable);  /* LAST/EOF on every log, STOP on the sampler's; idempotent */
/* The first MSG line's text, for this process (at install, in a fork child). */
void pmt_set_info(const char *rss_source, uint32_t tid);
/* The same with the RSS source already set, naming another thread. */
void pmt_info_for_thread(uint32_t tid);
void pmt_fork_prepare(void);         /* pthread_atfork handlers: agent threads end before */
void pmt_fork_parent(void);          /* a fork and start again after it */

#endif
