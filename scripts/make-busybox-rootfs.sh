#!/bin/bash
# Writes a minimal busybox root filesystem as a tar (to $1, or stdout), made from
# Debian's busybox-static: /bin/busybox plus one symlink per applet at the path busybox
# itself reports (`--list-full`), root and nobody in /etc/passwd and /etc/group, and
# the directories a runtime expects (/proc /sys /dev /tmp /root). Deterministic: fixed
# owners (0:0) and mtimes, so the same busybox gives the same layer digest.
set -euo pipefail

bb=${BUSYBOX:-/usr/bin/busybox}
if [ ! -x "$bb" ]; then
  echo "make-busybox-rootfs: $bb not found; install it with: apt-get install -y busybox-static" >&2
  exit 1
fi
if ldd "$bb" >/dev/null 2>&1; then
  echo "make-busybox-rootfs: $bb is dynamically linked; the static build (busybox-static) is needed" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/busybox-rootfs.XXXXXX)
trap 'rm -rf "$dir"' EXIT

chmod 0755 "$dir"
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,var/tmp,home}
install -m 0755 "$bb" "$dir/bin/busybox"
"$bb" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$dir/$(dirname "$applet")"
  ln -sf /bin/busybox "$dir/$applet"
done
# Every image expects a shell at /bin/sh, whatever busybox lists.
[ -e "$dir/bin/sh" ] || ln -s /bin/busybox "$dir/bin/sh"

cat > "$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$dir/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
nobody:x:65534:
GROUP
echo "hosts: files dns" > "$dir/etc/nsswitch.conf"
chmod 1777 "$dir/tmp" "$dir/var/tmp"
chmod 0700 "$dir/root"
chmod 0555 "$dir/proc" "$dir/sys"

out=${1:--}
tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name \
  -C "$dir" -cf "$out" .
