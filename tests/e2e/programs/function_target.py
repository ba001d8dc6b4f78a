"""PYMEMTRACE_FUNCTION's end-to-end program. argv[1] picks the scenario:

twice   process_arguments() twice, then function_mod.Worker().run() twice and
        a module-level run() once (a decoy for "function_mod:Worker.run"),
        with code outside them before, between and after
nest    recurse(1) -> recurse(0) -> process_arguments(): nested listed calls
deep    recurse(40): 41 nested calls, deeper than the agent's 32 nested logs
before  os.path.exists() twice: a function made before the agent started
swap    swap_a() with its own code, then with swap_b's (swap_a.__code__ =
        swap_b.__code__), then swap_b() is never called itself
getitem, property, getattribute
        20 uses of Box.__getitem__, of the property Box.value and of
        Odd.__getattribute__, which CPython 3.12+ specialises into inline
        calls
forkin  forking(1) -> forking(0), which forks; the child touches memory, both
        return through both calls, then the child leaves by os._exit(0) and
        the parent waits for it and prints "child=<pid>"
raise   fails() raises out of the function; the caller catches it
thread  process_arguments() in a threading.Thread only
gen     produce(), a generator, resumed four times (three yields, the end)
many    process_arguments() 20 times
exit    leave(1) -> leave(0), which ends the process with os._exit(3)
overlap a thread's slow_target() call waits while the main thread calls
        slow_target() too
Prints one line per call and, last, "native_id=<main> worker=<thread or 0>
evaluator=<default|other|unknown>": whether the interpreter's
frame-evaluation function is then CPython's own (PEP 523; unknown where
ctypes cannot ask: 3.8, or a libpython linked into the executable).
"""
import os
import sys
import threading

import function_mod


def fn_callee(size):
    buf = bytearray(size)
    for i in range(0, len(buf), 4096):
        buf[i] = 1
    return len(buf)


def process_arguments(size):  # marker: def process_arguments
    total = fn_callee(size)
    return total + len(str(total))


def recurse(k):  # marker: def recurse
    if k > 0:
        return recurse(k - 1) + 1
    return process_arguments(1 << 20)


def fails():  # marker: def fails
    fn_callee(1 << 20)
    raise ValueError("leaves fails()")


def slow_target(started, release):  # marker: def slow_target
    if started is None:
        return fn_callee(1 << 16)
    started.set()
    release.wait()
    return fn_callee(1 << 20)


def produce(n):  # marker: def produce
    for i in range(n):
        yield fn_callee(1 << 20)


def leave(k):  # marker: def leave
    if k > 0:
        return leave(k - 1)
    fn_callee(1 << 20)
    print("leaving", flush=True)
    os._exit(3)


def forking(k):  # marker: def forking
    if k > 0:
        return forking(k - 1)
    pid = os.fork()
    if pid == 0:
        fn_callee(1 << 20)
    return pid


def swap_a():  # marker: def swap_a
    return fn_callee(1 << 16)


def swap_b():  # marker: def swap_b
    return fn_callee(1 << 17)


class Box:
    def __getitem__(self, i):  # marker: def __getitem__
        return fn_callee(1 << 12) + i

    @property
    def value(self):  # marker: def value
        return fn_callee(1 << 12)


class Odd:
    def __getattribute__(self, name):  # marker: def __getattribute__
        return fn_callee(1 << 12)


def run():
    return fn_callee(1 << 16)


def outside_before():
    return fn_callee(2 << 20)


def outside_after():
    return fn_callee(2 << 20)


def evaluator():
    try:
        import ctypes
        api = ctypes.pythonapi
        get = api._PyInterpreterState_GetEvalFrameFunc
        interp = api.PyInterpreterState_Get
    except (ImportError, AttributeError):
        return "unknown"
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.c_void_p]
    interp.restype = ctypes.c_void_p
    default = ctypes.cast(api._PyEval_EvalFrameDefault, ctypes.c_void_p).value
    return "default" if get(interp()) == default else "other"


def main():
    scenario = sys.argv[1]
    worker = [0]
    outside_before()
    if scenario == "twice":
        print("call", process_arguments(4 << 20))
        outside_after()
        print("call", process_arguments(3 << 20))
        print("run", function_mod.Worker().run(), function_mod.Worker().run(), run())
    elif scenario == "nest":
        print("nest", recurse(1))
    elif scenario == "deep":
        print("deep", recurse(40))
    elif scenario == "before":
        print("exists", os.path.exists("/"), os.path.exists("/no/such/path"))
    elif scenario == "swap":
        print("swap", swap_a())
        swap_a.__code__ = swap_b.__code__
        print("swap", swap_a())
    elif scenario in ("getitem", "property", "getattribute"):
        box, odd = Box(), Odd()
        use = {"getitem": lambda: box[1], "property": lambda: box.value, "getattribute": lambda: odd.x}
        print(scenario, sum(use[scenario]() for _ in range(20)))
    elif scenario == "forkin":
        pid = forking(1)
        if pid == 0:
            sys.stdout.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        print("child=%d" % pid)
    elif scenario == "raise":
        try:
            fails()
        except ValueError as e:
            print("caught", e)
    elif scenario == "thread":
        def body():
            worker[0] = threading.get_native_id()
            print("thread", process_arguments(4 << 20))
        t = threading.Thread(target=body)
        t.start()
        t.join()
    elif scenario == "many":
        print("many", sum(process_arguments(1 << 16) for _ in range(20)))
    elif scenario == "exit":
        leave(1)
    elif scenario == "gen":
        print("gen", sum(produce(3)))
    elif scenario == "overlap":
        started, release = threading.Event(), threading.Event()

        def waiter():
            worker[0] = threading.get_native_id()
            print("waiter", slow_target(started, release))
        t = threading.Thread(target=waiter)
        t.start()
        started.wait()
        print("main", slow_target(None, None))
        release.set()
        t.join()
    outside_after()
    print("native_id=%d worker=%d evaluator=%s" % (threading.get_native_id(), worker[0], evaluator()))


if __name__ == "__main__":
    main()
