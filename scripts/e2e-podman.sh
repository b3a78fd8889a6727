#!/usr/bin/env bash
# e2e-podman.sh: Podman (through conmon) end to end with puncker as the
# runtime, on private storage and run roots.
#
#   bash scripts/e2e-podman.sh     (as root, after `make build`)
#
# Podman asks for RLIMIT_NOFILE and RLIMIT_NPROC of 1048576 by default;
# where the caller may not raise them (no CAP_SYS_RESOURCE, as on this
# project's test machines) runc and puncker alike refuse, so the checks pass
# --ulimit values within the current hard limits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$PWD/target/release/puncker
[ -x "$bin" ] || { echo "e2e-podman: build first: make build" >&2; exit 1; }
if ! command -v podman >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends podman conmon
fi

work=$(mktemp -d /var/tmp/pk-e2e-podman.XXXXXX)
podman=(podman --root "$work/storage" --runroot "$work/run" --runtime "$bin"
        --cgroup-manager cgroupfs --events-backend file)
cleanup() {
    set +e
    "${podman[@]}" rm -af -t 0 >/dev/null 2>&1
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "e2e-podman: FAIL: $*" >&2; exit 1; }
pass() { echo "e2e-podman: ok: $*"; }

bash scripts/mkrootfs.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"${podman[@]}" import --change 'ENV PATH=/bin' "$work/rootfs.tar" localhost/puncker-e2e:busybox >/dev/null 2>&1
limits=(--ulimit "nofile=1024:1024" --ulimit "nproc=1024:1024")

out=$("${podman[@]}" run --rm --network none "${limits[@]}" localhost/puncker-e2e:busybox \
    sh -c 'echo out; grep "^Seccomp:" /proc/self/status; exit 4') && rc=0 || rc=$?
grep -q '^out$' <<<"$out" || fail "stdout was '$out'"
grep -q '^Seccomp:[[:space:]]*2' <<<"$out" || fail "Podman's seccomp profile is not in force: $out"
[ "$rc" = 4 ] || fail "exit status $rc, not 4"
pass "podman run: output, seccomp profile, exit status"

"${podman[@]}" run -d --name pk-e2e --network none "${limits[@]}" localhost/puncker-e2e:busybox sleep 1000 >/dev/null
[ "$("${podman[@]}" exec pk-e2e sh -c 'echo $$')" != 1 ] || fail "exec ran as PID 1"
"${podman[@]}" stop -t 1 pk-e2e >/dev/null 2>&1 || fail "podman stop"
"${podman[@]}" rm pk-e2e >/dev/null || fail "podman rm"
pass "run -d, exec, stop, rm"

echo "e2e-podman: all 2 checks passed"
