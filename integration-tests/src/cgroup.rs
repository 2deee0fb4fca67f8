//! The kernel's side of cgroup limits: reads the host's cgroup files directly,
//! so a test does not trust the runtime's own report.
//!
//! This machine is hybrid (v1 controllers plus an empty v2 at
//! `/sys/fs/cgroup/unified`); the helpers look in v1 first and fall back to a
//! pure v2 layout.

use crate::error::{io, SupportError};
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// True when the host has the v1 `controller` hierarchy.
pub fn has_v1(controller: &str) -> bool {
    Path::new(ROOT).join(controller).join("tasks").exists()
}

/// Directory of `cgroups_path` (absolute, as in config.json) under `controller`.
pub fn dir(controller: &str, cgroups_path: &str) -> PathBuf {
    let rel = cgroups_path.trim_start_matches('/');
    if has_v1(controller) {
        Path::new(ROOT).join(controller).join(rel)
    } else {
        Path::new(ROOT).join(rel)
    }
}

/// Contents of one cgroup file, trimmed.
pub fn read(controller: &str, cgroups_path: &str, file: &str) -> Result<String, SupportError> {
    let p = dir(controller, cgroups_path).join(file);
    std::fs::read_to_string(&p)
        .map(|s| s.trim().to_string())
        .map_err(io(p))
}

/// Every directory that exists for `cgroups_path` in any hierarchy.
pub fn existing_dirs(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    let Ok(rd) = std::fs::read_dir(ROOT) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path().join(rel))
        .filter(|p| p.is_dir())
        .collect();
    let direct = Path::new(ROOT).join(rel);
    if direct.join("cgroup.procs").exists() && !out.contains(&direct) {
        out.push(direct);
    }
    out
}

/// Removes what a failed test left of `cgroups_path` (children first).
pub fn remove_all(cgroups_path: &str) {
    for d in existing_dirs(cgroups_path) {
        remove_tree(&d);
    }
}

fn remove_tree(d: &Path) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd.flatten() {
            if e.path().is_dir() {
                remove_tree(&e.path());
            }
        }
    }
    // A cgroup with processes left in it cannot go; nothing more to do here.
    let _ = std::fs::remove_dir(d);
}
