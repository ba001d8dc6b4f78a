# A daemon's descriptor hygiene while every event is logged: every
# descriptor past stderr closed (argv[1] "closerange") or replaced with dup2
# by one of the program's files ("dup2"), then files of its own written
# between events, then 20 MiB allocated. The program's files must hold its
# own lines only.
import os
import sys


def grow():
    return b"\x01" * (20 << 20)


def write_lines(fds, rounds):
    for i in range(rounds):
        for fd in fds:
            os.write(fd, b"mine %d\n" % i)
        [bytearray(64) for _ in range(4)]


how = sys.argv[1]
if how == "closerange":
    os.closerange(3, 1 << 16)
    fds = [os.open("own%d.txt" % i, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for i in range(5)]
else:
    own = os.open("own0.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    taken = [int(n) for n in os.listdir("/proc/self/fd")]
    fds = [own]
    for fd in taken:
        if fd > 2 and fd != own:
            try:
                os.dup2(own, fd)
                fds.append(fd)
            except OSError:
                pass  # the listing's own descriptor, closed meanwhile
write_lines(fds, 300)
keep = grow()
write_lines(fds, 10)
print("fds", len(fds))
