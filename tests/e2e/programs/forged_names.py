# Names that would forge lines: a function renamed with code.replace to
# hold newlines and a fake EOF, in a file compiled under a name with
# newlines. Its 20 MiB is made inside that function; the log must keep one
# event per line and show the jump at the escaped names (docs/LOGS.md).
SRC = "def make():\n    return bytearray(20 << 20)\n"
ns = {}
exec(compile(SRC, "evil\nEOF\n.py", "exec"), ns)
make = ns["make"]
make.__code__ = make.__code__.replace(co_name="f\nEOF\nNEXT:\t\\")
keep = make()
print(len(keep))
