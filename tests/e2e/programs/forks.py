"""Forks; the child runs child_only_work() and leaves by os._exit(0) (argv[1]
`os_exit`) or by sys.exit(0) (`sys_exit`); the parent waits for it."""
import os
import sys


def child_only_work():
    return sum([i * i for i in range(1000)])


def parent_side_work():
    return sum([i for i in range(1000)])


def main(variant):
    pid = os.fork()
    if pid == 0:
        child_only_work()
        print("child pid=%d" % os.getpid(), flush=True)
        if variant == "os_exit":
            os._exit(0)
        sys.exit(0)
    parent_side_work()
    _, status = os.waitpid(pid, 0)
    print("parent pid=%d child=%d status=%d" % (os.getpid(), pid, status), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
