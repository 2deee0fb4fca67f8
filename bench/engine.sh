#!/bin/bash
# berth vs docker (Debian's docker.io) on the same busybox rootfs, side by side in one
# run: `run --rm true` latency, 50 × `run -d` then `rm -f`, idle daemon RSS, per-container
# shim RSS. Run as root from the workspace after `cargo build --release` (or point
# BERTH_BIN_DIR at the dir holding berthd, berth, berth-shim and berth-runtime).
# Each engine gets its own root, state and socket under a temp dir; both are stopped
# and cleaned at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BERTH_BIN_DIR:-$here/target/release}
work=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
runs=${RUNS:-20}
n=${N:-50}

command -v hyperfine >/dev/null || { echo "bench: hyperfine missing (apt-get install hyperfine)" >&2; exit 1; }
command -v dockerd >/dev/null || { echo "bench: dockerd missing (apt-get install docker.io)" >&2; exit 1; }

B="$bin/berth --host unix://$work/berth-state/berthd.sock"
D="docker -H unix://$work/docker.sock"

cleanup() {
  set +e
  $B rm -f $($B ps -aq 2>/dev/null) >/dev/null 2>&1
  $D rm -f $($D ps -aq 2>/dev/null) >/dev/null 2>&1
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null
  [ -f "$work/docker.pid" ] && kill "$(cat "$work/docker.pid")" 2>/dev/null
  sleep 2
  grep -o "$work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

"$here/scripts/make-busybox-rootfs.sh" > "$work/busybox.tar"

setsid "$bin/berthd" --root "$work/berth-root" --state "$work/berth-state" >"$work/berthd.log" 2>&1 < /dev/null &
echo $! > "$work/berthd.pid"
setsid dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
  -H "unix://$work/docker.sock" --iptables=false --bridge=none >"$work/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 200); do $B version >/dev/null 2>&1 && $D version >/dev/null 2>&1 && break; sleep 0.1; done
$B version >/dev/null || { echo "bench: berthd did not start: $(tail -3 "$work/berthd.log")" >&2; exit 1; }
$D version >/dev/null || { echo "bench: dockerd did not start: $(tail -3 "$work/dockerd.log")" >&2; exit 1; }

$B image import "$work/busybox.tar" busybox >/dev/null
$D import "$work/busybox.tar" busybox >/dev/null

echo "== run --rm busybox true ($runs runs each)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/run.json" \
  -n berth "$B run --rm --network none busybox true" \
  -n docker "$D run --rm --network none busybox true"

echo "== $n × run -d, then rm -f all"
hyperfine --runs 3 --export-json "$work/many.json" \
  -n berth "for i in \$(seq $n); do $B run -d --network none busybox sleep 600 >/dev/null; done; $B rm -f \$($B ps -aq) >/dev/null" \
  -n docker "for i in \$(seq $n); do $D run -d --network none busybox sleep 600 >/dev/null; done; $D rm -f \$($D ps -aq) >/dev/null"

echo "== idle memory"
sleep 2
berthd_kb=$(rss_kb "$(cat "$work/berthd.pid")")
dockerd_kb=$(rss_kb "$(cat "$work/docker.pid")")
containerd_pid=$(pgrep -f "containerd --config $work" | head -1 || pgrep -x containerd | head -1 || true)
containerd_kb=0; [ -n "$containerd_pid" ] && containerd_kb=$(rss_kb "$containerd_pid")
# Each shim found by its container's full ID: other engines may run on this host.
# Idle figures: berth-shim unmaps its code pages 2 s after its last call
# (shim/src/memory.rs), so both shims are read after a few quiet seconds.
bid=$($B run -d --name bench-shim --network none busybox sleep 600)
did=$($D run -d --name bench-shim --network none busybox sleep 600)
bid=$($B inspect -f '{{.Id}}' "$bid"); did=$($D inspect -f '{{.Id}}' "$did")
sleep 3
shim_kb=$(rss_kb "$(pgrep -f "berth-shim.*$bid" | head -1)")
dshim_kb=$(rss_kb "$(pgrep -f "containerd-shim-runc-v2.*-id $did" | head -1)")
[ "$shim_kb" -gt 0 ] && [ "$dshim_kb" -gt 0 ] || echo "bench: a shim was not found (berth-shim $shim_kb kB, containerd-shim $dshim_kb kB)" >&2

python3 - "$work" "$berthd_kb" "$dockerd_kb" "$containerd_kb" "$shim_kb" "$dshim_kb" <<'PY'
import json, sys
work, bd, dd, cd, bs, ds = sys.argv[1], *map(int, sys.argv[2:])
def means(f):
    r = json.load(open(f))["results"]
    return {x["command"]: x["mean"] for x in r}
for name, f in [("run --rm true", "run.json"), ("50 x run -d + rm -f", "many.json")]:
    m = means(f"{work}/{f}")
    print(f"{name:24} berth {m['berth']*1000:9.1f} ms  docker {m['docker']*1000:9.1f} ms  ratio {m['berth']/m['docker']:.3f}")
print(f"{'idle daemon RSS':24} berthd {bd} kB  dockerd+containerd {dd+cd} kB  ratio {bd/max(dd+cd,1):.3f}")
print(f"{'shim RSS':24} berth-shim {bs} kB  containerd-shim-runc-v2 {ds} kB  ratio {bs/max(ds,1):.3f}")
PY
