# Calls touch_and_call (tests/e2e/native_touch.c) through ctypes: it touches
# 50 MiB, then calls back into Python. argv[1]: the shared object.
import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
CALLBACK = ctypes.CFUNCTYPE(None)


def after_touch():
    pass  # MARK:callback


callback = CALLBACK(after_touch)
lib.touch_and_call.argtypes = [ctypes.c_size_t, CALLBACK]
lib.touch_and_call(50 << 20, callback)
print("done")
