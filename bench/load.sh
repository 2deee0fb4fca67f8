#!/bin/bash
# berthd under load through engine-api: `berth-load` (integration-tests/src/bin/load.rs)
# on a private berthd in a temp dir. Defaults: 1000 containers created, started, waited
# for and removed in rounds of 100, at most 20 in flight; then 500 `sleep` containers at
# once, twice. Prints berthd's RSS and fds per round, `list`/`inspect` latency with the
# 500 running, and the shims' RSS and Pss. Extra arguments go to berth-load
# (`bench/load.sh --running 100`). Root only; run scripts/build-release.sh first (it
# builds berth-load too), or point BERTH_BIN_DIR at the engine binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
load=${CARGO_TARGET_DIR:-$here/target}/release/berth-load
[ -x "$load" ] || { echo "bench: $load missing: run scripts/build-release.sh" >&2; exit 1; }
exec "$load" "$@"
