# PYMEMTRACE=reftrace with PYMEMTRACE_FUNCTION=target,rec: only objects made
# or freed while a listed function runs are logged, each call in logs of its
# own (rec -> rec -> target nests to depth 2).
class Leak:
    pass


class Cyc:
    def __init__(self):
        self.me = self


outside = [Leak() for _ in range(2)]  # MARK:outside


def target(n):
    keep = [Leak() for _ in range(n)]  # MARK:new
    del keep[0]  # MARK:del
    c = Cyc()  # MARK:cycle
    return keep


def rec(k):
    if k:
        return rec(k - 1)
    return target(2)


a = target(3)
b = rec(1)
more = [Leak() for _ in range(2)]  # MARK:more
print("done")
