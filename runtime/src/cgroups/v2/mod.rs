//! cgroup v2 (the unified hierarchy): one file per controller that differs from v1.
//! `pids`, `cpuset` stats and `hugetlb` share v1's code (same files, or names that
//! differ by a suffix). Here too: enabling controllers down the tree and the
//! `unified` map of raw `file → value` writes.
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::CgroupError;

pub(crate) mod cpu;
pub(crate) mod cpuset;
pub mod devices;
pub(crate) mod freezer;
pub(crate) mod io;
pub(crate) mod memory;

/// Enable `wanted` controllers in `cgroup.subtree_control` of every level from
/// `mount` down to `dir`'s parent, one controller at a time so one the kernel
/// refuses (e.g. `cpu` with realtime tasks around) does not block the others. A
/// controller that stays off shows up later as a clear error in `set`, only if a
/// limit needs it.
pub(crate) fn enable_controllers(
    fs: &dyn CgroupFs,
    mount: &Path,
    dir: &Path,
    wanted: &BTreeSet<String>,
) {
    let Ok(rel) = dir.strip_prefix(mount) else {
        return;
    };
    let mut level = mount.to_path_buf();
    for comp in rel.components() {
        let available = fs::read_opt(fs, &level, "cgroup.controllers")
            .ok()
            .flatten()
            .unwrap_or_default();
        let enabled = fs::read_opt(fs, &level, "cgroup.subtree_control")
            .ok()
            .flatten()
            .unwrap_or_default();
        let enabled: BTreeSet<&str> = enabled.split_whitespace().collect();
        for c in available.split_whitespace() {
            if wanted.contains(c) && !enabled.contains(c) {
                let _ = fs::write(fs, &level, "cgroup.subtree_control", &format!("+{c}"));
            }
        }
        level.push(comp);
    }
}

/// `linux.resources.unified`: file name → value, written as given. Names must be
/// plain `controller.file` names inside the container's own directory.
pub(crate) fn set_unified(
    fs: &dyn CgroupFs,
    dir: &Path,
    unified: &HashMap<String, String>,
) -> Result<(), CgroupError> {
    let mut keys: Vec<&String> = unified.keys().collect();
    keys.sort();
    for key in &keys {
        if key.contains('/') || !key.contains('.') || key.starts_with('.') {
            return Err(CgroupError::InvalidValue {
                field: "unified",
                value: (*key).clone(),
                reason: "not a cgroup file name".into(),
            });
        }
        if !fs.exists(&dir.join(key.as_str())) {
            return Err(CgroupError::Unsupported {
                field: "unified",
                path: dir.join(key.as_str()),
            });
        }
    }
    for key in keys {
        fs::write(fs, dir, key, &unified[key])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;

    #[test]
    fn enables_only_available_missing_controllers_on_each_parent() {
        let fs = FakeFs::new();
        fs.set("/cg/cgroup.controllers", "cpu memory pids hugetlb\n");
        fs.set("/cg/cgroup.subtree_control", "memory\n");
        fs.set("/cg/a/cgroup.controllers", "memory hugetlb\n");
        fs.set("/cg/a/cgroup.subtree_control", "\n");
        fs.set("/cg/a/b/cgroup.controllers", "\n");
        let wanted: BTreeSet<String> = ["memory", "hugetlb", "pids"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        enable_controllers(&fs, Path::new("/cg"), Path::new("/cg/a/b"), &wanted);
        assert_eq!(
            fs.writes(),
            [
                ("/cg/cgroup.subtree_control".into(), "+pids".into()),
                ("/cg/cgroup.subtree_control".into(), "+hugetlb".into()),
                ("/cg/a/cgroup.subtree_control".into(), "+memory".into()),
                ("/cg/a/cgroup.subtree_control".into(), "+hugetlb".into()),
            ]
        );
    }

    #[test]
    fn unified_map_is_checked_then_written() {
        let fs = FakeFs::new();
        fs.set("/c/memory.high", "max");
        fs.set("/c/pids.max", "max");
        let mut m = HashMap::new();
        m.insert("memory.high".to_string(), "1000000".to_string());
        m.insert("pids.max".to_string(), "7".to_string());
        set_unified(&fs, Path::new("/c"), &m).unwrap();
        assert_eq!(fs.get("/c/memory.high").as_deref(), Some("1000000"));
        m.insert("../escape.max".to_string(), "1".to_string());
        assert!(set_unified(&fs, Path::new("/c"), &m).is_err());
        m.remove("../escape.max");
        m.insert("io.nope".to_string(), "1".to_string());
        let err = set_unified(&fs, Path::new("/c"), &m).unwrap_err();
        assert!(err.to_string().contains("io.nope"), "{err}");
    }
}
