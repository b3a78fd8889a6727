#!/usr/bin/env bash
# e2e-docker.sh: Docker end to end with puncker as the runtime, on a private
# dockerd (its own data root, exec root, socket and config; no bridge, no
# iptables), so it neither needs nor disturbs a system Docker.
#
#   bash scripts/e2e-docker.sh     (as root, after `make build`)
#
# Checks: docker run (output, stderr, exit status), Docker's own seccomp
# profile and capabilities in force, run -d + exec + top + stop + rm,
# --memory and --pids-limit in the container's cgroup (and `docker stats`),
# `docker update`, Docker's device rules (a disk node cannot be opened),
# pause and unpause,
# the cgroup gone after rm, run -it through the console socket, and containerd's own client (`ctr
# run --runc-binary`) on the containerd that dockerd started. Exits
# non-zero on the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$PWD/target/release/puncker
[ -x "$bin" ] || { echo "e2e-docker: build first: make build" >&2; exit 1; }
if ! command -v dockerd >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io
fi
docker=/usr/bin/docker
[ -x "$docker" ] || docker=$(command -v docker)

work=$(mktemp -d /var/tmp/pk-e2e.XXXXXX)
sock=$work/docker.sock
export DOCKER_HOST=unix://$sock
dockerd_pid=
cleanup() {
    set +e
    if [ -n "$dockerd_pid" ]; then
        "$docker" ps -aq | xargs -r "$docker" rm -f >/dev/null 2>&1
        kill "$dockerd_pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    # Whatever dockerd left mounted under its roots, then the roots.
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/daemon.json" <<EOF
{ "runtimes": { "puncker": { "path": "$bin" } } }
EOF
dockerd --config-file "$work/daemon.json" --data-root "$work/data" \
    --exec-root "$work/exec" --pidfile "$work/dockerd.pid" -H "$DOCKER_HOST" \
    --bridge none --iptables=false --ip-masq=false \
    > "$work/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 300); do
    "$docker" info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || { cat "$work/dockerd.log"; echo "e2e-docker: dockerd died" >&2; exit 1; }
    sleep 0.1
done
"$docker" info >/dev/null || { tail -20 "$work/dockerd.log"; exit 1; }

fail() { echo "e2e-docker: FAIL: $*" >&2; tail -20 "$work/dockerd.log" >&2; exit 1; }
pass() { echo "e2e-docker: ok: $*"; }

bash scripts/mkrootfs.sh "$work/rootfs" >/dev/null
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
"$docker" import --change 'ENV PATH=/bin' "$work/rootfs.tar" puncker-e2e:busybox >/dev/null
run=("$docker" run --rm --runtime=puncker --network none puncker-e2e:busybox)

out=$("${run[@]}" sh -c 'echo out; echo err >&2; exit 3' 2>"$work/err") && rc=0 || rc=$?
[ "$out" = out ] || fail "stdout was '$out'"
[ "$(cat "$work/err")" = err ] || fail "stderr was '$(cat "$work/err")' (nothing of the runtime's may appear there)"
[ "$rc" = 3 ] || fail "exit status $rc, not 3"
pass "docker run: stdout, stderr and exit status"

status=$("${run[@]}" cat /proc/self/status)
grep -q '^Seccomp:[[:space:]]*2' <<<"$status" || fail "Docker's seccomp profile is not in force"
grep -q '^CapBnd:[[:space:]]*00000000a80425fb' <<<"$status" || fail "capabilities: $(grep Cap <<<"$status")"
grep -q '^NoNewPrivs:[[:space:]]*0' <<<"$status" || fail "NoNewPrivs: $(grep NoNewPrivs <<<"$status")"
pass "Docker's seccomp profile and default capabilities are applied"

"$docker" run -d --name pk-e2e --runtime=puncker --network none puncker-e2e:busybox sleep 1000 >/dev/null
[ "$("$docker" exec pk-e2e sh -c 'echo $$')" != 1 ] || fail "exec ran as PID 1"
[ "$("$docker" exec pk-e2e cat /proc/1/cmdline | tr '\0' ' ')" = "sleep 1000 " ] || fail "exec does not see the init"
"$docker" top pk-e2e | grep -q 'sleep 1000' || fail "docker top"
"$docker" stop -t 1 pk-e2e >/dev/null || fail "docker stop"
[ "$("$docker" inspect -f '{{.State.Status}}' pk-e2e)" = exited ] || fail "not exited after stop"
"$docker" rm pk-e2e >/dev/null || fail "docker rm"
pass "run -d, exec, top, stop, rm"

# Docker's limits reach the container's cgroup, which goes away with it.
"$docker" run -d --name pk-e2e-cg --runtime=puncker --network none --memory 48m --pids-limit 33 \
    puncker-e2e:busybox sleep 1000 >/dev/null || fail "run -d --memory --pids-limit"
cid=$("$docker" inspect -f '{{.Id}}' pk-e2e-cg)
limits=$("$docker" exec pk-e2e-cg sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max' | tr '\n' ' ')
[ "$limits" = "50331648 33 " ] || fail "--memory 48m --pids-limit 33: the container sees '$limits'"
"$docker" stats --no-stream --format '{{.MemUsage}}' pk-e2e-cg | grep -q '48MiB' || fail "docker stats: $("$docker" stats --no-stream pk-e2e-cg 2>&1)"
"$docker" update --memory 96m --memory-swap -1 --pids-limit 44 pk-e2e-cg >/dev/null || fail "docker update"
limits=$("$docker" exec pk-e2e-cg sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max' | tr '\n' ' ')
[ "$limits" = "100663296 44 " ] || fail "docker update --memory 96m --pids-limit 44: the container sees '$limits'"
# Docker's device rules: mknod is allowed (CAP_MKNOD), opening the disk is not.
out=$("$docker" exec pk-e2e-cg sh -c 'mknod /tmp/disk b 8 0 && head -c1 /tmp/disk' 2>&1) && fail "a block device opened inside the container: $out"
grep -q 'Operation not permitted' <<<"$out" || fail "opening a block device: '$out' (expected EPERM from the device cgroup)"
"$docker" pause pk-e2e-cg >/dev/null || fail "docker pause"
[ "$("$docker" inspect -f '{{.State.Status}}' pk-e2e-cg)" = paused ] || fail "not paused after docker pause"
"$docker" unpause pk-e2e-cg >/dev/null || fail "docker unpause"
[ "$("$docker" exec pk-e2e-cg echo alive)" = alive ] || fail "exec after unpause"
"$docker" rm -f pk-e2e-cg >/dev/null || fail "docker rm -f"
left=$(find /sys/fs/cgroup -maxdepth 4 -type d -name "*$cid*" 2>/dev/null)
[ -z "$left" ] || fail "cgroup left after docker rm: $left"
pass "--memory and --pids-limit in the container's cgroup, docker update, device rules, pause/unpause, cgroup removed with it"

out=$( (sleep 1; echo 'tty; exit 5') | script -qec "$docker run --rm -it --runtime=puncker --network none puncker-e2e:busybox sh" /dev/null) && rc=0 || rc=$?
grep -q '/dev/pts/0' <<<"$out" || fail "run -it: no terminal: $out"
[ "$rc" = 5 ] || fail "run -it: exit status $rc, not 5"
pass "run -it through the console socket"

ctrd=$work/exec/containerd/containerd.sock
if [ -S "$ctrd" ] && command -v ctr >/dev/null 2>&1; then
    ctr=(ctr --address "$ctrd" --namespace puncker-e2e)
    "$docker" save puncker-e2e:busybox | "${ctr[@]}" images import - >/dev/null
    out=$("${ctr[@]}" run --rm --runc-binary "$bin" docker.io/library/puncker-e2e:busybox pk-ctr \
        sh -c 'echo from-ctr; exit 6') && rc=0 || rc=$?
    [ "$out" = from-ctr ] || fail "ctr run: stdout was '$out'"
    [ "$rc" = 6 ] || fail "ctr run: exit status $rc, not 6"
    pass "containerd's ctr run --runc-binary"
else
    fail "no containerd socket at $ctrd, or no ctr"
fi

echo "e2e-docker: all 6 checks passed"
