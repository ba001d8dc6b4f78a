/* threads: a mode's per-thread hook on every Python thread, those that
 * exist at install and those started later, whichever way they start.
 *
 * Hooks layer: the how of CPython's two per-thread hook slots (profile and
 * trace) across 3.8-3.15; which mode uses which slot is its row's (modes.h).
 * GIL held throughout. */
#ifndef PMT_THREADS_H
#define PMT_THREADS_H

#include "agent/modes.h"

/* row's slot on the calling thread only, or on every thread now (NULL
 * takes the hook out). */
void pmt_threads_set_current(const struct pmt_mode_row *row, pmt_tracefunc f);
void pmt_threads_set_all(const struct pmt_mode_row *row, pmt_tracefunc f);
/* row's slot on thread state ts, whichever thread it is. */
void pmt_threads_set_on(const struct pmt_mode_row *row, pmt_tstate *ts, pmt_tracefunc f);
/* The mode whose hook goes in slot (the first on, as the table orders
 * them), or NULL. */
const struct pmt_mode_row *pmt_threads_row_of_slot(enum pmt_hook_slot slot);

/* Told of each thread state new since the last look, before it gets its
 * hooks, when set (chain.c: its address may be a freed one's). */
extern void (*pmt_threads_new_tstate)(pmt_tstate *ts);

/* Whether o is one of the functions the agent puts in threading's hooks. */
int pmt_threads_own(pmt_obj *o);

/* At install, after set_all: the threads that exist now have the hooks;
 * later ones get them as they come. */
void pmt_threads_watch(void);

/* The hooks of threads started since the last call (their thread states,
 * or threading's module globals; threads.c says which where). */
void pmt_hook_new_threads(void);
/* Whether there are hooks to give new threads. */
int pmt_new_threads_watched(void);
/* pthread_create, before the thread exists: with the GIL held (Thread.start)
 * the new thread's state is made already, and gets its hooks now. */
void pmt_threads_before_create(void);

#endif
