/* rss: the two numbers every event carries, Resident Set Size and clock.
 *
 * RSS comes from /proc/self/statm (resident pages), read with pread on a
 * descriptor kept open; a forked child must reopen it, since the open file
 * names the parent's /proc entry. The clock is clock()'s: process CPU time in
 * microseconds, what cPyMemTrace prints in its Clock column. */
#ifndef PMT_RSS_H
#define PMT_RSS_H

#include <stdint.h>
#include <time.h>

int rss_open(void);              /* 0, or -1 with errno */
void rss_reopen_after_fork(void);
uint64_t rss_read(void);         /* bytes; 0 if it could not be read */

static inline uint64_t pmt_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#endif
