//! cpuset (v1, and v2 where the files have the same names): cpus and mems. A new v1
//! cpuset cgroup starts with empty `cpus`/`mems`, and a task cannot join it until
//! both are set, so every level is filled from its parent before the pid moves in.
use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::stats::parse_cpu_list;
use crate::cgroups::{CgroupError, Stats};

pub(crate) fn is_empty(c: &LinuxCpu) -> bool {
    c.cpus().as_deref().unwrap_or("").is_empty() && c.mems().as_deref().unwrap_or("").is_empty()
}

/// Copy `cpuset.cpus`/`cpuset.mems` from the parent when `dir`'s are empty.
pub(crate) fn init_from_parent(fs: &dyn CgroupFs, dir: &Path) -> Result<(), CgroupError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if fs::read(fs, dir, file)?.trim().is_empty() {
            let value = fs::read(fs, parent, file)?;
            let value = value.trim();
            if !value.is_empty() {
                fs::write(fs, dir, file, value)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        write_list(fs, dir, "cpuset.cpus", "cpu.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        write_list(fs, dir, "cpuset.mems", "cpu.mems", mems)?;
    }
    Ok(())
}

fn write_list(
    fs: &dyn CgroupFs,
    dir: &Path,
    file: &str,
    field: &'static str,
    value: &str,
) -> Result<(), CgroupError> {
    match fs::write(fs, dir, file, value) {
        // EINVAL: not a subset of the parent's set (or not a list at all).
        Err(CgroupError::Write { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
            let parent = dir
                .parent()
                .and_then(|p| fs.read(&p.join(file)).ok())
                .unwrap_or_default();
            Err(CgroupError::InvalidValue {
                field,
                value: value.to_string(),
                reason: format!("not a subset of the parent's {:?}", parent.trim()),
            })
        }
        other => other,
    }
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let c = &mut s.cpuset;
    let list = |f: &str| -> Result<Vec<u16>, CgroupError> {
        Ok(parse_cpu_list(
            &fs::read_opt(fs, dir, f)?.unwrap_or_default(),
        ))
    };
    c.cpus = list("cpuset.cpus")?;
    c.mems = list("cpuset.mems")?;
    if c.cpus.is_empty() {
        c.cpus = list("cpuset.cpus.effective")?;
    }
    if c.mems.is_empty() {
        c.mems = list("cpuset.mems.effective")?;
    }
    c.cpu_exclusive = fs::read_u64_or_zero(fs, dir, "cpuset.cpu_exclusive")?;
    c.mem_exclusive = fs::read_u64_or_zero(fs, dir, "cpuset.mem_exclusive")?;
    c.mem_hardwall = fs::read_u64_or_zero(fs, dir, "cpuset.mem_hardwall")?;
    c.memory_migrate = fs::read_u64_or_zero(fs, dir, "cpuset.memory_migrate")?;
    c.memory_spread_page = fs::read_u64_or_zero(fs, dir, "cpuset.memory_spread_page")?;
    c.memory_spread_slab = fs::read_u64_or_zero(fs, dir, "cpuset.memory_spread_slab")?;
    c.memory_pressure = fs::read_u64_or_zero(fs, dir, "cpuset.memory_pressure")?;
    c.sched_load_balance = fs::read_u64_or_zero(fs, dir, "cpuset.sched_load_balance")?;
    if let Some(v) = fs::read_opt(fs, dir, "cpuset.sched_relax_domain_level")? {
        c.sched_relax_domain_level = v.trim().parse().unwrap_or(0);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn new_levels_inherit_parent_sets() {
        let fs = FakeFs::new();
        fs.mount("/cg/cpuset", &[("cpuset.cpus", ""), ("cpuset.mems", "")]);
        fs.set("/cg/cpuset/cpuset.cpus", "0-3\n");
        fs.set("/cg/cpuset/cpuset.mems", "0\n");
        fs::create_dir_all(
            &fs,
            Path::new("/cg/cpuset"),
            Path::new("/cg/cpuset/a/b"),
            &mut Vec::new(),
            |l| init_from_parent(&fs, l),
        )
        .unwrap();
        assert_eq!(fs.get("/cg/cpuset/a/b/cpuset.cpus").as_deref(), Some("0-3"));
        assert_eq!(fs.get("/cg/cpuset/a/b/cpuset.mems").as_deref(), Some("0"));
        // Order: each level after its parent.
        let w: Vec<_> = fs.writes().into_iter().map(|(p, _)| p).collect();
        assert_eq!(
            w,
            [
                "/cg/cpuset/a/cpuset.cpus",
                "/cg/cpuset/a/cpuset.mems",
                "/cg/cpuset/a/b/cpuset.cpus",
                "/cg/cpuset/a/b/cpuset.mems"
            ]
        );
    }

    #[test]
    fn existing_values_are_kept() {
        let fs = FakeFs::new();
        fs.set("/cg/cpuset/cpuset.cpus", "0-3");
        fs.set("/cg/cpuset/cpuset.mems", "0");
        fs.set("/cg/cpuset/a/cpuset.cpus", "1");
        fs.set("/cg/cpuset/a/cpuset.mems", "0");
        init_from_parent(&fs, Path::new("/cg/cpuset/a")).unwrap();
        assert!(fs.writes().is_empty());
    }

    #[test]
    fn set_and_einval_message() {
        let fs = FakeFs::new();
        fs.set("/cg/cpuset/cpuset.cpus", "0-1");
        fs.set("/cg/cpuset/c/cpuset.cpus", "0-1");
        fs.set("/cg/cpuset/c/cpuset.mems", "0");
        let c = LinuxCpuBuilder::default()
            .cpus("1")
            .mems("0")
            .build()
            .unwrap();
        set(&fs, Path::new("/cg/cpuset/c"), &c).unwrap();
        assert_eq!(fs.get("/cg/cpuset/c/cpuset.cpus").as_deref(), Some("1"));
        fs.fail_write("/cg/cpuset/c/cpuset.cpus", libc::EINVAL, 1);
        let c = LinuxCpuBuilder::default().cpus("7").build().unwrap();
        let msg = set(&fs, Path::new("/cg/cpuset/c"), &c)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("cpu.cpus") && msg.contains('7') && msg.contains("0-1"),
            "{msg}"
        );
    }
}
