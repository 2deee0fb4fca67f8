//! Builds `berth-checker` statically, once per test process, and tells the
//! tests where it is.
//!
//! The checker must run in a bare busybox rootfs, so it is linked with
//! `+crt-static`. It is built into its own target dir (next to the one running
//! the tests) because the running `cargo test` may still hold the lock of its
//! own. A file lock serialises concurrent test processes; the `OnceLock`
//! serialises the threads of this one. `BERTH_CHECKER` overrides all of this
//! with a prebuilt binary.

use crate::error::{io, SupportError};
use nix::fcntl::{Flock, FlockArg};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static CHECKER: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The target dir the running test binary was built in (`<t>/debug/deps/x`).
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Path of the static checker, building it on first use.
pub fn checker_binary() -> Result<&'static Path, SupportError> {
    CHECKER
        .get_or_init(|| build().map_err(|e| e.to_string()))
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(|e| SupportError::CheckerBuild(e.clone()))
}

fn build() -> Result<PathBuf, SupportError> {
    if let Some(p) = std::env::var_os("BERTH_CHECKER") {
        return Ok(PathBuf::from(p));
    }
    let out_dir = target_dir().join("berth-checker-static");
    std::fs::create_dir_all(&out_dir).map_err(io(&out_dir))?;
    let lock_path = out_dir.join("build.lock");
    let lock_file = std::fs::File::create(&lock_path).map_err(io(&lock_path))?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusive)
        .map_err(|(_, e)| io(&lock_path)(e.into()))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", &out_dir)
        .args([
            "rustc",
            "--release",
            "-p",
            "berth-integration-tests",
            "--bin",
            "berth-checker",
            "--no-default-features",
            "--",
            "-C",
            "target-feature=+crt-static",
        ])
        .output()
        .map_err(io("cargo"))?;
    if !output.status.success() {
        return Err(SupportError::CheckerBuild(
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ));
    }
    Ok(out_dir.join("release").join("berth-checker"))
}
