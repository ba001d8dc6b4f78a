/* realsym: the real definitions behind the names the agent replaces, and
 * whether the process's allocator is glibc's.
 *
 * Platform layer: no Python, no logs. The dlsym the agent calls is libc's
 * own (pmt_real_dlsym), never the agent's replacement, whose trampoline
 * (dlsym_trampoline.S, entry.c) watches for an embedded libpython. */
#ifndef PMT_REALSYM_H
#define PMT_REALSYM_H

#include "agent/forward.h" /* PMT_EARLY */

/* libc's dlsym, once pmt_resolve_dlsym has found it; used by the trampoline. */
extern void *pmt_real_dlsym;

/* Finds libc's dlsym (idempotent; safe before any constructor). */
PMT_EARLY void pmt_resolve_dlsym(void);

/* libc's dlopen, for the dlopen trampoline (pmt_resolve_dlopen finds it;
 * safe before any constructor). */
extern void *pmt_real_dlopen;
PMT_EARLY void pmt_resolve_dlopen(void);

/* handle's definition of name through libc's dlsym (NULL until resolved). */
PMT_EARLY void *pmt_dlsym(void *handle, const char *name);

/* The definition of name that the agent's own interposes: the next one after
 * the agent, else the one caller's object sees (a libpython loaded
 * RTLD_LOCAL). Leaves no dlerror behind. */
void *pmt_real_symbol(const char *name, void *caller);

/* sigaction as the next definition after the agent's (libc's) does it: the
 * agent's own settings of its signal handlers go through here (entry.c's
 * sigaction would keep its handler in place of a default). -1 and ENOSYS
 * if there is none. */
struct sigaction;
int pmt_sigaction_next(int sig, const struct sigaction *act, struct sigaction *old);

/* Whether malloc, calloc, free and realloc are glibc's (their unmaps are
 * then seen through the chunk headers, rss.h). */
int pmt_glibc_malloc(void);

#endif
