"""Ends in the way named by argv[1]: normal, sys_exit, exception, sigint, os_exit."""
import os
import signal
import sys


def work(n):
    return sum([i * i for i in range(n)])


def spin_until_interrupted():
    for i in range(10000000):
        work(10)
        if i == 5:
            os.kill(os.getpid(), signal.SIGINT)
    return "not interrupted"


def main(how):
    total = 0
    for _ in range(3):
        total += work(100)
    print("exits: %s total=%d" % (how, total), flush=True)
    if how == "normal":
        return
    if how == "sys_exit":
        sys.exit(3)
    if how == "exception":
        raise RuntimeError("pmt-e2e uncaught")
    if how == "sigint":
        print(spin_until_interrupted(), flush=True)
        sys.exit(9)
    if how == "os_exit":
        os._exit(5)
    sys.exit("unknown case " + how)


if __name__ == "__main__":
    main(sys.argv[1])
