#!/bin/sh
# Runs one libFuzzer target for a bounded time over the corpus kept in the
# repository. New inputs go to a temporary folder (libFuzzer writes into the
# first corpus folder it is given), so the repository is never written; a
# crash's input is kept in the build folder and named in the output.
#   run.sh FUZZER CORPUS SECONDS [DICT]   (PMT_FUZZ_SECONDS overrides SECONDS)
set -eu
fuzzer=$1
corpus=$2
seconds=${PMT_FUZZ_SECONDS:-$3}
dict=${4:-}
work=$(mktemp -d /tmp/pmt-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
artifacts=$(dirname "$fuzzer")/fuzz-artifacts/
mkdir -p "$artifacts"
set -- -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts"
[ -n "$dict" ] && set -- "$@" -dict="$dict"
status=0
"$fuzzer" "$@" "$work" "$corpus" >"$work/log.txt" 2>&1 || status=$?
grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done|INFO: seed corpus)" "$work/log.txt" || true
if [ "$status" -ne 0 ]; then
    tail -n 60 "$work/log.txt"
    echo "$(basename "$fuzzer"): a finding (exit $status); its input is in $artifacts"
    echo "0 passed, 1 failed"
    exit 1
fi
echo "$(basename "$fuzzer"): no finding in ${seconds} s"
echo "1 passed, 0 failed"
