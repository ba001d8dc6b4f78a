/* lifecycle: the one owner of the agent's life in a process.
 *
 *   start (constructor: settings) -> attach (a Python found: its C API, the
 *   audit hook) -> install (the moment user code runs: logs, hooks, atexit,
 *   SIGTERM; the audit hook taken out again) -> [fork: prepare/parent/child]
 *   [exec] [set*id] -> finish
 *   (atexit, os._exit, a destructor, SIGTERM) -> stopped.
 *
 * Every mode takes part through its row in the table of modes (modes.h):
 * lifecycle.c names no mode. The preload entry (entry.c) calls in here and
 * nothing calls back into it. */
#ifndef PMT_LIFECYCLE_H
#define PMT_LIFECYCLE_H

#include <signal.h>

#include "shim/shim.h"

/* The constructor: reads the settings from envp (a bad one is said at
 * attach, when it is known that a Python runs). */
void pmt_start(char *const envp[]);

/* A Python was found through handle (RTLD_DEFAULT, or the handle a host
 * dlopened libpython with): resolves its C API with lookup and adds the
 * audit hook that will install. python_main: this is the python executable
 * (install at cpython.run_*), not a host that embeds Python. */
void pmt_attach(pmt_lookup lookup, void *handle, int python_main);

/* LAST/EOF on every log, STOP on the sampler's; idempotent. python_usable:
 * the hooks can still be taken out (atexit), not at _exit or a destructor. */
void pmt_finish(int python_usable);

/* The process is about to exec (the exec family in entry.c): the logs are
 * completed first, as the new image runs no destructor. Does nothing in
 * any process but the traced one (a vfork child shares its memory). */
void pmt_before_exec(void);

/* entry.c's sigaction and signal: a program that asks for a fatal signal's
 * default action while the agent watches it gets the agent's handler
 * instead (which completes the logs, then ends as the default would): 1
 * and *ours filled; else 0. */
int pmt_signal_keep(int sig, const struct sigaction *act, struct sigaction *ours);

/* Around a change of credentials (set*id): the agent's threads end before
 * and start again after. begin returns what end needs. */
unsigned pmt_setid_begin(void);
void pmt_setid_end(unsigned held);

#endif
