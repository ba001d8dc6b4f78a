"""Thread churn: what CPython's test_threading.BarrierTests does, and more.

Many short threads from _thread.start_new_thread (the way lock_tests' Bunch
starts them), barriers that are waited on, broken by abort() and a timeout,
and reset; threading.Thread starts and joins, a thread pool, and threads
started from C (pthread_create called through ctypes, running a Python
callback, which makes CPython create a thread state for a foreign thread).
Every thread allocates and frees a little, so that glibc's per-thread
caches are exercised from every side.

    python thread_churn.py [scale]

scale (default 1) multiplies the number of threads; 1 starts about 1,500,
0.1 about 150 (for valgrind).
Prints one line of counts and "ok"; any failure raises (exit status 1)."""
import _thread
import ctypes
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def churn_work(n):
    """A little allocation and freeing, different sizes (glibc's tcache bins)."""
    keep = []
    for i in range(n):
        keep.append(bytearray(16 + (i * 37) % 1500))
        keep.append([i] * (i % 7))
        if len(keep) > 8:
            del keep[:4]
    return len(keep)


class Bunch:
    """n functions on _thread threads; wait_for_finished() joins them."""

    def __init__(self, fn, n):
        self.fn, self.n = fn, n
        self.started, self.finished = [], []
        self.lock = _thread.allocate_lock()
        for _ in range(n):
            _thread.start_new_thread(self.task, ())

    def task(self):
        tid = threading.get_ident()
        with self.lock:
            self.started.append(tid)
        try:
            self.fn()
        finally:
            with self.lock:
                self.finished.append(tid)

    def wait_for_finished(self, limit=60.0):
        deadline = time.monotonic() + limit
        while len(self.finished) < self.n:
            if time.monotonic() > deadline:
                raise RuntimeError("threads did not finish: %d of %d" % (len(self.finished), self.n))
            time.sleep(0.001)


def barrier_rounds(n_threads):
    """Waits, an abort, a timeout, a reset: the BarrierTests patterns."""
    counts = {"passed": 0, "broken": 0}
    lock = threading.Lock()
    b = threading.Barrier(n_threads, timeout=10.0)

    def waits():
        for _ in range(3):
            churn_work(20)
            b.wait()
        with lock:
            counts["passed"] += 1

    Bunch(waits, n_threads).wait_for_finished()

    # abort: one thread breaks the barrier, the others see BrokenBarrierError
    b2 = threading.Barrier(n_threads)

    def aborts():
        try:
            i = b2.wait()
            if i == n_threads // 2:
                raise RuntimeError
            b2.wait()
        except threading.BrokenBarrierError:
            with lock:
                counts["broken"] += 1
        except RuntimeError:
            b2.abort()

    Bunch(aborts, n_threads).wait_for_finished()
    b2.reset()

    # a timeout: one thread comes late, the others' wait times out
    b3 = threading.Barrier(n_threads, timeout=0.05)
    first = []

    def late():
        with lock:
            is_first = not first
            first.append(1)
        try:
            if is_first:
                time.sleep(0.2)
            b3.wait()
        except threading.BrokenBarrierError:
            with lock:
                counts["broken"] += 1

    Bunch(late, n_threads).wait_for_finished()
    b3.reset()

    # reset while threads wait: they break, then all pass a fresh round
    b4 = threading.Barrier(n_threads)
    results = []

    def resets():
        try:
            i = b4.wait()
            if i == n_threads // 2:
                while b4.n_waiting < n_threads - 1:
                    time.sleep(0.001)
                b4.reset()
            else:
                b4.wait()
        except threading.BrokenBarrierError:
            with lock:
                counts["broken"] += 1
        b4.wait()
        with lock:
            results.append(True)

    Bunch(resets, n_threads).wait_for_finished()
    if len(results) != n_threads:
        raise RuntimeError("reset round: %d of %d threads passed" % (len(results), n_threads))
    return counts


def short_threads(total, batch):
    done = [0]
    lock = threading.Lock()

    def one():
        churn_work(5)
        with lock:
            done[0] += 1

    for start in range(0, total, batch):
        Bunch(one, min(batch, total - start)).wait_for_finished()
    return done[0]


def threading_threads(total):
    out = []
    for _ in range(total // 10):
        ts = [threading.Thread(target=lambda: out.append(churn_work(10))) for _ in range(10)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=30)
    return len(out)


def pool_tasks(total):
    with ThreadPoolExecutor(max_workers=8) as ex:
        return sum(1 for _ in ex.map(churn_work, [10 + i % 50 for i in range(total)]))


def c_threads(total):
    """pthread_create from C (through ctypes: the agent's interposed one, as a
    C extension's call would be), each running a Python callback."""
    libc = ctypes.CDLL(None, use_errno=True)  # the global scope: the agent's pthread_create
    START = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)
    ran = []

    def body(arg):
        ran.append(churn_work(8))
        return None

    cb = START(body)
    libc.pthread_create.argtypes = [ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p, START,
                                    ctypes.c_void_p]
    libc.pthread_join.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
    for start in range(0, total, 10):
        ids = []
        for _ in range(min(10, total - start)):
            tid = ctypes.c_ulong()
            rc = libc.pthread_create(ctypes.byref(tid), None, cb, None)
            if rc != 0:
                raise OSError(rc, "pthread_create")
            ids.append(tid.value)
        for tid in ids:
            libc.pthread_join(tid, None)
    return len(ran)


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0

    def n(base):
        return max(1, int(base * scale))

    counts = {}
    for _ in range(n(3)):
        c = barrier_rounds(5)
        counts["passed"] = counts.get("passed", 0) + c["passed"]
        counts["broken"] = counts.get("broken", 0) + c["broken"]
    short = short_threads(n(1000), 50)
    tthreads = threading_threads(n(200))
    pooled = pool_tasks(n(400))
    cthreads = c_threads(n(100))
    expect = (5 * n(3), n(1000), n(200) // 10 * 10, n(400), n(100))
    got = (counts["passed"], short, tthreads, pooled, cthreads)
    if got != expect:
        raise RuntimeError("counts %r, expected %r" % (got, expect))
    if counts["broken"] < n(3) * 12:
        raise RuntimeError("only %d broken barrier waits" % counts["broken"])
    print("barrier_passed=%d short=%d threading=%d pool=%d c=%d ok" % got, flush=True)


if __name__ == "__main__":
    main()
