# A recursion 20,000 deep, which runs without the agent (its recursion
# limit raised), and 20 MiB allocated at the bottom.
import sys

sys.setrecursionlimit(100000)
keep = []


def f(n):
    if n == 0:
        keep.append(b"\x01" * (20 << 20))
        return 0
    return 1 + f(n - 1)


print(f(int(sys.argv[1])))
