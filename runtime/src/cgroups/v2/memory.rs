//! v2 memory: `memory.max`, `memory.low` (reservation) and `memory.swap.max`, which
//! holds swap alone where OCI's `swap` is memory+swap: written as `swap - limit`.
//! Swappiness and the OOM-killer switch have no v2 file and are ignored (as runc).
//! A limit below the current usage is written (the kernel reclaims, then OOM-kills)
//! unless `checkBeforeUpdate` asks for a refusal.
use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::{CgroupError, Stats};

fn bytes(field: &'static str, v: i64) -> Result<String, CgroupError> {
    match v {
        -1 => Ok("max".into()),
        v if v < -1 => Err(CgroupError::InvalidValue {
            field,
            value: v.to_string(),
            reason: "must be a byte count or -1 (unlimited)".into(),
        }),
        v => Ok(v.to_string()),
    }
}

/// OCI memory+swap → `memory.swap.max`. `limit` is the memory limit in force
/// (given, or the current `memory.max` for a partial update); -1 is unlimited.
pub(crate) fn swap_max(swap: i64, limit: i64) -> Result<String, CgroupError> {
    if swap == -1 {
        return Ok("max".into());
    }
    if swap < -1 {
        return Err(CgroupError::InvalidValue {
            field: "memory.swap",
            value: swap.to_string(),
            reason: "must be a byte count or -1 (unlimited)".into(),
        });
    }
    if limit == -1 {
        return Err(CgroupError::InvalidValue {
            field: "memory.swap",
            value: swap.to_string(),
            reason: "a swap limit needs a memory limit".into(),
        });
    }
    if swap < limit {
        return Err(CgroupError::SwapBelowLimit { swap, limit });
    }
    Ok((swap - limit).to_string())
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().filter(|v| *v != 0);
    let swap = m.swap().filter(|v| *v != 0);
    let limit_value = limit.map(|l| bytes("memory.limit", l)).transpose()?;
    if let Some(s) = swap {
        let in_force = match limit {
            Some(l) => l,
            None => {
                let cur = fs::read_u64(fs, dir, "memory.max")?;
                if cur == u64::MAX {
                    -1
                } else {
                    i64::try_from(cur).unwrap_or(i64::MAX)
                }
            }
        };
        let value = swap_max(s, in_force)?;
        if !fs.exists(&dir.join("memory.swap.max")) {
            return Err(CgroupError::Unsupported {
                field: "memory.swap",
                path: dir.join("memory.swap.max"),
            });
        }
        fs::write(fs, dir, "memory.swap.max", &value)?;
    } else if limit == Some(-1) && fs.exists(&dir.join("memory.swap.max")) {
        // Unlimited memory with an old swap cap would still limit swap: lift it too.
        fs::write(fs, dir, "memory.swap.max", "max")?;
    }
    if let (Some(l), Some(true)) = (limit.filter(|l| *l > 0), m.check_before_update()) {
        // v2 would reclaim and then OOM-kill to get under a lower limit; the spec's
        // checkBeforeUpdate asks to refuse instead.
        let usage = fs::read_u64(fs, dir, "memory.current")?;
        if usage > l as u64 {
            return Err(CgroupError::MemoryBelowUsage {
                path: dir.join("memory.max"),
                limit: l,
                usage,
                peak: fs::read_u64_or_zero(fs, dir, "memory.peak")?,
            });
        }
    }
    if let Some(v) = limit_value {
        fs::write(fs, dir, "memory.max", &v)?;
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        fs::write(fs, dir, "memory.low", &bytes("memory.reservation", r)?)?;
    }
    Ok(())
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let m = &mut s.memory;
    m.raw = fs::read_keyed(fs, dir, "memory.stat")?;
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    let events = fs::read_keyed(fs, dir, "memory.events")?;
    m.usage.usage = fs::read_u64_or_zero(fs, dir, "memory.current")?;
    m.usage.limit = fs::read_u64_or_zero(fs, dir, "memory.max")?;
    m.usage.max = fs::read_u64_or_zero(fs, dir, "memory.peak")?;
    m.usage.failcnt = events.get("max").copied().unwrap_or(0);
    // runc reports v2 swap as memory+swap, to mean what v1's memsw means.
    let swap = fs::read_u64_or_zero(fs, dir, "memory.swap.current")?;
    let swap_limit = fs::read_u64_or_zero(fs, dir, "memory.swap.max")?;
    m.swap.usage = swap.saturating_add(m.usage.usage);
    m.swap.limit = swap_limit.saturating_add(m.usage.limit);
    m.oom_kill = events.get("oom_kill").copied().unwrap_or(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxMemoryBuilder;

    const D: &str = "/cg/c";

    fn fake() -> FakeFs {
        let fs = FakeFs::new();
        for f in ["memory.max", "memory.swap.max", "memory.low"] {
            fs.set(format!("{D}/{f}"), "max\n");
        }
        fs
    }

    #[test]
    fn swap_is_written_as_swap_minus_limit() {
        let fs = fake();
        let m = LinuxMemoryBuilder::default()
            .limit(100 << 20)
            .swap(300 << 20)
            .reservation(50 << 20)
            .swappiness(60u64)
            .disable_oom_killer(true)
            .build()
            .unwrap();
        set(&fs, Path::new(D), &m).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                ("memory.swap.max".into(), (200u64 << 20).to_string()),
                ("memory.max".into(), (100u64 << 20).to_string()),
                ("memory.low".into(), (50u64 << 20).to_string()),
            ]
        );
    }

    #[test]
    fn check_before_update_refuses_limit_below_usage() {
        let fs = fake();
        fs.set(format!("{D}/memory.current"), "50000000\n");
        let m = LinuxMemoryBuilder::default()
            .limit(1 << 20)
            .check_before_update(true)
            .build()
            .unwrap();
        let msg = set(&fs, Path::new(D), &m).unwrap_err().to_string();
        assert!(msg.contains("1048576") && msg.contains("50000000"), "{msg}");
        assert!(fs.writes().is_empty());
        // Without the flag: runc's behaviour, the kernel reclaims.
        let m = LinuxMemoryBuilder::default()
            .limit(1 << 20)
            .build()
            .unwrap();
        set(&fs, Path::new(D), &m).unwrap();
    }

    #[test]
    fn conversions() {
        assert_eq!(swap_max(-1, 100).unwrap(), "max");
        assert_eq!(swap_max(100, 100).unwrap(), "0");
        assert!(matches!(
            swap_max(50, 100),
            Err(CgroupError::SwapBelowLimit { .. })
        ));
        assert!(swap_max(50, -1).is_err());
    }

    #[test]
    fn partial_swap_update_uses_current_limit() {
        let fs = fake();
        fs.set(format!("{D}/memory.max"), "104857600\n");
        let m = LinuxMemoryBuilder::default()
            .swap(150 << 20)
            .build()
            .unwrap();
        set(&fs, Path::new(D), &m).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [("memory.swap.max".into(), (50u64 << 20).to_string())]
        );
    }

    #[test]
    fn unlimited() {
        let fs = fake();
        let m = LinuxMemoryBuilder::default().limit(-1).build().unwrap();
        set(&fs, Path::new(D), &m).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                ("memory.swap.max".into(), "max".into()),
                ("memory.max".into(), "max".into())
            ]
        );
    }

    #[test]
    fn stats_from_v2_files() {
        let fs = FakeFs::new();
        fs.set(format!("{D}/memory.current"), "1000\n");
        fs.set(format!("{D}/memory.max"), "max\n");
        fs.set(format!("{D}/memory.swap.current"), "10\n");
        fs.set(format!("{D}/memory.swap.max"), "0\n");
        fs.set(format!("{D}/memory.stat"), "anon 500\nfile 300\n");
        fs.set(
            format!("{D}/memory.events"),
            "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        );
        let mut s = Stats::default();
        stats(&fs, Path::new(D), &mut s).unwrap();
        assert_eq!(s.memory.usage.usage, 1000);
        assert_eq!(s.memory.usage.limit, u64::MAX);
        assert_eq!(s.memory.usage.failcnt, 4);
        assert_eq!(s.memory.cache, 300);
        assert_eq!(s.memory.swap.usage, 1010);
        assert_eq!(s.memory.oom_kill, 1);
    }
}
