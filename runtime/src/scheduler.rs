//! `process.scheduler`: the container process's scheduling policy, nice value,
//! priority, flags and deadline parameters, set with sched_setattr(2) in the init
//! (and in an `exec`'d process, whose process.json may have its own) while it still
//! holds `CAP_SYS_NICE` (a real-time policy needs it). Checked at `create` first
//! ([`validate`]). runc 1.1 ignores the field; runc 1.2 sets it the same way. They survive
//! execve; with `SCHED_FLAG_RESET_ON_FORK` the process's children start with the
//! default policy again.
//!
//! The flag names: the runtime spec (config.md, "Scheduler") spells them
//! `SCHED_FLAG_RESET_ON_FORK` … `SCHED_FLAG_UTIL_CLAMP_MAX`, as the kernel does.
//! oci-spec 0.10 derives its names from its enum variants, and two differ:
//! `SchedResetOnFork` reads `SCHED_RESET_ON_FORK` and `SchedFlagDLOverrun` reads
//! `SCHED_FLAG_D_L_OVERRUN`, so a valid config would fail to parse. Until that is
//! mended upstream, [`normalise_flag_names`] rewrites the spec's names into
//! oci-spec's before the config is deserialised (issue 12 point 6).
use oci_spec::runtime::{LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler};

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("process.scheduler.{field}: {value} is out of range ({range})")]
    Range {
        field: &'static str,
        value: i64,
        range: &'static str,
    },
}

/// The spec's names that oci-spec spells differently, and oci-spec's spelling.
const RENAMED_FLAGS: [(&str, &str); 2] = [
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
];

/// Rewrites, in the JSON array `flags` (`process.scheduler.flags`), each spec name
/// oci-spec spells differently; returns whether anything changed.
pub fn normalise_flag_names(flags: &mut serde_json::Value) -> bool {
    let mut changed = false;
    for flag in flags.as_array_mut().into_iter().flatten() {
        let Some(name) = flag.as_str() else { continue };
        if let Some((_, ours)) = RENAMED_FLAGS.iter().find(|(spec, _)| *spec == name) {
            *flag = serde_json::Value::String((*ours).to_string());
            changed = true;
        }
    }
    changed
}

/// `struct sched_attr` of the kernel (`SCHED_ATTR_SIZE_VER1`, with the clamps).
#[repr(C)]
#[derive(Debug, Default, PartialEq, Eq)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
    sched_util_min: u32,
    sched_util_max: u32,
}

fn policy_number(p: LinuxSchedulerPolicy) -> u32 {
    match p {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    }
}

fn flag_bit(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// The checks `create` makes before anything exists, so that [`apply`] in the
/// init cannot fail on the config's values, only on the kernel's verdict.
pub fn validate(s: &Scheduler) -> Result<(), SchedulerError> {
    let priority = s.priority().unwrap_or(0);
    if priority < 0 {
        return Err(SchedulerError::Range {
            field: "priority",
            value: i64::from(priority),
            range: "0 or more",
        });
    }
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(SchedulerError::Range {
            field: "nice",
            value: i64::from(nice),
            range: "-20 to 19",
        });
    }
    Ok(())
}

fn attr(s: &Scheduler) -> SchedAttr {
    SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: policy_number(*s.policy()),
        sched_flags: s.flags().iter().flatten().map(|f| flag_bit(*f)).sum(),
        sched_nice: s.nice().unwrap_or(0),
        // A negative priority was refused by `validate`.
        sched_priority: u32::try_from(s.priority().unwrap_or(0)).unwrap_or_default(),
        sched_runtime: s.runtime().unwrap_or(0),
        sched_deadline: s.deadline().unwrap_or(0),
        sched_period: s.period().unwrap_or(0),
        sched_util_min: 0,
        sched_util_max: 0,
    }
}

/// sched_setattr(2) of the calling process with `s` (checked by [`validate`]).
pub fn apply(s: &Scheduler) -> Result<(), nix::Error> {
    let a = attr(s);
    // SAFETY: sched_setattr reads `size` bytes of a valid, initialised sched_attr.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(nix::Error::last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SPEC_NAMES: [&str; 7] = [
        "SCHED_FLAG_RESET_ON_FORK",
        "SCHED_FLAG_RECLAIM",
        "SCHED_FLAG_DL_OVERRUN",
        "SCHED_FLAG_KEEP_POLICY",
        "SCHED_FLAG_KEEP_PARAMS",
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        "SCHED_FLAG_UTIL_CLAMP_MAX",
    ];

    #[test]
    fn every_spec_flag_name_parses_after_normalising() {
        let mut flags = json!(SPEC_NAMES);
        assert!(normalise_flag_names(&mut flags));
        let parsed: Vec<LinuxSchedulerFlag> = serde_json::from_value(flags).expect("parse");
        let bits: Vec<u64> = parsed.into_iter().map(flag_bit).collect();
        // The kernel's SCHED_FLAG_* values, in the spec's order.
        assert_eq!(bits, [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40]);
        // Already normal: nothing to change.
        assert!(!normalise_flag_names(&mut json!(["SCHED_FLAG_RECLAIM"])));
    }

    #[test]
    fn the_upstream_mismatch_is_still_there() {
        // When oci-spec starts accepting the spec's names, RENAMED_FLAGS can go.
        for (spec, _) in RENAMED_FLAGS {
            assert!(serde_json::from_value::<LinuxSchedulerFlag>(json!(spec)).is_err());
        }
    }

    #[test]
    fn attr_carries_policy_flags_and_parameters() {
        let s: Scheduler = serde_json::from_value(json!({"policy": "SCHED_DEADLINE",
            "flags": ["SCHED_RESET_ON_FORK", "SCHED_FLAG_RECLAIM"],
            "runtime": 10, "deadline": 20, "period": 30, "nice": -3}))
        .expect("parse");
        let a = attr(&s);
        assert_eq!(
            a,
            SchedAttr {
                size: 56,
                sched_policy: 6,
                sched_flags: 0x03,
                sched_nice: -3,
                sched_priority: 0,
                sched_runtime: 10,
                sched_deadline: 20,
                sched_period: 30,
                sched_util_min: 0,
                sched_util_max: 0,
            }
        );
        assert!(validate(&s).is_ok());
        for (bad, field) in [
            (json!({"policy": "SCHED_FIFO", "priority": -1}), "priority"),
            (json!({"policy": "SCHED_OTHER", "nice": 20}), "nice"),
        ] {
            let bad: Scheduler = serde_json::from_value(bad).expect("parse");
            let e = validate(&bad).expect_err("out of range");
            assert!(
                e.to_string()
                    .starts_with(&format!("process.scheduler.{field}: ")),
                "{e}"
            );
        }
    }
}
