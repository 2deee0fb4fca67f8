#!/bin/bash
# berth build vs docker's BuildKit (DOCKER_BUILDKIT=1, Debian's /usr/bin/docker 20.10
# when present, else the docker on PATH), docker's legacy builder and buildah, side by
# side in one run, all with --network none (the private dockerd has no bridge):
#   (a) cold:    a 6-step Dockerfile, --no-cache
#   (b) cached:  the same build again, everything cached
#   (c) changed: one source file changed (its COPY and the RUN after it re-run)
#   (d) stages:  two independent stages of ~1 s of work each, then a final stage
#                (--no-cache); a builder that overlaps them takes ~1 s, a serial one ~2 s
# Root; release binaries in target/release or $BERTH_BIN_DIR. Everything lives under
# one temp dir, removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BERTH_BIN_DIR:-$here/target/release}
work=$(mktemp -d /tmp/berth-bench-build.XXXXXX)
runs=${RUNS:-5}
for t in hyperfine dockerd buildah; do
  command -v $t >/dev/null || { echo "bench: $t missing (apt-get install hyperfine docker.io buildah)" >&2; exit 1; }
done
docker_cli=/usr/bin/docker
[ -x $docker_cli ] || docker_cli=$(command -v docker)
B="$bin/berth --host unix://$work/berth-state/berthd.sock"
D="$docker_cli -H unix://$work/docker.sock"
BA="buildah --root $work/buildah-root --runroot $work/buildah-run --storage-driver overlay"

cleanup() {
  set +e
  [ -f "$work/berthd.pid" ] && kill "$(cat "$work/berthd.pid")" 2>/dev/null
  [ -f "$work/docker.pid" ] && kill "$(cat "$work/docker.pid")" 2>/dev/null
  sleep 2
  $BA rm -a >/dev/null 2>&1; $BA rmi -a -f >/dev/null 2>&1
  grep -o "$work[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$here/scripts/make-busybox-rootfs.sh" > "$work/busybox.tar"
setsid "$bin/berthd" --root "$work/berth-root" --state "$work/berth-state" >"$work/berthd.log" 2>&1 < /dev/null &
echo $! > "$work/berthd.pid"
setsid dockerd --data-root "$work/docker-root" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
  -H "unix://$work/docker.sock" --iptables=false --bridge=none >"$work/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 300); do $B version >/dev/null 2>&1 && $D version >/dev/null 2>&1 && break; sleep 0.1; done
$D version >/dev/null || { echo "bench: dockerd did not start: $(tail -3 "$work/dockerd.log")" >&2; exit 1; }
$B image import "$work/busybox.tar" busybox >/dev/null
$D import "$work/busybox.tar" busybox >/dev/null
$BA pull -q "docker-archive:$(
  # buildah takes the image docker exports.
  $D save busybox -o "$work/busybox-docker.tar"; echo "$work/busybox-docker.tar")" >/dev/null
$BA tag "$($BA images -q | head -1)" busybox

ctx=$work/ctx
mkdir -p "$ctx/src"
for i in $(seq 20); do head -c 200k /dev/urandom > "$ctx/src/f$i"; done
echo one > "$ctx/src/main.txt"
cat > "$ctx/Dockerfile" <<'D'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY src/ ./src/
RUN cat src/* | md5sum > sum.txt
CMD ["cat", "/app/sum.txt"]
D
cat > "$ctx/Dockerfile.stages" <<'D'
FROM busybox AS a
RUN sleep 1 && echo a > /a
FROM busybox AS b
RUN sleep 1 && echo b > /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
D

bk="DOCKER_BUILDKIT=1 $D build --network none -q"
legacy="DOCKER_BUILDKIT=0 $D build --network none -q"
ba="$BA bud --layers --network none -q"
echo "== (a) cold ($runs runs each)"
hyperfine --runs "$runs" --export-json "$work/a.json" \
  -n "berth" "$B build --network none -q --no-cache -t x $ctx" \
  -n "buildkit" "$bk --no-cache -t x $ctx" \
  -n "legacy" "$legacy --no-cache -t x $ctx" \
  -n "buildah" "$ba --no-cache -t x $ctx"

echo "== (b) fully cached"
hyperfine --warmup 1 --runs "$runs" --export-json "$work/b.json" \
  -n "berth" "$B build --network none -q -t x $ctx" \
  -n "buildkit" "$bk -t x $ctx" \
  -n "legacy" "$legacy -t x $ctx" \
  -n "buildah" "$ba -t x $ctx"

echo "== (c) one source file changed"
hyperfine --runs "$runs" --export-json "$work/c.json" --prepare "sh -c 'date +%s%N > $ctx/src/main.txt'" \
  -n "berth" "$B build --network none -q -t x $ctx" \
  -n "buildkit" "$bk -t x $ctx" \
  -n "legacy" "$legacy -t x $ctx" \
  -n "buildah" "$ba -t x $ctx"

echo "== (d) two independent 1 s stages"
hyperfine --runs "$runs" --export-json "$work/d.json" \
  -n "berth" "$B build --network none -q --no-cache -f $ctx/Dockerfile.stages -t y $ctx" \
  -n "buildkit" "$bk --no-cache -f $ctx/Dockerfile.stages -t y $ctx" \
  -n "legacy" "$legacy --no-cache -f $ctx/Dockerfile.stages -t y $ctx" \
  -n "buildah" "$ba --no-cache -f $ctx/Dockerfile.stages -t y $ctx"

ratio() {
  python3 - "$1" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
b = r["berth"]
for k, v in r.items():
    if k != "berth":
        print(f"  berth / {k}: {b:.3f} s / {v:.3f} s = {b / v:.2f}x")
PY
}
echo "== ratios (mean)"
for c in a b c d; do echo "($c):"; ratio "$work/$c.json"; done
