/* logset: the event logs of this process as a set (pmt.logs): the first
 * MSG line they share, a MSG line in either kind of log, and a forked
 * child's reopening of them at its first event.
 *
 * Log layer, above tracelog (one log) and the site cache (their lines). */
#ifndef PMT_LOGSET_H
#define PMT_LOGSET_H

#include <stdint.h>

#include "agent/tracelog.h"

/* The first MSG line's text (pmt.info) for this process: the RSS source
 * and the thread that opens the logs (at install, in a fork child). */
void pmt_logs_set_info(const char *rss_source, uint32_t tid);
/* The same with the RSS source already set, naming another thread. */
void pmt_logs_info_for_thread(uint32_t tid);

/* A MSG line at the current event (event log) or time (reference log);
 * an ERR line: something the log misses. */
void pmt_logs_msg(struct pmt_log *lg, const char *text);
void pmt_logs_err(struct pmt_log *lg, const char *text);

/* A forked child's first event opens all its logs, in the parent's order,
 * so that their numbers do not depend on which hook fires first; each keeps
 * its depth. 0 if lg is then open. */
int pmt_logs_reopen(struct pmt_log *lg);

#endif
