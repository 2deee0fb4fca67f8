//! pids (same files on v1 and v2): `pids.max`, `pids.current`.
use std::path::Path;

use oci_spec::runtime::LinuxPids;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::{CgroupError, Stats};

/// OCI: a limit <= 0 means unlimited, written as `max` (runc); 0 in a partial update
/// too, since `LinuxPids` has no "unset".
pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, p: &LinuxPids) -> Result<(), CgroupError> {
    let value = if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".to_string()
    };
    fs::write(fs, dir, "pids.max", &value)
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    s.pids.current = fs::read_u64_or_zero(fs, dir, "pids.current")?;
    let max = fs::read_u64_or_zero(fs, dir, "pids.max")?;
    s.pids.limit = if max == u64::MAX { 0 } else { max };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxPidsBuilder;

    #[test]
    fn limit_and_unlimited() {
        let fs = FakeFs::new();
        fs.set("/p/pids.max", "max");
        set(
            &fs,
            Path::new("/p"),
            &LinuxPidsBuilder::default().limit(42).build().unwrap(),
        )
        .unwrap();
        assert_eq!(fs.get("/p/pids.max").as_deref(), Some("42"));
        set(
            &fs,
            Path::new("/p"),
            &LinuxPidsBuilder::default().limit(-1).build().unwrap(),
        )
        .unwrap();
        assert_eq!(fs.get("/p/pids.max").as_deref(), Some("max"));
    }

    #[test]
    fn stats_max_is_zero_limit() {
        let fs = FakeFs::new();
        fs.set("/p/pids.max", "max\n");
        fs.set("/p/pids.current", "3\n");
        let mut s = Stats::default();
        stats(&fs, Path::new("/p"), &mut s).unwrap();
        assert_eq!((s.pids.current, s.pids.limit), (3, 0));
        fs.set("/p/pids.max", "10\n");
        stats(&fs, Path::new("/p"), &mut s).unwrap();
        assert_eq!(s.pids.limit, 10);
    }
}
