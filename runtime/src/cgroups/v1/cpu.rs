//! v1 cpu: shares, CFS quota/period/burst, idle, realtime; throttling stats.
use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::{CgroupError, Stats};

pub(crate) fn is_empty(c: &LinuxCpu) -> bool {
    c.shares().unwrap_or(0) == 0
        && c.quota().unwrap_or(0) == 0
        && c.period().unwrap_or(0) == 0
        && c.burst().is_none()
        && c.idle().is_none()
        && c.realtime_runtime().unwrap_or(0) == 0
        && c.realtime_period().unwrap_or(0) == 0
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        fs::write(fs, dir, "cpu.shares", &shares.to_string())?;
        // The kernel silently clamps to 2..=262144; say so instead of pretending.
        let effective = fs::read_u64(fs, dir, "cpu.shares")?;
        if effective != shares {
            return Err(CgroupError::InvalidValue {
                field: "cpu.shares",
                value: shares.to_string(),
                reason: format!("the kernel clamped it to {effective}"),
            });
        }
    }
    let quota = c.quota().filter(|q| *q != 0);
    let mut period_pending = None;
    if let Some(period) = c.period().filter(|p| *p != 0) {
        match fs::write(fs, dir, "cpu.cfs_period_us", &period.to_string()) {
            Ok(()) => {}
            // A shorter period can exceed the parent's quota ratio with the old quota:
            // retry once the new quota is in.
            Err(CgroupError::Write { ref source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota.is_some() =>
            {
                period_pending = Some(period);
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(q) = quota {
        let q = if q < 0 { -1 } else { q };
        fs::write(fs, dir, "cpu.cfs_quota_us", &q.to_string())?;
        if let Some(p) = period_pending {
            fs::write(fs, dir, "cpu.cfs_period_us", &p.to_string())?;
        }
    }
    if let Some(burst) = c.burst() {
        optional(fs, dir, "cpu.burst", "cpu.cfs_burst_us", &burst.to_string())?;
    }
    if let Some(idle) = c.idle() {
        optional(fs, dir, "cpu.idle", "cpu.idle", &idle.to_string())?;
    }
    // The period bounds the runtime: period first.
    if let Some(p) = c.realtime_period().filter(|p| *p != 0) {
        optional(
            fs,
            dir,
            "cpu.realtimePeriod",
            "cpu.rt_period_us",
            &p.to_string(),
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|r| *r != 0) {
        optional(
            fs,
            dir,
            "cpu.realtimeRuntime",
            "cpu.rt_runtime_us",
            &r.to_string(),
        )?;
    }
    Ok(())
}

/// Files that only some kernels have: a missing one is a clear error naming the field.
fn optional(
    fs: &dyn CgroupFs,
    dir: &Path,
    field: &'static str,
    file: &str,
    value: &str,
) -> Result<(), CgroupError> {
    if !fs.exists(&dir.join(file)) {
        return Err(CgroupError::Unsupported {
            field,
            path: dir.join(file),
        });
    }
    fs::write(fs, dir, file, value)
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let st = fs::read_keyed(fs, dir, "cpu.stat")?;
    let t = &mut s.cpu.throttling;
    t.periods = st.get("nr_periods").copied().unwrap_or(0);
    t.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
    t.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxCpuBuilder;

    const D: &str = "/cg/cpu/c";

    fn fake() -> FakeFs {
        let fs = FakeFs::new();
        for (f, v) in [
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "-1"),
            ("cpu.cfs_burst_us", "0"),
            ("cpu.idle", "0"),
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "0"),
        ] {
            fs.set(format!("{D}/{f}"), v);
        }
        fs
    }

    #[test]
    fn shares_quota_period_in_order() {
        let fs = fake();
        let c = LinuxCpuBuilder::default()
            .shares(512u64)
            .quota(50_000)
            .period(100_000u64)
            .build()
            .unwrap();
        set(&fs, Path::new(D), &c).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                ("cpu.shares".into(), "512".into()),
                ("cpu.cfs_period_us".into(), "100000".into()),
                ("cpu.cfs_quota_us".into(), "50000".into()),
            ]
        );
    }

    #[test]
    fn period_rejected_first_is_retried_after_quota() {
        let fs = fake();
        fs.fail_write(format!("{D}/cpu.cfs_period_us"), libc::EINVAL, 1);
        let c = LinuxCpuBuilder::default()
            .quota(5_000)
            .period(10_000u64)
            .build()
            .unwrap();
        set(&fs, Path::new(D), &c).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                ("cpu.cfs_quota_us".into(), "5000".into()),
                ("cpu.cfs_period_us".into(), "10000".into()),
            ]
        );
    }

    #[test]
    fn realtime_period_before_runtime_and_unlimited_quota() {
        let fs = fake();
        let c = LinuxCpuBuilder::default()
            .realtime_runtime(1000)
            .realtime_period(10_000u64)
            .quota(-5)
            .build()
            .unwrap();
        set(&fs, Path::new(D), &c).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                ("cpu.cfs_quota_us".into(), "-1".into()),
                ("cpu.rt_period_us".into(), "10000".into()),
                ("cpu.rt_runtime_us".into(), "1000".into()),
            ]
        );
    }

    #[test]
    fn missing_burst_file_names_field() {
        let fs = fake();
        fs.remove_file(format!("{D}/cpu.cfs_burst_us"));
        let c = LinuxCpuBuilder::default().burst(10u64).build().unwrap();
        let err = set(&fs, Path::new(D), &c).unwrap_err();
        assert!(err.to_string().contains("cpu.burst"), "{err}");
    }

    #[test]
    fn throttling_stats() {
        let fs = FakeFs::new();
        fs.set(
            format!("{D}/cpu.stat"),
            "nr_periods 10\nnr_throttled 3\nthrottled_time 999\n",
        );
        let mut s = Stats::default();
        stats(&fs, Path::new(D), &mut s).unwrap();
        assert_eq!(s.cpu.throttling.periods, 10);
        assert_eq!(s.cpu.throttling.throttled_periods, 3);
        assert_eq!(s.cpu.throttling.throttled_time, 999);
    }
}
