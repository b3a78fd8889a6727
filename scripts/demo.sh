#!/usr/bin/env bash
# demo.sh: build a busybox bundle in demo/ and run one container from it,
# which prints what it sees from the inside. No Docker, no network.
#   bash scripts/demo.sh            (after `make build`)
#   EXPLAIN=1 bash scripts/demo.sh  (also narrate every kernel step)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=$PWD/target/release/puncker
[ -x "$bin" ] || { echo "demo: build first: make build" >&2; exit 1; }

rm -rf demo
ARGS='["sh", "-c", "echo \"PID inside the container: $$\"; echo \"hostname: $(hostname)\"; echo \"user: $(id)\"; echo; echo \"processes it can see:\"; ps; echo; echo \"its mounts:\"; cat /proc/self/mounts"]' \
    bash scripts/mkbundle.sh demo "$bin"

explain=()
[ -n "${EXPLAIN:-}" ] && explain=(--explain --explain-file demo/explain.txt)
id=demo-$$
"$bin" --root /run/puncker "${explain[@]}" run --bundle demo "$id"
if [ -n "${EXPLAIN:-}" ]; then
    echo
    echo "Kernel steps narrated in demo/explain.txt"
fi
