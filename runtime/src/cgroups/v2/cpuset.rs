//! v2 cpuset: `cpuset.cpus` / `cpuset.mems`. Unlike v1, an empty set means "the
//! parent's", so nothing needs initialising before a task joins.
use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::CgroupError;

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        fs::write(fs, dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        fs::write(fs, dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxCpuBuilder;

    #[test]
    fn writes_lists() {
        let fs = FakeFs::new();
        fs.set("/c/cpuset.cpus", "");
        fs.set("/c/cpuset.mems", "");
        let c = LinuxCpuBuilder::default()
            .cpus("0-1")
            .mems("0")
            .build()
            .unwrap();
        set(&fs, Path::new("/c"), &c).unwrap();
        assert_eq!(
            fs.writes_in("/c"),
            [
                ("cpuset.cpus".into(), "0-1".into()),
                ("cpuset.mems".into(), "0".into())
            ]
        );
    }
}
