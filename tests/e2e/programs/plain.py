"""Prints on stdout and stderr, does some work and exits with status 4.

Also run by unsupported interpreters (2.7, 3.6, 3.7), so it stays Python 2
compatible. Optional argument: rounds of work (default 100).
"""
import sys


def square_all(n):
    return [i * i for i in range(n)]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    total = 0
    for _ in range(rounds):
        total += sum(square_all(50))
    sys.stdout.write("plain: total=%d\n" % total)
    sys.stdout.flush()
    sys.stderr.write("plain: a line of the program on stderr\n")
    sys.stderr.flush()
    sys.exit(4)


if __name__ == "__main__":
    main()
