/* rawio: see rawio.h. */
#include "agent/rawio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>

#include "agent/rawthread.h"

void pmt_say(const char *first, ...)
{
    /* One line of at most 2 KiB. A part too long for it (a 128 KiB path)
     * is cut in its middle, "[...]" marking the cut, so that the line still
     * ends as it should ("; not tracing"). */
    enum { CAP = 2048, MAXPARTS = 24 };
    static const char prefix[] = "pymemtrace: ", cut[] = "[...]";
    const char *parts[MAXPARTS];
    size_t lens[MAXPARTS], total = sizeof prefix - 1, np = 0, longest = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *part = first; part && np < MAXPARTS; part = va_arg(ap, const char *)) {
        parts[np] = part;
        lens[np] = strlen(part);
        total += lens[np];
        if (lens[np] > lens[longest])
            longest = np;
        np++;
    }
    va_end(ap);
    size_t room = CAP - 1; /* the '\n' */
    size_t keep_head = (size_t)-1, keep_tail = 0;
    if (total > room && np) {
        size_t excess = total - room + (sizeof cut - 1);
        size_t keep = lens[longest] > excess ? lens[longest] - excess : 0;
        keep_head = keep / 2;
        keep_tail = keep - keep_head;
    }
    char line[CAP];
    size_t n = 0;
#define SAY_PUT(s, k)                                                                          \
    do {                                                                                       \
        size_t k_ = (k) < room - n ? (k) : room - n;                                           \
        memcpy(line + n, (s), k_);                                                             \
        n += k_;                                                                               \
    } while (0)
    SAY_PUT(prefix, sizeof prefix - 1);
    for (size_t i = 0; i < np; i++) {
        if (i == longest && keep_head != (size_t)-1) {
            SAY_PUT(parts[i], keep_head);
            SAY_PUT(cut, sizeof cut - 1);
            SAY_PUT(parts[i] + lens[i] - keep_tail, keep_tail);
        } else {
            SAY_PUT(parts[i], lens[i]);
        }
    }
#undef SAY_PUT
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

size_t pmt_read_small(const char *path, char *buf, size_t cap)
{
    long fd = pmt_sys3(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    buf[0] = '\0';
    if (fd < 0)
        return 0;
    while (n < cap - 1) {
        long rc = pmt_sys3(SYS_read, fd, buf + n, cap - 1 - n);
        if (rc == -EINTR)
            continue;
        if (rc <= 0)
            break;
        n += (size_t)rc;
    }
    pmt_sys3(SYS_close, fd, 0, 0);
    buf[n] = '\0';
    return n;
}
