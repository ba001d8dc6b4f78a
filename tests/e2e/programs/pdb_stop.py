# pdb stops at breakpoint() and steps; the session (fed on stdin) must read
# the same with the agent as without it. With "profiled", cProfile runs
# meanwhile: on 3.13 any sys.monitoring tool with PY_START events (cProfile,
# CPython's own legacy profile hook, the agent) makes breakpoint() stop on
# the line after it, which 3.14 fixed; that run is the one to compare with
# there.
import sys

if sys.argv[1:] == ["profiled"]:
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
def f():
    x = 41
    breakpoint()  # MARK:bp
    x += 1
    return x


print("result", f())
