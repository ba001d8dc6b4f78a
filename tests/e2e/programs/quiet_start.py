# After a warm-up (the interpreter's own first-call allocations: function
# objects, specialisation and instrumentation data, which some builds make
# at a function's first call), a loop that allocates nothing: from quiet()'s
# first event to grow() the log shows no RSS step, at any trigger, because
# the agent's own buffers and tables were made resident before FRST (its
# first use of a page would show as a +4096 step of the program's, at each
# of the first lines it writes). Then the 40 MB grow() makes.
import sys


def f(i):
    return i & 7


def loop(n):
    s = 0
    for i in range(n):
        s += f(i)
    return s


def warm():
    return loop(2)


def quiet(n):
    return loop(n)


def grow():
    return b"\x01" * (40 << 20)  # MARK:grow


warm()
quiet(int(sys.argv[1]) if sys.argv[1:] else 3000)
big = grow()
