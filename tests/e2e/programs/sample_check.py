"""Reads a sampler log as pymemtrace's process module does and checks it.

    sample_check.py LOG [MESSAGE]

Run by Debian's python3 whatever interpreter wrote the log. Each line but an
optional first message line must match the module's RE_LOG_LINE, its JSON
must load and hold the module's keys, with psutil's names below memory_info
and cpu_times, and its timestamp must parse with the module's format. Prints
one line per record:

    <START|SAMPLE|STOP> pid rss peak_rss vms pfaults user elapsed_time timestamp

(timestamp as seconds since the epoch, local time). Any problem: a message on
stderr and exit status 1.
"""
import datetime
import json
import re
import sys

# pymemtrace/process.py's marker, line pattern and timestamp format.
LOGGER_PREFIX = "ProcessLoggingThread-JSON"
RE_LOG_LINE = re.compile(r"^.+?%s(-START|-STOP)?\s*(.+)$" % LOGGER_PREFIX)
DATETIME_NOW_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
KEYS = ["timestamp", "memory_info", "cpu_times", "elapsed_time", "pid"]
MEMORY = ["rss", "vms", "shared", "text", "lib", "data", "dirty", "peak_rss", "pfaults", "pageins"]
CPU = ["user", "system", "children_user", "children_system", "iowait"]


def fail(lineno, why, line=""):
    sys.stderr.write("line %d: %s\n  %s\n" % (lineno, why, line.rstrip("\n")))
    sys.exit(1)


def main(path, message=None):
    with open(path) as f:
        lines = f.readlines()
    if message is not None:
        if not lines or lines[0] != message + "\n":
            fail(1, "the first line should be the message %r" % message, lines[0] if lines else "")
        lines = [None] + lines[1:]
    for lineno, line in enumerate(lines, 1):
        if line is None:
            continue
        if not line.endswith("\n"):
            fail(lineno, "no line break at the end", line)
        m = RE_LOG_LINE.match(line)
        if not m:
            fail(lineno, "not a ProcessLoggingThread-JSON line", line)
        try:
            record = json.loads(m.group(2))
        except ValueError as e:
            fail(lineno, "JSON: %s" % e, line)
        if list(record) != KEYS:
            fail(lineno, "keys %s, expected %s" % (list(record), KEYS), line)
        if list(record["memory_info"]) != MEMORY or list(record["cpu_times"]) != CPU:
            fail(lineno, "memory_info/cpu_times keys", line)
        if not all(isinstance(v, int) and v >= 0 for v in record["memory_info"].values()):
            fail(lineno, "memory_info values must be integers >= 0", line)
        if not all(isinstance(v, float) and v >= 0 for v in record["cpu_times"].values()):
            fail(lineno, "cpu_times values must be numbers >= 0", line)
        if not isinstance(record["elapsed_time"], float) or not isinstance(record["pid"], int):
            fail(lineno, "elapsed_time, pid types", line)
        when = datetime.datetime.strptime(record["timestamp"], DATETIME_NOW_FORMAT)
        kind = {"-START": "START", "-STOP": "STOP", None: "SAMPLE"}[m.group(1)]
        mem = record["memory_info"]
        print("%s %d %d %d %d %d %.6f %.6f %.6f" % (
            kind, record["pid"], mem["rss"], mem["peak_rss"], mem["vms"], mem["pfaults"],
            record["cpu_times"]["user"], record["elapsed_time"], when.timestamp()))


if __name__ == "__main__":
    main(*sys.argv[1:])
