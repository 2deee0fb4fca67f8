#!/usr/bin/env bash
# Side-by-side benchmark of OCI runtimes on one busybox bundle:
#   1. create + start + wait + delete of `true` (hyperfine, all runtimes in one run),
#      and `run` (the same in one process), with ratios against runc and youki;
#   2. peak RSS of `create` (/usr/bin/time -v, the create process itself: the
#      container init it leaves behind is not waited for, so not counted);
#   3. a `run --rm`-like flow with linux.resources.memory.limit = 512k.
# Runtimes: berth-runtime ($BERTH_RUNTIME, else target/release, else target/debug),
# runc (/usr/sbin/runc), youki ($YOUKI, else when on PATH). Needs root, hyperfine, jq, busybox.
# Usage: bench/runtime.sh [RUNS]   (default 30 runs, 3 warmups)
set -euo pipefail

RUNS=${1:-30}
HERE=$(cd "$(dirname "$0")" && pwd)
WS=$(dirname "$HERE")

berth=${BERTH_RUNTIME:-}
if [ -z "$berth" ]; then
    for p in "$WS/target/release/berth-runtime" "$WS/target/debug/berth-runtime"; do
        if [ -x "$p" ]; then berth=$p; break; fi
    done
fi

declare -a NAMES BINS
if [ -n "$berth" ]; then NAMES+=(berth); BINS+=("$berth"); else echo "note: berth-runtime not built (cargo build --release -p berth-runtime)" >&2; fi
NAMES+=(runc); BINS+=(/usr/sbin/runc)
youki=${YOUKI:-$(command -v youki || true)}
if [ -n "$youki" ] && [ -x "$youki" ]; then NAMES+=(youki); BINS+=("$youki"); fi

for tool in hyperfine jq busybox /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install hyperfine jq busybox-static time)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/berth-bench-XXXXXX)
cleanup() {
    for i in "${!NAMES[@]}"; do
        for id in $("${BINS[$i]}" --root "$WORK/root-${NAMES[$i]}" list -q 2>/dev/null); do
            "${BINS[$i]}" --root "$WORK/root-${NAMES[$i]}" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
    rm -rf "$WORK"
    for d in /sys/fs/cgroup/*/berth-bench; do rmdir "$d"/* "$d" 2>/dev/null || true; done
}
trap cleanup EXIT

# make_bundle DIR ARGS_JSON [MEMORY_LIMIT]
make_bundle() {
    local dir=$1 args=$2 mem=${3:-}
    mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/dev" "$dir/rootfs/sys" "$dir/rootfs/tmp"
    cp /usr/bin/busybox "$dir/rootfs/bin/busybox"
    for a in sh true sleep; do ln -sf busybox "$dir/rootfs/bin/$a"; done
    local resources='"devices": [{"allow": false, "access": "rwm"}]'
    if [ -n "$mem" ]; then resources="$resources, \"memory\": {\"limit\": $mem}"; fi
    cat >"$dir/config.json" <<EOF
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false, "user": {"uid": 0, "gid": 0}, "args": $args,
    "env": ["PATH=/bin"], "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "bench",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "cgroupsPath": "/berth-bench/$(basename "$dir")",
    "resources": {$resources},
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
EOF
}

# The four-verb lifecycle; "wait" polls the init's /proc entry (gone or zombie)
# so no extra runtime call is timed.
cat >"$WORK/cycle.sh" <<'EOF'
#!/bin/sh
bin=$1 root=$2 bundle=$3 id=$4
"$bin" --root "$root" create --bundle "$bundle" --pid-file "$bundle/pid" "$id" </dev/null >/dev/null || exit 1
pid=$(cat "$bundle/pid")
"$bin" --root "$root" start "$id" || exit 1
while [ -e "/proc/$pid" ]; do
    case $(cat "/proc/$pid/stat" 2>/dev/null) in *") Z "*) break ;; esac
done
exec "$bin" --root "$root" delete "$id"
EOF
chmod +x "$WORK/cycle.sh"

declare -a CYCLE RUN PREP_CYCLE PREP_RUN
for i in "${!NAMES[@]}"; do
    n=${NAMES[$i]} b=${BINS[$i]}
    make_bundle "$WORK/bundle-$n" '["/bin/true"]'
    mkdir -p "$WORK/root-$n"
    # Prove the flow works once before timing it; a broken runtime is reported, not timed.
    if timeout -k 2 30 "$WORK/cycle.sh" "$b" "$WORK/root-$n" "$WORK/bundle-$n" "probe-$n" >"$WORK/probe-$n.log" 2>&1; then
        # `timeout` on every timed command (same cost for all): a runtime that
        # hangs once (youki 0.7's foreground run can miss its child's exit)
        # shows up as a 10 s outlier instead of stalling the benchmark.
        CYCLE+=("-n" "$n create+start+wait+delete" "timeout -k 2 10 $WORK/cycle.sh $b $WORK/root-$n $WORK/bundle-$n bench-$n")
        RUN+=("-n" "$n run" "timeout -k 2 10 $b --root $WORK/root-$n run --bundle $WORK/bundle-$n run-$n")
        # Untimed: remove what a timed-out run left, so the next run starts clean.
        PREP_CYCLE+=("--prepare" "sh -c '$b --root $WORK/root-$n delete --force bench-$n >/dev/null 2>&1; true'")
        PREP_RUN+=("--prepare" "sh -c '$b --root $WORK/root-$n delete --force run-$n >/dev/null 2>&1; true'")
    else
        echo "!! $n cannot run the bundle, left out of the timing:" >&2
        sed 's/^/   /' "$WORK/probe-$n.log" >&2
        "$b" --root "$WORK/root-$n" delete --force "probe-$n" >/dev/null 2>&1 || true
    fi
done

echo "== 1. create + start + wait + delete of busybox true ($RUNS runs, 3 warmups)"
if [ ${#CYCLE[@]} -gt 0 ]; then
    hyperfine -N -i --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/cycle.json" "${PREP_CYCLE[@]}" "${CYCLE[@]}"
    echo
    echo "== 1b. the same as one \`run\` process"
    hyperfine -N -i --style basic --warmup 3 --runs "$RUNS" --export-json "$WORK/run.json" "${PREP_RUN[@]}" "${RUN[@]}"
fi

mean_ms() { # file name -> mean in ms, or "-"
    jq -r --arg n "$2" '.results[] | select(.command == $n) | .mean * 1000' "$1" 2>/dev/null | head -1
}
failed_runs() { # file name -> how many timed runs failed or timed out
    jq -r --arg n "$2" '.results[] | select(.command == $n) | [.exit_codes[] | select(. != 0)] | length' "$1" 2>/dev/null | head -1
}

echo
echo "== 2. peak RSS of \`create\` (KiB, /usr/bin/time -v)"
declare -A RSS
for i in "${!NAMES[@]}"; do
    n=${NAMES[$i]} b=${BINS[$i]}
    make_bundle "$WORK/rss-$n" '["/bin/sleep", "10"]'
    if timeout -k 2 30 /usr/bin/time -v "$b" --root "$WORK/root-$n" create --bundle "$WORK/rss-$n" "rss-$n" </dev/null >/dev/null 2>"$WORK/rss-$n.txt"; then
        RSS[$n]=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/rss-$n.txt")
    else
        RSS[$n]="failed"
    fi
    echo "$n: ${RSS[$n]}"
    "$b" --root "$WORK/root-$n" delete --force "rss-$n" >/dev/null 2>&1 || true
done

echo
echo "== 3. run --rm with linux.resources.memory.limit = 524288 (512k)"
declare -A MEM
for i in "${!NAMES[@]}"; do
    n=${NAMES[$i]} b=${BINS[$i]}
    make_bundle "$WORK/mem-$n" '["/bin/sh", "-c", "echo ran-in-512k"]' 524288
    out=$(timeout -k 2 60 "$b" --root "$WORK/root-$n" run --bundle "$WORK/mem-$n" "mem-$n" </dev/null 2>&1) && rc=0 || rc=$?
    "$b" --root "$WORK/root-$n" delete --force "mem-$n" >/dev/null 2>&1 || true
    if [ $rc -eq 0 ] && echo "$out" | grep -q ran-in-512k; then
        MEM[$n]="ok"
    else
        MEM[$n]="FAILS (exit $rc)"
    fi
    echo "$n: ${MEM[$n]}"
    [ "${MEM[$n]}" = ok ] || echo "$out" | tail -3 | sed 's/^/    /' 
done

echo
echo "== Summary"
runc_cycle=$(mean_ms "$WORK/cycle.json" "runc create+start+wait+delete" || true)
youki_cycle=$(mean_ms "$WORK/cycle.json" "youki create+start+wait+delete" || true)
runc_rss=${RSS[runc]:-}
printf '%-7s %14s %9s %9s %10s %7s %12s %12s  %s\n' runtime "cycle ms" "vs runc" "vs youki" "run ms" "failed" "create RSS" "RSS vs runc" "512k memory limit"
for n in "${NAMES[@]}"; do
    c=$(mean_ms "$WORK/cycle.json" "$n create+start+wait+delete" || true)
    r=$(mean_ms "$WORK/run.json" "$n run" || true)
    ratio() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; else echo "-"; fi; }
    rss=${RSS[$n]:-}
    rss_ratio="-"
    if [[ "$rss" =~ ^[0-9]+$ && "$runc_rss" =~ ^[0-9]+$ ]]; then rss_ratio=$(ratio "$rss" "$runc_rss"); fi
    fails="$(failed_runs "$WORK/cycle.json" "$n create+start+wait+delete" || true)/$(failed_runs "$WORK/run.json" "$n run" || true)"
    printf '%-7s %14s %9s %9s %10s %7s %12s %12s  %s\n' "$n" "${c:+$(printf '%.2f' "$c")}" "$(ratio "$c" "$runc_cycle")" \
        "$(ratio "$c" "$youki_cycle")" "${r:+$(printf '%.2f' "$r")}" "$fails" "${rss:--}" "$rss_ratio" "${MEM[$n]}"
done
echo
echo "\"failed\": timed runs that failed or hit the 10 s limit (cycle/run); their time is in the mean."
echo "Targets (issue 2): berth cycle <= 0.5x runc and <= 1.0x youki; berth create RSS < runc's;"
echo "the 512k run works for berth (runc cannot do it)."
