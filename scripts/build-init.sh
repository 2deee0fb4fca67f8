#!/bin/bash
# Builds berth-init (the `berth run --init` PID 1, shim/src/bin/berth-init.rs)
# statically linked, at $CARGO_TARGET_DIR/release/berth-init (default
# target/release/berth-init), where berthd looks for it (next to itself).
# It is bind-mounted into images that may have no libc (busybox), so the
# dynamic binary `cargo build --release` leaves there is not enough: run this
# after every release build, since cargo rebuilds it dynamically when its
# flags change. Only berth-init itself is recompiled: the extra flags reach the
# final crate, not its dependencies.
set -euo pipefail

cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
out="$target/release/berth-init"

cargo rustc --release -p berth-shim --bin berth-init -- \
  -C target-feature=+crt-static -C strip=symbols

# ldd prints "statically linked" (static-pie) or "not a dynamic executable".
if ! ldd "$out" 2>&1 | grep -qE 'statically linked|not a dynamic executable'; then
  echo "build-init: $out is dynamically linked:" >&2
  ldd "$out" >&2 || true
  exit 1
fi
echo "$out"
