# tracemalloc's numbers: what the program traces, its peak, and its top
# lines. The agent allocates nothing that tracemalloc sees; CPython's own
# hook machinery may (3.11's frame objects, 3.12+'s per-code monitoring
# data), as under any profiler: the test compares with the floor then.
import tracemalloc

tracemalloc.start(5)


def make(n):
    return [str(i) * 3 for i in range(n)]


def run():
    keep = []
    for k in range(20):
        keep.append(make(200))
    return keep


kept = run()
cur, peak = tracemalloc.get_traced_memory()
stats = tracemalloc.take_snapshot().statistics("lineno")
print("traced", cur, "peak", peak)
for s in stats[:5]:
    print(s.traceback[0].filename.rsplit("/", 1)[-1], s.traceback[0].lineno, s.size, s.count)
tracemalloc.stop()
