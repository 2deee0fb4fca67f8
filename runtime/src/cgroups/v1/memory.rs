//! v1 memory: limit, memory+swap, soft limit (reservation), swappiness, OOM killer,
//! TCP buffer limit. Kernel memory limits are ignored, as runc does (obsolete since
//! Linux 5.4; new kernels accept the write and do nothing).
use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use crate::cgroups::fs::{self, CgroupFs};
use crate::cgroups::{CgroupError, Stats};

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

pub(crate) fn is_empty(m: &LinuxMemory) -> bool {
    m.limit().unwrap_or(0) == 0
        && m.swap().unwrap_or(0) == 0
        && m.reservation().unwrap_or(0) == 0
        && m.swappiness().is_none()
        && m.disable_oom_killer() != Some(true)
        && m.kernel_tcp().unwrap_or(0) == 0
}

fn check(field: &'static str, v: i64) -> Result<(), CgroupError> {
    if v < -1 {
        return Err(CgroupError::InvalidValue {
            field,
            value: v.to_string(),
            reason: "must be a byte count or -1 (unlimited)".into(),
        });
    }
    Ok(())
}

pub(crate) fn set(fs: &dyn CgroupFs, dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    // 0 means "not set" in OCI, as in runc.
    let limit = m.limit().filter(|v| *v != 0);
    let mut swap = m.swap().filter(|v| *v != 0);
    if let Some(l) = limit {
        check("memory.limit", l)?;
    }
    if let Some(s) = swap {
        check("memory.swap", s)?;
    }
    // Lifting the limit alone would leave the old memory+swap cap in force.
    if limit == Some(-1) && swap.is_none() && fs.exists(&dir.join(MEMSW)) {
        swap = Some(-1);
    }
    match (limit, swap) {
        (Some(l), Some(s)) => {
            if s != -1 && (l == -1 || s < l) {
                return Err(CgroupError::SwapBelowLimit { swap: s, limit: l });
            }
            // The kernel wants limit <= memsw after every single write: raise memsw
            // first when it grows past the current limit, else lower the limit first.
            let current = fs::read_u64(fs, dir, LIMIT)?;
            if s == -1 || current < s as u64 {
                set_swap(fs, dir, s)?;
                set_limit(fs, dir, l)?;
            } else {
                set_limit(fs, dir, l)?;
                set_swap(fs, dir, s)?;
            }
        }
        (Some(l), None) => {
            // A partial update raising the limit past the memory+swap cap in force
            // would be refused with a bare EINVAL.
            if let Some(memsw) = current_memsw(fs, dir)? {
                if l == -1 || l as u64 > memsw {
                    return Err(CgroupError::InvalidValue {
                        field: "memory.limit",
                        value: l.to_string(),
                        reason: format!(
                            "above the memory+swap limit {memsw} in force; set memory.swap too"
                        ),
                    });
                }
            }
            set_limit(fs, dir, l)?
        }
        (None, Some(s)) => {
            let current = fs::read_u64(fs, dir, LIMIT)?;
            if s != -1 && (s as u64) < current {
                return Err(CgroupError::SwapBelowLimit {
                    swap: s,
                    limit: i64::try_from(current).unwrap_or(-1),
                });
            }
            set_swap(fs, dir, s)?
        }
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|v| *v != 0) {
        check("memory.reservation", r)?;
        fs::write(fs, dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(sw) = m.swappiness() {
        if sw > 100 {
            return Err(CgroupError::InvalidValue {
                field: "memory.swappiness",
                value: sw.to_string(),
                reason: "must be 0..=100".into(),
            });
        }
        fs::write(fs, dir, "memory.swappiness", &sw.to_string())?;
    }
    if let Some(tcp) = m.kernel_tcp().filter(|v| *v != 0) {
        check("memory.kernelTCP", tcp)?;
        const TCP: &str = "memory.kmem.tcp.limit_in_bytes";
        if !fs.exists(&dir.join(TCP)) {
            return Err(CgroupError::Unsupported {
                field: "memory.kernelTCP",
                path: dir.join(TCP),
            });
        }
        fs::write(fs, dir, TCP, &tcp.to_string())?;
    }
    if let Some(disable) = m.disable_oom_killer() {
        fs::write(
            fs,
            dir,
            "memory.oom_control",
            if disable { "1" } else { "0" },
        )?;
    }
    Ok(())
}

/// The memory+swap limit, if swap accounting is on and it is not unlimited.
fn current_memsw(fs: &dyn CgroupFs, dir: &Path) -> Result<Option<u64>, CgroupError> {
    if !fs.exists(&dir.join(MEMSW)) {
        return Ok(None);
    }
    let v = fs::read_u64(fs, dir, MEMSW)?;
    // "Unlimited" reads back as the largest page-aligned i64.
    Ok((v < ((i64::MAX as u64) & !0xfff)).then_some(v))
}

fn set_limit(fs: &dyn CgroupFs, dir: &Path, limit: i64) -> Result<(), CgroupError> {
    write_checked(
        fs,
        dir,
        LIMIT,
        limit,
        "memory.usage_in_bytes",
        "memory.max_usage_in_bytes",
    )
}

fn set_swap(fs: &dyn CgroupFs, dir: &Path, swap: i64) -> Result<(), CgroupError> {
    if !fs.exists(&dir.join(MEMSW)) {
        return Err(CgroupError::Unsupported {
            field: "memory.swap (swap accounting is off)",
            path: dir.join(MEMSW),
        });
    }
    write_checked(
        fs,
        dir,
        MEMSW,
        swap,
        "memory.memsw.usage_in_bytes",
        "memory.memsw.max_usage_in_bytes",
    )
}

/// The kernel answers EBUSY when it cannot reclaim down to the new limit.
fn write_checked(
    fs: &dyn CgroupFs,
    dir: &Path,
    file: &str,
    value: i64,
    usage: &str,
    peak: &str,
) -> Result<(), CgroupError> {
    match fs::write(fs, dir, file, &value.to_string()) {
        Err(CgroupError::Write { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
            Err(CgroupError::MemoryBelowUsage {
                path: dir.join(file),
                limit: value,
                usage: fs::read_u64_or_zero(fs, dir, usage)?,
                peak: fs::read_u64_or_zero(fs, dir, peak)?,
            })
        }
        other => other,
    }
}

pub(crate) fn stats(fs: &dyn CgroupFs, dir: &Path, s: &mut Stats) -> Result<(), CgroupError> {
    let m = &mut s.memory;
    m.raw = fs::read_keyed(fs, dir, "memory.stat")?;
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    for (entry, prefix) in [
        (&mut m.usage, "memory"),
        (&mut m.swap, "memory.memsw"),
        (&mut m.kernel, "memory.kmem"),
        (&mut m.kernel_tcp, "memory.kmem.tcp"),
    ] {
        entry.usage = fs::read_u64_or_zero(fs, dir, &format!("{prefix}.usage_in_bytes"))?;
        entry.max = fs::read_u64_or_zero(fs, dir, &format!("{prefix}.max_usage_in_bytes"))?;
        entry.failcnt = fs::read_u64_or_zero(fs, dir, &format!("{prefix}.failcnt"))?;
        entry.limit = fs::read_u64_or_zero(fs, dir, &format!("{prefix}.limit_in_bytes"))?;
    }
    m.oom_kill = fs::read_keyed(fs, dir, "memory.oom_control")?
        .get("oom_kill")
        .copied()
        .unwrap_or(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::fs::fake::FakeFs;
    use oci_spec::runtime::LinuxMemoryBuilder;

    const D: &str = "/cg/memory/c";

    fn fake(limit: &str, memsw: bool) -> FakeFs {
        let fs = FakeFs::new();
        fs.set(format!("{D}/{LIMIT}"), limit);
        if memsw {
            fs.set(format!("{D}/{MEMSW}"), limit);
        }
        for f in [
            "memory.soft_limit_in_bytes",
            "memory.swappiness",
            "memory.oom_control",
            "memory.kmem.tcp.limit_in_bytes",
        ] {
            fs.set(format!("{D}/{f}"), "0");
        }
        fs
    }

    fn dir() -> &'static Path {
        Path::new(D)
    }

    #[test]
    fn limit_reservation_swappiness_oom() {
        let fs = fake("9223372036854771712", true);
        let m = LinuxMemoryBuilder::default()
            .limit(64 << 20)
            .reservation(32 << 20)
            .swappiness(10u64)
            .disable_oom_killer(true)
            .kernel(1 << 20)
            .kernel_tcp(2 << 20)
            .build()
            .unwrap();
        set(&fs, dir(), &m).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [
                (LIMIT.into(), "67108864".into()),
                ("memory.soft_limit_in_bytes".into(), "33554432".into()),
                ("memory.swappiness".into(), "10".into()),
                ("memory.kmem.tcp.limit_in_bytes".into(), "2097152".into()),
                ("memory.oom_control".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn swap_grows_past_current_limit_memsw_first() {
        let fs = fake("104857600", true); // 100M now
        let m = LinuxMemoryBuilder::default()
            .limit(200 << 20)
            .swap(400 << 20)
            .build()
            .unwrap();
        set(&fs, dir(), &m).unwrap();
        let w = fs.writes_in(D);
        assert_eq!(w[0], (MEMSW.into(), (400u64 << 20).to_string()));
        assert_eq!(w[1], (LIMIT.into(), (200u64 << 20).to_string()));
    }

    #[test]
    fn shrinking_writes_limit_first() {
        let fs = fake("1073741824", true); // 1G now
        let m = LinuxMemoryBuilder::default()
            .limit(100 << 20)
            .swap(200 << 20)
            .build()
            .unwrap();
        set(&fs, dir(), &m).unwrap();
        let w = fs.writes_in(D);
        assert_eq!(w[0].0, LIMIT);
        assert_eq!(w[1].0, MEMSW);
    }

    #[test]
    fn unlimited_limit_lifts_memsw_too() {
        let fs = fake("104857600", true);
        let m = LinuxMemoryBuilder::default().limit(-1).build().unwrap();
        set(&fs, dir(), &m).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [(MEMSW.into(), "-1".into()), (LIMIT.into(), "-1".into())]
        );
    }

    #[test]
    fn swap_below_limit_is_refused_before_writing() {
        let fs = fake("0", true);
        let m = LinuxMemoryBuilder::default()
            .limit(200 << 20)
            .swap(100 << 20)
            .build()
            .unwrap();
        let err = set(&fs, dir(), &m).unwrap_err();
        assert!(matches!(err, CgroupError::SwapBelowLimit { .. }), "{err}");
        assert!(err.to_string().contains("104857600"));
        assert!(fs.writes().is_empty());
    }

    #[test]
    fn swap_without_accounting_is_a_clear_error() {
        let fs = fake("0", false);
        let m = LinuxMemoryBuilder::default()
            .limit(100 << 20)
            .swap(200 << 20)
            .build()
            .unwrap();
        let err = set(&fs, dir(), &m).unwrap_err();
        assert!(matches!(err, CgroupError::Unsupported { .. }), "{err}");
    }

    #[test]
    fn ebusy_names_limit_and_usage() {
        let fs = fake("104857600", true);
        fs.set(format!("{D}/memory.usage_in_bytes"), "5000000\n");
        fs.set(format!("{D}/memory.max_usage_in_bytes"), "6000000\n");
        fs.fail_write(format!("{D}/{LIMIT}"), libc::EBUSY, 1);
        let m = LinuxMemoryBuilder::default().limit(4096).build().unwrap();
        let err = set(&fs, dir(), &m).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("4096") && msg.contains("5000000"), "{msg}");
    }

    #[test]
    fn invalid_values() {
        let fs = fake("0", true);
        let m = LinuxMemoryBuilder::default().limit(-5).build().unwrap();
        assert!(set(&fs, dir(), &m).is_err());
        let m = LinuxMemoryBuilder::default()
            .swappiness(101u64)
            .build()
            .unwrap();
        let err = set(&fs, dir(), &m).unwrap_err();
        assert!(err.to_string().contains("101"));
    }

    #[test]
    fn partial_limit_above_memsw_in_force_is_explained() {
        let fs = fake("104857600", true);
        fs.set(format!("{D}/{MEMSW}"), "209715200");
        let m = LinuxMemoryBuilder::default()
            .limit(300 << 20)
            .build()
            .unwrap();
        let msg = set(&fs, dir(), &m).unwrap_err().to_string();
        assert!(
            msg.contains("314572800") && msg.contains("209715200"),
            "{msg}"
        );
        assert!(fs.writes().is_empty());
        // Below the cap, or with unlimited memsw, it just writes.
        let m = LinuxMemoryBuilder::default()
            .limit(150 << 20)
            .build()
            .unwrap();
        set(&fs, dir(), &m).unwrap();
        fs.set(format!("{D}/{MEMSW}"), "9223372036854771712");
        let m = LinuxMemoryBuilder::default()
            .limit(1 << 30)
            .build()
            .unwrap();
        set(&fs, dir(), &m).unwrap();
    }

    #[test]
    fn partial_swap_below_current_limit_is_refused() {
        let fs = fake("104857600", true);
        let m = LinuxMemoryBuilder::default()
            .swap(50 << 20)
            .build()
            .unwrap();
        let err = set(&fs, dir(), &m).unwrap_err();
        assert!(matches!(err, CgroupError::SwapBelowLimit { .. }), "{err}");
        let m = LinuxMemoryBuilder::default()
            .swap(200 << 20)
            .build()
            .unwrap();
        set(&fs, dir(), &m).unwrap();
        assert_eq!(fs.writes_in(D), [(MEMSW.into(), "209715200".into())]);
    }

    #[test]
    fn partial_update_touches_only_given_fields() {
        let fs = fake("0", true);
        let m = LinuxMemoryBuilder::default()
            .reservation(1000)
            .build()
            .unwrap();
        set(&fs, dir(), &m).unwrap();
        assert_eq!(
            fs.writes_in(D),
            [("memory.soft_limit_in_bytes".into(), "1000".into())]
        );
    }

    #[test]
    fn stats_read_all_entries() {
        let fs = FakeFs::new();
        fs.set(format!("{D}/memory.stat"), "cache 4096\nrss 8192\n");
        fs.set(format!("{D}/memory.usage_in_bytes"), "12288\n");
        fs.set(format!("{D}/memory.max_usage_in_bytes"), "20000\n");
        fs.set(format!("{D}/memory.limit_in_bytes"), "1048576\n");
        fs.set(format!("{D}/memory.failcnt"), "2\n");
        fs.set(format!("{D}/memory.memsw.usage_in_bytes"), "12288\n");
        fs.set(
            format!("{D}/memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        );
        let mut s = Stats::default();
        stats(&fs, dir(), &mut s).unwrap();
        assert_eq!(s.memory.cache, 4096);
        assert_eq!(s.memory.raw["rss"], 8192);
        assert_eq!(s.memory.usage.usage, 12288);
        assert_eq!(s.memory.usage.max, 20000);
        assert_eq!(s.memory.usage.limit, 1048576);
        assert_eq!(s.memory.usage.failcnt, 2);
        assert_eq!(s.memory.swap.usage, 12288);
        assert_eq!(s.memory.oom_kill, 3);
    }
}
