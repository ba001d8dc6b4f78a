"""grow(): RSS jumps by 50 MB on one known line.

The e2e tests run this file as a script, with -m, from stdin, from -c, from a
console script and from an embedding host, and look in the logs for the jump
at the line marked PMT:loop (the first event after the allocation line).
The PMT: markers tell the tests the line numbers; keep them.
Only built-in modules are imported: an embedding host that loads libpython
with RTLD_LOCAL cannot load extension modules (platform needs some on 3.9
and 3.10); sys.version's first word equals platform.python_version().
"""
import os
import sys


def grow():  # PMT:def
    b = bytearray(50 * 1024 * 1024)  # PMT:alloc (memset touches 50 MB here)
    for i in range(0, len(b), 4096):  # PMT:loop
        b[i] = 1
    return b


def main():
    keep = grow()
    print("pid=%d version=%s size=%d" % (os.getpid(), sys.version.split()[0], len(keep)), flush=True)
    return keep


if __name__ == "__main__":
    main()
