#!/usr/bin/env bash
# mkrootfs.sh DIR — build a minimal busybox root filesystem in DIR.
#
# Uses Debian's statically linked busybox (package busybox-static), so the
# rootfs needs no shared libraries. Every applet becomes a symlink in DIR/bin.
# Idempotent: running it again over an existing DIR just refreshes it.
set -euo pipefail

usage() { echo "usage: $0 DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
dir=$1

busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ]; then
    echo "mkrootfs: $busybox not found; install it with: apt-get install busybox-static" >&2
    exit 1
fi
# A dynamically linked busybox would need its libraries inside the rootfs.
if command -v file >/dev/null 2>&1 && ! file -L "$busybox" | grep -q 'statically linked'; then
    echo "mkrootfs: $busybox is not statically linked; install busybox-static (not busybox)" >&2
    exit 1
fi

mkdir -p "$dir"/{bin,proc,sys,dev,tmp,root,etc}
chmod 1777 "$dir/tmp"
chmod 0700 "$dir/root"

# Copy only when changed, so repeated runs stay cheap.
if ! cmp -s "$busybox" "$dir/bin/busybox"; then
    install -m 0755 "$busybox" "$dir/bin/busybox"
fi

# One symlink per applet, relative so the rootfs can be moved around.
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] && continue
    # test is a shell builtin, so skipping existing links keeps reruns fast.
    [ -L "$dir/bin/$applet" ] && continue
    ln -sfn busybox "$dir/bin/$applet"
done
# Many configs/scripts expect /usr/bin and /sbin; point them at /bin.
for d in sbin usr/bin usr/sbin; do
    if [ ! -e "$dir/$d" ] && [ ! -L "$dir/$d" ]; then
        mkdir -p "$(dirname "$dir/$d")"
        case $d in
            usr/*) ln -s ../bin "$dir/$d" ;;
            *)     ln -s bin "$dir/$d" ;;
        esac
    fi
done

cat > "$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$dir/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
: > "$dir/etc/hostname"
