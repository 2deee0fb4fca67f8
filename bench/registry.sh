#!/bin/bash
# berth vs docker vs skopeo against one local registry (Debian's docker-registry on
# 127.0.0.1), same image, side by side in one run:
#   pull:    time until the image is runnable, caches cleared before each run
#            (berth pull, docker pull, skopeo copy docker://… oci:)
#   push:    to a cold registry each run (storage wiped, registry restarted)
#   re-push: the same push again to a registry that has everything
# The image (SIZE_MB in LAYERS layers of random bytes on busybox, default 240 MB
# in 6 layers) is made by the script. Root; release binaries in target/release or
# $BERTH_BIN_DIR. Everything lives under one temp dir, removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BERTH_BIN_DIR:-$here/target/release}
work=$(mktemp -d /tmp/berth-bench-registry.XXXXXX)
runs=${RUNS:-5}
layers=${LAYERS:-6}
size_mb=${SIZE_MB:-240}
per=$((size_mb / layers))

for t in hyperfine dockerd skopeo docker-registry; do
  command -v $t >/dev/null || { echo "bench: $t missing (apt-get install hyperfine docker.io skopeo docker-registry)" >&2; exit 1; }
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
B="$bin/berth --host unix://$work/berth-state/berthd.sock"
D="docker -H unix://$work/docker.sock"
img=$reg/bench/big:1

cleanup() {
  set +e
  [ -f "$work/registry.pid" ] && kill "$(cat "$work/registry.pid")" 2>/dev/null
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null
  [ -f "$work/docker.pid" ] && kill "$(cat "$work/docker.pid")" 2>/dev/null
  sleep 2
  grep -o "$work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry-data
  delete:
    enabled: true
http:
  addr: $reg
YML
start_registry() {
  [ -f "$work/registry.pid" ] && kill "$(cat "$work/registry.pid")" 2>/dev/null && sleep 0.3
  setsid docker-registry serve "$work/registry.yml" >>"$work/registry.log" 2>&1 < /dev/null &
  echo $! > "$work/registry.pid"
  for _ in $(seq 100); do curl -fs "http://$reg/v2/" >/dev/null 2>&1 && return; sleep 0.05; done
  echo "bench: registry did not start" >&2; exit 1
}
# Exported for hyperfine's --prepare (a fresh shell each time).
cold_registry="kill \$(cat $work/registry.pid); sleep 0.3; rm -rf $work/registry-data; setsid docker-registry serve $work/registry.yml >>$work/registry.log 2>&1 </dev/null & echo \$! > $work/registry.pid; for i in \$(seq 100); do curl -fs http://$reg/v2/ >/dev/null && break; sleep 0.05; done"
start_registry

"$here/scripts/make-busybox-rootfs.sh" > "$work/busybox.tar"
setsid "$bin/berthd" --root "$work/berth-root" --state "$work/berth-state" >"$work/berthd.log" 2>&1 < /dev/null &
echo $! > "$work/berthd.pid"
setsid dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
  -H "unix://$work/docker.sock" --iptables=false --bridge=none >"$work/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 300); do $B version >/dev/null 2>&1 && $D version >/dev/null 2>&1 && break; sleep 0.1; done
$D version >/dev/null || { echo "bench: dockerd did not start: $(tail -3 "$work/dockerd.log")" >&2; exit 1; }

# The image: busybox + $layers layers of random bytes.
$B image import "$work/busybox.tar" busybox >/dev/null
base=busybox
for i in $(seq "$layers"); do
  c=$($B run -d "$base" sh -c "head -c ${per}m /dev/urandom > /layer$i")
  $B wait "$c" >/dev/null
  $B commit "$c" "bench/big:step$i" >/dev/null
  $B rm "$c" >/dev/null
  base=bench/big:step$i
done
$B tag "$base" "$img"
$B push -q "$img" >/dev/null
for i in $(seq "$layers"); do $B rmi "bench/big:step$i" >/dev/null; done
echo "== image: $(curl -fs "http://$reg/v2/bench/big/manifests/1" -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' | python3 -c 'import json,sys; m=json.load(sys.stdin); print(len(m["layers"]), "layers,", sum(l["size"] for l in m["layers"])//1048576, "MB compressed")')"

echo "== pull until runnable ($runs runs each, caches cleared before each)"
hyperfine -N --runs "$runs" --export-json "$work/pull.json" \
  --prepare "sh -c '$B rmi -f $img >/dev/null 2>&1; $B image prune -a -f >/dev/null 2>&1; true'" \
  -n "berth pull" "sh -c '$B pull -q $img >/dev/null && $B run --rm --network none $img true'" \
  --prepare "sh -c '$D rmi -f $img >/dev/null 2>&1; true'" \
  -n "docker pull" "sh -c '$D pull -q $img >/dev/null && $D run --rm --network none $img true'" \
  --prepare "rm -rf $work/oci-out" \
  -n "skopeo copy" "skopeo copy -q --src-tls-verify=false docker://$img oci:$work/oci-out:big"

$D pull -q "$img" >/dev/null
$B pull -q "$img" >/dev/null
echo "== push to a cold registry ($runs runs each)"
hyperfine -N --runs "$runs" --export-json "$work/push.json" --prepare "sh -c '$cold_registry'" \
  -n "berth push" "$B push -q $img" \
  -n "docker push" "$D push -q $img"

echo "== re-push (registry has everything)"
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/repush.json" \
  -n "berth re-push" "$B push -q $img" \
  -n "docker re-push" "$D push -q $img"

ratio() {
  python3 - "$1" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
b = [v for k, v in r.items() if k.startswith("berth")][0]
for k, v in r.items():
    if not k.startswith("berth"):
        print(f"  berth / {k}: {b:.3f} s / {v:.3f} s = {b / v:.2f}x")
PY
}
echo "== ratios (mean)"
echo "pull:"; ratio "$work/pull.json"
echo "push:"; ratio "$work/push.json"
echo "re-push:"; ratio "$work/repush.json"
