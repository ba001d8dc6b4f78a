"""A program for the sampler's tests (PYMEMTRACE=sample).

    sample_run.py grow SECONDS      touch 50 MB early, keep it, run SECONDS in all
    sample_run.py fork SECONDS [logging]
                                    fork once SECONDS/3 in; the child runs, then
                                    leaves by os._exit; the parent waits for it
    sample_run.py os_exit SECONDS   run, then os._exit(7)
    sample_run.py exec SECONDS      run, then exec /bin/true

Prints "pid=<pid>" (and "child=<pid>" for fork) on stdout. With `logging`,
the logging module is imported first: it registers an os.register_at_fork
callback written in Python, which runs inside os.fork() on 3.13 before the
check for other threads.
"""
import os
import sys
import time


def run_for(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)


def main(what, seconds, extra=None):
    if extra == "logging":
        import logging  # noqa: F401  (its at-fork hooks)
    print("pid=%d" % os.getpid(), flush=True)
    if what == "grow":
        run_for(seconds * 0.2)
        blob = b"x" * (50 * 1024 * 1024)  # every page written
        run_for(seconds * 0.8)
        return len(blob)
    if what == "fork":
        run_for(seconds / 3)
        pid = os.fork()
        if pid == 0:
            run_for(seconds / 3)
            os._exit(0)
        print("child=%d" % pid, flush=True)
        run_for(seconds / 3)
        _, status = os.waitpid(pid, 0)
        run_for(seconds / 3)
        return status
    run_for(seconds)
    if what == "os_exit":
        os._exit(7)
    if what == "exec":
        os.execv("/bin/true", ["true"])
    return 0


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
