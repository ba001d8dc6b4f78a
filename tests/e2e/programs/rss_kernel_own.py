# RSS the kernel raises on its own, with no page fault of the process and
# no call the agent sees: MADV_COLLAPSE (Linux 6.1+), through a raw
# syscall, makes a 2 MiB huge page of a range where one page was touched,
# as khugepaged does in the background. The fast RSS source cannot see the
# moment; it re-reads statm at least every 65536 events (rss.h), so the
# +2 MB shows in after()'s loop, not lost and not at the program's end.
# Exit 3 (with the reason on stdout) where the kernel cannot do it.
import ctypes
import mmap
import sys

HUGE = 2 << 20
libc = ctypes.CDLL(None, use_errno=True)
m = mmap.mmap(-1, 2 * HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
view = (ctypes.c_char * len(m)).from_buffer(m)
start = (ctypes.addressof(view) + HUGE - 1) & ~(HUGE - 1)
m[start - ctypes.addressof(view)] = 1  # one page of the range resident


def collapse():
    # syscall(SYS_madvise, start, 2 MiB, MADV_COLLAPSE), every argument a long
    return libc.syscall(ctypes.c_long(28), ctypes.c_void_p(start), ctypes.c_size_t(HUGE),
                        ctypes.c_long(25))


def after():
    return 0


if collapse() != 0:
    print("MADV_COLLAPSE failed: errno", ctypes.get_errno())
    sys.exit(3)
for _ in range(50000):  # 100,000 events under profile, 150,000 under trace
    after()
del view
m.close()
