# tracemalloc takes the reference tracer slot (3.13+) while it runs. The
# agent keeps its own tracer in the slot and calls tracemalloc's in turn, so
# both see every object and tracemalloc's numbers are its own. Where the
# interpreter is static, its own calls are not seen: the agent notices at its
# next look (an audit event there), says so, and puts its tracer back in front.
import tracemalloc


class Obj:
    pass


a = Obj()  # MARK:before
tracemalloc.start()
b = Obj()  # MARK:during
size, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
open(__file__).close()  # an audit event: where the agent looks on a static interpreter
d = Obj()  # MARK:after
print("traced", size > 0, peak >= size)
print("done")
