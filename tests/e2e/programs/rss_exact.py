"""Moves RSS every way a program does, deterministically: the agent's fast
RSS (page-fault events + watched unmaps) must agree with /proc/self/statm at
every event (PYMEMTRACE_RSS=check counts the events where it did not)."""
import ctypes
import gc
import mmap

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
MB = 1 << 20


def py_small():                      # pymalloc arenas: mmap, then munmap when empty
    x = [bytes(100 + i % 50) for i in range(40000)]
    del x
    gc.collect()


def py_large():                      # glibc mmapped chunk: free unmaps inside glibc
    b = bytearray(24 * MB)
    for i in range(0, len(b), 4096):
        b[i] = 1
    del b


def py_resize():                     # realloc of an mmapped chunk: mremap inside glibc
    b = bytearray(16 * MB)
    b[-1] = 1
    del b[4 * MB:]
    b += bytes(8 * MB)
    del b


def c_malloc():                      # C: malloc, touch, free (mmapped chunk)
    p = libc.malloc(20 * MB)
    libc.memset(p, 1, 20 * MB)
    libc.free(p)


def c_brk():                         # C: many medium chunks on the heap, then a trim
    ptrs = [libc.malloc(64 * 1024) for _ in range(200)]
    for p in ptrs:
        libc.memset(p, 2, 64 * 1024)
    for p in reversed(ptrs):
        libc.free(p)


def c_mmap_madvise():                # C: an anonymous map, touched, advised away, unmapped
    n = 12 * MB
    p = libc.mmap(None, n, 3, 0x22, -1, 0)       # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    libc.memset(p, 3, n)
    libc.madvise(p, n // 2, 4)                   # MADV_DONTNEED
    libc.memset(p, 4, n // 4)
    libc.munmap(p, n)


def py_mmap():                       # the mmap module
    m = mmap.mmap(-1, 10 * MB)
    m.write(b"y" * (10 * MB))
    m.close()


def read_into_fresh_buffer():        # pages filled by the kernel (faults in kernel mode)
    with open("/proc/self/maps", "rb") as f:
        data = f.read()
    b = bytearray(8 * MB)
    with open(__file__, "rb") as f:
        f.readinto(memoryview(b)[: len(data)])
    del b


for _ in range(3):
    py_small()
    py_large()
    py_resize()
    c_malloc()
    c_brk()
    c_mmap_madvise()
    py_mmap()
    read_into_fresh_buffer()
print("rss_exact done")
