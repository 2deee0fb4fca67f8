//! Records the git commit for `--version` (runc prints `commit: ...`).
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BERTH_RUNTIME_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
}
