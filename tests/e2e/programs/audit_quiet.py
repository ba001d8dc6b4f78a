# Audited operations under the agent: once its hooks are in, the agent's
# audit hook is gone, so CPython builds no argument tuple for them (a
# reference trace of tuples shows none at the marked line, when run with
# "nohook": a hook of the program's own makes them), and a hook of the
# program's own sees only the program's events.
import sys
import threading

events = []


def hook(event, args):
    if event in ("sys.setprofile", "sys.settrace", "sys.monitoring.use_tool_id"):
        events.append(event)


if sys.argv[1:] != ["nohook"]:
    sys.addaudithook(hook)


def f():
    pass


def work():
    for _ in range(2000):
        f.__code__  # MARK:audited
        id(f)


work()
t = threading.Thread(target=work)
t.start()
t.join()
print("hook events:", ",".join(events) or "none")
print("done")
