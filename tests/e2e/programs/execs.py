"""Does some work, then replaces itself with /bin/true."""
import os


def before_exec():
    return sum([i * i for i in range(1000)])


def main():
    before_exec()
    print("exec now pid=%d" % os.getpid(), flush=True)
    os.execv("/bin/true", ["true"])


if __name__ == "__main__":
    main()
