#!/usr/bin/env python3
"""CPython's own tests under the agent, in every mode, N times each.

    tests/cpython/run.py [--runs N] [--python PATH ...] [--discover] [--mode NAME ...]
                         [--agent LIB] [--keep DIR] [--verbose] TEST [TEST ...]

TEST is a regrtest module (test_threading, run as `python -m test
--fail-env-changed TEST`) or a unittest name with dots
(test.test_threading.BarrierTests, run as `python -m unittest TEST`).
A regrtest module is first run once without the agent: test cases that
fail here even then (this machine's site-packages can break one) are
named and left out of the runs under the agent (--ignore).
Each run gets a fresh log folder (removed unless the run failed), a fresh
working folder, PYMEMTRACE_QUIET=1 (CPython's tests compare their child
processes' stderr with what they expect, and the agent would otherwise say
where each child's log goes) and a 15-minute limit. A run passes when the program exits 0
(and regrtest says SUCCESS) and the agent wrote nothing on stderr but its
log paths. The table at the end gives passes per interpreter, test and mode;
the exit status is 1 if any run failed, 77 (meson's "skipped") if no
interpreter given has CPython's test package.

Modes (--mode, default all): off (no agent), profile, trace, sample,
reftrace (3.13+; skipped elsewhere, where the agent refuses it with a
line on stderr), every-event (profile, trace and sample with every event logged:
the writer thread too), function (profile and trace while any `run` method
runs, threading.Thread.run among them), native (profile with native stacks).

Run by `meson test cpython` (--discover, one run per mode: test_threading)
and before submitting (20 runs:
`tests/cpython/run.py --runs 20 --python /usr/bin/python3 --python
~/.pyenv/versions/3.11.7/bin/python3 test_threading
test.test_threading.BarrierTests`)."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

MODES = {
    "off": None,
    "profile": {"PYMEMTRACE": "profile"},
    "trace": {"PYMEMTRACE": "trace"},
    "sample": {"PYMEMTRACE": "sample"},
    "reftrace": {"PYMEMTRACE": "reftrace"},
    "every-event": {"PYMEMTRACE": "profile,trace,sample", "PYMEMTRACE_D_RSS_TRIGGER": "0"},
    "function": {"PYMEMTRACE": "profile,trace", "PYMEMTRACE_FUNCTION": "run"},
    "native": {"PYMEMTRACE": "profile", "PYMEMTRACE_NATIVE_STACK": "16"},
}

RUN_LIMIT_S = 900


def default_agent():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "build", "libpymemtrace.so")


def discover():
    """Debian's python3 and every pyenv CPython 3.8+ (the newest micro of
    each minor), as the end-to-end harness finds them."""
    found = ["/usr/bin/python3"] if os.access("/usr/bin/python3", os.X_OK) else []
    root = os.environ.get("PYENV_ROOT")
    if not root:
        try:
            root = subprocess.run(["pyenv", "root"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            root = ""
    root = root or os.path.expanduser("~/.pyenv")
    newest = {}
    try:
        names = os.listdir(os.path.join(root, "versions"))
    except OSError:
        names = []
    for name in names:
        parts = name.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        key = (int(parts[0]), int(parts[1]))
        if key < (3, 8):
            continue
        micro = int(parts[2])
        if key not in newest or micro > newest[key][0]:
            newest[key] = (micro, name)
    for key in sorted(newest):
        exe = os.path.join(root, "versions", newest[key][1], "bin", "python%d.%d" % key)
        if os.access(exe, os.X_OK):
            found.append(exe)
    return found


def python_version(py):
    out = subprocess.run([py, "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip() if out.returncode == 0 else None


def has_test_package(py, test):
    module = test if "." in test else "test." + test
    module = module.split(".")
    # test.test_threading.BarrierTests -> import test.test_threading
    name = ".".join(module[:2])
    r = subprocess.run([py, "-c", "import %s" % name], capture_output=True, timeout=120)
    return r.returncode == 0


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYMEMTRACE", "PYTHON")) and k != "LD_PRELOAD"}
    env["LC_ALL"] = "C.UTF-8"
    return env


def agent_lines_ok(err):
    """The agent's stderr lines, quiet as it is: none but the refusal of
    reftrace before 3.13."""
    bad = []
    for line in err.splitlines():
        if not line.startswith("pymemtrace: "):
            continue
        if line.startswith("pymemtrace: reference tracing needs Python 3.13"):
            continue
        bad.append(line)
    return bad


def baseline_failures(py, test):
    """The test cases of a regrtest module that fail here without the agent
    (this machine's site-packages can make one fail: a .pth file that
    imports threading at start-up breaks test_import_from_another_thread).
    Returns (ids, None), or (None, why) when even that run says nothing."""
    work = tempfile.mkdtemp(prefix="pmt-cpython-base-")
    xml_path = os.path.join(work, "junit.xml")
    try:
        subprocess.run([py, "-m", "test", "--fail-env-changed", "--junit-xml", xml_path, test],
                       cwd=work, env=clean_env(), capture_output=True, timeout=RUN_LIMIT_S)
        if not os.path.exists(xml_path):
            return None, "no result without the agent"
        failed = []
        for case in ET.parse(xml_path).iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(case.get("name"))
        return failed, None
    except (subprocess.TimeoutExpired, ET.ParseError) as e:
        return None, "without the agent: %s" % e
    finally:
        shutil.rmtree(work, ignore_errors=True)


def mode_applies(mode, version):
    """reftrace needs 3.13: elsewhere the agent refuses it with a line on
    stderr, which CPython's tests of their child processes' stderr notice."""
    if mode != "reftrace":
        return True
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (3, 13)


def one_run(py, test, mode, agent, keep, ignore=()):
    logs = tempfile.mkdtemp(prefix="pmt-cpython-logs-")
    cwd = tempfile.mkdtemp(prefix="pmt-cpython-cwd-")
    env = clean_env()
    settings = MODES[mode]
    if settings is not None:
        env["LD_PRELOAD"] = agent
        env["PYMEMTRACE_LOG_DIR"] = logs
        # CPython's tests compare their child processes' stderr with what
        # they expect: the agent's "<mode> log: <path>" lines must not be there.
        env["PYMEMTRACE_QUIET"] = "1"
        env.update(settings)
    if "." in test:
        argv = [py, "-m", "unittest", test]
    else:
        argv = [py, "-m", "test", "--fail-env-changed"]
        for case in ignore:
            argv += ["--ignore", case]
        argv.append(test)
    started = time.monotonic()
    try:
        r = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                           errors="replace", timeout=RUN_LIMIT_S)
        status, out, err = r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        status, out, err = "timeout", e.stdout or "", e.stderr or ""
        if isinstance(out, bytes):
            out = out.decode(errors="replace")
        if isinstance(err, bytes):
            err = err.decode(errors="replace")
    seconds = time.monotonic() - started
    why = None
    if status != 0:
        why = "exit status %s" % status if status != "timeout" else "timed out"
    elif "." not in test and "Tests result: SUCCESS" not in out + err:
        why = "regrtest did not say SUCCESS"
    else:
        bad = agent_lines_ok(err)
        if bad:
            why = "the agent said: " + bad[0]
    if why and keep:
        where = tempfile.mkdtemp(prefix="%s-%s-" % (test, mode), dir=keep)
        with open(os.path.join(where, "output.txt"), "w") as f:
            f.write("argv: %r\nenv: %r\nstatus: %s\n--- stdout\n%s\n--- stderr\n%s\n"
                    % (argv, settings, status, out, err))
        shutil.copytree(logs, os.path.join(where, "logs"), dirs_exist_ok=True)
        why += " (kept in %s)" % where
    shutil.rmtree(logs, ignore_errors=True)
    shutil.rmtree(cwd, ignore_errors=True)
    return why, seconds, (out + err)[-3000:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tests", nargs="+", metavar="TEST")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--python", action="append", dest="pythons")
    ap.add_argument("--discover", action="store_true",
                    help="Debian's python3 and every pyenv CPython 3.8+ found")
    ap.add_argument("--mode", action="append", dest="modes", choices=sorted(MODES))
    ap.add_argument("--agent", default=default_agent())
    ap.add_argument("--keep", default=None, help="folder for the output and logs of failed runs")
    ap.add_argument("--verbose", action="store_true", help="print each failed run's output tail")
    args = ap.parse_args()
    agent = os.path.abspath(args.agent)
    if not os.path.exists(agent):
        print("no agent at %s (build it first)" % agent, file=sys.stderr)
        return 2
    pythons = (args.pythons or []) + (discover() if args.discover else [])
    pythons = pythons or ["/usr/bin/python3"]
    modes = args.modes or list(MODES)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    rows, failed, skipped, ran = [], 0, [], 0
    for py in pythons:
        version = python_version(py)
        if version is None:
            skipped.append("%s: not runnable" % py)
            continue
        for test in args.tests:
            if not has_test_package(py, test):
                skipped.append("%s %s: no %s (CPython's test package is not installed)"
                               % (py, version, test))
                continue
            ignore = ()
            if "." not in test:
                ignore, why = baseline_failures(py, test)
                if ignore is None:
                    skipped.append("%s %s %s: %s" % (py, version, test, why))
                    continue
                for case in ignore:
                    print("%-8s %-34s excluded: %s fails here without the agent"
                          % (version, test, case), flush=True)
            for mode in modes:
                if not mode_applies(mode, version):
                    skipped.append("cpython %s reftrace: reference tracing needs Python 3.13"
                                   % test)
                    continue
                passes, times, first_why = 0, [], None
                for i in range(args.runs):
                    why, seconds, tail = one_run(py, test, mode, agent, args.keep, ignore)
                    times.append(seconds)
                    ran += 1
                    if why is None:
                        passes += 1
                    else:
                        failed += 1
                        first_why = first_why or why
                        if args.verbose:
                            print("--- %s %s %s run %d: %s\n%s" % (version, test, mode, i + 1, why, tail),
                                  flush=True)
                times.sort()
                rows.append((py, version, test, mode, passes, args.runs, times[len(times) // 2], first_why))
                print("%-8s %-34s %-12s %3d/%-3d median %6.1f s%s"
                      % (version, test, mode, passes, args.runs, times[len(times) // 2],
                         "" if first_why is None else "  FIRST FAILURE: " + first_why), flush=True)
    for s in skipped:
        print("[SKIP] %s" % s)
    print("%d passed, %d failed" % (ran - failed, failed))
    if failed:
        return 1
    if ran == 0:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
