# 70 threads set their own trace function at once, more than the agent can
# call in turn (64): those beyond get an ERR line (once on stderr), and are
# logged again once they removed theirs (a MSG line). Each thread's function
# sees what it sees without the agent; a thread that ends with its function
# set leaves room for others. Then the grow() makes is in the log.
import sys
import threading

N = 70
seen = [0] * N
start = threading.Barrier(N + 1)
done = threading.Barrier(N + 1)


def work(n):
    s = 0
    for i in range(n):
        s += i
    return s


def run(k):
    def tr(frame, event, arg):
        # Only work()'s events: the barriers' vary with who arrives last.
        if frame.f_code is work.__code__:
            seen[k] += 1
        return tr

    sys.settrace(tr)
    start.wait()
    work(20)
    done.wait()
    sys.settrace(None)
    work(20)


threads = [threading.Thread(target=run, args=(k,)) for k in range(N)]
for t in threads:
    t.start()
start.wait()
done.wait()
for t in threads:
    t.join()
print("events", sorted(set(seen)))


def grow():
    return b"\x01" * (48 << 20)  # MARK:grow (48: the ended threads left memory to reuse)


big = grow()
print("done")
