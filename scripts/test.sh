#!/usr/bin/env bash
# The README's test command: set everything up (Debian packages, build) and
# run every test tier with meson test (valgrind's memcheck and CPython's
# test_threading among them), then the memory-safety checks that need builds
# of their own (scripts/check-memory.sh: the sanitizer build, the fuzzers),
# then the interpreter-dependent tests on Debian sid's 3.13 (static), 3.14 and
# 3.15 in a chroot (scripts/test-sid.sh). Ends with
# one summary line, with the reason of every skipped test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
status=0
meson test -C build --print-errorlogs --no-rebuild "$@" || status=$?
memlog=$(mktemp /tmp/pmt-check-memory-XXXXXX)
trap 'rm -f "$memlog"' EXIT
if (($# == 0)); then
    # memcheck ran above, as a meson test of build/
    bash scripts/check-memory.sh sanitizers fuzz 2>&1 | tee "$memlog" || status=1
    # Debian sid's 3.13 (static), 3.14 and 3.15 in a chroot; skipped with
    # the reason where one cannot be made.
    bash scripts/test-sid.sh build || status=1
fi
# One closing line counted over every Criterion executable, the other tiers'
# "N passed, M failed" lines, in every build's test logs, and the memory
# checks' own results and skips.
python3 - "$memlog" build/meson-logs/testlog.txt build/meson-logs/memcheck.txt \
    build-san/meson-logs/san-unit.txt build-san/meson-logs/san-e2e.txt \
    build-fuzz/meson-logs/fuzz.txt build/meson-logs/sid-e2e.txt build/meson-logs/sid-cpython.txt <<'PY' || true
import os, re, sys
passed = failed = 0
skips = []
memlog, logs = sys.argv[1], sys.argv[2:]
for path in logs:
    if not os.path.exists(path):
        continue
    text = open(path, errors="replace").read()
    for m in re.finditer(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)", text):
        tested, ok, bad, crash = map(int, m.groups())
        passed += ok
        failed += bad + crash
    for m in re.finditer(r"^(\d+) passed, (\d+) failed$", text, re.M):
        passed += int(m.group(1))
        failed += int(m.group(2))
    skips += re.findall(r"\[SKIP\]\s*(.*)", text)
if os.path.exists(memlog):
    text = open(memlog, errors="replace").read()
    for m in re.finditer(r"^check-memory: result: .*?(\d+) passed, (\d+) failed", text, re.M):
        passed += int(m.group(1))
        failed += int(m.group(2))
    skips += re.findall(r"^\[SKIP\] (.*)", text, re.M)
reasons = {}
for s in skips:
    r = re.sub(r"^[\w:./-]+: (?=\S)", "", s.strip(), count=1) if "::" in s else s.strip()
    reasons[r] = reasons.get(r, 0) + 1
why = "; ".join("%s%s" % (r, " (x%d)" % n if n > 1 else "") for r, n in sorted(reasons.items()))
print("tests: %d passed, %d failed, %d skipped%s" % (passed, failed, len(skips), " (" + why + ")" if why else ""))
PY
exit $status
