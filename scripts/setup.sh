#!/usr/bin/env bash
# setup.sh: install what pymemtrace agent needs on Debian 12, then build it.
#
# Usable from any folder (it works in the repository root, this script's
# parent) and as often as wanted: apt is skipped when every package is there,
# and an existing build folder is reconfigured rather than set up again.
set -euo pipefail

# The python3-* for the tests that run pytest --cov beside the agent (on
# pyenv's interpreters too: their pure-Python parts).
packages=(meson ninja-build pkg-config gcc libcriterion-dev libunwind-dev python3
    libpython3.11-testsuite valgrind clang libclang-rt-14-dev python3-pytest python3-pytest-cov
    python3-coverage python3-exceptiongroup python3-tomli)

say() { printf 'setup.sh: %s\n' "$*"; }
die() { printf 'setup.sh: error: %s\n' "$*" >&2; exit 1; }

root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# Runs a quiet step; its output is shown only when it fails.
step_log=$(mktemp "${TMPDIR:-/tmp}/pymemtrace-setup.XXXXXX")
trap 'rm -f "$step_log"' EXIT
run_step() {
    local what=$1
    shift
    say "$what"
    if ! "$@" >"$step_log" 2>&1; then
        printf 'setup.sh: error: %s failed: %s\n' "$what" "$*" >&2
        tail -n 40 "$step_log" >&2
        exit 1
    fi
}

command -v dpkg >/dev/null 2>&1 || die "dpkg not found: this script installs Debian packages (Debian 12); install ${packages[*]} by hand and run: meson setup build && ninja -C build"

missing=()
for p in "${packages[@]}"; do
    if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    say "packages: all present (${packages[*]})"
elif ((EUID != 0)); then
    die "missing packages: ${missing[*]}; as root, run: apt-get update && apt-get install -y ${missing[*]}"
else
    export DEBIAN_FRONTEND=noninteractive
    run_step "apt-get update" apt-get update
    run_step "installing ${missing[*]}" apt-get install -y "${missing[@]}"
fi

if [[ -d build/meson-private ]]; then
    run_step "meson setup --reconfigure build" meson setup --reconfigure build
else
    run_step "meson setup build" meson setup build
fi
run_step "ninja -C build" ninja -C build

[[ -f build/libpymemtrace.so ]] || die "the build finished but build/libpymemtrace.so is missing"
say "built $root/build/libpymemtrace.so; launcher: $root/build/pymemtrace-run"
