#include "agent/rss.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int rss_fd = -1;
static uint64_t rss_page;

int rss_open(void)
{
    rss_page = (uint64_t)sysconf(_SC_PAGESIZE);
    rss_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    return rss_fd >= 0 ? 0 : -1;
}

void rss_reopen_after_fork(void)
{
    if (rss_fd < 0)
        return;
    close(rss_fd);
    rss_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
}

uint64_t rss_read(void)
{
    char buf[128];
    ssize_t n = pread(rss_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "size resident shared text lib data dt": skip the first field */
    const char *p = buf;
    while (*p && *p != ' ')
        p++;
    if (*p)
        p++;
    uint64_t pages = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        pages = pages * 10 + (uint64_t)(*p - '0');
    return pages * rss_page;
}
