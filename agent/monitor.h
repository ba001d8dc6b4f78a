/* monitor: the profile and trace events through PEP 669's sys.monitoring
 * (3.12+), with a tool id of the agent's own.
 *
 * CPython's legacy profile and trace functions are, from 3.12 on, a client
 * of sys.monitoring themselves (tools 6 and 7), one per thread, that the
 * program's sys.setprofile/settrace (pdb, cProfile before 3.12, coverage's
 * tracers, its own) replace. A tool id of the agent's runs beside them and
 * beside the program's own monitoring tools (coverage 7, cProfile, pdb on
 * 3.14), for every thread, those started later and those C code makes
 * included, and costs less per event. The callbacks are hooks.c's; here is
 * how they are registered, and how the id is given up when the program
 * asks for it.
 *
 * The ids 0-5 are shared and few. The agent takes a free one (4 first, then
 * 3, 5, 2, 1, 0: by convention 0 is a debugger's, 1 coverage's, 2 a
 * profiler's, 5 an optimizer's) and makes sys.monitoring's use_tool_id,
 * free_tool_id, clear_tool_id and get_tool give way: a program that asks
 * for the agent's id gets it (the agent moves to another free id first, or,
 * with none left, to the legacy hooks, without losing an event; a MSG line
 * says so), get_tool says None for it, and freeing it does nothing. The
 * replacements carry the originals' names, documentation, signature and
 * __self__. Modes layer; GIL held throughout. */
#ifndef PMT_MONITOR_H
#define PMT_MONITOR_H

#include <stddef.h>

/* Registers the callbacks of the logs in logs (1 << PMT_LOG_*) with a tool
 * id of the agent's. Returns 0, or -1 (nothing done, why filled in: an
 * interpreter before 3.12, every id taken, an error from sys.monitoring):
 * the caller uses the legacy hooks then. */
int pmt_monitor_start(unsigned logs, char *why, size_t whylen);

/* Whether the events come through sys.monitoring now. */
int pmt_monitor_on(void);

/* The end (Python usable): no more events, the id freed, sys.monitoring's
 * functions the originals again. */
void pmt_monitor_stop(void);

#endif
