# Empties its own logs from outside the agent, as logrotate's copytruncate
# does, then allocates 20 MiB in grow(): each log goes on cleanly.
import glob
import os
import time


def grow():
    return b"\x01" * (20 << 20)


small = [bytearray(4096) for _ in range(200)]
time.sleep(0.2)  # what was logged so far is written
for path in glob.glob("*_%d_*.log" % os.getpid()):
    os.truncate(path, 0)
keep = grow()
small = [bytearray(4096) for _ in range(200)]
