# Grows by 1 MiB at a time in grow() until the kernel's OOM killer ends it
# (the test runs it in a cgroup with a memory limit).
import sys

chunks = []


def grow():
    chunks.append(b"\x01" * (1 << 20))


print("started", flush=True)
while True:
    grow()
