# Allocates 30 MB in grow(), then kills itself with SIGKILL: at once
# (argv[1] "now") or after a second asleep ("idle"). Nothing the agent
# formatted before the kill may be lost.
import os
import signal
import sys
import time


def grow():
    return b"\x01" * (30 << 20)


keep = grow()
if sys.argv[1] == "idle":
    time.sleep(1)
os.kill(os.getpid(), signal.SIGKILL)
