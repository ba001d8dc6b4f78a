# A finalizer that joins a daemon thread, run at exit: CPython 3.14+ stops
# daemon threads before its final collection, so the join raises
# PythonFinalizationError there. Collected earlier, while the thread still
# spins (an agent's gc.collect at exit), the join would wait for ever.
import threading


def spin():
    while True:
        pass


class Holder:
    def __init__(self):
        self.me = self  # a cycle: only a collection frees it
        self.worker = threading.Thread(target=spin, daemon=True)
        self.worker.start()

    def __del__(self):
        try:
            self.worker.join()
        except PythonFinalizationError:
            print("join refused at finalization")


Holder()
print("main done")
