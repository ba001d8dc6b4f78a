# The program sets its own profile and trace functions, then removes them:
# what they see (counts by event) must be what they see without the agent,
# sys.gettrace()/getprofile() None afterwards, and the 40 MB grow() makes
# after that must be in the agent's log.
import sys
import threading

counts = {}


def prof(frame, event, arg):
    counts["profile " + event] = counts.get("profile " + event, 0) + 1


def tr(frame, event, arg):
    counts["trace " + event] = counts.get("trace " + event, 0) + 1
    return tr


def work(n):
    s = 0
    for i in range(n):
        s += len(str(i))
    return s


def inner():
    try:
        {}["missing"]
    except KeyError:
        pass
    return [work(50) for _ in range(3)]


sys.setprofile(prof)
inner()
sys.setprofile(None)
sys.settrace(tr)
inner()
sys.settrace(None)
# Both at once, and a function replaced by another.
sys.setprofile(prof)
sys.settrace(tr)
inner()
sys.setprofile(lambda *a: None)
inner()
sys.setprofile(None)
sys.settrace(None)
# In a thread too (threading's own hooks).
threading.settrace(tr)
t = threading.Thread(target=inner)
t.start()
t.join()
threading.settrace(None)
print("gettrace", sys.gettrace(), "getprofile", sys.getprofile())
for k in sorted(counts):
    print(k, counts[k])


def grow():
    return b"\x01" * (40 << 20)  # MARK:grow


big = grow()
print("done")
