# A program that uses sys.monitoring tool ids itself (3.12+). With "each" it
# takes each of the six ids in turn, counts PY_START events with it and
# frees it; with "all" it holds all six at once while it counts. It must get
# every id it asks for and count what it counts without the agent, while the
# agent's log goes on: the 40 MB made at the end is in it.
import sys

mon = sys.monitoring
E = mon.events


def f():
    pass


def count_with(ids):
    counts = {i: 0 for i in ids}
    for i in ids:
        def cb(code, offset, i=i):
            counts[i] += 1
        mon.register_callback(i, E.PY_START, cb)
        mon.set_events(i, E.PY_START)
    for _ in range(100):
        f()
    for i in ids:
        mon.set_events(i, 0)
        mon.register_callback(i, E.PY_START, None)
    return counts


seen = []
if sys.argv[1] == "each":
    for i in range(6):
        before = mon.get_tool(i)
        mon.use_tool_id(i, "program")
        seen.append((i, before, mon.get_tool(i), count_with([i])[i]))
        mon.free_tool_id(i)
else:
    for i in range(6):
        seen.append((i, mon.get_tool(i)))
        mon.use_tool_id(i, "program")
    seen.append(sorted(count_with(list(range(6))).items()))
    for i in range(6):
        mon.free_tool_id(i)


def grow():
    return b"\x01" * (40 << 20)  # MARK:grow


big = grow()
print(seen)
print("done")
