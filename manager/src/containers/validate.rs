//! Validation at the edge: a container spec is checked, and completed with the
//! daemon's defaults, before anything is written. Limits must be ones the
//! kernel can enforce as given (a value it would clamp or read as "no limit"
//! is refused, as docker does), and each error names the flag and the value.

use std::path::Path;

use super::record::{MountKind, NetworkMode, RestartPolicy, Spec};
use super::{names, parse_signal, Error, Result, Settings};
use crate::restricted_name::shown;

/// docker's floor for `--memory`.
const MIN_MEMORY: u64 = 6 * 1024 * 1024;
/// The largest limit a memory cgroup takes as a number (a page-rounded
/// `i64::MAX`); anything above reads as unlimited.
const MAX_MEMORY: u64 = (i64::MAX as u64) & !4095;
/// cgroup v1 `cpu.shares` range (docker clamps to it, with a warning).
const MIN_CPU_SHARES: u64 = 2;
const MAX_CPU_SHARES: u64 = 262_144;
/// `pids.max` refuses PID_MAX_LIMIT + 1 and above.
const MAX_PIDS: u64 = 4 * 1024 * 1024;

fn invalid(message: String) -> Error {
    Error::InvalidArgument { message }
}

/// CPUs this process may run on (docker's `NumCPU`: the affinity mask).
fn online_cpus() -> u64 {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count())
            .filter(|i| set.is_set(*i).unwrap_or(false))
            .count()
            .max(1) as u64,
        Err(_) => std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1),
    }
}

/// Checks `spec`, fills in the daemon's defaults, and returns warnings for
/// the user (values docker adjusts rather than refuses).
pub(super) fn check(spec: &mut Spec, settings: &Settings) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    if !spec.name.is_empty() {
        spec.name = spec.name.trim_start_matches('/').to_string();
        names::validate(&spec.name)?;
    }
    network(spec, settings, &mut warnings)?;
    mounts(spec)?;
    if spec.auto_remove && spec.restart_policy != RestartPolicy::No {
        return Err(invalid(
            "conflicting options: cannot specify both --restart and --rm".to_string(),
        ));
    }
    if spec.init && settings.init_path.is_none() {
        return Err(invalid("--init: no init binary found (install berth-init next to berthd, or set \"init-path\" in daemon.json)".to_string()));
    }
    resources(spec, online_cpus(), &mut warnings)?;
    if let Some(h) = &spec.healthcheck {
        h.validate().map_err(invalid)?;
    }
    if !spec.stop_signal.is_empty() && parse_signal(&spec.stop_signal).is_none() {
        return Err(invalid(format!(
            "Invalid signal: {} (--stop-signal takes a name such as SIGTERM or TERM, or a number 1-64)",
            shown(&spec.stop_signal)
        )));
    }
    Ok(warnings)
}

fn network(spec: &mut Spec, settings: &Settings, warnings: &mut Vec<String>) -> Result<()> {
    if spec.network_mode == NetworkMode::Default {
        spec.network_mode = settings.default_network.clone();
    }
    match &spec.network_mode {
        NetworkMode::None | NetworkMode::Host => Ok(()),
        NetworkMode::Bridge | NetworkMode::Default => {
            warnings.push(
                "bridge networking is not available yet; the container has no network (--network none)"
                    .to_string(),
            );
            spec.network_mode = NetworkMode::None;
            Ok(())
        }
        other => Err(invalid(format!(
            "network {} not found (supported: none, host)",
            shown(&other.as_string())
        ))),
    }
}

fn mounts(spec: &Spec) -> Result<()> {
    for m in &spec.mounts {
        if !m.target.starts_with('/') {
            return Err(invalid(format!(
                "invalid mount config: mount path must be absolute: {:?}",
                shown(&m.target)
            )));
        }
        if m.kind == MountKind::Bind && !Path::new(&m.source).exists() {
            return Err(invalid(format!(
                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                shown(&m.source)
            )));
        }
        if m.kind == MountKind::Tmpfs && m.tmpfs.mode.is_some_and(|mode| mode > 0o7777) {
            return Err(invalid(format!(
                "invalid --tmpfs {}: mode={:o} is not a permission mode (at most 7777)",
                shown(&m.target),
                m.tmpfs.mode.unwrap_or_default()
            )));
        }
        if m.kind == MountKind::Tmpfs && m.tmpfs.size_bytes == Some(0) {
            return Err(invalid(format!(
                "invalid --tmpfs {}: size must be positive",
                shown(&m.target)
            )));
        }
    }
    Ok(())
}

fn resources(spec: &mut Spec, cpus: u64, warnings: &mut Vec<String>) -> Result<()> {
    let r = &mut spec.resources;
    if let Some(m) = r.memory_bytes {
        if m < MIN_MEMORY {
            return Err(invalid("Minimum memory limit allowed is 6MB".to_string()));
        }
        if m > MAX_MEMORY {
            return Err(invalid(format!(
                "invalid --memory: {m} bytes is more than the kernel can enforce (at most {MAX_MEMORY}); leave --memory out for no limit"
            )));
        }
    }
    if let Some(nano_cpus) = r.nano_cpus {
        // docker's bounds: a quota the host cannot give is refused, not clamped.
        if nano_cpus < 10_000_000 || nano_cpus > cpus.saturating_mul(1_000_000_000) {
            return Err(invalid(format!(
                "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
            )));
        }
    }
    if let Some(shares) = r.cpu_shares {
        let clamped = shares.clamp(MIN_CPU_SHARES, MAX_CPU_SHARES);
        if clamped != shares {
            warnings.push(format!(
                "Changing requested CPUShares of {shares} to {} allowed of {clamped}",
                if shares < MIN_CPU_SHARES {
                    "minimum"
                } else {
                    "maximum"
                }
            ));
            r.cpu_shares = Some(clamped);
        }
    }
    if let Some(pids) = r.pids_limit {
        if pids > MAX_PIDS {
            return Err(invalid(format!(
                "invalid --pids-limit: {pids} (the kernel allows at most {MAX_PIDS}; -1 means unlimited)"
            )));
        }
    }
    if let Some(shm) = spec.shm_size {
        if shm > MAX_MEMORY {
            return Err(invalid(format!(
                "invalid --shm-size: {shm} bytes is more than the kernel can size"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn settings() -> Settings {
        Settings {
            root: PathBuf::from("/nonexistent"),
            log_max_size: 0,
            log_max_file: 1,
            default_network: NetworkMode::None,
            init_path: None,
            confinement: Default::default(),
        }
    }

    fn err(spec: &mut Spec) -> String {
        check(spec, &settings()).unwrap_err().to_string()
    }

    #[test]
    fn limits_outside_the_kernels_range_are_refused() {
        let mut s = Spec::default();
        s.resources.memory_bytes = Some(1024);
        assert_eq!(err(&mut s), "Minimum memory limit allowed is 6MB");
        s.resources.memory_bytes = Some(u64::MAX);
        assert!(err(&mut s).starts_with("invalid --memory:"));
        s.resources.memory_bytes = None;
        s.resources.pids_limit = Some(MAX_PIDS + 1);
        assert!(err(&mut s).starts_with("invalid --pids-limit: 4194305"));
        s.resources.pids_limit = Some(100);
        assert!(check(&mut s, &settings()).is_ok());
    }

    #[test]
    fn cpu_shares_are_clamped_with_a_warning() {
        let mut s = Spec::default();
        s.resources.cpu_shares = Some(1);
        let w = check(&mut s, &settings()).unwrap();
        assert_eq!(s.resources.cpu_shares, Some(2));
        assert_eq!(
            w,
            ["Changing requested CPUShares of 1 to minimum allowed of 2"]
        );
    }

    #[test]
    fn signals_must_exist() {
        for ok in ["SIGTERM", "term", "9", "SIGRTMIN"] {
            let mut s = Spec {
                stop_signal: ok.into(),
                ..Default::default()
            };
            let r = check(&mut s, &settings());
            if ok != "SIGRTMIN" {
                assert!(r.is_ok(), "{ok}: {r:?}");
            }
        }
        let mut s = Spec {
            stop_signal: "SIGFOO".into(),
            ..Default::default()
        };
        assert!(err(&mut s).starts_with("Invalid signal: SIGFOO"));
        s.stop_signal = "65".into();
        assert!(err(&mut s).starts_with("Invalid signal: 65"));
    }

    #[test]
    fn names_are_checked_and_long_values_cut() {
        let mut s = Spec {
            name: "x".repeat(9000),
            ..Default::default()
        };
        let e = err(&mut s);
        assert!(e.len() < 200, "{e}");
        assert!(e.contains("at most 255"), "{e}");
    }

    #[test]
    fn the_default_network_is_filled_in() {
        let mut s = Spec::default();
        check(&mut s, &settings()).unwrap();
        assert_eq!(s.network_mode, NetworkMode::None);
    }
}
