/* sampler: PYMEMTRACE=sample. A background thread writes, every
 * PYMEMTRACE_SAMPLE_INTERVAL seconds, one line of the process's memory and
 * CPU figures (RSS, peak RSS, virtual size, page faults, CPU times) into a
 * log of its own, named with the letter S; a START line when it begins and a
 * STOP line when the process ends, execs or is left by os._exit. The lines
 * are those of pymemtrace's process module (logfmt.h).
 *
 * The thread exists only in this mode. It reads /proc/self and getrusage,
 * never calls Python (it needs no GIL), sleeps between samples and blocks
 * every signal. It is ended before any fork, so that os.fork() on 3.12+
 * sees no extra thread and does not warn, and started again afterwards: in
 * the parent when the caller says (sampler_resume), in the child at once with
 * a log of the child's own.
 *
 * Control calls are serialised by a lock of the sampler's own; the thread
 * takes no lock. */
#ifndef PMT_SAMPLER_H
#define PMT_SAMPLER_H

#include "agent/tracelog.h"

/* Opens the log (ordinal *ordinal, then incremented), writes its message
 * line and START, says where it goes unless quiet, and starts the thread,
 * which samples every env->cfg->sample_interval_ns.
 * env and kind must outlive the sampler. On a failure says so once on stderr and
 * returns -1: the sampler then does nothing. */
int sampler_open(const struct pmt_log_env *env, const struct pmt_log_kind *kind,
                 unsigned *ordinal);

/* Ends the thread (a bounded wait: a thread stuck in a write is left
 * behind), writes STOP and closes the log. Only the process that opened the
 * log does anything; later calls do nothing. Exit, os._exit, exec. */
void sampler_finish(void);

/* pthread_atfork handlers. before_fork ends the thread and returns 1 when
 * it did (the caller then arranges sampler_resume in the parent). In the
 * child, a sampled parent's log is left to the parent and one of the child's
 * own opens, with ordinal *ordinal (none when ordinal is NULL). */
int sampler_before_fork(void);
void sampler_after_fork_parent(void);
void sampler_after_fork_child(unsigned *ordinal);

/* In the parent after a fork: starts the thread again if before_fork ended
 * it and the log is still open. */
void sampler_resume(void);

/* Around a change of the process's credentials (setuid and the rest of the
 * family, entry.c): the thread is one that glibc's set*id broadcast does not
 * reach (rawthread.h), so it would keep the old credentials, a root thread
 * in a process that dropped root. hold ends it and returns 1 when it did;
 * release(1) starts it again, with the credentials then in force. */
int sampler_hold(void);
void sampler_release(int held);

#endif
