#!/usr/bin/env bash
# bench/bench.sh — Puncker's benchmark, side by side with runc and crun.
#
# Usage:
#   bench/bench.sh [--quick] [--iterations N] [--warmup N]
#                  [--runtimes puncker,runc,crun] [--puncker PATH]
#                  [--memory-floor | --memory-floor-only] [--no-exec]
#                  [--spec-from RUNTIME] [--json FILE] [--no-wrapper]
#   bench/bench.sh --help
#
# Default: 10 warm-up + 100 measured iterations. --quick: 1 + 5, for CI; it
# exits non-zero if puncker cannot complete create/start/delete (so does the
# full mode). Runtimes that are not installed are skipped with a note.
# The measuring is done by bench/driver.py (see its docstring); this script
# makes the temp dir, cleans up on exit and starts the driver in the wrapper.
#
# The wrapper. This machine's cgroups are hybrid: v1 controllers under
# /sys/fs/cgroup/<controller>, cgroup2 at /sys/fs/cgroup/unified, and here
# cgroup2 has a controller enabled (hugetlb in cgroup.controllers). Found on
# Debian 12 with runc 1.1.5 and crun 1.8.1:
#   - runc works with and without the wrapper (create/start/delete and run);
#   - crun does NOT work without it: create and run fail with "cgroups in hybrid
#     mode not supported, drop all controllers from cgroupv2", even with
#     --cgroup-manager=disabled; its `delete --force` still works;
#   - inside a private mount namespace in which /sys/fs/cgroup/unified is
#     lazily unmounted, crun sees a pure v1 layout and works, and so does runc.
# So every runtime, and the floor, runs under that same wrapper: the whole
# driver is started once inside it, which keeps the wrapper's own cost
# (unshare, umount) out of every timed command. On a machine without the
# unified mount the wrapper changes nothing. --no-wrapper is for diagnosis
# only (crun then fails here).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

wrap=yes
args=()
for a in "$@"; do
    case $a in
        --no-wrapper) wrap=no ;;
    esac
    args+=("$a")
done

for tool in python3 unshare mountpoint umount; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench: '$tool' is missing (apt-get install python3 util-linux)" >&2
        exit 1
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "bench: must run as root (container runtimes and unshare need it)" >&2
    exit 1
fi

# The wrapper as a command prefix: a private mount namespace in which the
# cgroup2 unified mount is gone. unshare and sh both exec, so the pid of
# "${wrapper[@]}" CMD is CMD's own pid.
wrapper=(unshare -m --propagation private sh -c '
    if mountpoint -q /sys/fs/cgroup/unified; then
        umount -l /sys/fs/cgroup/unified
    fi
    exec "$@"' wrapper)
[ "$wrap" = yes ] || wrapper=()

tmp=$(mktemp -d "${TMPDIR:-/tmp}/puncker-bench.XXXXXX")
child=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    # The driver deletes its containers itself; this is the backstop for a
    # driver that was killed. runtimes.tsv: name, path, state root.
    if [ -f "$tmp/runtimes.tsv" ]; then
        while IFS=$'\t' read -r name path root; do
            [ -d "$root" ] || continue
            for d in "$root"/*/; do
                [ -d "$d" ] || continue
                ${wrapper[@]+"${wrapper[@]}"} "$path" --root "$root" delete --force \
                    "$(basename "$d")" >/dev/null 2>&1 </dev/null || true
            done
        done < "$tmp/runtimes.tsv"
    fi
    rm -rf --one-file-system "$tmp"
    exit "$rc"
}
trap cleanup EXIT

# The driver runs in the background so that a signal to this script is acted
# on at once (bash defers traps while a foreground child runs): it is passed
# on as SIGTERM, on which the driver deletes its containers and exits.
${wrapper[@]+"${wrapper[@]}"} python3 "$here/driver.py" --workdir "$tmp" \
    ${args[@]+"${args[@]}"} </dev/null &
child=$!
trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM HUP
set +e
wait "$child"
rc=$?
while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    rc=$?
done
set -e
exit "$rc"
