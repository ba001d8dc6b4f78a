#!/usr/bin/env bash
# check-memory.sh: the agent's memory safety, checked three ways (README,
# "How memory safety is checked"). Run by scripts/test.sh after the main
# tests, or alone once scripts/setup.sh has run:
#
#   bash scripts/check-memory.sh [sanitizers] [memcheck] [fuzz]   (default: all)
#
# sanitizers  the agent built with AddressSanitizer, UndefinedBehaviorSanitizer
#             and a stack protector in every function (build-san/): its unit
#             tests, then the whole end-to-end suite on Debian's python3 and
#             pyenv's 3.13 with ASan's runtime preloaded first; any report
#             (written to files, so that no test's output hides one) fails.
# memcheck    valgrind's memcheck over a subset of the end-to-end runs
#             (meson test memcheck in build/): no error with a frame in the
#             agent.
# fuzz        libFuzzer on the settings parser and the log formatters, 60 s
#             each, over the corpus in tests/fuzz/corpus (clang, build-fuzz/).
#
# Each meson test run keeps its own log in its build folder's meson-logs
# (--logbase: san-unit, san-e2e, memcheck, fuzz), which test.sh's summary
# reads; a part that cannot run says "[SKIP] <part>: why". The exit status
# is 1 if any part failed.
set -uo pipefail
root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
parts=("$@")
((${#parts[@]})) || parts=(sanitizers memcheck fuzz)
status=0
say() { printf 'check-memory: %s\n' "$*"; }

setup_quiet() { # dir, then meson options
    local dir=$1
    shift
    local log
    log=$(mktemp)
    if [[ -d $dir/meson-private ]]; then
        meson setup --reconfigure "$dir" "$@" >"$log" 2>&1
    else
        meson setup "$dir" "$@" >"$log" 2>&1
    fi || { cat "$log"; rm -f "$log"; return 1; }
    ninja -C "$dir" >"$log" 2>&1 || { tail -n 40 "$log"; rm -f "$log"; return 1; }
    rm -f "$log"
}

sanitizers() {
    say "sanitizers: building build-san (ASan, UBSan, -fstack-protector-all)"
    setup_quiet build-san -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args='-fstack-protector-all -fno-omit-frame-pointer' ||
        { say "result: sanitizers: 0 passed, 1 failed (build)"; return 1; }
    local reports rc=0
    reports=$(mktemp -d /tmp/pmt-sanitizer-reports-XXXXXX)
    # Unit tests: instrumented executables; leaks count too.
    say "sanitizers: unit tests"
    ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$reports/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
        meson test -C build-san --no-rebuild --print-errorlogs --logbase san-unit unit || rc=1
    # The end-to-end suite: uninstrumented interpreters with ASan's runtime
    # preloaded before the instrumented agent. CPython frees some memory only
    # at exit, if at all: leak checking is for the unit tests.
    say "sanitizers: end-to-end suite on Debian's python3 and pyenv's 3.13"
    PMT_PRELOAD_FIRST="$(gcc -print-file-name=libasan.so)" \
        ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:log_path=$reports/asan" \
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
        meson test -C build-san --no-rebuild --print-errorlogs --logbase san-e2e e2e \
        --test-args='--filter=*/!(*_py38|*_py39|*_py310|*_py311|*_py312)' || rc=1
    local found
    found=$(find "$reports" -type f | head -n 20)
    if [[ -n $found ]]; then
        say "sanitizers: reports were written:"
        for f in $found; do
            echo "--- $f"
            head -n 60 "$f"
        done
        rc=1
    else
        say "sanitizers: no report"
    fi
    rm -rf "$reports"
    if [[ -n $found ]]; then say "result: sanitizer reports: 0 passed, 1 failed"; fi
    return $rc
}

memcheck() {
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "[SKIP] memcheck: valgrind is not installed (apt-get install valgrind)"
        return 0
    fi
    say "memcheck: valgrind over a subset of the end-to-end runs"
    meson test -C build --no-rebuild --print-errorlogs --logbase memcheck memcheck
}

fuzz() {
    if ! command -v clang >/dev/null 2>&1; then
        echo "[SKIP] fuzz: clang is not installed (apt-get install clang libclang-rt-14-dev)"
        return 0
    fi
    say "fuzz: building build-fuzz (clang, libFuzzer)"
    CC=clang setup_quiet build-fuzz -Dtests=disabled -Dfuzz=true ||
        { say "result: fuzz: 0 passed, 1 failed (build)"; return 1; }
    meson test -C build-fuzz --no-rebuild --print-errorlogs --logbase fuzz --suite fuzz
}

for part in "${parts[@]}"; do
    case $part in
    sanitizers | memcheck | fuzz) "$part" || status=1 ;;
    *) say "unknown part '$part' (sanitizers, memcheck, fuzz)"; exit 2 ;;
    esac
done
exit $status
