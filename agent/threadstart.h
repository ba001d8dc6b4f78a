/* threadstart: the agent's wrapper around each new thread's start routine.
 *
 * A thread's start and end move RSS partly without page faults the agent
 * counts (rss.h): the wrapper tells rss when its thread starts and ends.
 * Platform layer: no Python. The records come from a fixed pool, never from
 * malloc (threadstart.c says why). */
#ifndef PMT_THREADSTART_H
#define PMT_THREADSTART_H

/* A record for fn(arg), to start pmt_thread_main with; NULL when the pool
 * is empty (the thread then starts unwrapped). */
void *pmt_thread_wrap(void *(*fn)(void *), void *arg);
/* The thread could not be created: the record goes back. */
void pmt_thread_unwrap(void *record);
/* The start routine to give pthread_create with a record. */
void *pmt_thread_main(void *record);
/* In a forked child: records of threads starting in the parent are not the
 * child's. */
void pmt_thread_wrap_reset(void);

#endif
