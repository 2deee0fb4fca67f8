#!/bin/bash
# The release build that setup.sh and CI use: the whole workspace, then the binaries
# that must (berth-init: it runs inside images with no libc) or should (berth-shim: one
# per container, its resident memory counts) be linked statically are linked again
# with +crt-static. Only those final crates are recompiled. Run it after any other
# `cargo build --release`, which links them dynamically again. The shim is built
# with its own profile (`[profile.shim]` in Cargo.toml: fat LTO, one codegen unit;
# its dependencies are compiled once more for it) and copied over the dynamic one.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}

cargo build --release --workspace
scripts/build-init.sh >/dev/null
cargo rustc --profile shim -p berth-shim --bin berth-shim -- -C target-feature=+crt-static -C strip=symbols
# Through a rename: running shims keep the old file busy (cp onto it fails with ETXTBSY).
cp "$target/shim/berth-shim" "$target/release/.berth-shim.new"
mv -f "$target/release/.berth-shim.new" "$target/release/berth-shim"
for b in berth-init berth-shim; do
  ldd "$target/release/$b" 2>&1 | grep -qE 'statically linked|not a dynamic executable' \
    || { echo "build-release: $target/release/$b is not static" >&2; exit 1; }
done
