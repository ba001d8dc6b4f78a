# Child processes of every kind a Python program makes; each prints or
# returns its pid, and the parent prints "child <kind> <pid>" for each, so
# that the test can match them with the logs left behind.
# argv[1]: "all" (every kind) or "env" (one subprocess that reports whether
# the agent reached it).
import multiprocessing as mp
import os
import subprocess
import sys

CHILD = "import os; print(os.getpid()); x = bytearray(8 << 20)"


def pid_and_memory(n=0):
    b = bytearray((n + 1) << 20)
    return os.getpid()


def say_started(q):
    q.put(os.getpid())


def to_queue(q):
    q.put(pid_and_memory())


def process_with(method):
    ctx = mp.get_context(method)
    q = ctx.Queue()
    p = ctx.Process(target=to_queue, args=(q,))
    p.start()
    pid = q.get()
    p.join()
    return pid


def main():
    if sys.argv[1] == "env":
        out = subprocess.run(
            [sys.executable, "-c",
             "import os; print(os.environ.get('PYMEMTRACE'), 'libpymemtrace' in os.environ.get('LD_PRELOAD', ''))"],
            stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout.split()
        print("child-env", *out)
        return
    out = subprocess.run([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                         universal_newlines=True, check=True).stdout
    print("child subprocess", out.strip())
    out = subprocess.run(["sh", "-c", '"$0" -c "$1"; true', sys.executable, CHILD],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    print("child shell", out.strip())
    for method in ("fork", "spawn", "forkserver"):
        print("child mp-%s" % method, process_with(method))
    ctx = mp.get_context("spawn")
    started = ctx.Queue()
    with ctx.Pool(4, initializer=say_started, initargs=(started,)) as pool:  # terminate(): SIGTERM
        pids = sorted(started.get() for _ in range(4))  # every worker is running Python
        pool.map(pid_and_memory, range(16), chunksize=1)
    for pid in pids:
        print("child pool", pid)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, str(pid_and_memory()).encode())
        os._exit(0)
    os.close(w)
    child = int(os.read(r, 64))
    os.waitpid(pid, 0)
    print("child os-fork", child)


if __name__ == "__main__":
    main()
