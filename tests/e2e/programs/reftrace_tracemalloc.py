# tracemalloc takes the reference tracer (3.13) while it runs: the agent
# says so and puts its own back once tracemalloc has stopped.
import tracemalloc


class Obj:
    pass


a = Obj()  # MARK:before
tracemalloc.start()
b = Obj()  # MARK:during
tracemalloc.stop()
open(__file__).close()  # an audit event: the agent looks again
d = Obj()  # MARK:after
print("done")
