# The program moves to another folder, then forks: the child's log (opened
# after the chdir) goes where the agent started, as the parent's did.
import os
import sys

os.mkdir("elsewhere")
os.chdir("elsewhere")
pid = os.fork()
if pid == 0:
    keep = bytearray(8 << 20)
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8)
