"""Main program for the pre-existing thread test (see sitecustomize_preexisting.py)."""
import sys
import time

import sitecustomize


def wait_for_steps(n):
    start = sitecustomize.steps
    deadline = time.time() + 10
    while sitecustomize.steps - start < n and time.time() < deadline:
        time.sleep(0.005)
    return sitecustomize.steps - start


def main():
    if not getattr(sitecustomize, "PMT_PREEXISTING", False):
        print("the test's sitecustomize was not imported", flush=True)
        sys.exit(2)
    seen = wait_for_steps(50)
    sitecustomize.stop = True
    sitecustomize.worker.join()
    print("steps_while_traced=%d worker_native_id=%d" % (seen, sitecustomize.worker.native_id), flush=True)


if __name__ == "__main__":
    main()
