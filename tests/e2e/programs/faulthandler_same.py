# faulthandler's tracebacks: one dumped on demand, then the one of a crash
# (SIGSEGV in C code), which ends the process by that signal.
import faulthandler
import sys


def inner():
    faulthandler.dump_traceback(all_threads=False)


def outer():
    inner()


outer()
sys.stderr.flush()
if sys.argv[1:] == ["crash"]:
    import ctypes

    faulthandler.enable()

    def crash():
        ctypes.string_at(0)

    crash()
