#!/usr/bin/env bash
# sid-chroot.sh: CPython 3.14 and 3.15 (and a static 3.13) on Debian 12.
#
# Debian unstable ships them, built against a newer glibc than Debian 12's,
# so they run only in a Debian sid chroot. An agent built on Debian 12 loads
# there unchanged (a newer glibc runs older binaries), so the chroot tests the
# very library users run.
#
#   sid-chroot.sh ensure        create the chroot, or check the one there (seconds)
#   sid-chroot.sh run CMD...    run CMD inside it, in this folder, as root
#   sid-chroot.sh path          print where it is
#
# The chroot is PMT_SID_CHROOT, by default /var/cache/pymemtrace/sid. Making it
# takes about 5 minutes and 1.5 GB, needs root and the network; the mirror is
# the one this machine's own apt sources name. `run` mounts /proc, /sys, /dev,
# this machine's /tmp (disk, not memory: every-event logs reach gigabytes;
# and a test's kept folder is where its message says, inside and out) and the
# project (at the same path as outside) in a mount namespace of its own, so
# nothing stays mounted after it, however it ends.
#
# Exit status 3 with one line on stderr: the chroot cannot be had here (not
# root, no debootstrap and no apt, no network); callers report their tests as
# skipped with that line.
set -euo pipefail

root=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${PMT_SID_CHROOT:-/var/cache/pymemtrace/sid}
# What the tests use inside: the interpreters (release and debug), their
# test suites, and what builds and runs the project's test programs.
packages=(python3.14 python3.15 libpython3.14 libpython3.15 python3.14-dev python3.15-dev
    python3.14-dbg python3.15-dbg python3.13 libpython3.13 libpython3.13-testsuite
    libpython3.14-testsuite libpython3.15-testsuite python3 gcc meson ninja-build pkg-config
    libcriterion-dev libunwind-dev git procps python3-pytest python3-pytest-cov python3-coverage)
stamp="$dir/.pymemtrace-ready"

say() { printf 'sid-chroot: %s\n' "$*" >&2; }
unavailable() { printf 'sid-chroot: unavailable: %s\n' "$*" >&2; exit 3; }

# The Debian mirror this machine uses (deb822 or one-line sources), never a
# fixed host.
mirror() {
    local uri
    uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -v -e security -e '^$' | head -n 1 || true)
    if [[ -z $uri && -r /etc/apt/sources.list ]]; then
        uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list)
    fi
    [[ -n $uri ]] || return 1
    printf '%s\n' "$uri"
}

# Runs "$@" in a private mount namespace with the chroot's mounts.
in_chroot() {
    local cwd=$PWD
    unshare --mount --propagation private -- bash -c '
        set -e
        dir=$1 project=$2 cwd=$3
        shift 3
        mount -t proc proc "$dir/proc"
        mount -t sysfs sysfs "$dir/sys"
        mount --rbind /dev "$dir/dev"
        mount --bind /tmp "$dir/tmp"
        mkdir -p "$dir$project"
        mount --bind "$project" "$dir$project"
        cp -L /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
        cd "$dir$cwd" 2>/dev/null || cd "$dir$project"
        exec chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" DEBIAN_FRONTEND=noninteractive \
            bash -c "cd \"\$1\" 2>/dev/null || cd \"\$2\"; shift 2; exec \"\$@\"" sh "$cwd" "$project" "$@"
    ' sh "$dir" "$root" "$cwd" "$@"
}

ensure() {
    ((EUID == 0)) || unavailable "needs root (debootstrap, chroot and mounts)"
    command -v unshare >/dev/null || unavailable "unshare (util-linux) not found"
    if [[ -f $stamp ]] && cmp -s "$stamp" <(printf '%s\n' "${packages[@]}") &&
        in_chroot sh -c 'python3.14 -c pass && python3.15 -c pass' 2>/dev/null; then
        say "ready: $dir"
        return 0
    fi
    local url
    url=$(mirror) || unavailable "no Debian mirror in /etc/apt/sources.list*"
    if ! command -v debootstrap >/dev/null; then
        command -v apt-get >/dev/null || unavailable "debootstrap not found and no apt-get to install it"
        say "installing debootstrap"
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap; } >/dev/null 2>&1 ||
            unavailable "could not install debootstrap (network?)"
    fi
    if [[ ! -x $dir/usr/bin/apt-get || -e $dir/debootstrap ]]; then
        # Absent or left half-made by an interrupted run: start again.
        rm -rf "$dir"
        mkdir -p "$dir"
        say "debootstrap sid from $url into $dir (about 2 minutes)"
        local log
        log=$(mktemp)
        if ! debootstrap --variant=minbase sid "$dir" "$url" >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            rm -f "$log"
            rm -rf "$dir"
            unavailable "debootstrap sid from $url failed (network?)"
        fi
        rm -f "$log"
    fi
    # The mirror may serve Release files past their Valid-Until date;
    # experimental for packages sid does not have yet.
    printf 'Acquire::Check-Valid-Until "false";\nAPT::Install-Recommends "false";\n' \
        >"$dir/etc/apt/apt.conf.d/99pymemtrace"
    printf 'deb %s sid main\ndeb %s experimental main\n' "$url" "$url" >"$dir/etc/apt/sources.list"
    rm -f "$dir"/etc/apt/sources.list.d/*.sources
    say "installing ${#packages[@]} packages in the chroot (about 3 minutes)"
    local log
    log=$(mktemp)
    if ! in_chroot sh -c 'apt-get update && apt-get install -y "$@" && apt-get clean' sh "${packages[@]}" \
        >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        rm -f "$log"
        unavailable "apt-get in the chroot failed"
    fi
    rm -f "$log"
    printf '%s\n' "${packages[@]}" >"$stamp"
    say "ready: $dir ($(in_chroot sh -c 'python3.14 -V; python3.15 -V' 2>&1 | tr '\n' ' '))"
}

case ${1:-} in
ensure) ensure ;;
run)
    shift
    (($# > 0)) || { say "run: no command"; exit 2; }
    [[ -f $stamp ]] || unavailable "no chroot at $dir: run $0 ensure first"
    in_chroot "$@"
    ;;
path) printf '%s\n' "$dir" ;;
*)
    printf 'usage: %s ensure | run CMD... | path\n' "$0" >&2
    exit 2
    ;;
esac
