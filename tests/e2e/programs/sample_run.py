"""A program for the sampler's tests (PYMEMTRACE=sample).

    sample_run.py grow SECONDS [glibc]
                                    touch 50 MB early, keep it, run SECONDS in all;
                                    with `glibc`, print then whether glibc still
                                    takes the process for single-threaded
                                    (__libc_single_threaded) and its kernel
                                    thread count
    sample_run.py fork SECONDS [logging]
                                    fork once SECONDS/3 in; the child runs, then
                                    leaves by os._exit; the parent waits for it
    sample_run.py os_exit SECONDS   run, then os._exit(7)
    sample_run.py exec SECONDS      run, then exec /bin/true
    sample_run.py setuid SECONDS    (as root) become nobody (65534) a third in,
                                    print the real, effective and saved uids
                                    and gids of every thread (task) of the
                                    process a third later, run to the end

Prints "pid=<pid>" (and "child=<pid>" for fork) on stdout. With `logging`,
the logging module is imported first: it registers an os.register_at_fork
callback written in Python, which runs inside os.fork() on 3.13 before the
check for other threads.
"""
import os
import sys
import time


KEEP = []


def run_for(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.01)


def print_threads():
    import ctypes
    single = ctypes.c_char.in_dll(ctypes.CDLL(None), "__libc_single_threaded").value
    with open("/proc/self/status") as f:
        threads = [line.split()[1] for line in f if line.startswith("Threads:")][0]
    print("glibc_single=%d threads=%s" % (ord(single), threads), flush=True)


def main(what, seconds, extra=None):
    if extra == "logging":
        import logging  # noqa: F401  (its at-fork hooks)
    print("pid=%d" % os.getpid(), flush=True)
    if what == "grow":
        run_for(seconds * 0.2)
        # every page written, and kept to the very end (a module global
        # outlives the atexit callbacks, where the sampler's STOP comes): a
        # local freed when main() returned let a sample land after it
        KEEP.append(b"x" * (50 * 1024 * 1024))
        if extra == "glibc":
            print_threads()
        run_for(seconds * 0.8)
        return len(KEEP[0])
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
    if what == "setuid":
        run_for(seconds / 3)
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        run_for(seconds / 3)
        ids = set()
        for task in os.listdir("/proc/self/task"):
            with open("/proc/self/task/%s/status" % task) as f:
                for line in f:
                    if line.startswith(("Uid:", "Gid:")):
                        ids.update(line.split()[1:4])
        print("task_ids=%s" % ",".join(sorted(ids)), flush=True)
        run_for(seconds / 3)
        return 0
    run_for(seconds)
    if what == "os_exit":
        os._exit(7)
    if what == "exec":
        os.execv("/bin/true", ["true"])
    return 0


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
