/* rawio: see rawio.h. */
#include "agent/rawio.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>

#include "agent/rawthread.h"

void pmt_say(const char *first, ...)
{
    char line[2048] = "pymemtrace: ";
    size_t n = strlen(line);
    va_list ap;
    va_start(ap, first);
    for (const char *part = first; part; part = va_arg(ap, const char *)) {
        size_t k = part ? strlen(part) : 0;
        if (k > sizeof line - 1 - n)
            k = sizeof line - 1 - n;
        memcpy(line + n, part, k);
        n += k;
    }
    va_end(ap);
    line[n++] = '\n';
    while (pmt_sys3(SYS_write, 2, line, n) == -EINTR)
        ;
}

int pmt_write_all(int fd, const char *buf, size_t len, off_t off)
{
    for (size_t done = 0; done < len;) {
        long rc = off >= 0 ? pmt_sys6(SYS_pwrite64, fd, (long)(buf + done), (long)(len - done),
                                      (long)(off + (off_t)done), 0, 0)
                           : pmt_sys3(SYS_write, fd, buf + done, len - done);
        if (rc == -EINTR)
            continue;
        if (rc <= 0)
            return rc < 0 ? (int)-rc : ENOSPC;
        done += (size_t)rc;
    }
    return 0;
}

/* strerror may allocate for unknown codes; strerrordesc_np never does. */
const char *pmt_errtext(int err)
{
    const char *s = strerrordesc_np(err);
    return s ? s : "unknown error";
}
