#!/usr/bin/env bash
# demo.sh: the quick start. Builds the agent, runs a small unmodified Python
# program under it (profile mode, Debian's python3), then shows where the logs
# went and the largest RSS jumps they hold.
set -euo pipefail

root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=/usr/bin/python3

"$root/scripts/setup.sh"

[[ -x $python ]] || { echo "demo.sh: error: $python not found (the demo uses Debian's python3)" >&2; exit 1; }

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/pymemtrace-demo.XXXXXX")
html_dir=$log_dir/html
echo
echo "demo.sh: running: build/pymemtrace-run --log-dir $log_dir -- $python scripts/demo_app.py $html_dir"
# Through sh: the launcher works whatever mode bits the build folder's copy has.
sh "$root/build/pymemtrace-run" --log-dir "$log_dir" -- "$python" "$root/scripts/demo_app.py" "$html_dir"

shopt -s nullglob
logs=("$log_dir"/*.log)
if ((${#logs[@]} == 0)); then
    echo "demo.sh: error: no log was written in $log_dir (see the agent's messages above)" >&2
    exit 1
fi
echo
echo "demo.sh: log(s) written to $log_dir:"
for log in "${logs[@]}"; do
    echo "  $log"
done
echo
echo "demo.sh: the 5 largest RSS increases: scripts/pymemtrace-top -n 5 $log_dir"
echo
"$python" "$root/scripts/pymemtrace-top" -n 5 "$log_dir"
