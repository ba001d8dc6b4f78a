/* logopen: see logopen.h. */
#include "logd/logopen.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "agent/rawthread.h" /* pmt_sys6 */

static unsigned lo_major(unsigned long long dev)
{
    return (unsigned)(((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfffULL));
}

static unsigned lo_minor(unsigned long long dev)
{
    return (unsigned)((dev & 0xff) | ((dev >> 12) & ~0xffULL));
}

/* An existing file the agent may write its log into, or why not. */
static int lo_refused(int fd, int *regular)
{
    struct stat st;
    *regular = 0;
    if (pmt_sys3(SYS_fstat, fd, &st, 0) != 0)
        return PMT_WHY_UNEXAMINED;
    if (S_ISCHR(st.st_mode) && lo_major(st.st_rdev) == 1 &&
        (lo_minor(st.st_rdev) == 3 || lo_minor(st.st_rdev) == 7))
        return PMT_WHY_NONE; /* /dev/null, /dev/full */
    if (S_ISFIFO(st.st_mode))
        return PMT_WHY_FIFO;
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        return PMT_WHY_DEVICE;
    if (S_ISSOCK(st.st_mode))
        return PMT_WHY_SOCKET;
    if (!S_ISREG(st.st_mode))
        return PMT_WHY_NOT_REGULAR;
    if (st.st_uid != (uid_t)pmt_sys3(SYS_geteuid, 0, 0, 0))
        return PMT_WHY_OTHER_USER;
    *regular = 1;
    return PMT_WHY_NONE;
}

int pmt_log_open(const char *path, int excl, unsigned mode, int *why)
{
    *why = PMT_WHY_NONE;
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW;
    if (excl)
        return (int)pmt_sys6(SYS_openat, AT_FDCWD, (long)path, flags | O_EXCL, mode, 0, 0);
    long fd = pmt_sys6(SYS_openat, AT_FDCWD, (long)path, flags | O_NONBLOCK, mode, 0, 0);
    if (fd < 0) {
        if (fd == -ELOOP)
            *why = PMT_WHY_SYMLINK;
        else if (fd == -ENXIO)
            *why = PMT_WHY_FIFO;
        return (int)fd;
    }
    int regular;
    long rc = 0;
    *why = lo_refused((int)fd, &regular);
    if (*why)
        rc = -EPERM;
    else if (regular)
        rc = pmt_sys3(SYS_ftruncate, fd, 0, 0);
    if (rc == 0)
        rc = pmt_sys3(SYS_fcntl, fd, F_SETFL, O_APPEND); /* blocking from now on */
    if (rc < 0) {
        pmt_sys3(SYS_close, fd, 0, 0);
        return (int)rc;
    }
    return (int)fd;
}

const char *pmt_log_why_text(int why)
{
    switch (why) {
    case PMT_WHY_SYMLINK: return "is a symbolic link";
    case PMT_WHY_FIFO: return "is a FIFO, not a regular file";
    case PMT_WHY_DEVICE: return "is a device, not a regular file";
    case PMT_WHY_SOCKET: return "is a socket, not a regular file";
    case PMT_WHY_NOT_REGULAR: return "is not a regular file";
    case PMT_WHY_OTHER_USER: return "belongs to another user";
    case PMT_WHY_UNEXAMINED: return "cannot be examined";
    default: return "";
    }
}
