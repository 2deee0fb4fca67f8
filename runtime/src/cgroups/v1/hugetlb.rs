//! hugetlb, v1 (`hugetlb.<size>.limit_in_bytes`) and v2 (`hugetlb.<size>.max`): the
//! files differ only in name. Page sizes are the kernel's names (`2MB`, `1GB`), as in
//! the OCI spec; an unknown size is an error naming it.
use std::path::Path;

use oci_spec::runtime::LinuxHugepageLimit;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::stats::Hugetlb;
use crate::cgroups::{CgroupError, Stats};

pub(crate) fn set(
    fs: &dyn CgroupFs,
    dir: &Path,
    limits: &[LinuxHugepageLimit],
    v2: bool,
) -> Result<(), CgroupError> {
    for l in limits {
        let size = l.page_size();
        if size.is_empty() || size.contains('/') {
            return Err(CgroupError::InvalidValue {
                field: "hugepageLimits.pageSize",
                value: size.clone(),
                reason: "not a page size".into(),
            });
        }
        let file = if v2 {
            format!("hugetlb.{size}.max")
        } else {
            format!("hugetlb.{size}.limit_in_bytes")
        };
        if !fs.exists(&dir.join(&file)) {
            return Err(CgroupError::InvalidValue {
                field: "hugepageLimits.pageSize",
                value: size.clone(),
                reason: format!("the kernel has no such huge page size ({file})"),
            });
        }
        let value = if l.limit() < 0 && v2 {
            "max".to_string()
        } else {
            l.limit().to_string()
        };
        fs::write(fs, dir, &file, &value)?;
    }
    Ok(())
}

pub(crate) fn stats(
    fs: &dyn CgroupFs,
    dir: &Path,
    s: &mut Stats,
    v2: bool,
) -> Result<(), CgroupError> {
    let entries = fs.list_dir(dir).map_err(|source| CgroupError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let suffix = if v2 { ".max" } else { ".limit_in_bytes" };
    for (name, _) in entries {
        let Some(size) = name
            .strip_prefix("hugetlb.")
            .and_then(|r| r.strip_suffix(suffix))
            .filter(|s| !s.contains('.'))
        else {
            continue;
        };
        let h = if v2 {
            Hugetlb {
                usage: fs::read_u64_or_zero(fs, dir, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: fs::read_keyed(fs, dir, &format!("hugetlb.{size}.events"))?
                    .get("max")
                    .copied()
                    .unwrap_or(0),
            }
        } else {
            Hugetlb {
                usage: fs::read_u64_or_zero(fs, dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max: fs::read_u64_or_zero(fs, dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: fs::read_u64_or_zero(fs, dir, &format!("hugetlb.{size}.failcnt"))?,
            }
        };
        s.hugetlb.insert(size.to_string(), h);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxHugepageLimitBuilder;

    fn limit(size: &str, l: i64) -> LinuxHugepageLimit {
        LinuxHugepageLimitBuilder::default()
            .page_size(size)
            .limit(l)
            .build()
            .unwrap()
    }

    #[test]
    fn v1_and_v2_file_names() {
        let fs = FakeFs::new();
        fs.set("/h1/hugetlb.2MB.limit_in_bytes", "0");
        fs.set("/h2/hugetlb.2MB.max", "max");
        set(&fs, Path::new("/h1"), &[limit("2MB", 4 << 20)], false).unwrap();
        set(&fs, Path::new("/h2"), &[limit("2MB", 6 << 20)], true).unwrap();
        assert_eq!(
            fs.writes(),
            [
                ("/h1/hugetlb.2MB.limit_in_bytes".into(), "4194304".into()),
                ("/h2/hugetlb.2MB.max".into(), "6291456".into())
            ]
        );
        let err = set(&fs, Path::new("/h1"), &[limit("3MB", 1)], false).unwrap_err();
        assert!(err.to_string().contains("3MB"), "{err}");
    }

    #[test]
    fn stats_per_size() {
        let fs = FakeFs::new();
        fs.set("/h2/hugetlb.2MB.max", "max");
        fs.set("/h2/hugetlb.2MB.current", "2097152");
        fs.set("/h2/hugetlb.2MB.events", "max 4\n");
        fs.set("/h2/hugetlb.2MB.rsvd.max", "max");
        let mut s = Stats::default();
        stats(&fs, Path::new("/h2"), &mut s, true).unwrap();
        assert_eq!(s.hugetlb.len(), 1);
        assert_eq!(s.hugetlb["2MB"].usage, 2097152);
        assert_eq!(s.hugetlb["2MB"].failcnt, 4);
    }
}
