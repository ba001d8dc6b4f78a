/* chain: the program's own profile and trace functions beside the agent's
 * legacy hooks (3.8-3.11, and 3.12+ where the agent uses the legacy hooks).
 *
 * CPython keeps one profile and one trace function per thread. When the
 * program sets its own there (sys.setprofile/settrace: pdb, bdb, coverage's
 * Python tracer, threading's hooks, its own; PyEval_SetProfile/SetTrace
 * from C: cProfile before 3.12, coverage's C tracer, yappi), the agent's
 * hook stays in the slot and calls the program's function in turn with the
 * very arguments CPython passes: the program's tool sees the events it sees
 * without the agent, and the log goes on. The program's object stays in the
 * thread state, so sys.getprofile()/gettrace() return it and CPython hands
 * it to the agent's hook, which passes it on. When the program removes its
 * function, the agent's hook stays, alone again.
 *
 * Sets are seen through sys.setprofile/settrace replaced by look-alikes
 * (name, doc, __self__), through the C setters the agent defines (a shared
 * libpython: extension modules reach the agent's first), and through the C
 * setters' entries of each extension module a static interpreter loads
 * (chain.c says how). Where chaining cannot be done (a thread state layout
 * the agent does not know, too many threads), an ERR line and one stderr
 * line say the log has no events until the program removes its function,
 * and a MSG line when it resumes.
 *
 * Hooks layer; GIL held throughout. */
#ifndef PMT_CHAIN_H
#define PMT_CHAIN_H

#include "agent/modes.h"

/* The legacy hooks are about to go on every thread (install, or sys.
 * monitoring given up): chaining from now on where this Python allows it.
 * After the hooks are in, pmt_chain_check confirms the layout on the
 * calling thread and replaces sys.setprofile/settrace. */
void pmt_chain_begin(void);
void pmt_chain_check(void);
/* With sys.monitoring (3.12+): sys.setprofile replaced, so that the
 * program's profile function gets no event it would not get without the
 * agent (chain.c says which). */
void pmt_chain_monitoring(void);

/* row's hook f on every thread, as pmt_threads_set_all, where the program
 * may have its own function: the agent's goes in front of it (f NULL: out,
 * the program's left alone). */
void pmt_chain_set_all(const struct pmt_mode_row *row, pmt_tracefunc f);

/* The end: sys.setprofile/settrace the originals again. */
void pmt_chain_stop(void);

#endif
