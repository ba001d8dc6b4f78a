# The agent's descriptors as a program sees them.
#   parent   starts itself as "child" with one descriptor passed (pass_fds)
#            and prints what the child printed
#   child    prints its open descriptors, the listing's own left out
#   limit    opens 5 files (the test runs it under ulimit -n 10) and writes
import os
import subprocess
import sys

how = sys.argv[1]
if how == "parent":
    r, w = os.pipe()
    out = subprocess.run([sys.executable, __file__, "child"], pass_fds=(w,), capture_output=True,
                         text=True, check=True).stdout
    print("passed", w)
    print(out, end="")
elif how == "child":
    d = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY)
    fds = sorted(int(n) for n in os.listdir(d) if int(n) != d)
    os.close(d)
    print("fds", " ".join(str(fd) for fd in fds))
else:
    files = [open("f%d.txt" % i, "w") for i in range(5)]
    for f in files:
        f.write([bytearray(1 << 16)].__class__.__name__ + "\n")
    for f in files:
        f.close()
    print("opened", len(files))
