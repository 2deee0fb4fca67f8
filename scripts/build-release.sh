#!/bin/bash
# The release build that setup.sh and CI use: the whole workspace, then the binaries
# that must (berth-init: it runs inside images with no libc) or should (berth-shim: one
# per container, its resident memory counts) be linked statically are linked again
# with +crt-static. Only those final crates are recompiled. Run it after any other
# `cargo build --release`, which links them dynamically again.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}

cargo build --release --workspace
scripts/build-init.sh >/dev/null
cargo rustc --release -p berth-shim --bin berth-shim -- -C target-feature=+crt-static -C strip=symbols
for b in berth-init berth-shim; do
  ldd "$target/release/$b" 2>&1 | grep -qE 'statically linked|not a dynamic executable' \
    || { echo "build-release: $target/release/$b is not static" >&2; exit 1; }
done
