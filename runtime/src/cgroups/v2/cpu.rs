//! v2 cpu: `cpu.weight` (from OCI shares, runc's linear mapping of 2..=262144 onto
//! 1..=10000), `cpu.max` (`quota period`), `cpu.max.burst`, `cpu.idle`; usage and
//! throttling stats from `cpu.stat` (microseconds there, nanoseconds in ours).
use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::{CgroupError, Stats};

/// runc's shares → weight: 2 → 1, 1024 → 39, 262144 → 10000.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if c.realtime_runtime().unwrap_or(0) != 0 || c.realtime_period().unwrap_or(0) != 0 {
        return Err(CgroupError::InvalidValue {
            field: "cpu.realtimeRuntime",
            value: c.realtime_runtime().unwrap_or(0).to_string(),
            reason: "realtime scheduling limits do not exist in cgroup v2".into(),
        });
    }
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        fs::write(fs, dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    let quota = c.quota().filter(|q| *q != 0);
    let period = c.period().filter(|p| *p != 0);
    if quota.is_some() || period.is_some() {
        let quota = match quota {
            Some(q) if q > 0 => q.to_string(),
            Some(_) => "max".to_string(),
            // Partial update of the period alone: keep the quota in force.
            None => fs::read(fs, dir, "cpu.max")?
                .split_whitespace()
                .next()
                .unwrap_or("max")
                .to_string(),
        };
        let value = match period {
            Some(p) => format!("{quota} {p}"),
            None => quota,
        };
        fs::write(fs, dir, "cpu.max", &value)?;
    }
    if let Some(burst) = c.burst() {
        fs::write(fs, dir, "cpu.max.burst", &burst.to_string())?;
    }
    if let Some(idle) = c.idle() {
        fs::write(fs, dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let st = fs::read_keyed(fs, dir, "cpu.stat")?;
    let us = |k: &str| st.get(k).copied().unwrap_or(0).saturating_mul(1000);
    s.cpu.usage.total = us("usage_usec");
    s.cpu.usage.user = us("user_usec");
    s.cpu.usage.kernel = us("system_usec");
    s.cpu.throttling.periods = st.get("nr_periods").copied().unwrap_or(0);
    s.cpu.throttling.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
    s.cpu.throttling.throttled_time = us("throttled_usec");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxCpuBuilder;

    const D: &str = "/cg/c";

    fn fake() -> FakeFs {
        let fs = FakeFs::new();
        fs.set(format!("{D}/cpu.weight"), "100");
        fs.set(format!("{D}/cpu.max"), "max 100000\n");
        fs.set(format!("{D}/cpu.max.burst"), "0");
        fs.set(format!("{D}/cpu.idle"), "0");
        fs
    }

    #[test]
    fn weight_conversion() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(u64::MAX), 10_000);
    }

    #[test]
    fn weight_and_max() {
        let fs = fake();
        let c = LinuxCpuBuilder::default()
            .shares(1024u64)
            .quota(50_000)
            .period(100_000u64)
            .build()
            .unwrap();
        set(&fs, Path::new(D), &c).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                ("cpu.weight".into(), "39".into()),
                ("cpu.max".into(), "50000 100000".into())
            ]
        );
    }

    #[test]
    fn partial_max_updates() {
        let fs = fake();
        fs.set(format!("{D}/cpu.max"), "20000 100000\n");
        let c = LinuxCpuBuilder::default()
            .period(50_000u64)
            .build()
            .unwrap();
        set(&fs, Path::new(D), &c).unwrap();
        assert_eq!(
            fs.get(format!("{D}/cpu.max")).as_deref(),
            Some("20000 50000")
        );
        let c = LinuxCpuBuilder::default().quota(-1).build().unwrap();
        set(&fs, Path::new(D), &c).unwrap();
        assert_eq!(fs.get(format!("{D}/cpu.max")).as_deref(), Some("max"));
    }

    #[test]
    fn realtime_is_refused() {
        let fs = fake();
        let c = LinuxCpuBuilder::default()
            .realtime_runtime(100)
            .build()
            .unwrap();
        assert!(set(&fs, Path::new(D), &c).is_err());
        assert!(fs.writes().is_empty());
    }

    #[test]
    fn stats_in_nanoseconds() {
        let fs = FakeFs::new();
        fs.set(
            format!("{D}/cpu.stat"),
            "usage_usec 30\nuser_usec 20\nsystem_usec 10\nnr_periods 5\nnr_throttled 2\nthrottled_usec 7\n",
        );
        let mut s = Stats::default();
        stats(&fs, Path::new(D), &mut s).unwrap();
        assert_eq!(s.cpu.usage.total, 30_000);
        assert_eq!((s.cpu.usage.user, s.cpu.usage.kernel), (20_000, 10_000));
        assert_eq!(s.cpu.throttling.throttled_time, 7_000);
        assert_eq!(s.cpu.throttling.periods, 5);
    }
}
