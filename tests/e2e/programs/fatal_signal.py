# Ends by a signal at its default action, after 30 MB: argv[1] says how.
#   send NAME   the signal sent to itself (left at its default by Python)
#   dfl NAME    the program sets the default itself first, then sends it
#   segv        a SIGSEGV from a C call (ctypes reads address 0)
#   segv_fh     the same with faulthandler enabled by the program
#   abort       os.abort(): SIGABRT
import os
import signal
import sys
import time

how = sys.argv[1]
name = sys.argv[2] if len(sys.argv) > 2 else ""
keep = bytearray(30 << 20)
print("before", flush=True)
if how == "send":
    os.kill(os.getpid(), getattr(signal, name))
elif how == "dfl":
    signal.signal(getattr(signal, name), signal.SIG_DFL)
    os.kill(os.getpid(), getattr(signal, name))
elif how in ("segv", "segv_fh"):
    import ctypes
    if how == "segv_fh":
        import faulthandler
        faulthandler.enable()
    ctypes.string_at(0)
elif how == "abort":
    os.abort()
time.sleep(5)
print("not reached")
