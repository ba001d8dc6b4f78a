# Run under `python -m cProfile -s calls`: cProfile's own report, and the
# agent's log with the 40 MB grow() makes.
def grow():
    return b"\x01" * (40 << 20)  # MARK:grow


def small(n):
    return [i for i in range(n)]


for i in range(50):
    small(i)
big = grow()
print("done")
