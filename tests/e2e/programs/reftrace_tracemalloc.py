# tracemalloc takes the reference tracer slot (3.13+) while it runs. The
# agent keeps its own tracer in the slot and calls tracemalloc's in turn, so
# both see every object and tracemalloc's numbers are its own. Where the
# interpreter is static, its own setter calls are not seen: _tracemalloc's
# start and stop are the agent's look-alikes there, which put the agent's
# tracer back in front right after.
import tracemalloc


class Obj:
    pass


a = Obj()  # MARK:before
tracemalloc.start()
b = Obj()  # MARK:during
size, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
d = Obj()  # MARK:after
print("traced", size > 0, peak >= size)
print("done")
