"""The writer thread started by a thread that then ends.

With every event logged, the agent starts its writer thread when a log
buffer fills, on whichever thread filled it: here a short thread that makes
all the events, then ends. Run with glibc.pthread.stack_cache_size=0, glibc
unmaps that thread's stack (its thread block with it) at once; more threads
come and go, and the main thread goes on making events for the writer.
Prints "ok <n>"."""
import threading


def producer():
    x = 0
    for i in range(200000):
        x += i
    return x


t = threading.Thread(target=producer)
t.start()
t.join()
for _ in range(20):
    ts = [threading.Thread(target=lambda: bytearray(1 << 20)) for _ in range(4)]
    for u in ts:
        u.start()
    for u in ts:
        u.join()
print("ok", producer(), flush=True)
