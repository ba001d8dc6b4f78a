#!/bin/sh
# meson install puts libpymemtrace.so in the library folder and the launcher
# in bin/, and the installed launcher finds the installed library (not the
# build tree's): configure a second build with a private prefix, install it,
# run a Python program through the installed launcher, and read its log.
set -eu
src=$1
python=${2:-/usr/bin/python3}
work=$(mktemp -d /tmp/pmt-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
meson setup -Dtests=disabled --prefix="$prefix" "$work/build" "$src" >"$work/setup.txt" 2>&1 ||
    { cat "$work/setup.txt"; exit 1; }
ninja -C "$work/build" >"$work/ninja.txt" 2>&1 || { cat "$work/ninja.txt"; exit 1; }
meson install -C "$work/build" >"$work/install.txt" 2>&1 || { cat "$work/install.txt"; exit 1; }
lib=$(find "$prefix" -name libpymemtrace.so | head -n 1)
[ -n "$lib" ] || { echo "FAIL: no libpymemtrace.so under $prefix"; exit 1; }
case $lib in
"$prefix"/lib*/*) ;;
*) echo "FAIL: library installed at $lib, not in a lib folder"; exit 1 ;;
esac
[ -x "$prefix/bin/pymemtrace-run" ] || { echo "FAIL: no bin/pymemtrace-run"; exit 1; }
[ -x "$prefix/bin/pymemtrace-top" ] || { echo "FAIL: no bin/pymemtrace-top"; exit 1; }
rm -rf "$work/build" # the installed launcher must not need the build tree
logs=$work/logs
cd "$work"
"$prefix/bin/pymemtrace-run" --profile --log-dir "$logs" -- "$python" -c 'b = bytearray(8 << 20); print("ran")' \
    >"$work/out.txt" 2>"$work/err.txt" || { cat "$work/err.txt"; echo "FAIL: launcher exit $?"; exit 1; }
grep -qx ran "$work/out.txt" || { echo "FAIL: program output missing"; exit 1; }
log=$(ls "$logs"/*_P_0_PY*.log 2>/dev/null | head -n 1)
[ -n "$log" ] || { cat "$work/err.txt"; echo "FAIL: no profile log in $logs"; exit 1; }
head -n 2 "$log" | grep -qx SOF || { echo "FAIL: $log has no SOF"; exit 1; }
tail -n 1 "$log" | grep -qx EOF || { echo "FAIL: $log does not end with EOF"; exit 1; }
grep -q "^LAST: " "$log" || { echo "FAIL: $log has no LAST line"; exit 1; }
echo "installed library: ${lib#"$prefix"/}; launcher: bin/pymemtrace-run; log: $(basename "$log")"
echo "1 passed, 0 failed"
