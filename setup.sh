#!/bin/bash
# Fresh-machine set-up, as root: system packages, a release build, the binaries on
# PATH, a running berthd with its defaults, and a `busybox` image made from Debian's
# busybox-static (there is no registry to pull from). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

need=()
for pkg in runc busybox-static iptables; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

scripts/build-release.sh
for b in berth berthd berth-shim berth-runtime berth-init; do
  install -m 0755 "target/release/$b" "/usr/local/bin/$b"
done

# A plain OCI bundle, for berth-runtime on its own (runc's bundle layout).
bundle=/tmp/berth-demo-bundle
if [ ! -f "$bundle/config.json" ]; then
  rm -rf "$bundle"
  mkdir -p "$bundle/rootfs"
  tar -xf <(scripts/make-busybox-rootfs.sh) -C "$bundle/rootfs"
  (cd "$bundle" && berth-runtime spec)
  sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"echo", "hello from berth-runtime"/' "$bundle/config.json"
fi

# berthd with its defaults, unless one already answers.
if ! berth version >/dev/null 2>&1; then
  mkdir -p /var/log
  setsid berthd >>/var/log/berthd.log 2>&1 < /dev/null &
  for _ in $(seq 100); do berth version >/dev/null 2>&1 && break; sleep 0.1; done
  berth version >/dev/null 2>&1 || { echo "setup: berthd did not start; see /var/log/berthd.log" >&2; exit 1; }
fi

if ! berth image inspect busybox >/dev/null 2>&1; then
  tar=$(mktemp /tmp/busybox-rootfs.XXXXXX.tar)
  scripts/make-busybox-rootfs.sh > "$tar"
  # CMD as the busybox image on Docker Hub has, so `berth run -it busybox` gets a shell.
  berth image import --change 'CMD ["sh"]' "$tar" busybox
  rm -f "$tar"
fi
echo "setup: berth is ready (berthd log: /var/log/berthd.log)"
