# Reference tracing, end to end: 7 Leak objects made, 4 of them freed,
# one Cycle freed only by the cycle collector, and a Leak made in each of
# three threads. Every free here goes through paths that CPython 3.13.0
# reports (list slice deletion, del of a name); 3.13.0 misses the DESTROY
# of objects dropped by its specialised instructions (a bare expression
# statement, for one), which the log says in a MSG line.
import sys
import threading


class Leak:
    def __init__(self, i):
        self.i = i


class Cycle:
    def __init__(self):
        self.me = self


def make(n):
    return [Leak(i) for i in range(n)]  # MARK:new


keep = make(7)
del keep[0:4]  # MARK:del
c = Cycle()  # MARK:cycle
del c

if len(sys.argv) > 1 and sys.argv[1] == "threads":
    held = []

    def worker():
        held.append(Leak(-1))  # MARK:thread

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

print("done", len(keep))
