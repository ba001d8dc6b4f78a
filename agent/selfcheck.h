/* selfcheck: PYMEMTRACE_CHECK=1, the agent checking its own invariants while
 * it runs, for the stress tests and for bug reports.
 *
 * The agent's state is shared by every Python thread and kept without locks
 * on the promise that CPython serialises the hooks (the GIL) and never
 * calls them re-entrantly; the writer and the sampler threads touch only
 * what they own. Under load (thousands of threads starting and ending,
 * barriers, forks) those promises are what could break, so with checks on:
 * - every hook call is wrapped (other hook functions are installed: the
 *   unchecked ones cost nothing more): the GIL is held by the calling
 *   thread, no other hook call is running, the event kind is known, the
 *   frame is a frame object, its code object's site is the one cached for
 *   it, and the log counted exactly this one event;
 * - when a log ends: no line is being written, the count of started
 *   threads is not negative, and (after EOF, on stderr only) the file holds
 *   exactly the bytes the log produced, the background writer's included.
 * Each event log ends with `MSG: ... # self-check: N hook calls checked, M
 * inconsistencies` (the first described), and the first inconsistency is
 * said once on stderr. Checks cost a few tens of nanoseconds per event. */
#ifndef PMT_SELFCHECK_H
#define PMT_SELFCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "shim/shim.h"

struct pmt_log;

/* The checked wrappers of the profile and trace hooks, which the table of
 * modes installs instead of the plain ones with PYMEMTRACE_CHECK=1
 * (modes.h, pmt_mode_hook). */
int chk_profile_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);
int chk_trace_hook(pmt_obj *obj, pmt_frame *frame, int what, pmt_obj *arg);

/* One inconsistency: counted, the first kept and said on stderr. */
void chk_fail(const char *what, const char *detail);

/* The summary line's text for a log that is ending (with checks on):
 * "self-check: ..." */
void chk_summary(char *buf, size_t cap);

/* A log is ending: the checks of that moment (checks on only). */
void chk_log_ending(const struct pmt_log *lg);

/* After a log's EOF: its file holds every byte it produced (size: what it
 * holds, (uint64_t)-1 when unknown). */
void chk_log_closed(const struct pmt_log *lg, uint64_t size);

extern uint64_t chk_failures;

#endif
