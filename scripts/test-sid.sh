#!/usr/bin/env bash
# test-sid.sh: the interpreter-dependent tests on Debian sid's CPython 3.13
# (static), 3.14 and 3.15, release and debug builds, in the chroot of
# scripts/sid-chroot.sh, against this machine's build of the agent.
#
#   test-sid.sh [--e2e-only] [BUILD_DIR]     BUILD_DIR: build (default)
#
# Runs, inside the chroot, the end-to-end suite's tests for those
# interpreters (the very executables meson built here, with the environment
# meson gives them) and CPython's own test_threading under the agent in every
# mode (PMT_SID_FILTER: a Criterion --filter of its own). Logs: BUILD_DIR/meson-logs/sid-e2e.txt and sid-cpython.txt. Where the
# chroot cannot be made, both logs hold one [SKIP] line with the reason and
# the script exits 0: the tests are reported as skipped, never as passed.
set -euo pipefail
root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
e2e_only=0
if [[ ${1:-} == --e2e-only ]]; then
    e2e_only=1
    shift
fi
build=$(cd -P "${1:-build}" && pwd)
logs=$build/meson-logs
mkdir -p "$logs"
e2e_log=$logs/sid-e2e.txt
cpython_log=$logs/sid-cpython.txt
rm -f "$e2e_log" "$cpython_log"

if ! why=$(bash scripts/sid-chroot.sh ensure 2>&1 >/dev/null); then
    reason=$(printf '%s\n' "$why" | sed -n 's/^sid-chroot: unavailable: //p' | tail -n 1)
    [[ -n $reason ]] || reason=$(printf '%s\n' "$why" | tail -n 1)
    for f in "$e2e_log" "$cpython_log"; do
        printf '[SKIP] sid::all: Python 3.13 (static), 3.14 and 3.15 not tested: no Debian sid chroot (%s)\n' \
            "$reason" >"$f"
    done
    cat "$e2e_log"
    exit 0
fi

# The e2e suite as meson runs it: its command and environment.
mapfile -t e2e_env < <(meson introspect --tests "$build" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["name"] == "e2e":
        print(t["cmd"][0])
        for k, v in sorted((t["env"] or {}).items()):
            print("%s=%s" % (k, v))
')
((${#e2e_env[@]} > 0)) || { echo "test-sid.sh: no e2e test in $build" >&2; exit 1; }
e2e_exe=${e2e_env[0]}
status=0
echo "test-sid.sh: end-to-end suite on sid's 3.13 (static), 3.14, 3.15, 3.14d, 3.15d"
bash scripts/sid-chroot.sh run env "${e2e_env[@]:1}" "$e2e_exe" --jobs=2 \
    "--filter=${PMT_SID_FILTER:-*/*@(_py313s|_py314|_py315|_py314d|_py315d)}" 2>&1 | tee "$e2e_log" |
    grep -E '^\[(FAIL|SKIP|----|====)\]' || true
grep -q 'Synthesis: Tested: [0-9]* | Passing: [0-9]* | Failing: 0 | Crashing: 0' "$e2e_log" || status=1

if ((e2e_only == 0)); then
    echo "test-sid.sh: CPython's test_threading under the agent, every mode"
    bash scripts/sid-chroot.sh run python3 tests/cpython/run.py --agent "$build/libpymemtrace.so" \
        --python python3.13 --python python3.14 --python python3.15 test_threading 2>&1 |
        tee "$cpython_log" || status=1
fi
exit $status
