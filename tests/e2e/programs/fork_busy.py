"""Logs several MB before os.fork(), so that the agent's writer thread is running
when the program forks: on 3.12+ a thread the program did not start must not
make os.fork() warn about a multi-threaded process."""
import os, sys, threading
def busy():
    s = 0
    for i in range(200000):
        s += i
    return s
busy()                                   # several MB of log: the writer thread is running
print("threads before fork:", len(os.listdir("/proc/self/task")), file=sys.stderr)
pid = os.fork()
if pid == 0:
    busy()
    os._exit(0)
os.waitpid(pid, 0)
busy()
print("done")
