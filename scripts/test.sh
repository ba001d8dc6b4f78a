#!/usr/bin/env bash
# The README's test command: set everything up (Debian packages, build) and
# run every test tier with meson test. Ends with one summary line.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/setup.sh
status=0
meson test -C build --print-errorlogs --no-rebuild "$@" || status=$?
# One closing line counted over every Criterion executable and the install check.
python3 - "$root/build/meson-logs/testlog.txt" <<'PY' || true
import re, sys
text = open(sys.argv[1], errors="replace").read()
passed = failed = skipped = 0
for m in re.finditer(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)", text):
    tested, ok, bad, crash = map(int, m.groups())
    passed += ok
    failed += bad + crash
skipped = len(re.findall(r"\[SKIP\]", text))
for m in re.finditer(r"^(\d+) passed, (\d+) failed$", text, re.M):
    passed += int(m.group(1))
    failed += int(m.group(2))
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
