"""A module for PYMEMTRACE_FUNCTION=function_mod:Worker.run (the module form)."""


def fill(size):
    buf = bytearray(size)
    for i in range(0, len(buf), 4096):
        buf[i] = 1
    return len(buf)


class Worker:
    def run(self):  # marker: def Worker.run
        return fill(3 << 20)
