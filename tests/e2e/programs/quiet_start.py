# A loop that allocates nothing after a warm-up: from FRST to grow() the
# log shows no RSS step, at any trigger, because the agent's own buffers and
# tables were made resident before FRST (its first use of a page would show
# as a +4096 step of the program's). Then the 40 MB grow() makes.
import sys


def f(i):
    return i & 7


def loop(n):
    s = 0
    for i in range(n):
        s += f(i)
    return s


def grow():
    return b"\x01" * (40 << 20)  # MARK:grow


loop(int(sys.argv[1]) if sys.argv[1:] else 3000)
big = grow()
