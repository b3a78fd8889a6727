#!/usr/bin/env bash
# mkbundle.sh DIR [RUNTIME] — make an OCI bundle in DIR:
#   DIR/rootfs       minimal busybox rootfs (scripts/mkrootfs.sh)
#   DIR/config.json  the output of `RUNTIME spec`, with process.args set to
#                    ["true"] (or $ARGS) and process.terminal set to false.
#
# RUNTIME defaults to `puncker` on PATH, else target/release/puncker (in the
# current directory, then in this repository). runc and crun work too.
# Environment:
#   ARGS  process.args as a JSON array, e.g. ARGS='["sleep","1000"]'
set -euo pipefail

usage() { echo "usage: $0 DIR [RUNTIME]   (env ARGS='[\"cmd\",\"arg\"]')" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
dir=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

runtime=${2:-}
if [ -z "$runtime" ]; then
    if command -v puncker >/dev/null 2>&1; then
        runtime=$(command -v puncker)
    elif [ -x ./target/release/puncker ]; then
        runtime=$PWD/target/release/puncker
    elif [ -x "$here/../target/release/puncker" ]; then
        runtime=$here/../target/release/puncker
    else
        echo "mkbundle: no puncker found (PATH, ./target/release/puncker); pass RUNTIME, e.g. runc" >&2
        exit 1
    fi
elif [[ $runtime != */* ]]; then
    runtime=$(command -v "$runtime") || { echo "mkbundle: runtime '$2' not found on PATH" >&2; exit 1; }
else
    runtime=$(cd "$(dirname "$runtime")" && pwd)/$(basename "$runtime")
fi

args=${ARGS:-'["true"]'}

mkdir -p "$dir"
"$here/mkrootfs.sh" "$dir/rootfs"

# `spec` refuses to overwrite an existing config.json.
rm -f "$dir/config.json"
if ! (cd "$dir" && "$runtime" spec); then
    echo "mkbundle: '$runtime spec' failed" >&2
    exit 1
fi
if [ ! -s "$dir/config.json" ]; then
    echo "mkbundle: '$runtime spec' did not write $dir/config.json" >&2
    exit 1
fi

ARGS_JSON=$args python3 - "$dir/config.json" <<'PY'
import json, os, sys
path = sys.argv[1]
try:
    args = json.loads(os.environ["ARGS_JSON"])
except ValueError as e:
    sys.exit(f"mkbundle: ARGS is not valid JSON: {e}")
if not (isinstance(args, list) and args and all(isinstance(a, str) for a in args)):
    sys.exit("mkbundle: ARGS must be a non-empty JSON array of strings")
try:
    with open(path) as f:
        cfg = json.load(f)
except ValueError as e:
    sys.exit(f"mkbundle: {path} is not valid JSON: {e}")
proc = cfg.setdefault("process", {})
proc["args"] = args
proc["terminal"] = False
tmp = path + ".tmp"
with open(tmp, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
os.replace(tmp, path)
PY
