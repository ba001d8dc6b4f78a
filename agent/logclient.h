/* logclient: the agent's side of its log writer process (logd/logring.h
 * says why there is one, logd/logd.c is the process).
 *
 * The ring is mapped once, at one address for the process's whole life: a
 * forked child keeps the address with memory of its own (the parent's ring
 * is cut off in the child at once), and a later start (in that child, or
 * after a failed exec) maps a new ring at the same place, so buffers a log
 * keeps across opens stay valid. The writer is started when the first log
 * opens. Where it cannot be (no memfd, exec refused, a seccomp filter, a
 * non-x86-64 machine), logclient_start says why and the agent writes its
 * logs itself, as before (sink.h).
 *
 * Log layer: no Python. Requests are made one at a time (the GIL, or the
 * lifecycle's own calls); a signal handler's request while another is
 * running is refused (EBUSY) rather than mixed into it. */
#ifndef PMT_LOGCLIENT_H
#define PMT_LOGCLIENT_H

#include <stdint.h>

struct pmt_ring;
struct pmt_ring_slot;

/* The writer runs (started now if need be): 0; or -1, and *why says why
 * the agent writes its logs itself. */
int logclient_start(const char **why);
/* The ring, mapped for good once a writer was started (it stays after the
 * writer ended: the sinks' buffers are in it), or NULL. */
struct pmt_ring *logclient_ring(void);
/* A slot of the ring for one log, kept for good (its buffers are reused
 * across the log's opens): its index, or -1 when none is free or there is
 * no ring. */
int logclient_slot_new(void);
/* The slot whose buffers start at mem, or -1. */
int logclient_slot_of(const char *mem);

/* The writer opens path for slot k (logd/logopen.h's rules; excl: a new
 * file only): 0, or an errno value, with *why a refusal (logopen.h). */
int logclient_open(unsigned k, const char *path, int excl, int *why);
/* Everything slot k holds written, its file closed: 0 or the errno of a
 * failed write; *size what the file holds. */
int logclient_close(unsigned k, uint64_t *size);
/* There is something to write: wakes the writer if it sleeps. */
void logclient_kick(void);
/* Waits until the writer's counter *count reaches want and, when b is not
 * NULL, *b equals *c: 0; or an errno value when the writer is gone (said
 * once) or does not move for too long. (Words, not a callback: the agent's
 * threads make no indirect calls, rawthread.h.) */
int logclient_wait(const uint32_t *count, uint32_t want, const uint32_t *b, const uint32_t *c);
/* The writer writes what it holds, closes everything and ends; reaped. */
void logclient_end(void);
/* In a forked child: the parent's ring is cut off, there is no writer. */
void logclient_after_fork_child(void);
/* Set once the writer is gone without being asked to. */
extern volatile int logclient_lost;

#endif
