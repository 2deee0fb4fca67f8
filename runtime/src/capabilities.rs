//! The five capability sets of `process.capabilities` (bounding, effective,
//! permitted, inheritable, ambient), set on the calling thread with the `caps` crate.
//!
//! Who calls what, in the container's init (and in `exec`'s process):
//! 1. `user::apply` switches groups/gid/uid while holding `PR_SET_KEEPCAPS`, so the
//!    permitted set survives leaving uid 0 (the kernel clears only effective).
//! 2. [`apply`] raises effective back to permitted (it needs `CAP_SETPCAP` to shrink
//!    the bounding set), drops the bounding set to the list, then sets inheritable,
//!    permitted, effective, and last ambient (a cap can be ambient only when it is
//!    both permitted and inheritable).
//!
//! Names come already parsed by oci-spec (unknown names fail `config.json` parsing);
//! [`parse_name`] parses a single name for `exec --cap`. What cannot be granted is
//! skipped with a warning, not an error (runtime spec; runc does the same): names the
//! running kernel lacks (newer than `/proc/sys/kernel/cap_last_cap`), permitted and
//! inheritable caps the runtime itself does not hold, effective caps not permitted,
//! ambient caps not both permitted and inheritable.
//! [`apply_with_warnings`] returns those warnings for the runtime's log.
use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

#[derive(Debug, thiserror::Error)]
pub enum CapabilitiesError {
    #[error("capabilities: unknown capability {name:?}")]
    UnknownName { name: String },
    #[error("capabilities: dropping {cap} from the bounding set failed: {reason}")]
    DropBounding { cap: String, reason: String },
    #[error("capabilities: setting process.capabilities.{field} to [{caps}] failed: {reason}")]
    Set {
        field: &'static str,
        caps: String,
        reason: String,
    },
}

/// Parse one capability name as `exec --cap` and config files write it:
/// `CAP_NET_ADMIN`, case-insensitive, the `CAP_` prefix optional.
pub fn parse_name(name: &str) -> Result<Capability, CapabilitiesError> {
    let upper = name.to_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse::<Capability>()
        .map_err(|_| CapabilitiesError::UnknownName {
            name: name.to_string(),
        })
}

/// The kernel sets to apply, from the spec, and what could not be granted.
#[derive(Debug, Default, PartialEq, Eq)]
struct Plan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
    warnings: Vec<String>,
}

/// The runtime spec: a capability that cannot be granted MUST be logged as a warning
/// and SHOULD NOT fail the container. So, like runc: names the kernel lacks are
/// skipped, effective is limited to permitted and ambient to permitted ∩ inheritable
/// (capset/prctl would refuse the rest).
/// `held` is the runtime's own permitted set: capset(2) cannot raise a capability the
/// calling process does not hold (e.g. a runtime started with a reduced bounding set),
/// so such a one is skipped with a warning rather than failing the whole set.
fn plan(
    spec: &LinuxCapabilities,
    supported: &CapsHashSet,
    held: &CapsHashSet,
) -> Result<Plan, CapabilitiesError> {
    let mut warnings = Vec::new();
    let mut kernel = |set: &Option<Capabilities>, field: &str| {
        let (caps, lacking) = kernel_set(set, supported)?;
        for name in lacking {
            warnings.push(format!(
                "capabilities: {name} in process.capabilities.{field} is not supported by this kernel; skipped"
            ));
        }
        Ok::<_, CapabilitiesError>(caps)
    };
    let bounding = kernel(spec.bounding(), "bounding")?;
    let mut effective = kernel(spec.effective(), "effective")?;
    let mut permitted = kernel(spec.permitted(), "permitted")?;
    let mut inheritable = kernel(spec.inheritable(), "inheritable")?;
    let mut ambient = kernel(spec.ambient(), "ambient")?;
    let mut limit = |set: &mut CapsHashSet, field: &str, allowed: &CapsHashSet, needs: &str| {
        let mut dropped: Vec<String> = set.difference(allowed).map(|c| c.to_string()).collect();
        dropped.sort();
        for name in dropped {
            warnings.push(format!(
                "capabilities: {name} in process.capabilities.{field} is not in {needs}; not raised"
            ));
        }
        set.retain(|c| allowed.contains(c));
    };
    limit(
        &mut permitted,
        "permitted",
        held,
        "the runtime's own permitted set",
    );
    limit(
        &mut inheritable,
        "inheritable",
        held,
        "the runtime's own permitted set",
    );
    limit(&mut effective, "effective", &permitted, "permitted");
    let both: CapsHashSet = permitted.intersection(&inheritable).copied().collect();
    limit(
        &mut ambient,
        "ambient",
        &both,
        "both permitted and inheritable",
    );
    Ok(Plan {
        bounding,
        effective,
        permitted,
        inheritable,
        ambient,
        warnings,
    })
}

/// Drop the bounding set to `caps.bounding`, then set inheritable, permitted,
/// effective and ambient. Called after `user::apply` (which keeps the permitted set
/// across the uid switch). A set that is absent in the spec is empty. What could not
/// be granted is skipped; [`apply_with_warnings`] says what.
pub fn apply(spec: &LinuxCapabilities) -> Result<(), CapabilitiesError> {
    apply_with_warnings(spec).map(|_| ())
}

/// [`apply`], returning one warning per capability that could not be granted (for
/// the runtime's log, as the spec asks).
pub fn apply_with_warnings(spec: &LinuxCapabilities) -> Result<Vec<String>, CapabilitiesError> {
    let supported = caps::runtime::thread_all_supported();
    let permitted_now = caps::read(None, CapSet::Permitted)
        .map_err(|e| set_err("permitted", &CapsHashSet::new(), e))?;
    let plan = plan(spec, &supported, &permitted_now)?;

    set(CapSet::Effective, "effective", &permitted_now)?;

    for cap in &supported {
        if plan.bounding.contains(cap) {
            continue;
        }
        let present = caps::has_cap(None, CapSet::Bounding, *cap).unwrap_or(false);
        if present {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| {
                CapabilitiesError::DropBounding {
                    cap: cap.to_string(),
                    reason: e.to_string(),
                }
            })?;
        }
    }

    set(CapSet::Inheritable, "inheritable", &plan.inheritable)?;
    // capset(2) wants effective within permitted at every step, so shrink effective to
    // what both the old and the new permitted hold before replacing permitted.
    let bridge: CapsHashSet = plan
        .effective
        .iter()
        .filter(|c| permitted_now.contains(c))
        .copied()
        .collect();
    set(CapSet::Effective, "effective", &bridge)?;
    set(CapSet::Permitted, "permitted", &plan.permitted)?;
    set(CapSet::Effective, "effective", &plan.effective)?;

    if caps::runtime::ambient_set_supported().is_ok() {
        caps::clear(None, CapSet::Ambient).map_err(|e| set_err("ambient", &plan.ambient, e))?;
        for cap in &plan.ambient {
            caps::raise(None, CapSet::Ambient, *cap)
                .map_err(|e| set_err("ambient", &plan.ambient, e))?;
        }
    }
    Ok(plan.warnings)
}

/// The spec's set as the kernel's capabilities, and the names this kernel lacks.
fn kernel_set(
    set: &Option<Capabilities>,
    supported: &CapsHashSet,
) -> Result<(CapsHashSet, Vec<String>), CapabilitiesError> {
    let mut out = CapsHashSet::new();
    let mut lacking = Vec::new();
    for cap in set.iter().flatten() {
        let name = format!("CAP_{cap}");
        let cap: Cap = name
            .parse()
            .map_err(|_| CapabilitiesError::UnknownName { name: name.clone() })?;
        if supported.contains(&cap) {
            out.insert(cap);
        } else {
            lacking.push(name);
        }
    }
    lacking.sort();
    Ok((out, lacking))
}

fn set(cset: CapSet, field: &'static str, value: &CapsHashSet) -> Result<(), CapabilitiesError> {
    caps::set(None, cset, value).map_err(|e| set_err(field, value, e))
}

fn set_err(
    field: &'static str,
    value: &CapsHashSet,
    e: caps::errors::CapsError,
) -> CapabilitiesError {
    let mut names: Vec<String> = value.iter().map(|c| c.to_string()).collect();
    names.sort();
    CapabilitiesError::Set {
        field,
        caps: names.join(" "),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::forked;
    use nix::sys::wait::WaitStatus;
    use oci_spec::runtime::{LinuxCapabilitiesBuilder, UserBuilder};

    fn set_of(caps: &[Capability]) -> Capabilities {
        caps.iter().copied().collect()
    }

    fn spec(
        bounding: &[Capability],
        epi: &[Capability],
        ambient: &[Capability],
    ) -> LinuxCapabilities {
        LinuxCapabilitiesBuilder::default()
            .bounding(set_of(bounding))
            .effective(set_of(epi))
            .permitted(set_of(epi))
            .inheritable(set_of(epi))
            .ambient(set_of(ambient))
            .build()
            .expect("caps")
    }

    #[test]
    fn parses_names_and_names_the_unknown_one() {
        assert_eq!(parse_name("CAP_CHOWN").unwrap(), Capability::Chown);
        assert_eq!(parse_name("cap_net_admin").unwrap(), Capability::NetAdmin);
        assert_eq!(parse_name("SYS_ADMIN").unwrap(), Capability::SysAdmin);
        assert_eq!(
            parse_name("CAP_CHECKPOINT_RESTORE").unwrap(),
            Capability::CheckpointRestore
        );
        let e = parse_name("CAP_FOO").unwrap_err();
        assert_eq!(
            e.to_string(),
            "capabilities: unknown capability \"CAP_FOO\""
        );
    }

    #[test]
    fn every_oci_capability_maps_to_a_kernel_capability() {
        let all = [
            "AUDIT_CONTROL",
            "AUDIT_READ",
            "AUDIT_WRITE",
            "BLOCK_SUSPEND",
            "BPF",
            "CHECKPOINT_RESTORE",
            "CHOWN",
            "DAC_OVERRIDE",
            "DAC_READ_SEARCH",
            "FOWNER",
            "FSETID",
            "IPC_LOCK",
            "IPC_OWNER",
            "KILL",
            "LEASE",
            "LINUX_IMMUTABLE",
            "MAC_ADMIN",
            "MAC_OVERRIDE",
            "MKNOD",
            "NET_ADMIN",
            "NET_BIND_SERVICE",
            "NET_BROADCAST",
            "NET_RAW",
            "PERFMON",
            "SETGID",
            "SETFCAP",
            "SETPCAP",
            "SETUID",
            "SYS_ADMIN",
            "SYS_BOOT",
            "SYS_CHROOT",
            "SYS_MODULE",
            "SYS_NICE",
            "SYS_PACCT",
            "SYS_PTRACE",
            "SYS_RAWIO",
            "SYS_RESOURCE",
            "SYS_TIME",
            "SYS_TTY_CONFIG",
            "SYSLOG",
            "WAKE_ALARM",
        ];
        let oci: Capabilities = all.iter().map(|n| parse_name(n).unwrap()).collect();
        let (got, lacking) = kernel_set(&Some(oci), &caps::all()).unwrap();
        assert_eq!(got.len(), all.len());
        assert_eq!(got, caps::all());
        assert!(lacking.is_empty());
    }

    #[test]
    fn capabilities_the_kernel_lacks_are_skipped_with_a_warning() {
        let supported: CapsHashSet = [Cap::CAP_CHOWN].into_iter().collect();
        let s = LinuxCapabilitiesBuilder::default()
            .bounding(set_of(&[Capability::Chown, Capability::CheckpointRestore]))
            .effective(set_of(&[]))
            .permitted(set_of(&[]))
            .inheritable(set_of(&[]))
            .ambient(set_of(&[]))
            .build()
            .unwrap();
        let p = plan(&s, &supported, &caps::all()).unwrap();
        assert_eq!(p.bounding, supported);
        assert_eq!(
            p.warnings,
            ["capabilities: CAP_CHECKPOINT_RESTORE in process.capabilities.bounding is not supported by this kernel; skipped"]
        );
    }

    #[test]
    fn caps_that_cannot_be_granted_are_warnings_not_errors() {
        let s = LinuxCapabilitiesBuilder::default()
            .bounding(set_of(&[Capability::Chown, Capability::Kill]))
            .permitted(set_of(&[Capability::Chown]))
            .inheritable(set_of(&[Capability::Kill]))
            .effective(set_of(&[Capability::Chown, Capability::Kill]))
            .ambient(set_of(&[Capability::Kill]))
            .build()
            .unwrap();
        let p = plan(&s, &caps::all(), &caps::all()).unwrap();
        let chown: CapsHashSet = [Cap::CAP_CHOWN].into_iter().collect();
        assert_eq!(p.effective, chown);
        assert!(p.ambient.is_empty());
        assert_eq!(
            p.warnings,
            [
                "capabilities: CAP_KILL in process.capabilities.effective is not in permitted; not raised",
                "capabilities: CAP_KILL in process.capabilities.ambient is not in both permitted and inheritable; not raised",
            ]
        );
    }

    #[test]
    fn caps_the_runtime_does_not_hold_are_skipped_with_a_warning() {
        let s = LinuxCapabilitiesBuilder::default()
            .bounding(set_of(&[Capability::Chown, Capability::SysResource]))
            .permitted(set_of(&[Capability::Chown, Capability::SysResource]))
            .inheritable(set_of(&[]))
            .effective(set_of(&[Capability::Chown, Capability::SysResource]))
            .ambient(set_of(&[]))
            .build()
            .unwrap();
        let mut held = caps::all();
        held.remove(&Cap::CAP_SYS_RESOURCE);
        let p = plan(&s, &caps::all(), &held).unwrap();
        let chown: CapsHashSet = [Cap::CAP_CHOWN].into_iter().collect();
        assert_eq!(p.permitted, chown);
        assert_eq!(p.effective, chown);
        assert_eq!(
            p.warnings,
            [
                "capabilities: CAP_SYS_RESOURCE in process.capabilities.permitted is not in the runtime's own permitted set; not raised",
                "capabilities: CAP_SYS_RESOURCE in process.capabilities.effective is not in permitted; not raised",
            ]
        );
    }

    const CHOWN: u64 = 1 << 0;
    const NET_BIND_SERVICE: u64 = 1 << 10;

    fn hex(v: u64) -> String {
        format!("{v:016x}")
    }

    #[test]
    fn root_applies_all_five_sets() {
        if !crate::requirements::met(&[crate::requirements::Requirement::Root]) {
            return;
        }
        // CAP_KILL cannot be ambient (not permitted): skipped with a warning.
        let s = spec(
            &[Capability::Chown, Capability::NetBindService],
            &[Capability::Chown, Capability::NetBindService],
            &[Capability::NetBindService, Capability::Kill],
        );
        let mut child = forked::spawn(|ch| {
            match apply_with_warnings(&s) {
                Err(e) => return ch.fail(&e.to_string()),
                Ok(w) if w.len() != 1 => return ch.fail(&format!("warnings: {w:?}")),
                Ok(_) => {}
            }
            ch.ready();
            ch.wait_go();
            0
        });
        child.report(false).expect("child apply");
        assert_eq!(child.status_field("CapEff"), hex(CHOWN | NET_BIND_SERVICE));
        assert_eq!(child.status_field("CapPrm"), hex(CHOWN | NET_BIND_SERVICE));
        assert_eq!(child.status_field("CapInh"), hex(CHOWN | NET_BIND_SERVICE));
        assert_eq!(child.status_field("CapBnd"), hex(CHOWN | NET_BIND_SERVICE));
        assert_eq!(child.status_field("CapAmb"), hex(NET_BIND_SERVICE));
        let pid = child.pid;
        assert_eq!(child.go_and_wait(), WaitStatus::Exited(pid, 0));
    }

    /// The container's path: user switch, caps, exec. A non-root process keeps across
    /// execve only its ambient caps, which prove the whole keepcaps dance worked.
    #[test]
    fn root_non_root_user_keeps_ambient_caps_across_exec() {
        if !crate::requirements::met(&[crate::requirements::Requirement::Root]) {
            return;
        }
        let s = spec(
            &[Capability::Chown, Capability::NetBindService],
            &[Capability::Chown, Capability::NetBindService],
            &[Capability::NetBindService],
        );
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .build()
            .unwrap();
        let mut child = forked::spawn(|ch| {
            if let Err(e) = crate::user::apply(&user) {
                return ch.fail(&e.to_string());
            }
            if let Err(e) = apply(&s) {
                return ch.fail(&e.to_string());
            }
            let err = nix::unistd::execv(c"/bin/sleep", &[c"sleep", c"30"]);
            ch.fail(&format!("exec: {err:?}"))
        });
        child.report(true).expect("child apply + exec");
        // The comm changes after the new credentials are committed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while child.status_field("Name") != "sleep" && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(child.status_field("Name"), "sleep");
        assert_eq!(child.status_field("Uid"), "1000\t1000\t1000\t1000");
        assert_eq!(child.status_field("CapEff"), hex(NET_BIND_SERVICE));
        assert_eq!(child.status_field("CapPrm"), hex(NET_BIND_SERVICE));
        assert_eq!(child.status_field("CapAmb"), hex(NET_BIND_SERVICE));
        assert_eq!(child.status_field("CapBnd"), hex(CHOWN | NET_BIND_SERVICE));
    }
}
