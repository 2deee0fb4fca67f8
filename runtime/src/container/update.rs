//! `update`: new resource limits for a running container, from `--resources` JSON or
//! runc's single-value flags, applied through the cgroup manager and kept in
//! state.json so later verbs see them.
use super::config::parse_json;
use super::{Container, Error, Status};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use std::path::Path;

/// runc's single-value flags (memory values already in bytes).
#[derive(Debug, Default, Clone)]
pub struct UpdateFlags {
    pub blkio_weight: Option<u16>,
    pub cpu_period: Option<u64>,
    pub cpu_quota: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub pids_limit: Option<i64>,
}

/// `512`, `512k`, `64m`, `1g` (also `kb`, `mib`...; powers of 1024), `-1` = unlimited.
pub fn parse_bytes(s: &str) -> Result<i64, Error> {
    let bad = || Error::Usage(format!("invalid size {s:?} (use e.g. 512k, 64m, 1g)"));
    let t = s.trim().to_ascii_lowercase();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let n: f64 = t[..split].parse().map_err(|_| bad())?;
    let mult: f64 = match t[split..].trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        _ => return Err(bad()),
    };
    Ok((n * mult) as i64)
}

impl UpdateFlags {
    /// Overlay the flags on `base` (the resources from `--resources`, or the
    /// container's current ones).
    pub fn apply_to(&self, mut r: LinuxResources) -> LinuxResources {
        let mut mem = r.memory().unwrap_or_default();
        if let Some(v) = self.memory {
            mem.set_limit(Some(v));
        }
        if let Some(v) = self.memory_reservation {
            mem.set_reservation(Some(v));
        }
        if let Some(v) = self.memory_swap {
            mem.set_swap(Some(v));
        }
        if mem != LinuxMemory::default() {
            r.set_memory(Some(mem));
        }
        let mut cpu = r.cpu().clone().unwrap_or_default();
        if let Some(v) = self.cpu_period {
            cpu.set_period(Some(v));
        }
        if let Some(v) = self.cpu_quota {
            cpu.set_quota(Some(v));
        }
        if let Some(v) = self.cpu_shares {
            cpu.set_shares(Some(v));
        }
        if let Some(v) = self.cpu_rt_period {
            cpu.set_realtime_period(Some(v));
        }
        if let Some(v) = self.cpu_rt_runtime {
            cpu.set_realtime_runtime(Some(v));
        }
        if let Some(v) = &self.cpuset_cpus {
            cpu.set_cpus(Some(v.clone()));
        }
        if let Some(v) = &self.cpuset_mems {
            cpu.set_mems(Some(v.clone()));
        }
        if cpu != LinuxCpu::default() {
            r.set_cpu(Some(cpu));
        }
        if let Some(v) = self.pids_limit {
            let mut p = LinuxPids::default();
            p.set_limit(v);
            r.set_pids(Some(p));
        }
        if let Some(v) = self.blkio_weight {
            let mut b = r.block_io().clone().unwrap_or_default();
            b.set_weight(Some(v));
            if b != LinuxBlockIo::default() {
                r.set_block_io(Some(b));
            }
        }
        r
    }
}

/// `resources_json`: the content of `--resources` (file or stdin), if given.
pub fn update(
    root: &Path,
    id: &str,
    resources_json: Option<&[u8]>,
    flags: &UpdateFlags,
) -> Result<(), Error> {
    let mut c = Container::load(root, id)?;
    if c.status() == Status::Stopped {
        return Err(Error::NotRunning(id.to_string()));
    }
    let base = match resources_json {
        Some(data) => parse_json::<LinuxResources>(Path::new("--resources"), data)?,
        None => LinuxResources::default(),
    };
    let wanted = flags.apply_to(base);
    c.cgroup()?.set(&wanted)?;
    if let Some(linux) = c.state.config.linux_mut() {
        linux.set_resources(Some(merge(
            linux.resources().clone().unwrap_or_default(),
            &wanted,
        )));
    }
    c.state.save(&c.dir)
}

/// The container's recorded resources with the updated parts replaced.
fn merge(mut cur: LinuxResources, new: &LinuxResources) -> LinuxResources {
    if new.memory().is_some() {
        cur.set_memory(*new.memory());
    }
    if new.cpu().is_some() {
        cur.set_cpu(new.cpu().clone());
    }
    if new.pids().is_some() {
        cur.set_pids(*new.pids());
    }
    if new.block_io().is_some() {
        cur.set_block_io(new.block_io().clone());
    }
    if new.hugepage_limits().is_some() {
        cur.set_hugepage_limits(new.hugepage_limits().clone());
    }
    if new.unified().is_some() {
        cur.set_unified(new.unified().clone());
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512").expect("b"), 512);
        assert_eq!(parse_bytes("512k").expect("k"), 512 * 1024);
        assert_eq!(parse_bytes("64M").expect("m"), 64 << 20);
        assert_eq!(parse_bytes("1g").expect("g"), 1 << 30);
        assert_eq!(parse_bytes("-1").expect("-1"), -1);
        assert!(parse_bytes("12q").is_err());
    }

    #[test]
    fn flags_overlay_resources() {
        let flags = UpdateFlags {
            memory: Some(1 << 20),
            cpu_shares: Some(512),
            pids_limit: Some(10),
            ..Default::default()
        };
        let r = flags.apply_to(LinuxResources::default());
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(1 << 20));
        assert_eq!(r.cpu().as_ref().and_then(|c| c.shares()), Some(512));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(10));
        assert!(r.block_io().is_none());
    }
}
