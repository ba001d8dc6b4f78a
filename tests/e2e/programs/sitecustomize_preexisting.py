"""Copied by the e2e tests to <tmp>/sitecustomize.py, on PYTHONPATH.

site imports it before the agent starts tracing, so its thread is already
running when tracing begins. The thread stops when the main program sets
`stop`, or after 20 s so a broken run cannot hang.
"""
import threading
import time

PMT_PREEXISTING = True
stop = False
steps = 0


def preexisting_step():
    global steps
    steps += 1
    time.sleep(0.001)


def _loop():
    deadline = time.time() + 20
    while not stop and time.time() < deadline:
        preexisting_step()


worker = threading.Thread(target=_loop, name="pmt-preexisting")
worker.start()
