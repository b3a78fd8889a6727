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
# Check ARGS before touching anything, so a bad ARGS leaves DIR as it was.
ARGS_JSON=$args python3 -c '
import json, os, sys
try:
    a = json.loads(os.environ["ARGS_JSON"])
except ValueError as e:
    sys.exit(f"mkbundle: ARGS is not valid JSON: {e}")
if not (isinstance(a, list) and a and all(isinstance(x, str) for x in a)):
    sys.exit("mkbundle: ARGS must be a non-empty JSON array of strings")
'

mkdir -p "$dir"
"$here/mkrootfs.sh" "$dir/rootfs"

# `spec` writes config.json into its working directory and refuses to
# overwrite one; run it in a scratch dir and move the edited result into
# place, so DIR/config.json is never left half-made.
scratch=$(mktemp -d "$dir/.spec.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
if ! (cd "$scratch" && "$runtime" spec); then
    echo "mkbundle: '$runtime spec' failed" >&2
    exit 1
fi
if [ ! -s "$scratch/config.json" ]; then
    echo "mkbundle: '$runtime spec' did not write a config.json" >&2
    exit 1
fi

ARGS_JSON=$args python3 - "$scratch/config.json" <<'PY'
import json, os, sys
path = sys.argv[1]
try:
    with open(path) as f:
        cfg = json.load(f)
except ValueError as e:
    sys.exit(f"mkbundle: the runtime's spec output is not valid JSON: {e}")
proc = cfg.setdefault("process", {})
proc["args"] = json.loads(os.environ["ARGS_JSON"])
proc["terminal"] = False
with open(path, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
PY
mv -f "$scratch/config.json" "$dir/config.json"
