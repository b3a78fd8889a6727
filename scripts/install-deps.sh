#!/usr/bin/env bash
# install-deps.sh: the Debian packages Puncker's demo, tests and benchmark
# use, on a fresh Debian 12 machine (as root). cargo comes from rustup.
#   busybox-static  the rootfs of every demo and test container
#   python3         bundle config edits (scripts/mkbundle.sh) and bench/driver.py
#   runc, crun      the side-by-side benchmark, and runc-compatibility checks
#   hyperfine, time, strace  benchmark and profiling tools
#   libseccomp-dev  linked by the seccomp module
#   util-linux      unshare, script (pty tests), mountpoint
#   procps          ps(1), which `puncker ps ID -- ARGS` runs
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(busybox-static python3 runc crun hyperfine time strace file
      libseccomp-dev pkg-config build-essential util-linux iproute2 make procps)
apt-get update || { sleep 10; apt-get update; }
apt-get install -y --no-install-recommends "${pkgs[@]}" ||
    { sleep 10; apt-get install -y --no-install-recommends "${pkgs[@]}"; }
